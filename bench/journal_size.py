"""How much disk the journal takes per tracker, and how fast a group commit is.

Real ``gaze/batch`` payloads (the agent's BatchBuilder over the simulated tracker, the
processor's own dispatcher for the events and alerts they give) are stored in a real
journal in groups, as the processor does; the file's size after a checkpoint, divided
by the seconds of gaze stored, gives MB per hour per tracker, and what a disk of a
given size holds. Group commits are timed too (fsync included: this disk).

    .venv/bin/python bench/journal_size.py [--seconds 120] [--frequency 1200] [--publish-hz 20] [--group 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.processor_throughput import batches as make_batches  # noqa: E402
from gazewire.processor.journal import Journal  # noqa: E402
from gazewire.processor.journal.convert import records_of  # noqa: E402
from tests.processor.streams import dispatcher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--frequency", type=float, default=1200)
    parser.add_argument("--publish-hz", type=float, default=20, help="batches per second (the agent's default)")
    parser.add_argument("--group", type=int, default=20, help="messages per group commit")
    args = parser.parse_args()

    payloads = make_batches("S1", 1, args.seconds, args.frequency, args.publish_hz)
    d = dispatcher()
    with tempfile.TemporaryDirectory(prefix="gazewire-journal-") as tmp:
        journal = Journal(Path(tmp) / "journal.sqlite")
        commit_ms = []
        raw = 0
        for start in range(0, len(payloads), args.group):
            records = []
            for topic, payload in payloads[start:start + args.group]:
                raw += len(payload)
                outcome = d.handle(topic, payload)
                records += records_of(outcome, received_utc_us=0, payloads={id(b): payload for b in outcome.batches})
            t0 = time.perf_counter()
            journal.append(records)
            commit_ms.append((time.perf_counter() - t0) * 1000)
        journal._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = journal.file_bytes()
        journal.close()
    hours = args.seconds / 3600
    mb_per_h = size / 1e6 / hours
    print(f"{len(payloads)} batches, {args.seconds:.0f} s at {args.frequency:.0f} Hz: JSON {raw / 1e6:.1f} MB, "
          f"journal {size / 1e6:.1f} MB ({raw / size:.1f}x smaller)")
    print(f"journal: {mb_per_h:,.0f} MB per hour per tracker at {args.frequency:.0f} Hz "
          f"({size / (args.seconds * args.frequency):.0f} bytes per sample, events and alerts included)")
    for disk_gb in (100, 1000):
        print(f"  {disk_gb} GB holds {disk_gb * 1000 / mb_per_h:,.0f} tracker-hours "
              f"({disk_gb * 1000 / mb_per_h / 24:,.1f} days of one tracker non-stop)")
    print(f"group commit of {args.group} batches ({args.group * args.frequency / args.publish_hz:.0f} samples): "
          f"median {statistics.median(commit_ms):.1f} ms, p95 {sorted(commit_ms)[int(len(commit_ms) * 0.95)]:.1f} ms "
          f"(compression, inserts, fsync)")


if __name__ == "__main__":
    main()
