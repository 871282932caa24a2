"""The durable outbox on a real SQLite file."""

import sqlite3
import time

import pytest

from gazewire.agent.outputs.outbox import Outbox, OutboxBatch


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
