"""Streaming a long recording through the real server process: the whole
recording comes out (every sample once, in order), while the server's peak
resident memory (VmHWM) grows by far less than what it sent - the table is never
built in memory. A client that leaves midway gives its download place back; one
download too many is refused with 503 and Retry-After; an error midway cuts the
response short instead of ending it as if it were complete."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from tests.api.conftest import ApiProcess
from tests.support.long_recording import LongRecording, write_long_recording

SAMPLES = 1_000_000


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory: pytest.TempPathFactory) -> LongRecording:
    return write_long_recording(tmp_path_factory.mktemp("long") / "journal.sqlite", samples=SAMPLES,
                                template_s=10)


def wait_until(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        pause.wait(0.02)


def test_a_million_samples_stream_in_bounded_memory(start_api, long_recording: LongRecording) -> None:
    api: ApiProcess = start_api(long_recording.journal)
    url = f"/api/recordings/{long_recording.recording}/gaze"
    with api.client() as client:
        # First every format on 60 s (72 000 samples, several chunks): what one download of any
        # length holds. Then the whole recording must not raise the server's peak memory.
        for format in ("csv", "json", "parquet", "arrow"):
            warm = client.get(url, params={"format": format, "to": long_recording.first_utc_us + 60_000_000})
            assert warm.status_code == 200, warm.text
        before = api.memory_kb()

        sent = lines = 0
        tail = b""
        seqs_in_order = True
        next_seq = 0
        with client.stream("GET", url, params={"format": "csv"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/csv; charset=utf-8"
            for chunk in response.iter_bytes():
                sent += len(chunk)
                text = tail + chunk
                *complete, tail = text.split(b"\n")
                for line in complete:
                    lines += 1
                    if lines == 1:
                        assert line.startswith(b'"seq","device_time_us",')
                        continue
                    seq = int(line[:line.index(b",")])
                    seqs_in_order &= seq == next_seq
                    next_seq = seq + 1
        after = api.memory_kb()

    assert tail == b"" and lines == SAMPLES + 1 and seqs_in_order and next_seq == SAMPLES
    growth_mb = (after["VmHWM"] - before["VmHWM"]) / 1024
    payload_mb = sent / 2**20
    print(f"streamed {payload_mb:.0f} MB of CSV ({SAMPLES} samples); server peak RSS {before['VmHWM'] / 1024:.0f} "
          f"-> {after['VmHWM'] / 1024:.0f} MB (+{growth_mb:.0f} MB)")
    assert payload_mb > 300
    assert growth_mb < payload_mb / 10, (growth_mb, payload_mb)


def test_parquet_of_a_long_range_is_one_row_group_per_chunk_and_exact(start_api, long_recording: LongRecording) -> None:
    api = start_api(long_recording.journal, GAZEWIRE_API__CHUNK_ROWS="50000")
    start = long_recording.first_utc_us + 100_000_000
    end = start + 200_000_000
    with api.client() as client:
        response = client.get(f"/api/recordings/{long_recording.recording}/gaze",
                              params={"format": "parquet", "from": start, "to": end})
    assert response.status_code == 200, response.text
    parquet = pq.ParquetFile(io.BytesIO(response.content))
    table = parquet.read()
    times = table.column("utc_us").to_pylist()
    assert times and min(times) >= start and max(times) < end
    seq = table.column("seq").to_pylist()
    assert seq == list(range(seq[0], seq[0] + len(seq)))
    assert len(seq) == pytest.approx(200 * 1200, abs=2)
    groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.metadata.num_row_groups)]
    assert len(groups) == 3 and all(rows == 100_000 for rows in groups[:-1])  # two chunks of 50 000 each
    assert b"gazewire.recording" in parquet.schema_arrow.metadata


def test_a_client_that_leaves_midway_gives_its_place_back(start_api, long_recording: LongRecording) -> None:
    api = start_api(long_recording.journal, GAZEWIRE_API__MAX_DOWNLOADS="1", GAZEWIRE_API__CHUNK_ROWS="10000")
    url = f"/api/recordings/{long_recording.recording}/gaze"
    with api.client() as client, api.client() as other:
        with client.stream("GET", url) as response:
            assert response.status_code == 200
            chunks = response.iter_bytes()  # kept: a dropped iterator closes the response
            next(chunks)
            busy = other.get(url)
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "5"
            assert busy.json() == {"detail": "1 downloads are running, the most at once (api.max_downloads); "
                                              "try again shortly"}
            assert other.get("/api/health").json()["downloads"] == 1
        # the client closed the connection without reading the rest
        wait_until(lambda: other.get("/api/health").json()["downloads"] == 0, 30, "the download's place back")
        again = other.get(url, params={"to": long_recording.first_utc_us + 1_000_000})
        assert again.status_code == 200 and again.text.count("\n") == 1 + 1200
    assert "Traceback" not in api.log()  # the reader was closed once its chunk was made, not while it ran


def test_a_damaged_record_midway_cuts_the_response_short(start_api, tmp_path: Path) -> None:
    import sqlite3

    made = write_long_recording(tmp_path / "journal.sqlite", samples=30_000, template_s=5)
    db = sqlite3.connect(made.journal)
    db.execute("UPDATE records SET crc = crc + 1 WHERE kind = 'batch' AND batch_seq = 400")
    db.commit()
    db.close()
    api = start_api(made.journal, GAZEWIRE_API__CHUNK_ROWS="1000")
    with (api.client() as client, pytest.raises(httpx.RemoteProtocolError),
          client.stream("GET", f"/api/recordings/{made.recording}/gaze") as response):
        assert response.status_code == 200  # the first chunks were fine
        for _ in response.iter_bytes():
            pass
    assert "download of gaze of recording" in api.log() and "cut short" in api.log()
    # before the first byte, the same damage is a proper error
    with api.client() as client:
        response = client.get(f"/api/recordings/{made.recording}/gaze",
                              params={"from": made.first_utc_us + 400 * 50_000})
    assert response.status_code == 503 and "checksum" in response.json()["detail"], response.text
