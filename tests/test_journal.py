"""The click journal: framing, rotation, resume after restart, torn tails, trimming."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from edge.journal import Journal, JournalReader, ShipStats, claim_slot, list_segments
from edge.metrics import EdgeMetrics


def open_journal(
    root: Path, segment: int = 4096, cap: int = 1 << 20
) -> tuple[Journal, JournalReader, int]:
    slot, lock_fd = claim_slot(root)
    metrics = EdgeMetrics()
    journal = Journal(slot, metrics, segment, cap)
    return journal, JournalReader(slot, ShipStats()), lock_fd


def record(n: int) -> tuple[object, ...]:
    return (n.to_bytes(16, "big"), n, "x" * 50)


def numbers(records: list[bytes]) -> list[int]:
    return [msgspec.msgpack.decode(r)[1] for r in records]


def test_records_come_back_in_order_across_segments(tmp_path: Path) -> None:
    journal, reader, _ = open_journal(tmp_path)
    for n in range(300):
        assert journal.append(record(n))
    assert len(list_segments(journal.slot)) > 2
    got: list[bytes] = []
    while (batch := reader.read_batch(64)).records:
        got.extend(batch.records)
        reader.commit(batch.end)
    assert numbers(got) == list(range(300))


def test_commit_trims_finished_segments_only(tmp_path: Path) -> None:
    journal, reader, _ = open_journal(tmp_path)
    for n in range(300):
        journal.append(record(n))
    batch = reader.read_batch(1000)
    assert len(batch.records) == 300
    reader.commit(batch.end)
    assert list_segments(journal.slot) == [journal.active_seq]
    journal.rescan()  # the worker's background thread learns what the agent trimmed
    assert journal.bytes_used == os.path.getsize(journal.slot / f"{journal.active_seq:012d}.seg")
    assert reader.read_batch(10).records == []


def test_restart_resumes_after_committed_cursor(tmp_path: Path) -> None:
    journal, reader, lock_fd = open_journal(tmp_path)
    for n in range(10):
        journal.append(record(n))
    batch = reader.read_batch(4)
    reader.commit(batch.end)
    os.close(journal.active_fd)
    os.close(lock_fd)  # the process died: its slot lock is gone
    journal2, reader2, _ = open_journal(tmp_path)
    assert journal2.slot == journal.slot
    journal2.append(record(10))
    rest = reader2.read_batch(100).records
    assert numbers(rest) == list(range(4, 11))


def test_a_live_slot_is_never_shared(tmp_path: Path) -> None:
    first, _, _ = open_journal(tmp_path)
    second, _, _ = open_journal(tmp_path)
    assert first.slot != second.slot


def test_torn_tail_of_a_dead_segment_is_skipped(tmp_path: Path) -> None:
    journal, _, lock_fd = open_journal(tmp_path)
    for n in range(3):
        journal.append(record(n))
    os.write(journal.active_fd, b"\x40\x00\x00\x00\x01\x02")  # a record cut off by SIGKILL
    os.close(journal.active_fd)
    os.close(lock_fd)
    journal2, reader2, _ = open_journal(tmp_path)
    journal2.append(record(3))
    got = reader2.read_batch(100).records
    assert numbers(got) == [0, 1, 2, 3]


def test_cap_drops_and_counts(tmp_path: Path) -> None:
    journal, _, _ = open_journal(tmp_path, segment=4096, cap=8192)
    results = [journal.append(record(n)) for n in range(500)]
    assert not all(results)
    assert journal.metrics.dropped["journal_full"] == results.count(False)
    assert journal.bytes_used <= 8192
