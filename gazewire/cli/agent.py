"""``gazewire agent ...``: run the agent, show its settings, list trackers,
and (Windows) the agent as a service."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gazewire.cli.common import Flag, Program, add_program_commands

AGENT_FLAGS = (
    Flag(("--session", "-s"), "session", "session id (letters, digits, . _ -)"),
    Flag(("--source",), "source", "where gaze comes from", choices=["tobii", "simulated", "replay"]),
    Flag(("--tracker-address",), "tracker_address", "Tobii tracker address; default: search", metavar="ADDRESS"),
    Flag(("--tracker-serial",), "tracker_serial", "Tobii tracker serial number; default: lowest found", metavar="SERIAL"),
    Flag(("--frequency",), "frequency_hz", "gaze output frequency to request", metavar="HZ"),
    Flag(("--seed",), "seed", "simulated tracker seed"),
    Flag(("--replay-file",), "replay_file", "recording to replay (source replay)", metavar="CSV"),
    Flag(("--speed",), "speed", "replay/simulation speed factor (1 = real time)"),
    Flag(("--sample-limit",), "sample_limit", "simulated: stop after N samples", metavar="N"),
    Flag(("--publish-hz",), "publish_hz", "live messages (and batches) per second", metavar="HZ"),
    Flag(("--data-dir",), "data_dir", "recordings and outbox directory", metavar="DIR"),
    Flag(("--no-record",), "record", "do not write the local CSV recording", value=False),
    Flag(("--exit-when-finished",), "exit_when_finished", "exit when a replay/limited simulation ends", value=True),
)


def build_agent(settings: Any) -> Any:  # -> Agent
    from gazewire.agent.inputs.factory import open_source
    from gazewire.agent.runtime import Agent

    return Agent(settings, open_source(settings), notifier=_service_notifier())


def _service_notifier():
    """systemd's notify socket when run as a Type=notify service, else nothing."""
    try:
        from gazewire.agent.service.systemd import notifier_from_environment
    except ImportError:
        return None
    return notifier_from_environment()


AGENT = Program(
    name="agent",
    help="the edge agent on a tracker PC",
    settings_class="gazewire.agent.config:AgentSettings",
    flags=AGENT_FLAGS,
    run_help="stream gaze from the tracker to the broker until stopped",
    build=build_agent,
)


def load_agent_settings(args: argparse.Namespace) -> Any:  # -> AgentSettings
    return AGENT.load_settings(args)


def _list_trackers(args: argparse.Namespace) -> int:
    from gazewire.agent.inputs.base import TrackerError
    from gazewire.agent.inputs.tobii import find_trackers, format_tracker_list

    try:
        trackers = find_trackers()
    except TrackerError as error:
        print(f"gazewire: {error}", file=sys.stderr)
        return 1
    print(format_tracker_list(trackers))
    return 0


def add_agent_commands(commands: argparse._SubParsersAction) -> None:
    sub = add_program_commands(commands, AGENT)

    trackers = sub.add_parser("list-trackers", help="list the eye trackers the Tobii Pro SDK finds")
    trackers.set_defaults(handler=_list_trackers)

    try:
        from gazewire.cli.service import add_service_commands
    except ImportError:
        pass
    else:
        add_service_commands(sub)
