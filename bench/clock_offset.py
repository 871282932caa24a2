"""How well the agent maps the tracker's system clock to UTC.

The agent measures ``offset = utc - system_time`` with several probes (read
UTC, read the SDK clock, read UTC again) and keeps the probe with the smallest
round trip; the error of that offset is at most half its round trip. This
bench repeats the measurement many times and reports:

- the best probe's round trip (the error bound), per measurement;
- the spread of the offsets measured over a short time, during which the true
  offset is constant (NTP slews the wall clock by at most 500 ppm): the
  measurement's precision;
- the drift of the offset over the run.

With the Tobii Pro SDK installed (CPython 3.10: ``.venv-py310/bin/python
bench/clock_offset.py``) the clock is ``tobii_research.get_system_time_stamp()``,
otherwise the monotonic clock the simulated and replayed sources use.

    python bench/clock_offset.py [--measurements 2000] [--probes 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gazewire.agent.pipeline.clock import measure_offset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measurements", type=int, default=2000)
    parser.add_argument("--probes", type=int, default=9)
    args = parser.parse_args()
    try:
        import tobii_research as tr

        clock, name = tr.get_system_time_stamp, f"tobii_research {tr.__version__} get_system_time_stamp()"
    except ImportError:
        clock, name = (lambda: time.monotonic_ns() // 1000), "time.monotonic_ns() // 1000 (simulated/replay sources)"

    started = time.perf_counter()
    results = [measure_offset(clock, probes=args.probes) for _ in range(args.measurements)]
    elapsed = time.perf_counter() - started
    round_trips = [r.round_trip_us for r in results]
    offsets = [r.offset_us for r in results]
    median = statistics.median(offsets)
    deviations = sorted(abs(o - median) for o in offsets)

    def q(values, p):
        return values[min(len(values) - 1, int(p * len(values)))]

    print(f"## clock offset: {name}")
    print(f"Python {sys.version.split()[0]}, {args.measurements} measurements of {args.probes} probes in {elapsed:.2f} s "
          f"({elapsed / args.measurements * 1e6:.0f} µs each)")
    print(f"best-probe round trip (error bound = half): median {statistics.median(round_trips)} µs, "
          f"p99 {q(sorted(round_trips), 0.99)} µs, max {max(round_trips)} µs")
    print(f"offset spread around the median: p50 {q(deviations, 0.5)} µs, p99 {q(deviations, 0.99)} µs, "
          f"max {deviations[-1]} µs; drift first->last {offsets[-1] - offsets[0]} µs over {elapsed:.1f} s")


if __name__ == "__main__":
    main()
