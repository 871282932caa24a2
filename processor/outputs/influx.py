"""The InfluxDB 2.x sink: points written by ``influxdb-client`` to
``/api/v2/write`` (precision µs) from a writer thread, in batches.

* ``write()`` only appends to a bounded in-memory buffer (``buffer_points``);
  detection and alerts never wait for the database.
* The writer thread sends up to ``batch_points`` at a time, as soon as that many
  are waiting or the oldest has waited ``flush_interval_s``.
* A failed write (server unreachable, 5xx, 401/403, 429, timeouts) keeps the
  points and retries after a capped exponential backoff. An outage is logged
  twice - when it starts and when it ends - never per point or per retry.
* When the buffer is full, the oldest points are dropped and counted.
* A write the server refuses as invalid (400, 413, 422) is not retried: the
  points are counted as rejected and the refusal is logged at most once a minute.
* At shutdown, what cannot be written within the timeout is spilled to the
  line-protocol files (if given), so it can be imported later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from gazewire.errors import GazewireError
from gazewire.processor.config import InfluxSettings
from gazewire.processor.outputs.files import LineProtocolFiles
from gazewire.processor.outputs.lineprotocol import Point
from gazewire.processor.outputs.sink import SinkReport

log = logging.getLogger(__name__)

REJECTED_STATUSES = {400, 413, 422}
REJECTION_LOG_INTERVAL_S = 60.0

WriteLines = Callable[[str], None]
Entry = tuple[str, "str | None", int]  # (line, session, time_us): what a buffered point keeps, ~500 bytes


class WriteRefused(GazewireError):
    """The server answered a write with an error status."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status


def influx_client_writer(settings: InfluxSettings) -> tuple[WriteLines, Callable[[], None]]:
    """A function that writes line protocol with influxdb-client, and one that closes it."""
    from influxdb_client import InfluxDBClient, WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS

    assert settings.url is not None
    client = InfluxDBClient(
        url=settings.url,
        token=settings.token.get_secret_value(),
        org=settings.org,
        timeout=int(settings.timeout_s * 1000),
        verify_ssl=settings.verify_ssl,
        enable_gzip=True,
    )
    api = client.write_api(write_options=SYNCHRONOUS)

    def write(body: str) -> None:
        try:
            api.write(bucket=settings.bucket, org=settings.org, record=body, write_precision=WritePrecision.US)
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


