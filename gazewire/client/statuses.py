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
from collections.abc import Sequence
from dataclasses import dataclass, field

from gazewire.client.connection import BrokerConnection, Received
from gazewire.errors import InvalidPayload, InvalidTopic
from gazewire.mqtt import MqttSettings
from gazewire.wire.messages import AgentStatus, ProcessorStatus, parse_message
from gazewire.wire.topics import Channel, StatusTopic, Topics

RETAINED_GRACE_S = 0.5  # the broker sends retained messages right after the SUBACK


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
    exact: set[str] = set()
    subscriptions = [topics.every_session(Channel.STATUS)] if agents else []
    if processor_ids is None:
        subscriptions.append(topics.every_processor_status())
    else:
        exact = {topics.processor_status(processor_id) for processor_id in processor_ids}
        subscriptions.extend(sorted(exact))
    statuses = Statuses()
    if not subscriptions:  # nothing asked for
        return statuses
    changed = threading.Condition()
    last_retained = [0.0]

    def on_message(message: Received) -> None:
        with changed:
            if message.retained:
                last_retained[0] = time.monotonic()
            _take(statuses, topics, message)
            changed.notify_all()

    def answered() -> bool:
        seen = set(statuses.unreadable) | {topics.processor_status(p) for p in statuses.processors}
        return not agents and processor_ids is not None and exact <= seen

    connection = BrokerConnection(
        mqtt, client_id=client_id or f"gazewire-statuses-{os.getpid()}-{time.monotonic_ns() % 10**9}",
        on_message=on_message,
    )
    with connection:
        connection.start(subscriptions)
        subscribed_at = connection.wait_subscribed(timeout_s)
        limit = time.monotonic() + max(timeout_s, grace_s)  # a burst always ends; never wait forever
        with changed:
            while not answered():
                quiet_until = max(subscribed_at, last_retained[0]) + grace_s
                now = time.monotonic()
                if now >= quiet_until or now >= limit:
                    break
                changed.wait(min(quiet_until, limit) - now)
        with changed:
            return Statuses(dict(statuses.agents), dict(statuses.processors), dict(statuses.unreadable))


def _take(statuses: Statuses, topics: Topics, message: Received) -> None:
    if not message.payload:  # a retained status deleted: nobody there
        return
    try:
        source, status = parse_status(topics, message.topic, message.payload)
    except InvalidTopic:  # matched the filter but is not a gazewire status topic (e.g. lab/_sys/status)
        return
    except InvalidPayload as error:
        statuses.unreadable[message.topic] = str(error)
        return
    statuses.unreadable.pop(message.topic, None)
    if isinstance(status, AgentStatus):
        statuses.agents[source.name] = status
    else:
        statuses.processors[source.name] = status
