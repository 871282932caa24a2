"""A recording's files without a broker: names, ids, counting rows after a crash,
and finalising a recording an earlier agent run left running."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from gazewire.agent.inputs.gaze_model import GazeSimulator
from gazewire.agent.outputs.recording import Recording, count_rows, read_sidecar, write_sidecar
from gazewire.agent.pipeline.combine import combine_eyes
from gazewire.agent.recording_format import (
    AgentOfRecording,
    RecordingSidecar,
    file_stem,
    recording_id,
    recordings_dir,
)
from gazewire.agent.recordings import AgentFacts, CommandRefused, Recordings


@pytest.mark.parametrize(
    "name, stem",
    [
        (None, "R"),
        ("", "R"),
        ("reading task", "R_reading-task"),
        ("sub-01_ses-1_task-read", "R_sub-01_ses-1_task-read"),
        ("../../etc/passwd", "R_etc-passwd"),
        ("Lesen: Blöck 2/3", "R_Lesen-Bl-ck-2-3"),
        ("...", "R"),
        ("x" * 300, "R_" + "x" * 64),
        ("CON", "R_CON"),  # a Windows device name, harmless behind the id
    ],
)
def test_a_recording_file_is_named_after_its_id_and_a_file_safe_name(name, stem):
    assert file_stem("R", name) == stem


def test_a_recording_id_is_its_utc_start_and_four_hex_digits():
    assert recording_id(1_795_342_530_123_456, "3f9a") == "20261122T101530Z-3f9a"
    with pytest.raises(ValueError, match="four lower-case hex digits"):
        recording_id(0, "xyz!")


def write_rows(path: Path, samples: int, *, marker_names: tuple[str, ...] = ()) -> Recording:
    recording = Recording(path)
    simulated = GazeSimulator(frequency_hz=120, seed=2).next_samples(samples)
    for seq, sample in enumerate(simulated):
        recording.write_sample(seq, 1_800_000_000_000_000 + seq * 8333, sample, combine_eyes(sample))
    for name in marker_names:
        recording.write_marker(name, 1_800_000_001_000_000, None)
    recording.close()
    return recording


def test_counting_rows_finds_every_whole_row_and_a_torn_last_one(tmp_path):
    path = tmp_path / "r.csv"
    written = write_rows(path, 50, marker_names=("plain", "line one\r\nline two"))
    whole = count_rows(path)
    assert (whole.samples, whole.markers, whole.last_seq, whole.torn) == (50, 2, 49, False)
    assert whole.end == path.stat().st_size == written.size
    assert written.samples_in_file == 50 and written.markers_in_file == 2

    data = path.read_bytes()
    # The last row ends '"line one\r\nline two"\r\n': cut its end, its second line, right after its quoted
    # line break (a line that ends, inside a field that does not), and into its first line.
    for cut in (1, 2, 3, len(b'line two"\r\n'), len(b'line two"\r\n') + 4):
        path.write_bytes(data[:-cut])
        torn = count_rows(path)
        assert torn.torn, cut
        assert (torn.samples, torn.markers) == (50, 1), cut
        assert data[: torn.end].endswith(b"plain\r\n"), "whole rows end where the torn one begins"


def test_counting_rows_from_an_offset_counts_only_what_came_after(tmp_path):
    path = tmp_path / "r.csv"
    write_rows(path, 40)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    head = "\r\n".join(",".join(row) for row in rows[:21]) + "\r\n"  # header and 20 samples (no quoting needed)
    after = count_rows(path, len(head.encode()))
    assert (after.samples, after.last_seq, after.torn) == (20, 39, False)


def facts() -> AgentFacts:
    return AgentFacts(version="test", run="run1", host="pc", tracker=None, display_area=None, clock_offset_us=5)


def make_recordings(data: Path, **kwargs) -> Recordings:
    return Recordings(data, "S1", write_files=True, keep_unrecorded=True, facts=facts,
                      losses=lambda: {"samples_dropped_queue": 0}, **kwargs)


def test_a_recording_left_running_by_a_crash_is_counted_cut_to_whole_rows_and_ended_as_interrupted(tmp_path):
    recordings = make_recordings(tmp_path, checkpoint_s=0.0)
    running = recordings.start(name="block", participant="P01", metadata={"a": "b"}, utc_us=1_800_000_000_000_000)
    file = running.file
    assert file is not None
    simulated = GazeSimulator(frequency_hz=120, seed=3).next_samples(300)
    for seq, sample in enumerate(simulated[:200], start=1000):
        file.write_sample(seq, 1_800_000_000_000_000 + seq, sample, combine_eyes(sample))
        running.note_sample(seq, True)
    recordings.checkpoint()  # the sidecar now counts 200 samples up to this size
    checkpointed = read_sidecar(running.sidecar_path)
    assert (checkpointed.samples_in_file, checkpointed.csv_bytes) == (200, file.size)
    for seq, sample in enumerate(simulated[200:], start=1200):
        file.write_sample(seq, 1_800_000_000_000_000 + seq, sample, combine_eyes(sample))
    file.write_marker("late", 1_800_000_000_002_000, None)
    file.flush()
    size = file.path.stat().st_size
    os.truncate(file.path, size - 5)  # the crash cut the last row

    after = make_recordings(tmp_path)
    [ended] = after.recover()
    final = read_sidecar(running.sidecar_path)
    assert final.state == "interrupted" and ended.id == running.id and ended.state == "interrupted"
    assert (final.samples_in_file, final.markers_in_file) == (300, 0)
    assert (final.first_seq, final.last_seq, final.samples) == (1000, 1299, 300)
    assert final.stopped_utc_us == 1_800_000_000_001_299
    assert file.path.read_bytes().endswith(b"\r\n") and count_rows(file.path).torn is False
    assert after.warnings()[0].startswith(f"recording {running.id} (participant P01) was interrupted: the agent "
                                          "stopped without ending it")
    with pytest.raises(CommandRefused, match=f"recording {running.id} is not running: it was interrupted"):
        after.check_running(running.id)
    assert make_recordings(tmp_path).recover() == [], "announced once"


def test_a_sidecar_is_replaced_whole(tmp_path):
    path = tmp_path / "x.json"
    sidecar = RecordingSidecar(
        recording="R", session="S", csv="R.csv", agent=AgentOfRecording(version="v", run="r", host="h"),
        started_utc="2026-01-01T00:00:00.000000Z", started_utc_us=1, updated_utc="2026-01-01T00:00:00.000000Z",
    )
    write_sidecar(path, sidecar)
    write_sidecar(path, sidecar.model_copy(update={"samples": 7}))
    assert read_sidecar(path).samples == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"], "no temporary file left behind"


def test_without_local_files_recordings_still_get_ids_and_refusals(tmp_path):
    recordings = Recordings(tmp_path, "S1", write_files=False, keep_unrecorded=True, facts=facts, losses=dict)
    running = recordings.start(name=None, participant=None, metadata=None, utc_us=1_800_000_000_000_000)
    assert running.file is None and recordings.writer is None
    with pytest.raises(CommandRefused, match="is running; stop it first"):
        recordings.start(name=None, participant=None, metadata=None, utc_us=1_800_000_000_000_000)
    recordings.stop(None, utc_us=1_800_000_000_000_001)
    assert not recordings_dir(tmp_path, "S1").exists()
