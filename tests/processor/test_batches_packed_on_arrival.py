"""Gaze batches are compressed for the journal on paho's thread as they arrive (beside the
processing thread), and the journal holds each byte for byte as the agent sent it. Real broker,
real agent, real journal."""

from __future__ import annotations

import threading
import uuid

from gazewire.processor.journal import RecordKind
from tests.support.lab_device import LabDevice


def test_batches_packed_on_arrival_are_stored_byte_for_byte(
    broker, lab_devices, start_processor, start_inprocess_agent
):
    session = "packed-" + uuid.uuid4().hex[:6]
    lab = LabDevice(broker.host, broker.port, [f"lab/{session}/gaze/batch"])
    lab_devices.append(lab)
    processor = start_processor()
    link = processor.processor.link
    packed_on: list[tuple[str, str]] = []
    prepare = link.prepare

    def watched(topic: str, payload: bytes):
        result = prepare(topic, payload)
        if result is not None:
            packed_on.append((topic, threading.current_thread().name))
        return result

    link.prepare = watched
    samples = 120 * 5
    agent = start_inprocess_agent(session, seed=4, limit=samples, speed=5.0)
    agent.wait_finished()
    processor.wait_for(lambda: processor.counters()["samples"] >= samples, what="all samples processed")
    lab.wait_for(lambda ms: len({m.payload for m in ms}) == processor.counters()["batches"], what="every batch seen")

    sent = {m.payload for m in lab.messages}
    stored = [r.body for r in processor.processor.journal.read_session(session, kinds=[RecordKind.BATCH])]
    assert sorted(stored) == sorted(sent)
    assert {topic for topic, _ in packed_on} == {f"lab/{session}/gaze/batch"}  # batches only, not statuses
    assert len(packed_on) >= len(sent)
    assert all(name.startswith("paho") for _, name in packed_on)
