"""``gazewire recording start|stop|annotate SESSION``: recordings from a shell.

    $ gazewire recording start room1 --participant P07 --name stroop --meta group=control
    started recording 20261130T101500Z-3f9a on room1 (name stroop, participant P07, group=control)
    $ gazewire recording stop room1
    stopped recording 20261130T101500Z-3f9a on room1: 73210 samples in 61.0 s

One line per result. Exit 0 when the agent did it, 1 when it refused (a
recording already runs, none runs) or did not answer, 2 for a bad argument
(checked against the wire contract before anything is sent). Built on
:class:`gazewire.client.Lab`.
"""

from __future__ import annotations

import argparse

from gazewire.cli.common import add_client_arguments, open_lab
from gazewire.client import commands
from gazewire.client.info import Recording
from gazewire.errors import InvalidArgument
from gazewire.wire.topics import validate_session_level


def parse_meta(items: list[str]) -> dict[str, str]:
    """``["group=control", "site=B"]`` -> ``{"group": "control", "site": "B"}``."""
    metadata: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"--meta {item!r}: expected KEY=VALUE, e.g. --meta group=control")
        if key in metadata:
            raise InvalidArgument(f"--meta {key!r} given twice")
        metadata[key] = value
    return metadata


def describe(recording: Recording) -> str:
    """``20261130T101500Z-3f9a on room1 (name stroop, participant P07, group=control)``."""
    details = [f"name {recording.name}"] if recording.name else []
    if recording.participant:
        details.append(f"participant {recording.participant}")
    details.extend(f"{key}={value}" for key, value in recording.metadata.items())
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{recording.id} on {recording.session}{suffix}"


def _start(args: argparse.Namespace) -> int:
    metadata = parse_meta(args.meta)
    validate_session_level(args.session)  # bad input is refused before connecting
    commands.start_command(args.name, args.participant, metadata or None)
    with open_lab(args) as lab:
        recording = lab.session(args.session).start_recording(args.name, args.participant, metadata or None)
    print(f"started recording {describe(recording)}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    validate_session_level(args.session)
    commands.stop_command(args.recording)
    with open_lab(args) as lab:
        recording = lab.session(args.session).stop_recording(args.recording)
    duration = f" in {recording.duration_s:.1f} s" if recording.duration_s is not None else ""
    samples = f": {recording.samples} samples{duration}" if recording.samples is not None else ""
    print(f"stopped recording {recording.id} on {recording.session}{samples}")
    return 0


def _annotate(args: argparse.Namespace) -> int:
    metadata = parse_meta(args.meta)
    if not metadata:
        raise InvalidArgument("annotate needs at least one --meta KEY=VALUE")
    validate_session_level(args.session)
    commands.annotate_command(metadata, args.recording)
    with open_lab(args) as lab:
        result = lab.session(args.session).annotate(metadata, recording=args.recording)
    merged = ", ".join(f"{key}={value}" for key, value in result.metadata.items())
    print(f"annotated recording {result.id} on {result.session}: {merged}")
    return 0


def add_recording_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("recording", help="start, stop or annotate a participant's recording")
    actions = parser.add_subparsers(dest="recording_command", metavar="ACTION", required=True)

    start = actions.add_parser("start", help="start a recording (refused while one runs)")
    start.add_argument("session", help="session id of the agent (the station)")
    start.add_argument("--name", help="the recording's name, e.g. the task (1-200 characters)")
    start.add_argument("--participant", help="participant id: 1-64 letters, digits, '.', '_', '-'")
    start.add_argument("--meta", metavar="KEY=VALUE", action="append", default=[],
                       help="free text about the recording (repeatable; up to 32 keys, 8 kB)")
    add_client_arguments(start, timeout_help="seconds to wait for the broker and for the agent's reply")
    start.set_defaults(handler=_start)

    stop = actions.add_parser("stop", help="stop the running recording (the live stream goes on)")
    stop.add_argument("session", help="session id of the agent (the station)")
    stop.add_argument("--recording", metavar="ID", help="stop only if this recording is the running one")
    add_client_arguments(stop, timeout_help="seconds to wait for the broker and for the agent's reply")
    stop.set_defaults(handler=_stop)

    annotate = actions.add_parser("annotate", help="add metadata to the running recording")
    annotate.add_argument("session", help="session id of the agent (the station)")
    annotate.add_argument("--meta", metavar="KEY=VALUE", action="append", default=[], help="repeatable")
    annotate.add_argument("--recording", metavar="ID", help="annotate only if this recording is the running one")
    add_client_arguments(annotate, timeout_help="seconds to wait for the broker and for the agent's reply")
    annotate.set_defaults(handler=_annotate)
