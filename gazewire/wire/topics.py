"""Topic names of the wire contract, v1.

Every topic is ``<prefix>/<session>/<channel>``; the prefix defaults to ``lab``
and may have several levels (``lab/room-2``). One place builds and parses them,
so the agent, the processor, the tests and the docs cannot drift apart.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, NamedTuple

from gazewire.errors import InvalidSessionId, InvalidTopic
from gazewire.wire.sessions import validate_session_id

DEFAULT_PREFIX = "lab"
SYSTEM_LEVEL = "_sys"  # lab/_sys/processor/<id>/status; never a session id


class Channel(str, Enum):
    """What a topic below ``<prefix>/<session>/`` carries."""

    GAZE = "gaze"  # live view, throttled, QoS 0
    GAZE_BATCH = "gaze/batch"  # lossless record, QoS 1
    GAZE_CUSTODY = "gaze/custody"  # processor: the batches its journal holds, QoS 1, not retained
    STATUS = "status"  # agent status, retained
    CMD = "cmd"  # commands to the agent
    CMD_REPLY = "cmd/reply"  # the agent's replies
    EVENTS = "events"  # event markers
    FIXATIONS = "fixations"  # processor: fixation start/end
    SACCADES = "saccades"  # processor (ivd): one per saccade, when it is over
    PURSUITS = "pursuits"  # processor (ivd): one per smooth-pursuit segment, when it is over
    BLINKS = "blinks"  # processor (ivd): one per blink or loss of the eye, when it is over
    ALERTS = "alerts"  # processor: alert raised/cleared
    AOI = "aoi"  # processor: AOI enter/exit


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a usable topic prefix, else raise InvalidTopic."""
    if not isinstance(prefix, str) or prefix == "":
        raise InvalidTopic("topic prefix must be a non-empty string")
    if prefix.startswith("$"):
        raise InvalidTopic(f"topic prefix {prefix!r} must not start with '$' (reserved by brokers)")
    for level in prefix.split("/"):
        if level == "":
            raise InvalidTopic(f"topic prefix {prefix!r} has an empty level (leading, trailing or '//')")
        for bad in ("+", "#", "\x00"):
            if bad in level:
                raise InvalidTopic(f"topic prefix {prefix!r} contains {bad!r}")
    return prefix


def validate_session_level(session: str) -> str:
    """A session id that may stand as a topic level: valid, and not ``_sys``."""
    validate_session_id(session)
    if session == SYSTEM_LEVEL:
        raise InvalidSessionId(f"session id {SYSTEM_LEVEL!r} is reserved for system topics")
    return session


class StatusTopic(NamedTuple):
    """Whose retained status a topic carries: an agent's (``name`` is its
    session) or a processor's (``name`` is its id)."""

    publisher: Literal["agent", "processor"]
    name: str


class Topics:
    """Builds and parses the topics of one deployment (one prefix)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = validate_prefix(prefix)
        self._depth = prefix.count("/") + 1

    def __repr__(self) -> str:
        return f"Topics(prefix={self.prefix!r})"

    def for_session(self, session: str, channel: Channel) -> str:
        validate_session_level(session)
        return f"{self.prefix}/{session}/{Channel(channel).value}"

    def gaze(self, session: str) -> str:
        return self.for_session(session, Channel.GAZE)

    def gaze_batch(self, session: str) -> str:
        return self.for_session(session, Channel.GAZE_BATCH)

    def gaze_custody(self, session: str) -> str:
        return self.for_session(session, Channel.GAZE_CUSTODY)

    def status(self, session: str) -> str:
        return self.for_session(session, Channel.STATUS)

    def cmd(self, session: str) -> str:
        return self.for_session(session, Channel.CMD)

    def cmd_reply(self, session: str) -> str:
        return self.for_session(session, Channel.CMD_REPLY)

    def events(self, session: str) -> str:
        return self.for_session(session, Channel.EVENTS)

    def fixations(self, session: str) -> str:
        return self.for_session(session, Channel.FIXATIONS)

    def saccades(self, session: str) -> str:
        return self.for_session(session, Channel.SACCADES)

    def pursuits(self, session: str) -> str:
        return self.for_session(session, Channel.PURSUITS)

    def blinks(self, session: str) -> str:
        return self.for_session(session, Channel.BLINKS)

    def alerts(self, session: str) -> str:
        return self.for_session(session, Channel.ALERTS)

    def aoi(self, session: str) -> str:
        return self.for_session(session, Channel.AOI)

    def every_session(self, channel: Channel) -> str:
        """Subscription filter for ``channel`` of all sessions, e.g. ``lab/+/gaze/batch``."""
        return f"{self.prefix}/+/{Channel(channel).value}"

    def processor_status(self, processor_id: str) -> str:
        validate_session_id(processor_id)  # same character rules
        return f"{self.prefix}/{SYSTEM_LEVEL}/processor/{processor_id}/status"

    def every_processor_status(self) -> str:
        return f"{self.prefix}/{SYSTEM_LEVEL}/processor/+/status"

    def parse_processor_status(self, topic: str) -> str:
        """The processor id of ``<prefix>/_sys/processor/<id>/status``; raise InvalidTopic otherwise."""
        levels = topic.split("/")
        head, rest = levels[: self._depth], levels[self._depth :]
        if "/".join(head) != self.prefix or len(rest) != 4 or rest[:2] != [SYSTEM_LEVEL, "processor"] \
                or rest[3] != "status":
            raise InvalidTopic(f"topic {topic!r} is not a processor status topic under prefix {self.prefix!r}")
        try:
            return validate_session_id(rest[2])
        except InvalidSessionId as error:
            raise InvalidTopic(f"topic {topic!r}: processor id: {error}") from None

    def parse_status(self, topic: str) -> StatusTopic:
        """Whose status ``topic`` carries (an agent's or a processor's); raise InvalidTopic otherwise."""
        if topic.startswith(f"{self.prefix}/{SYSTEM_LEVEL}/"):
            return StatusTopic("processor", self.parse_processor_status(topic))
        session, channel = self.parse(topic)
        if channel is not Channel.STATUS:
            raise InvalidTopic(f"topic {topic!r} is not a status topic (channel {channel.value!r})")
        return StatusTopic("agent", session)

    def parse(self, topic: str) -> tuple[str, Channel]:
        """Split a session topic into ``(session, channel)``; raise InvalidTopic otherwise."""
        levels = topic.split("/")
        head, rest = levels[: self._depth], levels[self._depth :]
        if "/".join(head) != self.prefix:
            raise InvalidTopic(f"topic {topic!r} is not under prefix {self.prefix!r}")
        if len(rest) < 2:
            raise InvalidTopic(f"topic {topic!r} has no channel after the session")
        session, channel_name = rest[0], "/".join(rest[1:])
        if session == SYSTEM_LEVEL:
            raise InvalidTopic(f"topic {topic!r} is a system topic, not a session topic")
        try:
            validate_session_id(session)
        except InvalidSessionId as error:
            raise InvalidTopic(f"topic {topic!r}: {error}") from None
        try:
            channel = Channel(channel_name)
        except ValueError:
            known = ", ".join(c.value for c in Channel)
            raise InvalidTopic(f"topic {topic!r}: unknown channel {channel_name!r} (known: {known})") from None
        return session, channel
