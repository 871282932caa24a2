"""The archive readers against a real journal written by the real processor and the real
agent's recording files (tests/archive/conftest.py records them once): every sample the
agent produced comes back, with exact values, from both; a range gives exactly the
samples in it; summaries and metadata say what the agent said."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pytest

from gazewire.archive import (
    GAZE_SCHEMA,
    Archive,
    BadSelection,
    JournalArchive,
    RecordingFilesArchive,
    UnknownRecording,
    UnknownSession,
    open_archive,
)
from gazewire.archive.files import GAZE_FROM_CSV
from tests.archive.conftest import RecordedLab, csv_rows, recording_csv

pytestmark = pytest.mark.broker


@pytest.fixture(params=["journal", "files"])
def archive(request, recorded_lab: RecordedLab) -> Archive:
    if request.param == "journal":
        return JournalArchive(recorded_lab.journal)
    return RecordingFilesArchive(recorded_lab.agent_data)


def expected_value(name: str, text: str):
    """A CSV cell as the archive must give it: the agent wrote Python's repr of each float."""
    if text == "":
        return None
    if name in ("eye",):
        return text
    if name in ("seq", "device_time_us", "system_time_us", "utc_us") or name.endswith("_valid"):
        return int(text)
    return float(text)


def table(chunks) -> pa.Table:
    return pa.Table.from_batches(list(chunks), schema=GAZE_SCHEMA)


def test_both_archives_implement_the_protocol(archive: Archive) -> None:
    assert isinstance(archive, Archive)


def test_every_sample_of_a_recording_comes_back_with_the_exact_values_the_agent_wrote(
    archive: Archive, recorded_lab: RecordedLab
) -> None:
    for recording in recorded_lab.recordings:
        rows = [r for r in csv_rows(recording_csv(recorded_lab, recording)) if r["kind"] == "gaze"]
        got = table(archive.gaze(recording, chunk_rows=1000))
        assert got.num_rows == len(rows) > 3000
        columns = got.to_pydict()
        for name, source in GAZE_FROM_CSV.items():
            want = [expected_value(name, row[source]) for row in rows]
            assert columns[name] == want, name
        assert set(columns["recording"]) == {recording}


def test_chunks_are_bounded_and_in_time_order(archive: Archive, recorded_lab: RecordedLab) -> None:
    chunks = list(archive.gaze(session=recorded_lab.session, chunk_rows=777))
    assert all(len(c) <= 777 for c in chunks)
    assert all(len(c) == 777 for c in chunks[:-1])
    times = pa.Table.from_batches(chunks).column("utc_us").to_pylist()
    assert times == sorted(times)


def test_a_session_gives_its_recordings_and_the_samples_between_them(
    archive: Archive, recorded_lab: RecordedLab
) -> None:
    got = table(archive.gaze(session=recorded_lab.session))
    between = [r for r in csv_rows(recorded_lab.agent_data / "recordings" / f"{recorded_lab.session}.csv")
               if r["kind"] == "gaze"]
    recorded = sum(
        1 for rec in recorded_lab.recordings for r in csv_rows(recording_csv(recorded_lab, rec)) if r["kind"] == "gaze"
    )
    assert got.num_rows == len(between) + recorded
    seqs = got.column("seq").to_pylist()
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # nothing missing, nothing twice
    recordings = got.column("recording").to_pylist()
    assert [r for i, r in enumerate(recordings) if i == 0 or recordings[i - 1] != r] == [
        None, recorded_lab.recordings[0], None, recorded_lab.recordings[1], None
    ]


