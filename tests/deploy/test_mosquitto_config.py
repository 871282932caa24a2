"""deploy/mosquitto as shipped, on the real Mosquitto: authentication, the four
roles of the ACL, the WebSocket listener serving the live page, and TLS.

"Cannot" is shown twice over: the broker answers a refused QoS 1 PUBLISH
with PUBACK reason code 135 (not authorised, MQTT 5), and a subscriber that
may read everything (the processor) never gets the message. It gets the
next, allowed, message from the same publisher instead, which the broker
forwards in order: so no fixed sleep is needed to prove that nothing came.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.certificates import make_certificates
from tests.deploy.conftest import SHIPPED, WWW, shipped_config

pytestmark = pytest.mark.broker

GRANTED = (0, 16)  # success, or "no matching subscribers" (MQTT 5 PUBACK)
NOT_AUTHORIZED = 135
BAD_CREDENTIALS, CONNACK_NOT_AUTHORIZED = 134, 135


# --------------------------------------------------------------------------- the shipped files


def test_config_is_rewritten_only_in_paths_and_ports(tmp_path: Path) -> None:
    shipped = (SHIPPED / "mosquitto.conf").read_text().splitlines()
    rewritten = shipped_config("\n".join(shipped), tmp_path, mqtt_port=1, websocket_port=2).splitlines()
    assert len(rewritten) == len(shipped)
    changed = [(a, b) for a, b in zip(shipped, rewritten) if a != b]
    assert {a for a, _ in changed} == {
        "listener 1883", "listener 9001", "http_dir /mosquitto/www", "password_file /mosquitto/config/passwords",
        "acl_file /mosquitto/config/acl", "persistence_location /mosquitto/data/",
        "log_dest file /mosquitto/log/mosquitto.log",
    }


def test_the_test_broker_reads_nothing_from_the_checkout(lab_broker) -> None:
    """Run as root, Mosquitto drops to its own user, which may not enter the checkout (a clone under
    /root, a 0700 CI directory): every file it reads is in a directory that user can enter."""
    from tests.support.mosquitto import others_can_enter

    paths = [Path(word) for line in lab_broker.config_path.read_text().splitlines() if not line.startswith("#")
             for word in line.split()[1:] if word.startswith("/")]
    assert {"http_dir", "password_file", "acl_file"} <= {line.split()[0] for line in
                                                           lab_broker.config_path.read_text().splitlines() if line}
    for path in paths:
        assert path.resolve().is_relative_to(lab_broker.root.resolve()), f"{path} is not in the broker's directory"
        assert not path.resolve().is_relative_to(SHIPPED.parent.parent.resolve()), f"{path} is in the checkout"
    assert others_can_enter(lab_broker.root)
    assert (lab_broker.root / "www" / "index.html").read_bytes() == (WWW / "index.html").read_bytes()


def test_config_has_the_required_settings() -> None:
    lines = {line.strip() for line in (SHIPPED / "mosquitto.conf").read_text().splitlines()}
    for required in (
        "per_listener_settings false", "allow_anonymous false", "persistence true",
        "listener 1883", "listener 9001", "protocol websockets", "http_dir /mosquitto/www",
        "password_file /mosquitto/config/passwords", "acl_file /mosquitto/config/acl",
        "persistence_location /mosquitto/data/", "#listener 8883", "#cafile /mosquitto/certs/ca.crt",
        "#certfile /mosquitto/certs/server.crt", "#keyfile /mosquitto/certs/server.key",
        "#require_certificate false",
    ):
        assert required in lines, required
    assert any(line.startswith("persistent_client_expiration ") for line in lines)
    assert any(line.startswith("max_queued_messages ") for line in lines)
    assert any(line.startswith("max_inflight_messages ") for line in lines)
    text = (SHIPPED / "mosquitto.conf").read_text()
    assert "2.1" in text and "http_dir" in text and "2.0.x" in text  # the pinning note


def test_live_page_files_are_shipped() -> None:
    for name in ("index.html", "mqtt.min.js", "mqtt.LICENSE.txt"):
        assert (WWW / name).is_file(), name
    assert "5." in (WWW / "mqtt.LICENSE.txt").read_text().split("Version:")[1].splitlines()[0]
    assert 'type="module"' not in (WWW / "index.html").read_text()


# --------------------------------------------------------------------------- authentication


def test_anonymous_and_wrong_password_are_refused(lab_broker, mqtt_client) -> None:
    anonymous = mqtt_client(lab_broker, None)
    assert not anonymous.connected
    assert anonymous.connack.value == CONNACK_NOT_AUTHORIZED, anonymous.connack
    wrong = mqtt_client(lab_broker, "viewer", "not-the-password")
    assert not wrong.connected
    assert wrong.connack.value in (BAD_CREDENTIALS, CONNACK_NOT_AUTHORIZED), wrong.connack
    stranger = mqtt_client(lab_broker, "nobody", "whatever-password")
    assert not stranger.connected
    assert mqtt_client(lab_broker, "viewer").connected


# --------------------------------------------------------------------------- roles


def test_agent_publishes_its_own_session_only(lab_broker, mqtt_client) -> None:
    observer = mqtt_client(lab_broker, "processor")
    observer.subscribe("lab/#")
    agent = mqtt_client(lab_broker, "lab-pc-1")
    for channel in ("gaze", "gaze/batch", "status", "events", "cmd/reply"):
        assert agent.publish(f"lab/lab-pc-1/{channel}", b'{"ok":1}') in GRANTED, channel
        observer.wait_message(f"lab/lab-pc-1/{channel}")
    # another agent's session, the processor's channels, commands, system topics, other prefixes
    for topic in ("lab/lab-pc-2/gaze", "lab/lab-pc-2/status", "lab/lab-pc-1/fixations", "lab/lab-pc-1/alerts",
                  "lab/lab-pc-1/aoi", "lab/lab-pc-1/cmd", "lab/_sys/processor/x/status", "other/lab-pc-1/gaze"):
        assert agent.publish(topic, b"forged") == NOT_AUTHORIZED, topic
    assert agent.publish("lab/lab-pc-1/gaze", b"sentinel") in GRANTED
    observer.wait(lambda: b"sentinel" in observer.received("lab/lab-pc-1/gaze"), what="the sentinel")
    assert all(payload != b"forged" for _, payload, _ in observer.messages)


def test_agent_reads_only_its_commands(lab_broker, mqtt_client) -> None:
    agent = mqtt_client(lab_broker, "lab-pc-1")
    agent.subscribe("lab/#")  # Mosquitto grants the subscription and filters on delivery
    operator = mqtt_client(lab_broker, "operator")
    other = mqtt_client(lab_broker, "lab-pc-2")
    assert other.publish("lab/lab-pc-2/gaze", b"not for lab-pc-1") in GRANTED
    assert operator.publish("lab/lab-pc-2/cmd", b'{"command":"ping"}') in GRANTED
    assert operator.publish("lab/lab-pc-1/cmd", b'{"command":"ping","id":"mine"}') in GRANTED
    assert json.loads(agent.wait_message("lab/lab-pc-1/cmd"))["id"] == "mine"
    assert [t for t, _, _ in agent.messages] == ["lab/lab-pc-1/cmd"]


def test_agent_last_will_only_on_its_own_status(lab_broker, mqtt_client) -> None:
    """Mosquitto 2.0 accepts any will at CONNECT but checks the ACL when it sends the will."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    observer = mqtt_client(lab_broker, "processor")
    observer.subscribe("lab/#")
    for topic in ("lab/lab-pc-2/status", "lab/lab-pc-1/status"):  # forged first, then the real one
        client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        client.username_pw_set("lab-pc-1", lab_broker.password("lab-pc-1"))
        client.will_set(topic, b'{"state":"offline"}', qos=1, retain=True)
        client.on_connect = lambda c, u, f, rc, p: c.disconnect(
            reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
        client.connect(lab_broker.host, lab_broker.port)
        client.loop_forever()
    observer.wait_message("lab/lab-pc-1/status")
    assert observer.received("lab/lab-pc-2/status") == []


def test_static_agent_block_grants_listed_sessions(lab_broker, mqtt_client) -> None:
    agent = mqtt_client(lab_broker, "pc-static")
    for session in ("P01", "P02"):
        assert agent.publish(f"lab/{session}/gaze/batch") in GRANTED
        assert agent.publish(f"lab/{session}/status", retain=True) in GRANTED
    assert agent.publish("lab/P03/gaze") == NOT_AUTHORIZED
    assert agent.publish("lab/P01/fixations") == NOT_AUTHORIZED


def test_viewer_reads_everything_and_publishes_nothing(lab_broker, mqtt_client) -> None:
    agent = mqtt_client(lab_broker, "lab-pc-1")
    assert agent.publish("lab/lab-pc-1/status", b'{"state":"tracking"}', retain=True) in GRANTED
    viewer = mqtt_client(lab_broker, "viewer")
    viewer.subscribe("lab/+/status")
    assert json.loads(viewer.wait_message("lab/lab-pc-1/status"))["state"] == "tracking"
    observer = mqtt_client(lab_broker, "processor")
    observer.subscribe("lab/#")
    # every channel, its own name's "session" (the agent patterns apply to all users), commands
    for topic in ("lab/lab-pc-1/gaze", "lab/lab-pc-1/status", "lab/lab-pc-1/cmd", "lab/lab-pc-1/alerts",
                  "lab/viewer/gaze", "lab/viewer/status", "lab/viewer/gaze/batch", "lab/_sys/processor/v/status",
                  "elsewhere/x"):
        viewer.publish(topic, b"forged", qos=0)  # no PUBACK; the QoS 1 ones after it are acknowledged in order
        assert viewer.publish(topic, b"forged") == NOT_AUTHORIZED, topic
        assert viewer.publish(topic, b"forged", retain=True) == NOT_AUTHORIZED, topic
    assert agent.publish("lab/lab-pc-1/gaze", b"sentinel") in GRANTED
    observer.wait(lambda: b"sentinel" in observer.received("lab/lab-pc-1/gaze"), what="the sentinel")
    assert all(payload != b"forged" for _, payload, _ in observer.messages)


def test_operator_sends_commands(lab_broker, mqtt_client) -> None:
    agent = mqtt_client(lab_broker, "lab-pc-2")
    agent.subscribe("lab/lab-pc-2/cmd")
    operator = mqtt_client(lab_broker, "operator")
    operator.subscribe("lab/+/cmd/reply")
    marker = {"command": "marker", "name": "stimulus_on", "id": "m1"}
    assert operator.publish("lab/lab-pc-2/cmd", json.dumps(marker)) in GRANTED
    assert json.loads(agent.wait_message("lab/lab-pc-2/cmd")) == marker
    assert agent.publish("lab/lab-pc-2/cmd/reply", b'{"ok":true,"id":"m1"}') in GRANTED
    assert json.loads(operator.wait_message("lab/lab-pc-2/cmd/reply"))["id"] == "m1"
    for topic in ("lab/lab-pc-2/gaze", "lab/lab-pc-2/alerts", "lab/operator/status"):
        assert operator.publish(topic) == NOT_AUTHORIZED, topic


def test_operator_clears_retained_statuses_of_programs_gone_and_others_cannot(lab_broker, mqtt_client) -> None:
    """gazewire status --prune, logged in as an operator: the offline statuses go, the live one
    stays; a viewer's prune is refused by the broker, named in one line per status."""
    import os
    import subprocess
    import sys

    from gazewire.agent.status import build_status, last_will
    from gazewire.wire.messages import AgentCounters

    live = build_status(session="lab-pc-1", state="tracking", run="r", reason=None, publish_hz=30.0, tracker=None,
                        display_area=None, clock=None, counters=AgentCounters(), warnings=[], status_interval_s=5.0)
    assert mqtt_client(lab_broker, "lab-pc-1").publish("lab/lab-pc-1/status", live.to_json(), retain=True) in GRANTED
    gone = last_will("lab-pc-2", "r").to_json()
    assert mqtt_client(lab_broker, "lab-pc-2").publish("lab/lab-pc-2/status", gone, retain=True) in GRANTED

    def status(user: str, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
        env["GAZEWIRE_MQTT__PASSWORD"] = lab_broker.password(user)
        return subprocess.run(
            [sys.executable, "-m", "gazewire.cli", "status", *args, "--broker",
             f"{lab_broker.host}:{lab_broker.port}", "--username", user],
            capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
        )

    def prune(user: str) -> subprocess.CompletedProcess:
        return status(user, "--prune", "--yes")

    refused = prune("viewer")
    assert refused.returncode == 1 and refused.stdout.splitlines() == [
        "session lab-pc-2: offline (last will)", "cleared 0 retained statuses"], refused.stdout
    assert refused.stderr.startswith("not cleared: lab/lab-pc-2/status: the broker refused (Not authorized"), refused.stderr
    done = prune("operator")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["session lab-pc-2: offline (last will)", "cleared 1 retained status"]
    after = status("operator", "--json")
    assert list(json.loads(after.stdout)["agents"]) == ["lab-pc-1"] and after.returncode == 0, after.stdout


def test_processor_reads_batches_and_publishes_results(lab_broker, mqtt_client) -> None:
    processor = mqtt_client(lab_broker, "processor")
    processor.subscribe("lab/+/gaze/batch", "lab/+/status")
    agent = mqtt_client(lab_broker, "lab-pc-1")
    assert agent.publish("lab/lab-pc-1/gaze/batch", b'{"count":3}') in GRANTED
    assert json.loads(processor.wait_message("lab/lab-pc-1/gaze/batch"))["count"] == 3
    viewer = mqtt_client(lab_broker, "viewer")
    viewer.subscribe("lab/#")
    for channel in ("alerts", "fixations", "saccades", "pursuits", "blinks", "aoi"):
        assert processor.publish(f"lab/lab-pc-1/{channel}", b'{"from":"processor"}') in GRANTED
        viewer.wait_message(f"lab/lab-pc-1/{channel}")
    assert processor.publish("lab/_sys/processor/lab-server/status", b"{}", retain=True) in GRANTED
    for topic in ("lab/lab-pc-1/gaze", "lab/lab-pc-1/gaze/batch", "lab/lab-pc-1/status", "lab/lab-pc-1/cmd",
                  "lab/processor/status"):
        assert processor.publish(topic) == NOT_AUTHORIZED, topic


def test_users_added_later_work_after_a_reload(lab_broker, mqtt_client) -> None:
    from gazewire.cli.users import UserStore

    config = lab_broker.root / "config"
    store = UserStore(config / "passwords", config / "acl")
    store.add("lab-pc-9", "agent", "new-agent-secret")
    store.add("grafana", "viewer", "grafana-secret")
    lab_broker.reload()
    agent = mqtt_client(lab_broker, "lab-pc-9", "new-agent-secret")
    assert agent.connected, agent.connack
    assert agent.publish("lab/lab-pc-9/status", b"{}") in GRANTED
    assert mqtt_client(lab_broker, "grafana", "grafana-secret").publish("lab/grafana/status") == NOT_AUTHORIZED
    store.remove("lab-pc-9")
    lab_broker.reload()
    assert not mqtt_client(lab_broker, "lab-pc-9", "new-agent-secret").connected


# --------------------------------------------------------------------------- WebSocket listener


def test_websocket_listener_serves_the_page_and_mqtt(lab_broker, mqtt_client) -> None:
    base = f"http://{lab_broker.host}:{lab_broker.websocket_port}"
    for path, expected in (("/", b"<!DOCTYPE html>"), ("/index.html", b"<!DOCTYPE html>"),
                           ("/mqtt.min.js", b"mqtt"), ("/app.js", b"gazewireView")):
        with urllib.request.urlopen(base + path, timeout=10) as response:
            assert response.status == 200
            body = response.read()
        assert expected in body[:4000] or expected in body, path
    assert body == (WWW / "app.js").read_bytes()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(base + "/no-such-file", timeout=10)
    assert missing.value.code == 404

    agent = mqtt_client(lab_broker, "lab-pc-1")
    assert agent.publish("lab/lab-pc-1/status", b'{"state":"online"}', retain=True) in GRANTED
    viewer = mqtt_client(lab_broker, "viewer", transport="websockets")
    assert viewer.connected, viewer.connack
    viewer.subscribe("lab/+/status")
    assert json.loads(viewer.wait_message("lab/lab-pc-1/status"))["state"] == "online"
    assert viewer.publish("lab/lab-pc-1/cmd") == NOT_AUTHORIZED
    assert not mqtt_client(lab_broker, "viewer", "wrong-password", transport="websockets").connected
    assert not mqtt_client(lab_broker, None, transport="websockets").connected


# --------------------------------------------------------------------------- TLS (the commented block, switched on)


@pytest.mark.parametrize("mutual", [False, True], ids=["server-cert", "client-cert-required"])
def test_tls_block_works_when_switched_on(make_lab_broker, mqtt_client, mutual: bool) -> None:
    import shutil

    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make test certificates: apt-get install openssl")
    from tests.support.ports import free_port

    broker = make_lab_broker(start=False, tls_port=free_port(), require_certificate=mutual)
    files = make_certificates(broker.root / "certs")
    broker.start()
    tls = {"ca_certs": str(files["ca.crt"]), "tls_version": ssl.PROTOCOL_TLS_CLIENT}
    if mutual:
        try:
            without = mqtt_client(broker, "lab-pc-1", port=broker.tls_port, tls=tls)
        except (ssl.SSLError, OSError):
            pass  # refused in the handshake (TLS 1.2)
        else:
            assert not without.connected  # refused right after it (TLS 1.3)
        tls |= {"certfile": str(files["client.crt"]), "keyfile": str(files["client.key"])}
    agent = mqtt_client(broker, "lab-pc-1", port=broker.tls_port, tls=tls)
    assert agent.connected, agent.connack
    assert agent.publish("lab/lab-pc-1/status", b"{}") in GRANTED
    assert agent.publish("lab/lab-pc-2/status", b"{}") == NOT_AUTHORIZED
    assert not mqtt_client(broker, "lab-pc-1", "wrong-password", port=broker.tls_port, tls=tls).connected
