"""Remote commands: ``lab/<session>/cmd`` in, ``lab/<session>/cmd/reply`` out.

Pure dispatch: parse the payload, call the controller, build the reply. A
bad command gets an error reply that names the problem; nothing raises.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from gazewire.errors import InvalidCommand
from gazewire.wire.messages import CommandReply, Marker, parse_command
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


def _request_id(payload: bytes) -> str | None:
    """The ``id`` of a command we could not parse, if there is one to echo."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict) and isinstance(data.get("id"), str) and len(data["id"]) <= 64:
        return data["id"]
    return None


def handle_command(payload: bytes, controller: Controller) -> CommandReply:
    now = iso_from_utc_us(utc_now_us())
    try:
        command = parse_command(payload)
    except InvalidCommand as error:
        log.warning("refused command: %s", error)
        return CommandReply(
            session=controller.session, id=_request_id(payload), ok=False,
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
    except Exception as error:  # the controller failed: report it, keep running
        log.exception("command %s failed", command.command)
        return CommandReply(
            session=controller.session, id=command.id, command=command.command, ok=False,
            error=f"{command.command} failed: {error}", state=controller.state, utc=now,  # type: ignore[arg-type]
        )
    return CommandReply(
        session=controller.session, id=command.id, command=command.command, ok=True,
        state=controller.state, result=result, utc=now,  # type: ignore[arg-type]
    )
