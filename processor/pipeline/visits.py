"""AOI visits from fixations, as Tobii Pro Lab defines a visit: from the start
of the first fixation inside an area of interest to the end of the last
fixation inside it before a fixation outside it. Saccades between fixations
inside the same AOI belong to the visit; raw samples do not decide anything,
so noise at an AOI's edge does not make visits flicker.

A fixation is inside an AOI when its mean position at its start event (the
position over its first ``min_fixation_ms``) is inside the rectangle. AOIs may
overlap: a fixation can be in several at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gazewire.processor.pipeline.aoi import Aoi


class Change(str, Enum):
    ENTER = "enter"
    EXIT = "exit"


@dataclass(frozen=True, slots=True)
class VisitChange:
    aoi: Aoi
    change: Change
    start_s: float  # the visit's first fixation start
    end_s: float | None = None  # exit only: the visit's last fixation end
    fixations: int = 0


@dataclass(slots=True)
class _Visit:
    start_s: float
    fixations: int
    last_end_s: float | None  # end of the last inside fixation that ended
    open_number: int | None  # the inside fixation still going on
    open_certain_s: float


class AoiVisits:
    def __init__(self, aois: tuple[Aoi, ...]) -> None:
        self.aois = aois
        self._visits: dict[str, _Visit] = {}

    def fixation_started(
        self, number: int, start_s: float, confirmed_s: float, x: float | None, y: float | None
    ) -> list[VisitChange]:
        changes: list[VisitChange] = []
        for aoi in self.aois:
            visit = self._visits.get(aoi.name)
            inside = x is not None and y is not None and aoi.contains(x, y)
            if inside:
                if visit is None:
                    self._visits[aoi.name] = _Visit(start_s, 1, None, number, confirmed_s)
                    changes.append(VisitChange(aoi, Change.ENTER, start_s))
                else:
                    visit.fixations += 1
                    visit.open_number = number
                    visit.open_certain_s = confirmed_s
            elif visit is not None:
                changes.append(self._exit(aoi))
        return changes

    def fixation_ended(self, number: int, end_s: float) -> None:
        for visit in self._visits.values():
            if visit.open_number == number:
                visit.last_end_s = end_s
                visit.open_number = None

    def progress(self, horizon_s: float) -> list[tuple[Aoi, float, float]]:
        """For every visit: (AOI, visit start, time until which the visit certainly lasted)."""
        result = []
        for aoi in self.aois:
            visit = self._visits.get(aoi.name)
            if visit is None:
                continue
            certain = visit.last_end_s if visit.last_end_s is not None else visit.start_s
            if visit.open_number is not None:
                visit.open_certain_s = max(visit.open_certain_s, horizon_s)
                certain = max(certain, visit.open_certain_s)
            result.append((aoi, visit.start_s, certain))
        return result

    def end_all(self) -> list[VisitChange]:
        """The stream ended or gaze was lost: every visit ends at its last fixation's end."""
        return [self._exit(aoi) for aoi in self.aois if aoi.name in self._visits]

    def _exit(self, aoi: Aoi) -> VisitChange:
        visit = self._visits.pop(aoi.name)
        end = visit.last_end_s
        if end is None or visit.open_number is not None:
            end = max(end if end is not None else visit.start_s, visit.open_certain_s)
        return VisitChange(aoi, Change.EXIT, visit.start_s, end, visit.fixations)
