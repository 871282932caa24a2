"""``gazewire status``: who is on the lab network, from the retained status topics.

    $ gazewire status --broker labserver
    SESSION      STATE      TRACKER                        RATE     SAMPLES   DROPPED  OUTBOX  SINCE
    room1        tracking   Tobii Pro Spectrum TPSP1-0102  1200 Hz  9120044   0        0       12 s ago
    room2        offline    Tobii Pro Fusion TPFC2-0311    250 Hz   120022    0        0       (last will)
    processor main: online, 2 sessions, sink influxdb ok

Reads what the broker keeps retained (``<prefix>/+/status`` and the
processors' status) through the client library (:meth:`gazewire.client.Lab.sessions`),
prints, and exits: 0 when every agent listed is there, 1 when any is offline
or stale (its status says it is there, but nobody refreshes it: marked
``(stale)``) or none is found. A running recording gets a line of its own.

``--prune`` clears the retained statuses of offline and stale agents and
processors (:mod:`gazewire.client.pruning`), after a confirmation (``--yes``
when there is no terminal to ask at); the broker lets the operator role do it.
"""

from __future__ import annotations

import argparse
import json

from gazewire.cli.common import add_client_arguments, load_client_settings
from gazewire.client.info import SessionInfo
from gazewire.client.statuses import Statuses


def _age(info: SessionInfo) -> str:
    if info.age_s is None:
        return "(last will)"
    seconds = info.age_s
    age = f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"
    return f"{age} (stale)" if info.stale else age


def format_table(statuses: Statuses, sessions: list[SessionInfo]) -> str:
    rows = [("SESSION", "STATE", "TRACKER", "RATE", "SAMPLES", "DROPPED", "OUTBOX", "SINCE")]
    for info in sessions:
        tracker, counters = info.tracker, info.status.counters
        rate = tracker.frequency_hz if tracker else None
        rows.append((
            info.session,
            info.state,
            info.tracker_name,
            f"{rate:g} Hz" if rate is not None else "-",
            str(counters.samples_in),
            str(counters.samples_dropped_queue + counters.samples_dropped_outbox),
            str(counters.outbox_depth),
            _age(info),
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
    for info in sessions:
        if info.recording is not None:
            recording = info.recording
            who = f", participant {recording.participant}" if recording.participant else ""
            name = f" ({recording.name})" if recording.name else ""
            lines.append(f"recording {info.session}: {recording.id}{name}{who}, since {recording.started_utc}, "
                         f"{recording.samples} samples")
    for info in sessions:
        for warning in info.status.warnings:
            lines.append(f"warning {info.session}: {warning}")
    for topic, problem in sorted(statuses.unreadable.items()):
        lines.append(f"unreadable status on {topic}: {problem}")
    return "\n".join(lines)


def as_json(statuses: Statuses) -> str:
    return json.dumps({
        "agents": {session: status.model_dump(mode="json") for session, status in statuses.agents.items()},
        "processors": {name: status.model_dump(mode="json") for name, status in statuses.processors.items()},
    }, indent=2)


def _status(args: argparse.Namespace) -> int:
    from gazewire.client.lab import Lab

    settings = load_client_settings(args)
    with Lab.from_settings(settings, timeout=args.timeout) as lab:
        statuses, sessions = lab.statuses(), lab.sessions()
    if args.prune:
        from gazewire.cli.prune import prune

        return prune(settings, statuses, yes=args.yes, timeout_s=args.timeout)
    print(as_json(statuses) if args.json else format_table(statuses, sessions))
    there = sessions and all(info.state != "offline" and not info.stale for info in sessions)
    return 0 if there else 1


def add_status_command(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser("status", help="the agents and processors on the broker (retained status)")
    status.add_argument("--json", action="store_true", help="print the statuses as JSON")
    status.add_argument(
        "--prune", action="store_true",
        help="clear the retained statuses of offline and stale agents and processors (operator role)",
    )
    status.add_argument("--yes", action="store_true", help="with --prune: do not ask for confirmation")
    add_client_arguments(status, timeout_help="seconds to wait for the broker")
    status.set_defaults(handler=_status)
