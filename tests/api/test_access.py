"""Who gets in, and what a bad request is told, against the real server process:
401 without a token or with a wrong one (and the header that says how), 403 for a
viewer's token on a write, one readable line for every bad parameter, and no
token ever in a response or the log. The docs and the health check need no token."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import OPERATOR_TOKEN, VIEWER_TOKEN, ApiProcess
from tests.support.long_recording import LongRecording, write_long_recording


@pytest.fixture(scope="module")
def short_recording(tmp_path_factory: pytest.TempPathFactory) -> LongRecording:
    return write_long_recording(tmp_path_factory.mktemp("short") / "journal.sqlite", samples=12_000, template_s=2)


@pytest.fixture(scope="module")
def api(short_recording: LongRecording, tmp_path_factory: pytest.TempPathFactory):
    # no broker here: a write that gets past the token check finds none (503)
    started = ApiProcess(tmp_path_factory.mktemp("api"), journal=short_recording.journal,
                         GAZEWIRE_MQTT__PORT="1", GAZEWIRE_API__COMMAND_TIMEOUT_S="1")
    yield started
    assert started.stop() == 0, started.log()


def every_endpoint(recording: str) -> list[tuple[str, str]]:
    paths = ["/api/sessions", "/api/recordings", f"/api/recordings/{recording}"]
    for table in ("gaze", "fixations", "markers", "alerts", "movements"):
        paths += [f"/api/recordings/{recording}/{table}", f"/api/sessions/long-1/{table}"]
    return [("GET", path) for path in paths] + [("POST", "/api/sessions/long-1/recordings"),
                                                ("PATCH", f"/api/recordings/{recording}")]


def test_no_token_no_data(api: ApiProcess, short_recording: LongRecording) -> None:
    with api.client(role=None) as client:
        for method, path in every_endpoint(short_recording.recording):
            response = client.request(method, path, json={"state": "stopped"} if method != "GET" else None)
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json() == {"detail": "missing bearer token: send the header 'Authorization: Bearer <token>'"}
            # another scheme is no bearer token either
            other = client.request(method, path, headers={"Authorization": f"Basic {VIEWER_TOKEN}"})
            assert other.status_code == 401


def test_a_wrong_token_is_refused_without_being_repeated(api: ApiProcess, short_recording: LongRecording) -> None:
    wrong = VIEWER_TOKEN[:-1] + ("x" if VIEWER_TOKEN[-1] != "x" else "y")
    with api.client(role=None, headers={"Authorization": f"Bearer {wrong}"}) as client:
        for method, path in every_endpoint(short_recording.recording):
            response = client.request(method, path)
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
            assert response.json() == {"detail": "invalid bearer token (not one of the API's tokens)"}
            assert wrong not in response.text


def test_a_viewer_reads_but_does_not_write(api: ApiProcess, short_recording: LongRecording) -> None:
    with api.client("viewer") as client:
        assert client.get("/api/recordings").status_code == 200
        started = client.post("/api/sessions/long-1/recordings", json={"participant": "P01"})
        assert started.status_code == 403
        assert started.json() == {"detail": "token 'viewer-1' is a viewer's (read only): starting, stopping and "
                                            "annotating recordings needs an operator token"}
        stopped = client.patch(f"/api/recordings/{short_recording.recording}", json={"state": "stopped"})
        assert stopped.status_code == 403
    with api.client("operator") as client:
        assert client.get("/api/recordings").status_code == 200
        # past the token check: no broker here, said in one line
        started = client.post("/api/sessions/long-1/recordings", json={"participant": "P01"})
        assert started.status_code == 503
        assert started.json()["detail"].startswith("no connection to the broker at localhost:1 within 1 s")


def test_tokens_never_reach_the_log(api: ApiProcess, short_recording: LongRecording) -> None:
    with api.client("operator") as client:
        client.get(f"/api/recordings/{short_recording.recording}/gaze", params={"to": short_recording.first_utc_us})
    log = api.log()
    assert "uvicorn.access" in log and "GET /api/recordings" in log
    assert VIEWER_TOKEN not in log and OPERATOR_TOKEN not in log
    assert "1 viewer and 1 operator token(s)" in log


def test_docs_and_health_need_no_token(api: ApiProcess) -> None:
    with api.client(role=None) as client:
        docs = client.get("/api/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        spec = client.get("/api/openapi.json").json()
        assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
            "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["HTTPBearer"][
                "description"]}
        expected = {"/api/sessions", "/api/recordings", "/api/recordings/{recording}", "/api/health",
                    "/api/sessions/{session}/recordings"}
        for table in ("gaze", "fixations", "markers", "alerts", "movements"):
            expected |= {f"/api/recordings/{{recording}}/{table}", f"/api/sessions/{{session}}/{table}"}
        assert set(spec["paths"]) == expected
        assert client.get("/api/health").json() == {"status": "ok", "journal": "ok", "downloads": 0}


@pytest.mark.parametrize(("method", "path", "body", "status", "detail"), [
    ("GET", "/api/recordings/{id}/gaze?format=xml", None, 422,
     "query parameter 'format': Input should be 'csv', 'parquet', 'json' or 'arrow' (got 'xml')"),
    ("GET", "/api/recordings/{id}/gaze?from=yesterday", None, 422,
     "query parameter 'from': not a time: write ISO 8601 with a zone (2026-11-30T10:15:00Z) or UTC microseconds "
     "(got 'yesterday')"),
    ("GET", "/api/recordings/{id}/gaze?to=2026-11-30T10:15:00", None, 422,
     "query parameter 'to': not a time: write ISO 8601 with a zone (2026-11-30T10:15:00Z) or UTC microseconds "
     "(got '2026-11-30T10:15:00')"),
    ("GET", "/api/recordings/{id}/gaze?to=99999999999999999999", None, 422,
     "query parameter 'to': not a time: write ISO 8601 with a zone (2026-11-30T10:15:00Z) or UTC microseconds "
     "(got 99999999999999999999)"),
    ("GET", "/api/recordings/{id}/gaze?from=2026-11-30T10:15:00Z&to=2026-11-30T11:15:00%2B01:00", None, 422,
     "query parameters 'from' and 'to': the range ends (2026-11-30T11:15:00+01:00) before or where it starts "
     "(2026-11-30T10:15:00+00:00)"),
    ("GET", "/api/recordings/{id}/gaze?from=2000&to=1000", None, 422,
     "query parameters 'from' and 'to': the range ends (1000) before or where it starts (2000)"),
    ("GET", "/api/recordings/{id}/gaze?form=parquet", None, 422,
     "query parameter 'form': not a parameter of this endpoint (it takes: format, from, to)"),
    ("GET", "/api/recordings/{id}/gaze?to=1&to=2", None, 422, "query parameter 'to': given more than once"),
    ("GET", "/api/sessions?session=x", None, 422, "query parameter 'session': not a parameter of this endpoint "
                                                  "(it takes: none)"),
    ("GET", "/api/recordings/nope/gaze", None, 404, "no recording 'nope' in the journal {journal!r}"),
    ("GET", "/api/recordings/nope", None, 404, "no recording 'nope' in the journal {journal!r}"),
    ("GET", "/api/sessions/nobody/markers", None, 404, "no session 'nobody' in the journal {journal!r}"),
    ("GET", "/api/recordings/bad%20id/gaze", None, 422,
     "path parameter 'recording': String should match pattern '^[A-Za-z0-9._-]{{1,64}}$' (got 'bad id')"),
    ("GET", "/api/recordings?since=soon", None, 422,
     "query parameter 'since': not a time: write ISO 8601 with a zone (2026-11-30T10:15:00Z) or UTC "
     "microseconds (got 'soon')"),
    ("GET", "/api/recordings?session=a/b", None, 422,
     "query parameter 'session': String should match pattern '^[A-Za-z0-9._-]{{1,64}}$' (got 'a/b')"),
    ("POST", "/api/sessions/long-1/recordings", {"participant": "P01", "colour": "red"}, 422,
     "body field 'colour': Extra inputs are not permitted (got 'red')"),
    ("POST", "/api/sessions/long-1/recordings", {"metadata": {"age": 31}}, 422,
     "body field 'metadata.age': Input should be a valid string (got 31)"),
    ("PATCH", "/api/recordings/{id}", {}, 422, "body: nothing to change: give 'state': 'stopped' and/or 'metadata'"),
    ("PATCH", "/api/recordings/{id}", {"state": "paused"}, 422,
     "body field 'state': Input should be 'stopped' (got 'paused')"),
    ("PATCH", "/api/recordings/{id}", None, 422, "body: required"),
    ("PATCH", "/api/recordings/{id}", {"metadata": {}}, 422,
     "body field 'metadata': Dictionary should have at least 1 item after validation, not 0"),
    ("POST", "/api/sessions/long-1/recordings", {"participant": "P 01"}, 422,
     "body field 'participant': String should match pattern '^[A-Za-z0-9._-]{{1,64}}$' (got 'P 01')"),
    ("POST", "/api/sessions/long-1/recordings", {"metadata": {f"k{i}": "v" * 1000 for i in range(9)}}, 422,
     "start: metadata: is 9073 bytes as JSON; at most 8192 allowed"),
])
def test_bad_parameters_get_one_clear_line(api: ApiProcess, short_recording: LongRecording, method: str, path: str,
                                           body, status: int, detail: str) -> None:
    with api.client("operator") as client:
        response = client.request(method, path.format(id=short_recording.recording), json=body)
    assert response.status_code == status, response.text
    assert response.json() == {"detail": detail.format(journal=str(short_recording.journal))}


@pytest.mark.parametrize("body", [b"participant=P01", b'{"participant": "P01"', b"\xff\xfe"])
def test_a_body_that_is_not_json_is_400_with_one_line(api: ApiProcess, body: bytes) -> None:
    with api.client("operator") as client:
        response = client.post("/api/sessions/long-1/recordings", content=body,
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail.startswith("body: not JSON text") and "\n" not in detail and "'0'" not in detail


def test_a_date_is_its_midnight_utc_as_on_the_command_line(api: ApiProcess, short_recording: LongRecording) -> None:
    from datetime import datetime, timedelta, timezone

    day = datetime.fromtimestamp(short_recording.first_utc_us / 1e6, tz=timezone.utc).date()
    with api.client("viewer") as client:
        since = client.get("/api/recordings", params={"since": day.isoformat()})
        assert since.status_code == 200, since.text
        assert [r["id"] for r in since.json()] == [short_recording.recording]
        later = client.get("/api/recordings", params={"since": (day + timedelta(days=1)).isoformat()})
        assert later.status_code == 200 and later.json() == []
        gaze = client.get(f"/api/recordings/{short_recording.recording}/gaze",
                          params={"from": day.isoformat(), "format": "json"})
        assert gaze.status_code == 200 and len(gaze.text.splitlines()) == short_recording.samples


def test_a_missing_journal_is_503_until_it_exists(start_api, tmp_path: Path) -> None:
    journal = tmp_path / "later" / "journal.sqlite"
    api = start_api(journal)
    with api.client() as client:
        response = client.get("/api/recordings")
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert response.json() == {"detail": f"no journal at {str(journal)!r} yet (the processor makes it on its "
                                             "first start; is journal.path or data_dir the processor's?)"}
        assert client.get("/api/health").json()["journal"] == response.json()["detail"]
        made = write_long_recording(journal, samples=600, template_s=1)
        assert [r["samples"] for r in client.get("/api/recordings").json()] == [made.samples]
