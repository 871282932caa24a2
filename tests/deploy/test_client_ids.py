"""Client ids cannot be hijacked: deploy/mosquitto/mosquitto.conf ties every
client id to its user (use_username_as_clientid on every listener).

Against the REAL broker with the shipped files, and the REAL processor and
agent (`gazewire processor run`, `gazewire agent run`) with their default
client ids: a viewer and another agent's user that connect with the
processor's client id get none of the batches queued for it and do not
disconnect it, over MQTT, WebSocket and TLS; nobody can kick an agent off. The
price, one connection per user, is shown too.

No fixed waits: a takeover happens while the broker handles the CONNECT, so
once the newcomer has its CONNACK the broker has logged it ("already
connected, closing old connection") or never will; messages queued for a
session are sent right after the CONNACK, before anything published later.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gazewire.mqtt import default_client_id
from tests.conftest import AgentProcess, agent_env
from tests.support.certificates import make_certificates
from tests.support.ports import free_port

pytestmark = pytest.mark.broker

PROCESSOR_ID = "lab-server"
AGENT = "lab-pc-1"
TAKEOVER = "already connected, closing old connection"
PROCESSOR_STATUS = f"lab/_sys/processor/{PROCESSOR_ID}/status"
# The ids the processor and the agent use unless configured otherwise: anyone can work them out.
PROCESSOR_CLIENT_ID = default_client_id("processor", PROCESSOR_ID)
AGENT_CLIENT_ID = default_client_id("agent", AGENT)


class ProcessorProcess:
    """``gazewire processor run`` (line-protocol files, no InfluxDB), as user ``processor``."""

    def __init__(self, broker, tmp_path: Path, run: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
        env.update({
            "GAZEWIRE_PROCESSOR_ID": PROCESSOR_ID, "GAZEWIRE_DATA_DIR": str(tmp_path / "processor"),
            "GAZEWIRE_MQTT__HOST": broker.host, "GAZEWIRE_MQTT__PORT": str(broker.port),
            "GAZEWIRE_MQTT__USERNAME": "processor", "GAZEWIRE_MQTT__PASSWORD": broker.password("processor"),
            "GAZEWIRE_MQTT__RECONNECT_MIN_S": "0.2", "GAZEWIRE_MQTT__RECONNECT_MAX_S": "1",
            "GAZEWIRE_STATUS_INTERVAL_S": "0.5", "PYTHONUNBUFFERED": "1",
        })
        self.log_path = tmp_path / f"processor-{run}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(gazewire("processor", "run"), env=env, cwd=tmp_path,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        assert self.process.wait(30) == 0, self.log()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def gazewire(*args: str) -> list[str]:
    return [sys.executable, "-m", "gazewire.cli", *args]


def start_agent(broker, tmp_path: Path, *args: str, run: int = 0) -> AgentProcess:
    env = agent_env(broker, tmp_path / "agent", GAZEWIRE_MQTT__USERNAME=AGENT,
                    GAZEWIRE_MQTT__PASSWORD=broker.password(AGENT))
    return AgentProcess(env, "--session", AGENT, *args, log_path=tmp_path / f"agent-{run}.log")


def processor_status(watcher) -> dict:
    payloads = watcher.received(PROCESSOR_STATUS)
    return json.loads(payloads[-1]) if payloads else {}


def samples_stored(watcher, count: int):
    """A predicate: the running processor's status counts ``count`` samples, all of this run."""
    def check():
        status = processor_status(watcher)
        return status.get("state") == "online" and status.get("counters", {}).get("samples") == count
    return check


