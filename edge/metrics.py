"""Edge counters and their Prometheus text rendering (served on the metrics port)."""

from __future__ import annotations

import time
from collections import Counter


class EdgeMetrics:
    """Plain integer counters: each is written by one thread only, so no locks are needed."""

    def __init__(self) -> None:
        self.served: Counter[int] = Counter()  # by status, written by the request loop
        self.journaled = 0
        self.dropped: Counter[str] = Counter()  # by reason, written by the request loop
        self.shipped = 0  # written by the background thread from here on
        self.ship_failures = 0
        self.set_aside = 0
        self.expired = 0
        self.corrupt = 0
        self.journal_bytes = 0
        self.oldest_unshipped_ms = 0
        self.config_revision = 0
        self.config_loaded_at = 0.0

    def render(self) -> str:
        now = time.time()
        lines = [
            "# TYPE clickgate_edge_requests_total counter",
            *(f'clickgate_edge_requests_total{{status="{s}"}} {n}' for s, n in self.served.items()),
            "# TYPE clickgate_edge_clicks_journaled_total counter",
            f"clickgate_edge_clicks_journaled_total {self.journaled}",
            "# TYPE clickgate_edge_clicks_dropped_total counter",
            *(
                f'clickgate_edge_clicks_dropped_total{{reason="{r}"}} {n}'
                for r, n in self.dropped.items()
            ),
            "# TYPE clickgate_edge_clicks_shipped_total counter",
            f"clickgate_edge_clicks_shipped_total {self.shipped}",
            "# TYPE clickgate_edge_ship_failures_total counter",
            f"clickgate_edge_ship_failures_total {self.ship_failures}",
            "# TYPE clickgate_edge_clicks_set_aside_total counter",
            f"clickgate_edge_clicks_set_aside_total {self.set_aside}",
            "# TYPE clickgate_edge_journal_bytes gauge",
            f"clickgate_edge_journal_bytes {self.journal_bytes}",
            "# TYPE clickgate_edge_journal_oldest_age_seconds gauge",
            f"clickgate_edge_journal_oldest_age_seconds {self._oldest_age(now):.3f}",
            "# TYPE clickgate_edge_config_revision gauge",
            f"clickgate_edge_config_revision {self.config_revision}",
            "# TYPE clickgate_edge_config_age_seconds gauge",
            f"clickgate_edge_config_age_seconds {self._config_age(now):.3f}",
        ]
        return "\n".join(lines) + "\n"

    def _oldest_age(self, now: float) -> float:
        return max(0.0, now - self.oldest_unshipped_ms / 1000) if self.oldest_unshipped_ms else 0.0

    def _config_age(self, now: float) -> float:
        return now - self.config_loaded_at if self.config_loaded_at else -1.0
