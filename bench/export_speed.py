"""Export speed: a one-hour recording at 1200 Hz, exported from the journal to each format.

The recording is made by the agent's own batch builder over the simulated tracker (60
samples a batch, 20 batches a second, as the agent sends them) and written straight into
a journal with the journal's writer (no broker, not in real time), with the agent
statuses that name the recording and a marker a minute. Then, in rounds, each format is
timed right after the baseline it is compared with - reading the journal's records and
decoding them (zstd + JSON), which every export must do at least - so each ratio is
measured under the same load (the machine is shared: 2 cores).

    .venv/bin/python bench/export_speed.py [--minutes 60] [--frequency 1200] [--rounds 2] [--journal PATH]

``--journal PATH`` keeps the generated journal there (and reuses it when it exists).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.processor_throughput import OFFSET_US  # noqa: E402
from gazewire.agent.inputs.gaze_model import GazeSimulator  # noqa: E402
from gazewire.agent.pipeline.batch import BatchBuilder  # noqa: E402
from gazewire.agent.pipeline.combine import combine_eyes  # noqa: E402
from gazewire.archive import JournalArchive  # noqa: E402
from gazewire.archive.export import export, plan  # noqa: E402
from gazewire.processor.journal import Journal, Record, RecordKind  # noqa: E402
from gazewire.processor.journal.reader import JournalReader  # noqa: E402
from gazewire.wire.messages import AgentStatus, DisplayArea, Marker, RecordingInfo, TrackerInfo  # noqa: E402
from gazewire.wire.timeutil import iso_from_utc_us  # noqa: E402

SESSION, RECORDING = "bench", "20261130T100000Z-beef"
GROUP = 100  # batches a commit while writing the recording


def write_recording(path: Path, minutes: float, frequency: float, publish_hz: float = 20.0) -> int:
    """The recording, into a new journal at ``path``; returns its samples."""
    journal = Journal(path)
    simulator = GazeSimulator(frequency_hz=frequency, seed=1)
    builder = BatchBuilder(SESSION, "SIM-1", run="bench")
    builder.recording = RECORDING
    per_batch = round(frequency / publish_hz)
    batches = int(minutes * 60 * publish_hz)
    tracker = TrackerInfo(model="Simulated Tobii Pro Spectrum", serial="SIM-1", frequency_hz=frequency,
                          source="simulated")
    records: list[Record] = []
    samples = 0
    for batch_seq in range(batches):
        for sample in simulator.next_samples(per_batch):
            builder.add(samples, sample["system_time_stamp"] + OFFSET_US, sample, combine_eyes(sample))
            samples += 1
        columns = builder._columns  # the times, before build() empties the builder
        first, last = columns["utc_us"][0], columns["utc_us"][-1]
        payload, count = builder.build(batch_seq=batch_seq, clock_offset_us=OFFSET_US, sample_rate_hz=frequency)
        records.append(Record(
            session=SESSION, kind=RecordKind.BATCH, body=payload, received_utc_us=last, first_utc_us=first,
            last_utc_us=last, run="bench", batch_seq=batch_seq, first_seq=samples - count, samples=count,
            recording=RECORDING,
        ))
        if batch_seq % (5 * int(publish_hz)) == 0:  # a status every 5 s, as the agent sends them
            status = AgentStatus(
                session=SESSION, state="tracking", utc=iso_from_utc_us(last), agent_version="bench", host="bench",
                run="bench", tracker=tracker, display_area=DisplayArea(width_mm=527.0, height_mm=296.0),
                recording=RecordingInfo(id=RECORDING, name="one hour", participant="P01",
                                        started_utc=iso_from_utc_us(first), samples=samples),
            )
            records.append(Record(session=SESSION, kind=RecordKind.STATUS, body=status.to_json(),
                                  received_utc_us=last, first_utc_us=last, recording=RECORDING))
        if batch_seq % (60 * int(publish_hz)) == 0:
            marker = Marker(session=SESSION, name=f"minute_{batch_seq // (60 * int(publish_hz))}",
                            utc=iso_from_utc_us(last), utc_ns=last * 1000, recording=RECORDING)
            records.append(Record(session=SESSION, kind=RecordKind.MARKER, body=marker.to_json(),
                                  received_utc_us=last, first_utc_us=last, last_utc_us=last, recording=RECORDING))
        if len(records) >= GROUP:
            journal.append(records)
            records = []
    journal.append(records)
    journal._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal.close()
    return samples


def baseline(path: Path) -> int:
    """Read and decode every batch of the recording: zstd, CRC, JSON (orjson, as the archive does)."""
    samples = 0
    for stored in JournalReader(path).bodies(SESSION, ("batch",), recording=RECORDING):
        samples += len(orjson.loads(stored.body)["columns"]["seq"])
    return samples


def arrow(path: Path) -> int:
    return sum(len(chunk) for chunk in JournalArchive(path).gaze(RECORDING))


def exporter(fmt: str, scratch: Path) -> Callable[[Path], int]:
    def run(path: Path) -> int:
        archive = JournalArchive(path)
        out = scratch / fmt
        options = {"screen_resolution": (1920, 1080)} if fmt == "bids" else {}
        result = export(archive, plan(archive, recording=RECORDING), out, fmt, **options)
        shutil.rmtree(out)
        return result.samples

    return run


def timed(work: Callable[[Path], int], path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    samples = work(path)
    return time.perf_counter() - started, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--frequency", type=float, default=1200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--journal", type=Path, help="keep the generated journal here (reused if it exists)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gazewire-export-bench-") as tmp:
        scratch = Path(tmp)
        path = args.journal or scratch / "journal.sqlite"
        started = time.perf_counter()
        if path.exists():
            samples = JournalReader(path).batch_totals(SESSION, RECORDING).samples
            print(f"recording: {samples:,} samples in {path}")
        else:
            samples = write_recording(path, args.minutes, args.frequency)
            print(f"recording: {samples:,} samples ({args.minutes:g} min at {args.frequency:g} Hz), journal "
                  f"{path.stat().st_size / 1e6:,.0f} MB, written in {time.perf_counter() - started:.0f} s")
        path.with_name(path.stem + ".counts.sqlite").unlink(missing_ok=True)
        started = time.perf_counter()
        (summary,) = JournalArchive(path).recordings()
        first = time.perf_counter() - started
        started = time.perf_counter()
        JournalArchive(path).recordings()
        print(f"listing it (gazewire recordings): {first:.1f} s the first time (counting its valid samples: "
              f"{summary.valid_share:.1%}), {time.perf_counter() - started:.2f} s after")
        works = {"arrow (Archive.gaze)": arrow, **{fmt: exporter(fmt, scratch) for fmt in ("csv", "parquet", "bids")}}
        ratios: dict[str, list[float]] = {name: [] for name in works}
        rates: dict[str, list[float]] = {name: [] for name in ["baseline", *works]}
        for round_ in range(args.rounds):
            for name, work in works.items():
                base_s, base_n = timed(baseline, path)
                work_s, work_n = timed(work, path)
                assert base_n == work_n == samples, (name, base_n, work_n, samples)
                rates["baseline"].append(samples / base_s)
                rates[name].append(samples / work_s)
                ratios[name].append(base_s / work_s)
                print(f"round {round_ + 1}: {name}: {samples / work_s:,.0f} samples/s "
                      f"({work_s:.1f} s; baseline {samples / base_s:,.0f}/s, ratio {base_s / work_s:.2f})")
        print()
        print("| what | samples/s (median) | ratio to the baseline (median, range) | one hour at 1200 Hz takes |")
        print("|---|---|---|---|")
        hour = 3600 * 1200
        base = statistics.median(rates["baseline"])
        print(f"| baseline: read + decode the journal's batches | {base:,.0f} | 1 | {hour / base:.0f} s |")
        for name in works:
            rate = statistics.median(rates[name])
            print(f"| {name} | {rate:,.0f} | {statistics.median(ratios[name]):.2f} "
                  f"({min(ratios[name]):.2f}-{max(ratios[name]):.2f}) | {hour / rate:.0f} s |")


if __name__ == "__main__":
    main()
