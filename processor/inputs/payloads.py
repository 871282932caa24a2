"""Where messages enter: topic and payload to a checked wire model, or one
:class:`~gazewire.processor.pipeline.bad_input.BadInput` naming the problem.

In order: the topic (a session topic on a channel the processor reads), the
session (allowed?), the payload size (before parsing anything), the JSON and
the wire model (protocol version, types, NaN/infinity, column lengths), the
payload's session against the topic's, then the stateless checks of
:mod:`gazewire.processor.inputs.checks`. What depends on earlier messages is
checked later, per session, in the core.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from pydantic import ValidationError

from gazewire.errors import InvalidTopic
from gazewire.wire.messages import (
    AgentStatus,
    GazeBatch,
    Marker,
    WireModel,
    describe_validation_error,
)
from gazewire.wire.sessions import parse_shard, session_shard
from gazewire.wire.timeutil import utc_now_us
from gazewire.wire.topics import Channel, Topics
from gazewire.processor.inputs.checks import RangedGazeBatch, check_message
from gazewire.processor.pipeline.bad_input import BadInput, BadInputKind
from gazewire.processor.pipeline.dispatch import Inbound, OtherShard

MODELS: dict[Channel, type[WireModel]] = {
    Channel.GAZE_BATCH: GazeBatch,
    Channel.STATUS: AgentStatus,
    Channel.EVENTS: Marker,
}


class PayloadParser:
    """Parses and checks one message at a time: the ``parse`` of the
    :class:`~gazewire.processor.pipeline.dispatch.Dispatcher`."""

    def __init__(
        self,
        topics: Topics,
        *,
        max_bytes: int,
        allowed_sessions: Collection[str] = (),
        utc_us: Callable[[], int] = utc_now_us,
        shard: str | None = None,
    ) -> None:
        self.topics = topics
        self.max_bytes = max_bytes
        self.allowed_sessions = frozenset(allowed_sessions)
        self._utc_us = utc_us  # the processor's clock: no time may be far ahead of it
        self.shard = parse_shard(shard) if shard else None  # (k, n): only the sessions of shard k

    def __call__(self, topic: str, payload: bytes) -> Inbound:
        """Parse one message; raise BadInput (with its kind and, when known, its session)."""
        try:
            session, channel = self.topics.parse(topic)
        except InvalidTopic as error:
            raise BadInput(BadInputKind.TOPIC, str(error)) from None
        if self.shard is not None and session_shard(session, self.shard[1]) != self.shard[0]:
            raise OtherShard(session)
        model = MODELS.get(channel)
        if model is None:
            raise BadInput(BadInputKind.TOPIC, f"the processor does not read channel {channel.value!r}", session)
        if self.allowed_sessions and session not in self.allowed_sessions:
            raise BadInput(
                BadInputKind.UNKNOWN_SESSION, f"session {session!r} is not in the configured sessions", session
            )
        if channel is Channel.STATUS and not payload:
            return Inbound(session, channel, None)  # a retained status deleted: MQTT's empty retained message
        if len(payload) > self.max_bytes:
            raise BadInput(
                BadInputKind.TOO_LARGE,
                f"payload of {len(payload)} bytes is over the limit of {self.max_bytes} (max_payload_kb); not read",
                session,
            )
        message = _validate_fast(model, payload, session)
        if message.session != session:
            raise BadInput(
                BadInputKind.SESSION_MISMATCH,
                f"payload says session {message.session!r}, the topic {session!r}",
                session,
            )
        try:
            check_message(message, session, now_utc_us=self._utc_us())  # type: ignore[arg-type]
        except BadInput as problem:
            problem.refused = message  # a refused batch still tells its numbers (not counted missing)
            raise
        return Inbound(session, channel, message)  # type: ignore[arg-type]


def _validate_fast(model: type[WireModel], payload: bytes, session: str) -> WireModel:
    """A gaze batch with its column ranges checked while parsing (:data:`RangedGazeBatch`); one
    that fails it (out of range, or no valid batch at all) parsed again with the contract's model,
    so every refusal is described as before."""
    if model is GazeBatch:
        try:
            return RangedGazeBatch.model_validate_json(payload)
        except (ValueError, RecursionError):  # ValidationError is a ValueError
            pass
    return _validate(model, payload, session)


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
