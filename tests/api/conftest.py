"""The HTTP API as it runs: ``gazewire api run`` in its own process, on a free
loopback port, reached with a real HTTP client (httpx)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
VIEWER_TOKEN = "viewer-7d1f0c2b9e4a8f36a5c1"
OPERATOR_TOKEN = "operator-4b2e91d07c3f5a68e2d4"
TOKENS = {"viewer": VIEWER_TOKEN, "operator": OPERATOR_TOKEN}


class ApiProcess:
    """``gazewire api run`` on a free port, configured by ``GAZEWIRE_*`` variables only."""

    def __init__(self, workdir: Path, *, journal: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"api-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
        env.update({
            "GAZEWIRE_JOURNAL__PATH": str(journal),
            "GAZEWIRE_API__PORT": str(self.port),
            "GAZEWIRE_API__VIEWER_TOKENS": VIEWER_TOKEN,
            "GAZEWIRE_API__OPERATOR_TOKENS": OPERATOR_TOKEN,
            "PYTHONUNBUFFERED": "1",
        })
        env.update(settings)
        workdir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen([sys.executable, "-m", "gazewire.cli", "api", "run"], cwd=workdir, env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, process=self.process, timeout_s=30)
        except BaseException:
            self.stop()
            raise AssertionError(f"the API did not start:\n{self.log()}") from None

    def client(self, role: str | None = "viewer", **options) -> httpx.Client:
        headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
        headers.update(options.pop("headers", {}))
        return httpx.Client(base_url=self.url, headers=headers, timeout=options.pop("timeout", 120), **options)

    def memory_kb(self) -> dict[str, int]:
        """The server process's resident memory now (VmRSS) and at its peak (VmHWM), kB."""
        found = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
        return found

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


@pytest.fixture
def start_api(tmp_path: Path) -> Iterator:
    started: list[ApiProcess] = []

    def start(journal: Path, **settings: str) -> ApiProcess:
        api = ApiProcess(tmp_path / "api", journal=journal, **settings)
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()
