"""Statistics rollups kept at ingest: per-hour and per-day counts, and first clicks."""
