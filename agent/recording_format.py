"""The local recording's CSV format, defined once.

The agent writes it (:mod:`gazewire.agent.outputs.recording`, an output) and
reads it back (:mod:`gazewire.agent.inputs.replay`, an input). Neither side owns
the format, so it lives here, beside them in the agent package and below both:
a column added or renamed here changes the writer and the reader together, and
a recording made by one agent version replays in the next. Pure: no files are
opened here.

``<data_dir>/recordings/<session>.csv``, one row per sample and one per marker:

* ``kind``: ``gaze`` or ``marker``;
* ``seq``, ``utc_us``: the agent's sample number and UTC time (µs);
* the SDK's gaze dictionary, tuples spread into ``_x``/``_y``/``_z`` columns
  (``left_gaze_point_on_display_area_x``, ...), validities as 0/1;
* ``x``, ``y``, ``eye``: the combined gaze; ``marker``: a marker's name.

Invalid values (NaN, an invalid eye) are empty cells, which pandas, R and
Excel read as missing. A marker row has only ``utc_us``, ``system_time_stamp``
(when known) and ``marker``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gazewire.agent.inputs.sdk import EYE_KEYS, GazeDict
from gazewire.agent.pipeline.combine import CombinedGaze

GAZE, MARKER = "gaze", "marker"  # the values of the ``kind`` column

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


def recording_path(data_dir: Path, session: str) -> Path:
    return Path(data_dir) / "recordings" / f"{session}.csv"


def missing_columns(header: Sequence[str]) -> list[str]:
    """The columns a file's header lacks to be a gazewire recording (none: it is one)."""
    return [column for column in RECORDING_COLUMNS if column not in header]


# --------------------------------------------------------------------------- writing


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


def sdk_cells(sample: GazeDict) -> list[Any]:
    """The SDK columns of one sample, in :data:`SDK_COLUMNS` order."""
    row: list[Any] = [sample["device_time_stamp"], sample["system_time_stamp"]]
    for side in ("left", "right"):
        for key in EYE_KEYS:
            value = sample[f"{side}_{key}"]
            if key in _TUPLE_AXES:
                row.extend(_cell(float(v)) for v in value)
            else:
                row.append(_cell(value))
    return row


def gaze_row(seq: int, utc_us: int, sample: GazeDict, gaze: CombinedGaze) -> list[Any]:
    """The row of one sample; raises on a malformed sample (before anything is written)."""
    return [GAZE, seq, utc_us, *sdk_cells(sample), _cell(gaze.x), _cell(gaze.y), gaze.eye, ""]


def marker_row(name: str, utc_us: int, system_time_us: int | None) -> list[Any]:
    """The row of one marker."""
    blanks: list[Any] = [""] * len(SDK_COLUMNS)
    blanks[1] = system_time_us if system_time_us is not None else ""  # system_time_stamp
    return [MARKER, "", utc_us, *blanks, "", "", "", name]


# --------------------------------------------------------------------------- reading


def sdk_dict_from_row(row: dict[str, str]) -> GazeDict:
    """Rebuild the SDK's gaze dictionary from a gaze row (the replay source's input)."""

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
