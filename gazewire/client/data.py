"""Recorded data as pandas DataFrames, from the lab server's HTTP API.

::

    from gazewire.client import LabData

    with LabData("http://lab-server:8000", token=viewer_token) as data:
        for recording in data.recordings(participant="P07"):
            print(recording["id"], recording["samples"])
        gaze = data.recording("20261130T101500Z-3f9a").gaze()          # a DataFrame, one row a sample
        first_minute = data.recording("20261130T101500Z-3f9a").gaze(
            start="2026-11-30T10:15:00Z", end="2026-11-30T10:16:00Z")   # start <= utc_us < end

or through a :class:`~gazewire.client.Lab` made with ``api=`` and ``api_token=``:
``Lab("lab-server", api="http://lab-server:8000", api_token=token).recording(id).gaze()``.

The columns are the archive's tables (docs/data.md): ``gaze`` has the columns of
``gaze/batch`` and ``recording``; ``utc_us`` is UTC in microseconds
(``pandas.to_datetime(df.utc_us, unit="us", utc=True)`` for timestamps). The data
come as an Arrow stream and become a DataFrame without a copy per row.

Needs the ``pandas`` extra (``pip install '.[pandas]'`` in a clone: pandas, httpx;
pyarrow comes with gazewire). Importing :mod:`gazewire.client` loads none of them;
this module loads them on first use. Errors: :class:`~gazewire.errors.ApiRefused`
(the API answered with an error: its one line and status),
:class:`~gazewire.errors.ApiUnreachable`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from typing import Any

from gazewire.errors import ApiRefused, ApiUnreachable, InvalidArgument

DEFAULT_TIMEOUT_S = 60.0
TABLE_NAMES = ("gaze", "fixations", "markers", "alerts", "movements")
Time = int | str | datetime  # UTC microseconds, ISO 8601 with a zone, or an aware datetime


class LabData:
    """The lab server's recordings, over its HTTP API (``url``: ``http://lab-server:8000``;
    ``token``: a viewer's or an operator's bearer token)."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidArgument(f"the API's URL must start with http:// or https://, got {url!r}")
        httpx = _need("httpx")
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    # ------------------------------------------------------------------ listings

    def sessions(self) -> list[dict[str, Any]]:
        """The sessions the journal holds data of (samples, recordings, first and last sample)."""
        return self._json("/api/sessions")

    def recordings(self, *, session: str | None = None, participant: str | None = None, since: Time | None = None,
                   until: Time | None = None) -> list[dict[str, Any]]:
        """The recordings in the journal, oldest first; ``since``/``until`` bound their start."""
        query = {"session": session, "participant": participant, "since": _time(since), "until": _time(until)}
        return self._json("/api/recordings", {k: v for k, v in query.items() if v is not None})

    def recording(self, recording: str) -> RecordingData:
        """A handle on one recording; nothing is fetched until it is used."""
        return RecordingData(self, recording)

    def session(self, session: str) -> RecordingData:
        """A handle on one session's data (in recordings and between them): use ``start``/``end``."""
        return RecordingData(self, session, kind="sessions")

    # ------------------------------------------------------------------ tables

    def table(self, path: str, *, start: Time | None = None, end: Time | None = None) -> Any:  # -> pyarrow.Table
        """A table the API streams at ``path``, as a :class:`pyarrow.Table` (fetched as an Arrow stream)."""
        import pyarrow as pa

        query = {"format": "arrow", "from": _time(start), "to": _time(end)}
        with closing(self._request("GET", path, {k: v for k, v in query.items() if v is not None})) as response:
            return pa.ipc.open_stream(io.BufferedReader(_Body(response.iter_bytes()), 1 << 20)).read_all()

    # ------------------------------------------------------------------ HTTP

    def _json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        with closing(self._request("GET", path, params)) as response:
            response.read()
            return response.json()

    def _request(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """The response, its body not read yet (close it); ApiRefused for an error, ApiUnreachable."""
        httpx = _need("httpx")
        request = self._http.build_request(method, path, params=params)
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as error:
            raise ApiUnreachable(self.url, str(error) or type(error).__name__) from None
        if response.status_code >= 400:
            response.read()
            response.close()
            try:
                detail = response.json()["detail"]
            except (ValueError, KeyError, TypeError):
                detail = response.text[:200] or response.reason_phrase
            raise ApiRefused(response.status_code, str(detail), f"{method} {path}")
        return response

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LabData:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LabData {self.url}>"


class RecordingData:
    """One recording's (or session's) data: each table as a DataFrame, optionally only
    ``start <= utc_us < end``."""

    def __init__(self, data: LabData, name: str, *, kind: str = "recordings") -> None:
        self.data = data
        self.id = name
        self._kind = kind

    def __repr__(self) -> str:
        return f"<RecordingData {self._kind[:-1]} {self.id!r} from {self.data.url}>"

    def info(self) -> dict[str, Any]:
        """What the journal knows of the recording: participant, times, samples, losses, tracker, ..."""
        if self._kind != "recordings":
            raise InvalidArgument("info() is for a recording; a session's are in LabData.sessions()")
        return self.data._json(f"/api/recordings/{self.id}")

    def arrow(self, table: str = "gaze", *, start: Time | None = None, end: Time | None = None) -> Any:
        """A table as a :class:`pyarrow.Table`."""
        if table not in TABLE_NAMES:
            raise InvalidArgument(f"table must be one of {', '.join(TABLE_NAMES)}, got {table!r}")
        return self.data.table(f"/api/{self._kind}/{self.id}/{table}", start=start, end=end)

    def frame(self, table: str = "gaze", *, start: Time | None = None, end: Time | None = None) -> Any:
        """A table as a :class:`pandas.DataFrame`."""
        _need("pandas")
        return self.arrow(table, start=start, end=end).to_pandas()

    def gaze(self, *, start: Time | None = None, end: Time | None = None) -> Any:
        """Every sample (one row each): the columns of ``gaze/batch`` and ``recording``."""
        return self.frame("gaze", start=start, end=end)

    def fixations(self, *, start: Time | None = None, end: Time | None = None) -> Any:
        return self.frame("fixations", start=start, end=end)

    def markers(self, *, start: Time | None = None, end: Time | None = None) -> Any:
        return self.frame("markers", start=start, end=end)

    def alerts(self, *, start: Time | None = None, end: Time | None = None) -> Any:
        return self.frame("alerts", start=start, end=end)

    def movements(self, *, start: Time | None = None, end: Time | None = None) -> Any:
        """Saccades, smooth pursuits and blinks (``kind``)."""
        return self.frame("movements", start=start, end=end)


class _Body(io.RawIOBase):
    """A response body as a file for Arrow's stream reader: read as it arrives."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _time(value: Time | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidArgument(f"a time needs a zone (datetime(..., tzinfo=timezone.utc)), got {value!r}")
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidArgument(f"a time is UTC microseconds, ISO 8601 text or a datetime, got {value!r}")
    return str(value)


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"reading recorded data needs {module}: install gazewire with its pandas extra ('.[pandas]')") from None
