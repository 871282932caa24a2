"""Processor capacity: how many samples per second one processor handles.

Builds real ``gaze/batch`` payloads (the agent's own BatchBuilder over the
simulated tracker) and feeds them to the processor's single entry point,
``Dispatcher.handle`` (parse, check, sequence, detect, alerts, AOIs), then
builds the points of its outcome and encodes them as line protocol (what the
processor's thread does before handing them to a sink). No broker,
no database: this is the CPU the processor's thread needs per sample, which
bounds how many trackers one processor can follow.

Each detector of ``--algorithms`` (default: ``ivt``, the baseline, and ``ivd``,
the default) handles the same payloads with a fresh dispatcher, taking turns for
``--rounds`` rounds (the machine is shared and noisy); the best round of each is
reported, and the ratios to the first.

    .venv/bin/python bench/processor_throughput.py [--sessions 4] [--seconds 60] [--frequency 1200]
        [--algorithms ivt,ivd] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gazewire.agent.inputs.gaze_model import GazeSimulator  # noqa: E402
from gazewire.agent.pipeline.batch import BatchBuilder  # noqa: E402
from gazewire.agent.pipeline.combine import combine_eyes  # noqa: E402
from gazewire.settings import load_settings  # noqa: E402
from gazewire.wire.topics import Topics  # noqa: E402
from gazewire.processor.config import ProcessorSettings  # noqa: E402
from gazewire.processor.inputs.payloads import PayloadParser  # noqa: E402
from gazewire.processor.pipeline.dispatch import Dispatcher  # noqa: E402
from gazewire.processor.pipeline.session import SessionConfig  # noqa: E402
from gazewire.processor.outputs.points import points_of  # noqa: E402

OFFSET_US = 1_795_000_000_000_000


def batches(session: str, seed: int, seconds: float, frequency: float, publish_hz: float) -> list[tuple[str, bytes]]:
    simulator = GazeSimulator(frequency_hz=frequency, seed=seed)
    builder = BatchBuilder(session, f"SIM-{seed}", run="bench")
    per_batch = max(1, round(frequency / publish_hz))
    topic = Topics().gaze_batch(session)
    out = []
    for batch_seq in range(int(seconds * publish_hz)):
        for sample in simulator.next_samples(per_batch):
            seq = batch_seq * per_batch + len(builder)
            builder.add(seq, sample["system_time_stamp"] + OFFSET_US, sample, combine_eyes(sample))
        payload, _ = builder.build(batch_seq=batch_seq, clock_offset_us=OFFSET_US, sample_rate_hz=frequency)
        out.append((topic, payload))
    return out


def make_dispatcher(algorithm: str) -> Dispatcher:
    settings = load_settings(ProcessorSettings, overrides={"processor_id": "bench", "algorithm": algorithm})
    return Dispatcher(
        SessionConfig(
            parameters=settings.detector_parameters,
            display_mm=(settings.default_display_width_mm, settings.default_display_height_mm),
            eye_distance_mm=settings.default_eye_distance_mm,
            alerts=settings.alerts,
        ),
        PayloadParser(Topics(), max_bytes=settings.max_payload_bytes),
    )


def measure(algorithm: str, interleaved: list[tuple[str, bytes]]) -> dict[str, float]:
    """One pass of every message through a fresh dispatcher: seconds handling, seconds building
    points and line protocol, and what came out."""
    dispatcher = make_dispatcher(algorithm)
    events = points = 0
    handle_s = encode_s = 0.0
    for topic, payload in interleaved:
        started = time.perf_counter()
        outcome = dispatcher.handle(topic, payload)
        middle = time.perf_counter()
        lines = [point.line() for point in points_of(outcome)]
        encode_s += time.perf_counter() - middle
        handle_s += middle - started
        points += len(lines)
        events += len(outcome.messages())
    return {
        "samples": dispatcher.counters()["samples"],
        "handle_s": handle_s,
        "encode_s": encode_s,
        "events": events,
        "points": points,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--frequency", type=float, default=1200)
    parser.add_argument("--publish-hz", type=float, default=20)
    parser.add_argument("--algorithms", default="ivt,ivd", help="detectors, comma-separated; the first is the baseline")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    streams = [batches(f"bench-{i}", i, args.seconds, args.frequency, args.publish_hz) for i in range(args.sessions)]
    interleaved = [message for group in zip(*streams) for message in group]
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):
        for algorithm in algorithms:
            result = measure(algorithm, interleaved)
            total = result["handle_s"] + result["encode_s"]
            if algorithm not in best or total < best[algorithm]["handle_s"] + best[algorithm]["encode_s"]:
                best[algorithm] = result
    recorded_s = args.seconds * args.sessions
    print(f"## processor throughput: {args.sessions} sessions x {args.seconds:g} s at {args.frequency:g} Hz, "
          f"batches of {round(args.frequency / args.publish_hz)}; best of {args.rounds} rounds, taking turns")
    base = None
    for algorithm in algorithms:
        r = best[algorithm]
        samples = r["samples"]
        total_s = r["handle_s"] + r["encode_s"]
        rate = samples / total_s
        base = base or rate
        print(f"{algorithm}: {samples:.0f} samples, {len(interleaved)} batches, {r['events']:.0f} events published, "
              f"{r['points']:.0f} points")
        print(f"  handle (parse, check, detect, alerts): {r['handle_s'] / samples * 1e6:.2f} µs/sample; "
              f"points and line protocol: {r['encode_s'] / samples * 1e6:.2f} µs/sample")
        print(f"  capacity: {rate:,.0f} samples/s on one core = {rate / args.frequency:.1f} trackers at "
              f"{args.frequency:g} Hz; {recorded_s / total_s:.0f}x real time for this load; "
              f"{rate / base:.2f}x {algorithms[0]}")


if __name__ == "__main__":
    main()
