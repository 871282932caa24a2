"""``gazewire processor run`` as a child process, as on the lab server: killed in
the middle of a session (SIGKILL, a crash) and started again, it loses no batch,
because the broker kept its persistent session, and stores none twice, because
the journal drops what the broker delivers again; a clean stop (SIGTERM) says
``offline`` and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from gazewire.wire.messages import ProcessorStatus
from tests.conftest import REPO, gazewire_command
from tests.support.lab_device import LabDevice

pytestmark = pytest.mark.broker


def processor_env(broker, lineprotocol_dir: Path, processor_id: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    env.update(
        {
            "GAZEWIRE_MQTT__HOST": broker.host,
            "GAZEWIRE_MQTT__PORT": str(broker.port),
            "GAZEWIRE_MQTT__RECONNECT_MIN_S": "0.2",
            "GAZEWIRE_MQTT__RECONNECT_MAX_S": "1",
            "GAZEWIRE_MQTT__WILL_DELAY_S": "1",  # the last will at once (30 s by default)
            "GAZEWIRE_PROCESSOR_ID": processor_id,
            "GAZEWIRE_LINEPROTOCOL_DIR": str(lineprotocol_dir),
            "GAZEWIRE_DATA_DIR": str(lineprotocol_dir.parent / "processor-data"),
            "GAZEWIRE_STATUS_INTERVAL_S": "0.5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class ProcessorProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self._log = log_path.open("ab")
        self.log_path = log_path
        self.process = subprocess.Popen(
            gazewire_command("processor", "run"), env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._log.close()

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        self._log.close()
        return code


def statuses(messages, processor_id: str) -> list[ProcessorStatus]:
    topic = f"lab/_sys/processor/{processor_id}/status"
    return [ProcessorStatus.model_validate_json(m.payload) for m in messages if m.topic == topic]


def stored_seqs(directory: Path, session: str) -> list[int]:
    seqs = []
    for path in (directory / session).glob("*.lp"):
        for line in path.read_text().splitlines():
            if line.startswith("gaze,"):
                fields = line.rsplit(" ", 2)[1]
                seqs.append(int(next(f for f in fields.split(",") if f.startswith("seq="))[4:-1]))
    return seqs


def test_a_processor_killed_mid_session_and_restarted_loses_no_batch(
    broker, lab_devices, start_inprocess_agent, tmp_path
):
    session = "restart-" + uuid.uuid4().hex[:6]
    processor_id = "p-" + uuid.uuid4().hex[:6]
    lineprotocol = tmp_path / "lp"
    env = processor_env(broker, lineprotocol, processor_id)
    lab = LabDevice(broker.host, broker.port, [f"lab/{session}/gaze/batch", f"lab/_sys/processor/{processor_id}/status"])
    lab_devices.append(lab)
    processes: list[ProcessorProcess] = []
    try:
        first = ProcessorProcess(env, tmp_path / "processor-1.log")
        processes.append(first)
        lab.wait_for(lambda ms: any(s.state == "online" for s in statuses(ms, processor_id)), what="processor online")

        samples = 120 * 20
        agent = start_inprocess_agent(session, seed=3, limit=samples, speed=4.0)
        lab.wait_for(
            lambda ms: any(s.counters.get("batches", 0) >= 20 for s in statuses(ms, processor_id)),
            what="the first processor handling batches",
        )
        first.kill()  # a crash: no clean disconnect
        lab.wait_for(
            lambda ms: any(s.state == "offline" and s.utc is None for s in statuses(ms, processor_id)),
            what="the processor's last will",
        )
        published_before = sum(1 for m in lab.messages if m.topic.endswith("/gaze/batch"))
        lab.wait_for(
            lambda ms: sum(1 for m in ms if m.topic.endswith("/gaze/batch")) >= published_before + 20,
            what="20 batches published while no processor runs",
        )

        second = ProcessorProcess(env, tmp_path / "processor-2.log")
        processes.append(second)
        agent.wait_finished()
        last_batch_seq = max(
            int(m.payload.split(b'"batch_seq":', 1)[1].split(b",", 1)[0]) for m in lab.messages if m.topic.endswith("/gaze/batch")
        )
        lab.wait_for(
            lambda ms: any(
                s.state == "online" and s.sessions.get(session, {}).get("next_batch_seq") == last_batch_seq + 1
                and s.sink.get("records_behind") == 0
                for s in statuses(ms, processor_id)
            ),
            timeout_s=30,
            what="the second processor through the last batch, its sink caught up",
        )
        seqs = stored_seqs(lineprotocol, session)
        assert sorted(seqs) == list(range(samples)), "every sample stored once: the journal drops redeliveries"

        assert second.terminate() == 0  # SIGTERM: a clean stop
        processes.remove(second)
        lab.wait_for(
            lambda ms: any(s.state == "offline" and s.utc is not None for s in statuses(ms, processor_id)),
            what="a clean offline status",
        )
        final = [s for s in statuses(lab.messages, processor_id) if s.state == "offline" and s.utc][-1]
        assert final.sessions[session]["gap_batches"] == 0 and final.counters["bad_input"] == 0
    finally:
        for process in processes:
            if process.process.poll() is None:
                process.kill()
