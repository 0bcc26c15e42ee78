"""The click journal: framing, rotation, resume after restart, torn tails, trimming."""

from __future__ import annotations

import os
import signal
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
    in_active = reader.read_batch(1000).records
    assert in_active == []  # all shipped; what is left counts only the active segment
    assert 0 < journal.bytes_used < journal.segment_bytes
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


def test_a_worker_restarted_on_a_fully_shipped_slot_writes_where_the_reader_looks(
    tmp_path: Path,
) -> None:
    journal, reader, lock_fd = open_journal(tmp_path)
    for n in range(5):
        journal.append(record(n))
    os.close(journal.active_fd)
    os.close(lock_fd)  # the worker exits; the agent ships its slot and deletes every segment
    batch = reader.read_batch(100)
    reader.commit(batch.end)
    assert (numbers(batch.records), list_segments(journal.slot)) == (list(range(5)), [])
    journal2, fresh_reader, _ = open_journal(tmp_path)
    assert journal2.slot == journal.slot
    for n in range(5, 12):
        journal2.append(record(n))
    assert numbers(reader.read_batch(100).records) == list(range(5, 12))
    assert numbers(fresh_reader.read_batch(100).records) == list(range(5, 12))


def test_segments_below_the_cursor_are_shipped_again_not_lost(tmp_path: Path) -> None:
    # What an earlier release left: its writer restarted at segment 1 under a cursor at 3.
    journal, _, _ = open_journal(tmp_path)
    for n in range(3):
        journal.append(record(n))
    (journal.slot / "cursor").write_text("3 0\n")
    assert numbers(JournalReader(journal.slot, ShipStats()).read_batch(100).records) == [0, 1, 2]


def test_a_live_slot_is_never_shared(tmp_path: Path) -> None:
    first, _, _ = open_journal(tmp_path)
    second, _, _ = open_journal(tmp_path)
    assert first.slot != second.slot


def test_torn_tail_of_a_dead_segment_is_skipped(tmp_path: Path) -> None:
    journal, _, lock_fd = open_journal(tmp_path)
    for n in range(3):
        journal.append(record(n))
    # A header whose payload never arrived (as on a CPU that reorders stores, or a disk
    # that lost pages): the CRC refuses it, and the dead segment's tail is skipped.
    end = journal._segment_size
    journal._map[end : end + 8] = b"\x40\x00\x00\x00\x01\x02\x03\x04"
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


def test_a_click_appended_survives_sigkill_of_its_process(tmp_path: Path) -> None:
    """The append is a store into a shared file mapping: the page cache keeps it."""
    slot, _ = claim_slot(tmp_path / "other")  # claimed by us, written by the child
    pid = os.fork()
    if pid == 0:  # the child: append, then die without any cleanup
        journal = Journal(slot, EdgeMetrics(), 4096, 1 << 20)
        for n in range(5):
            journal.append(record(n))
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert numbers(JournalReader(slot, ShipStats()).read_batch(100).records) == list(range(5))


def test_a_record_larger_than_a_segment_is_dropped_and_counted(tmp_path: Path) -> None:
    journal, reader, _ = open_journal(tmp_path, segment=4096)
    assert journal.append(record(1))
    assert not journal.append((b"x", 2, "y" * 5000))
    assert journal.append(record(3))
    assert journal.metrics.dropped["write_error"] == 1
    assert numbers(reader.read_batch(10).records) == [1, 3]


def test_rotation_takes_the_spare_the_background_prepared(tmp_path: Path) -> None:
    """The request loop renames a segment the background thread made ready; it creates
    one itself only when none is ready; a spare left by a dead worker is removed."""
    journal, reader, lock_fd = open_journal(tmp_path)
    spare = journal.slot / "spare.new"
    journal.prepare_spare()
    spare_inode = spare.stat().st_ino
    first = journal.active_seq
    n = 0
    while journal.active_seq == first:
        assert journal.append(record(n))
        n += 1
    assert not spare.exists()
    assert (journal.slot / f"{journal.active_seq:012d}.seg").stat().st_ino == spare_inode
    second = journal.active_seq
    while journal.active_seq == second:  # no spare now: created on the spot, as before
        assert journal.append(record(n))
        n += 1
    journal.prepare_spare()
    journal.prepare_spare()  # one spare at a time
    assert sorted(p.name for p in journal.slot.glob("*.new")) == ["spare.new"]
    got = reader.read_batch(10_000).records
    assert numbers(got)[: n - 1] == list(range(n - 1))  # nothing lost or reordered
    os.close(lock_fd)  # the worker dies with its spare in place
    restarted, _, _ = open_journal(tmp_path)
    assert restarted.slot == journal.slot and not spare.exists()
    restarted.prepare_spare()
    restarted.discard_spare()  # a clean shutdown leaves none either
    assert list(restarted.slot.glob("*.new")) == []
