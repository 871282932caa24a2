"""A BIDS dataset grown over several exports (``--force`` into the same study folder) and
participant ids that BIDS labels cannot tell apart: no run is ever written over by
another recording, and no two participants become one subject.

The recordings are the agent's files of the recorded lab, copied, with the second one's
participant changed in its sidecar (as the agent would have written it had the
experimenter typed that id)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gazewire.cli.main import main
from tests.archive.conftest import RecordedLab

pytestmark = pytest.mark.broker


def agent_files_with_participant(lab: RecordedLab, tmp_path: Path, participant: str) -> Path:
    """A copy of the agent's data dir whose second recording belongs to ``participant``."""
    copy = tmp_path / "agent"
    shutil.copytree(lab.agent_data / "recordings", copy / "recordings")
    (sidecar,) = (copy / "recordings" / lab.session).glob(f"{lab.recordings[1]}*.json")
    facts = json.loads(sidecar.read_text())
    facts["participant"] = participant
    sidecar.write_text(json.dumps(facts))
    return copy


def export_bids(recording: str, out: Path, agent_data: Path, *extra: str) -> int:
    return main(["export", recording, "--format", "bids", "--screen-resolution", "1920x1080", "--task", "freeview",
                 "-o", str(out), "--recordings", str(agent_data), *extra])


def runs_of(out: Path, subject: str) -> dict[str, str]:
    """run number -> the recording its events sidecar names."""
    return {
        path.name.split("_run-")[1].split("_")[0]: json.loads(path.read_text())["gazewire"]["recording"]
        for path in sorted((out / f"sub-{subject}" / "beh").glob("*_events.json"))
    }


def test_a_participants_next_recording_exported_into_the_study_is_a_new_run(recorded_lab: RecordedLab,
                                                                             tmp_path: Path) -> None:
    agent_data = agent_files_with_participant(recorded_lab, tmp_path, "P01")  # both recordings are P01's
    first, second = recorded_lab.recordings
    out = tmp_path / "study"
    assert export_bids(first, out, agent_data) == 0
    assert export_bids(second, out, agent_data, "--force") == 0   # a week later, the same study folder
    assert runs_of(out, "P01") == {"1": first, "2": second}
    assert export_bids(first, out, agent_data, "--force") == 0    # exported again: its own run, rewritten
    assert runs_of(out, "P01") == {"1": first, "2": second}
    assert len(list((out / "sub-P01" / "beh").glob("*_physio.tsv.gz"))) == 4


@pytest.mark.parametrize("together", [True, False], ids=["one-export", "two-exports"])
def test_two_participants_with_one_bids_label_are_refused(recorded_lab: RecordedLab, tmp_path: Path,
                                                          together: bool, capsys) -> None:
    agent_data = agent_files_with_participant(recorded_lab, tmp_path, "P-01")  # P01 and P-01: both sub-P01
    out = tmp_path / "study"
    if together:
        code = main(["export", "--session", recorded_lab.session, "--format", "bids", "--screen-resolution",
                     "1920x1080", "-o", str(out), "--recordings", str(agent_data)])
    else:
        assert export_bids(recorded_lab.recordings[0], out, agent_data) == 0
        capsys.readouterr()
        code = export_bids(recorded_lab.recordings[1], out, agent_data, "--force")
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "\n" not in err and "'P01'" in err and "'P-01'" in err and "sub-P01" in err
    if together:  # refused before a file was written: no folder left behind that looks like a study
        assert not out.exists()
    else:  # the earlier export's study is kept as it was
        assert list(runs_of(out, "P01").values()) == [recorded_lab.recordings[0]]


def test_the_physio_files_gzip_headers_hold_no_name_and_no_time(recorded_lab: RecordedLab, tmp_path: Path) -> None:
    out = tmp_path / "study"
    assert export_bids(recorded_lab.recordings[0], out, recorded_lab.agent_data) == 0
    files = sorted(out.rglob("*.tsv.gz"))
    assert len(files) == 4
    for path in files:
        header = path.read_bytes()[:10]
        assert header[:2] == b"\x1f\x8b"
        assert header[3] & 0x08 == 0, f"{path.name}: a file name in the gzip header"
        assert header[4:8] == b"\0\0\0\0", f"{path.name}: a modification time in the gzip header"
