"""Follow a session live: gaze, fixations and alerts, on the gazewire client.

    python examples/follow_gaze.py --broker lab-server --session room1 --username alice [--count 50]

The same few lines work in any program that wants gaze-contingent behaviour
(a second screen, a robot, a Unity bridge): iterate the live gaze, get the
processor's fixations and alerts by callback. Log in as a viewer; the password
comes from --password-file, $GAZEWIRE_MQTT__PASSWORD or a prompt.
"""

from __future__ import annotations

import argparse

from gazewire.client.script import add_lab_arguments, open_lab, run


def show_fixation(fixation) -> None:
    if fixation.event == "end" and not fixation.retracted:  # a retracted end takes back a tentative start
        at = f"({fixation.x:.2f}, {fixation.y:.2f})" if fixation.x is not None else "(no position)"
        print(f"fixation #{fixation.fixation}: {fixation.duration_ms:.0f} ms at {at}")


def show_alert(alert) -> None:
    print(f"alert {alert.type} {alert.state} ({alert.severity}): {alert.details}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_lab_arguments(parser)
    parser.add_argument("--count", type=int, default=0, help="stop after this many gaze messages (0: never)")
    args = parser.parse_args()
    with open_lab(args) as lab:
        room = lab.session(args.session)
        status = room.status()
        recording = f", recording {status.recording.id}" if status.recording else ""
        print(f"agent {status.state}{recording}")
        room.fixations(callback=show_fixation)  # called as they come, while the loop below prints gaze
        room.alerts(callback=show_alert)
        for count, gaze in enumerate(room.gaze(), start=1):
            print(f"gaze  x={gaze.x:.3f} y={gaze.y:.3f} eye={gaze.eye:<5} pupil={gaze.pupil}")
            if count == args.count:
                break


if __name__ == "__main__":
    run(main)
