"""``gazewire send SESSION COMMAND``: send one command to an agent and print its reply.

    gazewire send room1 marker stimulus_on
    gazewire send room1 ping --broker labserver

The same thing a PsychoPy script or Node-RED does: publish JSON on
``lab/<session>/cmd``, read the reply with the same ``id`` on ``lab/<session>/cmd/reply``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from typing import Any

from gazewire.cli.common import add_common_settings_arguments, load_client_settings, seconds
from gazewire.client.connection import BrokerConnection, Received
from gazewire.client.settings import ClientSettings
from gazewire.errors import GazewireError
from gazewire.wire.topics import Topics


def send_command(
    settings: ClientSettings, session: str, command: dict[str, Any], *, timeout_s: float = 5.0
) -> dict[str, Any]:
    """Publish ``command`` to the session and return the agent's reply (a dict)."""
    topics = Topics(settings.topic_prefix)
    command = {"id": uuid.uuid4().hex[:12], **command}
    reply: dict[str, Any] = {}
    answered = threading.Event()

    def on_message(message: Received) -> None:
        try:
            data = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(data, dict) and data.get("id") == command["id"]:
            reply.update(data)
            answered.set()

    with BrokerConnection(settings.mqtt, client_id=f"gazewire-send-{command['id']}", on_message=on_message) as broker:
        deadline = time.monotonic() + timeout_s  # one time limit for connecting and the reply
        broker.start([topics.cmd_reply(session)])
        broker.wait_subscribed(timeout_s)
        broker.publish(topics.cmd(session), json.dumps(command))
        if not answered.wait(max(0.0, deadline - time.monotonic())):
            raise GazewireError(f"no reply from session {session!r} within {timeout_s:.0f} s (is its agent running?)")
    return dict(reply)


def _send(args: argparse.Namespace) -> int:
    settings = load_client_settings(args)
    command: dict[str, Any] = {"command": args.action}
    if args.action == "marker":
        if not args.name:
            print("gazewire send: marker needs a NAME", file=sys.stderr)
            return 2
        command["name"] = args.name
        if args.utc_ns is not None:
            command["utc_ns"] = args.utc_ns
    reply = send_command(settings, args.session, command, timeout_s=args.timeout)
    print(json.dumps(reply, indent=2))
    return 0 if reply.get("ok") else 1


def add_send_command(commands: argparse._SubParsersAction) -> None:
    send = commands.add_parser("send", help="send a command to an agent and print the reply")
    send.add_argument("session", help="session id of the agent")
    send.add_argument("action", choices=["start", "stop", "marker", "ping"], help="the command")
    send.add_argument("name", nargs="?", help="marker name (marker only)")
    send.add_argument("--utc-ns", type=int, help="marker time in UTC nanoseconds (default: now)")
    send.add_argument("--timeout", type=seconds, default=5.0, help="seconds to wait for the reply")
    add_common_settings_arguments(send)
    send.set_defaults(handler=_send)
