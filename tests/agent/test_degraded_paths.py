"""When something under the agent fails, the agent keeps streaming, counts what
it could not handle, and says so in its status.

Disk-full and a broken source cannot be produced on demand here, so these
tests inject the failure at the one call that would see it (a fault injection,
named as such); the broker and everything else are real.
"""

from __future__ import annotations

import errno
import threading
import uuid

import pytest

from gazewire.agent.config import AgentSettings
from gazewire.agent.inputs.base import TrackerSource, TrackerState
from gazewire.agent.inputs.gaze_model import GazeSimulator
from gazewire.agent.outputs.outbox import Outbox, OutboxError
from gazewire.agent.outputs import recording as recording_module
from gazewire.agent.runtime import Agent
from gazewire.wire.messages import AgentStatus, GazeBatch
from gazewire.settings import load_settings
from tests.support.lab_device import LabDevice

pytestmark = pytest.mark.broker


class ListSource(TrackerSource):
    """Delivers a fixed list of SDK dictionaries, then reports FINISHED."""

    name = "list"

    def __init__(self, samples):
        self.samples = samples
        self.gate = threading.Event()
        self._thread = None

    def start(self, events):
        def run():
            self.gate.wait(10)  # start once the agent is connected, like a tracker found later
            events.tracker_state(TrackerState.TRACKING)
            for sample in self.samples:
                events.gaze(sample)
            events.tracker_state(TrackerState.FINISHED)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self):
        if self._thread is not None:
            self._thread.join(5)


def run_agent(broker, tmp_path, samples, lab_devices):
    session = "degraded-" + uuid.uuid4().hex[:6]
    settings = load_settings(
        AgentSettings,
        overrides={
            "session": session, "source": "simulated", "data_dir": str(tmp_path / "data"),
            "mqtt.host": broker.host, "mqtt.port": broker.port, "exit_when_finished": True,
        },
    )
    watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/#"])
    lab_devices.append(watcher)
    source = ListSource(samples)
    agent = Agent(settings, source)
    source.gate = agent.link.connected
    runner = threading.Thread(target=agent.run)
    runner.start()
    runner.join(60)
    assert not runner.is_alive()
    final = watcher.wait_for(
        lambda m: [AgentStatus.model_validate_json(x.payload) for x in m
                   if x.topic.endswith("/status") and AgentStatus.model_validate_json(x.payload).state == "offline"],
        what="offline status",
    )[-1]
    batches = [GazeBatch.model_validate_json(x.payload) for x in watcher.on(f"lab/{session}/gaze/batch")]
    return agent, final, batches


def test_malformed_samples_are_counted_and_the_rest_streams_on(broker, tmp_path, lab_devices):
    samples = GazeSimulator(frequency_hz=120, seed=3).next_samples(300)
    broken = dict(samples[100])
    del broken["left_pupil_diameter"]
    samples[100] = broken
    samples[200] = {**samples[200], "right_gaze_origin_in_user_coordinate_system": (1.0, 2.0)}
    agent, final, batches = run_agent(broker, tmp_path, samples, lab_devices)
    assert final.counters.samples_malformed == 2
    assert final.counters.samples_in == final.counters.samples_published == 298
    assert any("2 malformed samples" in warning for warning in final.warnings)
    seqs = [s for b in batches for s in b.columns.seq]
    assert seqs == list(range(298)), "no gap in seq, every batch well formed"


def test_a_failing_recording_disk_stops_the_recording_not_the_stream(broker, tmp_path, lab_devices, monkeypatch):
    real_write = recording_module.Recording._write
    written = {"rows": 0}

    def disk_fills_up(file, text):  # fault injection: ENOSPC after 50 rows (tests/agent/test_full_disk.py fills a real disk)
        written["rows"] += text.count("\n")
        if written["rows"] > 50:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(file, text)

    monkeypatch.setattr(recording_module.Recording, "_write", staticmethod(disk_fills_up))
    agent, final, batches = run_agent(broker, tmp_path, GazeSimulator(frequency_hz=120).next_samples(240), lab_devices)
    assert final.counters.samples_published == 240
    assert any("local recording stopped" in w and "No space left" in w for w in final.warnings)
    assert sum(b.count for b in batches) == 240
    assert 240 - 49 <= final.counters.samples_not_recorded <= 240, "the header and up to 49 rows made it"


def test_an_unwritable_outbox_still_sends_every_batch_and_warns(broker, tmp_path, lab_devices, monkeypatch):
    def no_disk(self, batch, *, next_seq):  # fault injection: the outbox's disk is gone
        raise OutboxError("cannot write outbox: disk I/O error")

    monkeypatch.setattr(Outbox, "append", no_disk)
    agent, final, batches = run_agent(broker, tmp_path, GazeSimulator(frequency_hz=120).next_samples(240), lab_devices)
    assert sum(b.count for b in batches) == 240
    assert [s for b in batches for s in b.columns.seq] == list(range(240))
    assert any("outbox unwritable" in w and "without durability" in w for w in final.warnings)
    c = final.counters
    assert c.samples_unsaved == c.samples_published == 240, "sent without the outbox, then acknowledged"
    assert c.samples_dropped_unsaved == 0


def test_batches_the_disk_cannot_delete_after_their_puback_count_as_published_and_go_later(
    broker, tmp_path, lab_devices, monkeypatch
):
    original = Outbox.remove
    refusals = {"n": 0}

    def disk_refuses_deletes_for_a_while(self, batch_seq):  # fault injection: the first 3 deletes fail
        if refusals["n"] < 3:
            refusals["n"] += 1
            raise OutboxError("cannot delete from outbox: database or disk is full")
        return original(self, batch_seq)

    monkeypatch.setattr(Outbox, "remove", disk_refuses_deletes_for_a_while)
    agent, final, batches = run_agent(broker, tmp_path, GazeSimulator(frequency_hz=120).next_samples(240), lab_devices)
    assert refusals["n"] == 3
    assert final.counters.samples_published == 240
    assert sorted({s for b in batches for s in b.columns.seq}) == list(range(240))
    assert len(batches) == len({b.batch_seq for b in batches}), "an undeleted batch is not sent again"
