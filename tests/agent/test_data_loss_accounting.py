"""Every path that can drop a sample counts it and says so in status, and the
local recording and the replay source keep every sample."""

from __future__ import annotations

import csv
import threading
import uuid

import pytest

from gazewire.agent.inputs.base import TrackerState
from gazewire.agent.inputs.replay import ReplayTracker
from gazewire.agent.inputs.simulated import SimulatedTracker
from gazewire.agent.recording_format import RECORDING_COLUMNS
from gazewire.wire.messages import AgentStatus, GazeBatch
from tests.support.lab_device import LabDevice
from tests.support.ports import free_port

pytestmark = pytest.mark.broker


def final_status(watcher: LabDevice, session: str, state: str) -> AgentStatus:
    def check(messages):
        found = [AgentStatus.model_validate_json(m.payload) for m in messages if m.topic == f"lab/{session}/status"]
        return [s for s in found if s.state == state]

    return watcher.wait_for(check, timeout_s=30, what=f"status {state}")[-1]


def test_queue_overflow_is_counted_and_reported(broker, start_agent, lab_devices):
    session = "overflow-" + uuid.uuid4().hex[:6]
    total = 60_000
    watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/#"])
    lab_devices.append(watcher)
    # 1200 Hz at 100x real time into a 100-sample queue: the pipeline cannot keep up.
    agent = start_agent(
        "--session", session, "--frequency", "1200", "--speed", "100", "--sample-limit", str(total),
        "--exit-when-finished", "--set", "queue_size=100", "--no-record",
    )
    assert agent.process.wait(60) == 0, agent.log()
    status = final_status(watcher, session, "offline")
    counters = status.counters
    assert counters.samples_dropped_queue > 0
    assert counters.samples_in + counters.samples_dropped_queue == total, "every sample is either in or counted"
    assert any("sample queue overflowed" in warning for warning in status.warnings)
    published = sum(GazeBatch.model_validate_json(m.payload).count for m in watcher.on(f"lab/{session}/gaze/batch"))
    assert published == counters.samples_in == counters.samples_published


def test_full_outbox_evicts_the_oldest_counts_them_and_warns(broker, start_agent, lab_devices, tmp_path):
    session = "evict-" + uuid.uuid4().hex[:6]
    data = tmp_path / "data"
    broker.stop()
    agent = start_agent(
        "--session", session, "--frequency", "600", "--speed", "10", "--sample-limit", "12000",
        "--exit-when-finished", "--set", "outbox_max_mb=0.2", data_dir=data,
    )
    assert agent.process.wait(60) == 0, agent.log()
    assert "outbox full" in agent.log()
    broker.start()
    watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/#"])
    lab_devices.append(watcher)
    second = start_agent(
        "--session", session, "--frequency", "600", "--sample-limit", "60", "--exit-when-finished",
        "--set", "outbox_max_mb=0.2", data_dir=data,
    )
    assert second.process.wait(60) == 0, second.log()
    received = [GazeBatch.model_validate_json(m.payload) for m in watcher.on(f"lab/{session}/gaze/batch")]
    seqs = [seq for batch in received for seq in batch.columns.seq]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert seqs[-1] == 12_059, "the newest samples survive"
    assert seqs[0] > 0, "the oldest were evicted"
    # The second run counts only its own evictions; the first run's log says how many it dropped.
    dropped_log = [line for line in agent.log().splitlines() if "evicted" in line]
    evicted_samples = sum(int(line.rsplit(", ", 1)[1].split()[0]) for line in dropped_log)
    assert evicted_samples == seqs[0], "every missing sample is accounted for in the log"


class Collector:
    def __init__(self):
        self.samples, self.markers, self.states = [], [], []
        self.finished = threading.Event()

    def gaze(self, sample):
        self.samples.append(sample)

    def tracker_state(self, state, detail=None):
        self.states.append(state)
        if state is TrackerState.FINISHED:
            self.finished.set()

    def tracker_info(self, info, display_area):
        self.info = info

    def marker(self, name, system_time_us):
        self.markers.append((name, system_time_us))


def test_recording_holds_every_sample_and_replays_them_unchanged(broker, start_agent, tmp_path):
    session = "record-" + uuid.uuid4().hex[:6]
    data = tmp_path / "data"
    agent = start_agent(
        "--session", session, "--frequency", "250", "--speed", "5", "--sample-limit", "1000",
        "--exit-when-finished", data_dir=data,
    )
    assert agent.process.wait(60) == 0, agent.log()
    path = data / "recordings" / f"{session}.csv"
    with path.open() as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == RECORDING_COLUMNS
        rows = list(reader)
    assert [int(r["seq"]) for r in rows if r["kind"] == "gaze"] == list(range(1000))

    expected = SimulatedTracker(frequency_hz=250, seed=0).simulator.next_samples(1000)
    replay = ReplayTracker(path, speed=1000)
    collector = Collector()
    replay.start(collector)
    assert collector.finished.wait(30)
    replay.stop()
    assert len(collector.samples) == 1000
    for original, replayed in zip(expected, collector.samples):
        assert replayed["device_time_stamp"] == original["device_time_stamp"]
        for key, value in original.items():
            if key.endswith("validity"):
                assert replayed[key] == value
            elif isinstance(value, tuple):
                assert replayed[key] == pytest.approx(value, nan_ok=True)
    spacing = {b["system_time_stamp"] - a["system_time_stamp"] for a, b in zip(collector.samples, collector.samples[1:])}
    assert spacing == {4000}, "replay keeps the recorded spacing (250 Hz)"


def test_a_backlog_carried_over_from_an_earlier_run_is_announced_with_its_broker(broker, start_agent, lab_devices, tmp_path):
    session = "carry-" + uuid.uuid4().hex[:6]
    data = tmp_path / "data"
    elsewhere = free_port()  # the first run is configured for another broker, which is down
    first = start_agent(
        "--session", session, "--frequency", "250", "--speed", "10", "--sample-limit", "2500",
        "--exit-when-finished", data_dir=data, GAZEWIRE_MQTT__PORT=str(elsewhere),
    )
    assert first.process.wait(60) == 0, first.log()
    watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/status"])
    lab_devices.append(watcher)
    second = start_agent("--session", session, "--set", "status_interval_s=0.5", data_dir=data)

    def carried(status: AgentStatus) -> list[str]:
        return [w for w in status.warnings if "carried over from an earlier run" in w]

    announced = watcher.wait_for(
        lambda m: [s for s in (AgentStatus.model_validate_json(x.payload) for x in m) if carried(s)],
        timeout_s=30, what="carry-over in status",
    )[0]
    text = carried(announced)[0]
    assert "(2500 samples)" in text
    assert f"while the agent sent to broker 127.0.0.1:{elsewhere}; sending them to 127.0.0.1:{broker.port} now" in text
    assert text in second.log()
    watcher.wait_for(
        lambda m: any(
            not carried(s) and s.counters.samples_published > 0
            for s in (AgentStatus.model_validate_json(x.payload) for x in m)
        ),
        timeout_s=30, what="the warning gone once the backlog is sent",
    )
    assert second.terminate() == 0
