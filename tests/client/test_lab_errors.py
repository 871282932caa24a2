"""Every way a client call can fail is one precise exception, against a real
Mosquitto: no broker, a refusing broker, a broker with no agent behind the
session, bad arguments (refused before anything is sent, which a lab device
watching every command topic confirms), a closed lab."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gazewire.client import AsyncLab, Lab
from gazewire.errors import (
    AgentNotResponding,
    BrokerRefused,
    BrokerUnreachable,
    ClientClosed,
    GazewireError,
    InvalidArgument,
    InvalidCommand,
    InvalidSessionId,
    UnknownSession,
    WaitTimeout,
)
from tests.support.lab_device import LabDevice
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port

pytestmark = pytest.mark.broker


def lab_on(broker, **options) -> Lab:
    return Lab(broker.host, broker.port, **options)


def test_no_broker_is_broker_unreachable_naming_where():
    port = free_port()
    with pytest.raises(BrokerUnreachable, match=rf"^no connection to the broker at 127.0.0.1:{port} within 1 s$"):
        Lab("127.0.0.1", port, timeout=1)


def test_a_refusing_broker_is_broker_refused_with_its_reason(tmp_path):
    broker = MosquittoBroker(tmp_path / "mosquitto", users={"alice": "right-password"})
    broker.start()
    try:
        with pytest.raises(BrokerRefused) as refused:
            lab_on(broker, username="alice", password="wrong-password")
    finally:
        broker.kill()
    assert refused.value.reason == "Not authorized" and refused.value.username == "alice"
    assert "wrong-password" not in str(refused.value)


def test_a_session_without_its_agent_is_agent_not_responding(broker):
    with lab_on(broker, timeout=0.5) as lab:
        room = lab.session("nobody-here")
        calls = {
            "start": lambda: room.start_recording(participant="P01"),
            "stop": lambda: room.stop_recording(),
            "marker": lambda: room.marker("stimulus_on"),
            "ping": lambda: room.clock_offset(),
            "annotate": lambda: room.annotate({"group": "control"}),
        }
        for command, call in calls.items():
            with pytest.raises(AgentNotResponding) as silent:
                call()
            assert (silent.value.session, silent.value.command, silent.value.timeout_s) == ("nobody-here", command, 0.5)
            assert isinstance(silent.value, TimeoutError)
        with pytest.raises(UnknownSession, match="no agent status for session 'nobody-here' under prefix 'lab'"):
            room.status()
        with pytest.raises(WaitTimeout, match=r"^session 'nobody-here' to be tracking: not within 0.2 s "
                                              r"\(no status from its agent\)$"):
            room.wait_for("tracking", timeout=0.2)
        pending = room.marker("later", wait=False, timeout=0.3)
        with pytest.raises(AgentNotResponding):
            pending.result(5)


def test_bad_arguments_are_refused_before_anything_is_sent(broker, lab_devices):
    watcher = LabDevice(broker.host, broker.port, ["lab/+/cmd"])
    lab_devices.append(watcher)
    with lab_on(broker, timeout=0.3) as lab:
        with pytest.raises(InvalidSessionId):
            lab.session("room 1")
        with pytest.raises(InvalidSessionId):
            lab.session("_sys")
        room = lab.session("room1")
        refused = [
            (lambda: room.start_recording(participant="P 07"), InvalidCommand, "participant: 'P 07' contains ' '"),
            (lambda: room.start_recording(name=""), InvalidCommand, "start: name: String should have at least 1"),
            (lambda: room.start_recording(metadata={f"k{i}": "v" for i in range(33)}), InvalidCommand,
             "has 33 keys; at most 32 allowed"),
            (lambda: room.start_recording(metadata={"notes": "x" * 9000}), InvalidCommand, "at most 1024"),
            (lambda: room.start_recording(metadata={"when": object()}), InvalidCommand, "give text or a number"),
            (lambda: room.stop_recording("not/an/id"), InvalidCommand, "stop: recording:"),
            (lambda: room.annotate({}), InvalidCommand, "annotate needs 'metadata'"),
            (lambda: room.marker(""), InvalidCommand, "marker: name"),
            (lambda: room.marker("x", utc_ns=5), InvalidCommand, "from 2000 to 2099"),
            (lambda: room.marker("x", utc_ns=1.7e18), InvalidCommand, "must be an integer"),
            (lambda: room.marker("x", trial=3), InvalidCommand, "carries no marker fields (trial)"),
            (lambda: room.clock_offset(probes=0), InvalidArgument, "probes must be a whole number"),
            (lambda: room.ping(timeout=-1), InvalidArgument, "timeout must be a positive number"),
            (lambda: room.wait_for("trackng"), InvalidArgument, "unknown agent state 'trackng'"),
            (lambda: room.gaze(buffer=0), InvalidArgument, "buffer must be a whole number"),
        ]
        for call, error, text in refused:
            with pytest.raises(error) as caught:
                call()
            assert text in str(caught.value), str(caught.value)
            assert isinstance(caught.value, ValueError) and isinstance(caught.value, GazewireError)
        # the only command that reached the broker is this good one
        with pytest.raises(AgentNotResponding):
            room.ping()
    watcher.wait_for(lambda messages: messages, what="the good ping")
    assert [m.json()["command"] for m in watcher.messages] == ["ping"]


def test_lab_arguments_are_checked():
    with pytest.raises(InvalidArgument, match="host: give a host name, not a URL"):
        Lab("mqtt://lab-server")
    with pytest.raises(InvalidArgument, match="timeout must be a positive number"):
        Lab("lab-server", timeout=0)
    with pytest.raises(InvalidArgument, match="username: a password is given without username"):
        Lab("lab-server", password="secret")


def test_a_closed_lab_says_so_and_ends_its_streams(broker):
    lab = lab_on(broker)
    gaze = lab.session("room1").gaze(timeout=5)
    lab.close()
    assert list(gaze) == []  # the iteration ends instead of waiting
    with pytest.raises(ClientClosed):
        lab.session("room1").ping()
    with pytest.raises(ClientClosed):
        lab.sessions()


def test_the_asyncio_client_fails_the_same_way(broker):
    async def scenario() -> None:
        port = free_port()
        with pytest.raises(BrokerUnreachable):
            await AsyncLab("127.0.0.1", port, timeout=0.5).connect()
        async with AsyncLab(broker.host, broker.port, timeout=0.3) as lab:
            room = lab.session("nobody-" + uuid.uuid4().hex[:4])
            with pytest.raises(AgentNotResponding):
                await room.start_recording(participant="P01")
            with pytest.raises(InvalidCommand):
                await room.start_recording(participant="P 01")
            with pytest.raises(UnknownSession):
                await room.status()
            with pytest.raises(WaitTimeout):
                await room.wait_for("tracking", timeout=0.2)
            with pytest.raises(WaitTimeout, match="gaze of session"):
                async with room.gaze(timeout=0.2) as gaze:
                    await gaze.get()

    asyncio.run(scenario())
