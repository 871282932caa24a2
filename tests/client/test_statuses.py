"""gazewire.client.statuses: the one reader of the retained statuses, against
a real Mosquitto that keeps them."""

from __future__ import annotations

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gazewire.client.statuses import parse_status, read_statuses
from gazewire.errors import BrokerRefused, BrokerUnreachable, InvalidPayload, InvalidTopic
from gazewire.mqtt import MqttSettings
from gazewire.wire.messages import AgentStatus, ProcessorStatus
from gazewire.wire.topics import StatusTopic, Topics
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port

pytestmark = pytest.mark.broker

LAB = Topics("lab")


def agent_status(session: str, state: str = "tracking") -> bytes:
    return AgentStatus(session=session, state=state, utc=None, agent_version="0.1.0", host="pc").to_json()


def processor_status(processor: str, state: str = "online") -> bytes:
    return ProcessorStatus(processor=processor, state=state, utc=None, version="0.1.0", host="server").to_json()


def publish_retained(broker, messages: dict[str, bytes]) -> None:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in messages.items():
            client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def mqtt_of(broker, **changes) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, **changes)


def test_reads_every_status_the_broker_keeps_parsed_and_by_name(broker):
    publish_retained(broker, {
        "lab/room1/status": agent_status("room1"),
        "lab/room2/status": agent_status("room2", "offline"),
        "lab/_sys/processor/main/status": processor_status("main"),
        "lab/_sys/processor/spare/status": processor_status("spare", "offline"),
        "lab/room3/status": b'{"v": 1, "session": "room3"}',  # not a valid status
        "lab/room1/gaze": b"{}",  # not a status
        "other/room4/status": agent_status("room4"),  # another deployment's prefix
    })
    statuses = read_statuses(mqtt_of(broker), LAB)
    assert {name: s.state for name, s in statuses.agents.items()} == {"room1": "tracking", "room2": "offline"}
    assert {name: s.state for name, s in statuses.processors.items()} == {"main": "online", "spare": "offline"}
    assert list(statuses.unreadable) == ["lab/room3/status"]
    assert statuses.unreadable["lab/room3/status"].startswith("state: Field required")


def test_reads_only_the_processors_asked_for(broker):
    publish_retained(broker, {
        "lab/room1/status": agent_status("room1"),
        "lab/_sys/processor/main/status": processor_status("main"),
        "lab/_sys/processor/spare/status": processor_status("spare"),
    })
    statuses = read_statuses(mqtt_of(broker), LAB, agents=False, processor_ids=["main"])
    assert list(statuses.processors) == ["main"] and statuses.agents == {}


def test_a_broker_without_statuses_gives_an_empty_answer(broker):
    statuses = read_statuses(mqtt_of(broker), LAB, processor_ids=["main"], grace_s=0.2)
    assert (statuses.agents, statuses.processors, statuses.unreadable) == ({}, {}, {})


def test_another_prefix_reads_its_own_deployment(broker):
    publish_retained(broker, {"lab/room-2/s1/status": agent_status("s1"), "lab/s2/status": agent_status("s2")})
    statuses = read_statuses(mqtt_of(broker), Topics("lab/room-2"))
    assert list(statuses.agents) == ["s1"]


def test_a_broker_that_is_not_there_is_named(tmp_path):
    port = free_port()
    with pytest.raises(BrokerUnreachable, match=rf"^no connection to the broker at 127.0.0.1:{port} within 1 s$"):
        read_statuses(MqttSettings(host="127.0.0.1", port=port), LAB, timeout_s=1)


def test_a_refusal_is_named_with_the_brokers_reason(tmp_path):
    broker = MosquittoBroker(tmp_path / "mosquitto", users={"alice": "right-password"})
    broker.start()
    try:
        with pytest.raises(BrokerRefused) as refused:
            read_statuses(mqtt_of(broker, username="alice", password="wrong-password"), LAB, timeout_s=5)
    finally:
        broker.kill()
    assert refused.value.reason == "Not authorized" and refused.value.username == "alice"
    assert str(refused.value) == (
        f"broker {broker.host}:{broker.port} refused user 'alice': Not authorized (check the user name and its password)"
    )


def test_parse_status_says_whose_status_it_is():
    source, status = parse_status(LAB, "lab/room1/status", agent_status("room1"))
    assert source == StatusTopic("agent", "room1") and isinstance(status, AgentStatus)
    source, status = parse_status(LAB, "lab/_sys/processor/main/status", processor_status("main"))
    assert source == StatusTopic("processor", "main") and isinstance(status, ProcessorStatus)
    with pytest.raises(InvalidTopic):
        parse_status(LAB, "lab/room1/gaze", b"{}")
    with pytest.raises(InvalidPayload, match="^payload: Invalid JSON"):
        parse_status(LAB, "lab/room1/status", b"not json")


def test_asking_for_nothing_needs_no_broker():
    nowhere = MqttSettings(host="127.0.0.1", port=free_port())
    statuses = read_statuses(nowhere, LAB, agents=False, processor_ids=[], timeout_s=1)
    assert (statuses.agents, statuses.processors, statuses.unreadable) == ({}, {}, {})
