"""The local recording: every sample at full rate, one CSV per session.

``<data_dir>/recordings/<session>.csv``, appended across agent restarts, with
markers as rows of their own (``kind`` = ``marker``). Columns are the SDK's
keys with tuples spread into ``_x``/``_y``/``_z`` columns, plus the agent's
``seq``, ``utc_us`` and combined gaze. Invalid values are empty cells, which
pandas, R and Excel read as missing. The replay source reads these files.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, TextIO

from gazewire.agent.inputs.sdk import EYE_KEYS, GazeDict
from gazewire.agent.pipeline.combine import CombinedGaze

_TUPLE_AXES = {
    "gaze_point_on_display_area": ("x", "y"),
    "gaze_point_in_user_coordinate_system": ("x", "y", "z"),
    "gaze_origin_in_user_coordinate_system": ("x", "y", "z"),
}


def _sdk_columns() -> list[str]:
    columns = ["device_time_stamp", "system_time_stamp"]
    for side in ("left", "right"):
        for key in EYE_KEYS:
            axes = _TUPLE_AXES.get(key)
            if axes:
                columns.extend(f"{side}_{key}_{axis}" for axis in axes)
            else:
                columns.append(f"{side}_{key}")
    return columns


SDK_COLUMNS: tuple[str, ...] = tuple(_sdk_columns())
RECORDING_COLUMNS: tuple[str, ...] = (
    "kind",
    "seq",
    "utc_us",
    *SDK_COLUMNS,
    "x",
    "y",
    "eye",
    "marker",
)


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


def sdk_row(sample: GazeDict) -> list[Any]:
    row: list[Any] = [sample["device_time_stamp"], sample["system_time_stamp"]]
    for side in ("left", "right"):
        for key in EYE_KEYS:
            value = sample[f"{side}_{key}"]
            if key in _TUPLE_AXES:
                row.extend(_cell(float(v)) for v in value)
            else:
                row.append(_cell(value))
    return row


def sdk_dict_from_row(row: dict[str, str]) -> GazeDict:
    """Rebuild the SDK dictionary from a recording row (the replay source's input)."""

    def number(text: str) -> float:
        return float(text) if text not in ("", None) else math.nan

    sample: GazeDict = {
        "device_time_stamp": int(row["device_time_stamp"]),
        "system_time_stamp": int(row["system_time_stamp"]),
    }
    for side in ("left", "right"):
        for key in EYE_KEYS:
            axes = _TUPLE_AXES.get(key)
            if axes:
                sample[f"{side}_{key}"] = tuple(number(row[f"{side}_{key}_{axis}"]) for axis in axes)
            elif key.endswith("validity"):
                sample[f"{side}_{key}"] = int(row[f"{side}_{key}"])
            else:
                sample[f"{side}_{key}"] = number(row[f"{side}_{key}"])
    return sample


def recording_path(data_dir: Path, session: str) -> Path:
    return Path(data_dir) / "recordings" / f"{session}.csv"


class Recording:
    """Appends rows to the session's CSV; :meth:`flush` once per batch."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file: TextIO = self.path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(RECORDING_COLUMNS)
        self.rows = 0

    @staticmethod
    def row(seq: int, utc_us: int, sample: GazeDict, gaze: CombinedGaze) -> list[Any]:
        """The CSV row of a sample; raises on a malformed sample before anything is written."""
        return ["gaze", seq, utc_us, *sdk_row(sample), _cell(gaze.x), _cell(gaze.y), gaze.eye, ""]

    def write_row(self, row: list[Any]) -> None:
        self._writer.writerow(row)
        self.rows += 1

    def write_sample(self, seq: int, utc_us: int, sample: GazeDict, gaze: CombinedGaze) -> None:
        self.write_row(self.row(seq, utc_us, sample, gaze))

    def write_marker(self, name: str, utc_us: int, system_time_us: int | None) -> None:
        blanks = [""] * len(SDK_COLUMNS)
        blanks[1] = system_time_us if system_time_us is not None else ""
        self._writer.writerow(["marker", "", utc_us, *blanks, "", "", "", name])
        self.rows += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()
