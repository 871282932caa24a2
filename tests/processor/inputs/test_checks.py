"""The stateless checks of inputs/checks.py, one table per kind of field: a range added there
is applied, whatever the field (header or column, integer or float with missing values)."""

from __future__ import annotations

import json

import pytest

from gazewire.processor.inputs import checks
from gazewire.processor.inputs.checks import Range, check_message
from gazewire.processor.pipeline.bad_input import BadInput, BadInputKind
from tests.processor.streams import batch_payloads, mutate, parse, simulated

FIRST = batch_payloads(simulated(1, seed=3).samples)[0]
N = json.loads(FIRST)["count"]


def test_a_checked_batch_passes():
    check_message(parse(FIRST), "s1")


def test_a_column_range_applies_to_every_value_and_skips_missing_ones(monkeypatch):
    monkeypatch.setitem(checks.COLUMN_RANGES, "x", Range(-10, 10, "is not on or near the display"))
    x = [None] + [0.5] * (N - 1)
    check_message(parse(mutate(FIRST, **{"columns.x": x})), "s1")
    with pytest.raises(BadInput) as refused:
        check_message(parse(mutate(FIRST, **{"columns.x": [*x[:-1], 50.0]})), "s1")
    assert refused.value.kind is BadInputKind.OUT_OF_RANGE
    assert str(refused.value) == "columns.x: a value is not on or near the display"


def test_a_header_range_names_the_field_and_its_value():
    with pytest.raises(BadInput, match=r"^sample_rate_hz 0\.0 is not a tracker rate$") as refused:
        check_message(parse(mutate(FIRST, sample_rate_hz=0.0)), "s1")
    assert refused.value.kind is BadInputKind.OUT_OF_RANGE and refused.value.session == "s1"
    check_message(parse(mutate(FIRST, sample_rate_hz=None)), "s1")  # absent: nothing to check


@pytest.mark.parametrize(
    "changes, kind, message",
    [
        ({"batch_seq": 2**62 + 1}, BadInputKind.OUT_OF_RANGE, f"batch_seq: {2**62 + 1} is out of range"),
        ({"columns.seq": [0, 0, *range(2, N)]}, BadInputKind.SCHEMA, "columns.seq does not count up by one"),
        ({"columns.system_time_us": [1, *range(1, N)]}, BadInputKind.TIME_BACKWARDS, "system_time_us goes from 1 to 1"),
    ],
)
def test_each_check_names_its_problem(changes, kind, message):
    with pytest.raises(BadInput, match=message) as refused:
        check_message(parse(mutate(FIRST, **changes)), "s1")
    assert refused.value.kind is kind
