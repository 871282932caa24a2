"""The agent with its Tobii source, on the fake SDK (tests/support/fake_tobii.py:
no tracker can be attached here) and a real Mosquitto: what the SDK reports
must show in the agent's status and batches.
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gazewire.agent.config import AgentSettings
from gazewire.agent.inputs.sdk import invalid_gaze
from gazewire.agent.inputs.tobii import TobiiTracker
from gazewire.agent.runtime import Agent
from gazewire.settings import load_settings
from gazewire.wire.messages import AgentStatus, GazeBatch
from tests.support.fake_tobii import (
    BUFFER_OVERFLOW,
    FREQUENCY_CHANGED,
    LOST,
    RESTORED,
    FakeEyeTracker,
    FakeNetwork,
    clock_us,
    fake_sdk,
)
from tests.support.lab_device import LabDevice

pytestmark = pytest.mark.broker

PERIOD_US = 1_000_000 / 1200


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    net = FakeNetwork()
    monkeypatch.setitem(sys.modules, "tobii_research", fake_sdk(net))
    return net


class Running:
    def __init__(self, agent: Agent, watcher: LabDevice) -> None:
        self.agent = agent
        self.watcher = watcher
        self.session = agent.session
        self.thread = threading.Thread(target=agent.run, name="agent-under-test")
        self.thread.start()

    def status(self, condition, what: str, timeout_s: float = 20.0) -> AgentStatus:
        topic = f"lab/{self.session}/status"

        def check(messages):
            found = [AgentStatus.model_validate_json(m.payload) for m in messages if m.topic == topic]
            found = [s for s in found if condition(s)]
            return found[-1] if found else None

        return self.watcher.wait_for(check, timeout_s=timeout_s, what=what)

    def batches(self) -> list[GazeBatch]:
        """The batches that arrived so far."""
        return [GazeBatch.model_validate_json(m.payload) for m in self.watcher.on(f"lab/{self.session}/gaze/batch")]

    def stop(self) -> None:
        self.agent.request_shutdown()
        self.thread.join(30)
        assert not self.thread.is_alive()


@pytest.fixture
def run_agent(broker, tmp_path: Path, lab_devices) -> Iterator:
    running: list[Running] = []

    def start(source: TobiiTracker, **overrides) -> Running:
        session = "tobii-" + uuid.uuid4().hex[:6]
        settings = load_settings(
            AgentSettings,
            overrides={
                "session": session, "source": "tobii", "data_dir": str(tmp_path / "data"),
                "mqtt.host": broker.host, "mqtt.port": broker.port, "status_interval_s": 0.5, **overrides,
            },
        )
        watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/#"])
        lab_devices.append(watcher)
        run = Running(Agent(settings, source), watcher)
        running.append(run)
        return run

    yield start
    for run in running:
        if run.thread.is_alive():
            run.stop()


def emit(tracker: FakeEyeTracker, first: int, count: int) -> None:
    """Samples number ``first`` .. ``first + count - 1`` of a 1200 Hz stream."""
    base = clock_us()
    for n in range(first, first + count):
        tracker.emit_gaze(invalid_gaze(int(n * PERIOD_US), base + int((n - first) * PERIOD_US)))


def test_samples_the_sdk_lost_are_counted_and_marked_in_the_batch_stream(network, run_agent):
    tracker = FakeEyeTracker("TPSP1-0001", frequencies=(60.0, 120.0, 600.0, 1200.0), frequency=1200.0)
    network.trackers.append(tracker)
    run = run_agent(TobiiTracker(retry_initial_s=0.05))
    run.status(lambda s: s.state == "tracking", "tracking")

    emit(tracker, 0, 100)
    tracker.notify(BUFFER_OVERFLOW, notification_source_stream="gaze data")
    emit(tracker, 400, 100)  # samples 100..399 never arrived: the SDK's buffer overflowed
    status = run.status(
        lambda s: s.counters.samples_in == 200 and s.counters.sdk_buffer_overflows == 1, "the overflow in status"
    )
    assert status.counters.samples_dropped_sdk == 300
    assert any("about 300 samples lost inside the tracker's SDK" in w for w in status.warnings)
    run.watcher.wait_for(lambda m: sum(b.count for b in run.batches()) >= 200, what="200 samples in batches")
    gaps = [(gap.before_seq, gap.samples) for batch in run.batches() for gap in batch.sdk_gaps]
    assert gaps == [(100, 300)], "the hole is marked where it is"
    seqs = [seq for batch in run.batches() for seq in batch.columns.seq]
    assert seqs == list(range(200)), "seq itself stays contiguous"

    tracker.notify(LOST)
    run.status(lambda s: s.state == "tracker_lost", "tracker_lost")
    tracker.notify(RESTORED)
    emit(tracker, 10_000, 50)  # 8 s later on the tracker's clock: a reconnection, not an SDK loss
    status = run.status(lambda s: s.state == "tracking" and s.counters.samples_in == 250, "restored")
    assert status.counters.tracker_connection_losses == 1
    assert status.counters.samples_dropped_sdk == 300
    assert any("tracker connection lost 1 times" in w for w in status.warnings)
    run.stop()


def test_status_reason_and_warnings_follow_the_tracker_and_never_go_stale(network, run_agent):
    tracker = FakeEyeTracker("TPSP1-0002", frequencies=(60.0, 300.0, 600.0), frequency=600.0)
    network.trackers += [tracker, FakeEyeTracker("TPSP1-0003")]
    run = run_agent(TobiiTracker(frequency_hz=1200, retry_initial_s=0.05))
    status = run.status(lambda s: s.state == "tracking", "tracking")
    assert status.reason is None and status.tracker is not None and status.tracker.frequency_hz == 600.0
    assert "eye tracker TPSP1-0002 does not support 1200 Hz (supported: 60, 300, 600); keeping 600 Hz" in status.warnings
    assert any(w.startswith("2 eye trackers found (TPSP1-0002, TPSP1-0003); using TPSP1-0002") for w in status.warnings)

    tracker.frequency = 300.0  # changed from outside (e.g. Tobii Pro Eye Tracker Manager)
    tracker.notify(FREQUENCY_CHANGED, gaze_output_frequency=300.0)
    status = run.status(lambda s: s.tracker is not None and s.tracker.frequency_hz == 300.0, "300 Hz in status")
    assert status.reason is None

    tracker.notify(LOST)
    status = run.status(lambda s: s.state == "tracker_lost", "tracker_lost")
    assert status.reason == "the SDK reported the connection to the tracker lost"
    tracker.notify(RESTORED)
    status = run.status(lambda s: s.state == "tracking" and s.utc > status.utc, "restored")
    assert status.reason is None, "no 'connection restored' forever"

    run.watcher.publish(f"lab/{run.session}/cmd", {"command": "start", "id": "s1", "participant": "P01"})
    status = run.status(lambda s: s.recording is not None, "recording")
    assert (status.state, status.reason, status.recording.participant) == ("tracking", None, "P01")
    run.watcher.publish(f"lab/{run.session}/cmd", {"command": "stop", "id": "s2"})
    status = run.status(lambda s: s.recording is None and s.utc > status.utc, "recording stopped")
    assert (status.state, status.reason) == ("tracking", None), "a stop ends the recording; the stream goes on"
    run.stop()
