"""Measurement names defined once, line protocol, and the line-protocol files sink."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gazewire.processor.outputs.sink import SinkUnavailable
from gazewire.processor.outputs.files import LineProtocolFiles
from gazewire.processor.outputs.lineprotocol import EmptyPointError, encode_line
from gazewire.processor.outputs.measurements import GAZE, MEASUREMENTS, UnknownNameError, markdown_table, measurement
from gazewire.processor.outputs.points import points_of
from tests.processor.streams import batch_payloads, dispatcher, feed, parse, simulated, status_payload

REPO = Path(__file__).resolve().parents[3]


def test_line_protocol_escapes_and_leaves_out_missing_values():
    line = encode_line(
        "gaze",
        {"session": "s 1", "device": "TX,300=a", "empty": ""},
        {"x": 0.5, "seq": 7, "eye": 'say "hi"\\', "valid": True, "gone": None, "nan": float("nan")},
        1_700_000_000_123_456,
    )
    assert line == (
        'gaze,device=TX\\,300\\=a,session=s\\ 1 x=0.5,seq=7i,eye="say \\"hi\\"\\\\",valid=true 1700000000123456'
    )
    with pytest.raises(EmptyPointError):
        encode_line("gaze", {}, {"x": None}, 1)


def test_floats_infinities_and_cached_heads():
    fields = {"a": float("inf"), "b": float("-inf"), "c": 1.5, "d": 0.0, "e": 3, "f": False}
    assert encode_line("m", {"s": "x y"}, fields, 5) == "m,s=x\\ y c=1.5,d=0.0,e=3i,f=false 5"
    # heads are cached per (measurement, tags): another tag value is another head
    assert encode_line("m", {"s": "z"}, {"c": 2.0}, 6) == "m,s=z c=2.0 6"
    assert encode_line("m", {"s": "", "t": "u"}, {"c": 2.0}, 6) == "m,t=u c=2.0 6"


def test_points_only_use_names_their_measurement_defines():
    with pytest.raises(UnknownNameError, match="pupil_size"):
        GAZE.point(1, {"session": "s"}, {"pupil_size": 3.0})
    with pytest.raises(UnknownNameError):
        measurement("gazes")
    assert len({m.name for m in MEASUREMENTS}) == len(MEASUREMENTS)


def test_the_docs_storage_table_is_generated_from_the_definitions():
    doc = (REPO / "docs" / "processor.md").read_text()
    assert markdown_table() in doc, "docs/processor.md: paste gazewire.processor.outputs.measurements.markdown_table()"


def test_a_batch_gives_one_gaze_point_per_sample_with_the_samples_values_and_the_same_lines_twice():
    payloads = batch_payloads(simulated(3, seed=1).samples)
    d = dispatcher(long_fixation_s=0.2)
    feed(d, [status_payload()], channel="status")
    first = feed(d, payloads)
    gaze = [p for p in points_of(first) if p.measurement == "gaze"]
    batches = [parse(p) for p in payloads]
    assert [p.time_us for p in gaze] == [u for b in batches for u in b.columns.utc_us]
    by_time = {p.time_us: p for p in gaze}
    for batch in batches:
        c = batch.columns
        for i in range(batch.count):
            point = by_time[c.utc_us[i]]
            assert point.tags == {"session": "s1", "device": "SIM-1"}
            assert point.fields["seq"] == c.seq[i] and point.fields["x"] == c.x[i] and point.fields["left_pupil"] == c.left_pupil[i]
            assert point.fields["valid"] == int(c.x[i] is not None)
    kinds = {p.measurement for p in points_of(first)}
    assert {"gaze", "fixation", "alert"} <= kinds
    # the same batches through a new processor: identical lines (InfluxDB overwrites, no duplicates)
    again = feed(dispatcher(long_fixation_s=0.2), payloads)
    assert [p.line() for p in points_of(again) if p.measurement == "gaze"] == [p.line() for p in gaze]
    assert [p.line() for p in points_of(again) if p.measurement == "fixation"] == [
        p.line() for p in points_of(first) if p.measurement == "fixation"
    ]


def test_line_protocol_files_one_per_session_and_utc_day(tmp_path):
    files = LineProtocolFiles(tmp_path / "lp")
    files.start()
    midnight = 1_700_006_400_000_000  # 2023-11-15T00:00:00Z
    points = [
        GAZE.point(midnight - 1, {"session": "a", "device": "d"}, {"x": 0.1}),
        GAZE.point(midnight, {"session": "a", "device": "d"}, {"x": 0.2}),
        GAZE.point(midnight + 5, {"session": "b", "device": "d"}, {"x": 0.3}),
    ]
    files.write(entries(points))
    files.write(entries(points[:1]))
    files.close()
    assert (tmp_path / "lp/a/2023-11-14.lp").read_text().splitlines() == [points[0].line()] * 2
    assert (tmp_path / "lp/a/2023-11-15.lp").read_text() == points[1].line() + "\n"
    assert (tmp_path / "lp/b/2023-11-15.lp").read_text() == points[2].line() + "\n"


def entries(points):
    return [(p.line(), p.session, p.time_us) for p in points]


def test_a_write_torn_by_a_crash_is_cut_back_to_the_sizes_noted_before_it(tmp_path):
    files = LineProtocolFiles(tmp_path / "lp")
    files.start()
    first = entries([GAZE.point(1, {"session": "a"}, {"x": 1.0})])
    files.write(first)
    second = entries([GAZE.point(2, {"session": "a"}, {"x": 2.0}), GAZE.point(3, {"session": "b"}, {"x": 3.0})])
    intent = files.intent(second)
    files.write(second)  # ... and the processor is killed before its checkpoint moves on
    files.close()
    again = LineProtocolFiles(tmp_path / "lp")
    again.recover(intent)
    again.write(second)
    again.close()
    assert (tmp_path / "lp/a/1970-01-01.lp").read_text().splitlines() == [first[0][0], second[0][0]]
    assert (tmp_path / "lp/b/1970-01-01.lp").read_text().splitlines() == [second[1][0]]


def test_an_unwritable_directory_raises_sink_unavailable_so_the_feed_retries(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    files = LineProtocolFiles(blocker)
    with pytest.raises(SinkUnavailable, match="not-a-dir"):
        files.write(entries([GAZE.point(1, {"session": "a"}, {"x": 1.0})] * 3))


# --------------------------------------------------------------------------- issue 9, item 9


@pytest.mark.parametrize(
    "tags, fields, problem",
    [
        ({"device": "TX\r300"}, {"x": 1.0}, "tag 'device' holds the control character U+000D"),
        ({"device": "TX\n300"}, {"x": 1.0}, "tag 'device' holds the control character U+000A"),
        ({"dev\nice": "TX"}, {"x": 1.0}, "a tag key holds the control character U+000A"),
        ({"device": "TX"}, {"name": "on\nset"}, "a string field holds the control character U+000A"),
        ({"device": "TX"}, {"name": "on\rset"}, "a string field holds the control character U+000D"),
        ({"device": "x" * 100_000}, {"x": 1.0}, "series key of 'gaze' is 100012 bytes, over InfluxDB's 65535"),
    ],
)
def test_line_protocol_refuses_what_it_cannot_carry_as_it_came(tags, fields, problem):
    """Never a raw carriage return, never a line break turned into the text '\\n', never a point
    whose series key InfluxDB refuses (that fails every other point of the same write)."""
    from gazewire.processor.outputs.lineprotocol import UnstorablePointError

    with pytest.raises(UnstorablePointError, match=re.escape(problem)):
        encode_line("gaze", tags, fields, 1)


def test_backslashes_and_quotes_round_trip_through_the_escapes():
    assert encode_line("m", {"t": "a\\b"}, {"s": 'x\\"y'}, 1) == 'm,t=a\\\\b s="x\\\\\\"y" 1'


def test_a_batch_whose_device_cannot_be_stored_is_refused_on_the_way_in_and_others_are_stored(tmp_path):
    """The 100 KB device tag and the line breaks of issue 9 never reach a sink: the batch is
    refused as bad input, and the points of the other session's batches are all written."""
    d = dispatcher()
    good = batch_payloads(simulated(1, seed=4).samples, session="s2")
    for device in ("x" * 100_000, "TX\r300", "TX\n300"):
        bad = batch_payloads(simulated(1, seed=4).samples, session="s1", device=device)
        out = feed(d, bad[:1], session="s1")
        assert not out.batches
    out = feed(d, good, session="s2")
    sink = LineProtocolFiles(tmp_path / "lp")
    sink.start()
    sink.write(entries(points_of(out)))
    sink.close()
    lines = [line for path in (tmp_path / "lp").rglob("*.lp") for line in path.read_text().splitlines()]
    assert len([line for line in lines if line.startswith("gaze,")]) == sum(b.count for b in out.batches) > 0
    assert d.counters()["bad_input_out_of_range"] == 3
