"""Append-only click journal: segment files of length+CRC framed records.

Layout: ``<data_dir>/journal/slot-N/<seq:012d>.seg``. Each worker process holds an
exclusive flock on one slot, so several workers never share a file, and a worker
restarted after a crash takes a free slot and ships what the dead one left.

Record framing: ``u32 length | u32 crc32(payload) | payload`` (little endian).

Durability: ``append`` is one ``write()`` into the page cache before the 302 is
sent, so a click whose write returned survives SIGKILL of the process; ``fsync``
runs on a timer in the background thread and bounds what a power loss can take.
A write() to the page cache is a memory copy, not a wait on a device, which is why
it is allowed on the request loop; everything that waits (fsync, close, reads,
deletes) happens in the background thread.

Processes and threads: a worker's request loop is the only writer of its slot
(``bytes_written``, the active fd, ``retired_fds`` appends); the worker's background
thread fsyncs and closes fds and learns ``bytes_trimmed`` by measuring the slot; the
edge agent (a separate process, see edge.agent) reads, ships and deletes segments.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import time
import zlib
from collections import deque
from pathlib import Path
from typing import Any

import msgspec

from edge.metrics import EdgeMetrics

HEADER = struct.Struct("<II")
SUFFIX = ".seg"
_encode_into = msgspec.msgpack.Encoder().encode_into


def segment_name(seq: int) -> str:
    return f"{seq:012d}{SUFFIX}"


def list_segments(slot: Path) -> list[int]:
    return sorted(int(p.name[: -len(SUFFIX)]) for p in slot.glob("*" + SUFFIX))


def claim_slot(root: Path) -> tuple[Path, int]:
    """Lock the first free slot directory under root; returns it and the lock fd."""
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1024):
        slot = root / f"slot-{n}"
        slot.mkdir(exist_ok=True)
        fd = os.open(slot / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    raise RuntimeError(f"no free journal slot under {root}")


class Journal:
    """The writer side, used on the request loop."""

    def __init__(
        self, slot: Path, metrics: EdgeMetrics, segment_bytes: int, max_bytes: int
    ) -> None:
        self.slot = slot
        self.metrics = metrics
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.bytes_written = sum(
            (slot / segment_name(s)).stat().st_size for s in list_segments(slot)
        )
        self.bytes_trimmed = 0
        self.retired_fds: deque[int] = deque()
        self._buf = bytearray()
        existing = list_segments(slot)
        self.active_seq = (existing[-1] + 1) if existing else 1
        self._fd = self._open(self.active_seq)
        self._segment_size = 0

    @property
    def bytes_used(self) -> int:
        return self.bytes_written - self.bytes_trimmed

    @property
    def active_fd(self) -> int:
        return self._fd

    def append(self, record: tuple[Any, ...]) -> bool:
        """Frame and write one record; False (and a counted drop) when it cannot."""
        buf = self._buf
        _encode_into(record, buf, HEADER.size)
        size = len(buf)
        HEADER.pack_into(buf, 0, size - HEADER.size, zlib.crc32(memoryview(buf)[HEADER.size :]))
        if self.bytes_written - self.bytes_trimmed + size > self.max_bytes:
            self.metrics.dropped["journal_full"] += 1
            return False
        try:
            written = os.write(self._fd, buf)
        except OSError:
            self.metrics.dropped["write_error"] += 1
            return False
        if written != size:  # disk full mid-record: cut the torn tail so framing stays sound
            self._truncate_torn()
            self.metrics.dropped["write_error"] += 1
            return False
        self.bytes_written += size
        self._segment_size += size
        self.metrics.journaled += 1
        if self._segment_size >= self.segment_bytes:
            self._rotate()
        return True

    def rescan(self) -> None:
        """Background thread: learn what the agent trimmed by measuring the slot."""
        written = self.bytes_written
        on_disk = 0
        for seq in list_segments(self.slot):
            with contextlib.suppress(FileNotFoundError):
                on_disk += (self.slot / segment_name(seq)).stat().st_size
        self.bytes_trimmed = max(0, written - on_disk)

    def _rotate(self) -> None:
        try:
            fd = self._open(self.active_seq + 1)
        except OSError:
            return  # keep appending to the current segment; rotation is retried next time
        self.retired_fds.append(self._fd)
        self._fd = fd
        self.active_seq += 1
        self._segment_size = 0

    def _truncate_torn(self) -> None:
        try:
            os.ftruncate(self._fd, self._segment_size)
        except OSError:
            self._rotate()

    def _open(self, seq: int) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        return os.open(self.slot / segment_name(seq), flags, 0o600)

    def sync(self) -> None:
        """Background thread: fsync and close retired segments, fsync the active one."""
        while self.retired_fds:
            fd = self.retired_fds.popleft()
            _fsync_quietly(fd)
            os.close(fd)
        _fsync_quietly(self._fd)


def _fsync_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):  # a failing fd: the next tick retries on the live one
        os.fsync(fd)


class Position(msgspec.Struct, frozen=True, order=True):
    seq: int
    offset: int


class Batch(msgspec.Struct):
    records: list[bytes]
    end: Position


class ShipStats:
    """The agent's counters; written to a file the workers' metrics endpoint reads."""

    def __init__(self) -> None:
        self.shipped = 0
        self.ship_failures = 0
        self.set_aside = 0
        self.expired = 0
        self.corrupt = 0
        self.journal_bytes = 0
        self.oldest_unshipped_ms = 0


def slot_alive(slot: Path) -> bool:
    """Whether a worker holds this slot (its lock): its newest segment may still grow."""
    try:
        fd = os.open(slot / "lock", os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a shared lock we may have taken
    return False


class JournalReader:
    """The shipper side (in the agent process): reads after the cursor, trims after ack.

    A segment is finished once a newer one exists (the writer creates the next
    segment before it stops writing the old one, in the same thread) or once its
    slot's worker is gone; only then may a torn tail be skipped.
    """

    def __init__(self, slot: Path, stats: ShipStats) -> None:
        self.slot = slot
        self.stats = stats
        self.cursor = self._load_cursor()

    def read_batch(self, max_records: int, max_bytes: int = 4 << 20) -> Batch:
        """Whole records after the cursor, up to max_records or about max_bytes."""
        records: list[bytes] = []
        pos = self.cursor
        segments = self._segments_from(pos.seq)
        alive = slot_alive(self.slot) if segments else False
        for i, seq in enumerate(segments):
            finished = i + 1 < len(segments) or not alive
            offset = pos.offset if seq == pos.seq else 0
            pos = Position(seq, offset)
            items, read_all = self._scan(seq, offset, max_bytes, max_records - len(records))
            for payload, end in items:
                records.append(payload)
                pos = Position(seq, end)
            if len(records) >= max_records or not read_all or not finished:
                break
            pos = Position(seq + 1, 0)  # past the end, and past a crash's torn tail
        return Batch(records, pos)

    def commit(self, end: Position) -> None:
        """Record progress and delete segments that are wholly shipped."""
        self.cursor = end
        tmp = self.slot / "cursor.tmp"
        tmp.write_text(f"{end.seq} {end.offset}\n")
        tmp.replace(self.slot / "cursor")
        for seq in list_segments(self.slot):
            if seq >= end.seq:
                break
            self._delete(seq)

    def drop_expired(self, max_age: float) -> None:
        """Delete finished segments older than max_age, counting their clicks as expired."""
        cutoff = time.time() - max_age
        segments = list_segments(self.slot)
        for seq in segments[:-1]:  # never the newest: it may still be written
            path = self.slot / segment_name(seq)
            if path.stat().st_mtime >= cutoff:
                break
            self.stats.expired += len(self._scan(seq, 0, 1 << 40, 1 << 40)[0])
            self._delete(seq)
            if self.cursor.seq <= seq:
                self.commit(Position(seq + 1, 0))

    def _delete(self, seq: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.slot / segment_name(seq)).unlink()

    def bytes_on_disk(self) -> int:
        return sum((self.slot / segment_name(s)).stat().st_size for s in list_segments(self.slot))

    def _segments_from(self, seq: int) -> list[int]:
        return [s for s in list_segments(self.slot) if s >= seq]

    def _scan(
        self, seq: int, offset: int, max_bytes: int, max_records: int
    ) -> tuple[list[tuple[bytes, int]], bool]:
        """Whole, checksummed records from offset as (payload, end offset), and whether
        the read reached the end of the file (False when max_bytes cut it short)."""
        try:
            with open(self.slot / segment_name(seq), "rb") as f:
                f.seek(offset)
                data = f.read(max_bytes)
        except FileNotFoundError:
            return [], True
        items: list[tuple[bytes, int]] = []
        pos = 0
        while pos + HEADER.size <= len(data) and len(items) < max_records:
            length, crc = HEADER.unpack_from(data, pos)
            start, end = pos + HEADER.size, pos + HEADER.size + length
            if end > len(data):
                break  # still being written, torn by a crash, or cut by max_bytes
            payload = data[start:end]
            if zlib.crc32(payload) != crc:
                self.stats.corrupt += 1
                break
            items.append((payload, offset + end))
            pos = end
        return items, len(data) < max_bytes

    def _load_cursor(self) -> Position:
        try:
            seq, offset = (self.slot / "cursor").read_text().split()
            return Position(int(seq), int(offset))
        except (FileNotFoundError, ValueError):
            first = list_segments(self.slot)
            return Position(first[0] if first else 1, 0)
