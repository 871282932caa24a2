"""The example scripts in examples/ run as documented against a real broker
and a running simulated agent."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest


from tests.conftest import REPO
from tests.support.lab_device import LabDevice

pytestmark = pytest.mark.broker


def example(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_examples_follow_gaze_send_markers_and_read_the_recording(broker, start_agent, tmp_path, lab_devices):
    session = "examples-" + uuid.uuid4().hex[:6]
    data = tmp_path / "data"
    watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/status"])
    lab_devices.append(watcher)
    agent = start_agent("--session", session, data_dir=data)
    watcher.wait_for(lambda m: any(b'"tracking"' in x.payload for x in m), what="agent tracking")
    where = ["--broker", broker.host, "--port", str(broker.port), "--session", session]

    followed = example("examples/follow_gaze.py", *where, "--count", "10")
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.count("gaze  x=") == 10

    sent = example("examples/send_markers.py", *where, "--trials", "2")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.splitlines() == [
        "trial_1_stimulus_on: ok", "trial_1_stimulus_off: ok", "trial_2_stimulus_on: ok", "trial_2_stimulus_off: ok",
    ]
    assert agent.terminate() == 0
    read = example("examples/read_recording.py", str(data / "recordings" / f"{session}.csv"))
    assert read.returncode == 0, read.stderr
    assert "4 markers" in read.stdout and "marker trial_2_stimulus_off" in read.stdout


def test_node_red_flow_subscribes_to_contract_topics():
    import json

    from gazewire.wire.topics import Channel, Topics

    flow = json.loads((REPO / "examples" / "node-red-flow.json").read_text())
    ids = {node["id"] for node in flow}
    subscriptions = [node for node in flow if node["type"] == "mqtt in"]
    expected = {Topics().every_session(channel) for channel in (Channel.ALERTS, Channel.STATUS, Channel.GAZE)}
    assert {node["topic"] for node in subscriptions} == expected
    for node in flow:
        for outputs in node.get("wires", []):
            assert set(outputs) <= ids, f"{node['id']} wires to a node that does not exist"
        if "z" in node:
            assert node["z"] in ids
    assert all(node["broker"] in ids and node["datatype"] == "json" for node in subscriptions)
