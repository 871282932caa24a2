"""While the broker is unreachable the agent idles: its pipeline loop wakes for
work (a batch every 1 / publish_hz, a command, a tracker event), never spins.

The count of loop passes per batch is the measure: it does not depend on the
machine's speed or load (the CPU share is measured in bench/agent_idle_cpu.py).
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from gazewire.agent.config import AgentSettings
from gazewire.agent.inputs.simulated import SimulatedTracker
from gazewire.agent.runtime import Agent
from gazewire.settings import load_settings
from tests.support.ports import free_port


def unreachable_agent(tmp_path: Path, **overrides) -> Agent:
    settings = load_settings(
        AgentSettings,
        overrides={
            "session": "idle-" + uuid.uuid4().hex[:6], "source": "simulated", "data_dir": str(tmp_path / "data"),
            "mqtt.host": "127.0.0.1", "mqtt.port": free_port(),  # nothing listens there
            "mqtt.reconnect_min_s": 0.2, "mqtt.reconnect_max_s": 1, **overrides,
        },
    )
    return Agent(settings, SimulatedTracker(frequency_hz=settings.frequency_hz or 120.0))


@pytest.mark.parametrize("publish_hz", [20, 5])
def test_the_pipeline_loop_wakes_about_once_per_batch_while_the_broker_is_down(tmp_path, publish_hz):
    agent = unreachable_agent(tmp_path, publish_hz=publish_hz)
    passes = {"n": 0}
    step = agent._step

    def counted(*args):
        passes["n"] += 1
        return step(*args)

    agent._step = counted  # type: ignore[method-assign]
    batches_wanted = 15
    enough = threading.Event()
    original_flush = agent._flush_batch

    def flush():
        original_flush()
        if agent.next_batch_seq >= batches_wanted:
            enough.set()

    agent._flush_batch = flush  # type: ignore[method-assign]
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        assert enough.wait(30), "the agent made no batches"
    finally:
        agent.request_shutdown()
        runner.join(30)
    assert not runner.is_alive()
    assert not agent.link.connected.is_set()
    batches = agent.next_batch_seq
    assert agent.counters.samples_in > 0
    # One pass per batch, plus a few for tracker events and the 1 s housekeeping.
    assert passes["n"] <= 2 * batches + 10, f"{passes['n']} loop passes for {batches} batches: a busy loop"