def test_a_range_gives_exactly_the_samples_in_it(archive: Archive, recorded_lab: RecordedLab) -> None:
    everything = table(archive.gaze(session=recorded_lab.session)).column("utc_us").to_pylist()
    # bounds on a sample, between two samples, across a recording's start
    for low_index, high_index in ((10, 20), (1000, 4321), (len(everything) // 3, len(everything) // 2)):
        low, high = everything[low_index], everything[high_index]
        for start, end in ((low, high), (low + 1, high + 1), (low - 1, high - 1)):
            want = [t for t in everything if start <= t < end]
            got = table(archive.gaze(session=recorded_lab.session, from_utc_us=start, to_utc_us=end, chunk_rows=500))
            assert got.column("utc_us").to_pylist() == want
    recording = recorded_lab.recordings[1]
    own = table(archive.gaze(recording)).column("utc_us").to_pylist()
    middle = own[len(own) // 2]
    assert table(archive.gaze(recording, from_utc_us=middle)).column("utc_us").to_pylist() == [
        t for t in own if t >= middle
    ]


def test_an_empty_range_yields_nothing(archive: Archive, recorded_lab: RecordedLab) -> None:
    times = table(archive.gaze(recorded_lab.recordings[0])).column("utc_us").to_pylist()
    assert list(archive.gaze(recorded_lab.recordings[0], to_utc_us=times[0])) == []
    assert list(archive.gaze(session=recorded_lab.session, from_utc_us=times[-1] + 10**12)) == []


def test_bad_selections_are_refused_when_the_reader_is_called(archive: Archive, recorded_lab: RecordedLab) -> None:
    with pytest.raises(UnknownRecording, match="20990101T000000Z-beef"):
        archive.gaze("20990101T000000Z-beef")
    with pytest.raises(UnknownSession, match="nope"):
        archive.markers(session="nope")
    with pytest.raises(BadSelection):
        archive.alerts()
    with pytest.raises(BadSelection, match="before"):
        archive.gaze(recorded_lab.recordings[0], from_utc_us=10, to_utc_us=10)
    with pytest.raises(UnknownRecording):
        archive.gaze(recorded_lab.recordings[0], session="other")


def test_markers_come_back_with_their_recording(archive: Archive, recorded_lab: RecordedLab) -> None:
    markers = pa.Table.from_batches(list(archive.markers(session=recorded_lab.session))).to_pylist()
    assert [(m["name"], m["recording"]) for m in markers] == [
        (f"trial_{t + 1}", rec) for rec in recorded_lab.recordings for t in range(3)
    ]
    csv_markers = [r for r in csv_rows(recording_csv(recorded_lab, recorded_lab.recordings[0])) if r["kind"] == "marker"]
    assert [m["utc_us"] for m in markers[:3]] == [int(r["utc_us"]) for r in csv_markers]


def test_recordings_are_listed_with_what_the_agent_said(archive: Archive, recorded_lab: RecordedLab) -> None:
    listed = archive.recordings()
    assert [s.id for s in listed] == recorded_lab.recordings
    for summary, participant in zip(listed, recorded_lab.participants):
        rows = [r for r in csv_rows(recording_csv(recorded_lab, summary.id)) if r["kind"] == "gaze"]
        assert summary.session == recorded_lab.session
        assert summary.participant == participant
        assert summary.name.startswith("free viewing")
        assert summary.samples == len(rows)
        assert summary.start_utc_us == int(rows[0]["utc_us"])
        assert summary.stop_utc_us == int(rows[-1]["utc_us"])
        assert summary.duration_s == pytest.approx((len(rows) - 1) / 300.0, rel=0.01)
        invalid = sum(1 for r in rows if r["eye"] == "none")
        assert summary.valid_share == pytest.approx(1 - invalid / len(rows), abs=0.02)
        assert summary.losses.get("samples_missing", 0) == 0
    assert [s.id for s in archive.recordings(participant="P02")] == recorded_lab.recordings[1:]
    assert [s.id for s in archive.recordings(since_utc_us=listed[1].start_utc_us)] == recorded_lab.recordings[1:]
    assert [s.id for s in archive.recordings(until_utc_us=listed[1].start_utc_us)] == recorded_lab.recordings[:1]
    assert archive.recordings(session="elsewhere") == []


def test_the_journal_counts_valid_samples_exactly(recorded_lab: RecordedLab) -> None:
    archive = JournalArchive(recorded_lab.journal)
    for summary in archive.recordings():
        rows = [r for r in csv_rows(recording_csv(recorded_lab, summary.id)) if r["kind"] == "gaze"]
        invalid = sum(1 for r in rows if r["eye"] == "none")
        assert invalid > 0  # the simulated participant blinks
        assert summary.valid_share == pytest.approx((len(rows) - invalid) / len(rows), rel=1e-12)  # exact but for rounding


def test_a_recording_has_its_metadata_tracker_and_display(archive: Archive, recorded_lab: RecordedLab) -> None:
    details = archive.recording(recorded_lab.recordings[0])
    assert details.id == recorded_lab.recordings[0]
    assert details.session == recorded_lab.session
    assert details.metadata == {"condition": "A", "room": "2.14"}
    assert details.tracker is not None and details.tracker.model and details.tracker.serial
    assert details.frequency_hz == 300.0
    assert details.display_area is not None and details.display_area.width_mm > 0
    assert details.eye_distance_mm is not None and 400 < details.eye_distance_mm < 900
    assert details.started_utc_us is not None and details.started_utc_us <= details.summary.start_utc_us
    assert not math.isnan(details.summary.valid_share)
    assert details.to_dict()["tracker"]["serial"] == details.tracker.serial
    with pytest.raises(UnknownRecording):
        archive.recording("20990101T000000Z-beef")


def test_sessions_are_listed(archive: Archive, recorded_lab: RecordedLab) -> None:
    (summary,) = archive.sessions()
    assert summary.session == recorded_lab.session
    assert summary.recordings == 2
    assert summary.samples == table(archive.gaze(session=recorded_lab.session)).num_rows


def test_the_journal_has_fixations_movements_and_alerts_the_files_have_none(recorded_lab: RecordedLab) -> None:
    journal = JournalArchive(recorded_lab.journal)
    fixations = pa.Table.from_batches(list(journal.fixations(session=recorded_lab.session)))
    assert fixations.num_rows > 10
    starts = fixations.column("start_utc_us").to_pylist()
    assert starts == sorted(starts)
    assert all(e >= s for s, e in zip(starts, fixations.column("end_utc_us").to_pylist()))
    in_first = pa.Table.from_batches(list(journal.fixations(recorded_lab.recordings[0])))
    assert 0 < in_first.num_rows < fixations.num_rows
    assert set(in_first.column("recording").to_pylist()) == {recorded_lab.recordings[0]}
    alerts = pa.Table.from_batches(list(journal.alerts(session=recorded_lab.session)))
    assert alerts.num_rows > 0  # long_fixation at 0.3 s
    assert set(alerts.column("state").to_pylist()) <= {"raised", "cleared"}
    movements = pa.Table.from_batches(list(journal.movements(session=recorded_lab.session))).to_pylist()
    assert {"saccade", "blink"} <= {m["kind"] for m in movements}
    assert [m["start_utc_us"] for m in movements] == sorted(m["start_utc_us"] for m in movements)
    saccades = [m for m in movements if m["kind"] == "saccade"]
    assert all(m["amplitude_deg"] is not None and m["peak_velocity_deg_s"] > 0 for m in saccades)
    assert [m["number"] for m in saccades] == sorted(m["number"] for m in saccades)
    assert all(m["samples"] > 0 and m["amplitude_deg"] is None for m in movements if m["kind"] == "blink")
    in_second = pa.Table.from_batches(list(journal.movements(recorded_lab.recordings[1])))
    assert set(in_second.column("recording").to_pylist()) == {recorded_lab.recordings[1]}
    files = RecordingFilesArchive(recorded_lab.agent_data)
    assert list(files.movements(recorded_lab.recordings[0])) == []
    assert list(files.fixations(recorded_lab.recordings[0])) == []
    assert list(files.alerts(session=recorded_lab.session)) == []


def test_open_archive_takes_one_source(recorded_lab: RecordedLab, tmp_path) -> None:
    assert isinstance(open_archive(journal=recorded_lab.journal), JournalArchive)
    assert isinstance(open_archive(recordings=recorded_lab.agent_data / "recordings"), RecordingFilesArchive)
    with pytest.raises(BadSelection):
        open_archive()
    with pytest.raises(Exception, match="no journal"):
        open_archive(journal=tmp_path / "missing.sqlite")


def test_the_loss_counters_are_the_agents() -> None:
    from gazewire.archive.journal import LOSS_COUNTERS
    from gazewire.wire.messages import AgentCounters

    assert set(LOSS_COUNTERS) <= set(AgentCounters.model_fields)


def copy_journal(lab: RecordedLab, where) -> Path:
    import shutil

    where.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        source = lab.journal.with_name(lab.journal.name + suffix)
        if source.exists():
            shutil.copy(source, where / source.name)
    return where / lab.journal.name


def test_valid_counts_are_kept_beside_the_journal_until_the_recording_changes(recorded_lab: RecordedLab,
                                                                              tmp_path) -> None:
    import sqlite3

    from gazewire.processor.journal import Journal, Record, RecordKind

    journal = copy_journal(recorded_lab, tmp_path / "j")
    recording = recorded_lab.recordings[0]
    (first,) = JournalArchive(journal).recordings(participant="P01")
    counts = journal.with_name("journal.counts.sqlite")
    assert counts.is_file()
    with sqlite3.connect(counts) as db:  # what a later process would find: make it recognisable
        db.execute("UPDATE valid_samples SET valid = 7 WHERE recording = ?", (recording,))
    (again,) = JournalArchive(journal).recordings(participant="P01")
    assert again.valid_share == 7 / first.samples  # read from the cache, not counted again
    body = next(JournalArchive(journal).reader.bodies(recorded_lab.session, ("batch",), recording=recording))
    late = json.loads(body.body)
    late["batch_seq"], late["run"] = 10**6, "late"
    writer = Journal(journal)
    writer.append([Record(session=recorded_lab.session, kind=RecordKind.BATCH, body=json.dumps(late).encode(),
                          received_utc_us=0, first_utc_us=body.first_utc_us, last_utc_us=body.last_utc_us,
                          run="late", batch_seq=10**6, first_seq=late["first_seq"], samples=body.samples,
                          recording=recording)])
    writer.close()
    (changed,) = JournalArchive(journal).recordings(participant="P01")
    assert changed.samples == first.samples + body.samples
    assert changed.valid_share != 7 / changed.samples
    assert changed.valid_share == pytest.approx(first.valid_share, abs=0.01)


def test_counts_that_cannot_be_kept_on_disk_are_counted_in_memory(recorded_lab: RecordedLab, tmp_path) -> None:
    journal = copy_journal(recorded_lab, tmp_path / "j")
    blocker = journal.with_name("journal.counts.sqlite")
    blocker.mkdir()  # where the cache would go, something SQLite cannot open (as a read-only folder would)
    archive = JournalArchive(journal)
    listed = archive.recordings()
    assert [s.id for s in listed] == recorded_lab.recordings
    assert archive.recordings() == listed
    assert blocker.is_dir() and not any(blocker.iterdir())


def test_the_journal_is_read_one_chunk_at_a_time(recorded_lab: RecordedLab) -> None:
    archive = JournalArchive(recorded_lab.journal)
    whole = pa.Table.from_batches(list(archive.gaze(session=recorded_lab.session)))
    chunk_rows = 500
    assert whole.num_rows > 16 * chunk_rows
    base = pa.total_allocated_bytes()
    held = []
    for chunk in archive.gaze(session=recorded_lab.session, chunk_rows=chunk_rows):
        held.append(pa.total_allocated_bytes() - base)  # Arrow memory while one chunk is alive
        del chunk
    one_chunk = whole.nbytes * chunk_rows / whole.num_rows
    assert len(held) == -(-whole.num_rows // chunk_rows)
    assert max(held) < 4 * one_chunk < whole.nbytes / 4  # a few chunks (parsing, the next one), not the whole


def test_a_stopped_recording_says_so_and_when_from_the_journal_as_from_the_files(
    recorded_lab: RecordedLab,
) -> None:
    """The journal holds no stop command; the agent's status right after a stop (same run,
    naming no recording) gives its state and time, as its sidecar does (failed before:
    state and stopped_utc_us were None from the journal)."""
    journal, files = JournalArchive(recorded_lab.journal), RecordingFilesArchive(recorded_lab.agent_data)
    stops = []
    for recording in recorded_lab.recordings:
        from_journal, from_files = journal.recording(recording), files.recording(recording)
        assert from_files.summary.state == "stopped" and from_files.stopped_utc_us is not None
        assert from_journal.summary.state == "stopped"
        assert from_journal.stopped_utc_us is not None
        # the status goes out on the agent's next loop tick after the sidecar's stop time
        # (both on the agent's wall clock; this lab's simulated samples run ahead of it)
        assert 0 <= from_journal.stopped_utc_us - from_files.stopped_utc_us < 2_000_000
        stops.append((from_journal.started_utc_us, from_journal.stopped_utc_us))
    assert stops[0][0] < stops[0][1] < stops[1][0] < stops[1][1]
    assert [s.state for s in journal.recordings()] == ["stopped", "stopped"]
