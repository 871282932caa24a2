"""How long after its samples a fixation event reaches a lab device.

Setup, all on this machine and each in its own process: Mosquitto, ``gazewire
agent run`` with the simulated tracker in real time (speed 1), ``gazewire
processor run``, and this script as the lab device subscribed to
``lab/<session>/fixations``. For every event:

* delay = time the lab device received it (wall clock) minus the UTC of the
  sample it is about: for a start, the sample that made the fixation certain
  (``confirmed_utc_us``, the fixation has lasted ``min_fixation_ms`` then); for
  an end, the fixation's last sample (``end_utc_us``);
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

from gazewire.wire.messages import FixationEvent  # noqa: E402
from tests.support.lab_device import LabDevice  # noqa: E402
from tests.support.mosquitto import MosquittoBroker  # noqa: E402

DEFAULT_DOC = REPO_ROOT / "docs" / "processor.md"
BEGIN = "<!-- event-delay:begin -->"
END = "<!-- event-delay:end -->"
WARM_UP_S = 3.0
RUNS = ((120.0, 20.0), (600.0, 20.0), (600.0, 50.0))  # (tracker Hz, agent publish_hz)


@dataclass
class Result:
    frequency_hz: float
    publish_hz: float
    kind: str
    delays_ms: np.ndarray
    lookahead_ms: np.ndarray
    rest_ms: np.ndarray

    def row(self) -> str:
        d, look, rest = self.delays_ms, self.lookahead_ms, self.rest_ms
        return (
            f"| {self.frequency_hz:.0f} Hz | {self.publish_hz:.0f} Hz | {self.kind} | {d.size} "
            f"| {np.percentile(d, 50):.0f} | {np.percentile(d, 95):.0f} | {d.max():.0f} "
            f"| {np.percentile(look, 50):.0f} | {np.percentile(rest, 50):.0f} / {np.percentile(rest, 95):.0f} |"
        )


def env_without_gazewire() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def measure(broker: MosquittoBroker, work: Path, frequency_hz: float, publish_hz: float, seconds: float) -> list[Result]:
    session = f"delay-{int(frequency_hz)}-{int(publish_hz)}"
    lab = LabDevice(broker.host, broker.port, [f"lab/{session}/fixations"])
    received: list[tuple[int, bytes]] = []
    lab.client.on_message = lambda client, userdata, message: received.append((time.time_ns() // 1000, bytes(message.payload)))
    base = [sys.executable, "-m", "gazewire.cli"]
    broker_arg = ["--broker", f"{broker.host}:{broker.port}"]
    processor = subprocess.Popen(
        [*base, "processor", "run", *broker_arg, "--id", session, "--lineprotocol-dir", str(work / "lp")],
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
    events = [(at, FixationEvent.model_validate_json(payload)) for at, payload in received]
    if not events:
        raise RuntimeError(f"no fixation events received; see the logs in {work}")
    first = min(e.start_utc_us for _, e in events)
    results = []
    for kind in ("start", "end"):
        rows = []
        for at, event in events:
            if event.event != kind or event.start_utc_us < first + WARM_UP_S * 1e6:
                continue
            reference = event.confirmed_utc_us if kind == "start" else event.end_utc_us
            assert reference is not None and event.detected_utc_us is not None
            rows.append((at - reference, event.detected_utc_us - reference, at - event.detected_utc_us))
        array = np.array(rows, dtype=float) / 1000.0
        results.append(Result(frequency_hz, publish_hz, kind, array[:, 0], array[:, 1], array[:, 2]))
    return results


def table(results: list[Result], seconds: float) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} ({os.cpu_count()} CPUs), "
        f"Python {platform.python_version()}, everything on one host (loopback), default I-VT settings, "
        f"{seconds:.0f} s per row after {WARM_UP_S:.0f} s warm-up, `bench/event_delay.py`.",
        "",
        "| tracker | agent publish_hz | event | n | delay p50 ms | p95 ms | max ms "
        "| newest sample − event's sample p50 ms | receive − newest sample p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|---|",
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
    with tempfile.TemporaryDirectory(prefix="gazewire-delay-") as tmp:
        work = Path(tmp)
        broker = MosquittoBroker(work / "mosquitto")
        broker.start()
        try:
            for frequency_hz, publish_hz in RUNS:
                results += measure(broker, work, frequency_hz, publish_hz, args.seconds)
                print(f"{frequency_hz:.0f} Hz, publish_hz {publish_hz:.0f}: done", file=sys.stderr)
        finally:
            broker.kill()
    text = table(results, args.seconds)
    print(text)
    if not args.no_doc:
        write_doc(args.doc, text)


if __name__ == "__main__":
    main()
