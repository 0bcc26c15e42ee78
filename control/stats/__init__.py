"""Click statistics computed from the raw clicks table: overview, breakdowns, series, raw pages."""
