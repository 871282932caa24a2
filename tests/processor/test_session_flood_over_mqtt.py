"""A flood of made-up session ids through a real Mosquitto does not starve a real agent, and
the processor's retained status stays small (issue 9, item 8)."""

from __future__ import annotations

import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gazewire.wire.messages import ProcessorStatus
from tests.processor.streams import batch_payloads, mutate, simulated
from tests.support.lab_device import LabDevice

pytestmark = pytest.mark.broker

FLOOD = 10_000
FLOOD_BATCH = batch_payloads(simulated(0.2, seed=7).samples, sizes=6)[0]


def flood(broker, started: threading.Event, done: threading.Event) -> None:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="flood")
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for i in range(FLOOD):
            name = f"fake-{i:05d}"
            info = client.publish(f"lab/{name}/gaze/batch", mutate(FLOOD_BATCH, session=name), qos=1)
            if i % 500 == 499:
                info.wait_for_publish(30)  # a few hundred in flight at most
            if i == 3_000:
                started.set()
        info.wait_for_publish(30)
    finally:
        started.set()
        done.set()
        client.disconnect()
        client.loop_stop()


def test_a_real_agent_appearing_during_a_flood_has_its_samples_stored_at_once(
    broker, start_processor, start_inprocess_agent, tmp_path
):
    runner = start_processor(lineprotocol_dir=tmp_path / "lp")  # max_sessions 1000 (the default)
    started, done = threading.Event(), threading.Event()
    thread = threading.Thread(target=flood, args=(broker, started, done), daemon=True)
    thread.start()
    assert started.wait(60)
    start_inprocess_agent("real-agent")

    def real_samples() -> int:
        session = runner.processor.dispatcher.sessions.get("real-agent")
        return session.counters.samples if session is not None else 0

    # Before: refused (too_many_sessions, counted under _other) until a made-up session had been
    # idle for a minute. Now the agent's first batch is taken while the flood still runs.
    runner.wait_for(lambda: real_samples() > 0, timeout_s=30, what="the real agent's samples stored")
    thread.join(120)
    assert done.is_set()
    runner.wait_for(lambda: runner.counters()["sessions_forgotten"] > 0, what="made-up sessions forgotten")
    counters = runner.counters()
    assert counters["bad_input_too_many_sessions"] == 0 and counters["sessions"] <= 1000
    assert "real-agent" in runner.processor.dispatcher.sessions

    device = LabDevice(broker.host, broker.port, ["lab/_sys/processor/test-processor/status"])
    try:
        seen = device.wait_for(
            lambda messages: [m for m in messages if "real-agent" in ProcessorStatus.model_validate_json(m.payload).sessions],
            timeout_s=20, what="a processor status that lists the real agent",
        )
    finally:
        device.close()
    size = len(seen[-1].payload)
    assert size < 64_000, f"the retained processor status is {size} bytes"
