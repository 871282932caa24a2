"""Commands from anyone on the broker: every one answered, bad ones refused
with a reply that names the problem and the command, counted in status, and
logged at most once a minute."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest

from gazewire.agent.commands import handle_command
from gazewire.agent.recordings import CommandRefused
from gazewire.logs import RateLimitedLog
from gazewire.wire.messages import AgentStatus, CommandReply, Marker
from gazewire.wire.timeutil import iso_from_utc_us
from tests.support.lab_device import LabDevice


class Controller:
    session = "P01"
    state = "tracking"

    def __init__(self) -> None:
        self.markers: list[tuple[str, int | None]] = []

    def start_recording(self, name=None, participant=None, metadata=None) -> dict[str, Any]:
        raise RuntimeError("the tracker source cannot start")

    def stop_recording(self, recording=None) -> dict[str, Any]:
        raise CommandRefused("no recording is running", code="not_recording")

    def annotate_recording(self, metadata, recording=None) -> dict[str, Any]:
        return {"recording": recording, "metadata": metadata}

    def add_marker(self, name: str, utc_ns: int | None, source: str = "command") -> Marker:
        self.markers.append((name, utc_ns))
        return Marker(session=self.session, name=name, utc="x", utc_ns=utc_ns or 0)

    def ping_result(self) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize(
    "payload, command, request_id, error",
    [
        ({"id": "m1", "command": "marker"}, "marker", "m1", "marker needs a 'name'"),
        ({"id": "m2", "command": "marker", "name": "a", "utc_ns": 1}, "marker", "m2", "utc_ns: "),
        ({"id": "m3", "command": "marker", "name": "a", "utc_ns": 1e30}, "marker", "m3", "utc_ns: "),
        ({"id": "p1", "command": "ping", "name": "x"}, "ping", "p1", "takes no"),
        ({"id": "x1", "command": "explode"}, None, "x1", "command: Input should be"),
        ({"id": 7, "command": ["marker"]}, None, None, "id: Input should be"),
        ("not json", None, None, "Invalid JSON"),
    ],
)
def test_an_error_reply_names_the_command_when_that_much_was_clear(payload, command, request_id, error):
    controller = Controller()
    raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    reply = handle_command(raw, controller)
    assert not reply.ok and reply.error is not None and error in reply.error
    assert (reply.command, reply.id) == (command, request_id)
    assert controller.markers == [], "a refused marker is not recorded"


def test_a_failing_command_is_answered_with_its_name():
    reply = handle_command(b'{"id": "s1", "command": "start"}', Controller())
    assert (reply.ok, reply.command, reply.id) == (False, "start", "s1")
    assert reply.error == "start failed: the tracker source cannot start"
    assert reply.code == "failed"


def test_a_refused_command_says_why_after_its_name():
    reply = handle_command(b'{"id": "s2", "command": "stop"}', Controller())
    assert (reply.ok, reply.command, reply.id, reply.error) == (False, "stop", "s2", "stop: no recording is running")
    assert reply.code == "not_recording"


@pytest.mark.parametrize("payload", [b"garbage", b'{"command": "x"}', b'{"command": "marker"}'])
def test_an_invalid_command_has_the_code_for_programs(payload):
    assert handle_command(payload, Controller()).code == "invalid_command"


def test_a_command_carried_out_has_no_code():
    reply = handle_command(b'{"command": "ping"}', Controller())
    assert reply.ok and reply.code is None


@pytest.mark.parametrize("payload", [b'{"command": "ping"}', b'{"command": "stop"}', b"garbage", b'{"command": "x"}'])
def test_every_reply_carries_the_agents_clock_when_the_command_arrived_and_when_it_was_answered(payload):
    reply = handle_command(payload, Controller(), received_utc_ns=1_795_342_530_000_000_000)
    assert reply.received_utc_ns == 1_795_342_530_000_000_000
    assert reply.sent_utc_ns is not None and reply.sent_utc_ns > reply.received_utc_ns
    assert reply.utc == iso_from_utc_us(reply.sent_utc_ns // 1000), "utc is the send time too"


def test_refusals_are_logged_at_most_once_a_minute_saying_how_many_were_left_out(caplog):
    now = [0.0]
    logger = logging.getLogger("test.refusals")
    limited = RateLimitedLog(logger, interval_s=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.refusals"):
        for n in range(5000):
            now[0] = n * 0.01  # 5000 in 50 s
            limited.log(logging.WARNING, "command", "refused %d", n)
        now[0] = 61.0
        limited.log(logging.WARNING, "command", "refused %d", 5000)
        limited.log(logging.WARNING, "other", "another kind")
    assert [r.getMessage() for r in caplog.records] == [
        "refused 0",
        "refused 5000 (4999 more since the last report)",
        "another kind",
    ]


@pytest.mark.broker
def test_a_flood_of_bad_commands_is_answered_counted_and_not_logged_line_by_line(broker, start_agent, lab_devices):
    session = "flood-" + uuid.uuid4().hex[:6]
    operator = LabDevice(broker.host, broker.port, [f"lab/{session}/cmd/reply", f"lab/{session}/status"])
    lab_devices.append(operator)
    agent = start_agent("--session", session, "--set", "status_interval_s=0.5")
    operator.wait_for(lambda m: any(x.topic.endswith("/status") for x in m), what="agent online")
    total = 1000
    for n in range(total):
        bad = {"id": f"b{n}", "command": "marker", "name": "x", "utc_ns": [0, 1, 1e30, 1.5e18][n % 4]}
        operator.client.publish(f"lab/{session}/cmd", json.dumps(bad), qos=1)

    def replies(messages):
        found = [CommandReply.model_validate_json(m.payload) for m in messages if m.topic.endswith("/cmd/reply")]
        return found if len(found) >= total else None

    answered = operator.wait_for(replies, timeout_s=60, what=f"{total} replies")
    assert all(not r.ok and r.command == "marker" and "utc_ns" in (r.error or "") for r in answered)
    status = operator.wait_for(
        lambda m: [s for s in (AgentStatus.model_validate_json(x.payload) for x in m if x.topic.endswith("/status"))
                   if s.counters.commands_refused == total],
        timeout_s=30, what="commands_refused in status",
    )[-1]
    assert status.counters.markers == 0
    assert agent.terminate() == 0
    log = agent.log()
    assert "Traceback" not in log
    refused_lines = [line for line in log.splitlines() if "refused" in line and "command" in line]
    assert 1 <= len(refused_lines) <= 2, refused_lines
