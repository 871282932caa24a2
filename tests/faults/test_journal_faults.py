"""The journal's own limits, real processes end to end: a full disk under the journal
stops acknowledgements (nothing is lost: the broker and the agent keep the data; the
processor's status says so loudly) until space returns; a journal at its size limit
evicts its oldest records and counts exactly what it evicted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.lab import FREQUENCY_HZ, lost_and_duplicated, report, settle, wait_until
from tests.support.disk import small_disk_at

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.timeout(240)]

SAMPLES = FREQUENCY_HZ * 15
CUSTODY = {"GAZEWIRE_CUSTODY_TIMEOUT_S": "3"}


@pytest.fixture
def small_disk(tmp_path: Path):
    yield from small_disk_at(tmp_path / "small-disk", size_kb=16 * 1024)


def test_a_full_disk_under_the_journal_stops_acknowledgements_until_space_returns_nothing_lost(lab_of, small_disk):
    lab = lab_of(persistence=True)
    lab.processor_dir = small_disk.path / "processor"
    lab.processor()
    lab.wait_processor_online()
    agent = lab.agent(samples=SAMPLES, **CUSTODY)
    wait_until(lambda: sum(lab.journaled().values()) >= 1200, "4 s of gaze journaled")
    small_disk.fill()
    status = wait_until(
        lambda: (s := lab.processor_status()) is not None and s.journal and s.journal.get("state") != "ok" and s,
        "the processor to say the journal cannot be written",
    )
    assert status.journal["unacknowledged"] > 0
    assert any(w.startswith("JOURNAL") for w in status.warnings), status.warnings
    stuck = sum(lab.journaled().values())
    wait_until(lambda: lab.outbox_depth() > 30, "the agent keeping 3 s of batches (no custody while full)")
    assert sum(lab.journaled().values()) == stuck, "nothing stored while the disk is full"
    small_disk.free()
    wait_until(lambda: (s := lab.processor_status()) is not None and s.journal.get("state") == "ok",
               "the journal writable again")
    settle(lab, agent, SAMPLES)


def test_a_journal_at_its_size_limit_evicts_the_oldest_and_counts_exactly_what_it_evicted(lab_of):
    lab = lab_of(persistence=True)
    lab.processor(GAZEWIRE_JOURNAL__MAX_GB="0.0003")  # 300 kB: about a third of this session
    lab.wait_processor_online()
    agent = lab.agent(samples=SAMPLES, **CUSTODY)
    assert agent.wait(120) == 0
    lab.drain_agent_outbox()
    truth = lab.recorded()

    def consistent():
        before = lab.processor_status()
        stored = lab.journaled()
        after = lab.processor_status()
        evicted = after.journal["evicted_samples"] if after and after.journal else 0
        if before is None or before.journal is None or before.journal["evicted_samples"] != evicted:
            return None
        return (stored, evicted) if evicted and sum(stored.values()) + evicted == len(truth) else None

    stored, evicted = wait_until(consistent, "a retention pass over everything received", 40)
    lost, duplicated = lost_and_duplicated(truth, stored)
    report(lab, store="journal", recorded=len(truth), lost=lost, duplicated=duplicated, counted_in_status=evicted)
    assert (lost, duplicated) == (evicted, 0), "every evicted sample counted in status, exactly"
    assert sorted(set(truth) - set(stored)) == sorted(truth)[:evicted], "the oldest ones"
    status = lab.processor_status()
    assert any("retention evicted" in w for w in status.warnings)
