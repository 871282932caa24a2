"""Saccades, smooth pursuit and blinks through the processor's core (algorithm ivd, the
default): the session forwards them as wire messages on their own channels, they are stored
under their measurements, counted and rated in the status; fixation alerts and AOI visits
see fixations only; blinks feed the drowsiness alert. No broker (the end-to-end test has one)."""

from __future__ import annotations

import json

import pytest

from gazewire.processor.config import AlertSettings, ProcessorSettings
from gazewire.processor.outputs.measurements import BLINK, PURSUIT, SACCADE
from gazewire.processor.outputs.points import points_of
from gazewire.processor.pipeline.alerts import Drowsiness
from gazewire.processor.pipeline.aoi import Aoi
from gazewire.processor.pipeline.rates import RecentRate
from gazewire.wire.messages import MESSAGES
from gazewire.wire.topics import Channel
from tests.processor.pipeline.test_alerts import assert_raised_then_cleared
from tests.processor.streams import (
    UTC_OFFSET_US,
    batch_payloads,
    dispatcher,
    feed,
    make_dispatcher,
    scripted,
    status_payload,
)

SCENE = [
    ("fix", 0.6, 0.3, 0.5),
    ("jump", 0.04, 0.7, 0.5),  # rightwards
    ("fix", 0.5, 0.7, 0.5),
    ("jump", 0.04, 0.2, 0.3),  # left and up
    ("move", 1.5, 0.15, 0.0),  # pursuit rightwards, 0.15 display widths per second
    ("gap", 0.25, 0.0, 0.0),  # a blink
    ("fix", 0.6, 0.4, 0.6),
]


def run(d, samples, **options):
    feed(d, [status_payload()], channel="status")
    out = feed(d, batch_payloads(samples, **options))
    return out.merge(feed(d, [status_payload(state="stopped")], channel="status"))


def test_saccades_pursuit_and_blinks_are_published_on_their_channels_and_stored():
    out = run(dispatcher(), scripted(SCENE))
    assert [s.saccade for s in out.saccades] == [1, 2]
    right, up_left = out.saccades
    assert right.algorithm == "ivd" and right.session == "s1" and right.device == "SIM-1"
    assert (right.start_x, right.end_x, right.start_y, right.end_y) == pytest.approx((0.3, 0.7, 0.5, 0.5))
    assert right.direction_deg == 0.0 and 15 < right.amplitude_deg < 22
    assert right.peak_velocity_deg_s > 200 and 20 <= right.duration_ms <= 60
    assert 90 < up_left.direction_deg < 180  # up is positive (y grows downwards on the display)
    [pursuit] = out.pursuits
    assert pursuit.pursuit == 1 and pursuit.direction_deg == 0.0
    assert pursuit.duration_ms == pytest.approx(1500, abs=40)
    assert 5 < pursuit.mean_velocity_deg_s < 8  # 0.15 x 527 mm per second at 650 mm: ~6.9 deg/s
    assert pursuit.start_x == pytest.approx(0.2, abs=0.01) and pursuit.end_x == pytest.approx(0.425, abs=0.01)
    [blink] = out.blinks
    assert blink.blink == 1 and blink.samples == 30
    assert blink.duration_ms == pytest.approx(250 + 1000 / 120, abs=0.01)  # last valid to first valid
    # fixations are the three still periods; the pursuit is none of them, but its first 60 ms
    # could have been one: a tentative start, taken back
    ends = [e for e in out.fixation_events if e.event == "end" and not e.retracted]
    assert [round(e.x, 2) for e in ends] == [0.3, 0.7, 0.4]
    starts = [e for e in out.fixation_events if e.event == "start"]
    assert [e.tentative for e in starts] == [True] * 4 and [e.fixation for e in starts] == [1, 2, 3, 4]
    [retracted] = [e for e in out.fixation_events if e.retracted]
    assert retracted.fixation == 3 and retracted.event == "end" and retracted.duration_ms == 0.0
    assert retracted.start_utc_us == retracted.end_utc_us == pursuit.start_utc_us
    assert [e.fixation for e in ends] == [1, 2, 4]
    stored = [p for p in points_of(out) if p.measurement == "fixation"]
    assert [p.fields["number"] for p in stored] == [1, 2, 4]  # a retracted start is not stored

    channels = [channel for channel, _ in out.messages()]
    assert channels.count(Channel.SACCADES) == 2 and channels.count(Channel.PURSUITS) == 1
    assert channels.count(Channel.BLINKS) == 1
    for channel, message in out.messages():
        model = MESSAGES[channel.value]
        assert type(message) is model
        assert model.model_validate_json(message.to_json()) == message  # the JSON round-trips
        assert "NaN" not in message.to_json().decode()

    points = points_of(out)
    by_name = {m.name: [p for p in points if p.measurement == m.name] for m in (SACCADE, PURSUIT, BLINK)}
    assert [p.time_us for p in by_name["saccade"]] == [s.start_utc_us for s in out.saccades]
    assert by_name["saccade"][0].fields["peak_velocity_deg_s"] == right.peak_velocity_deg_s
    assert by_name["saccade"][0].tags == {"session": "s1", "device": "SIM-1", "algorithm": "ivd"}
    assert by_name["pursuit"][0].fields["mean_velocity_deg_s"] == pursuit.mean_velocity_deg_s
    assert by_name["blink"][0].fields == {
        "number": 1, "duration_ms": blink.duration_ms, "end_utc_us": blink.end_utc_us, "samples": 30
    }
    assert by_name["blink"][0].time_us == blink.start_utc_us


