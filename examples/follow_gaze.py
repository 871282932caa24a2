"""Follow a session live: gaze, fixations and alerts, with nothing but paho-mqtt.

    python examples/follow_gaze.py --broker localhost --session demo-1 [--count 50]

On the lab broker, log in as a viewer (deploy/mosquitto/README.md); the
password comes from a file, the environment or a prompt, never the command
line (other users of the PC could read it in the process list):

    python examples/follow_gaze.py --broker labserver --session P07 --username alice
    python examples/follow_gaze.py ... --username alice --password-file ~/.gazewire-password
    GAZEWIRE_MQTT__PASSWORD=... python examples/follow_gaze.py ... --username alice

The same few lines work in any program that wants gaze-contingent behaviour
(a Unity bridge, a robot, a second screen): subscribe, parse JSON, act.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

PASSWORD_VARIABLE = "GAZEWIRE_MQTT__PASSWORD"  # the name gazewire itself reads


def fail(message: str) -> None:
    """One line on stderr and exit code 2, as gazewire's own commands do."""
    print(f"{os.path.basename(sys.argv[0])}: {message}", file=sys.stderr)
    sys.exit(2)


def broker_password(username: str | None, password_file: str | None) -> str | None:
    """--password-file, else $GAZEWIRE_MQTT__PASSWORD, else a prompt on the terminal."""
    if not username:
        return None
    if password_file:
        try:
            with open(password_file, encoding="utf-8") as handle:
                return handle.read().rstrip("\r\n")
        except OSError as error:
            fail(f"cannot read the password file: {error}")
    if PASSWORD_VARIABLE in os.environ:
        return os.environ[PASSWORD_VARIABLE]
    if sys.stdin.isatty():
        return getpass.getpass(f"broker password for {username}: ")
    fail(f"no password for user {username!r}: give --password-file, set {PASSWORD_VARIABLE}, or run in a terminal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", default="localhost")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--session", required=True)
    parser.add_argument("--prefix", default="lab")
    parser.add_argument("--count", type=int, default=0, help="stop after this many gaze messages (0: never)")
    parser.add_argument("--username", default=os.environ.get("GAZEWIRE_MQTT__USERNAME"),
                        help="broker user, a viewer (default: $GAZEWIRE_MQTT__USERNAME; none: anonymous)")
    parser.add_argument("--password-file", help=f"file holding the password (default: ${PASSWORD_VARIABLE}, or a prompt)")
    args = parser.parse_args()
    password = broker_password(args.username, args.password_file)
    base = f"{args.prefix}/{args.session}"
    seen = {"gaze": 0}
    refused: list[str] = []
    done = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            refused.append(str(reason_code))
            done.set()
            return
        client.subscribe([(f"{base}/gaze", 0), (f"{base}/fixations", 1), (f"{base}/alerts", 1),
                          (f"{base}/status", 1)])

    def on_message(client, userdata, message):
        try:
            data = json.loads(message.payload)
        except ValueError:
            return  # not ours to judge: ignore what is not JSON
        channel = message.topic[len(base) + 1:]
        if channel == "gaze":
            seen["gaze"] += 1
            print(f"gaze  x={data['x']:.3f} y={data['y']:.3f} eye={data['eye']:<5} pupil={data['pupil']}")
            if args.count and seen["gaze"] >= args.count:
                done.set()
        elif channel == "fixations" and data["event"] == "end" and not data.get("retracted"):
            # (an end with "retracted": true takes back a tentative start: it was no fixation)
            print(f"fixation #{data['fixation']}: {data['duration_ms']:.0f} ms at ({data['x']:.2f}, {data['y']:.2f})")
        elif channel == "alerts":
            print(f"alert {data['type']} {data['state']} ({data['severity']}): {data['details']}")
        elif channel == "status":
            print(f"agent {data['state']}")

    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    if args.username:
        client.username_pw_set(args.username, password)
    client.on_connect, client.on_message = on_connect, on_message
    try:
        client.connect(args.broker, args.port)
    except OSError as error:
        fail(f"cannot reach the broker at {args.broker}:{args.port}: {error}")
    client.loop_start()
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    client.disconnect()
    client.loop_stop()
    if refused:
        who = f"user {args.username!r}" if args.username else "an anonymous login"
        fail(f"the broker refused {who}: {refused[0]}")


if __name__ == "__main__":
    main()
