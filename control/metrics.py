"""Control-plane counters, rendered as Prometheus text at /metrics on the API port."""

from __future__ import annotations

from typing import Protocol


class _BatchResult(Protocol):
    inserted: int
    duplicates: int


class ControlMetrics:
    def __init__(self) -> None:
        self.clicks_inserted = 0
        self.clicks_duplicate = 0
        self.batches = 0
        self.batch_seconds = 0.0
        self.db_errors = 0

    def observe_batch(self, result: _BatchResult, seconds: float) -> None:
        self.clicks_inserted += result.inserted
        self.clicks_duplicate += result.duplicates
        self.batches += 1
        self.batch_seconds += seconds

    def render(self) -> str:
        return (
            "# TYPE clickgate_clicks_ingested_total counter\n"
            f"clickgate_clicks_ingested_total {self.clicks_inserted}\n"
            "# TYPE clickgate_clicks_duplicate_total counter\n"
            f"clickgate_clicks_duplicate_total {self.clicks_duplicate}\n"
            "# TYPE clickgate_ingest_batch_seconds summary\n"
            f"clickgate_ingest_batch_seconds_count {self.batches}\n"
            f"clickgate_ingest_batch_seconds_sum {self.batch_seconds:.6f}\n"
            "# TYPE clickgate_db_errors_total counter\n"
            f"clickgate_db_errors_total {self.db_errors}\n"
        )
