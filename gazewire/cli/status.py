"""``gazewire status``: who is on the lab network, from the retained status topics.

    $ gazewire status --broker labserver
    SESSION      STATE      TRACKER                        RATE     SAMPLES   DROPPED  OUTBOX  SINCE
    room1        tracking   Tobii Pro Spectrum TPSP1-0102  1200 Hz  9120044   0        0       12 s ago
    room2        offline    Tobii Pro Fusion TPFC2-0311    250 Hz   120022    0        0       (last will)
    processor main: online, 2 sessions, sink influxdb ok

Reads what the broker keeps retained (``<prefix>/+/status`` and the
processors' status, through :mod:`gazewire.client.statuses`), prints, and
exits: 0 when every agent listed is there, 1 when any is offline or stale (its
status says it is there, but nobody refreshes it) or none is found.

``--prune`` clears the retained statuses of offline and stale agents and
processors (:mod:`gazewire.client.pruning`), after a confirmation (``--yes``
when there is no terminal to ask at); the broker lets the operator role do it.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from gazewire.cli.common import add_common_settings_arguments, load_client_settings, seconds
from gazewire.client.pruning import is_stale
from gazewire.client.statuses import Statuses, read_statuses
from gazewire.wire.messages import AgentStatus
from gazewire.wire.timeutil import utc_now_us, utc_us_from_iso
from gazewire.wire.topics import Topics


def _age(status: AgentStatus) -> str:
    if not status.utc:
        return "(last will)"
    seconds = (utc_now_us() - utc_us_from_iso(status.utc)) / 1e6
    age = f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"
    return f"{age} (stale)" if is_stale(status, utc_now_us()) else age


def format_table(statuses: Statuses) -> str:
    rows = [("SESSION", "STATE", "TRACKER", "RATE", "SAMPLES", "DROPPED", "OUTBOX", "SINCE")]
    for session, status in sorted(statuses.agents.items()):
        tracker, counters = status.tracker, status.counters
        rate = tracker.frequency_hz if tracker else None
        rows.append((
            session,
            status.state,
            " ".join(x for x in (tracker.model, tracker.serial) if x) if tracker else "-",
            f"{rate:g} Hz" if rate is not None else "-",
            str(counters.samples_in),
            str(counters.samples_dropped_queue + counters.samples_dropped_outbox),
            str(counters.outbox_depth),
            _age(status),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    if len(rows) == 1:
        lines = ["no agent status on this broker (no agent has connected, or another topic prefix)"]
    for processor_id, processor in sorted(statuses.processors.items()):
        sink = processor.sink
        lines.append(
            f"processor {processor_id}: {processor.state}, {len(processor.sessions)} sessions, "
            f"sink {sink.get('kind', '-')} {sink.get('state', '-')}"
        )
    for session, status in sorted(statuses.agents.items()):
        for warning in status.warnings:
            lines.append(f"warning {session}: {warning}")
    for topic, problem in sorted(statuses.unreadable.items()):
        lines.append(f"unreadable status on {topic}: {problem}")
    return "\n".join(lines)


def as_json(statuses: Statuses) -> str:
    return json.dumps({
        "agents": {session: status.model_dump(mode="json") for session, status in statuses.agents.items()},
        "processors": {name: status.model_dump(mode="json") for name, status in statuses.processors.items()},
    }, indent=2)


def _status(args: argparse.Namespace) -> int:
    settings = load_client_settings(args)
    statuses = read_statuses(
        settings.mqtt, Topics(settings.topic_prefix), timeout_s=args.timeout,
        client_id=f"gazewire-status-{os.getpid()}-{int(time.time() * 1000) % 10**9}",
    )
    if args.prune:
        from gazewire.cli.prune import prune

        return prune(settings, statuses, yes=args.yes, timeout_s=args.timeout)
    print(as_json(statuses) if args.json else format_table(statuses))
    now = utc_now_us()
    there = statuses.agents and all(
        status.state != "offline" and not is_stale(status, now) for status in statuses.agents.values()
    )
    return 0 if there else 1


def add_status_command(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser("status", help="the agents and processors on the broker (retained status)")
    status.add_argument("--json", action="store_true", help="print the statuses as JSON")
    status.add_argument(
        "--prune", action="store_true",
        help="clear the retained statuses of offline and stale agents and processors (operator role)",
    )
    status.add_argument("--yes", action="store_true", help="with --prune: do not ask for confirmation")
    status.add_argument("--timeout", type=seconds, default=5.0, help="seconds to wait for the broker")
    add_common_settings_arguments(status)
    status.set_defaults(handler=_status)
