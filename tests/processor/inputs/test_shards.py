"""A processor with a shard handles only its sessions: the others' messages are counted as
other_shard_messages (not bad input) and produce nothing; its subscriptions are shared ones
with shared_group; the settings refuse what cannot work."""

from __future__ import annotations

import pytest

from gazewire.processor.config import ProcessorSettings
from gazewire.processor.runtime import Processor
from gazewire.settings import SettingsError, load_settings
from gazewire.wire.sessions import session_shard
from tests.processor.streams import batch_payloads, make_dispatcher, simulated, status_payload


def _sessions():
    mine = next(f"s{i}" for i in range(100) if session_shard(f"s{i}", 2) == 1)
    other = next(f"s{i}" for i in range(100) if session_shard(f"s{i}", 2) == 2)
    return mine, other


def test_the_other_shards_messages_are_counted_and_not_handled():
    mine, other = _sessions()
    d = make_dispatcher(ProcessorSettings(shard="1/2"))
    d._parse.shard = (1, 2)  # make_dispatcher builds the parser without the shard
    samples = simulated(2).samples
    for session in (mine, other):
        d.handle(f"lab/{session}/status", status_payload(session))
        for payload in batch_payloads(samples, session=session):
            outcome = d.handle(f"lab/{session}/gaze/batch", payload)
            assert bool(outcome.batches) == (session == mine)
    counters = d.counters()
    assert set(d.sessions) == {mine}
    assert counters["other_shard_messages"] == 1 + len(batch_payloads(samples, session=other))
    assert counters["bad_input"] == 0


def test_the_processor_parses_with_its_shard_and_says_so_in_its_status(tmp_path):
    settings = ProcessorSettings(shard="2/2", data_dir=tmp_path, processor_id="p")
    processor = Processor(settings)
    assert processor.dispatcher._parse.shard == (2, 2)
    status = processor.current_status()
    assert status.shard == "2/2" and status.shared_group is None and status.serves_sessions is None
    assert processor.link.subscriptions == ["lab/+/gaze/batch", "lab/+/status", "lab/+/events"]
    processor.journal.close()


def test_a_shared_group_subscribes_through_shared_subscriptions(tmp_path):
    settings = ProcessorSettings(shared_group="processors", data_dir=tmp_path, processor_id="p")
    processor = Processor(settings)
    assert processor.link.subscriptions == [
        "$share/processors/lab/+/gaze/batch", "$share/processors/lab/+/status", "$share/processors/lab/+/events",
    ]
    assert processor.current_status().shared_group == "processors"
    processor.journal.close()


@pytest.mark.parametrize("overrides, problem", [
    ({"shard": "3/2"}, "shard"),
    ({"shard": "half"}, "shard"),
    ({"shared_group": "a/b"}, "shared_group"),
    ({"shard": "1/2", "shared_group": "g"}, "not both"),
])
def test_bad_sharing_settings_are_refused(overrides, problem):
    with pytest.raises(SettingsError, match=problem):
        load_settings(ProcessorSettings, overrides=overrides)
