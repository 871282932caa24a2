"""React to fixations as they happen: mark every fixation on a target region.

    python examples/react_to_fixations.py --broker lab-server --session room1 --username alice \\
        --target 0.5 0.0 1.0 1.0 [--count 5]

The processor detects fixations online and publishes each one's start and
end. This script waits for ends inside the target rectangle (x_min y_min
x_max y_max, normalised to the display: (0, 0) top left) and sends a marker
at the fixation's start, on the agent's own clock (the fixation's times come
from the agent's samples: no clock offset to apply). A gaze-contingent
experiment does the same to change the display when the participant looks.
Log in as an operator (markers are commands).
"""

from __future__ import annotations

import argparse

from gazewire.client.script import add_lab_arguments, open_lab, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_lab_arguments(parser)
    parser.add_argument("--target", nargs=4, type=float, default=[0.5, 0.0, 1.0, 1.0],
                        metavar=("X_MIN", "Y_MIN", "X_MAX", "Y_MAX"), help="the target region (default: right half)")
    parser.add_argument("--min-ms", type=float, default=100.0, help="shortest fixation to react to")
    parser.add_argument("--count", type=int, default=0, help="stop after this many fixations (0: never)")
    parser.add_argument("--timeout", type=float, default=None, help="give up when no fixation came for this long")
    args = parser.parse_args()
    x_min, y_min, x_max, y_max = args.target
    seen = 0
    with open_lab(args) as lab:
        room = lab.session(args.session)
        for fixation in room.fixations(timeout=args.timeout):
            if fixation.event != "end" or fixation.retracted or fixation.x is None or fixation.y is None:
                continue  # (a retracted end takes back a tentative start: it was no fixation)
            seen += 1
            inside = x_min <= fixation.x <= x_max and y_min <= fixation.y <= y_max
            where = f"fixation #{fixation.fixation}: {fixation.duration_ms:.0f} ms at ({fixation.x:.2f}, {fixation.y:.2f})"
            if inside and fixation.duration_ms >= args.min_ms:
                marker = room.marker("fixated_target", utc_ns=fixation.start_utc_us * 1000)
                print(f"{where}: on target, marked in {marker.recording or 'no recording'}")
            else:
                print(f"{where}: elsewhere")
            if seen == args.count:
                break


if __name__ == "__main__":
    run(main)
