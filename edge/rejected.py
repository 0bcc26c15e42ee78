"""Clicks the control plane refused: kept aside for an operator, bounded, replayable.

``<data_dir>/journal/rejected.log`` holds each refused journal record as a 4-byte
little-endian length and the record. Records land there instead of being retried
forever (a refusal is about the record, not the moment), and an operator replays them
with ``clickgate replay-rejected`` once the cause is fixed (an edge pointed at the wrong
control plane, a database restored without a key). The file is capped: a record that
does not fit is dropped and counted, so a control plane refusing everything cannot fill
the disk the journal lives on.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE = "rejected.log"
# A replay works on the file renamed to this, so the agent can set new refusals aside
# meanwhile; a replay that died half-way leaves it, and the next replay starts with it.
REPLAYING = "rejected.log.replaying"
LENGTH_BYTES = 4


class RejectedLog:
    """Appends refused records under the journal root, up to ``max_bytes`` on disk."""

    def __init__(self, journal_root: Path, max_bytes: int) -> None:
        self.path = journal_root / FILE
        self.max_bytes = max_bytes

    def append(self, records: list[bytes], capped: bool = True) -> int:
        """Write what fits (all of it when not capped); returns how many were written."""
        try:
            room = self.max_bytes - self.path.stat().st_size
        except FileNotFoundError:
            room = self.max_bytes
        frames = bytearray()
        kept = 0
        for record in records:
            frame_size = LENGTH_BYTES + len(record)
            if capped and frame_size > room:
                break  # a full log keeps its oldest refusals: they show the first cause
            room -= frame_size
            frames += len(record).to_bytes(LENGTH_BYTES, "little") + record
            kept += 1
        if frames:
            with open(self.path, "ab") as f:
                f.write(frames)
                os.fsync(f.fileno())  # the journal segments they came from are trimmed next
        return kept

    def take(self) -> Path | None:
        """The file a replay should read, moved out of the agent's way; None if empty."""
        replaying = self.path.with_name(REPLAYING)
        if replaying.exists():
            return replaying  # a replay that did not finish; new refusals wait for the next
        try:
            os.replace(self.path, replaying)
        except FileNotFoundError:
            return None
        return replaying


def read_records(path: Path) -> list[bytes]:
    """Every whole record in a rejected log; a torn last frame (a crash mid-write) is left."""
    data = path.read_bytes()
    records, pos = [], 0
    while pos + LENGTH_BYTES <= len(data):
        size = int.from_bytes(data[pos : pos + LENGTH_BYTES], "little")
        end = pos + LENGTH_BYTES + size
        if end > len(data):
            break
        records.append(data[pos + LENGTH_BYTES : end])
        pos = end
    return records
