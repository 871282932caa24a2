"""Send event markers from an experiment, as a PsychoPy script would.

Needs only paho-mqtt (``pip install paho-mqtt``), not gazewire. The marker's
time is taken when the event happens (``time.time_ns()``, UTC), so network
delay does not move it; the agent places it on the tracker's clock and writes
it into the recording next to the samples.

    python examples/send_markers.py --broker localhost --session demo-1

On the lab broker, log in as an operator (deploy/mosquitto/README.md); the
password comes from a file, the environment or a prompt, never the command
line (other users of the PC could read it in the process list):

    python examples/send_markers.py --broker labserver --session P07 --username alice
    python examples/send_markers.py ... --username alice --password-file broker-password.txt
    GAZEWIRE_MQTT__PASSWORD=... python examples/send_markers.py ... --username alice

In PsychoPy, call ``marker("stimulus_on")`` right after ``win.flip()``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

PASSWORD_VARIABLE = "GAZEWIRE_MQTT__PASSWORD"  # the name gazewire itself reads


class BrokerRefused(Exception):
    """The broker did not accept the login (wrong user or password, or not allowed)."""


class MarkerSender:
    """Publishes markers on lab/<session>/cmd and collects the agent's replies."""

    def __init__(self, broker: str, port: int, session: str, prefix: str = "lab",
                 username: str | None = None, password: str | None = None, timeout_s: float = 10.0) -> None:
        self.command_topic = f"{prefix}/{session}/cmd"
        self.reply_topic = f"{prefix}/{session}/cmd/reply"
        self.replies: dict[str, dict] = {}
        self._replied = threading.Condition()
        self._connack: str | None = None  # "" once accepted, else the broker's reason
        self._client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                   client_id=f"markers-{uuid.uuid4().hex[:8]}")
        if username:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_reply
        self._client.connect(broker, port)
        self._client.loop_start()
        with self._replied:  # wait for the broker's answer to the login
            if not self._replied.wait_for(lambda: self._connack is not None, timeout_s):
                self.close()
                raise TimeoutError(f"no answer to the login within {timeout_s:g} s")
        if self._connack:
            self.close()
            who = f"user {username!r}" if username else "an anonymous login"
            raise BrokerRefused(f"the broker refused {who}: {self._connack}")

    def marker(self, name: str) -> str:
        """Send a marker stamped now; returns its id. Call it at the event, not later."""
        utc_ns = time.time_ns()
        marker_id = uuid.uuid4().hex[:12]
        payload = {"id": marker_id, "command": "marker", "name": name, "utc_ns": utc_ns}
        self._client.publish(self.command_topic, json.dumps(payload), qos=1)
        return marker_id

    def wait_for_replies(self, ids: list[str], timeout_s: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        with self._replied:
            while not all(i in self.replies for i in ids):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = [i for i in ids if i not in self.replies]
                    raise TimeoutError(f"no reply for {len(missing)} markers: is the agent running?")
                self._replied.wait(remaining)
            return [self.replies[i] for i in ids]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # paho's thread
        if reason_code.is_failure:
            client.disconnect()  # no retries with a login the broker refuses
        else:
            client.subscribe(self.reply_topic, qos=1)  # again after every reconnect
        with self._replied:
            self._connack = str(reason_code) if reason_code.is_failure else ""
            self._replied.notify_all()

    def _on_reply(self, client, userdata, message) -> None:  # paho's thread
        reply = json.loads(message.payload)
        with self._replied:
            self.replies[reply.get("id")] = reply
            self._replied.notify_all()


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
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--username", default=os.environ.get("GAZEWIRE_MQTT__USERNAME"),
                        help="broker user, an operator (default: $GAZEWIRE_MQTT__USERNAME; none: anonymous)")
    parser.add_argument("--password-file", help=f"file holding the password (default: ${PASSWORD_VARIABLE}, or a prompt)")
    args = parser.parse_args()
    password = broker_password(args.username, args.password_file)
    try:
        sender = MarkerSender(args.broker, args.port, args.session, args.prefix, args.username, password)
    except BrokerRefused as error:
        fail(str(error))
    except OSError as error:  # refused connection, unknown host, no answer (TimeoutError)
        fail(f"cannot reach the broker at {args.broker}:{args.port}: {error}")
    ids = []
    for trial in range(1, args.trials + 1):
        ids.append(sender.marker(f"trial_{trial}_stimulus_on"))
        time.sleep(0.5)  # the stimulus is on screen
        ids.append(sender.marker(f"trial_{trial}_stimulus_off"))
    for reply in sender.wait_for_replies(ids):
        status = "ok" if reply["ok"] else f"refused: {reply['error']}"
        print(f"{reply['result']['name'] if reply['ok'] else reply.get('id')}: {status}")
    sender.close()


if __name__ == "__main__":
    main()
