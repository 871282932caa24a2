"""The gaze points' line protocol built a batch at a time (what the sinks write) is byte for byte
the point-by-point encoding, whatever the batch holds: invalid eyes, missing pupils, one eye
valid, odd floats, escaped tags."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gazewire.processor.outputs.points import entries_of, gaze_lines, gaze_points, points_of
from gazewire.processor.pipeline.outcome import Outcome
from gazewire.wire.messages import GazeBatch

FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64)
MAYBE = st.one_of(st.none(), FLOATS)
FLAG = st.sampled_from([0, 1])


@st.composite
def batches(draw) -> GazeBatch:
    n = draw(st.integers(min_value=0, max_value=12))
    column = {
        name: draw(st.lists(strategy, min_size=n, max_size=n))
        for name, strategy in {
            "x": MAYBE, "y": MAYBE, "left_x": MAYBE, "left_y": MAYBE, "right_x": MAYBE, "right_y": MAYBE,
            "left_pupil": MAYBE, "right_pupil": MAYBE, "left_origin_x": MAYBE, "left_origin_y": MAYBE,
            "left_origin_z": MAYBE, "right_origin_x": MAYBE, "right_origin_y": MAYBE, "right_origin_z": MAYBE,
            "left_valid": FLAG, "left_pupil_valid": FLAG, "left_origin_valid": FLAG,
            "right_valid": FLAG, "right_pupil_valid": FLAG, "right_origin_valid": FLAG,
            "eye": st.sampled_from(["both", "left", "right", "none"]),
        }.items()
    }
    first = draw(st.integers(min_value=0, max_value=2**40))
    utc = draw(st.integers(min_value=946_684_800_000_000, max_value=4_000_000_000_000_000))
    column.update(
        seq=list(range(first, first + n)),
        device_time_us=list(range(n)),
        system_time_us=list(range(n)),
        utc_us=[utc + 833 * i for i in range(n)],
    )
    return GazeBatch(
        session=draw(st.sampled_from(["s1", "P-07", "a.b_c"])),
        device=draw(st.sampled_from(["SIM-1", "TPSP1 0001", "a,b=c"])),
        batch_seq=0, first_seq=first, count=n, clock_offset_us=0, columns=column,
        recording=draw(st.sampled_from([None, "r-01"])),
    )


@settings(max_examples=200, deadline=None)
@given(batches())
def test_gaze_lines_are_the_points_lines(batch):
    assert gaze_lines(batch) == [point.line() for point in gaze_points(batch)]


@settings(max_examples=50, deadline=None)
@given(batches())
def test_entries_hold_every_point_with_its_session_and_time(batch):
    outcome = Outcome(batches=[batch])
    expected = {(p.line(), p.session, p.time_us) for p in points_of(outcome)}
    entries = entries_of(outcome)
    assert len(entries) == batch.count and set(entries) == expected


def test_gaze_hz_writes_every_kth_sample_by_seq_and_everything_else():
    from tests.processor.streams import batch_payloads, parse, simulated

    samples = simulated(1, 1200.0).samples
    batches = [parse(p) for p in batch_payloads(samples, sizes=[60, 7, 33], sample_rate_hz=1200.0)]
    written = [e for b in batches for e in entries_of(Outcome(batches=[b]), gaze_hz=120)]
    seqs = [int(line.split(" seq=")[1].split("i")[0]) for line, _, _ in written]
    assert seqs == list(range(0, len(samples), 10))  # every tenth sample, wherever the batches were cut
    every = [e for b in batches for e in entries_of(Outcome(batches=[b]))]
    assert set(written) <= set(every) and len(every) == len(samples)
    # at or below the tracker's rate (or without one): every sample
    assert entries_of(Outcome(batches=batches[:1]), gaze_hz=1200) == entries_of(Outcome(batches=batches[:1]))


def test_float_texts_are_repr_at_the_edges_of_orjson_and_repr_agreeing():
    from gazewire.processor.outputs.points import float_texts

    edges = [0.0, -0.0, 1.0, 0.1, 1e-4, 9.999999999999999e-05, 1e-05, 3e-07, -2.5e-05, 5e-324,
             1e15, 9.999999999999998e15, 1e16, 1.2345678901234568e17, 1e22, -1.7976931348623157e308]
    for value in edges:
        assert float_texts([0.5, value, 0.25]) == [repr(0.5), repr(value), repr(0.25)]
    assert float_texts(edges) == [repr(value) for value in edges]
