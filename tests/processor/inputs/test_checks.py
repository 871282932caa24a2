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


@pytest.mark.parametrize("where", ["first", "last", "all", "alone"])
def test_missing_values_anywhere_leave_the_others_checked(monkeypatch, where):
    monkeypatch.setitem(checks.COLUMN_RANGES, "x", Range(-10, 10, "is not on or near the display"))
    n = 1 if where == "alone" else N
    for bad in (None, 50.0):
        x = [0.5] * n
        if where in ("first", "alone"):
            x[0] = None
        elif where == "last":
            x[-1] = None
        else:
            x = [None] * n
        if bad is not None and where not in ("all", "alone"):
            x[n // 2] = bad
        payload = json.loads(FIRST)
        if n == 1:  # one sample: every column one long
            payload["count"] = 1
            payload["columns"] = {name: values[:1] for name, values in payload["columns"].items()}
        payload["columns"]["x"] = x
        batch = parse(json.dumps(payload).encode())
        if bad is None or where in ("all", "alone"):
            check_message(batch, "s1")
        else:
            with pytest.raises(BadInput, match="columns.x: a value is not on or near the display"):
                check_message(batch, "s1")


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


# --------------------------------------------------------------------------- implausible values (issue 9, item 7)

NOW_US = 1_700_000_000_000_000 + 3_600_000_000  # the processor's clock: an hour after the stream
YEAR_US = 365 * 86_400 * 1_000_000


def shifted(column: str, by: int) -> dict:
    return {f"columns.{column}": [value + by for value in json.loads(FIRST)["columns"][column]]}


def with_first(column: str, value) -> dict:
    values = json.loads(FIRST)["columns"][column]
    return {f"columns.{column}": [value, *values[1:]]}


IMPLAUSIBLE = [
    # (changes, the message's start) - each refused as out_of_range, naming the field
    (shifted("utc_us", -86 * YEAR_US), "columns.utc_us: a value is not a time from 2000 to 2099"),  # 1938
    (shifted("utc_us", 203 * YEAR_US), "columns.utc_us: a value is not a time from 2000 to 2099"),  # 2226
    (shifted("utc_us", 2 * 86_400_000_000), "columns.utc_us: a time 47.0 h ahead of the processor's clock"),
    (with_first("x", 1e308), "columns.x: a value is not on or near the display"),
    (with_first("right_y", -11.0), "columns.right_y: a value is not on or near the display"),
    (with_first("left_pupil", -5.0), "columns.left_pupil: a value is not a pupil diameter"),
    (with_first("right_pupil", 12.0), "columns.right_pupil: a value is not a pupil diameter"),
    (with_first("left_origin_z", -600.0), "columns.left_origin_z: a value is not within the tracker's reach"),
    (with_first("right_origin_x", 5000.0), "columns.right_origin_x: a value is not within the tracker's reach"),
    ({"device": "x" * 100_000}, "device is 100000 characters long, more than 128"),
    ({"device": "TPSP1\r-1"}, "device holds the control character U+000D at 5"),
    ({"device": "TPSP1\n-1"}, "device holds the control character U+000A at 5"),
]


@pytest.mark.parametrize("changes, message", IMPLAUSIBLE, ids=[m.split(":")[0].split(" ")[0] + f"-{i}" for i, (_, m) in enumerate(IMPLAUSIBLE)])
def test_implausible_values_are_refused_per_field(changes, message):
    with pytest.raises(BadInput) as refused:
        check_message(parse(mutate(FIRST, **changes)), "s1", now_utc_us=NOW_US)
    assert refused.value.kind is BadInputKind.OUT_OF_RANGE
    assert str(refused.value).startswith(message), str(refused.value)


def test_plausible_extremes_pass():
    """Gaze off the display, small and large pupils, a clock some hours ahead: kept."""
    changes = {
        **with_first("x", -1.5),
        **with_first("left_pupil", 1.2),
        **with_first("right_pupil", 9.5),
        **with_first("left_origin_z", 1200.0),
    }
    check_message(parse(mutate(FIRST, **changes)), "s1", now_utc_us=NOW_US)
    check_message(parse(mutate(FIRST, **shifted("utc_us", 14 * 3_600_000_000))), "s1", now_utc_us=NOW_US)


@pytest.mark.parametrize(
    "utc_ns, message",
    [
        (0, "utc_ns 0 is not a time from 2000 to 2099"),
        (10**30, "utc_ns 1000000000000000000000000000000 is not a time from 2000 to 2099"),
        ((NOW_US + 2 * 86_400_000_000) * 1000, "utc_ns: a time 48.0 h ahead of the processor's clock"),
    ],
)
def test_marker_times_are_moments_of_this_century_not_far_ahead(utc_ns, message):
    from gazewire.wire.messages import Marker

    marker = Marker(session="s1", name="stimulus_on", utc="2023-11-14T22:13:20Z", utc_ns=utc_ns)
    with pytest.raises(BadInput, match=message) as refused:
        check_message(marker, "s1", now_utc_us=NOW_US)
    assert refused.value.kind is BadInputKind.OUT_OF_RANGE


def test_marker_names_that_cannot_be_stored_as_they_came_are_refused():
    from gazewire.wire.messages import Marker

    marker = Marker(session="s1", name="trial 1\nblock 2", utc="2023-11-14T22:13:20Z", utc_ns=NOW_US * 1000)
    with pytest.raises(BadInput, match="name holds the control character U\\+000A at 7"):
        check_message(marker, "s1", now_utc_us=NOW_US)


# --------------------------------------------------------------------------- ranges checked while parsing


def _edges(allowed: Range, integer: bool) -> list:
    import math

    if integer:
        low, high = int(allowed.low), int(allowed.high)
        return [low - 1, low, low + 1, high - 1, high, high + 1]
    return [
        math.nextafter(allowed.low, -math.inf), allowed.low, math.nextafter(allowed.low, math.inf),
        math.nextafter(allowed.high, -math.inf), allowed.high, math.nextafter(allowed.high, math.inf),
    ]


@pytest.mark.parametrize("name", sorted(checks.COLUMN_RANGES))
def test_the_ranged_model_accepts_exactly_what_the_column_checks_accept(name):
    """RangedGazeBatch (the ranges as pydantic constraints, checked while parsing) is derived from
    COLUMN_RANGES: at and just beyond every bound, it accepts a batch if and only if the
    column checks of the contract's model do."""
    allowed = checks.COLUMN_RANGES[name]
    integer = name in ("seq", "device_time_us", "system_time_us", "utc_us")
    column = json.loads(FIRST)["columns"][name]
    for value in _edges(allowed, integer):
        for where in (0, len(column) - 1):
            values = list(column)
            values[where] = value
            payload = mutate(FIRST, **{f"columns.{name}": values})
            try:
                checks._check_column_ranges(parse(payload), "s1")
                in_range = True
            except (BadInput, ValueError):  # out of range, or not even a valid batch (seq)
                in_range = False
            try:
                checks.RangedGazeBatch.model_validate_json(payload)
                ranged = True
            except ValueError:
                ranged = False
            assert ranged == in_range, (name, value, where)


def test_a_batch_out_of_range_is_refused_as_before_by_the_parser():
    from gazewire.processor.inputs.payloads import PayloadParser
    from gazewire.wire.topics import Topics

    parser = PayloadParser(Topics("lab"), max_bytes=1_000_000)
    batch = parser("lab/s1/gaze/batch", FIRST).message
    assert isinstance(batch, checks.RangedGazeBatch)  # parsed with its ranges checked
    x = json.loads(FIRST)["columns"]["x"]
    with pytest.raises(BadInput) as refused:
        parser("lab/s1/gaze/batch", mutate(FIRST, **{"columns.x": [*x[:-1], 50.0]}))
    assert refused.value.kind is BadInputKind.OUT_OF_RANGE
    assert str(refused.value) == "columns.x: a value is not on or near the display (-10..11)"
    assert refused.value.refused is not None and refused.value.refused.count == N  # its numbers are known
