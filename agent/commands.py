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
from typing import Any, Protocol, get_args

from gazewire.errors import InvalidCommand
from gazewire.wire.messages import CommandName, CommandReply, Marker, parse_command
from gazewire.wire.timeutil import iso_from_utc_us, utc_now_us

log = logging.getLogger(__name__)


class Controller(Protocol):
    session: str

    @property
    def state(self) -> str: ...

    def start_streaming(self) -> None: ...

    def stop_streaming(self) -> None: ...

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


def handle_command(payload: bytes, controller: Controller) -> CommandReply:
    now = iso_from_utc_us(utc_now_us())
    try:
        command = parse_command(payload)
    except InvalidCommand as error:
        request_id, name = _request_fields(payload)
        return CommandReply(
            session=controller.session, id=request_id, command=name, ok=False,
            error=f"invalid command: {error}", state=controller.state, utc=now,  # type: ignore[arg-type]
        )
    result: dict[str, Any] | None = None
    try:
        if command.command == "start":
            controller.start_streaming()
        elif command.command == "stop":
            controller.stop_streaming()
        elif command.command == "marker":
            marker = controller.add_marker(command.name or "", command.utc_ns)
            result = {"name": marker.name, "utc_ns": marker.utc_ns, "system_time_us": marker.system_time_us}
        elif command.command == "ping":
            result = controller.ping_result()
    except Exception as error:  # the controller failed: report it (the agent logs it), keep running
        log.debug("command %s failed", command.command, exc_info=True)
        return CommandReply(
            session=controller.session, id=command.id, command=command.command, ok=False,
            error=f"{command.command} failed: {error}", state=controller.state, utc=now,  # type: ignore[arg-type]
        )
    return CommandReply(
        session=controller.session, id=command.id, command=command.command, ok=True,
        state=controller.state, result=result, utc=now,  # type: ignore[arg-type]
    )
