"""Which recording a session's samples belonged to, over time, and the recording
of what the processor derives from them. Pure.

The agent tags every batch with its recording (``null`` between recordings) and
never lets a batch span two, so the batches taken in order give the moments a
recording started or ended. A fixation (and the AOI visit it begins), a
saccade, a pursuit or a blink belongs to the recording of its first sample, an alert to the recording at its ``utc_us``:
so a fixation that began just before a ``stop`` is the recording's, though the
processor saw it end after.
"""

from __future__ import annotations

import bisect
import dataclasses

from gazewire.processor.pipeline.outcome import Outcome

MAX_CHANGES = 64  # recordings remembered per session: far more than an event can reach back


class RecordingTimeline:
    def __init__(self) -> None:
        self._starts: list[int] = []  # utc_us from which ...
        self._recordings: list[str | None] = []  # ... this recording (None: none) holds

    def note(self, first_utc_us: int, recording: str | None) -> None:
        """A batch taken in order: from its first sample on, ``recording`` holds."""
        if self._recordings and self._recordings[-1] == recording:
            return
        if self._starts and first_utc_us < self._starts[-1]:  # UTC went back (the agent's clock was set back)
            self._starts.clear()
            self._recordings.clear()
        self._starts.append(first_utc_us)
        self._recordings.append(recording)
        if len(self._starts) > MAX_CHANGES:
            del self._starts[0], self._recordings[0]

    def at(self, utc_us: int) -> str | None:
        """The recording at ``utc_us`` (None: none, or before anything noted)."""
        index = bisect.bisect_right(self._starts, utc_us) - 1
        return self._recordings[index] if index >= 0 else None

    @property
    def current(self) -> str | None:
        return self._recordings[-1] if self._recordings else None

    def tag(self, outcome: Outcome) -> Outcome:
        """Set ``recording`` on what ``outcome`` derived (fixations, saccades, pursuits,
        blinks, AOI events and visits, alerts), where it is not set yet."""
        if not self._starts:
            return outcome
        for events in (outcome.fixation_events, outcome.saccades, outcome.pursuits, outcome.blinks):
            for event in events:
                if event.recording is None:
                    event.recording = self.at(event.start_utc_us)
        for alert in outcome.alerts:
            if alert.recording is None:
                alert.recording = self.at(alert.utc_us)
        for aoi_event in outcome.aoi_events:
            if aoi_event.recording is None:
                start = aoi_event.utc_us - round((aoi_event.dwell_ms or 0.0) * 1000)  # exit events: the visit's start
                aoi_event.recording = self.at(start)
        outcome.aoi_visits = [
            dataclasses.replace(visit, recording=self.at(visit.start_utc_us)) if visit.recording is None else visit
            for visit in outcome.aoi_visits
        ]
        return outcome
