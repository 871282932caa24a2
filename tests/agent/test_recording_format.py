"""gazewire.agent.recording_format: what the recorder writes, the replay
source reads back unchanged (pure, through CSV text; the end-to-end replay is
in test_data_loss_accounting.py)."""

from __future__ import annotations

import csv
import io
import math

from gazewire.agent.inputs.gaze_model import GazeSimulator
from gazewire.agent.pipeline.combine import combine_eyes
from gazewire.agent.recording_format import (
    MARKER,
    RECORDING_COLUMNS,
    gaze_row,
    marker_row,
    missing_columns,
    sdk_dict_from_row,
)


def same(a: object, b: object) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and type(a) is type(b)


def through_csv(rows: list[list]) -> list[dict[str, str]]:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(RECORDING_COLUMNS)
    writer.writerows(rows)
    return list(csv.DictReader(io.StringIO(text.getvalue())))


def test_samples_come_back_as_the_sdk_gave_them_invalid_eyes_included():
    samples = GazeSimulator(frequency_hz=120, seed=4, blink_rate_per_min=60, dropout_rate_per_min=60).next_samples(2000)
    assert any(s["left_gaze_point_validity"] == 0 for s in samples), "the test needs invalid eyes"
    rows = through_csv([gaze_row(seq, 1_000 + seq, s, combine_eyes(s)) for seq, s in enumerate(samples)])
    for sample, row in zip(samples, rows, strict=True):
        back = sdk_dict_from_row(row)
        assert back.keys() == sample.keys()
        for key in sample:
            assert same(back[key], sample[key]), key
        assert "nan" not in ",".join(row.values()).lower(), "invalid values are empty cells"


def test_a_marker_row_keeps_its_name_and_times():
    (row,) = through_csv([marker_row("stimulus_on", 1_700_000_000_000_000, 42)])
    assert row["kind"] == MARKER and row["marker"] == "stimulus_on"
    assert row["utc_us"] == "1700000000000000" and row["system_time_stamp"] == "42"
    (untimed,) = through_csv([marker_row("late", 5, None)])
    assert untimed["system_time_stamp"] == ""


def test_a_foreign_csv_is_named_by_its_missing_columns():
    assert missing_columns(RECORDING_COLUMNS) == []
    assert missing_columns(["time", "x", "y"])[:3] == ["kind", "seq", "utc_us"]
