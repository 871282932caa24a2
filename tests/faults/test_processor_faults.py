"""Faults on the lab server's side, real processes end to end: every sample the agent
recorded (its CSV) is stored exactly once - in the processor's journal, and in
VictoriaMetrics (the InfluxDB stand-in: it keeps a point written twice twice, so
these are strict duplicate checks)."""

from __future__ import annotations

import pytest

from tests.faults.lab import FREQUENCY_HZ, Lab, lost_and_duplicated, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.timeout(240)]

SAMPLES = FREQUENCY_HZ * 20  # 20 s of gaze at 300 Hz


def batches_journaled(lab: Lab) -> int:
    return sum(lab.journaled().values()) // 30


def finish(lab: Lab, agent, *, store: str = "journal") -> None:
    """Let the agent finish its samples and its outbox, then wait until every recorded
    sample is in ``store``, and assert: none lost, none twice."""
    assert agent.wait(120) == 0, agent.log()[-3000:]
    lab.drain_agent_outbox()
    truth = lab.recorded()
    assert len(truth) == SAMPLES == len(set(truth))
    read = lab.journaled if store == "journal" else lab.in_victoria
    wait_until(lambda: set(read()) >= set(truth), f"every recorded sample in the {store}", 60)
    lost, duplicated = lost_and_duplicated(truth, read())
    assert (lost, duplicated) == (0, 0), f"{store}: {lost} lost, {duplicated} duplicated"


def test_processor_sigkill_mid_session_loses_nothing_and_stores_nothing_twice_in_journal_and_victoriametrics(lab_of):
    lab = lab_of(influx=True)
    processor = lab.processor()
    lab.wait_processor_online()
    agent = lab.agent(samples=SAMPLES)
    wait_until(lambda: batches_journaled(lab) >= 60, "60 batches journaled")
    processor.kill()  # a crash: mid-commit, mid-write to VictoriaMetrics
    lab.processor()
    finish(lab, agent)
    truth = lab.recorded()
    wait_until(lambda: set(lab.in_victoria()) >= set(truth), "every recorded sample in VictoriaMetrics", 60)
    assert lost_and_duplicated(truth, lab.in_victoria()) == (0, 0)


def test_victoriametrics_down_with_a_processor_sigkill_in_the_middle_is_caught_up_from_the_journal_once(lab_of):
    lab = lab_of(influx=True)
    lab.processor()
    lab.wait_processor_online()
    agent = lab.agent(samples=SAMPLES)
    wait_until(lambda: sum(lab.in_victoria().values()) >= 600, "the first points in VictoriaMetrics")
    lab.victoria.stop()  # InfluxDB down ...
    journaled = sum(lab.journaled().values())
    wait_until(lambda: sum(lab.journaled().values()) >= journaled + 1500, "5 s of gaze journaled during the outage")
    wait_until(lambda: (s := lab.processor_status()) is not None and s.sink.get("state") == "unreachable"
               and s.sink.get("records_behind", 0) > 20, "the processor to say the sink is unreachable and behind")
    lab.children[0].kill()  # ... and the processor crashes in the middle of it
    lab.processor()
    wait_until(lambda: sum(lab.journaled().values()) >= journaled + 3000, "10 s of gaze journaled during the outage")
    lab.victoria.start()  # InfluxDB back: the sink catches up from its checkpoint
    finish(lab, agent)
    truth = lab.recorded()
    wait_until(lambda: set(lab.in_victoria()) >= set(truth), "every recorded sample in VictoriaMetrics", 60)
    assert lost_and_duplicated(truth, lab.in_victoria()) == (0, 0)
    status = wait_until(lambda: (s := lab.processor_status()) and s.sink.get("records_behind") == 0 and s,
                        "the sink caught up")
    assert status.sink["state"] == "ok" and status.counters["points_dropped"] == 0
