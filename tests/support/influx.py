"""A real time-series server for the processor's storage tests.

InfluxDB 2.7 in a container (testcontainers) when a Docker daemon answers;
otherwise VictoriaMetrics (:mod:`tests.support.victoria`), which accepts the
same ``/api/v2/write`` requests. Both offer the same small interface:
``url``, ``org``, ``bucket``, ``token``, ``start()``, ``stop()`` (an outage:
VictoriaMetrics is stopped, the container paused), ``close()``, and
``series(measurement, field)`` to read back what was written, plus
``kind``, ``time_resolution_us``, ``relative_precision`` and ``stores_strings``
for the differences.

If neither is available the tests fail (they are never skipped): install
``victoria-metrics`` (scripts/test.sh does) or run Docker.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from tests.support.victoria import VictoriaMetrics, find_victoria_metrics

INFLUXDB_IMAGE = "influxdb:2.7"
ORG = "gazewire"
BUCKET = "gazewire"
TOKEN = "gazewire-test-token-0123456789"

Series = dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]


class TimeSeriesServer(Protocol):
    kind: str
    time_resolution_us: int
    relative_precision: float
    stores_strings: bool
    org: str
    bucket: str
    token: str

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def series(self, measurement: str, field_name: str) -> Series: ...


class ServerUnavailable(RuntimeError):
    """Neither a Docker daemon nor VictoriaMetrics is available."""


def docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class InfluxDbContainer:
    """InfluxDB 2.7 in Docker, set up with an org, a bucket and an admin token."""

    kind = "influxdb"
    time_resolution_us = 1
    relative_precision = 0.0
    stores_strings = True
    org = ORG
    bucket = BUCKET
    token = TOKEN

    def __init__(self) -> None:
        from testcontainers.community.influxdb import InfluxDb2Container

        self.container = InfluxDb2Container(
            image=INFLUXDB_IMAGE,
            init_mode="setup",
            admin_token=TOKEN,
            username="gazewire",
            password="gazewire-test-password",
            org_name=ORG,
            bucket=BUCKET,
        )
        self._started = False
        self._paused = False

    @property
    def url(self) -> str:
        return self.container.get_url()

    def start(self) -> None:
        if not self._started:
            self.container.start()
            self._started = True
        elif self._paused:
            self.container.get_wrapped_container().unpause()
            self._paused = False

    def stop(self) -> None:
        """An outage that keeps the port: the container is paused (requests time out)."""
        self.container.get_wrapped_container().pause()
        self._paused = True

    def close(self) -> None:
        if self._paused:
            self.container.get_wrapped_container().unpause()
        self.container.stop()

    def series(self, measurement: str, field_name: str) -> Series:
        from influxdb_client import InfluxDBClient

        flux = (
            f'from(bucket: "{BUCKET}") |> range(start: 0, stop: 2100-01-01T00:00:00Z) '  # stop: sped-up simulations write the future
            f'|> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "{field_name}")'
        )
        internal = {"result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement"}
        result: Series = {}
        with InfluxDBClient(url=self.url, token=TOKEN, org=ORG, timeout=30_000) as client:
            for table in client.query_api().query(flux):
                for record in table.records:
                    labels = tuple(sorted((k, str(v)) for k, v in record.values.items() if k not in internal))
                    result.setdefault(labels, []).append((_micros(record.get_time()), _number(record.get_value())))
        for values in result.values():
            values.sort()
        return result


class VictoriaMetricsServer(VictoriaMetrics):
    def close(self) -> None:
        self.kill()


def _micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy: servers make writes visible a little
    later (VictoriaMetrics' ingestion buffer, InfluxDB's write path) and cannot notify us."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def wait_for_series(
    server: TimeSeriesServer,
    measurement: str,
    field_name: str,
    predicate: Callable[[Series], bool],
    timeout_s: float = 20.0,
) -> Series:
    """Read a series until ``predicate`` holds: servers make writes visible a little later
    (VictoriaMetrics' ingestion buffer, InfluxDB's write path). Raises TimeoutError with
    what was last seen."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        series = server.series(measurement, field_name)
        if predicate(series):
            return series
        if time.monotonic() > deadline:
            counts = {labels: len(values) for labels, values in series.items()}
            raise TimeoutError(f"{measurement}_{field_name} not as expected after {timeout_s} s: {counts}")
        time.sleep(delay)  # polling an external server: it has no way to notify us
        delay = min(delay * 2, 0.5)


def open_time_series_server(directory: Path) -> TimeSeriesServer:
    """InfluxDB 2.7 (Docker) if a Docker daemon answers, else VictoriaMetrics; not started yet."""
    if docker_answers():
        return InfluxDbContainer()
    if find_victoria_metrics() is None:
        raise ServerUnavailable(
            "no time-series server for the storage tests: no Docker daemon answers and victoria-metrics "
            "is not installed (run scripts/test.sh, or apt-get install victoria-metrics)"
        )
    return VictoriaMetricsServer(directory)
