"""``gazewire export`` and ``gazewire recordings`` on the recorded lab (a real journal from
the real processor, the real agent's files): the export equals what the agent produced,
Parquet round-trips through pyarrow with its metadata, the BIDS folder passes the
official validator (bids-validator-deno) without errors, and every mistake is one line
with exit code 2."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gazewire.archive import GAZE_SCHEMA, JournalArchive
from gazewire.archive.export import recording_metadata
from gazewire.archive.files import GAZE_FROM_CSV
from gazewire.cli.main import main
from tests.archive.conftest import RecordedLab, csv_rows, recording_csv

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]


def gazewire(*args: str) -> subprocess.CompletedProcess:
    """The command as a user runs it: its own process."""
    return subprocess.run([sys.executable, "-m", "gazewire.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def agent_gaze_rows(lab: RecordedLab, recording: str) -> list[dict[str, str]]:
    return [r for r in csv_rows(recording_csv(lab, recording)) if r["kind"] == "gaze"]


def number(text: str):
    return None if text in ("", "n/a") else float(text)


@pytest.mark.parametrize("source", ["--journal", "--recordings"])
def test_csv_export_of_a_recording_equals_the_agents_csv(recorded_lab: RecordedLab, tmp_path: Path,
                                                         source: str) -> None:
    recording = recorded_lab.recordings[0]
    place = recorded_lab.journal if source == "--journal" else recorded_lab.agent_data
    done = gazewire("export", recording, "--format", "csv", "-o", str(tmp_path / "out"), source, str(place))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress bar without a terminal
    (gaze,) = (tmp_path / "out").glob("*_gaze.csv")
    exported = csv_rows(gaze)
    agent = agent_gaze_rows(recorded_lab, recording)
    assert len(exported) == len(agent)
    for name, column in GAZE_FROM_CSV.items():
        if name == "eye":
            assert [r[name] for r in exported] == [r[column] for r in agent]
        else:
            assert [number(r[name]) for r in exported] == [number(r[column]) for r in agent], name
    (meta,) = (tmp_path / "out").glob("*.json")
    assert json.loads(meta.read_text())["recording"]["participant"] == "P01"
    markers = csv_rows(next((tmp_path / "out").glob("*_markers.csv")))
    assert [m["name"] for m in markers] == ["trial_1", "trial_2", "trial_3"]


def test_parquet_round_trips_through_pyarrow_with_the_recordings_metadata(recorded_lab: RecordedLab,
                                                                          tmp_path: Path) -> None:
    recording = recorded_lab.recordings[1]
    assert main(["export", recording, "--format", "parquet", "-o", str(tmp_path), "--journal",
                 str(recorded_lab.journal)]) == 0
    (path,) = tmp_path.glob("*_gaze.parquet")
    read = pq.read_table(path)
    archive = JournalArchive(recorded_lab.journal)
    assert read.schema.remove_metadata() == GAZE_SCHEMA
    assert read.equals(pa.Table.from_batches(list(archive.gaze(recording)), schema=GAZE_SCHEMA).replace_schema_metadata(
        read.schema.metadata))
    agent = agent_gaze_rows(recorded_lab, recording)
    assert read.column("seq").to_pylist() == [int(r["seq"]) for r in agent]
    assert read.column("left_pupil").to_pylist() == [number(r["left_pupil_diameter"]) for r in agent]
    column = pq.ParquetFile(path).metadata.row_group(0).column(0)
    assert column.compression == "ZSTD"
    meta = recording_metadata(path)
    assert meta["id"] == recording and meta["participant"] == "P02"
    assert meta["metadata"] == {"condition": "B", "room": "2.14"}
    assert meta["tracker"]["serial"] and meta["frequency_hz"] == 300.0 and meta["display_area"]["width_mm"] > 0
    fixations = pq.read_table(next(tmp_path.glob("*_fixations.parquet")))
    assert fixations.num_rows > 0 and fixations.schema.field("start_utc_us").type == pa.int64()


def test_a_session_range_exports_exactly_the_samples_in_it(recorded_lab: RecordedLab, tmp_path: Path) -> None:
    rows = agent_gaze_rows(recorded_lab, recorded_lab.recordings[0])
    start, end = int(rows[100]["utc_us"]), int(rows[2100]["utc_us"])
    iso = [_iso(start), _iso(end)]
    assert main(["export", "--session", recorded_lab.session, "--from", iso[0], "--to", iso[1], "--format",
                 "parquet", "-o", str(tmp_path), "--journal", str(recorded_lab.journal)]) == 0
    (path,) = tmp_path.glob("*_gaze.parquet")
    times = pq.read_table(path).column("utc_us").to_pylist()
    low, high = _us(iso[0]), _us(iso[1])
    everything = pa.Table.from_batches(list(JournalArchive(recorded_lab.journal).gaze(session=recorded_lab.session)))
    assert times == [t for t in everything.column("utc_us").to_pylist() if low <= t < high]
    assert len(times) > 1500


def _iso(utc_us: int) -> str:
    from gazewire.wire.timeutil import iso_from_utc_us

    return iso_from_utc_us(utc_us)


def _us(text: str) -> int:
    from gazewire.wire.timeutil import utc_us_from_iso

    return utc_us_from_iso(text)


def validator() -> str:
    found = shutil.which("bids-validator-deno", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    if found is None:
        pytest.fail("bids-validator-deno is not installed: run scripts/test.sh (pip install -e '.[dev]')")
    return found


def validate(folder: Path) -> dict:
    done = subprocess.run([validator(), "--format", "json", "--max-rows", "-1", str(folder)], capture_output=True,
                          text=True, timeout=300)
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout)


def errors_of(report: dict) -> list[str]:
    issues = report["issues"]["issues"]
    return [f"{i['code']}: {i.get('location', '')} {i.get('issueMessage', '')}" for i in issues
            if i.get("severity") == "error"]


@pytest.mark.parametrize("source", ["--journal", "--recordings"])
def test_the_bids_dataset_passes_the_official_validator(recorded_lab: RecordedLab, tmp_path: Path,
                                                        source: str) -> None:
    place = recorded_lab.journal if source == "--journal" else recorded_lab.agent_data
    out = tmp_path / "bids"
    done = gazewire("export", "--session", recorded_lab.session, "--format", "bids", "--screen-resolution",
                    "1920x1080", "-o", str(out), source, str(place))
    assert done.returncode == 0, done.stderr
    report = validate(out)
    assert errors_of(report) == []
    for run, (recording, participant) in enumerate(zip(recorded_lab.recordings, recorded_lab.participants)):
        beh = out / f"sub-{participant}" / "beh"
        prefix = f"sub-{participant}_task-freeviewing{run + 1}_run-1"
        agent = agent_gaze_rows(recorded_lab, recording)
        for tag, side in (("eye1", "left"), ("eye2", "right")):
            with gzip.open(beh / f"{prefix}_recording-{tag}_physio.tsv.gz", "rt") as handle:
                rows = list(csv.reader(handle, delimiter="\t"))
            assert len(rows) == len(agent)
            assert [int(r[0]) for r in rows] == [int(a["utc_us"]) for a in agent]
            assert [number(r[1]) for r in rows] == [number(a[f"{side}_gaze_point_on_display_area_x"]) for a in agent]
            assert [number(r[3]) for r in rows] == [number(a[f"{side}_pupil_diameter"]) for a in agent]
            sidecar = json.loads((beh / f"{prefix}_recording-{tag}_physio.json").read_text())
            assert sidecar["PhysioType"] == "eyetrack" and sidecar["RecordedEye"] == side
            assert sidecar["SamplingFrequency"] == 300.0
            assert sidecar["Columns"][:4] == ["timestamp", "x_coordinate", "y_coordinate", "pupil_size"]
            assert sidecar["DeviceSerialNumber"] and sidecar["ManufacturersModelName"]
            with gzip.open(beh / f"{prefix}_recording-{tag}_physioevents.tsv.gz", "rt") as handle:
                events = list(csv.reader(handle, delimiter="\t"))
            kinds = {e[2] for e in events}
            assert "marker" in kinds
            if source == "--journal":
                assert {"fixation", "saccade", "blink"} <= kinds
        events = json.loads((beh / f"{prefix}_events.json").read_text())
        assert events["StimulusPresentation"]["ScreenResolution"] == [1920, 1080]
        assert 0.4 < events["StimulusPresentation"]["ScreenDistance"] < 0.9
    participants = (out / "participants.tsv").read_text().splitlines()
    assert participants[1:] == ["sub-P01\tP01", "sub-P02\tP02"]


def test_bids_without_a_screen_resolution_is_refused_before_anything_is_written(recorded_lab: RecordedLab,
                                                                                tmp_path: Path, capsys) -> None:
    out = tmp_path / "bids"
    code = main(["export", recorded_lab.recordings[0], "--format", "bids", "-o", str(out),
                 "--journal", str(recorded_lab.journal)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--screen-resolution" in err
    assert not out.exists() or not any(out.rglob("*physio*"))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["20990101T000000Z-beef"], "no recording '20990101T000000Z-beef'"),
        (["--session", "nope"], "no session 'nope'"),
        (["--session", "{session}", "--from", "2001-01-01T00:00:00Z", "--to", "2001-01-02T00:00:00Z"],
         "has no sample from 2001-01-01"),
        (["--since", "2099-01-01"], "no recording since 2099-01-01"),
        (["{recording}", "--from", "2030-01-02T00:00:00Z", "--to", "2030-01-01T00:00:00Z"], "before"),
        ([], "choose one of RECORDING"),
    ],
)
def test_mistakes_are_one_line_and_exit_code_2(recorded_lab: RecordedLab, tmp_path: Path, args, expected) -> None:
    filled = [a.format(session=recorded_lab.session, recording=recorded_lab.recordings[0]) for a in args]
    done = gazewire("export", *filled, "--format", "csv", "-o", str(tmp_path / "out"), "--journal",
                    str(recorded_lab.journal))
    assert done.returncode == 2
    assert expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_times_may_be_utc_microseconds_as_in_the_data_and_the_api(recorded_lab: RecordedLab, tmp_path: Path) -> None:
    gaze = pa.Table.from_batches(JournalArchive(recorded_lab.journal).gaze(recorded_lab.recordings[0]))
    times = gaze.column("utc_us").to_pylist()
    start, end = times[100], times[200]
    done = gazewire("export", recorded_lab.recordings[0], "--from", str(start), "--to", str(end), "--format", "csv",
                    "-o", str(tmp_path / "out"), "--journal", str(recorded_lab.journal))
    assert done.returncode == 0, done.stderr
    (written,) = (tmp_path / "out").glob("*_gaze.csv")
    assert [int(row["utc_us"]) for row in csv_rows(written)] == times[100:200]


@pytest.mark.parametrize("command", ["export", "recordings"])
def test_a_journal_that_is_not_one_is_one_line_and_exit_code_2(tmp_path: Path, command: str) -> None:
    wrong = tmp_path / "mosquitto.conf"
    wrong.write_text("listener 1883\n" * 200)
    args = ["20261130T101500Z-3f9a", "--format", "csv", "-o", str(tmp_path / "out")] if command == "export" else []
    done = gazewire(command, *args, "--journal", str(wrong))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"gazewire {command}: cannot read journal {str(wrong)!r}: ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_export_does_not_overwrite_without_force(recorded_lab: RecordedLab, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["export", recorded_lab.recordings[0], "--format", "csv", "-o", str(out), "--journal",
            str(recorded_lab.journal)]
    assert gazewire(*args).returncode == 0
    (gaze,) = out.glob("*_gaze.csv")
    gaze.write_text("precious\n")
    again = gazewire(*args)
    assert again.returncode == 2 and "not empty" in again.stderr and "--force" in again.stderr
    assert gaze.read_text() == "precious\n"
    assert gazewire(*args, "--force").returncode == 0
    assert gaze.read_text().startswith('"seq"')
    assert not list(out.glob("*.partial"))


def test_everything_since_a_date_is_one_set_of_files_per_recording(recorded_lab: RecordedLab, tmp_path: Path) -> None:
    done = gazewire("export", "--since", "2000-01-01", "--format", "parquet", "-o", str(tmp_path / "out"),
                    "--recordings", str(recorded_lab.agent_data))
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in (tmp_path / "out").glob("*_gaze.parquet"))
    assert len(files) == 2
    assert all(recording in name for recording, name in zip(recorded_lab.recordings, files))


def test_recordings_are_listed(recorded_lab: RecordedLab) -> None:
    done = gazewire("recordings", "--journal", str(recorded_lab.journal))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["session", "recording", "name", "participant"]
    assert len(lines) == 3
    for line, recording, participant in zip(lines[1:], recorded_lab.recordings, recorded_lab.participants):
        assert recorded_lab.session in line and recording in line and participant in line and "%" in line
    as_json = gazewire("recordings", "--recordings", str(recorded_lab.agent_data), "--participant", "P02", "--json")
    (only,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert only["id"] == recorded_lab.recordings[1] and only["state"] == "stopped"
    unknown = gazewire("recordings", "--journal", "/nonexistent/journal.sqlite")
    assert unknown.returncode == 2 and "no journal" in unknown.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_on_a_terminal_only() -> None:
    from gazewire.cli.export import ProgressBar

    screen = Terminal()
    bar = ProgressBar(1000, stream=screen)
    bar(400)
    bar(600)
    bar.close()
    assert "100%" in screen.getvalue() and "1,000/1,000 samples" in screen.getvalue()
    piped = io.StringIO()
    quiet = ProgressBar(1000, stream=piped)
    quiet(1000)
    quiet.close()
    assert piped.getvalue() == ""


def test_without_flags_the_archive_is_found_where_the_settings_put_the_data(recorded_lab: RecordedLab,
                                                                            tmp_path: Path) -> None:
    def listing(data_dir: Path) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
        env["GAZEWIRE_DATA_DIR"] = str(data_dir)
        return subprocess.run([sys.executable, "-m", "gazewire.cli", "recordings", "--json"], capture_output=True,
                              text=True, cwd=REPO, env=env, timeout=120)

    on_the_server = listing(recorded_lab.journal.parent)  # the processor's data dir: its journal
    assert on_the_server.returncode == 0, on_the_server.stderr
    assert not (recorded_lab.journal.parent / "recordings").exists()  # so the listing is the journal's
    assert [json.loads(line)["id"] for line in on_the_server.stdout.splitlines()] == recorded_lab.recordings
    on_the_tracker_pc = listing(recorded_lab.agent_data)  # the agent's: its recordings
    assert not (recorded_lab.agent_data / "journal.sqlite").exists()
    assert [json.loads(line)["id"] for line in on_the_tracker_pc.stdout.splitlines()] == recorded_lab.recordings
    assert [json.loads(line)["state"] for line in on_the_tracker_pc.stdout.splitlines()] == ["stopped", "stopped"]
    nowhere = listing(tmp_path / "empty")
    assert nowhere.returncode == 2 and "--journal PATH or --recordings DIR" in nowhere.stderr
    assert len(nowhere.stderr.strip().splitlines()) == 1


def test_a_second_recording_exported_into_a_bids_folder_with_force_keeps_the_first(recorded_lab: RecordedLab,
                                                                                   tmp_path: Path) -> None:
    out = tmp_path / "study"
    for recording in recorded_lab.recordings:
        assert main(["export", recording, "--format", "bids", "--screen-resolution", "1280x1024",
                     "--screen-distance", "0.65", "--task", "freeview", "-o", str(out), "--force",
                     "--journal", str(recorded_lab.journal)]) == 0
    assert (out / "participants.tsv").read_text().splitlines()[1:] == ["sub-P01\tP01", "sub-P02\tP02"]
    for participant in recorded_lab.participants:
        events = json.loads((out / f"sub-{participant}/beh/sub-{participant}_task-freeview_run-1_events.json")
                            .read_text())
        assert events["StimulusPresentation"]["ScreenDistance"] == 0.65
        assert events["StimulusPresentation"]["ScreenResolution"] == [1280, 1024]
    assert errors_of(validate(out)) == []
