"""Recordings started, annotated and stopped over HTTP, end to end, every part a real
process: the broker as shipped (deploy/mosquitto: users, roles, ACL), ``gazewire
agent run`` (simulated tracker), ``gazewire processor run`` (its journal) and
``gazewire api run`` logged in as a broker operator. What the API answers is what
the agent did; what it then serves of the recording is what the agent wrote."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from tests.api.conftest import ApiProcess
from tests.api.test_streaming import wait_until
from tests.archive.conftest import csv_rows
from tests.conftest import REPO, AgentProcess, agent_env
from tests.support.lab_device import LabDevice
from tests.support.mosquitto import directory_for_the_broker_user

pytestmark = pytest.mark.broker

SESSION = "lab-pc-1"  # an agent user of the shipped ACL: user name = session


@pytest.fixture
def lab(tmp_path: Path) -> Iterator:
    from tests.deploy.conftest import LAB_USERS, ShippedBroker

    root = directory_for_the_broker_user("gazewire-api-")
    broker = ShippedBroker(root, dict(LAB_USERS))
    broker.prepare()
    broker.start()
    agent = processor = None
    try:
        agent = AgentProcess(agent_env(broker, tmp_path / "agent", GAZEWIRE_MQTT__USERNAME=SESSION,
                                       GAZEWIRE_MQTT__PASSWORD=broker.password(SESSION),
                                       GAZEWIRE_FREQUENCY_HZ="300"),
                             "--session", SESSION, log_path=tmp_path / "agent.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
        env.update(GAZEWIRE_MQTT__HOST=broker.host, GAZEWIRE_MQTT__PORT=str(broker.port),
                   GAZEWIRE_MQTT__USERNAME="processor", GAZEWIRE_MQTT__PASSWORD=broker.password("processor"),
                   GAZEWIRE_DATA_DIR=str(tmp_path / "processor"), GAZEWIRE_PROCESSOR_ID="api-test",
                   PYTHONUNBUFFERED="1")
        processor = subprocess.Popen([sys.executable, "-m", "gazewire.cli", "processor", "run"], cwd=REPO, env=env,
                                     stdout=(tmp_path / "processor.log").open("wb"), stderr=subprocess.STDOUT)
        watcher = LabDevice(broker.host, broker.port, [f"lab/{SESSION}/status"], username="viewer",
                            password=broker.password("viewer"))
        try:
            watcher.wait_for(lambda m: any(b'"tracking"' in x.payload for x in m), timeout_s=30, what="agent tracking")
        finally:
            watcher.close()
        yield broker, tmp_path
    finally:
        if processor is not None:
            processor.terminate()
            processor.wait(30)
        if agent is not None:
            agent.terminate()
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


def recording_rows(agent_data: Path, recording: str) -> list[dict[str, str]]:
    path, = (agent_data / "recordings" / SESSION).glob(f"{recording}*.csv")
    return [row for row in csv_rows(path) if row["kind"] == "gaze"]


def test_a_recording_started_annotated_and_stopped_over_http(lab, start_api) -> None:
    broker, where = lab
    api: ApiProcess = start_api(where / "processor" / "journal.sqlite",
                                GAZEWIRE_MQTT__HOST=broker.host, GAZEWIRE_MQTT__PORT=str(broker.port),
                                GAZEWIRE_MQTT__USERNAME="operator", GAZEWIRE_MQTT__PASSWORD=broker.password("operator"),
                                GAZEWIRE_API__COMMAND_TIMEOUT_S="3")
    with api.client("operator") as operator, api.client("viewer") as viewer:
        # a viewer's token sends nothing
        assert viewer.post(f"/api/sessions/{SESSION}/recordings", json={"participant": "P07"}).status_code == 403

        started = operator.post(f"/api/sessions/{SESSION}/recordings",
                                json={"name": "free viewing", "participant": "P07", "metadata": {"condition": "A"}})
        assert started.status_code == 201, started.text
        recording = started.json()
        assert recording["session"] == SESSION and recording["participant"] == "P07"
        assert recording["metadata"] == {"condition": "A"} and recording["name"] == "free viewing"
        assert started.headers["location"] == f"/api/recordings/{recording['id']}"
        rid = recording["id"]

        again = operator.post(f"/api/sessions/{SESSION}/recordings", json={"participant": "P08"})
        assert again.status_code == 409
        assert again.json()["detail"].startswith(f"session '{SESSION}' refused 'start': start: recording {rid} ")

        annotated = operator.patch(f"/api/recordings/{rid}", json={"metadata": {"note": "moved at 0:42"}})
        assert annotated.status_code == 200, annotated.text
        assert annotated.json()["metadata"] == {"condition": "A", "note": "moved at 0:42"}
        assert annotated.json()["participant"] == "P07" and annotated.json()["started_utc"]  # was null

        # the processor's journal has some of it already: readable while it runs
        details = wait_until(lambda: (r := viewer.get(f"/api/recordings/{rid}")).status_code == 200
                             and r.json()["samples"] >= 600 and r.json(), 30, "the recording in the journal")
        assert details["participant"] == "P07"

        stopped = operator.patch(f"/api/recordings/{rid}", json={"state": "stopped"})
        assert stopped.status_code == 200, stopped.text
        samples = stopped.json()["samples"]
        assert samples >= 600 and stopped.json()["stopped_utc"]

        not_running = operator.patch(f"/api/recordings/{rid}", json={"state": "stopped"})
        assert not_running.status_code == 409
        assert f"stop: recording {rid} is not running: it was stopped at " in not_running.json()["detail"]
        unknown = operator.patch("/api/recordings/20991231T000000Z-ffff", json={"state": "stopped"})
        assert unknown.status_code == 404
        assert unknown.json() == {"detail": "no recording '20991231T000000Z-ffff': no agent runs it and the journal "
                                            "does not hold it"}
        nobody = operator.post("/api/sessions/nobody-here/recordings", json={})
        assert nobody.status_code == 504
        assert nobody.json()["detail"].startswith("no reply from session 'nobody-here' to 'start' within 3 s")

        # every sample the agent recorded, from the journal, over HTTP
        wait_until(lambda: viewer.get(f"/api/recordings/{rid}").json()["samples"] == samples, 30,
                   f"all {samples} samples in the journal")
        gaze = viewer.get(f"/api/recordings/{rid}/gaze", params={"format": "arrow"})
        table = pa.ipc.open_stream(io.BytesIO(gaze.content)).read_all()
        rows = recording_rows(where / "agent", rid)
        assert table.num_rows == len(rows) == samples
        assert table.column("seq").to_pylist() == [int(r["seq"]) for r in rows]
        assert table.column("utc_us").to_pylist() == [int(r["utc_us"]) for r in rows]
        details = viewer.get(f"/api/recordings/{rid}").json()
        assert details["metadata"] == {"condition": "A", "note": "moved at 0:42"}

    log = api.log()
    assert f"operator 'operator-1' started recording {rid} on session {SESSION}" in log
    assert f"operator 'operator-1' annotated recording {rid}" in log
    assert f"operator 'operator-1' stopped recording {rid}" in log
    assert broker.password("operator") not in log

    # without the broker: one line, 503
    broker.stop()
    with api.client("operator") as operator:
        gone = operator.post(f"/api/sessions/{SESSION}/recordings", json={})
    assert gone.status_code == 503, gone.text
    assert json.loads(gone.text)["detail"].startswith("no connection to the broker at 127.0.0.1")
