"""The processor against the broker's own receive limit, measured in one run.

A real Mosquitto holds a persistent-session backlog of real 1200 Hz batches
(the agent's BatchBuilder over the simulated tracker, 60 samples each). The
same backlog is drained twice, one after the other on this machine:

1. by a **bare subscriber**: paho, QoS 1, a persistent session, each payload
   only json-decoded - the most any Python consumer of this broker can take;
2. by ``gazewire processor run`` (a separate process, as deployed), with the
   sink given by ``--sink``.

The ratio processor / bare is the figure that matters (and "sink": the gaze points the
sink wrote per second, from the first status to the one showing them all, against the same
bare rate - storage catching up behind the drain) (the machine is shared
and noisy; absolute rates are not comparable between runs). The processor's
rate is read from its own retained status (``counters.batches``) published
every ``--status-interval`` seconds, between the first status that shows
batches handled and the one that shows them all, so start-up (imports,
connecting) is not counted; its CPU time comes from /proc. The last status
comes up to one interval after the work ended, so the processor's rate is
underestimated by at most ``status interval / drain time`` (about 5 % with the
defaults).

    .venv/bin/python bench/processor_drain.py [--batches 2400] [--sessions 4] [--sink lineprotocol|influx] [--repeat 3]
        [--journal on|off|both] [--algorithms ivt,ivd]

``--journal both`` drains the backlog, in each round, once with the processor's journal
(the default: every batch durable before its PUBACK) and once without
(``journal.enabled = false``), each right after its own bare-subscriber baseline; every
processor run starts with an empty data directory (a journal that already held the
backlog would drop it all as duplicates). ``--algorithms ivt,ivd`` does the same for each
detector in turn, so detectors are compared in one run (default: the processor's default).

``--sink influx`` starts VictoriaMetrics (apt victoria-metrics) as the
InfluxDB stand-in; it accepts the same /api/v2/write.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402

from bench.processor_throughput import batches as make_batches  # noqa: E402
from tests.support.mosquitto import MosquittoBroker  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def client(client_id: str, port: int, *, persistent: bool) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600 if persistent else 0
    connected = threading.Event()
    c.on_connect = lambda *a: connected.set()
    c.connect("127.0.0.1", port, clean_start=not persistent, properties=properties)
    c.loop_start()
    if not connected.wait(10):
        raise RuntimeError("bench client could not connect")
    return c


def publish_backlog(port: int, payloads: list[tuple[str, bytes]]) -> None:
    publisher = client("bench-publisher", port, persistent=False)
    infos = [publisher.publish(topic, payload, qos=1) for topic, payload in payloads]
    for info in infos:
        info.wait_for_publish(60)
    publisher.disconnect()
    publisher.loop_stop()


def register_bare(port: int, filter_: str) -> None:
    c = client("bench-bare", port, persistent=True)
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.subscribe(filter_, qos=1)
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def drain_bare(port: int, expected: int, samples: int) -> dict[str, float]:
    received = 0
    first = last = 0.0
    finished = threading.Event()

    def on_message(c, userdata, message) -> None:
        nonlocal received, first, last
        json.loads(message.payload)
        now = time.perf_counter()
        if received == 0:
            first = now
        received += 1
        last = now
        if received >= expected:
            finished.set()

    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=paho.MQTTv5)
    c.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    cpu0 = time.process_time()
    c.connect("127.0.0.1", port, clean_start=False, properties=properties)
    c.loop_start()
    if not finished.wait(600):
        raise RuntimeError(f"bare subscriber got {received} of {expected} batches")
    cpu = time.process_time() - cpu0
    c.disconnect()
    c.loop_stop()
    seconds = (last - first) * expected / max(1, expected - 1)
    return {"seconds": seconds, "samples_per_s": samples / seconds, "cpu_us_per_sample": cpu * 1e6 / samples}


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class ProcessorRun:
    """``gazewire processor run`` as a subprocess, its status followed over MQTT."""

    def __init__(self, port: int, workdir: Path, extra_env: dict[str, str], status_interval: float) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
        self.env.update({
            "GAZEWIRE_PROCESSOR_ID": "bench",
            "GAZEWIRE_MQTT__HOST": "127.0.0.1",
            "GAZEWIRE_MQTT__PORT": str(port),
            "GAZEWIRE_DATA_DIR": str(workdir / "data"),
            "GAZEWIRE_STATUS_INTERVAL_S": str(status_interval),
            "GAZEWIRE_LOG_LEVEL": "WARNING",
            **extra_env,
        })
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.profiler: subprocess.Popen | None = None
        self.statuses: list[tuple[float, int, float, int]] = []  # (t, batches, cpu_s, points written)
        self.cond = threading.Condition()
        self.watcher = client("bench-watcher", port, persistent=False)
        self.watcher.on_message = self._status
        self.watcher.subscribe("lab/_sys/processor/bench/status", qos=1)

    def _status(self, c, userdata, message) -> None:
        try:
            status = json.loads(message.payload)
        except ValueError:
            return
        if status.get("state") != "online" or self.process is None:
            return
        now = time.perf_counter()
        try:
            cpu = process_cpu_s(self.process.pid)
        except (OSError, IndexError):
            cpu = float("nan")
        with self.cond:
            counters = status.get("counters", {})
            self.statuses.append((now, int(counters.get("batches", 0)), cpu, int(counters.get("points_written", 0))))
            self.cond.notify_all()

    def start(self, data_dir: Path | None = None, algorithm: str | None = None, profile: Path | None = None) -> None:
        self.statuses.clear()
        if data_dir is not None:
            self.env["GAZEWIRE_DATA_DIR"] = str(data_dir)
        if algorithm is not None:
            self.env["GAZEWIRE_ALGORITHM"] = algorithm
        with open(self.workdir / "processor.log", "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gazewire", "processor", "run"], env=self.env, cwd=self.workdir,
                stdout=log, stderr=subprocess.STDOUT,
            )
        self.profiler = None
        if profile is not None:  # py-spy samples every thread of the processor: collapsed stacks
            py_spy = Path(sys.executable).with_name("py-spy")
            self.profiler = subprocess.Popen(
                [str(py_spy), "record", "--format", "raw", "--threads", "--idle", "--rate", "250",
                 "--pid", str(self.process.pid), "-o", str(profile)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )

    def wait_batches(self, expected: int, timeout_s: float) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.statuses and self.statuses[-1][1] >= expected, timeout_s):
                got = self.statuses[-1][1] if self.statuses else 0
                log = (self.workdir / "processor.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"processor handled {got} of {expected} batches; its log ends:\n{log}")

    def wait_stored(self, points: int, timeout_s: float) -> bool:
        """Until the sink has written ``points`` (the gaze points of the backlog): storage caught up."""
        with self.cond:
            return self.cond.wait_for(lambda: self.statuses and self.statuses[-1][3] >= points, timeout_s)

    def stop(self) -> None:
        if self.profiler is not None:
            self.profiler.send_signal(signal.SIGINT)  # py-spy writes its profile and ends
            self.profiler.wait(60)
            self.profiler = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)
        self.process = None

    def close(self) -> None:
        self.stop()
        self.watcher.disconnect()
        self.watcher.loop_stop()

    def rate(self, expected: int, samples_per_batch: float) -> dict[str, float]:
        working = [s for s in self.statuses if s[1] > 0]
        first = working[0]
        done = next(s for s in working if s[1] >= expected)
        # The first status showing work may be up to one interval after work began:
        # count only what happened between the two statuses.
        batches = done[1] - first[1]
        seconds = done[0] - first[0]
        samples = batches * samples_per_batch
        stored = next((s for s in working if s[3] >= expected * samples_per_batch), None)
        return {
            "seconds": seconds,
            "samples_per_s": samples / seconds,
            "cpu_us_per_sample": (done[2] - first[2]) * 1e6 / samples,
            # the sink's rate: every gaze point written (it catches up from the journal behind the drain)
            "stored_per_s": (stored[3] - first[3]) / (stored[0] - first[0]) if stored else float("nan"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=6000, help="backlog size (60-sample batches)")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--frequency", type=float, default=1200)
    parser.add_argument("--sink", choices=("lineprotocol", "influx"), default="lineprotocol")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--status-interval", type=float, default=0.5, help="the processor's status interval (its minimum, 0.5 s)")
    parser.add_argument("--journal", choices=("on", "off", "both"), default="on",
                        help="the processor's journal (both: each round drains with and without it)")
    parser.add_argument("--algorithms", default="", help="the processor's detectors, comma-separated (e.g. ivt,ivd)")
    parser.add_argument("--baseline-code", type=Path, default=None, metavar="DIR",
                        help="also drain, in every round, with the processor imported from DIR (a directory "
                             "holding an older gazewire package laid out as installed: gazewire/, "
                             "gazewire/agent, gazewire/processor) - before/after in one run")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="record each processor run with py-spy (pip install py-spy) into DIR, collapsed stacks")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra GAZEWIRE_* setting for the processor (repeatable)")
    args = parser.parse_args()

    per_session = args.batches // args.sessions
    payloads: list[tuple[str, bytes]] = []
    for index in range(args.sessions):
        payloads += make_batches(f"B{index}", index, per_session / 20, args.frequency, 20)
    expected = len(payloads)
    samples_per_batch = args.frequency / 20
    samples = int(expected * samples_per_batch)
    size_kb = statistics.mean(len(p) for _, p in payloads) / 1024
    print(f"backlog: {expected} batches of {samples_per_batch:.0f} samples ({size_kb:.1f} kB each), "
          f"{args.sessions} sessions, sink {args.sink}")

    with tempfile.TemporaryDirectory(prefix="gazewire-bench-") as tmp:
        workdir = Path(tmp)
        broker = MosquittoBroker(workdir / "broker")
        broker.start()
        extra_env = dict(item.split("=", 1) for item in args.env)
        victoria = None
        if args.sink == "influx":
            from tests.support.victoria import VictoriaMetrics

            victoria = VictoriaMetrics(workdir / "victoria")
            victoria.start()
            extra_env.update({"GAZEWIRE_INFLUX__URL": victoria.url, "GAZEWIRE_INFLUX__TOKEN": victoria.token,
                              "GAZEWIRE_INFLUX__ORG": victoria.org, "GAZEWIRE_INFLUX__BUCKET": victoria.bucket})
        processor = ProcessorRun(broker.port, workdir, extra_env, args.status_interval)
        try:
            register_bare(broker.port, "lab/+/gaze/batch")
            # The processor's first run creates its persistent session; one probe batch
            # handled proves its subscription is in place before the backlog is published.
            processor.start()
            processor.wait_batches(0, 60)  # connected
            for probe in make_batches("probe", 99, 100 / 20, args.frequency, 20):
                publish_backlog(broker.port, [probe])
                try:
                    processor.wait_batches(1, 0.5)
                    break
                except RuntimeError:
                    continue
            processor.wait_batches(1, 5)
            processor.stop()
            journals = {"on": ["on"], "off": ["off"], "both": ["on", "off"]}[args.journal]
            algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()] or [None]
            codes = [None] + ([args.baseline_code.resolve()] if args.baseline_code else [])
            variants = [(journal, algorithm, code) for code in codes for algorithm in algorithms for journal in journals]
            rows_by: dict[str, list] = {}
            for round_ in range(1, args.repeat + 1):
                for journal, algorithm, code in variants:
                    variant = journal if algorithm is None else f"{journal}, {algorithm}"
                    if code is not None:
                        variant += ", baseline code"
                        processor.env["PYTHONPATH"] = str(code)
                    else:
                        processor.env.pop("PYTHONPATH", None)
                    publish_backlog(broker.port, payloads)  # queued for both persistent sessions
                    bare = drain_bare(broker.port, expected, samples)
                    processor.env["GAZEWIRE_JOURNAL__ENABLED"] = "true" if journal == "on" else "false"
                    profile = None
                    if args.profile is not None:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        profile = args.profile / f"processor-{round_}-{journal}-{algorithm or 'default'}-{bool(code)}.txt"
                    processor.start(workdir / f"data-{round_}-{journal}-{algorithm}-{bool(code)}", algorithm, profile)
                    processor.wait_batches(expected, 600)  # its counters start at 0 with each process
                    processor.wait_stored(samples, 300)
                    processor.stop()
                    proc = processor.rate(expected, samples_per_batch)
                    rows_by.setdefault(variant, []).append((bare, proc))
                    print(f"round {round_} journal {variant:>3}: bare {bare['samples_per_s']:>9,.0f} samples/s   "
                          f"processor {proc['samples_per_s']:>9,.0f} samples/s "
                          f"({proc['cpu_us_per_sample']:.1f} µs CPU/sample)   "
                          f"ratio {proc['samples_per_s'] / bare['samples_per_s']:.2f}   "
                          f"sink {proc['stored_per_s'] / bare['samples_per_s']:.2f}")
        finally:
            processor.close()
            broker.stop()
            if victoria is not None:
                victoria.stop()
    for variant, rows in rows_by.items():
        ratios = [p["samples_per_s"] / b["samples_per_s"] for b, p in rows]
        print(f"journal {variant}: ratio processor/bare: median {statistics.median(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f}) over {len(ratios)} rounds; "
              f"CPU {statistics.median(p['cpu_us_per_sample'] for _, p in rows):.1f} µs/sample; "
              f"sink (points written) / bare: median "
              f"{statistics.median(p['stored_per_s'] / b['samples_per_s'] for b, p in rows):.2f}; "
              f"trackers at {args.frequency:.0f} Hz per processor: "
              f"~{statistics.median(p['samples_per_s'] for _, p in rows) / args.frequency:.0f}")
    names = list(rows_by)
    if len(names) > 1:  # every variant's drain rate against the first's
        base = statistics.median(p["samples_per_s"] for _, p in rows_by[names[0]])
        for name in names[1:]:
            rate = statistics.median(p["samples_per_s"] for _, p in rows_by[name])
            print(f"drain rate journal {name} / journal {names[0]}: {rate / base:.2f}")


if __name__ == "__main__":
    main()
