"""One SIGINT or SIGTERM stops the agent, every time, whatever the broker does.

A Python signal handler runs on the main thread between two bytecodes, so it
must not take a lock the main thread may hold at that moment (the old handler
set a ``threading.Event`` the main loop was waiting on: about one signal in
three hung the agent while the broker was unreachable).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, AgentProcess, agent_env
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port

pytestmark = pytest.mark.broker

HOLDS_THE_LOCK = textwrap.dedent(
    """
    import os, signal, threading
    from gazewire.cli.common import install_shutdown_handlers

    lock = threading.Lock()
    done = threading.Event()
    ran_on = []

    def request_shutdown():
        ran_on.append(threading.current_thread() is threading.main_thread())
        with lock:  # what Event.set does: take the lock the main thread holds below
            pass
        done.set()

    install_shutdown_handlers(request_shutdown)
    with lock:  # the main thread inside Event.wait/clear when the signal arrives
        os.kill(os.getpid(), signal.SIG{name})
        for _ in range(100_000):  # Python runs the handler between these bytecodes
            pass
    assert done.wait(10), "request_shutdown never finished"
    print("main thread" if ran_on[0] else "other thread")
    """
)


@pytest.mark.parametrize("name", ["TERM", "INT"])
def test_the_signal_handler_takes_no_lock_the_main_thread_may_hold(name: str) -> None:
    script = HOLDS_THE_LOCK.replace("{name}", name)
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the signal handler deadlocked on a lock the main thread held")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "other thread"


def wait_for_log(agent: AgentProcess, *needles: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(needle in agent.log() for needle in needles):
        if agent.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"agent never logged {needles!r}:\n{agent.log()}")
        time.sleep(0.05)


def test_one_signal_stops_the_agent_every_time_while_the_broker_is_unreachable(tmp_path: Path) -> None:
    """12 agents, each signalled once: 6 with no broker listening, 6 whose login
    the broker refuses; SIGINT and SIGTERM alternate. Each must exit cleanly."""
    broker = MosquittoBroker(tmp_path / "mosquitto", users={"lab": "secret"})
    broker.start()
    nobody = MosquittoBroker(tmp_path / "nobody", port=free_port())  # never started: nothing listens
    try:
        for round_ in range(3):
            agents = []
            for case in range(4):
                refused = case % 2 == 1
                extra = {"GAZEWIRE_MQTT__USERNAME": "lab", "GAZEWIRE_MQTT__PASSWORD": "wrong"} if refused else {}
                data = tmp_path / f"data-{round_}-{case}"
                agent = AgentProcess(
                    agent_env(broker if refused else nobody, data, **extra),
                    "--session", "signal-" + uuid.uuid4().hex[:6],
                    log_path=tmp_path / f"agent-{round_}-{case}.log",
                )
                agents.append(agent)
            try:
                for agent in agents:
                    wait_for_log(agent, "cannot connect to broker", "refused user 'lab'")
                for index, agent in enumerate(agents):
                    agent.process.send_signal(signal.SIGINT if index < 2 else signal.SIGTERM)
                for agent in agents:
                    try:
                        code = agent.process.wait(20)
                    except subprocess.TimeoutExpired:
                        pytest.fail(f"the agent did not stop on one signal:\n{agent.log()}")
                    assert code == 0, agent.log()
                    assert "stopped:" in agent.log() and "Traceback" not in agent.log()
            finally:
                for agent in agents:
                    if agent.process.poll() is None:
                        agent.process.kill()
                        agent.process.wait(10)
    finally:
        broker.kill()
