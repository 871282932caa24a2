"""Retained statuses do not live forever, a broker stall is no agent loss, and a status
nobody refreshes any more raises agent_silent - all against a real Mosquitto (issue 9, item 11)."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gazewire.client.statuses import read_statuses
from gazewire.mqtt import MqttSettings, status_lifetime_s
from gazewire.wire.messages import AgentStatus
from gazewire.wire.topics import Topics

pytestmark = pytest.mark.broker


class V5Watcher:
    """An MQTT 5 subscriber that keeps every message with its message expiry interval."""

    def __init__(self, broker, topics: list[str]) -> None:
        self.messages: list[tuple[str, bytes, bool, int | None]] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10)

    def _on_message(self, client, userdata, message) -> None:
        expiry = getattr(message.properties, "MessageExpiryInterval", None) if message.properties else None
        with self._changed:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain), expiry))
            self._changed.notify_all()

    def statuses(self) -> list[tuple[AgentStatus, int | None]]:
        with self._changed:
            return [(AgentStatus.model_validate_json(p), e) for t, p, _, e in self.messages if t.endswith("/status") and p]

    def wait_for(self, predicate, timeout_s: float = 30.0, what: str = ""):
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                with_lock_released = list(self.messages)
                found = predicate([(AgentStatus.model_validate_json(p), e) for t, p, _, e in with_lock_released
                                   if t.endswith("/status") and p])
                if found:
                    return found
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"timed out waiting for {what}: {[m[:1] for m in self.messages]}"
                self._changed.wait(remaining)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def listed_sessions(broker) -> set[str]:
    """The sessions `gazewire status` would list: the retained agent statuses."""
    return set(read_statuses(MqttSettings(host=broker.host, port=broker.port), Topics("lab"), timeout_s=10).agents)


def test_retained_statuses_expire_the_offline_ones_after_offline_status_expiry_s(broker, start_inprocess_agent):
    session = "expiry-" + uuid.uuid4().hex[:6]
    watcher = V5Watcher(broker, [f"lab/{session}/status"])
    try:
        agent = start_inprocess_agent(session, mqtt={"offline_status_expiry_s": 3})
        live = watcher.wait_for(lambda found: [(s, e) for s, e in found if s.state in ("online", "tracking")],
                                what="a live status")[0]
        assert live[0].status_interval_s == 5.0
        assert live[1] is not None and 0 < live[1] <= status_lifetime_s(5.0) == 60
        agent.stop()
        offline = watcher.wait_for(lambda found: [(s, e) for s, e in found if s.state == "offline"],
                                   what="the clean offline status")[0]
        assert offline[1] is not None and 0 < offline[1] <= 3
    finally:
        watcher.close()
    deadline = time.monotonic() + 30
    while session in listed_sessions(broker):  # before: listed for ever, and gazewire status exits 1
        assert time.monotonic() < deadline, "the offline status never expired"


def test_the_last_will_carries_its_expiry_and_waits_for_the_will_delay(broker, start_agent):
    session = "will-" + uuid.uuid4().hex[:6]
    watcher = V5Watcher(broker, [f"lab/{session}/status"])
    try:
        agent = start_agent("--session", session, GAZEWIRE_MQTT__OFFLINE_STATUS_EXPIRY_S="600")
        watcher.wait_for(lambda found: [s for s, _ in found if s.state == "tracking"], what="tracking")
        agent.kill()
        will = watcher.wait_for(lambda found: [(s, e) for s, e in found if s.state == "offline"], what="the will")[0]
        assert will[0].utc is None and will[1] is not None and 0 < will[1] <= 600
    finally:
        watcher.close()


def test_a_stalled_broker_fires_no_last_will_and_no_agent_offline(broker, start_inprocess_agent, start_processor):
    """SIGSTOP the broker until the agent gives its connection up, then SIGCONT: the agent is
    back within the will delay, so the broker publishes no offline status and the processor
    raises no agent_offline (before: a spurious last will and a critical agent_offline)."""
    session = "stall-" + uuid.uuid4().hex[:6]
    runner = start_processor(mqtt={"keepalive_s": 60})
    watcher = V5Watcher(broker, [f"lab/{session}/status"])
    try:
        agent = start_inprocess_agent(session, mqtt={"keepalive_s": 5})
        runner.wait_for(lambda: runner.processor.dispatcher.sessions.get(session) is not None
                        and runner.processor.dispatcher.sessions[session].agent_state == "tracking",
                        what="the agent tracking")
        broker.process.send_signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 60
            while agent.agent.link.connected.is_set():  # paho gives up after its keepalive
                assert time.monotonic() < deadline, "the agent never noticed the stalled broker"
                time.sleep(0.05)
        finally:
            broker.process.send_signal(signal.SIGCONT)
        before = len(watcher.statuses())
        watcher.wait_for(lambda found: found[before:] and [s for s, _ in found[before:] if s.state == "tracking"],
                         what="the agent's status after the stall")
        assert [s.state for s, _ in watcher.statuses()].count("offline") == 0
        runner.wait_for(lambda: runner.processor.dispatcher.sessions[session].counters.statuses >= 3,
                        what="the processor seeing the agent again")
        assert not [a for a in runner.of("alerts") if a.type == "agent_offline"]
    finally:
        watcher.close()


def test_a_tracking_status_left_by_an_agent_killed_while_the_broker_was_down_raises_agent_silent(
    broker, start_agent, start_processor, monkeypatch
):
    import gazewire.processor.runtime as runtime

    monkeypatch.setattr(runtime, "HOUSEKEEPING_INTERVAL_S", 0.5)
    session = "silent-" + uuid.uuid4().hex[:6]
    runner = start_processor(alerts={"agent_silent_s": 10})
    agent = start_agent("--session", session, GAZEWIRE_STATUS_INTERVAL_S="1")
    runner.wait_for(lambda: runner.processor.dispatcher.sessions.get(session) is not None
                    and runner.processor.dispatcher.sessions[session].agent_state == "tracking",
                    what="the agent tracking")
    # The broker crashes (after saving its retained messages, as its autosave does), the agent
    # is killed while it is down, the broker comes back: 'tracking' retained, and no will ever.
    # (A clean stop would send the agent's will on the way down.)
    broker.process.send_signal(signal.SIGUSR1)  # Mosquitto: write the persistence database now
    deadline = time.monotonic() + 30
    while "Saving in-memory database" not in broker.log():
        assert time.monotonic() < deadline, "the broker did not save its database"
        time.sleep(0.05)
    broker.kill()
    agent.kill()
    broker.start()
    raised = runner.wait_for(
        lambda: [a for a in runner.of("alerts") if a.type == "agent_silent" and a.session == session],
        timeout_s=60, what="agent_silent",
    )
    assert raised[0].state == "raised" and raised[0].details["state"] == "tracking"
    assert not [a for a in runner.of("alerts") if a.type == "agent_offline" and a.session == session]
