"""The ``gazewire`` command.

    gazewire schema                     JSON Schema of every message
    gazewire agent run|config|sample-config|list-trackers|service
    gazewire processor run|config|sample-config|health
    gazewire api run|config|sample-config|health   the lab server's HTTP API
    gazewire send SESSION COMMAND       send a command (start, stop, marker, ping)
    gazewire recording start|stop|annotate SESSION   a participant's recording
    gazewire status                     the agents and processors on the broker
    gazewire users add|passwd|remove|list   broker users and roles (deploy/mosquitto)
    gazewire demo                       broker + simulated agents + processor, live view
    gazewire recordings                 the recordings in the journal (or the agent's files)
    gazewire export ...                 recordings as CSV, Parquet or a BIDS dataset

Exit codes: 0 success, 1 runtime failure, 2 bad settings or arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from gazewire import __version__
from gazewire.errors import (
    BrokerRefused,
    GazewireError,
    InvalidArgument,
    InvalidCommand,
    InvalidSessionId,
    InvalidTopic,
    SettingsError,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
# Errors in what the user typed (refused before anything was sent): exit 2, like bad settings.
BAD_INPUT = (InvalidArgument, InvalidCommand, InvalidSessionId, InvalidTopic)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that says a usage error in one line (and exit 2), pointing to --help; its
    sub-commands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _schema(args: argparse.Namespace) -> int:
    import json

    from gazewire.wire.schema import contract_schema_text, message_schema

    if args.message:
        try:
            text = json.dumps(message_schema(args.message), indent=2, sort_keys=True) + "\n"
        except ValueError as error:
            print(f"gazewire schema: {error}", file=sys.stderr)
            return EXIT_USAGE
    else:
        text = contract_schema_text()
    sys.stdout.write(text)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="gazewire",
        description="Tobii Pro eye trackers on the lab network: gaze over MQTT, fixations, alerts.",
    )
    parser.add_argument("--version", action="version", version=f"gazewire {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    schema = commands.add_parser("schema", help="print the JSON Schema of the wire contract")
    schema.add_argument("--message", metavar="CHANNEL", help="only this message (gaze, gaze/batch, status, cmd, ...)")
    schema.set_defaults(handler=_schema)

    from gazewire.cli.agent import add_agent_commands

    add_agent_commands(commands)
    try:
        from gazewire.cli.processor import add_processor_commands
    except ImportError:  # the processor is optional on tracker PCs
        pass
    else:
        add_processor_commands(commands)
    from gazewire.cli.api import add_api_commands

    add_api_commands(commands)
    from gazewire.cli.send import add_send_command

    add_send_command(commands)
    from gazewire.cli.recording import add_recording_command

    add_recording_command(commands)
    from gazewire.cli.status import add_status_command

    add_status_command(commands)
    from gazewire.cli.users import add_users_command

    add_users_command(commands)
    from gazewire.cli.export import add_export_commands

    add_export_commands(commands)
    try:
        from gazewire.cli.demo import add_demo_command
    except ImportError:
        pass
    else:
        add_demo_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or EXIT_OK)
    except (SettingsError, *BAD_INPUT) as error:
        print(f"gazewire: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokerRefused as error:  # bad credentials are bad settings; a broker that is full is not
        print(f"gazewire: {error}", file=sys.stderr)
        return EXIT_USAGE if error.bad_credentials else EXIT_FAILURE
    except GazewireError as error:
        print(f"gazewire: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
