"""``gazewire agent ...``: run the agent, show its settings, list trackers."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from gazewire.cli.common import (
    add_common_settings_arguments,
    flag_overrides,
    install_shutdown_handlers,
    print_effective_settings,
)
from gazewire.settings import load_settings, sample_config

log = logging.getLogger("gazewire.agent")


def _add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_settings_arguments(parser)
    group = parser.add_argument_group("agent")
    group.add_argument("--session", "-s", help="session id (letters, digits, . _ -)")
    group.add_argument("--source", choices=["tobii", "simulated", "replay"], help="where gaze comes from")
    group.add_argument("--tracker-address", metavar="ADDRESS", help="Tobii tracker address; default: search")
    group.add_argument("--tracker-serial", metavar="SERIAL", help="Tobii tracker serial number; default: lowest found")
    group.add_argument("--frequency", type=str, metavar="HZ", help="gaze output frequency to request")
    group.add_argument("--seed", type=str, help="simulated tracker seed")
    group.add_argument("--replay-file", metavar="CSV", help="recording to replay (source replay)")
    group.add_argument("--speed", type=str, help="replay/simulation speed factor (1 = real time)")
    group.add_argument("--sample-limit", type=str, metavar="N", help="simulated: stop after N samples")
    group.add_argument("--publish-hz", type=str, metavar="HZ", help="live messages (and batches) per second")
    group.add_argument("--data-dir", metavar="DIR", help="recordings and outbox directory")
    group.add_argument("--no-record", action="store_true", help="do not write the local CSV recording")
    group.add_argument("--exit-when-finished", action="store_true", help="exit when a replay/limited simulation ends")


def _agent_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides = flag_overrides(args, {
        "session": "session", "source": "source", "tracker_address": "tracker_address",
        "tracker_serial": "tracker_serial",
        "frequency": "frequency_hz", "seed": "seed", "replay_file": "replay_file", "speed": "speed",
        "sample_limit": "sample_limit", "publish_hz": "publish_hz", "data_dir": "data_dir",
    })
    if getattr(args, "no_record", False):
        overrides["record"] = False
    if getattr(args, "exit_when_finished", False):
        overrides["exit_when_finished"] = True
    return overrides


def load_agent_settings(args: argparse.Namespace):
    from gazewire.agent.config import AgentSettings

    return load_settings(AgentSettings, config_file=args.config, overrides=_agent_overrides(args))


def _run(args: argparse.Namespace) -> int:
    from gazewire.agent.inputs.factory import open_source
    from gazewire.agent.runtime import Agent
    from gazewire.logs import configure_logging

    settings = load_agent_settings(args)
    configure_logging(settings.log_level)
    agent = Agent(settings, open_source(settings), notifier=_service_notifier())
    install_shutdown_handlers(agent.request_shutdown)
    agent.run()
    return 0


def _service_notifier():
    """systemd's notify socket when run as a Type=notify service, else nothing."""
    try:
        from gazewire.agent.service.systemd import notifier_from_environment
    except ImportError:
        return None
    return notifier_from_environment()


def _config(args: argparse.Namespace) -> int:
    print_effective_settings(load_agent_settings(args), "agent")
    return 0


def _sample_config(args: argparse.Namespace) -> int:
    from gazewire.agent.config import AgentSettings

    sys.stdout.write(sample_config(AgentSettings, title="gazewire agent: sample configuration (agent.toml)"))
    return 0


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
    agent = commands.add_parser("agent", help="the edge agent on a tracker PC")
    sub = agent.add_subparsers(dest="agent_command", metavar="ACTION", required=True)

    run = sub.add_parser("run", help="stream gaze from the tracker to the broker until stopped")
    _add_agent_arguments(run)
    run.set_defaults(handler=_run)

    config = sub.add_parser("config", help="print the effective settings (secrets masked)")
    _add_agent_arguments(config)
    config.set_defaults(handler=_config)

    sample = sub.add_parser("sample-config", help="print a commented sample agent.toml with every option")
    sample.set_defaults(handler=_sample_config)

    trackers = sub.add_parser("list-trackers", help="list the eye trackers the Tobii Pro SDK finds")
    trackers.set_defaults(handler=_list_trackers)

    try:
        from gazewire.cli.service import add_service_commands
    except ImportError:
        pass
    else:
        add_service_commands(sub)
