"""The durable outbox on a real SQLite file."""

import sqlite3

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
