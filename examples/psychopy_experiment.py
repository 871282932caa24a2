"""A PsychoPy experiment on gazewire: one recording per participant, a marker right after each flip.

    python examples/psychopy_experiment.py --broker lab-server --session room1 \\
        --username stimulus-pc --participants P01 P02

For each participant it starts a recording (the agent names it and answers
with its id), shows the trials, marks the frame each word appears on and the
one it goes on, and stops the recording. Before the first participant it
measures this PC's clock against the agent's, and every marker is moved by
that offset (``apply_offset=True``), so a stimulus PC whose clock is off still
puts its markers at the right moment of the gaze data.

With PsychoPy installed it opens a window; without it (or with --no-window) a
stand-in window plays the same trials at 60 frames a second without a screen,
so the script runs anywhere (and a test runs it). Log in as an operator; the
password comes from --password-file, $GAZEWIRE_MQTT__PASSWORD or a prompt.
"""

from __future__ import annotations

import argparse
import time

from gazewire.client.script import add_lab_arguments, open_lab, run

WORDS = ["house", "river", "cloud", "stone", "table", "bread"]


class StandInWindow:
    """The part of ``psychopy.visual.Window`` this experiment uses: ``flip()``
    returns at the next frame of a 60 Hz screen, as PsychoPy's does."""

    frame_s = 1 / 60

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.drawn: list[str] = []

    def flip(self) -> float:
        now = time.monotonic()
        time.sleep(self.frame_s - now % self.frame_s)  # the screen's next refresh
        self.shown, self.drawn = self.drawn, []
        return time.monotonic()

    def close(self) -> None:
        pass


class StandInText:
    """``psychopy.visual.TextStim``: set ``text``, ``draw()`` it before the flip."""

    def __init__(self, window: StandInWindow, text: str = "") -> None:
        self.window, self.text = window, text

    def draw(self) -> None:
        self.window.drawn.append(self.text)


def open_window(use_psychopy: bool):
    """A PsychoPy window and text stimulus, or the stand-ins."""
    if use_psychopy:
        try:
            from psychopy import visual
        except ImportError:
            print("PsychoPy is not installed: a stand-in window plays the trials")
        else:
            window = visual.Window(size=(1280, 800), fullscr=False, color="grey", units="height")
            return window, visual.TextStim(window, text="", height=0.1)
    window = StandInWindow()
    return window, StandInText(window)


def run_participant(room, window, word, participant: str, trials: int, duration_s: float) -> None:
    recording = room.start_recording(name="words", participant=participant, metadata={"trials": trials})
    print(f"{participant}: recording {recording.id}")
    pending = []
    for number in range(1, trials + 1):
        word.text = WORDS[(number - 1) % len(WORDS)]
        word.draw()
        window.flip()
        # right after the flip: stamped now, sent without waiting for the agent (the next frame is due)
        pending.append(room.marker("stimulus_on", apply_offset=True, wait=False))
        shown = time.monotonic()
        while time.monotonic() - shown < duration_s:  # the word stays on screen, frame after frame
            word.draw()
            window.flip()
        window.flip()  # blank
        pending.append(room.marker("stimulus_off", apply_offset=True, wait=False))
        for marker in (future.result() for future in pending):  # between trials: the agent took them
            print(f"{participant} trial {number}: {marker.name} in {marker.recording}")
        pending.clear()
    stopped = room.stop_recording(recording.id)
    print(f"{participant}: stopped {stopped.id}, {stopped.samples} samples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_lab_arguments(parser)
    parser.add_argument("--participants", nargs="+", default=["P01"], help="participant ids, one recording each")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--duration", type=float, default=1.0, help="seconds each word is shown")
    parser.add_argument("--no-window", action="store_true", help="the stand-in window even if PsychoPy is there")
    args = parser.parse_args()
    window, word = open_window(use_psychopy=not args.no_window)
    with open_lab(args) as lab:
        room = lab.session(args.session)
        room.wait_for("tracking", timeout=30)
        print(f"clock offset to the agent: {room.clock_offset()}")
        for participant in args.participants:
            run_participant(room, window, word, participant, args.trials, args.duration)
    window.close()


if __name__ == "__main__":
    run(main)
