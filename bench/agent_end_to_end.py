"""The agent through a real Mosquitto: live rate, completeness, latency,
reconnect time, backlog drain, CPU and memory.

Starts Debian's mosquitto on free loopback ports, runs ``gazewire agent run
--source simulated`` as a child process at real time, and listens like any lab
device (a plain paho subscriber, persistent session, QoS 1).

    .venv/bin/python bench/agent_end_to_end.py [--frequency 1200] [--seconds 30] [--outage 10]

Phases: steady streaming (live rate, batch latency, CPU, RSS), then the broker
is stopped for ``--outage`` seconds and started again (time until the agent is
back, backlog drain), then a clean stop (completeness over the whole run).
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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.lab_device import LabDevice  # noqa: E402
from tests.support.mosquitto import MosquittoBroker  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    processes: list = []
    try:
        run(processes)
    finally:  # a failed run must not leave an agent or a broker behind
        for process in processes:
            if process.poll() is None:
                process.kill()


def run(processes: list) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frequency", type=float, default=1200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--outage", type=float, default=10)
    parser.add_argument("--publish-hz", type=float, default=20)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gazewire-bench-"))
    broker = MosquittoBroker(work / "broker")
    broker.start()
    processes.append(broker.process)
    session = "bench"
    device = LabDevice(broker.host, broker.port, [f"lab/{session}/#"], client_id="bench-listener", persistent=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    env.update({
        "GAZEWIRE_MQTT__HOST": broker.host, "GAZEWIRE_MQTT__PORT": str(broker.port),
        "GAZEWIRE_MQTT__RECONNECT_MIN_S": "0.5", "GAZEWIRE_MQTT__RECONNECT_MAX_S": "2",
        "GAZEWIRE_DATA_DIR": str(work / "data"), "GAZEWIRE_STATUS_INTERVAL_S": "1",
    })
    agent_log = (work / "agent.log").open("wb")  # open for the child process's lifetime
    agent = subprocess.Popen(
        [sys.executable, "-m", "gazewire.cli", "agent", "run", "--source", "simulated", "--session", session,
         "--frequency", str(args.frequency), "--publish-hz", str(args.publish_hz)],
        env=env, cwd=REPO, stdout=agent_log, stderr=subprocess.STDOUT,
    )
    processes.append(agent)
    device.wait_for(lambda m: any(x.topic.endswith("/gaze/batch") for x in m), timeout_s=30, what="first batch")
    steady_start = time.monotonic()
    cpu_start = cpu_seconds(agent.pid)
    time.sleep(args.seconds)  # the measurement window itself
    cpu_used = cpu_seconds(agent.pid) - cpu_start
    steady_end = time.monotonic()
    rss = rss_mb(agent.pid)

    messages = list(device.messages)
    live = [m for m in messages if m.topic.endswith("/gaze") and steady_start <= m.at <= steady_end]
    batches = [m for m in messages if m.topic.endswith("/gaze/batch") and steady_start <= m.at <= steady_end]
    per_second: dict[int, int] = {}
    for m in live:
        per_second[int(m.at - steady_start)] = per_second.get(int(m.at - steady_start), 0) + 1
    full_seconds = [per_second.get(i, 0) for i in range(int(args.seconds))]
    # latency: batch arrival (UTC now) minus its last sample's UTC time
    latencies = []
    for m in batches:
        data = json.loads(m.payload)
        arrival_utc_us = time.time_ns() // 1000 - int((time.monotonic() - m.at) * 1e6)
        latencies.append((arrival_utc_us - data["columns"]["utc_us"][-1]) / 1000)
    sizes = [len(m.payload) for m in batches]

    # outage
    broker.stop()
    time.sleep(args.outage)  # the outage itself
    broker.start()
    processes.append(broker.process)
    up = time.monotonic()
    before = len(device.messages)
    device.wait_for(lambda m: any(x.topic.endswith("/gaze/batch") for x in m[before:]), timeout_s=60, what="batches after restart")
    first_batch_after = next(x.at for x in device.messages[before:] if x.topic.endswith("/gaze/batch"))
    first_live_after = device.wait_for(
        lambda m: next((x.at for x in m[before:] if x.topic.endswith("/gaze")), None), timeout_s=60
    )

    checked = {"index": before}

    def live_again(m):
        # drained when an arriving batch is fresh again (its last sample < 100 ms old);
        # incremental: wait_for calls this under the subscriber's lock on every message
        for x in m[checked["index"]:]:
            checked["index"] += 1
            if x.topic.endswith("/gaze/batch") and x.at > up + 0.01:
                arrival_utc_us = time.time_ns() // 1000 - int((time.monotonic() - x.at) * 1e6)
                if arrival_utc_us - json.loads(x.payload)["columns"]["utc_us"][-1] < 100_000:
                    return x.at
        return None

    drained_at = device.wait_for(live_again, timeout_s=120, what="backlog drained")

    if os.environ.get("BENCH_DEBUG"):
        for x in device.messages[before:]:
            if x.topic.endswith("/gaze/batch"):
                arrival_utc_us = time.time_ns() // 1000 - int((time.monotonic() - x.at) * 1e6)
                d = json.loads(x.payload)
                print(f"{x.at - up:6.2f} batch {d['batch_seq']} age {(arrival_utc_us - d['columns']['utc_us'][-1]) / 1000:.0f} ms")
    agent.send_signal(signal.SIGTERM)
    agent.wait(60)
    final = device.wait_for(
        lambda m: [json.loads(x.payload) for x in m if x.topic.endswith("/status") and json.loads(x.payload)["state"] == "offline"],
        timeout_s=30,
    )[-1]
    seqs: dict[int, list[int]] = {}
    duplicates = 0
    for m in device.messages:
        if m.topic.endswith("/gaze/batch"):
            data = json.loads(m.payload)
            if data["batch_seq"] in seqs:
                duplicates += 1
            seqs[data["batch_seq"]] = data["columns"]["seq"]
    all_seqs = sorted(s for batch in seqs.values() for s in batch)
    complete = all_seqs == list(range(len(all_seqs)))
    device.close()
    broker.kill()

    counters = final["counters"]
    print(f"## agent end to end: {args.frequency:g} Hz, publish_hz {args.publish_hz:g}, {args.seconds:g} s steady, {args.outage:g} s outage")
    print(f"live rate: mean {len(live) / args.seconds:.2f}/s, per-second min {min(full_seconds)} max {max(full_seconds)}")
    print(f"batches: {len(batches) / args.seconds:.2f}/s, {statistics.mean(sizes) / 1024:.1f} KiB each "
          f"({statistics.mean(sizes) * len(batches) / args.seconds / 1024:.0f} KiB/s)")
    print(f"batch latency (last sample -> subscriber): p50 {percentile(latencies, 0.5):.1f} ms, "
          f"p95 {percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms")
    print(f"agent CPU {cpu_used / args.seconds * 100:.1f}% of one core, RSS {rss:.0f} MB")
    print(f"reconnect: first batch {first_batch_after - up:.2f} s and first live message {first_live_after - up:.2f} s "
          f"after the broker was back; backlog of ~{args.outage:g} s drained {drained_at - up:.2f} s after it was back")
    print(f"completeness: {len(all_seqs)} samples, contiguous 0..n-1: {complete}; wire duplicates {duplicates}; "
          f"agent counted in {counters['samples_in']}, published {counters['samples_published']}, "
          f"dropped {counters['samples_dropped_queue'] + counters['samples_dropped_outbox']}, reconnects {counters['reconnects']}")


if __name__ == "__main__":
    main()
