"""Fixtures shared by all tests.

Brokers are real Mosquitto processes (Debian's package), started per test on
free loopback ports. The test command (scripts/test.sh) installs Mosquitto
when it is missing; if it still is not there, broker tests fail with a clear
message rather than being skipped, because a skipped integration test
proves nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lab_device import LabDevice
from tests.support.mosquitto import MosquittoBroker, find_mosquitto

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run scripts/test.sh, or apt-get install mosquitto")
    server = MosquittoBroker(tmp_path / "mosquitto")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def lab_devices() -> Iterator[list[LabDevice]]:
    """Collects LabDevice instances created in a test and closes them after it."""
    devices: list[LabDevice] = []
    yield devices
    for device in devices:
        device.close()


def gazewire_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gazewire.cli", *args]


def agent_env(broker: MosquittoBroker, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    env.update(
        {
            "GAZEWIRE_MQTT__HOST": broker.host,
            "GAZEWIRE_MQTT__PORT": str(broker.port),
            "GAZEWIRE_MQTT__RECONNECT_MIN_S": "0.2",
            "GAZEWIRE_MQTT__RECONNECT_MAX_S": "1",
            # The last will a second after the agent is lost (30 s by default): tests of a killed
            # agent wait for it; tests of a short outage set their own.
            "GAZEWIRE_MQTT__WILL_DELAY_S": "1",
            "GAZEWIRE_DATA_DIR": str(data_dir),
            "GAZEWIRE_SOURCE": "simulated",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class AgentProcess:
    """``gazewire agent run`` as a child process, as on a tracker PC."""

    def __init__(self, env: dict[str, str], *args: str, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            gazewire_command("agent", "run", *args), env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT
        )

    def terminate(self, timeout_s: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(timeout_s)
        self._log.close()
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_agent(tmp_path: Path, broker: MosquittoBroker) -> Iterator:
    agents: list[AgentProcess] = []

    def start(*args: str, data_dir: Path | None = None, **env: str) -> AgentProcess:
        data = data_dir or tmp_path / "agent-data"
        agent = AgentProcess(
            agent_env(broker, data, **env), *args, log_path=tmp_path / f"agent-{len(agents)}.log"
        )
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        if agent.process.poll() is None:
            agent.kill()
