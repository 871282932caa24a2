"""The AOI file (setting ``aoi_file``): areas of interest for the processor.

TOML, one ``[[aoi]]`` table per rectangle::

    [[aoi]]
    name = "stimulus"          # letters, digits, '.', '_', '-'; an InfluxDB tag and a topic field
    x_min = 0.25               # normalised like the gaze: (0, 0) top-left, (1, 1) bottom-right
    y_min = 0.25
    x_max = 0.75
    y_max = 0.75
    dwell_s = 2.0              # optional: this AOI's aoi_dwell threshold
    sessions = ["room1"]       # optional: only these sessions; without it, every session

A session sees the global AOIs plus its own. Names are unique per session. Any
mistake raises :class:`AoiFileError` with one line naming the file, the AOI
and the problem.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

from gazewire.errors import GazewireError
from gazewire.wire.sessions import is_valid_session_id
from gazewire.processor.pipeline.aoi import Aoi, AoiSet

NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
COORDINATE_LIMIT = 10.0  # AOIs may reach off the display (gaze there is kept), but not absurdly
KEYS = {"name", "x_min", "y_min", "x_max", "y_max", "dwell_s", "sessions"}


class AoiFileError(GazewireError, ValueError):
    """The AOI file cannot be used; the message names the file, the AOI and the problem."""


def load_aoi_file(path: str | Path) -> AoiSet:
    """Read and check an AOI file; raise :class:`AoiFileError` on the first problem."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    path = Path(path).expanduser()
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise AoiFileError(f"aoi file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise AoiFileError(f"aoi file {str(path)!r} is not valid TOML: {error}") from None
    return parse_aois(document, source=str(path))


def parse_aois(document: dict[str, Any], *, source: str = "aoi file") -> AoiSet:
    """Check the parsed TOML document of an AOI file (see the module docstring)."""
    unknown = sorted(set(document) - {"aoi"})
    if unknown:
        raise AoiFileError(f"{source}: unknown top-level key {unknown[0]!r} (expected [[aoi]] tables)")
    tables = document.get("aoi", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise AoiFileError(f"{source}: 'aoi' must be an array of tables, written [[aoi]]")
    everywhere: list[Aoi] = []
    per_session: dict[str, list[Aoi]] = {}
    for index, table in enumerate(tables):
        aoi, sessions = _parse_one(table, f"{source}: aoi[{index}]")
        if sessions is None:
            everywhere.append(aoi)
        else:
            for session in sessions:
                per_session.setdefault(session, []).append(aoi)
    _check_unique(everywhere, per_session, source)
    return AoiSet(tuple(everywhere), {s: tuple(a) for s, a in per_session.items()})


def _parse_one(table: dict[str, Any], where: str) -> tuple[Aoi, list[str] | None]:
    name = table.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise AoiFileError(
            f"{where}: name must be 1-64 letters, digits, '.', '_' or '-', got {name!r}"
        )
    where = f"{where} {name!r}"
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise AoiFileError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(KEYS))})")
    values: dict[str, float] = {}
    for key in ("x_min", "y_min", "x_max", "y_max"):
        if key not in table:
            raise AoiFileError(f"{where}: {key} is missing")
        values[key] = _coordinate(table[key], f"{where}: {key}")
    for low, high in (("x_min", "x_max"), ("y_min", "y_max")):
        if not values[low] < values[high]:
            raise AoiFileError(f"{where}: {low} ({values[low]:g}) must be less than {high} ({values[high]:g})")
    dwell = table.get("dwell_s")
    if dwell is not None:
        if isinstance(dwell, bool) or not isinstance(dwell, (int, float)) or not math.isfinite(dwell) or dwell <= 0:
            raise AoiFileError(f"{where}: dwell_s must be a number of seconds > 0, got {dwell!r}")
        dwell = float(dwell)
    sessions = table.get("sessions")
    if sessions is not None:
        if not isinstance(sessions, list) or not sessions:
            raise AoiFileError(f"{where}: sessions must be a non-empty list of session ids")
        for session in sessions:
            if not is_valid_session_id(session):
                raise AoiFileError(f"{where}: {session!r} is not a valid session id")
    return Aoi(name, dwell_s=dwell, **values), sessions


def _coordinate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AoiFileError(f"{where} must be a number (normalised: 0 is the left/top edge, 1 the right/bottom), got {value!r}")
    if abs(value) > COORDINATE_LIMIT:
        raise AoiFileError(f"{where} is {value!r}; normalised coordinates are 0..1 (at most ±{COORDINATE_LIMIT:g} off the display)")
    return float(value)


def _check_unique(everywhere: list[Aoi], per_session: dict[str, list[Aoi]], source: str) -> None:
    seen: set[str] = set()
    for aoi in everywhere:
        if aoi.name in seen:
            raise AoiFileError(f"{source}: AOI name {aoi.name!r} is used twice")
        seen.add(aoi.name)
    for session, aois in per_session.items():
        names = set(seen)
        for aoi in aois:
            if aoi.name in names:
                raise AoiFileError(f"{source}: AOI name {aoi.name!r} is used twice for session {session!r}")
            names.add(aoi.name)
