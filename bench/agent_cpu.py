"""The agent's CPU and memory while it streams, against baselines measured in the same run.

    .venv/bin/python bench/agent_cpu.py [--frequency 1200 120] [--seconds 20] [--rounds 3]
        [--processor both] [--baseline-rev REV]

Starts Mosquitto on free loopback ports and, for the rounds "with a processor",
``gazewire processor run`` with its journal (line-protocol sink), so batches leave
the agent's outbox on the processor's custody confirmation as in a lab; "without"
has no processor (the broker's PUBACK releases them). Then, per rate and round,
one child process after the other, each measured over the same window once it runs:

- **tracker alone**: the simulated tracker delivering into a bounded deque (what
  any consumer of it must at least pay: it is part of the agent's budget);
- **bare publisher**: a plain paho client publishing the same batches (built once
  by the agent's own code from the same simulated gaze; 20 a second, QoS 1) and a
  live message (20 a second, QoS 0), nothing else: the least any agent that sends
  them pays;
- **agent**: ``gazewire agent run --source simulated`` (recording on, outbox
  ``synchronous = full``, the defaults), and with ``--baseline-rev`` the agent of
  that git revision too (before/after in one run).

CPU is utime + stime of the child from ``/proc/<pid>/stat`` over the window, as a
percentage of one core; RSS is ``VmRSS`` at the end of the window (``VmHWM``, the
peak, beside it). The machine is shared and noisy (2 cores): compare the ratios to
the floor (tracker alone + bare publisher) measured in the same round, and read
the load average printed with every line.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.mosquitto import MosquittoBroker  # noqa: E402

PUBLISH_HZ = 20

TRACKER_ALONE = textwrap.dedent(
    """
    import collections, sys, threading
    from gazewire.agent.inputs.simulated import SimulatedTracker

    class Sink:
        def __init__(self):
            self.queue = collections.deque(maxlen=4096)
            self.gaze = self.queue.append
        def tracker_state(self, state, detail=None): pass
        def tracker_info(self, info, display_area): pass
        def marker(self, name, system_time_us): pass

    tracker = SimulatedTracker(float(sys.argv[1]), seed=0)
    tracker.start(Sink())
    print("ready", flush=True)
    threading.Event().wait()
    """
)

BARE_PUBLISHER = textwrap.dedent(
    """
    import socket, sys, time
    import paho.mqtt.client as paho

    port, directory = int(sys.argv[1]), sys.argv[2]
    batches = [open(f"{directory}/batch-{i}.json", "rb").read() for i in range(int(sys.argv[3]))]
    live = open(f"{directory}/live.json", "rb").read()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=paho.MQTTv5)
    client.on_socket_open = lambda c, u, s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    print("ready", flush=True)
    interval, due, index = 1 / 20, time.monotonic(), 0
    while True:
        due += interval
        time.sleep(max(0.0, due - time.monotonic()))
        client.publish("lab/bare/gaze/batch", batches[index % len(batches)], qos=1)
        client.publish("lab/bare/gaze", live, qos=0)
        index += 1
    """
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            values[line.split(":")[0]] = int(line.split()[1]) / 1024
    return values["VmRSS"], values["VmHWM"]


@dataclass
class Sample:
    cpu_percent: float
    rss_mb: float
    peak_mb: float
    load: float


@dataclass
class Results:
    by_case: dict[str, list[Sample]] = field(default_factory=dict)

    def add(self, case: str, sample: Sample) -> None:
        self.by_case.setdefault(case, []).append(sample)


def make_payloads(directory: Path, frequency: float, count: int) -> None:
    """Batches and a live message as the agent builds them, from the same simulated gaze."""
    from gazewire.agent.inputs.gaze_model import GazeSimulator
    from gazewire.agent.pipeline.batch import BatchBuilder
    from gazewire.agent.pipeline.combine import combine_eyes
    from gazewire.agent.pipeline.live import live_gaze_payload

    per_batch = int(frequency / PUBLISH_HZ)
    samples = GazeSimulator(frequency, seed=0).next_samples(per_batch * count)
    builder = BatchBuilder("bare", device="SIM-000000", run="bench")
    for index in range(count):
        for offset in range(per_batch):
            seq = index * per_batch + offset
            builder.add(seq, 1_800_000_000_000_000 + seq, samples[seq])
        payload, _ = builder.build(batch_seq=index, clock_offset_us=0, sample_rate_hz=frequency)
        (directory / f"batch-{index}.json").write_bytes(payload)
    last = samples[-1]
    (directory / "live.json").write_bytes(live_gaze_payload(
        session="bare", device="SIM-000000", live_seq=0, sample_seq=0, utc_us=1_800_000_000_000_000,
        sample=last, gaze=combine_eyes(last), samples=per_batch,
    ))


class Lab:
    def __init__(self, work: Path, baseline_code: Path | None) -> None:
        self.work = work
        self.baseline_code = baseline_code
        self.broker = MosquittoBroker(work / "broker")
        self.processor: subprocess.Popen | None = None
        self.children: list[subprocess.Popen] = []
        self.runs = 0

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GAZEWIRE_", "PYTHONPATH"))}
        env.update({"GAZEWIRE_MQTT__HOST": self.broker.host, "GAZEWIRE_MQTT__PORT": str(self.broker.port)})
        env.update(extra)
        return env

    def start_processor(self) -> None:
        log = (self.work / "processor.log").open("wb")
        self.processor = subprocess.Popen(
            [sys.executable, "-m", "gazewire.cli", "processor", "run"],
            env=self.env(GAZEWIRE_DATA_DIR=str(self.work / "processor"), GAZEWIRE_PROCESSOR_ID="bench"),
            stdout=log, stderr=subprocess.STDOUT,
        )
        wait_for_retained(self.broker.port, "lab/_sys/processor/bench/status", lambda p: b'"online"' in p)

    def stop_processor(self) -> None:
        if self.processor is not None:
            self.processor.send_signal(signal.SIGTERM)
            self.processor.wait(30)
            self.processor = None

    def measure(self, command: list[str], env: dict[str, str], ready, seconds: float, warmup_s: float) -> Sample:
        self.runs += 1
        log = (self.work / f"run-{self.runs}.log").open("wb")
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, cwd=self.work)
        self.children.append(child)
        try:
            ready(child)
            time.sleep(warmup_s)  # past start-up work (imports, the first clock measurement, connecting)
            before, started = cpu_seconds(child.pid), time.monotonic()
            load_before = os.getloadavg()[0]
            time.sleep(seconds)  # the measurement window itself
            used, elapsed = cpu_seconds(child.pid) - before, time.monotonic() - started
            rss, peak = memory_mb(child.pid)
            load = (load_before + os.getloadavg()[0]) / 2
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            log.close()
        return Sample(100.0 * used / elapsed, rss, peak, load)


def ready_line(child: subprocess.Popen) -> None:
    line = child.stdout.readline() if child.stdout else b""
    if b"ready" not in line:
        raise RuntimeError(f"child did not start: {line!r}")


def wait_for_retained(port: int, topic: str, accept, timeout_s: float = 60.0) -> bytes:
    """The retained message on ``topic`` once ``accept(payload)`` (a one-off subscriber)."""
    found: list[bytes] = []
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"bench-wait-{os.getpid()}-{time.monotonic_ns()}")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_message = lambda c, u, m: found.append(bytes(m.payload)) if accept(bytes(m.payload)) else None
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.monotonic() + timeout_s
    try:
        while not found:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no acceptable message on {topic}")
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    return found[0]


def code_of_revision(revision: str, directory: Path) -> Path:
    """The gazewire package of a git revision laid out as installed (gazewire/, gazewire/agent,
    gazewire/processor), for PYTHONPATH: that revision's agent in this run."""
    tree = directory / "tree"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "gazewire", "agent", "processor"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    code = directory / "code"
    code.mkdir()
    (tree / "gazewire").rename(code / "gazewire")
    (tree / "agent").rename(code / "gazewire" / "agent")
    (tree / "processor").rename(code / "gazewire" / "processor")
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frequency", type=float, nargs="+", default=[1200.0, 120.0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window per run")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds after start before the window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processor", choices=["on", "off", "both"], default="both",
                        help="a processor with its journal confirming custody, none, or both in turn")
    parser.add_argument("--baseline-rev", default=None, metavar="REV",
                        help="also measure the agent of this git revision (e.g. main, a commit) in every round")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gazewire-bench-cpu-"))
    baseline_code = code_of_revision(args.baseline_rev, work / "baseline") if args.baseline_rev else None
    lab = Lab(work, baseline_code)
    lab.broker.start()
    results = Results()
    processor_modes = {"on": [True], "off": [False], "both": [True, False]}[args.processor]
    try:
        for with_processor in processor_modes:
            if with_processor:
                lab.start_processor()
            for frequency in args.frequency:
                payloads = work / f"payloads-{frequency:g}"
                payloads.mkdir(exist_ok=True)
                make_payloads(payloads, frequency, 100)
                for round_ in range(1, args.rounds + 1):
                    run_round(lab, results, args, frequency, with_processor, payloads, round_)
            lab.stop_processor()
    finally:
        lab.stop_processor()
        for child in lab.children:
            if child.poll() is None:
                child.kill()
        lab.broker.kill()
    print()
    print("median over rounds; ratio = agent / (tracker alone + bare publisher) of the same round, median")
    for case, samples in results.by_case.items():
        print(f"{case:58s} CPU {statistics.median(s.cpu_percent for s in samples):5.2f} %  "
              f"RSS {statistics.median(s.rss_mb for s in samples):5.1f} MB "
              f"(peak {max(s.peak_mb for s in samples):5.1f})  load {statistics.median(s.load for s in samples):4.2f}")
    for case, ratios in RATIOS.items():
        print(f"{case:58s} {statistics.median(ratios):5.2f} x floor  (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")


