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
import threading
import time

TIMEOUT_S = 8.0
RETAINED_GRACE_S = 1.0
MIN_MAX_AGE_S = 30.0


def check() -> tuple[bool, str]:
    from gazewire.wire.messages import ProcessorStatus
    from gazewire.mqtt import connect_async, create_client, is_failure, reason_text
    from gazewire.settings import SettingsError, load_settings
    from gazewire.wire.timeutil import utc_now_us, utc_us_from_iso
    from gazewire.wire.topics import Topics
    from gazewire.processor.config import ProcessorSettings

    try:
        settings = load_settings(ProcessorSettings)
    except SettingsError as error:
        return False, str(error)
    topic = Topics(settings.topic_prefix).processor_status(settings.processor_id)
    mqtt = settings.mqtt.model_copy(update={"session_expiry_s": 0})
    client_id = f"gazewire-healthcheck-{settings.processor_id}-{os.getpid()}"[:128]
    client = create_client(mqtt, client_id=client_id)
    state: dict[str, object] = {}
    changed = threading.Condition()

    def note(**values: object) -> None:
        with changed:
            state.update(values)
            changed.notify_all()

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        if is_failure(reason_code):
            client.disconnect()
            note(refused=reason_text(reason_code))
        else:
            note(connected=True)
            client.subscribe(topic, qos=1)

    def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:
        note(subscribed=time.monotonic())

    def on_message(client, userdata, message) -> None:
        note(payload=bytes(message.payload))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    deadline = time.monotonic() + TIMEOUT_S

    def finished() -> bool:
        if "payload" in state or "refused" in state:
            return True
        subscribed = state.get("subscribed")
        # A retained message comes right after the SUBACK; none within the grace: there is none.
        return isinstance(subscribed, float) and time.monotonic() > subscribed + RETAINED_GRACE_S

    connect_async(client, mqtt)
    client.loop_start()
    try:
        with changed:
            while not finished() and time.monotonic() < deadline:
                changed.wait(0.1)
    finally:
        client.disconnect()
        client.loop_stop()

    where = f"{mqtt.host}:{mqtt.port}"
    if "refused" in state:
        return False, f"broker {where} refused user {mqtt.username!r}: {state['refused']}"
    if not state.get("connected"):
        return False, f"no connection to the broker {where} within {TIMEOUT_S:.0f} s"
    payload = state.get("payload")
    if not payload:
        return False, f"no retained status on {topic} (processor not running, or another id or prefix)"
    try:
        status = ProcessorStatus.model_validate_json(payload)
    except ValueError as error:
        return False, f"unreadable status on {topic}: {str(error).splitlines()[0]}"
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
