"""VictoriaMetrics for tests: a write-compatible stand-in for InfluxDB 2.x.

It accepts InfluxDB line protocol on the same ``/api/v2/write`` endpoint that
influxdb-client uses (precision, org and bucket parameters included), so the
processor's writer runs unchanged against it. Started from Debian's
``victoria-metrics`` package on a free loopback port with a temporary storage
directory; stopping and starting it again keeps the data (the outage test).

Differences from InfluxDB that the tests allow for:

* only numeric fields are stored, each as the series ``<measurement>_<field>``
  with the tags as labels (string fields are stored as 0);
* timestamps are kept in milliseconds;
* floats are kept to about 12 significant digits (``relative_precision``);
* a point written twice is stored twice (no overwrite), which makes it a strict
  check that nothing is written twice.

Read back with ``/internal/force_flush`` then ``/api/v1/export`` (JSON lines).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ports import free_port, wait_for_port

CANDIDATES = ("victoria-metrics", "/usr/bin/victoria-metrics", "victoria-metrics-prod")


def find_victoria_metrics() -> str | None:
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@dataclass
class VictoriaMetrics:
    directory: Path
    port: int = field(default_factory=free_port)
    binary: str = field(default_factory=lambda: find_victoria_metrics() or "victoria-metrics")
    process: subprocess.Popen | None = None

    kind = "victoriametrics"
    time_resolution_us = 1000  # it keeps milliseconds
    relative_precision = 1e-11  # it keeps ~12 significant digits of a float
    stores_strings = False
    org = "gazewire"
    bucket = "gazewire"
    token = "unused-by-victoriametrics"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._log = (self.directory / "victoria-metrics.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                f"-storageDataPath={self.directory / 'data'}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y",
                "-loggerLevel=WARN",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, process=self.process)

    def stop(self) -> None:
        """Clean stop (SIGTERM); the data stay in the storage directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)
        self.process = None
        if getattr(self, "_log", None):
            self._log.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    # ------------------------------------------------------------------ reading back

    def _get(self, path: str, params: dict[str, str] | None = None) -> bytes:
        query = "?" + urllib.parse.urlencode(params) if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=30) as response:
            return response.read()

    def series(self, measurement: str, field_name: str) -> dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]:
        """Every stored value of one field: {sorted tag items: [(time_us, value), ...]} (time in ms resolution)."""
        self._get("/internal/force_flush")
        # start/end explicitly: the default end is "now", and sped-up simulations write the future
        body = self._get(
            "/api/v1/export", {"match[]": f"{measurement}_{field_name}", "start": "0", "end": "4102444800"}
        )
        result: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            labels = tuple(sorted((k, v) for k, v in item["metric"].items() if k not in ("__name__", "db")))
            values = result.setdefault(labels, [])
            values.extend((int(t) * 1000, float(v)) for t, v in zip(item["timestamps"], item["values"]))
        for values in result.values():
            values.sort()
        return result
