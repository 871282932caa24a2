"""The client library is light: importing it loads neither numpy nor
pydantic-settings nor the Tobii SDK, and it runs under CPython 3.10 (the
oldest Python gazewire supports, the one the SDK needs) with the SDK made
unimportable, against a real Mosquitto."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.client.test_statuses import agent_status, publish_retained

pytestmark = pytest.mark.broker

PROBE = """
import sys

class NoTobii:  # the Tobii SDK is not installed on a stimulus PC
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tobii_research":
            raise ImportError("No module named 'tobii_research'")
        return None

sys.meta_path.insert(0, NoTobii())
from gazewire.client import Lab
from gazewire.client.aio import AsyncLab

heavy = sorted(n for n in ("numpy", "pydantic_settings", "tobii_research", "gazewire.agent", "gazewire.processor",
                           "gazewire.cli") if n in sys.modules)
with Lab(sys.argv[1], int(sys.argv[2])) as lab:
    listed = [(info.session, info.state) for info in lab.sessions()]
print(sys.version_info[:2], heavy, listed)
"""


def run_probe(python: str, broker) -> str:
    result = subprocess.run([python, "-c", PROBE, broker.host, str(broker.port)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_client_loads_nothing_heavy(broker):
    publish_retained(broker, {"lab/room1/status": agent_status("room1")})
    assert run_probe(sys.executable, broker).endswith("[] [('room1', 'tracking')]")


def test_the_client_runs_under_python_3_10_without_the_tobii_sdk(broker):
    python310 = os.environ.get("GAZEWIRE_PY310")
    if not python310:
        message = "GAZEWIRE_PY310 is not set: run the tests through scripts/test.sh (it builds .venv-py310)"
        if os.environ.get("GAZEWIRE_REQUIRE_ALL"):
            pytest.fail(message)
        pytest.skip(message)
    publish_retained(broker, {"lab/room1/status": agent_status("room1")})
    assert run_probe(python310, broker) == "(3, 10) [] [('room1', 'tracking')]"
