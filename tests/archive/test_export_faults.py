"""An export that cannot finish: a full or read-only disk, Ctrl-C half way, two exports
of the same files at once. Each says so in one line (exit 2; Ctrl-C 130), and leaves no
file that looks whole but is not - no ``*.partial`` either (a full disk gets its space
back)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from gazewire.archive import JournalArchive
from gazewire.archive.export import export, plan
from gazewire.cli import export as export_command
from gazewire.cli.main import main
from tests.archive.conftest import RecordedLab, csv_rows
from tests.support.disk import SmallDisk, small_disk_at

pytestmark = pytest.mark.broker
FORMATS = ["csv", "parquet", "bids"]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    yield from small_disk_at(tmp_path / "disk", size_kb=64)  # a recording's gaze is ~1 MB or more


def export_args(lab: RecordedLab, fmt: str, out: Path) -> list[str]:
    return ["export", lab.recordings[0], "--format", fmt, "--screen-resolution", "1920x1080", "-o", str(out),
            "--journal", str(lab.journal)]


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".partial" in p.name] if folder.exists() else []


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_full_disk_is_one_line_exit_2_and_no_partial_file_is_left(recorded_lab: RecordedLab, disk: SmallDisk,
                                                                     fmt: str, capsys) -> None:
    out = disk.path / "out"
    code = main(export_args(recorded_lab, fmt, out))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "\n" not in err and "No space left on device" in err and str(out) in err
    assert leftovers(disk.path) == []
    assert not any(p.name.endswith(("_gaze.csv", "_gaze.parquet", "physio.tsv.gz")) for p in out.rglob("*"))


@pytest.mark.parametrize("inside", [False, True], ids=["new-folder", "existing-folder"])
def test_a_read_only_disk_is_one_line_exit_2(recorded_lab: RecordedLab, disk: SmallDisk, inside: bool,
                                             capsys) -> None:
    out = disk.path if inside else disk.path / "out"
    disk.read_only()
    try:
        code = main(export_args(recorded_lab, "csv", out))
    finally:
        disk.read_write()
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "\n" not in err and "Read-only file system" in err
    assert list(disk.path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_ctrl_c_half_way_removes_the_file_being_written_and_says_so(recorded_lab: RecordedLab, tmp_path: Path,
                                                                    fmt: str, monkeypatch, capsys) -> None:
    calls = []

    def interrupted(self, samples: int) -> None:  # Ctrl-C arrives after the first chunk of gaze is written
        calls.append(samples)
        raise KeyboardInterrupt

    monkeypatch.setattr(export_command.ProgressBar, "__call__", interrupted)
    out = tmp_path / "out"
    code = main(export_args(recorded_lab, fmt, out))
    err = capsys.readouterr().err.strip()
    assert calls, "the export never reached the gaze"
    assert code == 130
    assert "\n" not in err and "interrupted" in err and "incomplete" in err
    assert leftovers(out) == []
    assert not any(p.name.endswith(("_gaze.csv", "_gaze.parquet", "physio.tsv.gz")) for p in out.rglob("*"))


def test_two_exports_of_the_same_files_at_once_both_finish_whole(recorded_lab: RecordedLab, tmp_path: Path) -> None:
    archive = JournalArchive(recorded_lab.journal)
    items = plan(archive, recording=recorded_lab.recordings[0])
    out = tmp_path / "out"
    both_writing = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def run() -> None:
        met = []

        def progress(samples: int) -> None:  # the two are writing the same gaze file at the same moment
            if not met:
                met.append(both_writing.wait())

        try:
            export(archive, items, out, "csv", force=True, chunk_rows=500, progress=progress)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    (gaze,) = out.glob("*_gaze.csv")
    assert pacsv.read_csv(gaze).num_rows == items[0].samples
    assert len(csv_rows(gaze)) == items[0].samples
    assert leftovers(out) == []
