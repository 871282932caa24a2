"""The local recording's files, defined once: where they are, their CSV
format and the JSON sidecar of each recording.

The agent writes them (:mod:`gazewire.agent.outputs.recording`, an output) and
reads them back (:mod:`gazewire.agent.inputs.replay`, an input; exports read
them too). Neither side owns the format, so it lives here, beside them in the
agent package and below both: a column added or renamed here changes the
writer and the reader together, and a recording made by one agent version
replays in the next. Pure: no files are opened here.

Files under ``<data_dir>/recordings/``:

* ``<session>/<recording>[_<name>].csv``: one file per recording (one run of
  one participant, from ``start`` to ``stop``), named after its id and, when
  it has one, a file-safe form of its name; beside it
  ``<recording>[_<name>].json``, its sidecar (:class:`RecordingSidecar`);
* ``<session>.csv``: the samples between recordings (when the agent keeps
  them: ``keep_unrecorded``), appended across agent restarts.

Every CSV has one row per sample and one per marker:

* ``kind``: ``gaze`` or ``marker``;
* ``seq``, ``utc_us``: the agent's sample number and UTC time (µs);
* the SDK's gaze dictionary, tuples spread into ``_x``/``_y``/``_z`` columns
  (``left_gaze_point_on_display_area_x``, ...), validities as 0/1;
* ``x``, ``y``, ``eye``: the combined gaze; ``marker``: a marker's name.

Invalid values (NaN, an invalid eye) are empty cells, which pandas, R and
Excel read as missing. A marker row has only ``utc_us``, ``system_time_stamp``
(when known) and ``marker``. Numbers are written as the shortest text that reads
back as the same number (a small one may be ``0.00001`` or ``1e-05``: both read
alike everywhere).
"""

from __future__ import annotations

import csv
import io
import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field

from gazewire.agent.inputs.sdk import EYE_KEYS, GazeDict
from gazewire.agent.pipeline.columns import EYE_FIELDS, GazeColumns
from gazewire.agent.pipeline.combine import CombinedColumns, CombinedGaze
from gazewire.wire.messages import DisplayArea, TrackerInfo

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
    """The session's CSV: the samples between recordings."""
    return Path(data_dir) / "recordings" / f"{session}.csv"


def recordings_dir(data_dir: Path, session: str) -> Path:
    """The folder of the session's recordings (a CSV and a sidecar each)."""
    return Path(data_dir) / "recordings" / session


RECORDING_ID_TIME = "%Y%m%dT%H%M%SZ"  # the id's first part: the UTC start to the second
MAX_NAME_IN_FILE = 64


