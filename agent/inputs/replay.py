"""Replay a recording made by this agent, at real speed or faster.

The SDK dictionaries are rebuilt from the CSV (:mod:`gazewire.agent.recording_format`)
and run through the same pipeline as live gaze. ``device_time_stamp`` is
kept as recorded; ``system_time_stamp`` is moved to now (keeping the
recorded spacing), so that UTC times are those of the replay. Markers in the
file are replayed as markers.
"""

from __future__ import annotations

import csv
import logging
import threading
from pathlib import Path

from gazewire.agent.inputs.base import TrackerError, TrackerEvents, TrackerSource, TrackerState
from gazewire.agent.recording_format import MARKER, missing_columns, sdk_dict_from_row
from gazewire.wire.messages import DisplayArea, TrackerInfo

log = logging.getLogger(__name__)


class ReplayTracker(TrackerSource):
    name = "replay"

    def __init__(
        self,
        path: Path,
        *,
        speed: float = 1.0,
        display_area: DisplayArea | None = None,
        frequency_hz: float | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.path = Path(path)
        if not self.path.is_file():
            raise TrackerError(f"replay file {str(self.path)!r} does not exist")
        with self.path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        missing = missing_columns(header)
        if missing:
            raise TrackerError(
                f"replay file {str(self.path)!r} is not a gazewire recording (missing columns: {', '.join(missing[:5])})"
            )
        self.speed = speed
        self.display_area = display_area or DisplayArea(width_mm=527.0, height_mm=296.5)
        self.frequency_hz = frequency_hz
        self.replayed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, events: TrackerEvents) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(events,), name="gazewire-replay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def _run(self, events: TrackerEvents) -> None:
        events.tracker_info(
            TrackerInfo(
                model="Replay", serial=f"replay:{self.path.stem}", address=str(self.path),
                name=self.path.name, frequency_hz=self.frequency_hz, source="replay",
            ),
            self.display_area,
        )
        events.tracker_state(TrackerState.TRACKING)
        start_clock = self.system_time_us()
        first_recorded: int | None = None
        line = 1
        try:
            with self.path.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    line += 1
                    if self._stop.is_set():
                        return
                    if row["system_time_stamp"] in ("", None):
                        continue  # a marker without a time: cannot be placed
                    recorded = int(row["system_time_stamp"])
                    if first_recorded is None:
                        first_recorded = recorded
                    elapsed = recorded - first_recorded
                    due = start_clock + elapsed / self.speed
                    wait_s = (due - self.system_time_us()) / 1e6
                    if wait_s > 0.002 and self._stop.wait(wait_s):
                        return
                    system_time_us = start_clock + elapsed
                    if row["kind"] == MARKER:
                        events.marker(row["marker"], system_time_us)
                        continue
                    sample = sdk_dict_from_row(row)
                    sample["system_time_stamp"] = system_time_us
                    events.gaze(sample)
                    self.replayed += 1
        except (KeyError, ValueError) as error:
            log.error("replay stopped at %s line %d: %s", self.path.name, line, error)
            events.tracker_state(TrackerState.FINISHED, f"replay stopped at line {line}: {error}")
            return
        events.tracker_state(TrackerState.FINISHED, f"replay of {self.path.name} finished ({self.replayed} samples)")
