"""The API's answers against a lab recorded for real (tests/archive/conftest.py: a real
Mosquitto, the real processor's journal, a real agent's recording files, two
recordings with markers, fixations and alerts): in every format, a table comes
back exactly as the archive reads it (which the archive's own tests hold to the
agent's files), a range gives exactly the samples in it, and the listings say
what the agent said."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from gazewire.archive import TABLES, JournalArchive
from gazewire.wire.timeutil import iso_from_utc_us
from tests.api.conftest import ApiProcess
from tests.archive.conftest import RecordedLab, csv_rows, recorded_lab, recording_csv  # noqa: F401 (a fixture)

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def api(recorded_lab: RecordedLab, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    started = ApiProcess(tmp_path_factory.mktemp("api"), journal=recorded_lab.journal,
                         GAZEWIRE_API__CHUNK_ROWS="1000")
    yield started
    assert started.stop() == 0, started.log()


@pytest.fixture(scope="module")
def archive(recorded_lab: RecordedLab) -> JournalArchive:  # noqa: F811
    return JournalArchive(recorded_lab.journal)


def decoded(format: str, body: bytes, schema: pa.Schema) -> pa.Table:
    """A download as an Arrow table of ``schema``."""
    if format == "csv":
        options = pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True)
        return pacsv.read_csv(io.BytesIO(body), convert_options=options).cast(schema)
    if format == "json":  # Python's own parser: exact floats
        rows = [json.loads(line) for line in body.decode().splitlines()]
        assert all(list(row) == schema.names for row in rows)
        return pa.Table.from_pylist(rows, schema=schema)
    if format == "parquet":
        return pq.read_table(io.BytesIO(body)).cast(schema)
    return pa.ipc.open_stream(body).read_all().cast(schema)


def expected(chunks, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches(list(chunks), schema=schema)


@pytest.mark.parametrize("format", ["csv", "json", "parquet", "arrow"])
def test_a_recordings_gaze_comes_back_exactly_in_every_format(api: ApiProcess, archive: JournalArchive,
                                                             recorded_lab: RecordedLab, format: str) -> None:  # noqa: F811
    recording = recorded_lab.recordings[1]
    with api.client() as client:
        response = client.get(f"/api/recordings/{recording}/gaze", params={"format": format})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{recording}_gaze.{ {"json": "ndjson", "arrow": "arrows"}.get(format, format)}"')
    got = decoded(format, response.content, TABLES["gaze"])
    want = expected(archive.gaze(recording), TABLES["gaze"])
    assert got.num_rows == want.num_rows > 3000
    assert got.equals(want)
    # and the archive's table is the agent's file: the same samples, numbers and times
    rows = [r for r in csv_rows(recording_csv(recorded_lab, recording)) if r["kind"] == "gaze"]
    assert got.column("seq").to_pylist() == [int(r["seq"]) for r in rows]
    if format in ("parquet", "arrow"):  # described as gazewire export describes its files
        metadata = (pq.read_schema(io.BytesIO(response.content)) if format == "parquet"
                    else pa.ipc.open_stream(response.content).schema).metadata
        assert json.loads(metadata[b"gazewire.recording"]) == archive.recording(recording).to_dict()
        assert json.loads(metadata[b"gazewire.selection"]) == {
            "session": recorded_lab.session, "recording": recording, "from_utc_us": None, "to_utc_us": None}
        assert metadata[b"gazewire.table"] == b"gaze"


def test_a_range_gives_exactly_the_samples_in_it(api: ApiProcess, recorded_lab: RecordedLab) -> None:  # noqa: F811
    recording = recorded_lab.recordings[0]
    rows = [r for r in csv_rows(recording_csv(recorded_lab, recording)) if r["kind"] == "gaze"]
    times = [int(r["utc_us"]) for r in rows]
    start, end = times[777], times[2345]  # mid-batch on both ends
    want = [int(r["seq"]) for r, t in zip(rows, times) if start <= t < end]
    with api.client() as client:
        for params in ({"from": start, "to": end}, {"from": iso_from_utc_us(start), "to": iso_from_utc_us(end)},
                       {"from": iso_from_utc_us(start).replace("Z", "+00:00"), "to": str(end)}):
            response = client.get(f"/api/recordings/{recording}/gaze", params={**params, "format": "json"})
            assert response.status_code == 200, response.text
            got = [json.loads(line)["seq"] for line in response.text.splitlines()]
            assert got == want, params
        # '+01:00' with its '+' unescaped arrives as a space: still read as the zone
        local = iso_from_utc_us(start + 3_600_000_000).replace("Z", "+01:00")
        response = client.get(f"/api/recordings/{recording}/gaze?format=json&from={local}&to={end}")
        assert [json.loads(line)["seq"] for line in response.text.splitlines()] == want
        # a range with nothing in it: the header only
        empty = client.get(f"/api/recordings/{recording}/gaze", params={"from": times[-1] + 1})
        assert empty.status_code == 200 and empty.text.splitlines() == [",".join(
            f'"{name}"' for name in TABLES["gaze"].names)]  # pyarrow quotes the header's names


def test_a_sessions_time_range_spans_recordings_and_the_samples_between(api: ApiProcess, archive: JournalArchive,
                                                                        recorded_lab: RecordedLab) -> None:  # noqa: F811
    summaries = {s.id: s for s in archive.recordings()}
    first, second = (summaries[r] for r in recorded_lab.recordings)
    start, end = first.stop_utc_us - 500_000, second.start_utc_us + 500_000
    with api.client() as client:
        response = client.get(f"/api/sessions/{recorded_lab.session}/gaze",
                              params={"from": start, "to": end, "format": "arrow"})
    assert response.status_code == 200, response.text
    got = decoded("arrow", response.content, TABLES["gaze"])
    want = expected(archive.gaze(session=recorded_lab.session, from_utc_us=start, to_utc_us=end), TABLES["gaze"])
    assert got.equals(want)
    assert set(got.column("recording").to_pylist()) == {first.id, None, second.id}


@pytest.mark.parametrize("table", ["markers", "fixations", "alerts", "movements"])
def test_events_come_back_as_the_archive_reads_them(api: ApiProcess, archive: JournalArchive,
                                                    recorded_lab: RecordedLab, table: str) -> None:  # noqa: F811
    with api.client() as client:
        for source, path, read in (
            ("recording", f"/api/recordings/{recorded_lab.recordings[0]}/{table}",
             lambda: getattr(archive, table)(recorded_lab.recordings[0])),
            ("session", f"/api/sessions/{recorded_lab.session}/{table}",
             lambda: getattr(archive, table)(session=recorded_lab.session)),
        ):
            for format in ("csv", "json", "parquet"):
                response = client.get(path, params={"format": format})
                assert response.status_code == 200, response.text
                got = decoded(format, response.content, TABLES[table])
                assert got.equals(expected(read(), TABLES[table])), (source, format)
    if table in ("markers", "fixations", "alerts"):
        assert got.num_rows > 0, table


def test_recordings_are_listed_and_filtered(api: ApiProcess, archive: JournalArchive,
                                            recorded_lab: RecordedLab) -> None:  # noqa: F811
    first, second = recorded_lab.recordings
    with api.client() as client:
        listed = client.get("/api/recordings").json()
        assert listed == [s.to_dict() for s in archive.recordings()]
        assert [r["id"] for r in listed] == [first, second]
        assert [r["participant"] for r in listed] == recorded_lab.participants

        def ids(**params) -> list[str]:
            response = client.get("/api/recordings", params=params)
            assert response.status_code == 200, response.text
            return [r["id"] for r in response.json()]

        start = listed[1]["start_utc_us"]
        assert ids(participant="P02") == [second]
        assert ids(participant="P99") == []
        assert ids(session=recorded_lab.session) == [first, second]
        assert ids(session="another-session") == []
        assert ids(since=start) == [second]
        assert ids(since=iso_from_utc_us(start)) == [second]
        assert ids(until=start) == [first]
        assert ids(since=start, until=start + 1) == [second]

        details = client.get(f"/api/recordings/{first}").json()
        assert details == archive.recording(first).to_dict()
        assert details["metadata"] == {"condition": "A", "room": "2.14"}
        assert details["name"] == "free viewing 1"

        sessions = client.get("/api/sessions").json()
        assert [s["session"] for s in sessions] == [recorded_lab.session]
        assert sessions[0]["recordings"] == 2


def test_the_response_models_are_the_archives_dictionaries(archive: JournalArchive,
                                                           recorded_lab: RecordedLab) -> None:  # noqa: F811
    """The OpenAPI schema documents exactly the fields the archive's summaries have."""
    from dataclasses import fields

    from gazewire.api.models import RecordingDetailsOut, RecordingOut, SessionOut
    from gazewire.archive import SessionSummary

    assert list(SessionOut.model_fields) == [f.name for f in fields(SessionSummary)]
    summary = archive.recordings()[0]
    assert list(RecordingOut.model_fields) == list(summary.to_dict())
    assert list(RecordingDetailsOut.model_fields) == list(archive.recording(summary.id).to_dict())


def test_reading_never_writes_the_journal(api: ApiProcess, recorded_lab: RecordedLab) -> None:  # noqa: F811
    import hashlib

    before = hashlib.sha256(recorded_lab.journal.read_bytes()).hexdigest()
    with api.client() as client:
        for path in ("/api/sessions", "/api/recordings", f"/api/recordings/{recorded_lab.recordings[0]}",
                     f"/api/recordings/{recorded_lab.recordings[0]}/gaze?format=parquet"):
            assert client.get(path).status_code == 200
    assert hashlib.sha256(recorded_lab.journal.read_bytes()).hexdigest() == before
