"""The agent's pure logic: combine, clock, throttle, batch."""

import json
import math

import pytest

from gazewire.agent.inputs.sdk import GAZE_KEYS, invalid_gaze
from gazewire.agent.pipeline.batch import BatchBuilder
from gazewire.agent.pipeline.clock import ClockOffset, best_offset, measure_offset
from gazewire.agent.pipeline.combine import combine_eyes
from gazewire.agent.pipeline.gaps import SampleGaps
from gazewire.agent.pipeline.throttle import LiveThrottle
from gazewire.wire.messages import GazeBatch, parse_message


def sample(left=(0.4, 0.5), right=(0.6, 0.7), left_valid=1, right_valid=1, pupils=(3.0, 4.0), t=1000):
    s = invalid_gaze(t, t + 5)
    for side, point, valid, pupil in (("left", left, left_valid, pupils[0]), ("right", right, right_valid, pupils[1])):
        if valid:
            s[f"{side}_gaze_point_on_display_area"] = point
            s[f"{side}_gaze_point_validity"] = 1
            s[f"{side}_pupil_diameter"] = pupil
            s[f"{side}_pupil_validity"] = 1
            s[f"{side}_gaze_origin_in_user_coordinate_system"] = (-30.0 if side == "left" else 30.0, 0.0, 650.0)
            s[f"{side}_gaze_origin_validity"] = 1
    assert set(s) == set(GAZE_KEYS)
    return s


def test_both_eyes_valid_are_averaged():
    gaze = combine_eyes(sample())
    assert (gaze.x, gaze.y, gaze.eye) == (pytest.approx(0.5), pytest.approx(0.6), "both")
    assert gaze.pupil == pytest.approx(3.5)


@pytest.mark.parametrize("left_valid, right_valid, eye, x", [(1, 0, "left", 0.4), (0, 1, "right", 0.6)])
def test_one_valid_eye_is_used_alone(left_valid, right_valid, eye, x):
    gaze = combine_eyes(sample(left_valid=left_valid, right_valid=right_valid))
    assert gaze.eye == eye and gaze.x == pytest.approx(x)
    assert gaze.pupil == pytest.approx(3.0 if eye == "left" else 4.0)


def test_no_valid_eye_is_an_invalid_sample():
    gaze = combine_eyes(invalid_gaze(1, 2))
    assert gaze.eye == "none" and not gaze.valid and math.isnan(gaze.x) and gaze.pupil is None


def test_a_valid_flag_with_nan_coordinates_is_not_trusted():
    s = sample()
    s["left_gaze_point_on_display_area"] = (math.nan, math.nan)
    assert combine_eyes(s).eye == "right"


def test_best_offset_takes_the_probe_with_the_smallest_round_trip():
    probes = [(1000, 500, 1100), (2000, 1480, 2010), (3000, 2400, 3300)]
    offset = best_offset(probes)
    assert offset.round_trip_us == 10 and offset.offset_us == 2005 - 1480
    assert offset.to_utc_us(1480) == 2005 and offset.to_system_us(2005) == 1480


def test_best_offset_ignores_probes_where_the_wall_clock_stepped_back():
    assert best_offset([(2000, 10, 1000), (5000, 100, 5002)]).round_trip_us == 2
    with pytest.raises(ValueError, match="stepped back"):
        best_offset([(2000, 10, 1000)])


def test_measure_offset_against_a_known_clock():
    utc_ns = iter(range(1_000_000_000, 2_000_000_000, 3000))  # 3 µs per read
    offset = measure_offset(lambda: 42, probes=5, utc_clock_ns=lambda: next(utc_ns))
    assert isinstance(offset, ClockOffset) and offset.round_trip_us == 3
    with pytest.raises(ValueError, match="probes"):
        measure_offset(lambda: 0, probes=0)


def test_throttle_never_sends_closer_than_the_interval():
    throttle = LiveThrottle[int](publish_hz=20)
    sent = []
    t = 0.0
    for i in range(1200):  # 1200 Hz for one second, polled at every sample
        throttle.offer(i, valid=True)
        taken = throttle.take(t)
        if taken:
            sent.append((t, taken))
        t += 1 / 1200
    assert 19 <= len(sent) <= 20
    gaps = [b[0] - a[0] for a, b in zip(sent, sent[1:])]
    assert min(gaps) >= 0.05 - 1e-9
    assert sum(count for _, (_, count) in sent) <= 1200
    assert sent[-1][1][0] > sent[0][1][0]  # always the latest sample


