"""Commands to an agent and what its replies mean: pure, no I/O.

:func:`build_command` checks a command against the wire contract before
anything is sent (a bad participant id, too much metadata, a marker without
a name: :class:`~gazewire.errors.InvalidCommand`, a ValueError).
:func:`result_of` turns a reply into its ``result`` or into the one precise
exception that says why the agent refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, get_args

from gazewire.client.clock import ClockOffset, Probe, best_offset
from gazewire.client.info import Recording
from gazewire.errors import (
    AlreadyRecording,
    ClockSyncFailed,
    CommandRefused,
    InvalidArgument,
    InvalidCommand,
    NotRecording,
    UnsupportedByAgent,
)
from gazewire.wire.messages import (
    COMMAND_FIELDS,
    AgentState,
    Command,
    CommandReply,
    Marker,
    describe_validation_error,
)
from gazewire.wire.timeutil import iso_from_utc_us

AGENT_STATES = frozenset(get_args(AgentState))

def new_command_id() -> str:
    """A fresh command id, echoed in the reply (unique among every client of the broker)."""
    return uuid.uuid4().hex[:16]


def build_command(command: str, **fields: Any) -> Command:
    """The command as the contract defines it, with a fresh ``id``; fields
    that are None are left out. InvalidCommand names the first problem."""
    from pydantic import ValidationError

    payload = {"id": new_command_id(), "command": command, **{k: v for k, v in fields.items() if v is not None}}
    try:
        return Command.model_validate(payload)
    except ValidationError as error:
        raise InvalidCommand(f"{command}: {describe_validation_error(error)}") from None


def result_of(session: str, reply: CommandReply) -> dict[str, Any]:
    """The reply's ``result`` (``{}`` when it has none); for ``ok: false`` the
    exception that says why: AlreadyRecording, NotRecording, or CommandRefused."""
    if reply.ok:
        return dict(reply.result or {})
    command = reply.command or "command"
    reason = reply.error or "refused without a reason"
    refusal, running = refusal_of(command, reason, code=reply.code, result=reply.result)
    if refusal is AlreadyRecording:
        raise AlreadyRecording(session, command, reason, recording=running)
    raise refusal(session, command, reason)


def refusal_of(
    command: str, error: str, *, code: str | None = None, result: Mapping[str, Any] | None = None
) -> tuple[type[CommandRefused], str | None]:
    """Which refusal a reply is, and the running recording it names.

    By the reply's ``code`` (``already_recording``, ``not_recording``; the
    running recording in ``result.recording``). Agents older than ``code``
    are read by their error text, as docs/protocol.md lists it ("Refusals a
    script should expect"): ``start: recording <id> (...) is running; stop it
    first``, ``stop: no recording is running``, ``stop: recording <X> is not
    running (<Y> is)``.
    """
    if code is not None:
        running = (result or {}).get("recording")
        running = running if isinstance(running, str) else None
        if code == "already_recording":
            return AlreadyRecording, running
        if code == "not_recording":
            return NotRecording, None
        return CommandRefused, None
    words = error.split()
    if command == "start" and error.startswith("start: recording ") and " is running" in error:
        return AlreadyRecording, words[2] if len(words) > 2 else None
    if command in ("stop", "annotate") and (
        error.startswith(f"{command}: no recording is running") or
        (error.startswith(f"{command}: recording ") and " is not running" in error)
    ):
        return NotRecording, None
    return CommandRefused, None


# --------------------------------------------------------------------------- the verbs, both clients


def start_command(name: str | None, participant: str | None, metadata: Mapping[str, Any] | None) -> Command:
    return build_command("start", name=name, participant=participant, metadata=fields_of(metadata or {}) or None)


def stop_command(recording: str | None) -> Command:
    return build_command("stop", recording=recording)


def annotate_command(metadata: Mapping[str, Any], recording: str | None) -> Command:
    return build_command("annotate", metadata=fields_of(metadata), recording=recording)


def marker_command(name: str, utc_ns: int, fields: Mapping[str, Any]) -> Command:
    if fields and "metadata" not in COMMAND_FIELDS["marker"]:
        raise InvalidCommand(
            f"marker: this version of the wire contract carries no marker fields ({', '.join(fields)}); "
            "put what must be kept in the name, e.g. 'stimulus_on/trial=3'"
        )
    return build_command("marker", name=name, utc_ns=utc_ns, metadata=fields_of(fields) or None)


def fields_of(values: Mapping[str, Any]) -> dict[str, str]:
    """Metadata as the contract carries it: text values (numbers and truth
    values become their text; anything else is refused)."""
    text: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, str):
            text[key] = value
        elif isinstance(value, (bool, int, float)):
            text[key] = str(value)
        else:
            raise InvalidCommand(f"metadata {key!r}: give text or a number, not {type(value).__name__}")
    return text


def recording_of(session: str, reply: CommandReply, command: Command | None = None) -> Recording:
    """The recording a ``start``, ``stop`` or ``annotate`` reply names; what
    the reply leaves out (the metadata a ``start`` sent) comes from ``command``."""
    result = result_of(session, reply)
    if not isinstance(result.get("recording"), str):
        raise UnsupportedByAgent(session, "recordings", (reply.result or {}).get("agent_version"))
    if command is not None and command.command == "start" and "metadata" not in result:
        result["metadata"] = command.metadata or {}
    return Recording.from_result(session, result)


def marker_of(session: str, reply: CommandReply) -> Marker:
    """The marker as the agent took it, from a ``marker`` reply."""
    result = result_of(session, reply)
    utc_ns = int(result["utc_ns"])
    return Marker.model_validate({
        "session": session, "name": result["name"], "utc": iso_from_utc_us(utc_ns // 1000), "utc_ns": utc_ns,
        "system_time_us": result.get("system_time_us"), "recording": result.get("recording"),
    })


def probe_of(session: str, sent_ns: int, reply: CommandReply, received_ns: int) -> Probe:
    """One clock probe from a ``ping`` and its reply."""
    result_of(session, reply)
    if reply.received_utc_ns is None or reply.sent_utc_ns is None:
        version = (reply.result or {}).get("agent_version")
        raise UnsupportedByAgent(session, "clock offsets (ping replies without their times)", version)
    return Probe(sent_ns, reply.received_utc_ns, reply.sent_utc_ns, received_ns)


def offset_of(session: str, probes: list[Probe]) -> ClockOffset:
    try:
        return best_offset(probes)
    except ValueError as error:
        raise ClockSyncFailed(f"session {session!r}: {error}") from None


def check_probes(probes: int) -> None:
    if not isinstance(probes, int) or probes < 1:
        raise InvalidArgument(f"probes must be a whole number of at least 1, got {probes!r}")


def check_states(state: str | Iterable[str] | None) -> frozenset[str] | None:
    """The states ``wait_for`` may wait for (a typo is refused, not waited on for ever)."""
    if state is None:
        return None
    states = frozenset([state] if isinstance(state, str) else state)
    unknown = sorted(states - AGENT_STATES)
    if unknown or not states:
        raise InvalidArgument(f"unknown agent state {unknown[0] if unknown else ''!r}; "
                              f"known: {', '.join(sorted(AGENT_STATES))}")
    return states