def test_any_batching_gives_the_same_messages():
    samples = scripted(SCENE)

    def keys(out):
        return [
            (channel.value, json.dumps(message.model_dump(exclude={"utc", "detected_utc_us"}), sort_keys=True))
            for channel, message in out.messages()
        ]

    one = keys(run(dispatcher(), samples, sizes=6))
    assert keys(run(dispatcher(), samples, sizes=[1, 7, 60, 2, 13])) == one
    assert keys(run(dispatcher(), samples, sizes=len(samples))) == one


def test_numbers_go_on_when_the_agent_restarts_its_stream():
    d = dispatcher()
    first = run(d, scripted(SCENE))
    later = scripted(SCENE, start_system_us=90_000_000)
    again = feed(d, [status_payload(run="run-b")], channel="status")
    again.merge(feed(d, batch_payloads(later, run="run-b")))
    again.merge(feed(d, [status_payload(state="stopped", run="run-b")], channel="status"))
    assert [s.saccade for s in again.saccades] == [3, 4]
    assert [p.pursuit for p in again.pursuits] == [2] and [b.blink for b in again.blinks] == [2]
    summary = d.session_summaries()["s1"]
    assert (summary["saccades"], summary["pursuits"], summary["blinks"]) == (4, 2, 2)
    assert len(first.saccades) == 2


def test_pursuit_through_an_aoi_is_no_visit_and_no_long_fixation():
    """The bug I-VD fixes: following a moving target for 3 s is not a 3 s fixation."""
    samples = scripted([("fix", 0.5, 0.1, 0.5), ("jump", 0.04, 0.15, 0.5), ("move", 3.0, 0.2, 0.0),
                        ("jump", 0.04, 0.2, 0.8), ("fix", 0.5, 0.2, 0.8)])
    aoi = (Aoi("middle", 0.3, 0.3, 0.7, 0.7, dwell_s=1.0),)
    alerts = {"long_fixation_s": 1.0, "aoi_dwell_s": 1.0}
    ivd = run(make_dispatcher(ProcessorSettings(alerts=AlertSettings(**alerts)), lambda s: aoi), samples)
    assert len(ivd.pursuits) == 1 and ivd.pursuits[0].duration_ms > 2900
    assert ivd.aoi_events == [] and ivd.aoi_visits == []
    assert not [a for a in ivd.alerts if a.type in ("long_fixation", "aoi_dwell")]
    # I-VT calls the same pursuit a fixation: a long one, in the AOI
    ivt_settings = ProcessorSettings(algorithm="ivt", alerts=AlertSettings(**alerts))
    ivt = run(make_dispatcher(ivt_settings, lambda s: aoi), samples)
    assert {a.type for a in ivt.alerts if a.state == "raised"} >= {"long_fixation"}
    assert ivt.saccades == [] and ivt.pursuits == [] and ivt.blinks == []


def test_saccade_and_blink_rates_in_the_status():
    parts = []
    for index in range(20):  # 20 s: a saccade and a 200 ms blink every second
        x = 0.3 if index % 2 else 0.7
        parts += [("fix", 0.5, 1 - x, 0.5), ("gap", 0.2, 0, 0), ("fix", 0.26, 1 - x, 0.5), ("jump", 0.04, x, 0.5)]
    d = dispatcher()
    run(d, scripted(parts))
    summary = d.session_summaries()["s1"]
    assert summary["saccades"] == 20 and summary["blinks"] == 20
    assert summary["saccades_per_min"] == pytest.approx(60, abs=4)
    assert summary["blinks_per_min"] == pytest.approx(60, abs=4)
    ivt = make_dispatcher(ProcessorSettings(algorithm="ivt"))
    run(ivt, scripted(parts))
    assert ivt.session_summaries()["s1"]["saccades_per_min"] is None  # I-VT reports no saccades


