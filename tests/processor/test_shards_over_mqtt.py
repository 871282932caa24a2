"""Two processors share one lab by session (``shard = "1/2"`` and ``"2/2"``), on one real
Mosquitto, each with its own journal, with real agents (``gazewire agent run``, simulated
tracker) on four sessions: together they store every recorded sample exactly once - each
session wholly in the journal of the processor its hash names, nothing in the other's - and
every agent's custody is confirmed by the owning processor only, which the agents wait for
(their outboxes empty on custody, not on the broker's PUBACK)."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from gazewire.wire.messages import AgentStatus, Custody, ProcessorStatus
from gazewire.wire.sessions import session_shard
from tests.faults.lab import FaultBroker, Lab, lost_and_duplicated, wait_until
from tests.support.lab_device import LabDevice

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.timeout(240)]

SAMPLES = 900  # 3 s at 300 Hz, 30 batches per agent


def _sessions(tag: str) -> list[str]:
    """Four session ids, two for each shard."""
    found: dict[int, list[str]] = {1: [], 2: []}
    index = 0
    while min(len(v) for v in found.values()) < 2:
        name = f"shard-{tag}-{index}"
        shard = session_shard(name, 2)
        if len(found[shard]) < 2:
            found[shard].append(name)
        index += 1
    return found[1] + found[2]


class ShardedLab(Lab):
    """The fault lab with one processor per shard and one agent per session."""

    def __init__(self, directory, sessions: list[str]) -> None:
        super().__init__(directory)
        self.sessions = sessions
        self.tag = uuid.uuid4().hex[:6]

    def start(self) -> ShardedLab:
        self.broker.start()
        self.watcher = LabDevice(self.broker.host, self.broker.port, [
            "lab/+/status", "lab/+/gaze/custody", "lab/_sys/processor/+/status",
        ])
        return self

    def shard_processor(self, k: int):
        self.processor_id = f"p{k}-{self.tag}"
        self.processor_dir = self.directory / f"processor-{k}"
        return self.processor(GAZEWIRE_SHARD=f"{k}/2")

    def session_agent(self, session: str):
        self.session = session
        self.agent_dir = self.directory / f"agent-{session}"
        return self.agent(samples=SAMPLES)

    def status_of(self, processor_id: str) -> ProcessorStatus | None:
        assert self.watcher is not None
        topic = f"lab/_sys/processor/{processor_id}/status"
        found = [m for m in self.watcher.messages if m.topic == topic and json.loads(m.payload)["state"] == "online"]
        return ProcessorStatus.model_validate_json(found[-1].payload) if found else None

    def agent_status_of(self, session: str) -> AgentStatus | None:
        assert self.watcher is not None
        found = [m for m in self.watcher.messages if m.topic == f"lab/{session}/status"]
        return AgentStatus.model_validate_json(found[-1].payload) if found else None

    def custody_by(self) -> dict[str, set[str]]:
        """Which processors confirmed custody, per session."""
        assert self.watcher is not None
        by: dict[str, set[str]] = {}
        for message in self.watcher.messages:
            if message.topic.endswith("/gaze/custody"):
                custody = Custody.model_validate_json(message.payload)
                by.setdefault(custody.session, set()).add(custody.processor)
        return by


@pytest.fixture
def lab(tmp_path):
    lab = ShardedLab(tmp_path, _sessions(uuid.uuid4().hex[:6]))
    lab.broker = FaultBroker(tmp_path / "broker")
    lab.start()
    yield lab
    lab.close()


def test_two_processors_sharing_sessions_store_every_sample_once_and_confirm_only_their_own(lab):
    ids = {}
    for k in (1, 2):
        lab.shard_processor(k)
        ids[k] = lab.processor_id
    for k in (1, 2):
        wait_until(lambda k=k: lab.status_of(ids[k]) is not None, f"processor {k}/2 online", 60)
    agents = {session: lab.session_agent(session) for session in lab.sessions}

    for agent in agents.values():
        assert agent.wait(120) == 0, agent.log()[-3000:]
    owner = {session: session_shard(session, 2) for session in lab.sessions}
    for session in lab.sessions:  # every outbox emptied: the owner's custody confirmations came
        lab.session, lab.agent_dir = session, lab.directory / f"agent-{session}"
        wait_until(lambda: lab.outbox_depth() == 0, f"{session}'s outbox empty", 60)
        status = wait_until(lambda s=session: lab.agent_status_of(s), f"{session}'s status")
        assert status.custody == "processor", status
        assert status.counters.batches_confirmed > 0, status.counters

    for session in lab.sessions:
        lab.session, lab.agent_dir = session, lab.directory / f"agent-{session}"
        truth = lab.recorded()
        assert len(truth) == SAMPLES
        stored: dict[int, Counter[int]] = {}
        for k in (1, 2):
            lab.processor_dir = lab.directory / f"processor-{k}"
            stored[k] = lab.journaled()
        mine, other = stored[owner[session]], stored[3 - owner[session]]
        assert lost_and_duplicated(truth, mine) == (0, 0), session
        assert not other, f"{session} is shard {owner[session]}'s, but shard {3 - owner[session]} stored {len(other)}"

    custody = lab.custody_by()
    for session in lab.sessions:
        assert custody.get(session) == {ids[owner[session]]}, (session, custody)
    for k in (1, 2):
        status = wait_until(lambda k=k: lab.status_of(ids[k]), "a status")
        assert status.shard == f"{k}/2"
        assert set(status.sessions) == {s for s in lab.sessions if owner[s] == k}
        assert status.counters["other_shard_messages"] > 0
        assert status.counters["bad_input"] == 0


def test_an_agent_does_not_wait_for_custody_from_another_shards_processor(lab):
    """Only the processor of shard 2 runs: the agent of a shard-1 session must not take its
    online status as custody (it would keep every batch, waiting for a confirmation that never
    comes); the agent of a shard-2 session waits for it."""
    lab.shard_processor(2)
    processor = lab.processor_id
    wait_until(lambda: lab.status_of(processor) is not None, "processor 2/2 online", 60)
    first, second = lab.sessions[0], lab.sessions[2]  # shard 1's, shard 2's
    agents = {session: lab.session_agent(session) for session in (first, second)}
    for agent in agents.values():
        assert agent.wait(120) == 0, agent.log()[-3000:]
    status = wait_until(lambda: lab.agent_status_of(first), "the shard-1 agent's status")
    assert status.custody == "broker", status
    assert status.counters.batches_confirmed == 0
    status = wait_until(lambda: lab.agent_status_of(second), "the shard-2 agent's status")
    assert status.custody == "processor", status
    for session in (first, second):
        lab.session, lab.agent_dir = session, lab.directory / f"agent-{session}"
        wait_until(lambda: lab.outbox_depth() == 0, f"{session}'s outbox empty", 60)
    assert lab.custody_by() == {second: {processor}}
