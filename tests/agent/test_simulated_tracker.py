"""SimulatedTracker: the gaze model delivered on a thread, paced by real time.

Synchronisation uses threading.Event objects set by the recording events
object, never sleeps.
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from gazewire.agent.inputs.base import TrackerError, TrackerState
from gazewire.agent.inputs.sdk import GAZE_KEYS, GazeDict
from gazewire.agent.inputs.simulated import SimulatedTracker
from gazewire.agent.inputs.gaze_model import GazeSimulator
from gazewire.wire.messages import DisplayArea, TrackerInfo

WAIT_S = 5.0


class RecordingEvents:
    """A TrackerEvents that records every call and signals what tests wait for."""

    def __init__(self, clock: SimulatedTracker, want: int | None = None) -> None:
        self.clock = clock
        self.want = want
        self.calls: list[str] = []
        self.samples: list[GazeDict] = []
        self.delivered_us: list[int] = []
        self.states: list[tuple[TrackerState, str | None]] = []
        self.infos: list[tuple[TrackerInfo, DisplayArea | None]] = []
        self.enough = threading.Event()
        self.finished = threading.Event()
        self.lost = threading.Event()

    def expect(self, want: int) -> None:
        self.want = want
        self.enough.clear()

    def gaze(self, sample: GazeDict) -> None:
        self.delivered_us.append(self.clock.system_time_us())
        self.samples.append(sample)
        self.calls.append("gaze")
        if self.want is not None and len(self.samples) >= self.want:
            self.enough.set()

    def tracker_state(self, state: TrackerState, detail: str | None = None) -> None:
        self.states.append((state, detail))
        self.calls.append(state.value)
        if state is TrackerState.FINISHED:
            self.finished.set()
        if state is TrackerState.LOST:
            self.lost.set()

    def tracker_info(self, info: TrackerInfo, display_area: DisplayArea | None) -> None:
        self.infos.append((info, display_area))
        self.calls.append("info")

    def marker(self, name: str, system_time_us: int) -> None:
        self.calls.append(f"marker {name}")


def without_stamps(samples: list[GazeDict]) -> str:
    return repr(
        [
            {k: v for k, v in s.items() if k not in ("device_time_stamp", "system_time_stamp")}
            for s in samples
        ]
    )


def no_tracker_thread_alive() -> bool:
    return not any(t.name.startswith("simulated-tracker") for t in threading.enumerate())


def test_a_limited_tracker_delivers_exactly_limit_samples_in_order_then_finishes() -> None:
    tracker = SimulatedTracker(frequency_hz=120, seed=3, limit=150, speed=20, serial="SIM-1")
    events = RecordingEvents(tracker)
    started_us = tracker.system_time_us()
    tracker.start(events)
    assert events.finished.wait(WAIT_S)
    tracker.stop()
    assert events.calls == ["info", "tracking", *["gaze"] * 150, "finished"]
    info, area = events.infos[0]
    assert info == TrackerInfo(
        model="Simulated Tobii Pro Spectrum",
        serial="SIM-1",
        address="simulated://",
        name=info.name,
        firmware="simulated",
        frequency_hz=120.0,
        source="simulated",
    )
    assert area == DisplayArea(width_mm=527.0, height_mm=296.5)
    assert all(list(sample) == list(GAZE_KEYS) for sample in events.samples)
    stamps = [s["system_time_stamp"] for s in events.samples]
    assert 0 <= stamps[0] - started_us < 1_000_000
    assert {b - a for a, b in itertools.pairwise(stamps)} <= {8333, 8334}
    expected = GazeSimulator(120, seed=3).next_samples(150)
    assert without_stamps(events.samples) == without_stamps(expected)
    assert tracker.finished and tracker.samples_delivered == 150
    assert tracker.ground_truth.samples == 150


def test_samples_are_paced_by_real_time_never_early() -> None:
    tracker = SimulatedTracker(frequency_hz=120, seed=1)
    events = RecordingEvents(tracker, want=30)
    started_us = tracker.system_time_us()
    tracker.start(events)
    assert events.enough.wait(WAIT_S)
    tracker.stop()
    assert events.samples[0]["system_time_stamp"] >= started_us
    for sample, delivered_us in zip(events.samples, events.delivered_us):
        lateness_us = delivered_us - sample["system_time_stamp"]
        assert 0 <= lateness_us < 500_000  # delivered once captured, within a few ms normally
    # 30 samples at 120 Hz cannot arrive before 29 periods have passed
    assert events.delivered_us[29] - started_us >= 29 * 8333


def test_stop_returns_promptly_and_no_sample_follows_it() -> None:
    tracker = SimulatedTracker(frequency_hz=60, seed=2)
    events = RecordingEvents(tracker, want=2)
    tracker.start(events)
    assert events.enough.wait(WAIT_S)
    began = time.monotonic()
    tracker.stop()
    assert time.monotonic() - began < 0.2
    assert no_tracker_thread_alive()
    delivered = len(events.samples)
    tracker.stop()  # twice is fine
    assert len(events.samples) == delivered
    assert events.calls.count("finished") == 0


def test_start_after_stop_resumes_the_same_stream_after_a_time_gap() -> None:
    tracker = SimulatedTracker(frequency_hz=250, seed=6, speed=5)
    events = RecordingEvents(tracker, want=40)
    tracker.start(events)
    assert events.enough.wait(WAIT_S)
    tracker.stop()
    first_run = len(events.samples)
    events.expect(first_run + 40)
    tracker.start(events)
    assert events.enough.wait(WAIT_S)
    tracker.stop()
    assert events.calls.count("info") == 2 and events.calls.count("tracking") == 2
    samples = events.samples
    expected = GazeSimulator(250, seed=6).next_samples(len(samples))
    assert without_stamps(samples) == without_stamps(expected)  # nothing skipped or repeated
    system = [s["system_time_stamp"] for s in samples]
    device = [s["device_time_stamp"] for s in samples]
    assert all(b > a for a, b in itertools.pairwise(system))
    assert all(b > a for a, b in itertools.pairwise(device))
    assert system[first_run] - system[first_run - 1] >= 4000  # at least one period, maybe a gap


def test_a_second_start_while_running_is_refused() -> None:
    tracker = SimulatedTracker(frequency_hz=60, seed=0)
    events = RecordingEvents(tracker, want=1)
    tracker.start(events)
    try:
        with pytest.raises(TrackerError, match="already running"):
            tracker.start(events)
    finally:
        tracker.stop()


def test_a_finished_tracker_reports_finished_again_without_samples() -> None:
    tracker = SimulatedTracker(frequency_hz=60, seed=0, limit=0)
    events = RecordingEvents(tracker)
    tracker.start(events)
    assert events.finished.wait(WAIT_S)
    tracker.stop()
    assert events.calls == ["info", "finished"]


def test_a_failing_consumer_is_reported_as_lost_not_swallowed() -> None:
    tracker = SimulatedTracker(frequency_hz=60, seed=0, speed=10)

    class Failing(RecordingEvents):
        def gaze(self, sample: GazeDict) -> None:
            raise RuntimeError("queue is gone")

    events = Failing(tracker)
    tracker.start(events)
    assert events.lost.wait(WAIT_S)
    tracker.stop()
    state, detail = events.states[-1]
    assert state is TrackerState.LOST and detail is not None and "queue is gone" in detail


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": -1}, "limit must be None or an integer >= 0"),
        ({"speed": 0}, "speed must be a finite number > 0"),
        ({"speed": float("inf")}, "speed must be a finite number > 0"),
        ({"frequency_hz": 30}, "frequency_hz must be between 60 and 1200 Hz"),
        ({"noise_deg": -1}, "noise_deg"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulatedTracker(**kwargs)
