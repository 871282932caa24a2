"""Faults on the lab server's side, real processes end to end: every sample the agent
recorded (its CSV) is stored exactly once - in the processor's journal, and in
VictoriaMetrics (the InfluxDB stand-in: it keeps a point written twice twice, so
these are strict duplicate checks)."""

from __future__ import annotations

import pytest

from tests.faults.lab import FREQUENCY_HZ, Lab, settle, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.timeout(240)]

SAMPLES = FREQUENCY_HZ * 15  # 15 s of gaze at 300 Hz


def batches_journaled(lab: Lab) -> int:
    return sum(lab.journaled().values()) // 30


def test_processor_sigkill_mid_session_loses_nothing_and_stores_nothing_twice_in_journal_and_victoriametrics(lab_of):
    lab = lab_of(influx=True)
    processor = lab.processor()
    lab.wait_processor_online()
    agent = lab.agent(samples=SAMPLES)
    wait_until(lambda: batches_journaled(lab) >= 60, "60 batches journaled")
    processor.kill()  # a crash: mid-commit, mid-write to VictoriaMetrics
    lab.processor()
    settle(lab, agent, SAMPLES, victoria=True)


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
    settle(lab, agent, SAMPLES, victoria=True)
    status = wait_until(lambda: (s := lab.processor_status()) and s.sink.get("records_behind") == 0 and s,
                        "the sink caught up")
    assert status.sink["state"] == "ok" and status.counters["points_dropped"] == 0
