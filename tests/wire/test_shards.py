"""Shards: which of n processors takes a session (stable across hosts and Python versions), and
whether a processor's status says it takes a session (what agents read for custody)."""

from __future__ import annotations

import zlib

import pytest

from gazewire.wire.messages import ProcessorStatus
from gazewire.wire.sessions import parse_shard, session_shard, shard_takes


def test_a_session_s_shard_is_its_crc32_modulo_n_plus_one():
    assert session_shard("P07", 2) == zlib.crc32(b"P07") % 2 + 1
    assert session_shard("P07", 1) == 1
    assert {session_shard(f"room-{i}", 4) for i in range(200)} == {1, 2, 3, 4}  # every shard gets some


def test_every_session_is_taken_by_exactly_one_shard():
    for i in range(300):
        session = f"s{i}"
        assert sum(shard_takes(f"{k}/3", session) for k in (1, 2, 3)) == 1
        assert shard_takes(None, session)


@pytest.mark.parametrize("text, expected", [("1/2", (1, 2)), (" 2/2 ", (2, 2)), ("3/10", (3, 10))])
def test_shards_read_as_k_of_n(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "1/0", "a/b", "-1/2", "1/2/3", ""])
def test_bad_shards_are_refused_with_the_reason(text):
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


def status(**fields) -> ProcessorStatus:
    return ProcessorStatus(processor="p", state="online", utc="2026-01-01T00:00:00Z", version="1", host="h", **fields)


def test_a_processor_serves_the_sessions_of_its_shard_and_its_list_only():
    mine = next(f"s{i}" for i in range(100) if session_shard(f"s{i}", 2) == 1)
    other = next(f"s{i}" for i in range(100) if session_shard(f"s{i}", 2) == 2)
    assert status().serves(mine) and status().serves(other)
    assert status(shard="1/2").serves(mine) and not status(shard="1/2").serves(other)
    assert status(serves_sessions=[mine]).serves(mine) and not status(serves_sessions=[mine]).serves(other)
    assert status(shared_group="lab").serves(other)  # the broker decides which member takes it
    assert not status(shard="nonsense").serves(mine)


def test_a_status_without_the_new_fields_serves_every_session():
    old = ProcessorStatus.model_validate_json(
        b'{"v":1,"processor":"p","state":"online","utc":"2026-01-01T00:00:00Z","version":"0.9","host":"h"}'
    )
    assert old.shard is None and old.serves("anything")