def test_recent_rate_counts_the_last_minute_of_samples():
    rate = RecentRate()
    start = 1_000_000_000
    assert rate.per_min(start, start + 5_000_000) is None  # younger than 10 s
    for second in range(0, 120, 2):  # one event every 2 s for 2 minutes
        rate.add(start + second * 1_000_000)
    assert rate.per_min(start, start + 20_000_000) == pytest.approx(10 * 60 / 20 + 3)  # 11 in 20 s
    assert rate.per_min(start, start + 119_000_000) == pytest.approx(30)


# --------------------------------------------------------------------------- drowsiness


def utc_of(t_s: float) -> int:
    return UTC_OFFSET_US + round(t_s * 1e6)


def test_drowsiness_on_a_long_eye_closure_raised_once_and_cleared_a_window_later():
    machine = Drowsiness("s1", window_s=60.0, blink_rate_per_min=30.0, long_closure_ms=500.0)
    machine.stream_started(0.0)
    machine.blink(10.0, 200.0)
    assert machine.progress(20.0, utc_of) == []  # an ordinary blink
    machine.blink(25.0, 800.0)
    machine.blink(26.0, 900.0)  # a second one while raised: no second alert
    raised = machine.progress(30.0, utc_of)
    assert [a.state for a in raised] == ["raised"] and raised[0].utc_us == utc_of(25.0)
    assert raised[0].details["reason"] == "long_closure" and raised[0].details["longest_closure_ms"] == 800.0
    assert raised[0].type == "drowsiness"
    assert machine.progress(85.0, utc_of) == []  # 26 s + 60 s: not yet
    cleared = machine.progress(90.0, utc_of)
    assert [a.state for a in cleared] == ["cleared"] and cleared[0].utc_us == utc_of(86.0)


def test_drowsiness_on_the_blink_rate_once_a_whole_window_was_seen():
    machine = Drowsiness("s1", window_s=60.0, blink_rate_per_min=30.0, long_closure_ms=500.0)
    machine.stream_started(0.0)
    for second in range(1, 41):  # 40 short blinks in the first 40 s
        machine.blink(float(second), 150.0)
    alerts = machine.progress(59.0, utc_of)
    assert alerts == []  # 40 a minute, but less than a minute seen
    alerts = machine.progress(61.0, utc_of)
    assert [a.state for a in alerts] == ["raised"] and alerts[0].utc_us == utc_of(60.0)
    assert alerts[0].details["reason"] == "blink_rate" and alerts[0].details["blinks_per_min"] == 40.0
    # the rate falls below 30 a minute when the 11th blink leaves the window: at 71 s
    alerts = machine.progress(200.0, utc_of)
    assert [a.state for a in alerts] == ["cleared"] and alerts[0].utc_us == utc_of(71.0)


def test_drowsiness_clears_when_the_stream_stops():
    machine = Drowsiness("s1", window_s=60.0, blink_rate_per_min=30.0, long_closure_ms=500.0)
    machine.stream_started(0.0)
    machine.blink(5.0, 1200.0)
    assert [a.state for a in machine.progress(6.0, utc_of)] == ["raised"]
    cleared = machine.interrupt("agent stopped", utc_of)
    assert [a.state for a in cleared] == ["cleared"] and cleared[0].details["reason"] == "agent stopped"
    assert machine.interrupt("again", utc_of) == []


def test_a_long_closure_in_a_session_raises_drowsiness_through_the_processor():
    parts = [("fix", 2.0, 0.5, 0.5), ("gap", 0.7, 0, 0), ("fix", 2.0, 0.5, 0.5)]
    d = dispatcher(drowsiness_window_s=5.0, gaze_lost_s=1.0)
    out = run(d, scripted(parts))
    drowsy = [a for a in out.alerts if a.type == "drowsiness"]
    assert_raised_then_cleared(drowsy)
    assert [a.state for a in drowsy] == ["raised", "cleared"]
    [blink] = out.blinks
    assert drowsy[0].utc_us == blink.end_utc_us and drowsy[0].details["long_closures"] == 1
    assert not [a for a in out.alerts if a.type == "gaze_lost"]  # 0.7 s is below gaze_lost_s
    # disabled: nothing
    quiet = run(dispatcher(enabled=["gaze_lost"]), scripted(parts))
    assert not [a for a in quiet.alerts if a.type == "drowsiness"]
