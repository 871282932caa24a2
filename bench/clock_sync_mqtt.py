"""Clock offset between a client and the agent over MQTT, NTP-style, on loopback.

A client (plain paho, as an experiment script on another PC would be) sends
``ping`` commands to a running ``gazewire agent run`` through a real Mosquitto.
For each probe it notes its UTC t0 when it sends and t3 when the reply arrives;
the reply carries the agent's t1 = ``received_utc_ns`` and t2 = ``sent_utc_ns``:

    offset = ((t1 - t0) + (t2 - t3)) / 2      round trip = (t3 - t0) - (t2 - t1)

On loopback both share one clock, so the true offset is 0 and every estimate's
distance from 0 is its error. The bench compares one probe per estimate (the
baseline) with the best of N (the probe with the smallest round trip, as NTP's
clock filter and ``gazewire.client``'s ``clock_offset()`` do), in the same run,
with the agent streaming at 120 Hz and at 1200 Hz (a busier pipeline thread),
from a client socket with Nagle's algorithm on (paho's default) and off
(``TCP_NODELAY``, as gazewire's own MQTT clients set it).

    .venv/bin/python bench/clock_sync_mqtt.py [--estimates 200] [--probes 8]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gazewire.mqtt import _disable_nagle  # noqa: E402
from tests.support.mosquitto import MosquittoBroker  # noqa: E402


class Pinger:
    def __init__(self, port: int, session: str, *, nodelay: bool) -> None:
        self.session = session
        self._replies: dict[str, tuple[int, dict]] = {}
        self._arrived = threading.Condition()
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        if nodelay:
            self.client.on_socket_open = _disable_nagle  # as gazewire.mqtt's clients do
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(f"lab/{session}/cmd/reply", qos=1)[1]
        time.sleep(0.5)  # bench only: the subscription is in place before the first ping

    def _on_message(self, client, userdata, message) -> None:
        t3 = time.time_ns()
        reply = json.loads(message.payload)
        with self._arrived:
            self._replies[reply.get("id")] = (t3, reply)
            self._arrived.notify_all()

    def probe(self, request: str) -> tuple[float, float]:
        """(offset, round trip) in µs of one ping."""
        payload = json.dumps({"id": request, "command": "ping"})
        t0 = time.time_ns()
        self.client.publish(f"lab/{self.session}/cmd", payload, qos=1)
        with self._arrived:
            if not self._arrived.wait_for(lambda: request in self._replies, timeout=10):
                raise TimeoutError(f"no reply to {request}")
            t3, reply = self._replies.pop(request)
        t1, t2 = reply["received_utc_ns"], reply["sent_utc_ns"]
        return ((t1 - t0) + (t2 - t3)) / 2 / 1000, ((t3 - t0) - (t2 - t1)) / 1000

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def q(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def run_case(port: int, work: Path, frequency: float, estimates: int, probes: int, nodelay: bool) -> None:
    session = f"clock-{int(frequency)}-{'nodelay' if nodelay else 'nagle'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    env.update({
        "GAZEWIRE_MQTT__HOST": "127.0.0.1", "GAZEWIRE_MQTT__PORT": str(port),
        "GAZEWIRE_DATA_DIR": str(work / session), "GAZEWIRE_SOURCE": "simulated",
        "GAZEWIRE_FREQUENCY_HZ": str(frequency), "GAZEWIRE_RECORD": "false",
    })
    log = (work / f"{session}.log").open("wb")
    agent = subprocess.Popen([sys.executable, "-m", "gazewire.cli", "agent", "run", "--session", session],
                             env=env, stdout=log, stderr=subprocess.STDOUT)
    pinger = None
    try:
        pinger = Pinger(port, session, nodelay=nodelay)
        for attempt in range(100):  # until the agent answers
            try:
                pinger.probe(f"warm-{attempt}")
                break
            except TimeoutError:
                continue
        single_errors, best_errors, best_rtts, all_rtts = [], [], [], []
        n = 0
        for _ in range(estimates):
            taken = []
            for _ in range(probes):
                n += 1
                taken.append(pinger.probe(f"p{n}"))
            all_rtts += [rtt for _, rtt in taken]
            single_errors.append(abs(taken[0][0]))  # the baseline: one probe, whichever comes
            offset, rtt = min(taken, key=lambda probe: probe[1])
            best_errors.append(abs(offset))
            best_rtts.append(rtt)
        base, best = statistics.median(single_errors), statistics.median(best_errors)
        socket_kind = "TCP_NODELAY" if nodelay else "Nagle on (paho's default)"
        print(f"\nagent streaming at {frequency:g} Hz, client socket {socket_kind}; "
              f"{estimates} estimates of {probes} pings")
        print(f"  round trip of a ping:              median {statistics.median(all_rtts):7.0f} µs, "
              f"p95 {q(all_rtts, 0.95):7.0f} µs")
        print(f"  |offset| of one probe (baseline):  median {base:7.1f} µs, p95 {q(single_errors, 0.95):7.1f} µs, "
              f"max {max(single_errors):7.1f} µs")
        print(f"  |offset| of the best of {probes}:        median {best:7.1f} µs, p95 {q(best_errors, 0.95):7.1f} µs, "
              f"max {max(best_errors):7.1f} µs   ({best / base if base else float('nan'):.2f} x baseline)")
        print(f"  round trip of the best probe:      median {statistics.median(best_rtts):7.0f} µs "
              f"(error bound = half: {statistics.median(best_rtts) / 2:.0f} µs)")
        inside = sum(e <= r / 2 for e, r in zip(best_errors, best_rtts)) / len(best_errors)
        print(f"  estimates within ± round trip / 2 of the truth: {inside:.1%}")
    finally:
        if pinger is not None:
            pinger.close()
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(30)
        except subprocess.TimeoutExpired:
            agent.kill()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--estimates", type=int, default=200)
    parser.add_argument("--probes", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gazewire-bench-clock-"))
    broker = MosquittoBroker(work / "broker")
    broker.start()
    try:
        print(f"Python {sys.version.split()[0]}, Mosquitto on loopback, QoS 1 both ways; true offset 0")
        for nodelay in (False, True):
            for frequency in (120.0, 1200.0):
                run_case(broker.port, work, frequency, args.estimates, args.probes, nodelay)
    finally:
        broker.kill()


if __name__ == "__main__":
    main()
