"""How long after its samples an eye-movement event reaches a lab device.

Setup, all on this machine and each in its own process: Mosquitto, ``gazewire
agent run`` with the simulated tracker in real time (speed 1), ``gazewire
processor run`` (each detector in turn: ``ivt``, the baseline, and ``ivd``, the
default, in the same run), and this script as the lab device subscribed to
``lab/<session>/fixations``, ``/saccades`` and ``/blinks`` (the simulated
participant makes no smooth pursuit). For every event:

* delay = time the lab device received it (wall clock) minus the UTC of the
  sample it is about: for a start, the sample that made the fixation a
  candidate (``confirmed_utc_us``, the fixation has lasted ``min_fixation_ms``
  then; with ``ivd`` the start is tentative) - and, in the row "start from its
  first sample", the fixation's first sample (``start_utc_us``), the delay
  issue 12 bounds by ``min_fixation_ms`` + one batch period + 10 ms; for an end,
  the fixation's last sample (``end_utc_us``; retracted tentative starts are
  counted, not timed); for a saccade or a blink, its last sample;
* split at ``detected_utc_us``, the newest sample the processor had when it
  emitted the event: *newest sample minus the event's sample* is the detector's
  look-ahead (the samples it must see before it can decide) plus the rest of the
  agent's batch that carried the deciding sample (a batch holds 1 / publish_hz
  of samples); *receive time minus newest sample* is the agent's tick, MQTT
  agent → broker → processor, processing, and processor → broker → lab device.

The simulated tracker stamps each sample with the time it delivers it, and the
agent maps that clock to UTC (measured offset), so sample UTC and the receive
time are on the same clock here.

Usage (from the repository root)::

    .venv/bin/python bench/event_delay.py [--seconds 30] [--doc docs/processor.md | --no-doc]

The table is printed and written into the doc between ``<!-- event-delay:begin -->``
and ``<!-- event-delay:end -->``.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from gazewire.wire.messages import BlinkEvent, FixationEvent, SaccadeEvent  # noqa: E402
from tests.support.lab_device import LabDevice  # noqa: E402
from tests.support.mosquitto import MosquittoBroker  # noqa: E402

DEFAULT_DOC = REPO_ROOT / "docs" / "processor.md"
BEGIN = "<!-- event-delay:begin -->"
END = "<!-- event-delay:end -->"
WARM_UP_S = 3.0
RUNS = ((120.0, 20.0), (600.0, 20.0), (600.0, 50.0))  # (tracker Hz, agent publish_hz)
ALGORITHMS = ("ivt", "ivd")
MODELS = {"fixations": FixationEvent, "saccades": SaccadeEvent, "blinks": BlinkEvent}


@dataclass
class Result:
    algorithm: str
    frequency_hz: float
    publish_hz: float
    kind: str
    delays_ms: np.ndarray
    lookahead_ms: np.ndarray
    rest_ms: np.ndarray

    def row(self) -> str:
        d, look, rest = self.delays_ms, self.lookahead_ms, self.rest_ms
        return (
            f"| {self.algorithm} | {self.frequency_hz:.0f} Hz | {self.publish_hz:.0f} Hz | {self.kind} | {d.size} "
            f"| {np.percentile(d, 50):.0f} | {np.percentile(d, 95):.0f} | {d.max():.0f} "
            f"| {np.percentile(look, 50):.0f} | {np.percentile(rest, 50):.0f} / {np.percentile(rest, 95):.0f} |"
        )


def env_without_gazewire() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def measure(
    broker: MosquittoBroker, work: Path, algorithm: str, frequency_hz: float, publish_hz: float, seconds: float
) -> tuple[list[Result], int]:
    """The rows of one configuration, and how many tentative starts were retracted."""
    session = f"delay-{algorithm}-{int(frequency_hz)}-{int(publish_hz)}"
    lab = LabDevice(broker.host, broker.port, [f"lab/{session}/{channel}" for channel in MODELS])
    received: list[tuple[int, str, bytes]] = []
    lab.client.on_message = lambda client, userdata, message: received.append(
        (time.time_ns() // 1000, message.topic.rsplit("/", 1)[1], bytes(message.payload))
    )
    base = [sys.executable, "-m", "gazewire.cli"]
    broker_arg = ["--broker", f"{broker.host}:{broker.port}"]
    processor = subprocess.Popen(
        [*base, "processor", "run", *broker_arg, "--id", session, "--algorithm", algorithm,
         "--lineprotocol-dir", str(work / "lp")],
        env=env_without_gazewire(), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=(work / f"{session}-p.log").open("wb"),
    )
    agent = subprocess.Popen(
        [*base, "agent", "run", *broker_arg, "--session", session, "--source", "simulated",
         "--frequency", str(frequency_hz), "--publish-hz", str(publish_hz), "--data-dir", str(work / session),
         "--no-record", "--seed", "1"],
        env=env_without_gazewire(), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=(work / f"{session}-a.log").open("wb"),
    )
    try:
        time.sleep(seconds + WARM_UP_S)  # the measurement runs in real time; nothing to wait for
    finally:
        for process in (agent, processor):
            process.send_signal(signal.SIGTERM)
        for process in (agent, processor):
            process.wait(30)
        lab.close()
    events = [(at, channel, MODELS[channel].model_validate_json(payload)) for at, channel, payload in received]
    fixations = [(at, e) for at, channel, e in events if channel == "fixations"]
    if not fixations:
        raise RuntimeError(f"no fixation events received; see the logs in {work}")
    first = min(e.start_utc_us for _, e in fixations)
    retracted = sum(1 for _, e in fixations if e.retracted)
    rows: dict[str, list[tuple[int, int, int]]] = {}
    for at, channel, event in events:
        if event.start_utc_us < first + WARM_UP_S * 1e6 or event.detected_utc_us is None:
            continue
        if channel == "fixations":
            if event.retracted:
                continue
            kind = event.event
            reference = event.confirmed_utc_us if kind == "start" else event.end_utc_us
            if kind == "start":
                rows.setdefault("start from its first sample", []).append(
                    (at - event.start_utc_us, event.detected_utc_us - event.start_utc_us, at - event.detected_utc_us)
                )
        else:
            kind, reference = channel[:-1], event.end_utc_us
        assert reference is not None
        rows.setdefault(kind, []).append((at - reference, event.detected_utc_us - reference, at - event.detected_utc_us))
    results = []
    for kind in ("start", "start from its first sample", "end", "saccade", "blink"):
        if kind not in rows:
            continue
        array = np.array(rows[kind], dtype=float) / 1000.0
        results.append(Result(algorithm, frequency_hz, publish_hz, kind, array[:, 0], array[:, 1], array[:, 2]))
    return results, retracted


def table(results: list[Result], seconds: float, retracted: int) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} ({os.cpu_count()} CPUs), "
        f"Python {platform.python_version()}, everything on one host (loopback), default settings of each "
        f"detector, {seconds:.0f} s per configuration after {WARM_UP_S:.0f} s warm-up, the detectors "
        f"in turn in one run, `bench/event_delay.py`. The simulated participant makes no smooth "
        f"pursuit: tentative starts retracted (ivd): {retracted}.",
        "",
        "| detector | tracker | agent publish_hz | event | n | delay p50 ms | p95 ms | max ms "
        "| newest sample − event's sample p50 ms | receive − newest sample p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(r.row() for r in results),
    ]
    return "\n".join(lines) + "\n"


def write_doc(doc: Path, text: str) -> None:
    content = doc.read_text()
    if BEGIN not in content or END not in content:
        raise SystemExit(f"{doc} has no {BEGIN} ... {END} markers")
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per configuration")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    results: list[Result] = []
    retracted = 0
    with tempfile.TemporaryDirectory(prefix="gazewire-delay-") as tmp:
        work = Path(tmp)
        broker = MosquittoBroker(work / "mosquitto")
        broker.start()
        try:
            for frequency_hz, publish_hz in RUNS:
                for algorithm in ALGORITHMS:  # alternating, so both see the same machine load
                    rows, taken_back = measure(broker, work, algorithm, frequency_hz, publish_hz, args.seconds)
                    results += rows
                    retracted += taken_back
                    print(f"{algorithm} {frequency_hz:.0f} Hz, publish_hz {publish_hz:.0f}: done", file=sys.stderr)
        finally:
            broker.kill()
    results.sort(key=lambda r: ALGORITHMS.index(r.algorithm))
    text = table(results, args.seconds, retracted)
    print(text)
    if not args.no_doc:
        write_doc(args.doc, text)


if __name__ == "__main__":
    main()
