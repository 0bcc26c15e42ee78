"""Process-wide state of one edge worker, shared by its request loop and background thread."""

from __future__ import annotations

import os
from pathlib import Path

from edge.config import EdgeConfig, load_snapshot, snapshot_path
from edge.journal import Journal, claim_slot
from edge.metrics import EdgeMetrics
from edge.sealing import Sealer, parse_key
from edge.settings import EdgeSettings


class EdgeState:
    """Config is swapped whole (one reference assignment), never mutated in place."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.metrics = EdgeMetrics()
        self.data_dir = Path(settings.data_dir)
        self.config: EdgeConfig | None = None
        self.shutting_down = False
        self.journal: Journal | None = None
        self.slot: Path | None = None
        self.slot_index = 0
        self._slot_lock_fd = -1
        self._snapshot_stamp: tuple[int, int] = (0, 0)
        # `clickgate edge` always provides a key (a per-run one when none is configured).
        self.sealer = Sealer(parse_key(settings.snapshot_key)) if settings.snapshot_key else None
        self.reload_config()

    @property
    def ready(self) -> bool:
        return self.config is not None and not self.shutting_down

    def set_config(self, config: EdgeConfig) -> None:
        self.config = config
        self.metrics.config_revision = config.revision
        self.metrics.config_loaded_at = config.loaded_at

    def reload_config(self) -> bool:
        """Load the agent's snapshot if it changed; tell the agent which revision we hold."""
        if self.sealer is None:
            return False
        try:
            st = snapshot_path(self.data_dir).stat()
        except FileNotFoundError:
            return False
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._snapshot_stamp:
            return False
        config = load_snapshot(self.data_dir, self.sealer)
        if config is None:
            return False  # being replaced, or sealed under another run's key: try again later
        self._snapshot_stamp = stamp
        self.set_config(config)
        self.report_revision()
        return True

    def report_revision(self) -> None:
        if self.slot is None or self.config is None:
            return
        tmp = self.slot / "revision.tmp"
        tmp.write_text(str(self.config.revision))
        os.replace(tmp, self.slot / "revision")

    def open_journal(self) -> None:
        """Claim a journal slot for this process (at startup, before serving)."""
        if self.slot is not None:
            return
        self.slot, self._slot_lock_fd = claim_slot(self.data_dir / "journal")
        self.slot_index = int(self.slot.name.rpartition("-")[2])
        self.report_revision()
        if not self.settings.journal:
            return
        s = self.settings
        self.journal = Journal(
            self.slot, self.metrics, s.journal_segment_bytes, s.journal_max_bytes
        )