def wait_until(predicate, timeout_s: float = 20.0, what: str = "a condition") -> None:
    """Poll a log file for a condition, with a deadline."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def connected_once(log: str) -> bool:
    return log.count("connected to ") == 1 and "disconnected from broker" not in log


# --------------------------------------------------------------------------- the processor's queued batches


def test_queued_batches_stay_with_the_processor(make_lab_broker, mqtt_client, tmp_path):
    broker = make_lab_broker()
    watcher = mqtt_client(broker, "operator")  # reads everything; a user of its own
    watcher.subscribe(PROCESSOR_STATUS)

    # The processor's persistent session exists and is subscribed: it has stored samples of a first run.
    processor = ProcessorProcess(broker, tmp_path, 0)
    watcher.wait(lambda: processor_status(watcher).get("state") == "online", what="the processor online")
    first = start_agent(broker, tmp_path, "--sample-limit", "120", "--exit-when-finished", run=0)
    assert first.process.wait(60) == 0, first.log()
    watcher.wait(lambda: processor_status(watcher).get("counters", {}).get("samples", 0) > 0, timeout_s=30,
                 what="the processor storing samples")
    processor.stop()

    # While it is away the broker queues the next batches for it.
    second = start_agent(broker, tmp_path, "--sample-limit", "240", "--exit-when-finished", run=1)
    assert second.process.wait(60) == 0, second.log()

    # A viewer and another agent's user take the processor's client id and ask for its session.
    for user, probe in (("viewer", f"lab/{AGENT}/status"), ("lab-pc-2", "lab/lab-pc-2/cmd")):
        thief = mqtt_client(broker, user, client_id=PROCESSOR_CLIENT_ID, clean_start=False)
        assert thief.connected, thief.connack
        assert thief.session_present is False, f"{user} was handed the processor's session"
        thief.subscribe(probe)
        if probe.endswith("/cmd"):
            assert watcher.publish(probe, json.dumps({"id": "probe", "command": "ping"})) in (0, 16)
        thief.wait_message(probe)  # anything queued would have come before this
        assert [topic for topic, _, _ in thief.messages if topic.endswith("/gaze/batch")] == [], user
        thief.close()
    assert TAKEOVER not in broker.log()

    # The processor comes back and gets every queued sample.
    processor = ProcessorProcess(broker, tmp_path, 1)
    try:
        watcher.wait(samples_stored(watcher, 240), timeout_s=30, what="the processor storing the 240 queued samples")
    finally:
        processor.stop()
    assert "session resumed" in processor.log()


# --------------------------------------------------------------------------- nobody can kick anyone off


@pytest.fixture
def lab_broker_with_tls(make_lab_broker):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make test certificates: apt-get install openssl")
    broker = make_lab_broker(start=False, tls_port=free_port())
    broker.tls_files = make_certificates(broker.root / "certs")
    broker.start()
    return broker


@pytest.mark.parametrize("transport", ["tcp", "websockets", "tls"])
def test_nobody_can_disconnect_the_processor_or_an_agent(lab_broker_with_tls, mqtt_client, tmp_path, transport):
    broker = lab_broker_with_tls
    watcher = mqtt_client(broker, "operator")
    watcher.subscribe(PROCESSOR_STATUS, f"lab/{AGENT}/status")
    processor = ProcessorProcess(broker, tmp_path, 0)
    agent = start_agent(broker, tmp_path)
    try:
        watcher.wait(lambda: processor_status(watcher).get("state") == "online", what="the processor online")
        watcher.wait(lambda: any(b'"tracking"' in payload for payload in watcher.received(f"lab/{AGENT}/status")),
                     what="the agent tracking")
        options: dict = {"transport": "websockets"} if transport == "websockets" else {}
        if transport == "tls":
            options = {"port": broker.tls_port,
                       "tls": {"ca_certs": str(broker.tls_files["ca.crt"]), "tls_version": ssl.PROTOCOL_TLS_CLIENT}}
        for user in ("viewer", "lab-pc-2"):
            for victim in (PROCESSOR_CLIENT_ID, AGENT_CLIENT_ID):
                intruder = mqtt_client(broker, user, client_id=victim, **options)
                assert intruder.connected, (user, victim, intruder.connack)
                assert TAKEOVER not in broker.log(), f"{user} took over {victim} over {transport}"
                intruder.close()
        watcher.subscribe(f"lab/{AGENT}/gaze/batch")
        watcher.wait_message(f"lab/{AGENT}/gaze/batch")  # the agent streams on
    finally:
        assert agent.terminate() == 0, agent.log()
        processor.stop()
    assert connected_once(processor.log()), processor.log()
    assert connected_once(agent.log()), agent.log()
    assert TAKEOVER not in broker.log()


# --------------------------------------------------------------------------- the price: one connection per user


def test_a_second_login_as_the_same_user_takes_over(lab_broker, mqtt_client, tmp_path):
    """Why every program needs its own user (deploy/mosquitto/README.md, "Client ids"). Mosquitto
    2.0.11 just closes the old connection (no DISCONNECT reason): its log is where to see it."""
    watcher = mqtt_client(lab_broker, "operator")
    watcher.subscribe(f"lab/{AGENT}/status")
    agent = start_agent(lab_broker, tmp_path)
    try:
        watcher.wait(lambda: any(b'"tracking"' in payload for payload in watcher.received(f"lab/{AGENT}/status")),
                     what="the agent tracking")
        second = mqtt_client(lab_broker, AGENT, client_id="whatever-it-asks-for")
        assert second.connected
        assert f"Client {AGENT} {TAKEOVER}" in lab_broker.log()
        second.close()
        wait_until(lambda: "disconnected from broker" in agent.log() and agent.log().count("connected to ") == 2,
                   what="the agent losing its connection and reconnecting by itself")
    finally:
        assert agent.terminate() == 0, agent.log()


def test_every_listener_ties_client_ids_to_users() -> None:
    """use_username_as_clientid is a listener setting: each listener of the shipped file has it."""
    from tests.deploy.conftest import SHIPPED

    lines = [line.strip() for line in (SHIPPED / "mosquitto.conf").read_text().splitlines()]
    listeners = [i for i, line in enumerate(lines) if line.lstrip("#").startswith("listener ")]
    assert len(listeners) == 3
    for start, end in zip(listeners, [*listeners[1:], len(lines)]):
        block = [line.lstrip("#") for line in lines[start:end]]
        assert "use_username_as_clientid true" in block, lines[start]
