"""``gazewire send`` and ``gazewire status`` as a lab engineer runs them:
child processes against a real Mosquitto, with a real agent or with statuses
published the way agents and processors publish them."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gazewire.agent.status import build_status, last_will
from gazewire.wire.messages import AgentCounters, AgentStatus, ProcessorStatus, TrackerInfo
from tests.conftest import REPO, gazewire_command
from tests.support.lab_device import LabDevice, Received
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port

pytestmark = pytest.mark.broker


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(gazewire_command(*args), capture_output=True, text=True, cwd=REPO, timeout=60)


def watch_state(broker, lab_devices, session: str, state: str) -> None:
    watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/status"])
    lab_devices.append(watcher)

    def reached(messages: list[Received]) -> bool:
        return any(AgentStatus.model_validate_json(m.payload).state == state for m in messages)

    watcher.wait_for(reached, what=f"{session} {state}")


def publish_retained(broker, messages: dict[str, bytes]) -> None:
    """Publish retained messages and wait until the broker has each (PUBACK)."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in messages.items():
            client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_gazewire_send_marker(broker, start_agent, lab_devices):
    session = "send-" + uuid.uuid4().hex[:6]
    start_agent("--session", session)
    watch_state(broker, lab_devices, session, "tracking")

    result = run("send", session, "marker", "trial_1", "--broker", f"{broker.host}:{broker.port}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_gazewire_status_lists_agents_and_exits_by_their_state(broker, start_agent, lab_devices):
    session = "lab-status-" + uuid.uuid4().hex[:6]
    agent = start_agent("--session", session, "--frequency", "250")
    watch_state(broker, lab_devices, session, "tracking")

    result = run("status", "--broker", f"{broker.host}:{broker.port}")
    assert result.returncode == 0, result.stdout + result.stderr
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == ["SESSION", "STATE", "TRACKER", "RATE", "SAMPLES", "DROPPED", "OUTBOX", "SINCE"]
    assert row.startswith(session) and "tracking" in row and "250 Hz" in row
    agent.process.send_signal(signal.SIGKILL)
    agent.process.wait(10)
    watch_state(broker, lab_devices, session, "offline")
    result = run("status", "--broker", f"{broker.host}:{broker.port}")
    assert result.returncode == 1 and "(last will)" in result.stdout


def test_status_json_is_what_the_agents_and_processors_published(broker):
    tracking = build_status(
        session="room1", state="tracking", run="r1", reason=None, publish_hz=30.0,
        tracker=TrackerInfo(model="Tobii Pro Spectrum", serial="TPSP1-0102", frequency_hz=1200.0, source="tobii"),
        display_area=None, clock=None, counters=AgentCounters(samples_in=9120044), warnings=["clock offset stale"],
    ).to_json()
    gone = last_will("room2", "r2").to_json()
    processor = ProcessorStatus(processor="main", state="offline", utc=None, version="0.1.0", host="server").to_json()
    publish_retained(broker, {
        "lab/room1/status": tracking, "lab/room2/status": gone, "lab/_sys/processor/main/status": processor,
        "other/room3/status": tracking,  # another prefix: not this deployment
    })

    result = run("status", "--json", "--broker", f"{broker.host}:{broker.port}")
    assert result.returncode == 1, result.stderr  # room2 is offline
    printed = json.loads(result.stdout)
    assert printed == {
        "agents": {"room1": json.loads(tracking), "room2": json.loads(gone)},
        "processors": {"main": json.loads(processor)},
    }

    table = run("status", "--broker", f"{broker.host}:{broker.port}").stdout.splitlines()
    assert table[1].split()[:6] == ["room1", "tracking", "Tobii", "Pro", "Spectrum", "TPSP1-0102"]
    assert "1200 Hz" in table[1] and "9120044" in table[1]
    assert table[2].split()[:3] == ["room2", "offline", "-"] and table[2].endswith("(last will)")
    assert table[3:] == ["processor main: offline, 0 sessions, sink - -", "warning room1: clock offset stale"]


def test_status_names_an_unreadable_status(broker):
    publish_retained(broker, {"lab/room1/status": b"not json"})
    result = run("status", "--broker", f"{broker.host}:{broker.port}")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("no agent status on this broker")
    assert lines[1].startswith("unreadable status on lab/room1/status: ")


def test_send_and_status_without_a_broker_say_so_in_one_line():
    where = f"127.0.0.1:{free_port()}"
    for command in (["send", "room1", "ping"], ["status"]):
        result = run(*command, "--broker", where, "--timeout", "1")
        assert result.returncode == 1
        assert result.stderr.strip() == f"gazewire: no connection to the broker at {where} within 1 s", result.stderr


def test_send_and_status_refused_by_the_broker_say_so_in_one_line(tmp_path):
    broker = MosquittoBroker(tmp_path / "mosquitto", users={"alice": "right-password"})
    broker.start()
    try:
        where = f"{broker.host}:{broker.port}"
        for command in (["send", "room1", "ping"], ["status"]):
            # No password given: a refused login is a setting to fix (exit 2), and the line says so.
            result = run(*command, "--broker", where, "--username", "alice")
            assert result.returncode == 2
            assert result.stderr.splitlines() == [
                f"gazewire: broker {where} refused user 'alice': Not authorized "
                "(no password was given: GAZEWIRE_MQTT__PASSWORD sets it)"
            ], result.stderr
    finally:
        broker.kill()


def test_status_prune_clears_offline_and_stale_statuses_and_status_exits_0_again(broker):
    """Issue 9, item 11: gazewire status listed every session ever seen and exited 1 for the old
    offline ones, which broke its use as a monitoring check."""
    from gazewire.wire.timeutil import iso_from_utc_us, utc_now_us

    def status(session: str, state: str, age_s: float = 0.0) -> bytes:
        made = build_status(
            session=session, state=state, run="r", reason=None, publish_hz=30.0, tracker=None, display_area=None,
            clock=None, counters=AgentCounters(), warnings=[], status_interval_s=5.0,
        )
        made.utc = iso_from_utc_us(utc_now_us() - int(age_s * 1e6))
        return made.to_json()

    old_processor = ProcessorStatus(processor="old", state="offline", utc=None, version="0.1.0", host="h").to_json()
    publish_retained(broker, {
        "lab/room1/status": status("room1", "tracking"),
        "lab/room2/status": last_will("room2", "r2").to_json(),
        "lab/room3/status": status("room3", "tracking", age_s=3 * 3600),  # killed while the broker was down
        "lab/room4/status": status("room4", "offline", age_s=9 * 86_400),
        "lab/_sys/processor/old/status": old_processor,
    })
    where = ("--broker", f"{broker.host}:{broker.port}")
    before = run("status", *where)
    assert before.returncode == 1
    assert [line for line in before.stdout.splitlines() if line.startswith("room3")][0].endswith("min ago (stale)")

    unconfirmed = subprocess.run(gazewire_command("status", "--prune", *where), capture_output=True, text=True,
                                 cwd=REPO, timeout=60, stdin=subprocess.DEVNULL)
    assert unconfirmed.returncode == 2 and "Traceback" not in unconfirmed.stderr
    assert unconfirmed.stderr.splitlines() == [
        "gazewire: --prune: confirm with --yes (there is no terminal to ask at); nothing was cleared"]

    pruned = run("status", "--prune", "--yes", *where)
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.splitlines() == [
        "session room2: offline (last will)",
        "session room3: says tracking, but not refreshed for 3 h",
        "session room4: offline for 9 days",
        "processor old: offline (last will)",
        "cleared 4 retained statuses",
    ]
    after = run("status", "--json", *where)
    assert after.returncode == 0, after.stdout
    assert list(json.loads(after.stdout)["agents"]) == ["room1"] and json.loads(after.stdout)["processors"] == {}
    assert run("status", "--prune", "--yes", *where).stdout.startswith("nothing to prune")
