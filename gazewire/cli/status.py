"""``gazewire status``: who is on the lab network, from the retained status topics.

    $ gazewire status --broker labserver
    SESSION      STATE      TRACKER                        RATE     SAMPLES   DROPPED  OUTBOX  SINCE
    room1        tracking   Tobii Pro Spectrum TPSP1-0102  1200 Hz  9120044   0        0       12 s ago
    room2        offline    Tobii Pro Fusion TPFC2-0311    250 Hz   120022    0        0       (last will)
    processor main: online, 2 sessions, sink influxdb ok

Reads what the broker keeps retained (``<prefix>/+/status`` and the
processors' status), waits a moment for it, prints, and exits: 0 when every
agent listed is online, 1 when any is offline or none is found.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from gazewire.cli.common import add_common_settings_arguments, common_overrides
from gazewire.errors import GazewireError
from gazewire.mqtt import connect_async, create_client, is_failure, reason_text
from gazewire.cli.send import ClientSettings
from gazewire.settings import load_settings
from gazewire.wire.timeutil import utc_now_us, utc_us_from_iso
from gazewire.wire.topics import Channel, Topics

RETAINED_GRACE_S = 0.5  # retained messages follow the SUBACK at once


def collect_statuses(settings: ClientSettings, *, timeout_s: float = 5.0) -> tuple[dict[str, Any], dict[str, Any]]:
    """The retained agent statuses by session and processor statuses by id."""
    topics = Topics(settings.topic_prefix)
    agents: dict[str, Any] = {}
    processors: dict[str, Any] = {}
    done = threading.Condition()
    state: dict[str, Any] = {}
    client = create_client(settings.mqtt.model_copy(update={"session_expiry_s": 0}),
                           client_id=f"gazewire-status-{int(time.time() * 1000) % 10**9}")

    def on_connect(client, userdata, flags, reason_code, properties):  # noqa: ANN001
        if is_failure(reason_code):
            with done:
                state["error"] = f"broker refused the connection: {reason_text(reason_code)}"
                done.notify_all()
            return
        client.subscribe([(topics.every_session(Channel.STATUS), 1), (topics.every_processor_status(), 1)])

    def on_subscribe(client, userdata, mid, reason_codes, properties):  # noqa: ANN001
        with done:
            state["subscribed"] = time.monotonic()
            done.notify_all()

    def on_message(client, userdata, message):  # noqa: ANN001
        try:
            data = json.loads(message.payload)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        with done:
            if "/_sys/processor/" in message.topic:
                processors[str(data.get("processor"))] = data
            else:
                agents[str(data.get("session"))] = data

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    connect_async(client, settings.mqtt)
    client.loop_start()
    deadline = time.monotonic() + timeout_s
    try:
        with done:
            while "error" not in state:
                subscribed = state.get("subscribed")
                if subscribed is not None and time.monotonic() >= subscribed + RETAINED_GRACE_S:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise GazewireError(f"no connection to the broker at {settings.mqtt.host}:{settings.mqtt.port}")
                done.wait(min(remaining, RETAINED_GRACE_S / 5))
    finally:
        client.disconnect()
        client.loop_stop()
    if "error" in state:
        raise GazewireError(state["error"])
    return agents, processors


def _age(status: dict[str, Any]) -> str:
    if not status.get("utc"):
        return "(last will)"
    seconds = (utc_now_us() - utc_us_from_iso(status["utc"])) / 1e6
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def format_table(agents: dict[str, Any], processors: dict[str, Any]) -> str:
    rows = [("SESSION", "STATE", "TRACKER", "RATE", "SAMPLES", "DROPPED", "OUTBOX", "SINCE")]
    for session, status in sorted(agents.items()):
        tracker = status.get("tracker") or {}
        counters = status.get("counters") or {}
        rate = tracker.get("frequency_hz")
        rows.append((
            session,
            str(status.get("state")),
            " ".join(str(x) for x in (tracker.get("model"), tracker.get("serial")) if x) or "-",
            f"{rate:g} Hz" if isinstance(rate, (int, float)) else "-",
            str(counters.get("samples_in", "-")),
            str(counters.get("samples_dropped_queue", 0) + counters.get("samples_dropped_outbox", 0)),
            str(counters.get("outbox_depth", "-")),
            _age(status),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    if len(rows) == 1:
        lines = ["no agent status on this broker (no agent has connected, or another topic prefix)"]
    for processor_id, status in sorted(processors.items()):
        sink = status.get("sink") or {}
        lines.append(
            f"processor {processor_id}: {status.get('state')}, {len(status.get('sessions') or {})} sessions, "
            f"sink {sink.get('kind', '-')} {sink.get('state', '-')}"
        )
    for session, status in sorted(agents.items()):
        for warning in status.get("warnings") or []:
            lines.append(f"warning {session}: {warning}")
    return "\n".join(lines)


def _status(args: argparse.Namespace) -> int:
    settings = load_settings(ClientSettings, config_file=args.config, overrides=common_overrides(args))
    agents, processors = collect_statuses(settings, timeout_s=args.timeout)
    if args.json:
        print(json.dumps({"agents": agents, "processors": processors}, indent=2))
    else:
        print(format_table(agents, processors))
    online = agents and all(status.get("state") != "offline" for status in agents.values())
    return 0 if online else 1


def add_status_command(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser("status", help="the agents and processors on the broker (retained status)")
    status.add_argument("--json", action="store_true", help="print the statuses as JSON")
    status.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the broker")
    add_common_settings_arguments(status)
    status.set_defaults(handler=_status)
