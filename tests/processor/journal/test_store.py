"""The journal file: batches held once, a commit torn by a crash rolled back, damaged
records dropped and counted, a full disk refused without writing, retention counted.
Real SQLite files in a temporary directory."""

from __future__ import annotations

import random
import shutil
import sqlite3

import pytest

from gazewire.errors import GazewireError
from gazewire.processor.journal import Journal, JournalFull, Record, RecordKind
from gazewire.processor.journal.records import CorruptRecord, in_ranges, pack, ranges, unpack


def batch(seq: int, *, session: str = "s1", run: str | None = "run-a", samples: int = 60, size: int = 2000) -> Record:
    pad = random.Random(seq).randbytes(size // 2).hex()  # incompressible, like real gaze values
    body = (f'{{"batch_seq":{seq},"pad":"' + pad + '"}').encode()
    return Record(session, RecordKind.BATCH, body, received_utc_us=1_000 + seq, first_utc_us=seq * 50_000,
                  last_utc_us=seq * 50_000 + 49_000, run=run, batch_seq=seq, first_seq=seq * samples, samples=samples)


def test_records_are_stored_in_order_and_a_batch_held_already_is_left_out(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    stored = journal.append([batch(0), batch(1), batch(2)], {"s1": b'{"x":1}'})
    assert [r.position for r in stored] == [1, 2, 3]
    again = journal.append([batch(1), batch(3), batch(1, run="run-b")])
    assert [(r.run, r.batch_seq) for r in again] == [("run-a", 3), ("run-b", 1)]
    assert journal.holds("s1", "run-a", 2) and not journal.holds("s1", "run-a", 4) and not journal.holds("s2", "run-a", 2)
    assert [r.body for r in journal.read_after(0, 100)] == [batch(i).body for i in (0, 1, 2, 3)] + [batch(1).body]
    assert journal.session_states() == {"s1": b'{"x":1}'}
    journal.close()


def test_a_batch_without_a_run_is_held_once_too(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    assert len(journal.append([batch(5, run=None)])) == 1
    assert journal.append([batch(5, run=None)]) == []
    assert journal.holds("s1", None, 5)


def test_one_sessions_time_range_reads_only_the_records_that_overlap_it(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    journal.append([batch(i) for i in range(10)] + [batch(i, session="s2") for i in range(10)])
    found = list(journal.read_session("s1", from_utc_us=3 * 50_000 + 10, to_utc_us=5 * 50_000))
    assert [(r.session, r.batch_seq) for r in found] == [("s1", 3), ("s1", 4), ("s1", 5)]
    plan = " ".join(str(row) for row in journal._db().execute(
        "EXPLAIN QUERY PLAN SELECT * FROM records WHERE session = 's1' AND recording IS NULL AND first_utc_us <= 9"
    ))
    assert "records_time" in plan


def test_a_commit_torn_by_a_crash_is_rolled_back_and_the_ones_before_it_are_intact(tmp_path):
    journal = Journal(tmp_path / "live" / "journal.sqlite")
    journal.append([batch(0), batch(1)])
    journal.append([batch(2), batch(3)])
    # The process "dies" here: copy the files as they are (nothing checkpointed into the main file) ...
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(f"{journal.path}{suffix}", f"{crashed / 'journal.sqlite'}{suffix}")
    wal = crashed / "journal.sqlite-wal"
    # ... with the last commit's frames torn: the WAL's last bytes never reached the disk.
    wal.write_bytes(wal.read_bytes()[:-100])
    reopened = Journal(crashed / "journal.sqlite")
    assert [r.batch_seq for r in reopened.read_after(0, 100)] == [0, 1]
    assert reopened.last_position == 2 and reopened.dropped_on_start == 0
    assert [r.position for r in reopened.append([batch(2)])] == [3]


def test_a_damaged_record_at_the_end_is_dropped_on_start_and_counted(tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    journal.append([batch(0), batch(1), batch(2)])
    journal.close()
    with sqlite3.connect(path) as db:  # bit rot in the last record's stored bytes
        stored = db.execute("SELECT body FROM records WHERE position = 3").fetchone()[0]
        db.execute("UPDATE records SET body = ? WHERE position = 3", (stored[:-5] + b"?????",))
    reopened = Journal(path)
    assert reopened.dropped_on_start == 1
    assert [r.batch_seq for r in reopened.read_after(0, 10)] == [0, 1]
    assert reopened.report()["corrupt_records"] == 1
    assert not reopened.holds("s1", "run-a", 2)  # so the agent's copy is taken again


def test_reading_a_damaged_record_raises_naming_its_position(tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    journal.append([batch(0)])
    journal._db().execute("UPDATE records SET crc = crc + 1 WHERE position = 1")
    with pytest.raises(CorruptRecord, match="record 1") as raised:
        journal.read_after(0, 10)
    assert raised.value.position == 1 and isinstance(raised.value, GazewireError)


def test_a_full_disk_refuses_the_commit_writes_nothing_and_the_same_commit_succeeds_when_space_returns(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    journal.append([batch(0)])
    db = journal._db()
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own "disk full" (SQLITE_FULL)
    group = [batch(i, size=20_000) for i in range(1, 6)]
    with pytest.raises(JournalFull, match="full"):
        journal.append(group, {"s1": b"{}"})
    assert [r.batch_seq for r in journal.read_after(0, 10)] == [0] and journal.session_states() == {}
    db.execute("PRAGMA max_page_count = 1073741823")
    assert [r.batch_seq for r in journal.append(group, {"s1": b"{}"})] == [1, 2, 3, 4, 5]


def test_size_retention_evicts_the_oldest_and_counts_every_batch_and_sample(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite", max_bytes=400_000)
    for start in range(0, 200, 20):
        journal.append([batch(i, size=10_000, samples=60 + i % 3) for i in range(start, start + 20)])
    journal.save_checkpoint("influx", 150)
    evictions = journal.enforce_retention()
    kept = journal.read_after(0, 1000)
    evicted = [i for i in range(200) if i not in {r.batch_seq for r in kept}]
    assert evicted == list(range(len(evicted))) and len(evicted) > 50, "the oldest, and enough to fit"
    assert journal.used_bytes() <= 400_000
    report = journal.report()
    assert report["evicted_batches"] == len(evicted) == sum(e.batches for e in evictions)
    assert report["evicted_samples"] == sum(60 + i % 3 for i in evicted)
    assert report["evicted_unsent"] == max(0, len(evicted) - 150)


def test_age_retention_evicts_records_received_before_the_cutoff(tmp_path):
    now = {"t": 1_000.0}
    journal = Journal(tmp_path / "journal.sqlite", max_age_s=60, clock=lambda: now["t"])
    old = [Record("s1", RecordKind.MARKER, b'{"m":1}', received_utc_us=900_000_000)]
    new = [Record("s1", RecordKind.MARKER, b'{"m":2}', received_utc_us=990_000_000)]
    journal.append(old + new)
    assert [e.records for e in journal.enforce_retention()] == [1]
    assert [r.body for r in journal.read_after(0, 10)] == [b'{"m":2}']


def test_bodies_are_compressed_losslessly_and_checked():
    body = b'{"x":[0.123456789012345678,null,1e-300]}' * 50
    codec, stored, crc = pack(body)
    assert len(stored) < len(body) and unpack(codec, stored, crc) == body
    with pytest.raises(CorruptRecord):
        unpack(codec, stored, crc ^ 1)


def test_custody_ranges_are_inclusive_and_coalesced():
    assert ranges([7, 1, 2, 3, 3, 9, 8]) == [[1, 3], [7, 9]]
    assert ranges([]) == []
    assert in_ranges(8, [[1, 3], [7, 9]]) and not in_ranges(5, [[1, 3], [7, 9]])


def test_a_record_packed_on_another_thread_is_stored_as_packing_it_here_would(tmp_path):
    import dataclasses
    import threading

    records = [batch(i, size=4000) for i in range(6)]
    packs: list = []
    worker = threading.Thread(target=lambda: packs.extend(pack(r.body) for r in records))  # paho's thread
    worker.start()
    worker.join()
    plain, prepacked = Journal(tmp_path / "plain.sqlite"), Journal(tmp_path / "prepacked.sqlite")
    plain.append(records)
    stored = prepacked.append([dataclasses.replace(r, packed=p) for r, p in zip(records, packs)])
    assert all(r.packed is None for r in stored)  # not kept once stored
    rows = "SELECT position, codec, crc, body FROM records ORDER BY position"
    assert plain._db().execute(rows).fetchall() == prepacked._db().execute(rows).fetchall()
    assert [r.body for r in prepacked.read_after(0, 10)] == [r.body for r in records]
    plain.close()
    prepacked.close()
