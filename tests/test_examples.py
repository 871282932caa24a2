"""The example scripts in examples/ run as documented against the documented
broker (deploy/mosquitto as shipped: users, passwords, ACL), a running
simulated agent and the processor, and log in with a password from a file or
the environment (gazewire.client.script)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


def start_agent(lab_broker, data: Path, log: Path) -> AgentProcess:
    return AgentProcess(
        agent_env(lab_broker, data, GAZEWIRE_MQTT__USERNAME=SESSION, GAZEWIRE_MQTT__PASSWORD=lab_broker.password(SESSION)),
        "--session", SESSION, log_path=log,
    )


def start_processor(lab_broker, data: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    env.update(GAZEWIRE_MQTT__HOST=lab_broker.host, GAZEWIRE_MQTT__PORT=str(lab_broker.port),
               GAZEWIRE_MQTT__USERNAME="processor", GAZEWIRE_MQTT__PASSWORD=lab_broker.password("processor"),
               GAZEWIRE_DATA_DIR=str(data), GAZEWIRE_PROCESSOR_ID="examples", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "gazewire.cli", "processor", "run"], cwd=REPO, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)


def test_examples_run_an_experiment_follow_gaze_and_react_to_fixations(lab_broker, tmp_path, lab_devices):
    data = tmp_path / "data"
    watcher = LabDevice(lab_broker.host, lab_broker.port, [f"lab/{SESSION}/status", f"lab/{SESSION}/events"],
                        username="watcher", password="watcher-secret")
    lab_devices.append(watcher)
    agent = start_agent(lab_broker, data, tmp_path / "agent.log")
    processor = start_processor(lab_broker, tmp_path / "processor", tmp_path / "processor.log")
    try:
        watcher.wait_for(lambda m: any(b'"tracking"' in x.payload for x in m), what="agent tracking")
        where = ["--broker", lab_broker.host, "--port", str(lab_broker.port), "--session", SESSION]

        # a viewer, password from the environment
        followed = example("examples/follow_gaze.py", *where, "--count", "10", "--username", "viewer",
                           GAZEWIRE_MQTT__PASSWORD=lab_broker.password("viewer"))
        assert followed.returncode == 0, followed.stderr
        assert followed.stdout.splitlines()[0] == "agent tracking"
        assert followed.stdout.count("gaze  x=") == 10

        # an operator, password from a file (user name from the environment): two participants
        password_file = tmp_path / "operator-password"
        password_file.write_text(lab_broker.password("operator") + "\n")
        ran = example("examples/psychopy_experiment.py", *where, "--no-window", "--participants", "P01", "P02",
                      "--trials", "2", "--duration", "0.2", "--password-file", str(password_file),
                      GAZEWIRE_MQTT__USERNAME="operator")
        assert ran.returncode == 0, ran.stderr
        lines = ran.stdout.splitlines()
        assert lines[0].startswith("clock offset to the agent: ") and "best of 10 probes" in lines[0]
        first, second = (line.split()[-1] for line in lines if line.startswith(("P01: recording ", "P02: recording ")))
        assert first != second
        assert lines[1:] == [
            f"P01: recording {first}",
            f"P01 trial 1: stimulus_on in {first}", f"P01 trial 1: stimulus_off in {first}",
            f"P01 trial 2: stimulus_on in {first}", f"P01 trial 2: stimulus_off in {first}",
            *[line for line in lines if line.startswith(f"P01: stopped {first}, ")],
            f"P02: recording {second}",
            f"P02 trial 1: stimulus_on in {second}", f"P02 trial 1: stimulus_off in {second}",
            f"P02 trial 2: stimulus_on in {second}", f"P02 trial 2: stimulus_off in {second}",
            *[line for line in lines if line.startswith(f"P02: stopped {second}, ")],
        ]
        markers = watcher.wait_for(lambda m: len([x for x in m if x.topic.endswith("/events")]) >= 8 and m,
                                   what="the experiment's markers")
        taken = [m.json() for m in markers if m.topic.endswith("/events")]
        assert [(m["name"], m["recording"]) for m in taken] == [
            (name, recording) for recording in (first, second) for _ in range(2)
            for name in ("stimulus_on", "stimulus_off")]

        # an operator reacting to the processor's fixations
        reacted = example("examples/react_to_fixations.py", *where, "--target", "0", "0", "1", "1", "--min-ms", "0",
                          "--count", "3", "--timeout", "30", "--password-file", str(password_file),
                          GAZEWIRE_MQTT__USERNAME="operator")
        assert reacted.returncode == 0, reacted.stderr + (tmp_path / "processor.log").read_text()
        reactions = reacted.stdout.splitlines()
        assert len(reactions) == 3 and all(": on target, marked in no recording" in line for line in reactions)
    finally:
        processor.terminate()
        processor.wait(30)
        assert agent.terminate() == 0, agent.log()
    # each participant's recording is a file of its own, holding its own markers
    for recording in (first, second):
        path, = data.rglob(f"{recording}*.csv")
        read = example("examples/read_recording.py", str(path))
        assert read.returncode == 0, read.stderr
        assert "4 markers" in read.stdout and "marker stimulus_off" in read.stdout, read.stdout


@pytest.mark.parametrize("script", ["examples/follow_gaze.py", "examples/psychopy_experiment.py",
                                    "examples/react_to_fixations.py"])
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
        result = example(script, *where, *options, "--no-window" if "psychopy" in script else "--count=1",
                         timeout=30, **env)
        assert result.returncode == 2, (options, result.stderr)
        assert result.stderr.startswith(f"{os.path.basename(script)}: {message}"), (options, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    from tests.support.ports import free_port

    nowhere = example(script, "--broker", "127.0.0.1", "--port", str(free_port()), "--session", SESSION, timeout=30)
    assert nowhere.returncode == 2 and nowhere.stderr.startswith(f"{os.path.basename(script)}: cannot reach the broker")


@pytest.mark.parametrize("script", ["examples/follow_gaze.py", "examples/psychopy_experiment.py",
                                    "examples/react_to_fixations.py"])
def test_examples_take_the_broker_as_host_and_port_like_every_gazewire_command(lab_broker, script):
    other = ["--no-window" if "psychopy" in script else "--count=1", "--session", SESSION]
    # the broker at HOST:PORT answers (and refuses the anonymous login): it was found
    found = example(script, "--broker", f"{lab_broker.host}:{lab_broker.port}", *other, timeout=30)
    assert found.returncode == 2 and "the broker refused an anonymous login" in found.stderr, found.stderr
    for broker, extra, message in [(f"{lab_broker.host}:port", [], "the port must be a number"),
                                   (f"{lab_broker.host}:{lab_broker.port}", ["--port", "1"], "two different ports")]:
        refused = example(script, "--broker", broker, *extra, *other, timeout=30)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
        assert len(refused.stderr.splitlines()) == 1 and "Traceback" not in refused.stderr


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
