"""Follow a session live: gaze, fixations and alerts, with nothing but paho-mqtt.

    python examples/follow_gaze.py --broker localhost --session demo-1 [--count 50]

The same few lines work in any program that wants gaze-contingent behaviour
(a Unity bridge, a robot, a second screen): subscribe, parse JSON, act.
"""

from __future__ import annotations

import argparse
import json
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", default="localhost")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--session", required=True)
    parser.add_argument("--prefix", default="lab")
    parser.add_argument("--count", type=int, default=0, help="stop after this many gaze messages (0: never)")
    args = parser.parse_args()
    base = f"{args.prefix}/{args.session}"
    seen = {"gaze": 0}
    done = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
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
    client.on_connect, client.on_message = on_connect, on_message
    client.connect(args.broker, args.port)
    client.loop_start()
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