def test_throttle_sends_only_valid_samples_and_counts_all():
    throttle = LiveThrottle[int](publish_hz=10)
    throttle.offer(1, valid=True)
    throttle.offer(2, valid=False)
    assert throttle.take(0.0) == (1, 2)
    throttle.offer(3, valid=False)
    assert throttle.take(1.0) is None and throttle.next_allowed_s() is None
    with pytest.raises(ValueError, match="publish_hz"):
        LiveThrottle(0)


def test_batch_builder_produces_a_valid_columnar_batch():
    builder = BatchBuilder("s1", "SER", run="r")
    samples = [sample(t=1000), invalid_gaze(2000, 2005), sample(right_valid=0, t=3000)]
    for i, s in enumerate(samples):
        builder.add(10 + i, 1_700_000_000_000_000 + i, s)
    payload, count = builder.build(batch_seq=4, clock_offset_us=7, sample_rate_hz=120.0)
    assert count == 3 and len(builder) == 0
    batch = parse_message(GazeBatch, payload)
    assert batch.first_seq == 10 and batch.batch_seq == 4 and batch.count == 3
    assert batch.columns.eye == ["both", "none", "left"]
    assert batch.columns.x[1] is None and batch.columns.left_pupil[1] is None
    assert batch.columns.right_valid == [1, 0, 0]
    assert "NaN" not in payload.decode()
    assert json.loads(payload)["columns"]["seq"] == [10, 11, 12]


def test_live_payload_is_a_valid_live_gaze_message():
    from gazewire.agent.pipeline.live import live_gaze_payload
    from gazewire.wire.messages import LiveGaze

    s = sample(right_valid=0)
    payload = live_gaze_payload(
        session="s1", device="SER", live_seq=7, sample_seq=70, utc_us=1_700_000_000_000_000,
        sample=s, gaze=combine_eyes(s), samples=6,
    )
    message = LiveGaze.model_validate_json(payload)
    assert (message.seq, message.sample_seq, message.samples, message.eye) == (7, 70, 6, "left")
    assert message.utc == "2023-11-14T22:13:20.000000Z" and message.right_pupil is None


def test_holes_in_the_device_clock_are_counted_in_samples_at_the_nominal_rate():
    gaps = SampleGaps(1200)  # period 833.3 µs
    times = [0, 833, 1667, 2500]  # regular, with the SDK's rounding
    times += [2500 + 301 * 833]  # 300 samples missing (the agent stalled 0.25 s)
    times += [times[-1] + 833]
    times += [times[-1] + 1200]  # jitter below 1.5 periods: no hole
    times += [times[-1] + 2 * 833 + 100]  # one sample missing
    assert [gaps.missing_before(t) for t in times] == [0, 0, 0, 0, 300, 0, 0, 1]
    assert gaps.missing_before(times[-1] - 5000) == 0, "a clock stepping back is no hole"

    gaps.restart()
    assert gaps.missing_before(10**9) == 0, "a restart (stop, reconnection) is no hole"
    gaps.set_rate(300)
    assert gaps.missing_before(10**9 + 3333) == 0 and gaps.missing_before(10**9 + 3 * 3333) == 1
    gaps.set_rate(None)
    assert gaps.missing_before(10**10) == 0, "no rate known, nothing counted"


def test_a_batch_names_its_sdk_gaps():
    builder = BatchBuilder("P01", device="T1", run="r")
    for seq in range(3):
        builder.add(seq, 1000 + seq, sample(t=seq))
    builder.note_sdk_gap(2, 300)
    payload, _ = builder.build(batch_seq=0, clock_offset_us=0, sample_rate_hz=1200.0)
    batch = parse_message(GazeBatch, payload)
    assert [(g.before_seq, g.samples) for g in batch.sdk_gaps] == [(2, 300)]
    builder.add(3, 1003, sample(t=3))
    payload, _ = builder.build(batch_seq=1, clock_offset_us=0, sample_rate_hz=1200.0)
    assert parse_message(GazeBatch, payload).sdk_gaps == [] and b"sdk_gaps" not in payload
