"""``gazewire processor health``: is the running processor healthy? (Docker,
monitoring, a quick look from a shell.)

Healthy (exit 0) when the processor's own retained status on the broker,
<prefix>/_sys/processor/<id>/status, is "online", younger than three status
intervals (at least 30 s), and its sink (InfluxDB or files) reports "ok".
Unhealthy (exit 1) otherwise, with one line that says why.

It reads the same settings as `gazewire processor run` (GAZEWIRE_* variables),
logs in as the processor's broker user under its own client id with a clean
session (the processor's persistent session is not touched) and publishes
nothing.
"""

from __future__ import annotations

import os

TIMEOUT_S = 8.0
RETAINED_GRACE_S = 1.0
MIN_MAX_AGE_S = 30.0


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
    mqtt = settings.mqtt
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
    return True, f"processor {status.processor!r} online, status {age_s:.0f} s old, {summary}"


def main() -> int:
    """Print one line, ``healthy: ...`` or ``unhealthy: ...``; exit code 0 or 1."""
    try:
        healthy, message = check()
    except Exception as error:  # a health check must answer, never crash
        healthy, message = False, f"health check failed: {type(error).__name__}: {error}"
    print(("healthy: " if healthy else "unhealthy: ") + message, flush=True)
    return 0 if healthy else 1
