"""Append-only click journal: segment files of length+CRC framed records.

Layout: ``<data_dir>/journal/slot-N/<seq:012d>.seg``. Each worker process holds an
exclusive flock on one slot, so several workers never share a file, and a worker
restarted after a crash takes a free slot and ships what the dead one left.

Record framing: ``u32 length | u32 crc32(payload) | payload`` (little endian).

Durability: segments are preallocated and memory-mapped (MAP_SHARED), and
``append`` copies the record into the mapping before the 302 is sent. The mapping
is the file's page cache, so a click whose append returned survives SIGKILL of the
process, exactly like a returned write(), without a system call per click (a
write() cost about as much as the rest of the edge's Python work). ``fsync`` runs on
a timer in the background thread and bounds what a power loss can take. A store into
the page cache is a memory copy, not a wait on a device, which is why it is allowed
on the request loop; everything that waits (fsync, close, reads, deletes) happens in
the background thread. Unwritten space reads as zeros: a zero length ends a segment.

Processes and threads: a worker's request loop is the only writer of its slot
(``bytes_written``, the active mapping, ``retired`` appends); the worker's background
thread fsyncs and closes retired segments and learns ``bytes_trimmed`` from the
segments the agent deleted; the edge agent (a separate process, see edge.agent)
reads, ships and deletes segments.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import threading
import time
import zlib
from collections import deque
from pathlib import Path
from typing import Any

import msgspec

from edge.metrics import EdgeMetrics

HEADER = struct.Struct("<II")
SUFFIX = ".seg"
_UNNAMED = ".new"  # a segment being created: the reader never lists it
_encode_into = msgspec.msgpack.Encoder().encode_into
_pack_header = HEADER.pack
_crc32 = zlib.crc32


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
        existing = list_segments(slot)
        # Bytes of records per segment, for the cap: the writer adds, rescan() removes what
        # the agent deleted. A dead worker's segments count whole (their fill is unknown).
        self._sizes = {s: (slot / segment_name(s)).stat().st_size for s in existing}
        self.bytes_written = sum(self._sizes.values())
        self.bytes_trimmed = 0
        self.retired: deque[tuple[int, mmap.mmap]] = deque()
        self._buf = bytearray()
        # Never below the shipped cursor: once the agent has shipped a dead worker's slot
        # it commits (last + 1, 0) and deletes every segment, and a writer starting again
        # at 1 would write where the reader never looks (and a later commit deletes).
        self.active_seq = max(existing[-1] + 1 if existing else 1, read_cursor(slot).seq)
        for leftover in slot.glob("*" + _UNNAMED):  # never written to: only named ones are
            leftover.unlink(missing_ok=True)
        # The next segment, created and mapped by the background thread ahead of time, so
        # that a rotation on the request loop is one rename, not open + fallocate + mmap
        # (60-360 us measured here, more while the disk is busy with an fsync).
        self._spare: tuple[Path, int, mmap.mmap] | None = None
        self._spare_lock = threading.Lock()  # taken once per segment on the request loop
        self._fd, self._map = self._open(self.active_seq)
        self._segment_size = 0

    @property
    def bytes_used(self) -> int:
        return self.bytes_written - self.bytes_trimmed

    @property
    def active_fd(self) -> int:
        return self._fd

    def append(self, record: tuple[Any, ...]) -> bool:
        """Frame and store one record; False (and a counted drop) when it cannot."""
        buf = self._buf
        _encode_into(record, buf)  # the payload alone: no memoryview to skip a header
        length = len(buf)
        size = length + 8  # HEADER.size
        if self.bytes_written - self.bytes_trimmed + size > self.max_bytes:
            self.metrics.dropped["journal_full"] += 1
            return False
        offset = self._segment_size
        if offset + size > self.segment_bytes:
            if not self._rotate(size):
                self.metrics.dropped["write_error"] += 1
                return False
            offset = 0
        mapped = self._map
        # Payload first, then the header that makes the record visible: a reader (or a
        # restart after SIGKILL) sees whole records or a zero header, never half of one.
        mapped[offset + 8 : offset + size] = buf
        mapped[offset : offset + 8] = _pack_header(length, _crc32(buf))
        self.bytes_written += size
        self._segment_size = offset + size
        self.metrics.journaled += 1
        return True

    def rescan(self) -> None:
        """Background thread: learn what the agent trimmed from the segments it deleted."""
        on_disk = set(list_segments(self.slot))
        for seq, size in list(self._sizes.items()):
            if seq not in on_disk:
                self.bytes_trimmed += size
                self._sizes.pop(seq, None)

    def _rotate(self, size: int) -> bool:
        """Start the next segment; the old one is finished from the moment the new exists."""
        if size > self.segment_bytes:
            return False  # can never fit: dropped and counted, the journal goes on
        try:
            fd, mapped = self._take_spare(self.active_seq + 1) or self._open(self.active_seq + 1)
        except OSError:
            return False  # disk full or failing: this record is dropped, the next one retries
        self._sizes[self.active_seq] = self._segment_size
        self.retired.append((self._fd, self._map))
        self._fd, self._map = fd, mapped
        self.active_seq += 1
        self._segment_size = 0
        return True

    def _open(self, seq: int) -> tuple[int, mmap.mmap]:
        """A new segment: blocks allocated up front, mapped, then renamed into view.

        posix_fallocate makes a full disk fail here instead of as SIGBUS on a later store
        into the mapping; the rename makes a segment visible to the reader only when it
        is ready, since a newer segment tells the reader the previous one is finished.
        """
        tmp = self.slot / f"{seq:012d}{_UNNAMED}"
        fd, mapped = self._create(tmp)
        os.replace(tmp, self.slot / segment_name(seq))
        return fd, mapped

    def _create(self, tmp: Path) -> tuple[int, mmap.mmap]:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.posix_fallocate(fd, 0, self.segment_bytes)
            mapped = mmap.mmap(fd, self.segment_bytes, mmap.MAP_SHARED)
        except OSError:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return fd, mapped

    def _take_spare(self, seq: int) -> tuple[int, mmap.mmap] | None:
        """Request loop: name the prepared segment `seq` (it holds no record yet)."""
        with self._spare_lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        tmp, fd, mapped = spare
        try:
            os.replace(tmp, self.slot / segment_name(seq))
        except OSError:
            mapped.close()
            os.close(fd)
            raise
        return fd, mapped

    def prepare_spare(self) -> None:
        """Background thread: have the next segment ready before the active one fills.

        Only this thread makes a spare (outside the lock: it waits on the disk); the
        request loop takes it under the lock, which also keeps discard_spare at shutdown
        from closing a spare the request loop is taking.
        """
        if self._spare is None:
            tmp = self.slot / f"spare{_UNNAMED}"
            fd, mapped = self._create(tmp)
            with self._spare_lock:
                self._spare = (tmp, fd, mapped)

    def discard_spare(self) -> None:
        """Background thread, at shutdown: the spare holds nothing; remove it."""
        with self._spare_lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            tmp, fd, mapped = spare
            mapped.close()
            os.close(fd)
            tmp.unlink(missing_ok=True)

    def sync(self) -> None:
        """Background thread: fsync and close retired segments, fsync the active one.

        fsync on the fd writes back pages dirtied through the mapping: they are the
        same page-cache pages.
        """
        while self.retired:
            fd, mapped = self.retired.popleft()
            _fsync_quietly(fd)
            mapped.close()
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
        self.set_aside_dropped = 0  # refused, and the rejected log was full
        self.expired = 0
        self.corrupt = 0
        self.job_failures = 0  # agent jobs restarted after an unexpected error
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
        self.cursor = read_cursor(slot)

    def read_batch(self, max_records: int, max_bytes: int = 4 << 20) -> Batch:
        """Whole records after the cursor, up to max_records or about max_bytes."""
        records: list[bytes] = []
        every = list_segments(self.slot)
        if every and every[0] < self.cursor.seq:
            # commit() deletes every segment below the cursor, so one below it was written
            # after: by a release whose writer restarted at 1. Read it again rather than
            # lose it (a re-shipped click is a duplicate ingest ignores).
            self.cursor = Position(every[0], 0)
        pos = self.cursor
        segments = [s for s in every if s >= pos.seq]
        alive = slot_alive(self.slot) if segments else False
        for i, seq in enumerate(segments):
            finished = i + 1 < len(segments) or not alive
            offset = pos.offset if seq == pos.seq else 0
            pos = Position(seq, offset)
            items, read_all = self._scan(
                seq, offset, max_bytes, max_records - len(records), finished
            )
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

    def _scan(
        self, seq: int, offset: int, max_bytes: int, max_records: int, finished: bool = True
    ) -> tuple[list[tuple[bytes, int]], bool]:
        """Whole, checksummed records from offset as (payload, end offset), and whether
        the scan reached the end of what is written (False when a limit cut it short)."""
        try:
            with (
                open(self.slot / segment_name(seq), "rb") as f,
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data,
            ):
                return self._records(data, offset, max_bytes, max_records, finished)
        except FileNotFoundError:
            return [], True
        except ValueError:  # an empty file cannot be mapped: nothing written yet
            return [], True

    def _records(
        self, data: mmap.mmap, offset: int, max_bytes: int, max_records: int, finished: bool
    ) -> tuple[list[tuple[bytes, int]], bool]:
        items: list[tuple[bytes, int]] = []
        pos, size = offset, len(data)
        while len(items) < max_records:
            if pos + HEADER.size > size:
                return items, True
            length, crc = HEADER.unpack_from(data, pos)
            end = pos + HEADER.size + length
            if length == 0 or end > size:
                return items, True  # the preallocated, unwritten rest (or a torn tail)
            if end - offset > max_bytes and items:
                return items, False
            payload = data[pos + HEADER.size : end]
            if zlib.crc32(payload) != crc:
                # In a live segment this can be a store not yet visible to us: retry later.
                self.stats.corrupt += finished
                return items, True
            items.append((payload, end))
            pos = end
        return items, False


def read_cursor(slot: Path) -> Position:
    """The slot's committed cursor; without one, the start of its first segment."""
    try:
        seq, offset = (slot / "cursor").read_text().split()
        return Position(int(seq), int(offset))
    except (FileNotFoundError, ValueError):
        first = list_segments(slot)
        return Position(first[0] if first else 1, 0)
