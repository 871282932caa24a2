"""Who is on the lab network: the agents' and processors' retained statuses.

Every agent keeps its status retained on ``<prefix>/<session>/status`` and
every processor on ``<prefix>/_sys/processor/<id>/status``; the broker holds
the last one of each (the ``offline`` last will when one vanished) and sends
them to whoever subscribes, right after the SUBACK. :func:`read_statuses`
connects, subscribes, collects that retained burst until it is over, and
returns the statuses parsed against the wire contract. :func:`parse_status`
is the one place a status message becomes a model; the demo's live view uses
it for the statuses it sees go by.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from gazewire.client.connection import BrokerConnection, Received
from gazewire.errors import InvalidPayload, InvalidTopic
from gazewire.mqtt import MqttSettings
from gazewire.wire.messages import AgentStatus, ProcessorStatus, parse_message
from gazewire.wire.topics import Channel, StatusTopic, Topics

RETAINED_GRACE_S = 0.5  # the broker sends retained messages right after the SUBACK
T = TypeVar("T")


@dataclass
class Statuses:
    """The statuses the broker keeps, by session and by processor id."""

    agents: dict[str, AgentStatus] = field(default_factory=dict)
    processors: dict[str, ProcessorStatus] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)  # topic -> why it is not a valid status


def parse_status(topics: Topics, topic: str, payload: bytes | str) -> tuple[StatusTopic, AgentStatus | ProcessorStatus]:
    """Whose status this is and the status itself. Raises InvalidTopic for a
    topic that is no status topic, InvalidPayload for a payload that is no
    valid status (one line naming the problem)."""
    source = topics.parse_status(topic)
    model = AgentStatus if source.publisher == "agent" else ProcessorStatus
    return source, parse_message(model, payload)


class StatusBoard:
    """The statuses a connection has seen, kept current as agents refresh
    them, and whether the retained burst after the subscription is over.

    Fed by the connection's message handler (:meth:`take`, on paho's thread);
    read by any thread (:meth:`snapshot`, :meth:`wait_until`).
    """

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.changed = threading.Condition()
        self._statuses = Statuses()
        self._last_retained = 0.0
        self._subscribed_at: float | None = None
        self._listeners: list[Callable[[], None]] = []

    def subscribed(self, at: float) -> None:
        """The broker acknowledged the status subscriptions at ``at`` (``time.monotonic()``)."""
        with self.changed:
            self._subscribed_at = at if self._subscribed_at is None else self._subscribed_at
            self.changed.notify_all()

    def take(self, message: Received) -> bool:
        """Keep ``message`` if it is a status; True when it was one (valid or not)."""
        with self.changed:
            if message.retained:
                self._last_retained = time.monotonic()
            taken = _take(self._statuses, self.topics, message)
            if taken:
                self.changed.notify_all()
                for listener in self._listeners:
                    listener()
            return taken

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` (on paho's thread, briefly) after every change;
        returns the function that stops it."""
        with self.changed:
            self._listeners.append(listener)

        def stop() -> None:
            with self.changed:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def snapshot(self) -> Statuses:
        with self.changed:
            return Statuses(dict(self._statuses.agents), dict(self._statuses.processors),
                            dict(self._statuses.unreadable))

    def wait_settled(self, *, grace_s: float, limit_s: float, done: Callable[[Statuses], bool] | None = None) -> None:
        """Wait until the retained burst is over: nothing retained arrived for
        ``grace_s`` after the SUBACK, or ``done(statuses)``; at most ``limit_s``
        after the SUBACK (a burst always ends; never wait forever)."""
        with self.changed:
            if self._subscribed_at is None:
                raise RuntimeError("StatusBoard.wait_settled() before subscribed()")
            limit = self._subscribed_at + limit_s
            while not (done is not None and done(self._statuses)):
                quiet_until = max(self._subscribed_at, self._last_retained) + grace_s
                now = time.monotonic()
                if now >= quiet_until or now >= limit:
                    return
                self.changed.wait(min(quiet_until, limit) - now)

    def wait_until(self, reached: Callable[[Statuses], T | None], timeout_s: float | None) -> T | None:
        """Wait until ``reached(statuses)`` returns something other than None
        and return it; None when ``timeout_s`` passed first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self.changed:
            while True:
                value = reached(self._statuses)
                if value is not None:
                    return value
                if deadline is None:
                    self.changed.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.changed.wait(remaining)


def status_subscriptions(topics: Topics, *, agents: bool = True,
                         processor_ids: Sequence[str] | None = None) -> list[str]:
    """The topics that carry the statuses asked for (see :func:`read_statuses`)."""
    subscriptions = [topics.every_session(Channel.STATUS)] if agents else []
    if processor_ids is None:
        subscriptions.append(topics.every_processor_status())
    else:
        subscriptions.extend(sorted({topics.processor_status(processor_id) for processor_id in processor_ids}))
    return subscriptions


def read_statuses(
    mqtt: MqttSettings,
    topics: Topics,
    *,
    agents: bool = True,
    processor_ids: Sequence[str] | None = None,
    timeout_s: float = 5.0,
    grace_s: float = RETAINED_GRACE_S,
    client_id: str | None = None,
) -> Statuses:
    """The retained statuses on the broker.

    ``agents``: read every agent's status; ``processor_ids``: only these
    processors' (``None``: every processor's, ``[]``: none). ``timeout_s``
    bounds the connection and subscription (BrokerUnreachable, BrokerRefused);
    the retained burst is over when nothing retained has arrived for
    ``grace_s``, or as soon as every exact topic asked for has answered.
    Publishes nothing; the broker forgets the client when it leaves.
    """
    subscriptions = status_subscriptions(topics, agents=agents, processor_ids=processor_ids)
    if not subscriptions:  # nothing asked for
        return Statuses()
    exact = set() if processor_ids is None else {topics.processor_status(p) for p in processor_ids}
    board = StatusBoard(topics)

    def answered(statuses: Statuses) -> bool:
        seen = set(statuses.unreadable) | {topics.processor_status(p) for p in statuses.processors}
        return not agents and processor_ids is not None and exact <= seen

    connection = BrokerConnection(
        mqtt, client_id=client_id or f"gazewire-statuses-{os.getpid()}-{time.monotonic_ns() % 10**9}",
        on_message=board.take,
    )
    with connection:
        connection.start(subscriptions)
        board.subscribed(connection.wait_subscribed(timeout_s))
        board.wait_settled(grace_s=grace_s, limit_s=max(timeout_s, grace_s), done=answered)
        return board.snapshot()


def _take(statuses: Statuses, topics: Topics, message: Received) -> bool:
    try:
        source = topics.parse_status(message.topic)
    except InvalidTopic:  # not a status (a session's gaze, ...), or not a gazewire one (e.g. lab/_sys/status)
        return False
    board = statuses.agents if source.publisher == "agent" else statuses.processors
    if not message.payload:  # a retained status deleted: nobody there
        board.pop(source.name, None)
        statuses.unreadable.pop(message.topic, None)
        return True
    try:
        _, status = parse_status(topics, message.topic, message.payload)
    except InvalidPayload as error:
        statuses.unreadable[message.topic] = str(error)
        return True
    statuses.unreadable.pop(message.topic, None)
    board[source.name] = status  # type: ignore[index]
    return True
