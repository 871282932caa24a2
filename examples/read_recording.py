"""Read an agent's local recording (one CSV per recording; docs/agent.md, "Files") with the standard library.

    python examples/read_recording.py ~/.local/share/gazewire/recordings/room1/20261130T101500Z-3f9a_stroop.csv

(``recordings/room1.csv``, the samples between recordings, reads the same way.)

With pandas: ``pd.read_csv(path).query("kind == 'gaze'")``; empty cells are
missing values (invalid eyes), markers are rows with kind == "marker".
"""

from __future__ import annotations

import csv
import sys


def main(path: str) -> None:
    samples = valid = 0
    markers = []
    first_utc = last_utc = None
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["kind"] == "marker":
                markers.append((int(row["utc_us"]), row["marker"]))
                continue
            samples += 1
            valid += row["eye"] != "none"
            utc = int(row["utc_us"])
            first_utc = utc if first_utc is None else first_utc
            last_utc = utc
    duration_s = (last_utc - first_utc) / 1e6 if samples > 1 else 0.0
    print(f"{samples} samples over {duration_s:.1f} s, {valid / max(samples, 1):.1%} valid, {len(markers)} markers")
    for utc, name in markers:
        print(f"  marker {name} at {(utc - (first_utc or utc)) / 1e6:+.3f} s")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
