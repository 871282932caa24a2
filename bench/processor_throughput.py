"""Processor capacity: how many samples per second one processor handles.

Builds real ``gaze/batch`` payloads (the agent's own BatchBuilder over the
simulated tracker) and feeds them to the processor's single entry point,
``Dispatcher.handle`` (parse, check, sequence, detect, alerts, AOIs), then
builds the points of its outcome and encodes them as line protocol (what the
processor's thread does before handing them to a sink). No broker,
no database: this is the CPU the processor's thread needs per sample, which
bounds how many trackers one processor can follow.

    .venv/bin/python bench/processor_throughput.py [--sessions 4] [--seconds 60] [--frequency 1200]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--frequency", type=float, default=1200)
    parser.add_argument("--publish-hz", type=float, default=20)
    args = parser.parse_args()
    settings = load_settings(ProcessorSettings, overrides={"processor_id": "bench"})
    dispatcher = Dispatcher(
        SessionConfig(
            parameters=settings.detector_parameters,
            display_mm=(settings.default_display_width_mm, settings.default_display_height_mm),
            eye_distance_mm=settings.default_eye_distance_mm,
            alerts=settings.alerts,
        ),
        PayloadParser(Topics(), max_bytes=settings.max_payload_bytes),
    )
    streams = [batches(f"bench-{i}", i, args.seconds, args.frequency, args.publish_hz) for i in range(args.sessions)]
    interleaved = [message for group in zip(*streams) for message in group]
    samples = fixations = points = 0
    handle_s = encode_s = 0.0
    for topic, payload in interleaved:
        started = time.perf_counter()
        outcome = dispatcher.handle(topic, payload)
        middle = time.perf_counter()
        lines = [point.line() for point in points_of(outcome)]
        encode_s += time.perf_counter() - middle
        handle_s += middle - started
        points += len(lines)
        fixations += len(outcome.fixation_events)
    counters = dispatcher.counters()
    samples = counters["samples"]
    total_s = handle_s + encode_s
    recorded_s = args.seconds * args.sessions
    print(f"## processor throughput: {args.sessions} sessions x {args.seconds:g} s at {args.frequency:g} Hz, "
          f"batches of {round(args.frequency / args.publish_hz)}")
    print(f"{samples} samples, {len(interleaved)} batches, {fixations} fixation events, {points} points")
    print(f"handle (parse, check, detect, alerts): {handle_s / samples * 1e6:.2f} µs/sample; "
          f"points and line protocol: {encode_s / samples * 1e6:.2f} µs/sample")
    print(f"capacity: {samples / total_s:,.0f} samples/s on one core = "
          f"{samples / total_s / args.frequency:.1f} trackers at {args.frequency:g} Hz; "
          f"{recorded_s / total_s:.0f}x real time for this load")


if __name__ == "__main__":
    main()
