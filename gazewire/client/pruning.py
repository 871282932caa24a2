"""Retained statuses that nobody will refresh: which they are, and clearing them.

The broker keeps every agent's and processor's status retained. A status that
says its program is there is refreshed every ``status_interval_s`` and, over
MQTT 5, expires by itself when that stops (:func:`gazewire.mqtt.status_lifetime_s`);
an ``offline`` status (a clean stop, or the last will) expires after the
publisher's ``offline_status_expiry_s``. Statuses published without an expiry
(MQTT 3.1.1, older gazewire) stay until someone clears them, which is what
:func:`clear_retained` does: an empty retained message on the topic, the MQTT
way to delete one (``gazewire status --prune``; the broker's ACL lets the
operator role do it).

* :func:`status_age_s` and :func:`is_stale`: a status that claims its program is
  there but is older than its lifetime (the program hangs, or was killed while
  the broker was down, so no last will came);
* :func:`prunable`: the statuses worth clearing - offline or stale;
* :func:`clear_retained`: clear them, and say which the broker refused.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gazewire.client.statuses import Statuses
from gazewire.errors import BrokerRefused, BrokerUnreachable
from gazewire.mqtt import MqttSettings, connect_async, create_client, is_failure, reason_text, status_lifetime_s
from gazewire.wire.messages import AgentStatus, ProcessorStatus
from gazewire.wire.timeutil import utc_now_us, utc_us_from_iso
from gazewire.wire.topics import Topics


def status_age_s(status: AgentStatus | ProcessorStatus, now_us: int) -> float | None:
    """Seconds since the status was made (by its publisher's clock); None for a last will or an unreadable time."""
    if status.utc is None:
        return None
    try:
        return max(0.0, (now_us - utc_us_from_iso(status.utc)) / 1e6)
    except ValueError:
        return None


def is_stale(status: AgentStatus | ProcessorStatus, now_us: int) -> bool:
    """It says its program is there, but has not been refreshed for longer than its lifetime."""
    if status.state == "offline":
        return False
    age = status_age_s(status, now_us)
    return age is None or age > status_lifetime_s(status.status_interval_s)


@dataclass(frozen=True)
class Prunable:
    """A retained status worth clearing: on ``topic``, of ``who``, because ``why``."""

    topic: str
    who: str  # "session room1" or "processor main"
    why: str


def prunable(statuses: Statuses, topics: Topics, *, now_us: int | None = None) -> list[Prunable]:
    """The offline and the stale statuses among ``statuses`` (sessions first, by name)."""
    now = utc_now_us() if now_us is None else now_us
    found = []
    for session, status in sorted(statuses.agents.items()):
        why = _why(status, now)
        if why is not None:
            found.append(Prunable(topics.status(session), f"session {session}", why))
    for processor_id, processor in sorted(statuses.processors.items()):
        why = _why(processor, now)
        if why is not None:
            found.append(Prunable(topics.processor_status(processor_id), f"processor {processor_id}", why))
    return found


def _why(status: AgentStatus | ProcessorStatus, now_us: int) -> str | None:
    age = status_age_s(status, now_us)
    for_ = f" for {_duration(age)}" if age is not None else ""
    if status.state == "offline":
        return "offline (last will)" if status.utc is None else f"offline{for_}"
    if is_stale(status, now_us):
        return f"says {status.state}, but not refreshed{for_ or ' (its time is unreadable)'}"
    return None


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86_400:.0f} days"


def clear_retained(mqtt: MqttSettings, topics: Sequence[str], *, timeout_s: float = 10.0) -> dict[str, str]:
    """Delete the retained message of every topic (an empty retained publish, QoS 1).

    Returns the topics the broker refused, with its reason (MQTT 5 tells; the ACL's
    operator role may clear statuses). Raises BrokerRefused (the login) or
    BrokerUnreachable (no connection, or no acknowledgement, within ``timeout_s``).
    """
    settings = mqtt.model_copy(update={"session_expiry_s": 0})  # clean: nothing stays behind
    client = create_client(settings, client_id=f"gazewire-prune-{uuid.uuid4().hex[:12]}")
    changed = threading.Condition()
    state: dict[str, Any] = {"connected": False, "refused": None, "acks": {}}

    def on_connect(client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        with changed:
            if is_failure(reason_code):
                state["refused"] = reason_text(reason_code)
                client.disconnect()
            else:
                state["connected"] = True
            changed.notify_all()

    def on_publish(client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        with changed:
            state["acks"][mid] = reason_code
            changed.notify_all()

    client.on_connect = on_connect
    client.on_publish = on_publish
    deadline = time.monotonic() + timeout_s
    connect_async(client, settings)
    client.loop_start()
    try:
        with changed:
            while not state["connected"]:
                if state["refused"] is not None:
                    raise BrokerRefused(
                        settings.host, settings.port, settings.username, state["refused"],
                        password_given=settings.password is not None,
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrokerUnreachable(settings.host, settings.port, timeout_s)
                changed.wait(remaining)
        sent = {client.publish(topic, b"", qos=1, retain=True).mid: topic for topic in topics}
        with changed:
            while not set(sent) <= set(state["acks"]):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrokerUnreachable(settings.host, settings.port, timeout_s)
                changed.wait(remaining)
            return {
                topic: reason_text(state["acks"][mid]) for mid, topic in sent.items() if is_failure(state["acks"][mid])
            }
    finally:
        client.disconnect()
        client.loop_stop()
