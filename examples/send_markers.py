"""Send event markers from an experiment, as a PsychoPy script would.

Needs only paho-mqtt (``pip install paho-mqtt``), not gazewire. The marker's
time is taken when the event happens (``time.time_ns()``, UTC), so network
delay does not move it; the agent places it on the tracker's clock and writes
it into the recording next to the samples.

    python examples/send_markers.py --broker localhost --session demo-1

In PsychoPy, call ``marker("stimulus_on")`` right after ``win.flip()``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class MarkerSender:
    """Publishes markers on lab/<session>/cmd and collects the agent's replies."""

    def __init__(self, broker: str, port: int, session: str, prefix: str = "lab",
                 username: str | None = None, password: str | None = None) -> None:
        self.command_topic = f"{prefix}/{session}/cmd"
        self.replies: dict[str, dict] = {}
        self._replied = threading.Condition()
        self._client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                   client_id=f"markers-{uuid.uuid4().hex[:8]}")
        if username:
            self._client.username_pw_set(username, password)
        self._client.on_message = self._on_reply
        self._client.connect(broker, port)
        self._client.subscribe(f"{prefix}/{session}/cmd/reply", qos=1)
        self._client.loop_start()

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

    def _on_reply(self, client, userdata, message) -> None:  # paho's thread
        reply = json.loads(message.payload)
        with self._replied:
            self.replies[reply.get("id")] = reply
            self._replied.notify_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", default="localhost")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--session", required=True)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    sender = MarkerSender(args.broker, args.port, args.session)
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
