"""The example scripts in examples/ run as documented against the documented
broker (deploy/mosquitto as shipped: users, passwords, ACL) and a running
simulated agent, and log in with a password from a file or the environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import REPO, AgentProcess, agent_env
from tests.support.lab_device import LabDevice
from tests.support.mosquitto import directory_for_the_broker_user

pytestmark = pytest.mark.broker

SESSION = "lab-pc-1"  # an agent user of the shipped ACL: user name = session


@pytest.fixture
def lab_broker() -> Iterator:
    from tests.deploy.conftest import LAB_USERS, ShippedBroker

    root = directory_for_the_broker_user("gazewire-examples-")
    broker = ShippedBroker(root, dict(LAB_USERS, watcher=("viewer", "watcher-secret", ())))
    broker.prepare()
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(root, ignore_errors=True)


def example(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**clean, **env})


def test_examples_log_in_follow_gaze_send_markers_and_read_the_recording(lab_broker, tmp_path, lab_devices):
    data = tmp_path / "data"
    watcher = LabDevice(lab_broker.host, lab_broker.port, [f"lab/{SESSION}/status"],
                        username="watcher", password="watcher-secret")
    lab_devices.append(watcher)
    agent = AgentProcess(
        agent_env(lab_broker, data, GAZEWIRE_MQTT__USERNAME=SESSION, GAZEWIRE_MQTT__PASSWORD=lab_broker.password(SESSION)),
        "--session", SESSION, log_path=tmp_path / "agent.log",
    )
    try:
        watcher.wait_for(lambda m: any(b'"tracking"' in x.payload for x in m), what="agent tracking")
        where = ["--broker", lab_broker.host, "--port", str(lab_broker.port), "--session", SESSION]

        # a viewer, password from the environment
        followed = example("examples/follow_gaze.py", *where, "--count", "10", "--username", "viewer",
                           GAZEWIRE_MQTT__PASSWORD=lab_broker.password("viewer"))
        assert followed.returncode == 0, followed.stderr
        assert followed.stdout.count("gaze  x=") == 10

        # an operator, password from a file (user name from the environment)
        password_file = tmp_path / "operator-password"
        password_file.write_text(lab_broker.password("operator") + "\n")
        sent = example("examples/send_markers.py", *where, "--trials", "2", "--password-file", str(password_file),
                       GAZEWIRE_MQTT__USERNAME="operator")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.splitlines() == [
            "trial_1_stimulus_on: ok", "trial_1_stimulus_off: ok", "trial_2_stimulus_on: ok", "trial_2_stimulus_off: ok",
        ]
    finally:
        assert agent.terminate() == 0, agent.log()
    read = example("examples/read_recording.py", str(data / "recordings" / f"{SESSION}.csv"))
    assert read.returncode == 0, read.stderr
    assert "4 markers" in read.stdout and "marker trial_2_stimulus_off" in read.stdout


@pytest.mark.parametrize("script", ["examples/follow_gaze.py", "examples/send_markers.py"])
def test_examples_say_in_one_line_why_they_cannot_log_in(lab_broker, tmp_path, script):
    where = ["--broker", lab_broker.host, "--port", str(lab_broker.port), "--session", SESSION]
    cases = [
        ([], {}, "the broker refused an anonymous login: "),
        (["--username", "viewer"], {"GAZEWIRE_MQTT__PASSWORD": "not-the-password"}, "the broker refused user 'viewer': "),
        (["--username", "viewer"], {}, "no password for user 'viewer': give --password-file, "
                                       "set GAZEWIRE_MQTT__PASSWORD, or run in a terminal"),
        (["--username", "viewer", "--password-file", str(tmp_path / "missing")], {}, "cannot read the password file: "),
    ]
    for options, env, message in cases:
        result = example(script, *where, *options, timeout=30, **env)
        assert result.returncode == 2, (options, result.stderr)
        assert result.stderr.startswith(f"{os.path.basename(script)}: {message}"), (options, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    from tests.support.ports import free_port

    nowhere = example(script, "--broker", "127.0.0.1", "--port", str(free_port()), "--session", SESSION, timeout=30)
    assert nowhere.returncode == 2 and nowhere.stderr.startswith(f"{os.path.basename(script)}: cannot reach the broker")


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
