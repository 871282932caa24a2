"""A simulated Tobii Pro tracker: :class:`GazeSimulator` samples paced by real time.

For demos, tests and development without hardware. The samples come from
:mod:`gazewire.agent.inputs.gaze_model` (same keys and types as the SDK's gaze
dictionaries) and are delivered on a daemon thread the way the SDK's callback
thread would: one ``events.gaze`` call per sample, in order.

Timing: sample ``k`` of a run is captured (``system_time_stamp``) at the run's
start time plus ``k / f``, and delivered once the monotonic clock reaches the
run's start plus ``k / (f × speed)``: with ``speed`` 1 in real time, with
``speed`` 10 ten times faster (the time stamps still advance by ``1 / f``
per sample). The thread wakes at most every 5 ms (``MIN_WAIT_S``; at 1200 Hz it
delivers about 6 samples a wake, at 120 Hz each sample when it is due) and
delivers every sample that is due; it never spins, and ``stop()`` interrupts its
wait at once. A wake costs about 0.1 ms of CPU on a virtual machine whatever it
does, so the simulator wakes no more often than that: its delivery lags a
sample's capture by under 5 ms (the SDK calls back per sample as it comes).

``stop()`` then ``start()`` continues the same stream: no sample is skipped,
the time stamps jump by the pause (never backwards), and the device clock keeps
running. With ``limit``, the tracker reports ``FINISHED`` after ``limit``
samples in total.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from gazewire.agent.inputs.base import TrackerError, TrackerEvents, TrackerSource, TrackerState
from gazewire.agent.inputs.gaze_model import GazeSimulator, GroundTruth
from gazewire.wire.messages import DisplayArea, TrackerInfo

log = logging.getLogger(__name__)

MODEL = "Simulated Tobii Pro Spectrum"
ADDRESS = "simulated://"
MIN_WAIT_S = 0.005
MAX_WAIT_S = 0.05
MAX_BURST = 2048  # samples delivered between two looks at the stop flag


class SimulatedTracker(TrackerSource):
    """A :class:`TrackerSource` that plays a :class:`GazeSimulator` in real time.

    ``params`` are the simulator's keyword parameters (display size, noise,
    blink rate, ...); they are validated here, so a bad one raises
    ``ValueError`` at construction, not on the thread.
    """

    name = "simulated"

    def __init__(
        self,
        frequency_hz: float = 120.0,
        seed: int = 0,
        limit: int | None = None,
        speed: float = 1.0,
        serial: str | None = None,
        **params: Any,
    ) -> None:
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValueError(f"limit must be None or an integer >= 0, got {limit!r}")
        if (
            isinstance(speed, bool)
            or not isinstance(speed, (int, float))
            or not math.isfinite(speed)
            or speed <= 0
        ):
            raise ValueError(f"speed must be a finite number > 0, got {speed!r}")
        self.simulator = GazeSimulator(frequency_hz, seed, **params)
        self.limit = limit
        self.speed = float(speed)
        self.serial = serial if serial is not None else f"SIM-{self.simulator.seed:06d}"
        self.info = TrackerInfo(
            model=MODEL,
            serial=self.serial,
            address=ADDRESS,
            name=f"simulated {self.serial}",
            firmware="simulated",
            frequency_hz=self.simulator.frequency_hz,
            source="simulated",
        )
        self.display_area = DisplayArea(
            width_mm=self.simulator.display_width_mm, height_mm=self.simulator.display_height_mm
        )
        self._lock = threading.Lock()  # guards the simulator and the thread handle
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ TrackerSource

    def start(self, events: TrackerEvents) -> None:
        """Start (or resume) delivering samples on a daemon thread; returns at once."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise TrackerError("the simulated tracker is already running; stop() it first")
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run,
                args=(events, self._stop),
                name=f"simulated-tracker-{self.serial}",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop delivering and wait for the thread. Safe to call twice or from ``events``."""
        with self._lock:
            thread = self._thread
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._lock:
            if self._thread is thread:
                self._thread = None

    # ------------------------------------------------------------------ state

    @property
    def samples_delivered(self) -> int:
        with self._lock:
            return self.simulator.samples_emitted

    @property
    def finished(self) -> bool:
        """True once ``limit`` samples have been delivered."""
        return self.limit is not None and self.samples_delivered >= self.limit

    @property
    def ground_truth(self) -> GroundTruth:
        """What the simulator generated so far (safe to read while running)."""
        with self._lock:
            return self.simulator.ground_truth

    # ------------------------------------------------------------------ the thread

    def _run(self, events: TrackerEvents, stop: threading.Event) -> None:
        try:
            events.tracker_info(self.info, self.display_area)
            if self.finished:
                events.tracker_state(TrackerState.FINISHED)
                return
            events.tracker_state(TrackerState.TRACKING)
            self._deliver(events, stop)
        except Exception as error:  # report it, do not die silently on the thread
            log.exception("simulated tracker failed")
            try:
                events.tracker_state(TrackerState.LOST, f"simulated tracker failed: {error}")
            except Exception:
                log.exception("could not report the failure of the simulated tracker")

    def _deliver(self, events: TrackerEvents, stop: threading.Event) -> None:
        simulator = self.simulator
        with self._lock:
            began_us = self.system_time_us()
            base_us = began_us
            if simulator.samples_emitted:  # resuming: never stamp earlier than the stream
                base_us = max(base_us, simulator.next_system_time_us)
            simulator.resume_at(base_us)
            first = simulator.samples_emitted
        pace_us = 1e6 / (simulator.frequency_hz * self.speed)  # real time between samples
        while not stop.is_set():
            now_us = self.system_time_us()
            due = math.floor((now_us - began_us) / pace_us) + 1  # samples 0..due-1 of this run
            with self._lock:
                sent = simulator.samples_emitted - first
                count = due - sent
                if self.limit is not None:
                    count = min(count, self.limit - simulator.samples_emitted)
                count = min(count, MAX_BURST)
                samples = simulator.next_samples(count) if count > 0 else []
            for sample in samples:
                events.gaze(sample)
            sent += len(samples)
            if self.limit is not None and first + sent >= self.limit:
                events.tracker_state(TrackerState.FINISHED)
                return
            if sent < due:
                continue  # behind (a burst was capped): deliver the rest before waiting
            next_due_us = began_us + sent * pace_us
            wait_s = (next_due_us - self.system_time_us()) / 1e6
            stop.wait(min(max(wait_s, MIN_WAIT_S), MAX_WAIT_S))


__all__ = ["SimulatedTracker"]
