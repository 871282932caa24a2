"""A disk that fills up or turns read-only, for real: a small tmpfs under the
agent's data directory (tests/support/disk.py; needs root to mount).

Every sample must end in exactly one counter, status must say what is failing,
and the recording and the outbox must resume when the disk recovers.
"""

from __future__ import annotations

import csv
import logging
import threading
import time
import uuid
from pathlib import Path

import pytest

from gazewire.agent.config import AgentSettings
from gazewire.agent.inputs.base import TrackerSource, TrackerState
from gazewire.agent.inputs.gaze_model import GazeSimulator
from gazewire.agent.outputs.recording import Recording
from gazewire.agent.recording_format import RECORDING_COLUMNS, gaze_row
from gazewire.agent.pipeline.combine import combine_eyes
from gazewire.agent.runtime import Agent
from gazewire.settings import load_settings
from gazewire.wire.messages import AgentStatus, GazeBatch
from tests.support.disk import SmallDisk, small_disk_at
from tests.support.lab_device import LabDevice, Received
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port


@pytest.fixture
def small_disk(tmp_path: Path):
    yield from small_disk_at(tmp_path / "disk", size_kb=16384)


def read_recording(path: Path) -> tuple[list[int], int]:
    """Gaze seqs and marker count of a recording; every row must be whole."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == RECORDING_COLUMNS
    assert all(len(row) == len(RECORDING_COLUMNS) for row in rows[1:]), "a broken row"
    seqs = [int(row[1]) for row in rows[1:] if row[0] == "gaze"]
    return seqs, sum(1 for row in rows[1:] if row[0] == "marker")


def test_the_recording_stops_on_a_full_disk_counts_its_losses_and_resumes_without_a_broken_row(
    small_disk: SmallDisk,
):
    path = small_disk.path / "recordings" / "P01.csv"
    recording = Recording(path, retry_s=0)
    samples = GazeSimulator(frequency_hz=120, seed=4).next_samples(3000)
    seq = 0

    def write(count: int) -> None:
        nonlocal seq
        for _ in range(count):
            sample = samples[seq]
            recording.write_row(gaze_row(seq, 1_000_000 + seq, sample, combine_eyes(sample)))
            seq += 1
            if seq % 12 == 0:
                recording.flush()

    write(500)
    recording.write_marker("before", 1, 2)
    small_disk.fill()
    write(500)
    assert recording.error is not None and "No space left" in recording.error
    recording.write_marker("lost", 3, 4)
    recording.resume()
    write(100)
    assert recording.error is not None, "still full"

    small_disk.free()
    assert recording.resume()
    recording.write_marker("after", 5, 6)
    write(600)
    assert recording.error is None and "No space left" in (recording.last_error or "")
    recording.close()

    seqs, markers = read_recording(path)
    assert seqs == sorted(set(seqs)), "in order, none twice"
    assert seqs[:400] == list(range(400)) and seqs[-590:] == list(range(1110, 1700))
    assert len(seqs) + recording.samples_lost == seq == 1700, "every sample recorded or counted lost"
    assert markers + recording.markers_lost == 3 and recording.markers_lost >= 1


def test_a_recording_on_a_read_only_disk_starts_stopped_and_begins_when_it_is_writable(small_disk: SmallDisk):
    small_disk.read_only()
    path = small_disk.path / "recordings" / "P02.csv"
    recording = Recording(path, retry_s=0)
    assert recording.error is not None and "Read-only" in recording.error
    sample = GazeSimulator(frequency_hz=120, seed=5).next_samples(1)[0]
    row = gaze_row(0, 1, sample, combine_eyes(sample))
    recording.write_row(row)
    recording.flush()
    assert recording.samples_lost == 1

    small_disk.read_write()
    assert recording.resume()
    recording.write_row(gaze_row(1, 2, sample, combine_eyes(sample)))
    recording.close()
    assert read_recording(path) == ([1], 0)


# --------------------------------------------------------------------------- the agent, end to end


def statuses(messages: list[Received]) -> list[AgentStatus]:
    return [AgentStatus.model_validate_json(m.payload) for m in messages]


def status_where(watcher: LabDevice, condition, what: str, timeout_s: float = 30.0) -> AgentStatus:
    def check(messages):
        found = [s for s in statuses(messages) if condition(s)]
        return found[-1] if found else None

    return watcher.wait_for(check, timeout_s=timeout_s, what=what)


def failing(status: AgentStatus, words: str) -> bool:
    return any(w.startswith(words) for w in status.warnings)


def stop_and_check(agent, status_watcher: LabDevice, batch_watcher: LabDevice, recording: Path) -> AgentStatus:
    """SIGTERM, then: every sample published once, recorded or counted as not recorded."""
    assert agent.terminate() == 0, agent.log()
    assert "Traceback" not in agent.log(), agent.log()
    final = status_where(status_watcher, lambda s: s.state == "offline", "offline status")
    c = final.counters
    assert c.samples_in > 0
    assert c.samples_published == c.samples_in, "every sample acknowledged by the broker"
    assert c.samples_dropped_unsaved == 0 and c.samples_dropped_queue == 0 and c.samples_dropped_outbox == 0
    seqs = {seq for m in batch_watcher.messages for seq in GazeBatch.model_validate_json(m.payload).columns.seq}
    assert seqs == set(range(c.samples_in)), "the batch stream has every sample"
    recorded, _ = read_recording(recording)
    assert recorded == sorted(set(recorded)), "the recording in order, none twice"
    assert len(recorded) + c.samples_not_recorded == c.samples_in, "every sample recorded or counted"
    return final


@pytest.mark.broker
def test_an_agent_whose_disk_fills_up_loses_no_sample_says_so_and_resumes(
    broker, start_agent, lab_devices, small_disk: SmallDisk
):
    session = "full-" + uuid.uuid4().hex[:6]
    status_watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/status"])
    batch_watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/gaze/batch"])
    lab_devices += [status_watcher, batch_watcher]
    agent = start_agent(
        "--session", session, "--frequency", "250", "--set", "status_interval_s=1", data_dir=small_disk.path
    )
    batch_watcher.wait_for(lambda m: len(m) >= 5, timeout_s=30, what="first batches")

    small_disk.fill()
    full = status_where(
        status_watcher,
        lambda s: failing(s, "outbox unwritable") and failing(s, "local recording stopped")
        and s.counters.samples_unsaved > 500,
        "status: outbox and recording failing",
    )
    assert any("full" in w for w in full.warnings)

    small_disk.free()
    recovered = status_where(
        status_watcher,
        lambda s: not failing(s, "outbox unwritable") and not failing(s, "local recording stopped")
        and s.counters.samples_not_recorded > 0,
        "status: disk recovered",
    )
    in_when_recovered = recovered.counters.samples_in
    status_where(status_watcher, lambda s: s.counters.samples_in > in_when_recovered + 500, "more samples")
    final = stop_and_check(agent, status_watcher, batch_watcher, small_disk.path / "recordings" / f"{session}.csv")
    assert final.counters.samples_unsaved >= 500
    assert any("were sent without the durable outbox" in w for w in final.warnings)
    assert any(w.startswith("local recording misses") for w in final.warnings)
    recorded, _ = read_recording(small_disk.path / "recordings" / f"{session}.csv")
    assert recorded[-1] >= in_when_recovered, "the recording resumed"


@pytest.mark.broker
def test_an_agent_with_a_read_only_data_dir_streams_says_why_and_takes_the_disk_up_once_writable(
    broker, start_agent, lab_devices, small_disk: SmallDisk
):
    session = "readonly-" + uuid.uuid4().hex[:6]
    status_watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/status"])
    batch_watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/gaze/batch"])
    lab_devices += [status_watcher, batch_watcher]
    small_disk.read_only()
    agent = start_agent(
        "--session", session, "--frequency", "250", "--set", "status_interval_s=1", data_dir=small_disk.path
    )
    read_only = status_where(
        status_watcher,
        lambda s: s.state == "tracking" and failing(s, "outbox unwritable") and failing(s, "local recording stopped"),
        "status: read-only disk",
    )
    assert any("read-only file system" in w for w in read_only.warnings)
    batch_watcher.wait_for(lambda m: len(m) >= 10, timeout_s=30, what="batches sent without the outbox")

    small_disk.read_write()
    status_where(
        status_watcher,
        lambda s: not failing(s, "outbox unwritable") and not failing(s, "local recording stopped"),
        "status: disk writable",
    )
    final = stop_and_check(agent, status_watcher, batch_watcher, small_disk.path / "recordings" / f"{session}.csv")
    assert final.counters.samples_unsaved > 0 and final.counters.samples_not_recorded > 0
    assert (small_disk.path / "outbox" / f"{session}.sqlite3").is_file()


class HeldSource(TrackerSource):
    """Delivers its samples once ``deliver`` is set, and reports FINISHED once ``finish`` is."""

    name = "held"

    def __init__(self, samples) -> None:
        self.samples = samples
        self.deliver = threading.Event()
        self.finish = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, events) -> None:
        def run() -> None:
            events.tracker_state(TrackerState.TRACKING)
            self.deliver.wait(60)
            for sample in self.samples:
                events.gaze(sample)
            self.finish.wait(120)
            events.tracker_state(TrackerState.FINISHED)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.finish.set()
        if self._thread is not None:
            self._thread.join(10)


def wait_until(condition, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # polling a condition with a deadline, not a sleep as synchronisation


@pytest.mark.broker
def test_batches_sent_without_the_outbox_while_the_broker_is_down_count_as_published_once_it_takes_them(
    tmp_path: Path, small_disk: SmallDisk, caplog
):
    """A full disk and no broker at once: every batch goes to paho's memory, none crashes the
    loop, and each counts as published when the broker, back, acknowledges it."""
    caplog.set_level(logging.ERROR)
    port = free_port()
    settings = load_settings(
        AgentSettings,
        overrides={
            "session": "nodisk-" + uuid.uuid4().hex[:6], "source": "simulated", "data_dir": str(small_disk.path),
            "mqtt.host": "127.0.0.1", "mqtt.port": port, "mqtt.reconnect_min_s": 0.2,
            "mqtt.reconnect_max_s": 0.5, "exit_when_finished": True,
        },
    )
    source = HeldSource(GazeSimulator(frequency_hz=250, seed=6).next_samples(500))
    agent = Agent(settings, source)
    runner = threading.Thread(target=agent.run, daemon=True)
    runner.start()
    broker = MosquittoBroker(tmp_path / "late-broker", port=port)
    try:
        small_disk.fill()
        source.deliver.set()
        wait_until(lambda: agent.counters.samples_unsaved == 500, "every batch sent without the outbox")
        assert not agent.link.connected.is_set(), "no broker yet: the batches wait in paho's memory"
        broker.start()
        wait_until(lambda: agent.status_counters().samples_published == 500, "the unsaved batches acknowledged")
        source.finish.set()
        runner.join(60)
        assert not runner.is_alive()
    finally:
        source.finish.set()
        broker.kill()
    c = agent.status_counters()
    assert agent.loop_errors == 0, caplog.text
    assert "Traceback" not in caplog.text and "agent loop failed" not in caplog.text
    assert (c.samples_in, c.samples_unsaved, c.samples_published, c.samples_dropped_unsaved) == (500, 500, 500, 0)