RATIOS: dict[str, list[float]] = {}


def run_round(lab: Lab, results: Results, args, frequency: float, with_processor: bool, payloads: Path,
              round_: int) -> None:
    where = f"{frequency:g} Hz, {'processor' if with_processor else 'no processor'}"
    tracker = lab.measure([sys.executable, "-c", TRACKER_ALONE, str(frequency)], lab.env(), ready_line,
                          args.seconds, args.warmup)
    bare = lab.measure([sys.executable, "-c", BARE_PUBLISHER, str(lab.broker.port), str(payloads), "100"],
                       lab.env(), ready_line, args.seconds, args.warmup)
    floor = tracker.cpu_percent + bare.cpu_percent
    line = [f"round {round_}, {where}: tracker alone {tracker.cpu_percent:.2f} %, bare publisher "
            f"{bare.cpu_percent:.2f} % (load {tracker.load:.1f}, {bare.load:.1f})"]
    results.add(f"{where}: tracker alone", tracker)
    results.add(f"{where}: bare publisher", bare)
    codes = [("agent", None)] + ([(f"agent at {args.baseline_rev}", lab.baseline_code)] if lab.baseline_code else [])
    if round_ % 2 == 0:
        codes.reverse()
    for name, code in codes:
        session = f"bench{lab.runs}"
        extra = {"GAZEWIRE_DATA_DIR": str(lab.work / f"agent-{lab.runs}"), "GAZEWIRE_SOURCE": "simulated",
                 "GAZEWIRE_FREQUENCY_HZ": str(frequency), "GAZEWIRE_SESSION": session}
        if code is not None:
            extra["PYTHONPATH"] = str(code)

        def streaming(child: subprocess.Popen, session: str = session) -> None:
            custody = b'"custody":"processor"' if with_processor else b'"custody":"broker"'
            wait_for_retained(lab.broker.port, f"lab/{session}/status",
                              lambda p: b'"state":"tracking"' in p and custody in p)

        agent = lab.measure([sys.executable, "-m", "gazewire.cli", "agent", "run"], lab.env(**extra), streaming,
                            args.seconds, args.warmup)
        results.add(f"{where}: {name}", agent)
        RATIOS.setdefault(f"{where}: {name}", []).append(agent.cpu_percent / floor)
        line.append(f"{name} {agent.cpu_percent:.2f} % ({agent.cpu_percent / floor:.2f} x floor), "
                    f"RSS {agent.rss_mb:.0f} MB (load {agent.load:.1f})")
    print("; ".join(line), flush=True)


if __name__ == "__main__":
    main()
