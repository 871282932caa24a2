"""``gazewire agent run`` over TLS with client certificates and a password,
against the shipped Mosquitto configuration (its TLS block switched on) and
its ACL: the agent's own TLS settings (mqtt.tls, ca_file, cert_file, key_file)
end to end, and a clear failure with the wrong CA."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from gazewire.wire.messages import AgentStatus
from tests.conftest import REPO
from tests.support.certificates import make_certificates
from tests.support.lab_device import LabDevice
from tests.support.ports import free_port

pytestmark = pytest.mark.broker


def agent_env(broker, files, data_dir, **extra):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    env.update({
        "GAZEWIRE_SOURCE": "simulated",
        "GAZEWIRE_SESSION": "lab-pc-1",  # agents log in with their session id as user name
        "GAZEWIRE_DATA_DIR": str(data_dir),
        "GAZEWIRE_MQTT__HOST": "localhost",
        "GAZEWIRE_MQTT__PORT": str(broker.tls_port or broker.port),
        "GAZEWIRE_MQTT__TLS": "true",
        "GAZEWIRE_MQTT__CA_FILE": str(files.get("ca.crt")),
        "GAZEWIRE_MQTT__CERT_FILE": str(files.get("client.crt")),
        "GAZEWIRE_MQTT__KEY_FILE": str(files.get("client.key")),
        "GAZEWIRE_MQTT__USERNAME": "lab-pc-1",
        "GAZEWIRE_MQTT__PASSWORD": broker.password("lab-pc-1"),
        "GAZEWIRE_MQTT__RECONNECT_MAX_S": "1",
    })
    env.update(extra)
    return env


@pytest.fixture
def tls_broker(make_lab_broker):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make test certificates: apt-get install openssl")
    broker = make_lab_broker(start=False, tls_port=free_port(), require_certificate=True)
    files = make_certificates(broker.root / "certs")
    broker.start()
    return broker, files


def test_agent_streams_over_tls_with_a_client_certificate(tls_broker, tmp_path):
    broker, files = tls_broker
    viewer = LabDevice(broker.host, broker.port, ["lab/lab-pc-1/#"], username="viewer", password=broker.password("viewer"))
    agent = subprocess.Popen(
        [sys.executable, "-m", "gazewire.cli", "agent", "run", "--sample-limit", "240", "--exit-when-finished"],
        env=agent_env(broker, files, tmp_path / "data"), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        output = agent.communicate(timeout=60)[0].decode(errors="replace")
        assert agent.returncode == 0, output
        seen = viewer.wait_for(
            lambda m: [x for x in m if x.topic == "lab/lab-pc-1/status" and json.loads(x.payload)["state"] == "offline"],
            what="offline status over TLS",
        )
        final = AgentStatus.model_validate_json(seen[-1].payload)
        assert final.counters.samples_published == 240 and final.counters.outbox_depth == 0
        assert "key_password" not in output and broker.password("lab-pc-1") not in output
    finally:
        viewer.close()
        if agent.poll() is None:
            agent.kill()


def test_wrong_ca_is_reported_and_the_agent_keeps_trying(tls_broker, tmp_path):
    broker, files = tls_broker
    (tmp_path / "other-ca").mkdir()
    other = make_certificates(tmp_path / "other-ca")  # a CA the broker's certificate is not from
    agent = subprocess.Popen(
        [sys.executable, "-m", "gazewire.cli", "agent", "run", "--log-level", "DEBUG"],
        env=agent_env(broker, files, tmp_path / "data", GAZEWIRE_MQTT__CA_FILE=str(other["ca.crt"])),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    lines = []
    try:
        for line in agent.stdout:
            lines.append(line.decode(errors="replace"))
            # paho says so at DEBUG on every attempt; wait for three attempts
            if sum("Connection failed, retrying" in seen for seen in lines) >= 3:
                break
        assert agent.poll() is None, "the agent keeps retrying instead of exiting"
    finally:
        agent.terminate()
        rest = agent.communicate(timeout=30)[0].decode(errors="replace")
    output = "".join(lines) + rest
    assert agent.returncode == 0, output
    assert "Traceback" not in output
    assert "broker unreachable at shutdown" in output
    assert output.count("TLS certificate verify failed") == 1, "logged once per cause, not per retry"
    assert "check mqtt.ca_file" in output


def test_batches_the_broker_refuses_stay_in_the_outbox(make_lab_broker, tmp_path):
    """An ACL mistake (user lab-pc-1 streaming session lab-pc-2) is a refusal by
    PUBACK (MQTT 5 'Not authorized'): the agent says so and keeps the batches."""
    broker = make_lab_broker()
    env = agent_env(broker, {}, tmp_path / "data", GAZEWIRE_SESSION="lab-pc-2", GAZEWIRE_MQTT__TLS="false",
                    GAZEWIRE_MQTT__PORT=str(broker.port), GAZEWIRE_MQTT__HOST=broker.host)
    for name in ("GAZEWIRE_MQTT__CA_FILE", "GAZEWIRE_MQTT__CERT_FILE", "GAZEWIRE_MQTT__KEY_FILE"):
        env.pop(name)
    agent = subprocess.Popen(
        [sys.executable, "-m", "gazewire.cli", "agent", "run", "--sample-limit", "120", "--exit-when-finished"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    output = agent.communicate(timeout=60)[0].decode(errors="replace")
    assert agent.returncode == 0, output
    assert "broker refused batch" in output and "Not authorized" in output
    assert "stay in the outbox" in output or "still unacknowledged" in output

    from gazewire.agent.outputs.outbox import Outbox

    outbox = Outbox(tmp_path / "data" / "outbox" / "lab-pc-2.sqlite3")
    kept = outbox.pending(-1, 1000)
    assert sum(b.samples for b in kept) == 120, "every refused batch is still on disk"
