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
import uuid
from typing import Any

from pydantic import Field

from gazewire.cli.common import add_common_settings_arguments, common_overrides
from gazewire.errors import GazewireError
from gazewire.mqtt import MqttSettings, connect_async, create_client, is_failure, reason_text
from gazewire.settings import GazewireSettings, load_settings
from gazewire.wire.topics import DEFAULT_PREFIX, Topics


class ClientSettings(GazewireSettings):
    """What a plain lab client needs: the broker and the topic prefix."""

    topic_prefix: str = Field(DEFAULT_PREFIX)
    log_level: str = Field("WARNING")
    mqtt: MqttSettings = Field(default_factory=MqttSettings)


def send_command(
    settings: ClientSettings, session: str, command: dict[str, Any], *, timeout_s: float = 5.0
) -> dict[str, Any]:
    """Publish ``command`` to the session and return the agent's reply (a dict)."""
    topics = Topics(settings.topic_prefix)
    command = {"id": uuid.uuid4().hex[:12], **command}
    reply: dict[str, Any] = {}
    subscribed, answered = threading.Event(), threading.Event()
    errors: list[str] = []
    client = create_client(
        settings.mqtt.model_copy(update={"session_expiry_s": 0}),
        client_id=f"gazewire-send-{command['id']}",
    )

    def on_connect(client, userdata, flags, reason_code, properties):
        if is_failure(reason_code):
            errors.append(f"broker refused the connection: {reason_text(reason_code)}")
            answered.set()
            return
        client.subscribe(topics.cmd_reply(session), qos=1)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        client.publish(topics.cmd(session), json.dumps(command), qos=1)
        subscribed.set()

    def on_message(client, userdata, message):
        try:
            data = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(data, dict) and data.get("id") == command["id"]:
            reply.update(data)
            answered.set()

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    connect_async(client, settings.mqtt)
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            where = f"{settings.mqtt.host}:{settings.mqtt.port}"
            if not subscribed.is_set():
                raise GazewireError(f"no connection to the broker at {where} within {timeout_s:.0f} s")
            raise GazewireError(f"no reply from session {session!r} within {timeout_s:.0f} s (is its agent running?)")
    finally:
        client.disconnect()
        client.loop_stop()
    if errors:
        raise GazewireError(errors[0])
    return reply


def _send(args: argparse.Namespace) -> int:
    overrides = common_overrides(args)
    settings = load_settings(ClientSettings, config_file=args.config, overrides=overrides)
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
    send.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the reply")
    add_common_settings_arguments(send)
    send.set_defaults(handler=_send)
