"""Recorded data as DataFrames through the client library, from the real API server
process (``gazewire api run``) over a real journal: ``LabData(url, token)`` and
``Lab(..., api=, api_token=).recording(id).gaze()`` give exactly the archive's
table; a range gives exactly its samples; refusals and an unreachable server are
one precise error; importing the client loads neither pandas, pyarrow nor httpx."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
import pytest

from gazewire.archive import GAZE_SCHEMA, JournalArchive
from gazewire.client import Lab, LabData
from gazewire.errors import ApiRefused, ApiUnreachable, InvalidArgument
from tests.api.conftest import VIEWER_TOKEN, ApiProcess, start_api  # noqa: F401 (a fixture)
from tests.support.long_recording import LongRecording, write_long_recording
from tests.support.ports import free_port


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> LongRecording:
    return write_long_recording(tmp_path_factory.mktemp("journal") / "journal.sqlite", samples=30_000, template_s=5)


@pytest.fixture(scope="module")
def api(recording: LongRecording, tmp_path_factory: pytest.TempPathFactory):
    started = ApiProcess(tmp_path_factory.mktemp("api"), journal=recording.journal)
    yield started
    started.stop()


def archive_frame(recording: LongRecording, **cut) -> pd.DataFrame:
    chunks = JournalArchive(recording.journal).gaze(recording.recording, **cut)
    return pa.Table.from_batches(list(chunks), schema=GAZE_SCHEMA).to_pandas()


def test_a_recordings_gaze_as_a_dataframe(api: ApiProcess, recording: LongRecording) -> None:
    with LabData(api.url, token=VIEWER_TOKEN) as data:
        listed = data.recordings(participant="P99")
        assert [r["id"] for r in listed] == [recording.recording]
        assert data.recordings(participant="P01") == []
        handle = data.recording(recording.recording)
        gaze = handle.gaze()
        assert isinstance(gaze, pd.DataFrame) and len(gaze) == recording.samples
        pd.testing.assert_frame_equal(gaze, archive_frame(recording))
        assert handle.info()["samples"] == recording.samples

        start = recording.first_utc_us + 2_000_000
        end = datetime.fromtimestamp((start + 3_000_000) / 1e6, tz=timezone.utc)
        cut = handle.gaze(start=start, end=end)
        pd.testing.assert_frame_equal(cut, archive_frame(recording, from_utc_us=start, to_utc_us=start + 3_000_000))
        assert cut.utc_us.min() >= start and cut.utc_us.max() < start + 3_000_000 and len(cut) == 3600
        session = data.session(recording.session).gaze(start=start, end=start + 1_000_000)
        assert session.seq.tolist() == cut.seq.tolist()[:1200]
        assert list(handle.fixations().columns)[:3] == ["fixation", "start_utc_us", "end_utc_us"]


def test_through_a_lab(api: ApiProcess, recording: LongRecording, broker) -> None:
    with Lab(broker.host, broker.port, api=api.url, api_token=VIEWER_TOKEN) as lab:
        gaze = lab.recording(recording.recording).gaze()
        assert len(gaze) == recording.samples
        assert [r["id"] for r in lab.recordings()] == [recording.recording]
    with Lab(broker.host, broker.port) as lab, pytest.raises(InvalidArgument, match="api='http://lab-server:8000'"):
        lab.recording(recording.recording)


def test_refusals_and_a_missing_server_are_one_error(api: ApiProcess, recording: LongRecording) -> None:
    with LabData(api.url, token="not-a-token-of-this-api") as data, pytest.raises(ApiRefused) as refused:
        data.recording(recording.recording).gaze()
    assert refused.value.status == 401
    assert str(refused.value) == (f"the lab server's API refused GET /api/recordings/{recording.recording}/gaze "
                                  "(HTTP 401): invalid bearer token (not one of the API's tokens)")
    with LabData(api.url, token=VIEWER_TOKEN) as data:
        with pytest.raises(ApiRefused) as unknown:
            data.recording("nope").gaze()
        assert unknown.value.status == 404 and unknown.value.detail.startswith("no recording 'nope'")
        with pytest.raises(InvalidArgument):
            data.recording(recording.recording).gaze(start=datetime(2026, 11, 30))  # no zone
        with pytest.raises(InvalidArgument):
            data.recording(recording.recording).frame("saccades")
    with pytest.raises(ApiUnreachable, match=r"no answer from the lab server's API at http://127\.0\.0\.1:\d+"):
        LabData(f"http://127.0.0.1:{free_port()}").recordings()
    with pytest.raises(InvalidArgument):
        LabData("lab-server:8000")


def test_importing_the_client_loads_no_data_library() -> None:
    probe = ("import sys, gazewire.client; from gazewire.client import Lab, LabData; "
             "print(sorted(m for m in ('pandas', 'pyarrow', 'httpx', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
