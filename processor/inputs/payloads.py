"""Where messages enter: topic and payload to a checked wire model, or one
:class:`~gazewire.processor.inputs.bad_input.BadInput` naming the problem.

Checks, in order: the topic (a session topic on a channel the processor
reads), the session (allowed?), the payload size (before parsing anything),
the JSON and the model (protocol version, types, NaN/infinity), the payload's
session against the topic's, and integers that do not fit 64 bits. Sample
times and sequence numbers are checked later, per session
(:mod:`gazewire.processor.pipeline.sequence`), because they depend on what came before.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from pydantic import ValidationError

from gazewire.errors import InvalidTopic
from gazewire.wire.messages import (
    AgentStatus,
    GazeBatch,
    Marker,
    WireModel,
    describe_validation_error,
)
from gazewire.wire.topics import Channel, Topics
from gazewire.processor.inputs.bad_input import BadInput, BadInputKind

MODELS: dict[Channel, type[WireModel]] = {
    Channel.GAZE_BATCH: GazeBatch,
    Channel.STATUS: AgentStatus,
    Channel.EVENTS: Marker,
}
INTEGER_LIMIT = 2**62  # generous for µs clocks (146 000 years), and differences never overflow
INTEGER_COLUMNS = ("seq", "device_time_us", "system_time_us", "utc_us")


@dataclass(frozen=True, slots=True)
class Inbound:
    """A parsed, checked message of one session."""

    session: str
    channel: Channel
    message: GazeBatch | AgentStatus | Marker


def parse_inbound(
    topics: Topics,
    topic: str,
    payload: bytes,
    *,
    max_bytes: int,
    allowed_sessions: Collection[str] = (),
) -> Inbound:
    """Parse one message; raise BadInput (with its kind and, when known, its session)."""
    try:
        session, channel = topics.parse(topic)
    except InvalidTopic as error:
        raise BadInput(BadInputKind.TOPIC, str(error)) from None
    model = MODELS.get(channel)
    if model is None:
        raise BadInput(BadInputKind.TOPIC, f"the processor does not read channel {channel.value!r}", session)
    if allowed_sessions and session not in allowed_sessions:
        raise BadInput(BadInputKind.UNKNOWN_SESSION, f"session {session!r} is not in the configured sessions", session)
    if len(payload) > max_bytes:
        raise BadInput(
            BadInputKind.TOO_LARGE,
            f"payload of {len(payload)} bytes is over the limit of {max_bytes} (max_payload_kb); not read",
            session,
        )
    message = _validate(model, payload, session)
    if message.session != session:
        raise BadInput(
            BadInputKind.SESSION_MISMATCH,
            f"payload says session {message.session!r}, the topic {session!r}",
            session,
        )
    if isinstance(message, GazeBatch):
        _check_batch_integers(message, session)
    elif isinstance(message, Marker):
        _check_integer("utc_ns", message.utc_ns, session)
    return Inbound(session, channel, message)


def _validate(model: type[WireModel], payload: bytes, session: str) -> WireModel:
    try:
        return model.model_validate_json(payload)
    except ValidationError as error:
        raise BadInput(_kind(error), describe_validation_error(error), session) from None
    except (ValueError, RecursionError) as error:  # pydantic-core limits (e.g. nesting depth)
        raise BadInput(BadInputKind.JSON, f"payload cannot be parsed: {error}", session) from None


def _kind(error: ValidationError) -> BadInputKind:
    problems = error.errors()
    if any(p.get("loc", ())[:1] == ("v",) for p in problems):
        return BadInputKind.VERSION  # another version's fields are meaningless to v1: say so first
    first = problems[0]
    kind = first["type"]
    location = first.get("loc", ())
    if kind == "json_invalid":
        return BadInputKind.JSON
    if kind == "finite_number":
        return BadInputKind.NON_FINITE
    if location[:1] == ("count",) and kind == "less_than_equal":
        return BadInputKind.TOO_LARGE
    return BadInputKind.SCHEMA


def _check_batch_integers(batch: GazeBatch, session: str) -> None:
    for name in ("batch_seq", "first_seq", "clock_offset_us"):
        _check_integer(name, getattr(batch, name), session)
    for name in INTEGER_COLUMNS:
        column = getattr(batch.columns, name)
        if column and (max(column) > INTEGER_LIMIT or min(column) < -INTEGER_LIMIT):
            raise BadInput(BadInputKind.OUT_OF_RANGE, f"columns.{name}: a value is out of range (|value| > 2**62)", session)
    if batch.sample_rate_hz is not None and not 0 < batch.sample_rate_hz <= 100_000:
        raise BadInput(BadInputKind.OUT_OF_RANGE, f"sample_rate_hz {batch.sample_rate_hz!r} is not a tracker rate", session)


def _check_integer(name: str, value: int, session: str) -> None:
    if not -INTEGER_LIMIT <= value <= INTEGER_LIMIT:
        raise BadInput(BadInputKind.OUT_OF_RANGE, f"{name}: {value} is out of range (|value| > 2**62)", session)
