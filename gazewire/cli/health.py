"""``gazewire processor health``: is the running processor healthy? (Docker,
monitoring, a quick look from a shell.)

Healthy (exit 0) when the processor's own retained status on the broker,
<prefix>/_sys/processor/<id>/status, is "online", younger than three status
intervals (at least 30 s), and its sink (InfluxDB or files) reports "ok".
Unhealthy (exit 1) otherwise, with one line that says why.

It reads the same settings as `gazewire processor run` (GAZEWIRE_* variables)
but logs in as a broker user of its own, a viewer, named by
GAZEWIRE_HEALTHCHECK_USERNAME and GAZEWIRE_HEALTHCHECK_PASSWORD, with a clean
session, and publishes nothing. Never as the processor's user: the lab broker
ties client ids to user names (deploy/mosquitto/mosquitto.conf), so a second
login as that user would take over the processor's connection, fire its last
will and drop the batches queued for it. Without a broker user (an anonymous
broker) it logs in anonymously under its own client id.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gazewire.mqtt import MqttSettings

TIMEOUT_S = 8.0
RETAINED_GRACE_S = 1.0
MIN_MAX_AGE_S = 30.0
USERNAME_VARIABLE = "GAZEWIRE_HEALTHCHECK_USERNAME"
PASSWORD_VARIABLE = "GAZEWIRE_HEALTHCHECK_PASSWORD"


def health_check_login(mqtt: MqttSettings) -> tuple[MqttSettings | None, str | None]:
    """The MQTT settings with the health check's own user, or a reason why there is none."""
    from pydantic import SecretStr

    username = os.environ.get(USERNAME_VARIABLE)
    if username:
        password = os.environ.get(PASSWORD_VARIABLE)
        return mqtt.model_copy(update={"username": username, "password": SecretStr(password) if password else None}), None
    if mqtt.username:
        return None, (
            f"set {USERNAME_VARIABLE} and {PASSWORD_VARIABLE} (a viewer user): the health check does not log in as "
            f"the processor's user {mqtt.username!r}, which would take over the processor's connection"
        )
    return mqtt, None


def check() -> tuple[bool, str]:
    from gazewire.client.statuses import read_statuses
    from gazewire.errors import BrokerRefused, BrokerUnreachable, SettingsError
    from gazewire.processor.config import ProcessorSettings
    from gazewire.settings import load_settings
    from gazewire.wire.timeutil import utc_now_us, utc_us_from_iso
    from gazewire.wire.topics import Topics

    try:
        settings = load_settings(ProcessorSettings)
    except SettingsError as error:
        return False, str(error)
    topics = Topics(settings.topic_prefix)
    topic = topics.processor_status(settings.processor_id)
    mqtt, refusal = health_check_login(settings.mqtt)
    if refusal:
        return False, refusal
    where = f"{mqtt.host}:{mqtt.port}"
    try:
        statuses = read_statuses(
            mqtt, topics, agents=False, processor_ids=[settings.processor_id], timeout_s=TIMEOUT_S,
            grace_s=RETAINED_GRACE_S, client_id=f"gazewire-healthcheck-{settings.processor_id}-{os.getpid()}",
        )
    except BrokerRefused as error:
        return False, f"broker {where} refused user {mqtt.username!r}: {error.reason}"
    except BrokerUnreachable:
        return False, f"no connection to the broker {where} within {TIMEOUT_S:.0f} s"
    if topic in statuses.unreadable:
        return False, f"unreadable status on {topic}: {statuses.unreadable[topic]}"
    status = statuses.processors.get(settings.processor_id)
    if status is None:
        return False, f"no retained status on {topic} (processor not running, or another id or prefix)"
    if status.state != "online":
        reason = "; ".join(status.warnings) or "stopped"
        return False, f"processor {status.processor!r} is {status.state} ({reason})"
    max_age_s = max(3 * settings.status_interval_s, MIN_MAX_AGE_S)
    age_s = (utc_now_us() - utc_us_from_iso(status.utc)) / 1e6 if status.utc else float("inf")
    if age_s > max_age_s:
        return False, f"processor status is {age_s:.0f} s old (more than {max_age_s:.0f} s): processor stuck?"
    sink = status.sink
    summary = f"sink {sink.get('kind')} {sink.get('state')}, {sink.get('points_written', 0)} points written"
    if sink.get("state", "ok") != "ok":
        return False, f"{summary}: {sink.get('last_error')}"
    journal = status.journal or {}
    if journal.get("state", "ok") != "ok":
        return False, f"journal {journal.get('state')}: {journal.get('last_error')} (no data is acknowledged)"
    return True, f"processor {status.processor!r} online, status {age_s:.0f} s old, {summary}"


def main() -> int:
    """Print one line, ``healthy: ...`` or ``unhealthy: ...``; exit code 0 or 1."""
    try:
        healthy, message = check()
    except Exception as error:  # a health check must answer, never crash
        healthy, message = False, f"health check failed: {type(error).__name__}: {error}"
    print(("healthy: " if healthy else "unhealthy: ") + message, flush=True)
    return 0 if healthy else 1
