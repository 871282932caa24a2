"""The durable outbox on a real SQLite file."""

import json
import sqlite3
import time

import pytest

from gazewire.agent.outputs.outbox import ZSTD_MAGIC, Outbox, OutboxBatch, OutboxError
from tests.support.disk import SmallDisk, small_disk_at


@pytest.fixture
def small_disk(tmp_path):
    yield from small_disk_at(tmp_path / "disk", size_kb=1024)


def batch(seq, size=100, samples=10):
    return OutboxBatch(seq, "lab/s/gaze/batch", b"x" * size, samples)


def test_batches_survive_a_restart_in_order(tmp_path):
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path)
    for seq in range(5):
        outbox.append(batch(seq), next_seq=(seq + 1) * 10)
    assert outbox.remove(1)
    outbox.close()
    reopened = Outbox(path)
    assert [b.batch_seq for b in reopened.pending(-1, 100)] == [0, 2, 3, 4]
    assert [b.batch_seq for b in reopened.pending(2, 1)] == [3]
    assert reopened.counter("next_batch_seq") == 5 and reopened.counter("next_seq") == 50
    assert reopened.depth == 4
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_full_outbox_evicts_the_oldest_and_counts_them(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", max_bytes=1000)
    evictions = []
    for seq in range(15):
        evictions += outbox.append(batch(seq), next_seq=seq)
    assert outbox.size_bytes <= 1000
    remaining = [b.batch_seq for b in outbox.pending(-1, 100)]
    assert remaining == list(range(5, 15))
    assert outbox.evicted_batches == 5 and outbox.evicted_samples == 50
    assert sum(e.batches for e in evictions) == 5


def test_old_batches_expire_and_are_counted(tmp_path):
    now = [1000.0]
    outbox = Outbox(tmp_path / "o.sqlite3", max_age_s=60, clock=lambda: now[0])
    outbox.append(batch(0), next_seq=1)
    now[0] += 30
    outbox.append(batch(1), next_seq=2)
    now[0] += 40
    evicted = outbox.evict_expired()
    assert [e.reason for e in evicted] == ["age"] and outbox.evicted_samples == 10
    assert [b.batch_seq for b in outbox.pending(-1, 10)] == [1]


def test_removing_an_evicted_batch_is_harmless(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.append(batch(0), next_seq=1)
    assert outbox.remove(0) and not outbox.remove(0)
    assert outbox.depth == 0 and outbox.size_bytes == 0


@pytest.mark.parametrize("kwargs", [{"max_bytes": 0}, {"max_age_s": -1}])
def test_bad_bounds_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError):
        Outbox(tmp_path / "o.sqlite3", **kwargs)


def sqlite_steps_of_one_append(outbox: Outbox, batch_seq: int) -> int:
    """SQLite virtual-machine instructions (in thousands) one append executes:
    a measure of work that does not depend on the machine's speed."""
    steps = {"n": 0}

    def count() -> int:
        steps["n"] += 1
        return 0

    outbox._db.set_progress_handler(count, 1000)
    outbox.append(batch(batch_seq), next_seq=batch_seq + 1)
    outbox._db.set_progress_handler(None, 0)
    return steps["n"]


def test_an_append_costs_the_same_however_long_the_backlog(tmp_path):
    """A long outage fills the outbox; each append must not scan all of it
    (it did, for the age check: 65 ms CPU per batch at 50 000 batches, more
    than a core at 20 batches a second)."""
    outbox = Outbox(tmp_path / "o.sqlite3", synchronous="normal")
    now = time.time()
    rows = [(seq, "lab/s/gaze/batch", b"x" * 100, 10, now) for seq in range(20_000)]
    outbox._db.execute("BEGIN")
    outbox._db.executemany("INSERT INTO batches VALUES (?, ?, ?, ?, ?)", rows[:2_000])
    outbox._db.execute("COMMIT")
    small = sqlite_steps_of_one_append(outbox, 100_000)
    outbox._db.execute("BEGIN")
    outbox._db.executemany("INSERT INTO batches VALUES (?, ?, ?, ?, ?)", rows[2_000:])
    outbox._db.execute("COMMIT")
    large = sqlite_steps_of_one_append(outbox, 100_001)
    assert large <= small + 2, f"{small}k steps with 2 000 batches waiting, {large}k with 20 000"


def test_a_full_disk_fails_an_append_cleanly_and_appends_work_again_once_space_is_freed(small_disk: SmallDisk):
    """On a real full disk SQLite rolls the transaction back itself at COMMIT;
    the outbox's own ROLLBACK then failed with "no transaction is active", which
    escaped instead of OutboxError, so the agent's fallback never ran."""
    outbox = Outbox(small_disk.path / "o.sqlite3")
    outbox.append(batch(0), next_seq=10)
    small_disk.fill()
    stored = 1
    with pytest.raises(OutboxError, match="full"):
        for seq in range(1, 1000):
            outbox.append(batch(seq, size=20_000), next_seq=(seq + 1) * 10)
            stored += 1
    assert outbox.depth == stored
    assert [b.batch_seq for b in outbox.pending(-1, 2000)] == list(range(stored))
    assert outbox.counter("next_seq") == stored * 10, "the failed batch left no trace"

    small_disk.free()
    outbox.append(batch(stored), next_seq=(stored + 1) * 10)
    assert [b.batch_seq for b in outbox.pending(-1, 2000)] == list(range(stored + 1))
    assert outbox.remove(0)
    outbox.close()


def test_an_outbox_on_a_read_only_disk_stays_closed_until_the_disk_takes_writes(small_disk: SmallDisk):
    path = small_disk.path / "outbox" / "o.sqlite3"
    first = Outbox(path)
    for seq in range(3):
        first.append(batch(seq), next_seq=(seq + 1) * 10)
    first.close()
    small_disk.read_only()

    outbox = Outbox(path, reopen_s=0)
    assert not outbox.is_open
    assert "read-only" in (outbox.error or "").lower()
    assert outbox.counter("next_seq") == 30 and outbox.counter("next_batch_seq") == 3
    with pytest.raises(OutboxError):
        outbox.append(batch(3), next_seq=40)
    assert outbox.pending(-1, 10) == [] and not outbox.remove(0) and outbox.depth == 0
    assert not outbox.reopen()

    small_disk.read_write()
    assert outbox.reopen() and outbox.error is None
    assert outbox.depth == 3
    outbox.append(batch(3), next_seq=40)
    assert [b.batch_seq for b in outbox.pending(-1, 10)] == [0, 1, 2, 3]
    outbox.close()


def test_an_outbox_that_cannot_even_be_created_says_why(small_disk: SmallDisk):
    small_disk.read_only()
    outbox = Outbox(small_disk.path / "outbox" / "o.sqlite3")
    assert not outbox.is_open and "read-only" in (outbox.error or "").lower()
    assert outbox.counter("next_seq") == 0  # no file: nothing was ever stored


def json_batch(seq: int) -> OutboxBatch:
    """A batch the size of a real one (1200 Hz, 60 samples: ~20 KB of JSON)."""
    columns = {"seq": list(range(seq * 60, seq * 60 + 60)), "left_x": [0.5 + i / 1000 for i in range(60)] * 40}
    return OutboxBatch(seq, "lab/s/gaze/batch", json.dumps({"batch_seq": seq, "columns": columns}).encode(), 60)


def test_batches_are_stored_compressed_and_read_back_as_sent(tmp_path):
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path)
    sent = [json_batch(seq) for seq in range(3)]
    for one in sent:
        outbox.append(one, next_seq=(one.batch_seq + 1) * 60)
    stored = sqlite3.connect(path).execute("SELECT payload FROM batches ORDER BY batch_seq").fetchall()
    assert all(bytes(row[0]).startswith(ZSTD_MAGIC) for row in stored)
    assert outbox.size_bytes == sum(len(row[0]) for row in stored) < sum(len(b.payload) for b in sent) / 2
    outbox.close()
    assert Outbox(path).pending(-1, 10) == sent


def test_uncompressed_batches_of_an_older_agent_still_read(tmp_path):
    """An outbox written before batches were compressed (payload = the JSON as sent)
    is sent as it is after an upgrade, beside the new, compressed batches."""
    path = tmp_path / "o.sqlite3"
    Outbox(path).close()
    old = [json_batch(seq) for seq in range(2)]
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO batches VALUES (?, ?, ?, ?, ?)",
                   [(b.batch_seq, b.topic, b.payload, b.samples, time.time()) for b in old])
    db.commit()
    db.close()
    outbox = Outbox(path)
    assert outbox.size_bytes == sum(len(b.payload) for b in old)
    outbox.append(json_batch(2), next_seq=180)
    assert outbox.pending(-1, 10) == [*old, json_batch(2)]
    assert outbox.remove(0) and outbox.size_bytes < len(old[1].payload) + len(json_batch(2).payload)