def recording_id(utc_us: int, suffix: str) -> str:
    """A recording's id: its UTC start and four hex digits, ``20261130T101500Z-3f9a``
    (ids sort by start; the digits tell apart two started in the same second)."""
    if not re.fullmatch(r"[0-9a-f]{4}", suffix):
        raise ValueError(f"suffix must be four lower-case hex digits, got {suffix!r}")
    return time.strftime(RECORDING_ID_TIME, time.gmtime(utc_us // 1_000_000)) + "-" + suffix


def file_stem(recording: str, name: str | None) -> str:
    """``<recording>_<name>``, the name made file-safe on every system: runs of
    anything but ASCII letters, digits, ``.``, ``_``, ``-`` become one ``-``,
    cut to 64 characters; without a (usable) name just ``<recording>``."""
    if not name:
        return recording
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:MAX_NAME_IN_FILE].rstrip("-._")
    return f"{recording}_{safe}" if safe else recording


RecordingState = Literal["recording", "stopped", "interrupted"]


class AgentOfRecording(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str
    run: str
    host: str


class RecordingSidecar(BaseModel):
    """``<recording>[_<name>].json`` beside the recording's CSV: what the recording
    is and what happened to it. Written when the recording starts (``state``
    ``recording``), brought up to date every few seconds, and finalised when it
    ends: ``stopped`` by a ``stop`` command, or ``interrupted`` when the agent
    stopped while recording (``ended`` says how). A sidecar still in
    ``recording`` after its agent is gone was cut off by a crash or power loss;
    the agent's next start finalises it as ``interrupted``.

    Counts: ``samples`` is every sample of the recording (all went into its
    batches), ``samples_in_file``/``markers_in_file`` the rows the CSV holds;
    ``samples`` = ``samples_in_file`` + ``losses["samples_not_recorded"]``.
    """

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    format: Literal[1] = 1
    recording: str
    session: str
    name: str | None = None
    participant: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    csv: str = Field(description="The CSV's file name, in the sidecar's folder.")
    state: RecordingState = "recording"
    ended: str | None = Field(default=None, description="How the recording ended, in words; null while it runs.")
    agent: AgentOfRecording
    tracker: TrackerInfo | None = None
    display_area: DisplayArea | None = None
    frequency_hz: float | None = Field(default=None, description="The tracker's nominal rate.")
    clock_offset_us: int | None = Field(default=None, description="utc_us - system_time_us when it started.")
    started_utc: str
    started_utc_us: int
    stopped_utc: str | None = None
    stopped_utc_us: int | None = None
    updated_utc: str
    first_seq: int | None = Field(default=None, description="seq of its first sample (null: none yet).")
    last_seq: int | None = None
    samples: int = 0
    samples_invalid: int = 0
    markers: int = 0
    samples_in_file: int = 0
    markers_in_file: int = 0
    csv_bytes: int = Field(0, description="The CSV's size when these counts were taken (rows after it are newer).")
    losses: dict[str, int] = Field(
        default_factory=dict,
        description="Every loss counter of the agent, counted while the recording ran "
        "(see docs/agent.md#recordings for which are exactly this recording's).",
    )


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


# orjson writes a number as Python's repr does (the shortest text that reads back as it),
# except 0 < |x| < 1e-4: ``0.00001`` where repr writes ``1e-05``, ``1e-7`` for ``1e-07``.
# orjson's text of every such number holds one of these; a row that does is written by
# csv.writer instead (tests/agent/test_columns.py checks both over random doubles).
_REPR_MAY_DIFFER = (b"0.0000", b"e-")
_REPR_MAY_DIFFER_TEXT = tuple(pattern.decode() for pattern in _REPR_MAY_DIFFER)


def gaze_rows_csv(first_seq: int, utc_us: np.ndarray, gaze: GazeColumns, combined: CombinedColumns) -> str:
    """The rows of a run of samples numbered from ``first_seq``, as CSV text: byte for byte
    what ``csv.writer`` writes for each :func:`gaze_row` (each line ending in CR LF), but made at
    once. A gaze row holds only numbers and fixed words (no comma, quote or bracket), so
    the run is encoded as a JSON array of rows (orjson: the shortest text of each number,
    NaN and infinity as ``null``) and its brackets, quotes and nulls become the line
    breaks, nothing and the empty cells of the CSV. A row holding a number orjson writes
    otherwise than ``repr`` (see ``_REPR_MAY_DIFFER``) goes through ``csv.writer``."""
    count = len(gaze)
    columns: list[Sequence[Any]] = [
        [GAZE] * count, range(first_seq, first_seq + count), utc_us.tolist(),
        gaze.device_time_us.tolist(), gaze.system_time_us.tolist(),
    ]
    for eye in (gaze.left, gaze.right):
        for key in EYE_KEYS:
            values = getattr(eye, EYE_FIELDS[key])
            if values.ndim == 2:
                columns.extend(values.T.tolist())
            else:
                columns.append(values.tolist())
    columns += [combined.x.tolist(), combined.y.tolist(), combined.eye_names(), [""] * count]
    rows = list(zip(*columns))
    encoded = orjson.dumps(rows)
    text = encoded[2:-2].replace(b"null", b"").replace(b'"', b"").replace(b"],[", b"\r\n").decode() + "\r\n"
    if not any(pattern in encoded for pattern in _REPR_MAY_DIFFER):
        return text
    lines = text.split("\r\n")
    for index, line in enumerate(lines[:-1]):
        if any(pattern in line for pattern in _REPR_MAY_DIFFER_TEXT):
            lines[index] = _csv_line([_cell(value) for value in rows[index]])
    return "\r\n".join(lines)


def _csv_line(row: Sequence[Any]) -> str:
    """One row as ``csv.writer`` writes it, without its CR LF."""
    text = io.StringIO()
    csv.writer(text).writerow(row)
    return text.getvalue()[:-2]


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
