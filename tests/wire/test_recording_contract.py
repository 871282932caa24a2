"""The recording part of the contract (issue 10): start/stop/annotate fields, their limits,
the recording id on every message, the clock on every reply. Model and schema agree."""

import json

import jsonschema
import pytest

from gazewire.errors import InvalidCommand
from gazewire.wire.messages import (
    MAX_METADATA_BYTES,
    AgentStatus,
    Alert,
    AoiEvent,
    CommandReply,
    FixationEvent,
    GazeBatch,
    LiveGaze,
    Marker,
    metadata_size,
    parse_command,
)
from gazewire.wire.schema import contract_schema


def _validator(channel):
    schema = contract_schema()
    schema.pop("anyOf")
    schema["$ref"] = f"#/$defs/{channel.replace('/', '_')}"
    return jsonschema.Draft202012Validator(schema)


GOOD = [
    {"command": "start"},
    {"command": "start", "id": "r1", "name": "reading task 2", "participant": "sub-01_ses.1",
     "metadata": {"group": "control", "age": "31", "note": ""}},
    {"command": "stop"},
    {"command": "stop", "recording": "20261130T101500Z-3f9a"},
    {"command": "annotate", "metadata": {"calibration": "good"}},
    {"command": "annotate", "metadata": {"k": "v"}, "recording": "20261130T101500Z-3f9a"},
    {"command": "marker", "name": "x", "utc_ns": 1795342530123456789},
    {"command": "ping"},
]


@pytest.mark.parametrize("command", GOOD, ids=lambda c: c["command"] + "-" + "-".join(sorted(c)))
def test_model_and_schema_take_the_recording_commands(command):
    assert not list(_validator("cmd").iter_errors(command))
    parsed = parse_command(json.dumps(command))
    assert parsed.model_dump(exclude_none=True, exclude={"v"}) == command


BAD = [
    ({"command": "start", "participant": "P 01"}, "participant: 'P 01' contains ' '; allowed are letters"),
    ({"command": "start", "participant": ""}, "participant: must not be empty"),
    ({"command": "start", "participant": "p" * 65}, "participant: is 65 characters long; at most 64"),
    ({"command": "start", "participant": 7}, "participant: must be text, not int"),
    ({"command": "start", "participant": "Pé"}, "participant: 'Pé' contains 'é'"),
    ({"command": "start", "metadata": {"age": 31}}, "metadata: value of 'age' must be text (a JSON string), not int"),
    ({"command": "start", "metadata": ["a"]}, "metadata: must be an object of text keys and text values, not list"),
    ({"command": "start", "metadata": {"": "x"}}, "metadata: keys must not be empty"),
    ({"command": "start", "metadata": {"k" * 65: "x"}}, "metadata: key 'kkkkkkkkkkkkkkkkkkkk'... is 65 characters"),
    ({"command": "start", "metadata": {"k": "v" * 1025}}, "metadata: value of 'k' is 1025 characters long; at most 1024"),
    ({"command": "start", "metadata": {f"k{i}": "v" for i in range(33)}}, "metadata: has 33 keys; at most 32"),
    ({"command": "start", "metadata": {f"key{i:02}": "é" * 200 for i in range(32)}}, "metadata: is 13"),
    ({"command": "start", "recording": "x"}, "'start' takes no 'recording' (only 'id', 'name', 'participant', 'metadata')"),
    ({"command": "start", "utc_ns": 1795342530123456789}, "'start' takes no 'utc_ns'"),
    ({"command": "stop", "name": "x"}, "'stop' takes no 'name' (only 'id', 'recording')"),
    ({"command": "stop", "recording": "a/b"}, "recording: 'a/b' contains '/'"),
    ({"command": "annotate"}, "annotate needs 'metadata' with at least one key"),
    ({"command": "annotate", "metadata": {}}, "annotate needs 'metadata' with at least one key"),
    ({"command": "annotate", "metadata": {"a": "b"}, "participant": "P1"}, "'annotate' takes no 'participant'"),
    ({"command": "marker", "name": "x", "recording": "r"}, "'marker' takes no 'recording'"),
    ({"command": "ping", "metadata": {"a": "b"}}, "'ping' takes no 'metadata' (only 'id')"),
]


@pytest.mark.parametrize("command, message", BAD, ids=[message[:40] for _, message in BAD])
def test_bad_recording_commands_are_refused_with_one_precise_line(command, message):
    with pytest.raises(InvalidCommand) as caught:
        parse_command(json.dumps(command))
    text = str(caught.value)
    assert message in text and "\n" not in text and "Value error" not in text
    assert "more problem" not in text


def test_the_schema_refuses_what_it_can_express():
    """Charset, lengths and key counts are in the schema; the 8 kB total and 'which command
    takes which field' only in the model (JSON Schema cannot say them simply)."""
    validator = _validator("cmd")
    for command, _ in BAD[:11]:
        if command.get("participant") == "Pé":
            continue  # the schema's pattern is ASCII too, but a JSON Schema regex engine may differ
        assert list(validator.iter_errors(command)), command


def test_metadata_limit_counts_utf8_bytes_of_compact_json():
    fits = {f"key{i:02}": "é" * 120 for i in range(32)}  # 32 * (2 * 120 + 12) bytes
    assert metadata_size(fits) <= MAX_METADATA_BYTES
    assert parse_command(json.dumps({"command": "start", "metadata": fits})).metadata == fits


def test_every_message_of_a_recording_carries_its_id_and_old_messages_read_as_none():
    rid = "20261130T101500Z-3f9a"
    for model in (LiveGaze, GazeBatch, Marker, FixationEvent, Alert, AoiEvent):
        field = model.model_fields["recording"]
        assert field.default is None, model
    old_marker = Marker.model_validate_json(
        '{"v":1,"session":"P07","name":"x","utc":"2026-11-30T10:15:00Z","utc_ns":1795342530123456789}'
    )
    assert old_marker.recording is None
    status = AgentStatus.model_validate(
        {"session": "P07", "state": "tracking", "utc": None, "agent_version": "x", "host": "h",
         "recording": {"id": rid, "name": "n", "participant": "P1", "metadata": {"a": "b"},
                       "started_utc": "2026-11-30T10:15:00Z", "samples": 5}}
    )
    assert status.recording is not None and status.recording.id == rid
    assert not list(_validator("status").iter_errors(json.loads(status.to_json())))
    with pytest.raises(ValueError):
        Marker(session="P07", name="x", utc="u", utc_ns=1, recording="a b")


def test_every_reply_may_carry_the_agents_clock():
    reply = CommandReply(session="P07", ok=True, utc="2026-11-30T10:15:00Z",
                         received_utc_ns=1795342530123456789, sent_utc_ns=1795342530123499999)
    assert not list(_validator("cmd/reply").iter_errors(json.loads(reply.to_json())))
    assert CommandReply.model_validate_json('{"v":1,"session":"P07","ok":true,"utc":"u"}').sent_utc_ns is None
