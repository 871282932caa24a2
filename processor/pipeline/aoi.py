"""Areas of interest: named rectangles in normalised display coordinates, and
the set of them a deployment has (global ones and those of named sessions).

They come from the AOI file (:mod:`gazewire.processor.aoi_file`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Aoi:
    """One rectangle; a point on its edge is inside."""

    name: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    dwell_s: float | None = None

    def contains(self, x: float, y: float) -> bool:
        return self.x_min <= x <= self.x_max and self.y_min <= y <= self.y_max


@dataclass(frozen=True)
class AoiSet:
    """Every AOI of a deployment: the global ones and those of named sessions."""

    everywhere: tuple[Aoi, ...] = ()
    per_session: dict[str, tuple[Aoi, ...]] | None = None

    def for_session(self, session: str) -> tuple[Aoi, ...]:
        own = (self.per_session or {}).get(session, ())
        return self.everywhere + own

    def __len__(self) -> int:
        return len(self.everywhere) + sum(len(a) for a in (self.per_session or {}).values())


NO_AOIS = AoiSet()
