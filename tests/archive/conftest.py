"""One lab, recorded once for the archive and export tests: a real Mosquitto, the real
processor (its journal) and a real agent with a simulated tracker (its recording
files), in this process. An experiment script makes two recordings on the agent's
command topic, with markers and samples between them; the agent then stops and the
processor takes every batch. Ground truth is what the agent wrote: its CSV files.
"""

from __future__ import annotations

import csv
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gazewire.agent.config import AgentSettings
from gazewire.agent.inputs.simulated import SimulatedTracker
from gazewire.agent.runtime import Agent
from gazewire.mqtt import MqttSettings
from gazewire.processor.config import ProcessorSettings
from gazewire.processor.journal.reader import JournalReader
from gazewire.processor.runtime import Processor
from gazewire.wire.messages import CommandReply
from tests.support.lab_device import LabDevice
from tests.support.mosquitto import MosquittoBroker, find_mosquitto

FREQUENCY_HZ = 300.0
SPEED = 4.0  # simulated time runs 4x: 1200 samples a second of wall time


@dataclass
class RecordedLab:
    session: str
    journal: Path
    agent_data: Path
    recordings: list[str]  # ids, in order
    participants: list[str]


def _wait(predicate, timeout_s: float, what: str) -> None:
    """Wait for ``predicate`` with a deadline, looking again every 20 ms (the journal and
    the agent's files are read by polling: they have no event to wait on)."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        pause.wait(0.02)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="package")
def recorded_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordedLab]:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run scripts/test.sh, or apt-get install mosquitto")
    root = tmp_path_factory.mktemp("lab")
    broker = MosquittoBroker(root / "mosquitto")
    broker.start()
    mqtt = MqttSettings(host=broker.host, port=broker.port, reconnect_min_s=0.2, reconnect_max_s=1.0)
    session = "exp-" + uuid.uuid4().hex[:6]
    processor = Processor(ProcessorSettings(
        processor_id="archive-test", data_dir=root / "processor", status_interval_s=0.5, mqtt=mqtt,
        alerts={"long_fixation_s": 0.3},
    ))
    processor_thread = threading.Thread(target=processor.run, name="test-processor", daemon=True)
    processor_thread.start()
    assert processor.link.subscribed.wait(10), "processor did not subscribe"
    script = LabDevice(broker.host, broker.port, [f"lab/{session}/cmd/reply", f"lab/{session}/status"])
    tracker = SimulatedTracker(frequency_hz=FREQUENCY_HZ, seed=7, speed=SPEED)
    agent = Agent(AgentSettings(
        session=session, source="simulated", data_dir=root / "agent", record=True, mqtt=mqtt,
        custody_timeout_s=3.0,
    ), tracker)
    agent_thread = threading.Thread(target=agent.run, name="test-agent", daemon=True)
    agent_thread.start()
    data = root / "agent"
    between = data / "recordings" / f"{session}.csv"

    def command(request: str, **fields) -> CommandReply:
        script.publish(f"lab/{session}/cmd", {"id": request, **fields})

        def reply(messages):
            for m in messages:
                if m.topic.endswith("/cmd/reply") and json.loads(m.payload).get("id") == request:
                    return CommandReply.model_validate_json(m.payload)
            return None

        answer = script.wait_for(reply, timeout_s=20, what=f"reply to {request}")
        assert answer.ok, answer.error
        return answer

    def sidecar_samples(recording: str) -> int:
        for path in (data / "recordings" / session).glob(f"{recording}*.json"):
            return json.loads(path.read_text())["samples"]
        return 0

    def rows(path: Path) -> int:
        return sum(1 for _ in path.open()) if path.is_file() else 0

    recordings, participants = [], ["P01", "P02"]
    try:
        for index, participant in enumerate(participants):
            before = rows(between)
            _wait(lambda b=before: rows(between) >= b + 300, 30, "samples between recordings")
            started = command(f"start-{index}", command="start", name=f"free viewing {index + 1}",
                              participant=participant, metadata={"condition": "AB"[index], "room": "2.14"})
            recording = started.result["recording"]
            recordings.append(recording)
            for trial in range(3):
                command(f"marker-{index}-{trial}", command="marker", name=f"trial_{trial + 1}")
                # the sidecar is brought up to date every few seconds; the CSV at every batch
                _wait(lambda r=recording, t=trial: rows_of(data, session, r) >= 1500 * (t + 1), 60,
                      f"samples of {recording}")
            command(f"stop-{index}", command="stop")
        before = rows(between)
        _wait(lambda: rows(between) >= before + 300, 30, "samples after the last recording")
    finally:
        agent.request_shutdown()
        agent_thread.join(30)
        script.close()
    assert not agent_thread.is_alive(), "agent did not stop"
    produced = sum(rows_of(data, session, r) for r in recordings) + sum(
        1 for row in csv_rows(between) if row["kind"] == "gaze"
    )
    journal = root / "processor" / "journal.sqlite"
    reader = JournalReader(journal)

    def stored() -> int:
        totals = [reader.batch_totals(session, r) for r in [None, *recordings]]
        return sum(t.samples for t in totals)

    try:
        _wait(lambda: stored() >= produced, 60, f"the journal to hold all {produced} samples")
    finally:
        processor.request_shutdown()
        processor_thread.join(30)
        broker.kill()
    assert sidecar_samples(recordings[0]) > 0
    yield RecordedLab(session, journal, data, recordings, participants)


def rows_of(data: Path, session: str, recording: str) -> int:
    """Gaze rows in a recording's CSV so far."""
    for path in (data / "recordings" / session).glob(f"{recording}*.csv"):
        with path.open() as handle:
            return sum(1 for line in handle if line.startswith("gaze,"))
    return 0


def recording_csv(lab: RecordedLab, recording: str) -> Path:
    found = list((lab.agent_data / "recordings" / lab.session).glob(f"{recording}*.csv"))
    assert len(found) == 1, found
    return found[0]
