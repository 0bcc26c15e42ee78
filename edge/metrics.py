"""Edge counters and their Prometheus text rendering (served on the metrics port).

A worker counts what it served and journaled; the agent (edge.agent) counts what it
shipped and writes its counters to a file, merged in when the metrics are scraped.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import msgspec


class AgentStats(msgspec.Struct, kw_only=True):
    shipped: int = 0
    ship_failures: int = 0
    set_aside: int = 0
    set_aside_dropped: int = 0
    expired: int = 0
    corrupt: int = 0
    job_failures: int = 0
    journal_bytes: int = 0  # all slots, on disk
    oldest_unshipped_ms: int = 0  # 0: nothing waiting
    written_ms: int = 0


def stats_path(data_dir: Path) -> Path:
    return data_dir / "agent-stats.json"


def write_agent_stats(data_dir: Path, stats: AgentStats) -> None:
    tmp = data_dir / "agent-stats.json.tmp"
    tmp.write_bytes(msgspec.json.encode(stats))
    tmp.replace(stats_path(data_dir))


def read_agent_stats(data_dir: Path) -> AgentStats:
    try:
        return msgspec.json.decode(stats_path(data_dir).read_bytes(), type=AgentStats)
    except (OSError, msgspec.DecodeError):
        return AgentStats()


class EdgeMetrics:
    """Plain counters, each written by one thread only, so no locks are needed."""

    def __init__(self) -> None:
        self.served: Counter[int] = Counter()  # by status, written by the request loop
        self.journaled = 0
        self.dropped: Counter[str] = Counter()  # by reason, written by the request loop
        self.config_revision = 0
        self.config_loaded_at = 0.0

    def render(self, agent: AgentStats) -> str:
        # The background thread renders while the request loop may add a key (a first 404,
        # a first drop reason): iterate over copies, which dict() takes in one C call
        # under the GIL, never over the live Counters ("changed size during iteration").
        served, dropped = dict(self.served), dict(self.dropped)
        now = time.time()
        oldest = now - agent.oldest_unshipped_ms / 1000 if agent.oldest_unshipped_ms else 0.0
        config_age = now - self.config_loaded_at if self.config_loaded_at else -1.0
        lines = [
            "# TYPE clickgate_edge_requests_total counter",
            *(f'clickgate_edge_requests_total{{status="{s}"}} {n}' for s, n in served.items()),
            "# TYPE clickgate_edge_clicks_journaled_total counter",
            f"clickgate_edge_clicks_journaled_total {self.journaled}",
            "# TYPE clickgate_edge_clicks_dropped_total counter",
            *(
                f'clickgate_edge_clicks_dropped_total{{reason="{r}"}} {n}'
                for r, n in dropped.items()
            ),
            *(  # refused by the control plane, and no room left in the rejected log
                [f'clickgate_edge_clicks_dropped_total{{reason="rejected_log_full"}} {n}']
                if (n := agent.set_aside_dropped)
                else []
            ),
            "# TYPE clickgate_edge_clicks_shipped_total counter",
            f"clickgate_edge_clicks_shipped_total {agent.shipped}",
            "# TYPE clickgate_edge_ship_failures_total counter",
            f"clickgate_edge_ship_failures_total {agent.ship_failures}",
            "# TYPE clickgate_edge_agent_job_failures_total counter",
            f"clickgate_edge_agent_job_failures_total {agent.job_failures}",
            "# TYPE clickgate_edge_clicks_set_aside_total counter",
            f"clickgate_edge_clicks_set_aside_total {agent.set_aside}",
            "# TYPE clickgate_edge_clicks_expired_total counter",
            f"clickgate_edge_clicks_expired_total {agent.expired}",
            "# TYPE clickgate_edge_journal_bytes gauge",
            f"clickgate_edge_journal_bytes {agent.journal_bytes}",
            "# TYPE clickgate_edge_journal_oldest_age_seconds gauge",
            f"clickgate_edge_journal_oldest_age_seconds {max(0.0, oldest):.3f}",
            "# TYPE clickgate_edge_config_revision gauge",
            f"clickgate_edge_config_revision {self.config_revision}",
            "# TYPE clickgate_edge_config_age_seconds gauge",
            f"clickgate_edge_config_age_seconds {config_age:.3f}",
        ]
        return "\n".join(lines) + "\n"
