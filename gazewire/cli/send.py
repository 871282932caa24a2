"""``gazewire send SESSION COMMAND``: send one command to an agent and print its reply.

    gazewire send room1 marker stimulus_on
    gazewire send room1 ping --broker labserver

Built on the client library (:class:`gazewire.client.Lab`): the command is
checked against the wire contract before it is sent, published on
``lab/<session>/cmd``, and the agent's reply (``ok`` true or false) printed
as JSON. Exit 0 when the agent did it, 1 when it refused or did not answer,
2 for a bad argument.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gazewire.cli.common import add_client_arguments, open_lab
from gazewire.client.commands import build_command
from gazewire.wire.messages import COMMAND_FIELDS
from gazewire.wire.topics import validate_session_level


def _send(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {}
    if args.action == "marker":
        if not args.name:
            print("gazewire send: marker needs a NAME", file=sys.stderr)
            return 2
        fields = {"name": args.name, "utc_ns": args.utc_ns}
    elif args.name:
        print(f"gazewire send: {args.action} takes no NAME", file=sys.stderr)
        return 2
    elif args.utc_ns is not None:
        print(f"gazewire send: {args.action} takes no --utc-ns", file=sys.stderr)
        return 2
    validate_session_level(args.session)  # bad input is refused before connecting
    build_command(args.action, **fields)
    with open_lab(args) as lab:
        reply = lab.session(args.session).send(args.action, **fields)
    print(json.dumps(reply.model_dump(mode="json"), indent=2))
    return 0 if reply.ok else 1


def add_send_command(commands: argparse._SubParsersAction) -> None:
    send = commands.add_parser("send", help="send a command to an agent and print the reply")
    send.add_argument("session", help="session id of the agent")
    send.add_argument("action", choices=[name for name in COMMAND_FIELDS if name != "annotate"], help="the command")
    send.add_argument("name", nargs="?", help="marker name (marker only)")
    send.add_argument("--utc-ns", type=int, help="marker time in UTC nanoseconds (default: now)")
    add_client_arguments(send, timeout_help="seconds to wait for the broker and for the reply")
    send.set_defaults(handler=_send)
