"""Remote commands: ``lab/<session>/cmd`` in, ``lab/<session>/cmd/reply`` out.

Pure dispatch: parse the payload, call the controller, build the reply. A
bad command gets an error reply that names the problem (and the command, when
that much was clear); nothing raises, nothing is logged here: anyone on the
broker can send commands, so the agent counts refusals and logs them
rate-limited.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Protocol, get_args

from gazewire.agent.recordings import CommandRefused
from gazewire.errors import InvalidCommand
from gazewire.wire.messages import CommandName, CommandReply, Marker, parse_command
from gazewire.wire.timeutil import iso_from_utc_us

log = logging.getLogger(__name__)


class Controller(Protocol):
    session: str

    @property
    def state(self) -> str: ...

    def start_recording(
        self, name: str | None = None, participant: str | None = None, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]: ...

    def stop_recording(self, recording: str | None = None) -> dict[str, Any]: ...

    def annotate_recording(self, metadata: dict[str, str], recording: str | None = None) -> dict[str, Any]: ...

    def add_marker(self, name: str, utc_ns: int | None, source: str = "command") -> Marker: ...

    def ping_result(self) -> dict[str, Any]: ...


def _request_fields(payload: bytes) -> tuple[str | None, str | None]:
    """The ``id`` and the ``command`` of a command we could not parse, where
    they are clear enough to echo in the reply."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    request_id = data.get("id")
    command = data.get("command")
    return (
        request_id if isinstance(request_id, str) and len(request_id) <= 64 else None,
        command if isinstance(command, str) and command in get_args(CommandName) else None,
    )


def handle_command(payload: bytes, controller: Controller, received_utc_ns: int | None = None) -> CommandReply:
    """Run one command and make its reply. ``received_utc_ns`` is when the command
    arrived (default: now); the reply's ``sent_utc_ns`` is taken as it is made."""
    if received_utc_ns is None:
        received_utc_ns = time.time_ns()

    def reply(**fields: Any) -> CommandReply:
        sent = time.time_ns()
        return CommandReply(
            session=controller.session, state=controller.state, utc=iso_from_utc_us(sent // 1000),  # type: ignore[arg-type]
            received_utc_ns=received_utc_ns, sent_utc_ns=sent, **fields,
        )

    try:
        command = parse_command(payload)
    except InvalidCommand as error:
        request_id, name = _request_fields(payload)
        return reply(id=request_id, command=name, ok=False, code="invalid_command", error=f"invalid command: {error}")
    result: dict[str, Any] | None = None
    try:
        if command.command == "start":
            result = controller.start_recording(command.name, command.participant, command.metadata)
        elif command.command == "stop":
            result = controller.stop_recording(command.recording)
        elif command.command == "annotate":
            result = controller.annotate_recording(command.metadata or {}, command.recording)
        elif command.command == "marker":
            marker = controller.add_marker(command.name or "", command.utc_ns)
            result = {
                "name": marker.name, "utc_ns": marker.utc_ns, "system_time_us": marker.system_time_us,
                "recording": marker.recording,
            }
        elif command.command == "ping":
            result = controller.ping_result()
    except CommandRefused as refusal:  # valid, but not now: say why
        return reply(
            id=command.id, command=command.command, ok=False, code=refusal.code, error=f"{command.command}: {refusal}",
            result={"recording": refusal.recording} if refusal.recording else None,
        )
    except Exception as error:  # the controller failed: report it (the agent logs it), keep running
        log.debug("command %s failed", command.command, exc_info=True)
        return reply(id=command.id, command=command.command, ok=False, code="failed", error=f"{command.command} failed: {error}")
    return reply(id=command.id, command=command.command, ok=True, result=result)