class InfluxWriter:
    def __init__(
        self,
        settings: InfluxSettings,
        *,
        spill: LineProtocolFiles | None = None,
        write_lines: WriteLines | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.spill = spill
        self._write_lines = write_lines
        self._close_client: Callable[[], None] = lambda: None
        self._clock = clock
        self._buffer: deque[Entry] = deque()
        self._in_flight = 0
        self._condition = threading.Condition()
        self._stopping = threading.Event()
        self._retry_wake = threading.Event()
        self._deadline: float | None = None
        self._oldest_at: float | None = None
        self._report = SinkReport(kind="influxdb", target=f"{settings.url} bucket {settings.bucket}")
        self._outage_since: float | None = None
        self._outage_dropped_at_start = 0
        self._last_rejection_log = -REJECTION_LOG_INTERVAL_S
        self._thread = threading.Thread(target=self._run, name="gazewire-influx-writer", daemon=True)

    # ------------------------------------------------------------------ Sink

    def start(self) -> None:
        if self._write_lines is None:
            self._write_lines, self._close_client = influx_client_writer(self.settings)
        if self.spill is not None:
            self.spill.start()
        self._thread.start()

    def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        entries = [(point.line(), point.session, point.time_us) for point in points]
        with self._condition:
            was_empty = not self._buffer
            if was_empty:
                self._oldest_at = self._clock()
            self._buffer.extend(entries)
            self._drop_overflow()
            self._report.points_buffered = len(self._buffer) + self._in_flight
            if was_empty or len(self._buffer) >= self.settings.batch_points:
                self._condition.notify()  # start the flush timer, or write a full batch now

    def close(self, timeout_s: float) -> None:
        """Write what is buffered for up to ``timeout_s``; spill the rest to files."""
        with self._condition:
            self._deadline = self._clock() + timeout_s
            self._stopping.set()
            self._condition.notify()
        self._retry_wake.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout_s + self.settings.timeout_s + 1.0)
        with self._condition:
            left = list(self._buffer)
            self._buffer.clear()
            self._report.points_buffered = 0
            if self._thread.is_alive() and self._in_flight:  # a write hangs beyond every timeout
                self._report.points_dropped += self._in_flight
                log.error("%d points in a hanging InfluxDB write are lost", self._in_flight)
                self._in_flight = 0
        if left:
            self._spill(left)
        try:
            self._close_client()
        except Exception as error:  # closing must not hide what happened before
            log.debug("closing the InfluxDB client failed: %s", error)
        if self.spill is not None:
            self.spill.close()

    def report(self) -> SinkReport:
        with self._condition:
            self._report.points_buffered = len(self._buffer) + self._in_flight
            return SinkReport(**self._report.as_dict())

    # ------------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        failures = 0
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                assert self._write_lines is not None
                self._write_lines("\n".join(entry[0] for entry in batch))
            except WriteRefused as error:
                if error.status in REJECTED_STATUSES:
                    self._rejected(batch, error)
                    failures = 0
                    continue
                failures += 1
                self._failed(batch, str(error))
                self._wait_retry(self._backoff_s(failures))
                continue
            except Exception as error:  # never let the writer thread die
                failures += 1
                self._failed(batch, f"{type(error).__name__}: {error}")
                self._wait_retry(self._backoff_s(failures))
                continue
            failures = 0
            self._written(batch)

    def _next_batch(self) -> list[Entry] | None:
        settings = self.settings
        with self._condition:
            while True:
                if self._stopping.is_set():
                    if not self._buffer or (self._deadline is not None and self._clock() >= self._deadline):
                        return None
                    break
                if len(self._buffer) >= settings.batch_points:
                    break
                if self._buffer and self._oldest_at is not None:
                    wait = self._oldest_at + settings.flush_interval_s - self._clock()
                    if wait <= 0:
                        break
                    self._condition.wait(wait)
                else:
                    self._condition.wait()
            count = min(len(self._buffer), settings.batch_points)
            batch = [self._buffer.popleft() for _ in range(count)]
            self._in_flight = count
            self._oldest_at = self._clock() if self._buffer else None
            return batch

    def _backoff_s(self, failures: int) -> float:
        return min(self.settings.retry_max_s, self.settings.retry_min_s * 2 ** min(failures - 1, 30))

    def _wait_retry(self, delay_s: float) -> None:
        """Wait before a retry; :meth:`close` cuts it short, and its deadline bounds it."""
        if self._stopping.is_set() and self._deadline is not None:
            delay_s = min(delay_s, max(0.0, self._deadline - self._clock()))
        self._retry_wake.wait(delay_s)
        self._retry_wake.clear()

    # ------------------------------------------------------------------ outcomes

    def _written(self, batch: list[Entry]) -> None:
        with self._condition:
            self._in_flight = 0
            self._report.points_written += len(batch)
            self._report.points_buffered = len(self._buffer)
            self._report.state = "ok"
            self._report.last_error = None
            if self._outage_since is not None:
                seconds = self._clock() - self._outage_since
                dropped = self._report.points_dropped - self._outage_dropped_at_start
                log.warning(
                    "InfluxDB writes work again after %.1f s; %d points were buffered, %d dropped (buffer full)",
                    seconds, len(self._buffer) + len(batch), dropped,
                )
                self._outage_since = None

    def _failed(self, batch: list[Entry], error: str) -> None:
        with self._condition:
            self._in_flight = 0
            self._buffer.extendleft(reversed(batch))  # back at the front, in order
            self._drop_overflow()
            if self._oldest_at is None:
                self._oldest_at = self._clock()
            self._report.points_buffered = len(self._buffer)
            self._report.state = "unreachable"
            self._report.last_error = error
            if self._outage_since is None:
                self._outage_since = self._clock()
                self._outage_dropped_at_start = self._report.points_dropped
                log.warning(
                    "InfluxDB write failed (%s); keeping up to %d points in memory and retrying "
                    "(logged again when writes work)", error, self.settings.buffer_points,
                )

    def _rejected(self, batch: list[Entry], error: WriteRefused) -> None:
        with self._condition:
            self._in_flight = 0
            self._report.points_rejected += len(batch)
            self._report.last_error = f"refused: {error}"
            self._report.points_buffered = len(self._buffer)
        now = self._clock()
        if now - self._last_rejection_log >= REJECTION_LOG_INTERVAL_S:
            self._last_rejection_log = now
            log.error("InfluxDB refused %d points as invalid (%s); they are counted as rejected", len(batch), error)

    def _drop_overflow(self) -> None:
        overflow = len(self._buffer) - self.settings.buffer_points
        if overflow > 0:
            for _ in range(overflow):
                self._buffer.popleft()
            self._report.points_dropped += overflow

    def _spill(self, points: list[Entry]) -> None:
        if self.spill is None:
            self._report.points_dropped += len(points)
            log.error("%d points could not be written to InfluxDB before shutdown and are lost", len(points))
            return
        before = self.spill.report().points_written
        self.spill.write_lines(points)
        spilled = self.spill.report().points_written - before
        self._report.points_spilled += spilled
        self._report.points_dropped += len(points) - spilled
        log.warning(
            "%d points could not be written to InfluxDB before shutdown; saved as line protocol under %s "
            "(import: influx write --precision us --file <file>)", spilled, self.spill.directory,
        )
