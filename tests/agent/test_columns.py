"""The pipeline on runs of samples (columns) gives what it gives sample by sample.

The agent takes the SDK's dictionaries a tick at a time and works on them as
numpy columns (gazewire.agent.pipeline.columns); the per-sample functions
(combine_eyes, SampleGaps.missing_before, gaze_row through csv.writer) are the
reference: any run, any split of it into runs, must give the same numbers,
rows and batches.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gazewire.agent.config import AgentSettings
from gazewire.agent.inputs.gaze_model import GazeSimulator
from gazewire.agent.inputs.sdk import GAZE_KEYS, GazeDict
from gazewire.agent.pipeline.batch import BatchBuilder
from gazewire.agent.pipeline.columns import GazeColumns
from gazewire.agent.pipeline.combine import EYE_NAMES, combine_columns, combine_eyes
from gazewire.agent.pipeline.gaps import SampleGaps
from gazewire.agent.recording_format import _REPR_MAY_DIFFER, gaze_row, gaze_rows_csv
from gazewire.agent.runtime import Agent
from gazewire.settings import load_settings
from gazewire.wire.messages import GazeBatch, parse_message

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-1e-4, max_value=1e-4),  # written with an exponent by one encoder or the other
    st.sampled_from([0.0, -0.0, 0.5, 1e16, 1e-7]),
)


@st.composite
def sdk_samples(draw) -> GazeDict:
    sample: GazeDict = {
        "device_time_stamp": draw(st.integers(0, 2**62)),
        "system_time_stamp": draw(st.integers(0, 2**62)),
    }
    for side in ("left", "right"):
        sample[f"{side}_gaze_point_on_display_area"] = (draw(numbers), draw(numbers))
        sample[f"{side}_gaze_point_in_user_coordinate_system"] = (draw(numbers), draw(numbers), draw(numbers))
        sample[f"{side}_gaze_point_validity"] = draw(st.sampled_from([0, 1]))
        sample[f"{side}_pupil_diameter"] = draw(numbers)
        sample[f"{side}_pupil_validity"] = draw(st.sampled_from([0, 1]))
        sample[f"{side}_gaze_origin_in_user_coordinate_system"] = (draw(numbers), draw(numbers), draw(numbers))
        sample[f"{side}_gaze_origin_validity"] = draw(st.sampled_from([0, 1]))
    return sample


def splits(total: int, cuts: list[int]) -> list[tuple[int, int]]:
    bounds = sorted({0, total, *(c % (total + 1) for c in cuts)})
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def same_number(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@settings(max_examples=200, deadline=None)
@given(st.lists(sdk_samples(), min_size=1, max_size=12))
def test_combining_columns_gives_what_combine_eyes_gives_each_sample(samples: list[GazeDict]) -> None:
    columns = GazeColumns.from_samples(samples)
    combined = combine_columns(columns.left, columns.right)
    for index, sample in enumerate(samples):
        one = combine_eyes(sample)
        assert EYE_NAMES[combined.eye[index]] == one.eye
        assert same_number(float(combined.x[index]), one.x) and same_number(float(combined.y[index]), one.y)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([None, 60.0, 120.0, 300.0, 1200.0]),
    st.lists(st.sampled_from([833, 834, 1250, 1251, 2500, 4999, 10**6, -5000]), min_size=1, max_size=40),
    st.lists(st.integers(0, 40), max_size=6),
    st.booleans(),
)
def test_holes_counted_on_a_run_are_those_counted_sample_by_sample(rate, steps, cuts, warm) -> None:
    times = (10**9 + np.cumsum(steps)).tolist()
    one_by_one, in_runs = SampleGaps(rate), SampleGaps(rate)
    if warm:
        one_by_one.missing_before(10**9 - 10**6)
        in_runs.missing_before(10**9 - 10**6)
    expected = [one_by_one.missing_before(t) for t in times]
    got: list[int] = []
    for a, b in splits(len(times), cuts):
        got += in_runs.missing_in(np.array(times[a:b], dtype=np.int64)).tolist()
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(sdk_samples(), min_size=1, max_size=10), st.integers(0, 10**6))
def test_the_csv_rows_of_a_run_are_byte_for_byte_csv_writer_s_rows_of_each_sample(samples, first_seq) -> None:
    utc = [s["system_time_stamp"] + 17 for s in samples]
    reference = io.StringIO()
    writer = csv.writer(reference)
    for index, sample in enumerate(samples):
        writer.writerow(gaze_row(first_seq + index, utc[index], sample, combine_eyes(sample)))
    columns = GazeColumns.from_samples(samples)
    text = gaze_rows_csv(first_seq, np.array(utc, dtype=np.int64), columns, combine_columns(columns.left, columns.right))
    assert text == reference.getvalue()  # byte for byte, tiny numbers (1e-05) included


def test_orjson_writes_every_double_as_repr_does_but_the_tiny_ones() -> None:
    """What gaze_rows_csv relies on: orjson's text of a double is repr's but for
    0 < |x| < 1e-4, and each of those holds a pattern of _REPR_MAY_DIFFER (such rows go
    through csv.writer). A new orjson that writes otherwise fails here rather than
    changing recordings."""
    rng = np.random.default_rng(12)
    doubles = rng.integers(0, 2**63, size=200_000, dtype=np.int64).view(np.float64)
    values = np.concatenate([
        doubles[np.isfinite(doubles)], -doubles[np.isfinite(doubles)][:1000], rng.uniform(-2000, 2000, 50_000),
        np.round(rng.uniform(-2, 2, 50_000), 4), 10.0 ** np.arange(-30, 30), [0.0, -0.0, 1e16, 1e-4, 5e-324],
    ]).tolist()
    texts = orjson.dumps(values).decode()[1:-1].split(",")
    differ = [(value, text) for value, text in zip(values, texts) if text != repr(value)]
    assert differ and all(0 < abs(value) < 1e-4 for value, _ in differ), differ[:5]
    patterns = [pattern.decode() for pattern in _REPR_MAY_DIFFER]
    assert all(any(pattern in text for pattern in patterns) for _, text in differ)


def test_the_csv_of_simulated_gaze_is_byte_for_byte_what_csv_writer_wrote() -> None:
    samples = GazeSimulator(1200.0, seed=2, blink_rate_per_min=60, dropout_rate_per_min=60).next_samples(3000)
    reference = io.StringIO()
    writer = csv.writer(reference)
    for seq, sample in enumerate(samples):
        writer.writerow(gaze_row(seq, seq + 5, sample, combine_eyes(sample)))
    text = ""
    for a, b in splits(len(samples), [7, 60, 61, 900, 2999]):
        columns = GazeColumns.from_samples(samples[a:b])
        utc = np.arange(a + 5, b + 5, dtype=np.int64)
        text += gaze_rows_csv(a, utc, columns, combine_columns(columns.left, columns.right))
    assert text == reference.getvalue()


@settings(max_examples=100, deadline=None)
@given(st.lists(sdk_samples(), min_size=1, max_size=12), st.lists(st.integers(0, 12), max_size=4))
def test_a_batch_built_from_runs_is_the_batch_built_sample_by_sample(samples, cuts) -> None:
    one_by_one, in_runs = BatchBuilder("P01", "SER", run="r"), BatchBuilder("P01", "SER", run="r")
    for index, sample in enumerate(samples):
        one_by_one.add(100 + index, 10**15 + index, sample, combine_eyes(sample))
    for a, b in splits(len(samples), cuts):
        columns = GazeColumns.from_samples(samples[a:b])
        utc = np.arange(10**15 + a, 10**15 + b, dtype=np.int64)
        in_runs.add_columns(100 + a, utc, columns, combine_columns(columns.left, columns.right))
    expected, _ = one_by_one.build(batch_seq=3, clock_offset_us=-4, sample_rate_hz=1200.0)
    payload, count = in_runs.build(batch_seq=3, clock_offset_us=-4, sample_rate_hz=1200.0)
    assert count == len(samples) and payload == expected
    batch = parse_message(GazeBatch, payload)  # valid per the contract: no NaN, every column full
    assert batch.columns.seq == list(range(100, 100 + len(samples)))
    decoded = json.loads(payload)["columns"]
    for index, sample in enumerate(samples):
        x, _ = sample["left_gaze_point_on_display_area"]
        assert same_number(decoded["left_x"][index], x if math.isfinite(x) else None)
        assert decoded["right_valid"][index] == sample["right_gaze_point_validity"]


def wrong(sample: GazeDict, key: str, value: object) -> GazeDict:
    broken = dict(sample)
    broken[key] = value
    return broken


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda s: {k: v for k, v in s.items() if k != "left_pupil_diameter"}, "left_pupil_diameter"),
        (lambda s: wrong(s, "right_gaze_origin_in_user_coordinate_system", (1.0, 2.0)), "right_gaze_origin"),
        (lambda s: wrong(s, "left_gaze_point_on_display_area", None), "left_gaze_point_on_display_area"),
        (lambda s: wrong(s, "right_pupil_diameter", "3.1"), "right_pupil_diameter"),
        (lambda s: wrong(s, "device_time_stamp", math.nan), "device_time_stamp"),
        (lambda s: wrong(s, "left_gaze_point_validity", (1, 1)), "left_gaze_point_validity"),
    ],
)
def test_a_malformed_sample_in_a_run_is_refused_naming_its_key(change, named: str) -> None:
    good = GazeSimulator(120.0, seed=1).next_samples(3)
    with pytest.raises((KeyError, ValueError), match=named):
        GazeColumns.from_samples([good[0], change(good[1]), good[2]])
    assert len(GazeColumns.from_samples(good)) == 3
    assert set(good[0]) == set(GAZE_KEYS)


class _QuietSource:
    """A source that delivers nothing by itself: the test hands the agent its samples and a
    marker in a known order (the simulated tracker's thread would make the order racy)."""

    name = "test"
    buffer_overflows = 0
    connection_losses = 0

    def start(self, events) -> None:
        pass

    def stop(self) -> None:
        pass

    def system_time_us(self) -> int:
        return time.monotonic_ns() // 1000


def test_a_marker_from_the_source_lands_between_the_samples_around_it(tmp_path) -> None:
    """The agent takes a tick's queue as runs of samples split at markers: a marker the
    source sent between samples 5 and 6 is the row between them in the CSV (before, the
    marker's handler took the rest of the queue first, so it came after sample 10)."""
    settings = load_settings(
        AgentSettings, overrides={"session": "order", "source": "simulated", "data_dir": str(tmp_path), "record": True}
    )
    agent = Agent(settings, _QuietSource())
    try:
        agent._measure_clock()
        samples = GazeSimulator(120.0, seed=3).next_samples(10)
        for sample in samples[:5]:
            agent.gaze(sample)
        agent.marker("between", samples[4]["system_time_stamp"] + 1)
        for sample in samples[5:]:
            agent.gaze(sample)
        agent._take_samples()
        agent._flush_batch()
        path = agent._writer.path
    finally:
        agent.outbox.close()
        agent.recordings.close()
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [row["kind"] for row in rows] == ["gaze"] * 5 + ["marker"] + ["gaze"] * 5
    assert rows[5]["marker"] == "between" and [row["seq"] for row in rows if row["seq"]] == [str(n) for n in range(10)]
