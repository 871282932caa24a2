"""The InfluxDB 2.x sink: line protocol written by ``influxdb-client`` to
``/api/v2/write`` (precision µs), one slice at a time, synchronously.

What to write and when, retries with backoff, and catching up after an outage are
the journal feed's (:mod:`gazewire.processor.journal.feed`): the journal keeps
every point until InfluxDB has it, so an outage of any length the disk allows is
caught up, and nothing is held in memory. Here a write either succeeds or raises:

* :class:`SinkRejected` for a write the server refuses as invalid (400, 413, 422):
  the points are counted as rejected, never retried;
* :class:`SinkUnavailable` for everything else (server unreachable, 5xx, 401/403,
  429, timeouts): the feed retries the same slice.

InfluxDB overwrites a point with the same series and timestamp, and a replayed
point is byte-identical to the first, so replaying the journal never duplicates.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Sequence

from gazewire.errors import GazewireError
from gazewire.processor.config import InfluxSettings
from gazewire.processor.outputs.sink import Entry, SinkRejected, SinkUnavailable

log = logging.getLogger(__name__)

REJECTED_STATUSES = {400, 413, 422}

WriteLines = Callable[[str], None]


class WriteRefused(GazewireError):
    """The server answered a write with an error status."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status


GZIP_LEVEL = 1
"""The compression of a write's body. influxdb-client's own ``enable_gzip`` compresses at level 9:
1.9 ms of CPU per 60-sample batch of gaze points on this machine, twice what the processor
spends on the batch otherwise; level 1 takes 0.16 ms for a body 3.5x smaller (level 9: 4.2x)."""


def influx_client_writer(settings: InfluxSettings) -> tuple[WriteLines, Callable[[], None]]:
    """A function that writes line protocol with influxdb-client, and one that closes it."""
    from influxdb_client import InfluxDBClient, WritePrecision
    from influxdb_client.service.write_service import WriteService

    assert settings.url is not None
    client = InfluxDBClient(
        url=settings.url,
        token=settings.token.get_secret_value(),
        org=settings.org,
        timeout=int(settings.timeout_s * 1000),
        verify_ssl=settings.verify_ssl,
        enable_gzip=False,  # compressed here, at GZIP_LEVEL
        retries=False,  # the journal feed retries; the client must not write a slice twice on its own
    )
    service = WriteService(client.api_client)  # what the client's write API posts with, minus re-encoding

    def write(body: str) -> None:
        try:
            service.post_write(
                org=settings.org, bucket=settings.bucket, body=gzip.compress(body.encode(), compresslevel=GZIP_LEVEL),
                precision=WritePrecision.US, content_encoding="gzip", content_type="text/plain; charset=utf-8",
            )
        except Exception as error:  # influxdb-client raises many types; all are a failed write
            status = getattr(error, "status", None)
            raise WriteRefused(status if isinstance(status, int) else None, _describe(error)) from None

    return write, client.close


def _describe(error: Exception) -> str:
    status = getattr(error, "status", None)
    body = getattr(error, "body", None)
    if isinstance(status, int):
        text = f"HTTP {status}"
        if body:
            text += f": {str(body)[:200]}"
        return text
    reason = getattr(error, "reason", None)  # urllib3 MaxRetryError wraps the cause
    return f"{type(error).__name__}: {reason or error}"[:300]


class InfluxSink:
    name = "influx"
    kind = "influxdb"

    def __init__(self, settings: InfluxSettings, *, write_lines: WriteLines | None = None) -> None:
        self.settings = settings
        self.target = f"{settings.url} bucket {settings.bucket}"
        self._write_lines = write_lines
        self._close_client: Callable[[], None] = lambda: None

    def start(self) -> None:
        if self._write_lines is None:
            self._write_lines, self._close_client = influx_client_writer(self.settings)

    def intent(self, entries: Sequence[Entry]) -> str | None:
        return None  # a replayed point overwrites itself: nothing to undo

    def recover(self, intent: str) -> None:
        pass

    def write(self, entries: Sequence[Entry]) -> None:
        assert self._write_lines is not None, "start() first"
        try:
            self._write_lines("\n".join(entry[0] for entry in entries))
        except WriteRefused as error:
            if error.status in REJECTED_STATUSES:
                raise SinkRejected(str(error)) from None
            raise SinkUnavailable(str(error)) from None
        except Exception as error:  # never let a client surprise stop the feed
            raise SinkUnavailable(f"{type(error).__name__}: {error}") from None

    def close(self) -> None:
        try:
            self._close_client()
        except Exception as error:  # closing must not hide what happened before
            log.debug("closing the InfluxDB client failed: %s", error)
