"""Process-wide edge state shared by the request loop and the background thread."""

from __future__ import annotations

from pathlib import Path

from edge.config import EdgeConfig, load_snapshot
from edge.journal import Journal, JournalReader, claim_slot
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
        self.reader: JournalReader | None = None
        self.slot_index = 0
        self._slot_lock_fd = -1
        self.sealer = Sealer(parse_key(settings.snapshot_key)) if settings.snapshot_key else None
        persisted = load_snapshot(self.data_dir, self.sealer) if self.sealer else None
        if persisted is not None:
            self.set_config(persisted)

    @property
    def ready(self) -> bool:
        return self.config is not None and not self.shutting_down

    def set_config(self, config: EdgeConfig) -> None:
        self.config = config
        self.metrics.config_revision = config.revision
        self.metrics.config_loaded_at = config.loaded_at

    def open_journal(self) -> None:
        """Claim a journal slot for this process (at startup, before serving)."""
        if not self.settings.journal or self.journal is not None:
            return
        slot, self._slot_lock_fd = claim_slot(self.data_dir / "journal")
        self.slot_index = int(slot.name.rpartition("-")[2])
        s = self.settings
        self.journal = Journal(slot, self.metrics, s.journal_segment_bytes, s.journal_max_bytes)
        self.reader = JournalReader(slot, self.journal, self.metrics)
