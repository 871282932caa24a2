"""A BIDS dataset (BIDS 1.11, eye-tracking as physiological recordings) from recordings.

For each recording, in ``sub-<participant>/beh/``, named
``sub-<participant>_task-<task>_run-<n>_...`` (runs numbered by start time):

* ``_recording-eye1_physio.tsv.gz`` (left eye) and ``_recording-eye2_physio.tsv.gz``
  (right eye), no header, one row per sample: ``timestamp`` (the sample's UTC in µs,
  exact), ``x_coordinate``, ``y_coordinate`` (the eye's gaze point normalised to the
  display area, as Tobii gives it: 0-1 from the top-left corner; exact), ``pupil_size``
  (diameter, mm), then ``gaze_valid``, ``pupil_valid``, ``eye_position_x/y/z`` (the
  eye in the tracker's user coordinate system, mm) and ``seq``; missing values ``n/a``;
  each with its JSON sidecar: ``SamplingFrequency``, ``StartTime`` 0, ``Columns``,
  ``PhysioType`` ``eyetrack``, ``RecordedEye``, ``SampleCoordinateSystem``
  ``gaze-on-screen``, the tracker's model, serial number and firmware, the columns' units;
* ``_recording-eye<n>_physioevents.tsv.gz`` + JSON: markers, fixations, saccades,
  pursuits, blinks and alerts (``onset`` on the ``timestamp`` clock, ``duration`` in s,
  ``trial_type``, ``message``);
* ``_events.tsv`` (the markers, onset in s from the first sample) and ``_events.json``
  with ``StimulusPresentation``: ``ScreenSize`` (the display area the agent reported),
  ``ScreenDistance`` (the median eye distance from the tracker, or as given),
  ``ScreenOrigin`` top-left, ``ScreenResolution`` (pixels: not known to gazewire, so
  given with ``--screen-resolution`` or the recording's metadata
  ``screen_resolution``, e.g. ``1920x1080``).

At the top: ``dataset_description.json``, ``participants.tsv`` (+ JSON), ``README``.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import io
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from gazewire import __version__
from gazewire.archive.base import Archive, ArchiveError
from gazewire.archive.export import CannotWrite, ExportItem, ExportResult, Progress, write_atomically, written
from gazewire.archive.tables import GAZE_SCHEMA

BIDS_VERSION = "1.11.1"
RESOLUTION_KEY = "screen_resolution"
EYES = (("eye1", "left"), ("eye2", "right"))

PHYSIO_COLUMNS: tuple[tuple[str, str, dict[str, str]], ...] = (
    # (BIDS column, gaze column without the side, its description)
    ("timestamp", "utc_us", {"Description": "UTC time of the sample, microseconds since 1970-01-01 "
                                            "(the agent's utc_us; the same clock as the physioevents' onset).",
                             "Units": "us"}),
    ("x_coordinate", "x", {"Description": "Gaze point x on the display area, normalised as the Tobii Pro SDK "
                                          "gives it: 0 left edge, 1 right edge (times ScreenResolution[0] "
                                          "for pixels).", "Units": "arbitrary"}),
    ("y_coordinate", "y", {"Description": "Gaze point y on the display area, normalised: 0 top edge, "
                                          "1 bottom edge.", "Units": "arbitrary"}),
    ("pupil_size", "pupil", {"Description": "Pupil diameter as the tracker measured it.", "Units": "mm"}),
    ("gaze_valid", "valid", {"Description": "1 when the tracker marked the gaze point valid, else 0."}),
    ("pupil_valid", "pupil_valid", {"Description": "1 when the tracker marked the pupil diameter valid, else 0."}),
    ("eye_position_x", "origin_x", {"Description": "The eye's position (gaze origin) x in the tracker's user "
                                                   "coordinate system.", "Units": "mm"}),
    ("eye_position_y", "origin_y", {"Description": "Gaze origin y.", "Units": "mm"}),
    ("eye_position_z", "origin_z", {"Description": "Gaze origin z: the eye's distance from the tracker.",
                                    "Units": "mm"}),
    ("seq", "seq", {"Description": "The agent's sample number (consecutive: a gap is a lost sample)."}),
)
EVENT_COLUMNS = ("onset", "duration", "trial_type", "message")
GZIP_LEVEL = 1


class MissingFact(ArchiveError):
    """BIDS requires a fact gazewire does not know (the screen's resolution in pixels, ...)."""


class LabelClash(ArchiveError):
    """Two participant ids that BIDS would make one subject (``P-01``, ``P_01``: ``sub-P01``)."""


@dataclass(frozen=True)
class Run:
    item: ExportItem
    subject: str
    task: str
    run: int

    @property
    def folder(self) -> str:
        return f"sub-{self.subject}/beh"

    @property
    def prefix(self) -> str:
        return f"sub-{self.subject}_task-{self.task}_run-{self.run}"


def label(text: str | None) -> str:
    """A BIDS label: letters and digits only."""
    return re.sub(r"[^A-Za-z0-9]", "", text or "")


def parse_resolution(text: str) -> tuple[int, int]:
    found = re.fullmatch(r"\s*(\d{2,5})\s*[x×,]\s*(\d{2,5})\s*", text)
    if not found:
        raise ValueError(f"{text!r} is not a screen resolution like 1920x1080")
    return int(found.group(1)), int(found.group(2))


def plan_runs(items: list[ExportItem], task: str | None = None, existing: Path | None = None) -> list[Run]:
    """The BIDS runs of ``items``, numbered by start time per subject and task. Into the
    dataset at ``existing`` (an export with ``--force``), a recording exported there before
    keeps its run and a new one takes the next free number, so no run is overwritten by
    another recording. Two participant ids with one label (``P-01`` and ``P01``) are refused:
    their data would be one subject's."""
    taken, owners = _existing_dataset(existing) if existing is not None else ({}, {})
    runs: list[Run] = []
    ordered = sorted(items, key=lambda i: (i.details.summary.start_utc_us or 0) if i.details else 0)
    for item in ordered:
        details = item.details
        if details is None:
            raise ArchiveError("bids exports recordings: the samples between recordings have no participant")
        participant = details.summary.participant
        subject = label(participant) or "unknown"
        if participant:
            owner = owners.setdefault(subject, participant)
            if owner != participant:
                raise LabelClash(
                    f"participants {owner!r} and {participant!r} would both be sub-{subject} (BIDS labels are "
                    "letters and digits only): export them into separate folders"
                )
        task_label = label(task) or label(details.summary.name) or "gazewire"
        numbers = taken.setdefault((subject, task_label), {})
        number = numbers.get(item.recording) if item.recording else None
        if number is None:
            number = max(numbers.values(), default=0) + 1
            numbers[item.recording or f"#{number}"] = number
        runs.append(Run(item, subject, task_label, number))
    return runs


_RUN_FILE = re.compile(r"sub-([A-Za-z0-9]+)_task-([A-Za-z0-9]+)_run-(\d+)_")


def _existing_dataset(output: Path) -> tuple[dict[tuple[str, str], dict[str, int]], dict[str, str]]:
    """The runs already in the dataset at ``output`` - per (subject, task), the recording
    each run holds (from its events sidecar; a run without one, e.g. of an interrupted
    export, is kept under a name of its own) - and the participant id of each subject."""
    runs: dict[tuple[str, str], dict[int, str]] = {}  # (subject, task) -> run -> its recording
    for path in output.glob("sub-*/beh/sub-*_task-*_run-*"):
        found = _RUN_FILE.match(path.name)
        if not found:
            continue
        held = runs.setdefault((found.group(1), found.group(2)), {})
        number = int(found.group(3))
        held.setdefault(number, f"#{number}")
        if path.name.endswith("_events.json"):
            try:
                held[number] = json.loads(path.read_text(encoding="utf-8"))["gazewire"]["recording"] or held[number]
            except (OSError, ValueError, KeyError, TypeError):
                pass
    taken = {key: {recording: number for number, recording in held.items()} for key, held in runs.items()}
    owners: dict[str, str] = {}
    listed = output / "participants.tsv"
    if listed.is_file():
        with listed.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                participant = row.get("gazewire_participant")
                if participant and participant != "n/a" and row.get("participant_id", "").startswith("sub-"):
                    owners[row["participant_id"][4:]] = participant
    return taken, owners


def write_bids(
    archive: Archive,
    items: list[ExportItem],
    output: Path,
    *,
    chunk_rows: int,
    progress: Progress | None,
    result: ExportResult,
    task: str | None = None,
    screen_resolution: tuple[int, int] | None = None,
    screen_distance_m: float | None = None,
) -> ExportResult:
    runs = plan_runs(items, task, existing=output)
    stimulus = {run.item.stem: _stimulus(run.item, screen_resolution, screen_distance_m) for run in runs}
    for run in runs:  # every fact is there before anything is written
        if not run.item.details or not run.item.details.frequency_hz:
            raise MissingFact(f"recording {run.item.recording}: its sampling frequency is not known")
    _write_top(output, runs, result)
    for run in runs:
        folder = output / run.folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CannotWrite(folder, error) from None
        first_utc_us = _write_physio(archive, run, folder, chunk_rows, progress, result)
        _write_physioevents(archive, run, folder, chunk_rows, result)
        _write_events(archive, run, folder, first_utc_us, stimulus[run.item.stem], result)
    return result


# --------------------------------------------------------------------------- the dataset


def _write_top(output: Path, runs: list[Run], result: ExportResult) -> None:
    description = {
        "Name": "gazewire eye-tracking recordings",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw",
        "GeneratedBy": [{"Name": "gazewire", "Version": __version__,
                         "Description": "gazewire export --format bids"}],
    }
    _json(output / "dataset_description.json", description, result)
    participants: dict[str, str] = {}
    existing = output / "participants.tsv"
    if existing.is_file():  # --force into an earlier export: keep its participants
        with existing.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                participants[row["participant_id"]] = row.get("gazewire_participant", "n/a")
    for run in runs:
        participants[f"sub-{run.subject}"] = run.item.details.summary.participant or "n/a"  # type: ignore[union-attr]
    lines = ["participant_id\tgazewire_participant"] + [
        f"{key}\t{_cell(value)}" for key, value in sorted(participants.items())
    ]
    _text(output / "participants.tsv", "\n".join(lines) + "\n", result)
    _json(output / "participants.json", {
        "participant_id": {"Description": "The participant's label: gazewire's participant id, letters and digits only."},
        "gazewire_participant": {"Description": "The participant id given at the recording's start."},
    }, result)
    readme = output / "README"
    if not readme.exists():
        _text(readme, (
            "Eye-tracking recordings exported by gazewire (https://github.com/gazewire) as BIDS "
            f"{BIDS_VERSION} physiological recordings.\n\nEach run is one gazewire recording: the left eye "
            "in recording-eye1, the right eye in recording-eye2, markers, fixations, saccades and alerts "
            "in the physioevents files.\n"), result)


def _stimulus(item: ExportItem, resolution: tuple[int, int] | None, distance_m: float | None) -> dict[str, Any]:
    details = item.details
    assert details is not None
    if resolution is None:
        given = details.metadata.get(RESOLUTION_KEY)
        if given:
            try:
                resolution = parse_resolution(given)
            except ValueError as error:
                raise MissingFact(f"recording {details.id}: metadata {RESOLUTION_KEY}: {error}") from None
    if resolution is None:
        raise MissingFact(
            f"recording {details.id}: BIDS needs the screen's resolution in pixels, which the tracker does not "
            f"report: give --screen-resolution 1920x1080 (or start recordings with metadata {RESOLUTION_KEY})"
        )
    if details.display_area is None:
        raise MissingFact(f"recording {details.id}: the agent reported no display area (BIDS ScreenSize)")
    if distance_m is None:
        if details.eye_distance_mm is None:
            raise MissingFact(
                f"recording {details.id}: no valid eye to measure the viewing distance: give --screen-distance METRES"
            )
        distance_m = round(details.eye_distance_mm / 1000, 3)
    return {
        "ScreenSize": [details.display_area.width_mm / 1000, details.display_area.height_mm / 1000],
        "ScreenResolution": [resolution[0], resolution[1]],
        "ScreenDistance": distance_m,
        "ScreenOrigin": ["top", "left"],
    }


# --------------------------------------------------------------------------- physio


def _write_physio(archive: Archive, run: Run, folder: Path, chunk_rows: int, progress: Progress | None,
                  result: ExportResult) -> int | None:
    """Both eyes' physio files in one pass over the gaze; returns the first sample's utc_us."""
    details = run.item.details
    assert details is not None
    schema = pa.schema([
        (name, GAZE_SCHEMA.field(column if column in ("utc_us", "seq") else f"left_{column}").type)
        for name, column, _ in PHYSIO_COLUMNS
    ])
    options = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none", null_string="n/a")
    paths = {tag: folder / f"{run.prefix}_recording-{tag}_physio.tsv.gz" for tag, _ in EYES}
    first: int | None = None
    samples = 0
    with ExitStack() as files:
        partials = {tag: files.enter_context(written(path)) for tag, path in paths.items()}  # renamed last
        # gzip level 1: ten times faster than Arrow's own gzip stream (level 9), files ~15 % larger
        # no file name and no time in the gzip header (bids-validator warns of both; the partial's
        # name is not the file's): the same recording gives the same bytes
        streams = {tag: files.enter_context(gzip.GzipFile(
                       filename="", mode="wb", compresslevel=GZIP_LEVEL, mtime=0,
                       fileobj=files.enter_context(partials[tag].open("wb"))))
                   for tag, _ in EYES}
        writers = {tag: files.enter_context(pacsv.CSVWriter(streams[tag], schema, write_options=options))
                   for tag, _ in EYES}
        for chunk in run.item.reader(archive, "gaze", chunk_rows):
            if first is None:
                first = chunk.column("utc_us")[0].as_py()
            for tag, side in EYES:
                arrays = [chunk.column(column if column in ("utc_us", "seq") else f"{side}_{column}")
                          for _, column, _ in PHYSIO_COLUMNS]
                writers[tag].write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            samples += len(chunk)
            if progress:
                progress(len(chunk))
    for tag, side in EYES:
        result.files.append(paths[tag])
        sidecar: dict[str, Any] = {
            "TaskName": details.summary.name or run.task,
            "SamplingFrequency": details.frequency_hz,
            "StartTime": 0,
            "Columns": [name for name, _, _ in PHYSIO_COLUMNS],
            "PhysioType": "eyetrack",
            "RecordedEye": side,
            "SampleCoordinateSystem": "gaze-on-screen",
            "RecordingDuration": details.summary.duration_s,
            **_hardware(details),
            **{name: description for name, _, description in PHYSIO_COLUMNS},
        }
        _json(paths[tag].with_name(paths[tag].name.replace(".tsv.gz", ".json")), sidecar, result)
    result.samples += samples
    result.rows["gaze"] = result.rows.get("gaze", 0) + samples
    return first


def _hardware(details) -> dict[str, Any]:
    tracker = details.tracker
    found: dict[str, Any] = {}
    if tracker is not None:
        if tracker.source == "tobii":
            found["Manufacturer"] = "Tobii"
            found["EyeTrackingMethod"] = "P-CR"
        if tracker.model:
            found["ManufacturersModelName"] = tracker.model
        if tracker.serial:
            found["DeviceSerialNumber"] = tracker.serial
    versions = [f"gazewire agent {details.agent_version}"] if details.agent_version else []
    if tracker is not None and tracker.firmware:
        versions.append(f"tracker firmware {tracker.firmware}")
    if versions:
        found["SoftwareVersions"] = "; ".join(versions)
    return found


# --------------------------------------------------------------------------- events


def _event_rows(archive: Archive, item: ExportItem, chunk_rows: int) -> Iterator[tuple[int, float | None, str, str]]:
    """(onset utc_us, duration s, trial_type, message) of every event, in time order."""

    def markers():
        for chunk in item.reader(archive, "markers", chunk_rows):
            for row in chunk.to_pylist():
                yield row["utc_us"], None, "marker", row["name"]

    def fixations():
        for chunk in item.reader(archive, "fixations", chunk_rows):
            for row in chunk.to_pylist():
                yield row["start_utc_us"], row["duration_ms"] / 1000, "fixation", f"fixation {row['fixation']}"

    def movements():
        for chunk in item.reader(archive, "movements", chunk_rows):
            for row in chunk.to_pylist():
                yield row["start_utc_us"], row["duration_ms"] / 1000, row["kind"], f"{row['kind']} {row['number']}"

    def alerts():
        for chunk in item.reader(archive, "alerts", chunk_rows):
            for row in chunk.to_pylist():
                yield row["utc_us"], None, "alert", f"{row['type']} {row['state']} ({row['severity']})"

    return heapq.merge(markers(), fixations(), movements(), alerts(), key=lambda row: row[0])


def _write_physioevents(archive: Archive, run: Run, folder: Path, chunk_rows: int, result: ExportResult) -> None:
    body = io.BytesIO()
    counts: dict[str, int] = {}
    for onset, duration, kind, message in _event_rows(archive, run.item, chunk_rows):
        counts[kind] = counts.get(kind, 0) + 1
        body.write(f"{onset}\t{_number(duration)}\t{kind}\t{_cell(message)}\n".encode())
    for table in ("markers", "fixations", "movements", "alerts"):
        result.rows.setdefault(table, 0)
    for kind, count in counts.items():
        table = {"marker": "markers", "fixation": "fixations", "alert": "alerts"}.get(kind, "movements")
        result.rows[table] += count
    for tag, _ in EYES:
        path = folder / f"{run.prefix}_recording-{tag}_physioevents.tsv.gz"
        write_atomically(path, gzip.compress(body.getvalue(), compresslevel=GZIP_LEVEL, mtime=0))
        result.files.append(path)
        _json(path.with_name(path.name.replace(".tsv.gz", ".json")), {
            "TaskName": run.item.details.summary.name or run.task,  # type: ignore[union-attr]
            "Columns": list(EVENT_COLUMNS),
            "OnsetSource": "timestamp",
            "Description": "What happened during the recording: the experiment's markers, and the fixations, "
                           "saccades, smooth pursuits, blinks and alerts the gazewire processor detected in the "
                           "combined gaze of both eyes (the same events in both eyes' files).",
            "onset": {"Description": "Start of the event on the physio file's timestamp clock (UTC, µs).",
                      "Units": "us"},
            "duration": {"Description": "Duration of the event (n/a: an instant).", "Units": "s"},
            "trial_type": {"Description": "The kind of event.", "Levels": {
                "marker": "A marker the experiment sent (message: its name).",
                "fixation": "A fixation (the processor's detector).",
                "saccade": "A saccade.", "pursuit": "Smooth pursuit.", "blink": "A blink or lost eye.",
                "alert": "An alert raised or cleared (message: type, state, severity).",
            }},
            "message": {"Description": "The marker's name, the event's number, or the alert."},
        }, result)


def _write_events(archive: Archive, run: Run, folder: Path, first_utc_us: int | None, stimulus: dict[str, Any],
                  result: ExportResult) -> None:
    lines = ["onset\tduration\ttrial_type"]
    origin = first_utc_us or 0
    for chunk in run.item.reader(archive, "markers", 4096):
        for row in chunk.to_pylist():
            lines.append(f"{(row['utc_us'] - origin) / 1e6:.6f}\t0\t{_cell(row['name'])}")
    path = folder / f"{run.prefix}_events.tsv"
    _text(path, "\n".join(lines) + "\n", result)
    details = run.item.details
    assert details is not None
    _json(path.with_name(path.name.replace(".tsv", ".json")), {
        "TaskName": details.summary.name or run.task,
        "StimulusPresentation": stimulus,
        "onset": {"Description": "Time of the marker, from the recording's first sample.", "Units": "s"},
        "duration": {"Description": "Markers are instants.", "Units": "s"},
        "trial_type": {"Description": "The marker's name, as the experiment sent it."},
        "gazewire": {"session": details.session, "recording": details.id, "metadata": details.metadata,
                     "started_utc_us": details.started_utc_us, "first_sample_utc_us": first_utc_us},
    }, result)


# --------------------------------------------------------------------------- helpers


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "n/a"
    return re.sub(r"[\t\r\n]+", " ", str(value))


def _number(value: float | None) -> str:
    return "n/a" if value is None else repr(float(value))


def _json(path: Path, value: Any, result: ExportResult) -> None:
    write_atomically(path, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode())
    result.files.append(path)


def _text(path: Path, text: str, result: ExportResult) -> None:
    write_atomically(path, text.encode())
    result.files.append(path)
