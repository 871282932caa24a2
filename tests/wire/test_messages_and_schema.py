import json

import jsonschema
import pytest
from pydantic import ValidationError

from gazewire.errors import InvalidCommand, InvalidPayload
from gazewire.wire.messages import (
    MESSAGES,
    AgentStatus,
    GazeBatch,
    LiveGaze,
    ProcessorStatus,
    parse_command,
    parse_message,
)
from gazewire.wire.schema import contract_schema, contract_schema_text
from tests.conftest import REPO


def test_schema_is_valid_draft_2020_12_and_covers_every_message():
    schema = contract_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for channel in MESSAGES:
        assert channel.replace("/", "_") in schema["$defs"]


def test_published_schema_file_is_up_to_date():
    published = (REPO / "docs" / "gazewire-v1.schema.json").read_text()
    assert published == contract_schema_text(), "run: gazewire schema > docs/gazewire-v1.schema.json"


def _validator(channel):
    schema = contract_schema()
    schema.pop("anyOf")
    schema["$ref"] = f"#/$defs/{channel.replace('/', '_')}"
    return jsonschema.Draft202012Validator(schema)


def test_schema_and_model_agree_on_a_command():
    good = {"command": "marker", "name": "stimulus_on", "id": "1"}
    assert not list(_validator("cmd").iter_errors(good))
    assert parse_command(json.dumps(good)).name == "stimulus_on"
    bad = {"command": "explode"}
    assert list(_validator("cmd").iter_errors(bad))
    with pytest.raises(InvalidCommand, match="command"):
        parse_command(json.dumps(bad))


@pytest.mark.parametrize(
    "payload, fragment",
    [
        (b"not json", "Invalid JSON"),
        (b'{"command": "marker"}', "marker needs a 'name'"),
        (b'{"command": "ping", "name": "x"}', "takes no"),
        (b'{"command": "marker", "name": "x", "utc_ns": -5}', "utc_ns"),
        (b'{"command": "start", "extra": 1}', "extra"),
        (b'[1, 2]', "payload"),
    ],
)
def test_bad_commands_name_the_problem(payload, fragment):
    with pytest.raises(InvalidCommand) as caught:
        parse_command(payload)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "utc_ns",
    [b"0", b"1", b"-5", b"1e30", b"1795342530123456789.0", b"1.5", b"true", b'"1795342530123456789"',
     b"1000000000000000000000000000000", b"946684799999999999", b"4102444800000000000"],
)
def test_a_marker_time_must_be_integer_nanoseconds_of_this_century(utc_ns):
    """0 and 1 were 1970 markers, 1e30 a traceback, floats lost the nanoseconds."""
    payload = b'{"command": "marker", "name": "x", "utc_ns": ' + utc_ns + b"}"
    with pytest.raises(InvalidCommand) as caught:
        parse_command(payload)
    assert str(caught.value).startswith("utc_ns: ") and "UTC nanoseconds from 2000 to 2099" in str(caught.value)
    if utc_ns != b"1795342530123456789.0":  # JSON Schema counts a float with no fraction as an integer
        assert list(_validator("cmd").iter_errors(json.loads(payload))), "the schema refuses it too"


@pytest.mark.parametrize("utc_ns", [946684800000000000, 1795342530123456789, 4102444799999999999])
def test_a_marker_time_of_this_century_is_taken_as_is(utc_ns):
    payload = json.dumps({"command": "marker", "name": "x", "utc_ns": utc_ns})
    assert parse_command(payload).utc_ns == utc_ns
    assert not list(_validator("cmd").iter_errors(json.loads(payload)))


def test_batch_validation_catches_ragged_columns_and_non_finite_values():
    columns = {name: [] for name in GazeBatch.model_fields["columns"].annotation.model_fields}
    base = {"session": "s", "device": "d", "batch_seq": 0, "first_seq": 0, "clock_offset_us": 0, "columns": columns}
    assert parse_message(GazeBatch, json.dumps({**base, "count": 0})).count == 0
    with pytest.raises(InvalidPayload) as caught:
        parse_message(GazeBatch, json.dumps({**base, "count": 1}))
    assert "count is 1" in str(caught.value)
    with pytest.raises(InvalidPayload) as caught:
        parse_message(GazeBatch, json.dumps({**base, "count": 0, "clock_offset_us": float("nan")}))
    assert caught.value.kind == "non_finite"
    with pytest.raises(InvalidPayload) as caught:
        parse_message(GazeBatch, json.dumps({**base, "count": 0, "v": 2}))
    assert caught.value.kind == "version"
    with pytest.raises(InvalidPayload) as caught:
        parse_message(GazeBatch, b"{")
    assert caught.value.kind == "json"


def test_live_gaze_refuses_nan_positions():
    message = {
        "session": "s", "device": "d", "seq": 0, "sample_seq": 0, "utc": "x", "utc_us": 0,
        "device_time_us": 0, "system_time_us": 0, "x": "NaN", "y": 0.5, "eye": "both",
        "left_pupil": None, "right_pupil": None, "pupil": None, "samples": 1,
    }
    with pytest.raises(ValidationError, match="finite number"):
        LiveGaze.model_validate(message)


def test_both_statuses_answer_to_one_name_for_the_gazewire_version_and_keep_their_v1_fields():
    agent = AgentStatus(session="P01", state="online", utc=None, agent_version="1.2.0", host="pc")
    processor = ProcessorStatus(processor="main", state="online", utc=None, version="1.3.0", host="server")
    assert (agent.gazewire_version, processor.gazewire_version) == ("1.2.0", "1.3.0")
    agent_json, processor_json = json.loads(agent.to_json()), json.loads(processor.to_json())
    assert agent_json["agent_version"] == "1.2.0" and "gazewire_version" not in agent_json
    assert processor_json["version"] == "1.3.0" and "gazewire_version" not in processor_json
