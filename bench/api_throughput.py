"""HTTP API throughput: a one-hour 1200 Hz recording's gaze downloaded in each format.

The recording is bench/export_speed.py's (the agent's own batches, written straight
into a journal; ``--journal PATH`` keeps it and reuses it). ``gazewire api run``
serves it from its own process on loopback; a client (httpx, in this process) takes
the whole body of ``GET /api/recordings/{id}/gaze?format=...`` and counts its bytes.
Each download is timed right after the baseline it is compared with - the archive
reader alone (``JournalArchive.gaze``: every chunk of the same recording, in this
process) - so each ratio is measured under the same load (a shared 2-core machine;
the server and the client share it too). Samples/s = samples / seconds to the last
byte.

    .venv/bin/python bench/api_throughput.py [--minutes 60] [--rounds 2] [--journal PATH] [--formats csv,json,...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.export_speed import RECORDING, write_recording  # noqa: E402
from gazewire.archive import JournalArchive  # noqa: E402
from tests.api.conftest import ApiProcess  # noqa: E402

FORMATS = ("csv", "parquet", "json", "arrow")


def read_alone(journal: Path, chunk_rows: int) -> tuple[float, int]:
    archive = JournalArchive(journal)
    started = time.perf_counter()
    rows = sum(chunk.num_rows for chunk in archive.gaze(RECORDING, chunk_rows=chunk_rows))
    return time.perf_counter() - started, rows


def download(api: ApiProcess, format: str) -> tuple[float, int]:
    with api.client() as client:
        started = time.perf_counter()
        size = 0
        with client.stream("GET", f"/api/recordings/{RECORDING}/gaze", params={"format": format}) as response:
            response.raise_for_status()
            for chunk in response.iter_raw(1 << 20):
                size += len(chunk)
        return time.perf_counter() - started, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--frequency", type=float, default=1200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--journal", type=Path, help="keep the recording's journal here (reused when it exists)")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    formats = [f for f in args.formats.split(",") if f]

    with tempfile.TemporaryDirectory(prefix="gazewire-api-bench-") as tmp:
        journal = args.journal or Path(tmp) / "journal.sqlite"
        if not journal.exists():
            started = time.perf_counter()
            samples = write_recording(journal, args.minutes, args.frequency)
            print(f"wrote {samples:,} samples in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        api = ApiProcess(Path(tmp) / "api", journal=journal)
        chunk_rows = 16_384  # the API's default (api.chunk_rows): the baseline reads the same chunks
        results: dict[str, list[tuple[float, float, int]]] = {f: [] for f in formats}
        samples = 0
        try:
            for round_ in range(args.rounds):
                for format in formats:
                    base_s, samples = read_alone(journal, chunk_rows)
                    api_s, size = download(api, format)
                    results[format].append((base_s, api_s, size))
                    print(f"round {round_ + 1} {format:8} reader {samples / base_s:>9,.0f}/s  API "
                          f"{samples / api_s:>9,.0f}/s  ratio {base_s / api_s:.2f}  {size / 1e6:,.0f} MB",
                          file=sys.stderr)
            memory = api.memory_kb()
        finally:
            api.stop()

    print(f"{samples:,} samples ({args.minutes:g} min at {args.frequency:g} Hz), {args.rounds} rounds, "
          f"API chunk_rows {chunk_rows}; server peak RSS {memory['VmHWM'] / 1024:.0f} MB\n")
    print("| format | body | API samples/s | reader alone samples/s | API / reader (median, range) |")
    print("|---|---|---|---|---|")
    for format in formats:
        runs = results[format]
        ratios = [base / api for base, api, _ in runs]
        print(f"| {format} | {runs[-1][2] / 1e6:,.0f} MB ({runs[-1][2] / samples:.0f} B/sample) "
              f"| {statistics.median(samples / api for _, api, _ in runs):,.0f} "
              f"| {statistics.median(samples / base for base, _, _ in runs):,.0f} "
              f"| {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")


if __name__ == "__main__":
    main()
