"""Agent pipeline cost per sample, without the network.

Measures on this machine, with a real Agent object (its MQTT link is built
but never connected; batches go to a real SQLite outbox in a temp dir):

- the SDK callback (``Agent.gaze``): what the tracker's thread pays per sample;
- the pipeline per sample: number, combine, UTC, CSV recording, batch, throttle;
- one batch: JSON build + durable outbox append (synchronous=full and normal);
- memory: tracemalloc peak while streaming one minute of 1200 Hz data;
- the pipeline during a recording (its own CSV, the samples counted for its
  sidecar) against between recordings (the session's CSV), alternating rounds.

    .venv/bin/python bench/agent_pipeline.py [--seconds 60] [--frequency 1200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from gazewire.agent.config import AgentSettings
from gazewire.agent.inputs.gaze_model import GazeSimulator
from gazewire.agent.runtime import Agent
from gazewire.settings import load_settings


class _NoSource:
    name = "none"
    buffer_overflows = 0
    connection_losses = 0

    def start(self, events):
        pass

    def stop(self):
        pass

    def system_time_us(self):
        return time.monotonic_ns() // 1000


def make_agent(directory: Path, sync: str, record: bool = True) -> Agent:
    settings = load_settings(
        AgentSettings,
        overrides={"session": "bench", "source": "simulated", "data_dir": str(directory),
                   "outbox_sync": sync, "record": record, "queue_size": 10_000_000},
    )
    agent = Agent(settings, _NoSource())
    agent._measure_clock()
    return agent


def run(seconds: float, frequency: float) -> None:
    simulator = GazeSimulator(frequency_hz=frequency, seed=1)
    total = int(seconds * frequency)
    samples = simulator.next_samples(total)
    per_batch = int(frequency / 20)
    print(f"{total} simulated samples at {frequency:g} Hz ({seconds:g} s), batches of {per_batch}")

    for sync in ("full", "normal"):
        with tempfile.TemporaryDirectory() as directory:
            agent = make_agent(Path(directory), sync)
            callback_ns = pipeline_ns = 0
            batch_ns = []
            for i in range(0, total, per_batch):
                chunk = samples[i : i + per_batch]
                start = time.perf_counter_ns()
                for sample in chunk:
                    agent.gaze(sample)
                callback_ns += time.perf_counter_ns() - start
                start = time.perf_counter_ns()
                agent._take_samples()
                pipeline_ns += time.perf_counter_ns() - start
                start = time.perf_counter_ns()
                agent._flush_batch()
                batch_ns.append(time.perf_counter_ns() - start)
            agent.outbox.close()
            agent.recordings.close()
        print(
            f"outbox synchronous={sync:6}: SDK callback {callback_ns / total:5.0f} ns/sample | "
            f"pipeline {pipeline_ns / total / 1000:5.2f} µs/sample "
            f"(capacity {total / (pipeline_ns / 1e9):,.0f} samples/s) | "
            f"batch build+append median {statistics.median(batch_ns) / 1e6:.2f} ms, "
            f"p95 {sorted(batch_ns)[int(len(batch_ns) * 0.95)] / 1e6:.2f} ms"
        )

    with tempfile.TemporaryDirectory() as directory:
        agent = make_agent(Path(directory), "normal")
        tracemalloc.start()
        for i in range(0, total, per_batch):
            for sample in samples[i : i + per_batch]:
                agent.gaze(sample)
            agent._take_samples()
            agent._flush_batch()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        agent.outbox.close()
        agent.recordings.close()
    print(f"memory while streaming (batches drained at once): current {current / 1e6:.2f} MB, peak {peak / 1e6:.2f} MB")


def compare_recording(seconds: float, frequency: float, rounds: int = 6) -> None:
    """Pipeline per sample in a recording vs between recordings, alternating (best of ``rounds`` each)."""
    samples = GazeSimulator(frequency_hz=frequency, seed=2).next_samples(int(seconds * frequency))
    per_batch = int(frequency / 20)
    best: dict[bool, float] = {}
    for index in range(2 * rounds):
        recording = index % 2 == 1
        with tempfile.TemporaryDirectory() as directory:
            agent = make_agent(Path(directory), "normal")
            if recording:
                agent.start_recording(name="bench", participant="P01")
            spent = 0
            for i in range(0, len(samples), per_batch):
                for sample in samples[i : i + per_batch]:
                    agent.gaze(sample)
                start = time.perf_counter_ns()
                agent._take_samples()
                spent += time.perf_counter_ns() - start
                agent._flush_batch()
            agent.outbox.close()
            agent.recordings.close()
        per_sample = spent / len(samples) / 1000
        best[recording] = min(best.get(recording, per_sample), per_sample)
    print(
        f"pipeline per sample, best of {rounds} alternating rounds: between recordings {best[False]:5.2f} µs, "
        f"in a recording {best[True]:5.2f} µs ({best[True] / best[False]:.2f} x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--frequency", type=float, default=1200)
    args = parser.parse_args()
    run(args.seconds, args.frequency)
    compare_recording(min(args.seconds, 20), args.frequency)


if __name__ == "__main__":
    main()
