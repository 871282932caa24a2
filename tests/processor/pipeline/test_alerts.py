"""Alerts without a broker: each one raised once and cleared once, at sample time."""

from __future__ import annotations

from collections import defaultdict

import pytest

from gazewire.processor.pipeline.aoi import Aoi
from gazewire.processor.config import AlertSettings, ProcessorSettings
from gazewire.processor.outputs.points import points_of
from tests.processor.streams import (
    UTC_OFFSET_US,
    batch_payloads,
    dispatcher,
    feed,
    invalid_samples,
    make_dispatcher,
    simulated,
    status_payload,
)


def assert_raised_then_cleared(alerts):
    """Per alert (type and AOI), the states alternate raised, cleared, raised, ..."""
    states = defaultdict(list)
    for alert in alerts:
        states[(alert.type, alert.details.get("aoi"))].append(alert)
    for key, sequence in states.items():
        assert [a.state for a in sequence] == ["raised", "cleared"] * (len(sequence) // 2) + (
            ["raised"] if len(sequence) % 2 else []
        ), f"{key}: {[a.state for a in sequence]}"
        for raised, cleared in zip(sequence[::2], sequence[1::2]):
            assert raised.utc_us <= cleared.utc_us
    return states


def test_long_fixation_is_raised_once_per_long_fixation_and_never_for_a_short_one():
    stream = simulated(90, seed=11)
    d = dispatcher(long_fixation_s=0.4)
    out = feed(d, batch_payloads(stream.samples))
    ends = {e.fixation: e for e in out.fixation_events if e.event == "end"}
    alerts = [a for a in out.alerts if a.type == "long_fixation"]
    states = assert_raised_then_cleared(alerts)
    raised = [a for a in alerts if a.state == "raised"]
    long_ones = [e for e in ends.values() if e.duration_ms >= 400]
    assert len(long_ones) >= 5
    assert sorted(a.details["fixation"] for a in raised if a.details["fixation"] in ends) == sorted(
        e.fixation for e in long_ones
    )
    for alert in raised:
        fixation = ends.get(alert.details["fixation"])
        if fixation is None:
            continue  # still going on at the end of the stream
        assert alert.utc_us == fixation.start_utc_us + 400_000  # the moment it became long
        assert alert.severity == "info" and alert.details["threshold_ms"] == 400
    for alert in states[("long_fixation", None)][1::2]:
        fixation = ends[alert.details["fixation"]]
        assert alert.utc_us == fixation.end_utc_us and alert.details["duration_ms"] == pytest.approx(fixation.duration_ms)


def test_long_fixation_is_raised_while_the_fixation_goes_on_not_at_its_end():
    stream = simulated(40, seed=11, fixation_mean_ms=600.0)
    d = dispatcher(long_fixation_s=0.4)
    raised_in: dict[int, int] = {}
    ended_in: dict[int, tuple[int, float]] = {}
    for index, payload in enumerate(batch_payloads(stream.samples)):
        out = d.handle("lab/s1/gaze/batch", payload)
        for alert in out.alerts:
            if alert.type == "long_fixation" and alert.state == "raised":
                raised_in[alert.details["fixation"]] = index
        for event in out.fixation_events:
            if event.event == "end":
                ended_in[event.fixation] = (index, event.duration_ms)
    # the detector's end latency is below 0.3 s: a fixation 0.3 s longer than the threshold
    # is known to be long well before its end is known
    clearly_long = [n for n, (_, duration) in ended_in.items() if duration >= 700]
    assert len(clearly_long) >= 3
    for number in clearly_long:
        assert raised_in[number] < ended_in[number][0]


def test_gaze_lost_needs_the_agent_tracking_and_clears_on_valid_gaze():
    stream = simulated(3, seed=2, blink_rate_per_min=0, dropout_rate_per_min=0)
    samples = stream.samples[:240]
    last = samples[-1]["system_time_stamp"]
    away = invalid_samples(60, last + 8333, 120.0)  # 0.5 s looking away
    back = simulated(1, seed=2, start_system_time_us=away[-1]["system_time_stamp"] + 8333).samples
    d = dispatcher(gaze_lost_s=0.3)
    feed(d, [status_payload(state="tracking")], channel="status")
    out = feed(d, batch_payloads(samples + away + back))
    lost = [a for a in out.alerts if a.type == "gaze_lost"]
    assert [a.state for a in lost] == ["raised", "cleared"]
    raised, cleared = lost
    first_invalid = away[0]["system_time_stamp"] + UTC_OFFSET_US
    assert raised.details["since_utc_us"] == first_invalid
    assert raised.utc_us == next(
        s["system_time_stamp"] for s in away if s["system_time_stamp"] + UTC_OFFSET_US - first_invalid >= 300_000
    ) + UTC_OFFSET_US
    assert cleared.utc_us == back[0]["system_time_stamp"] + UTC_OFFSET_US
    assert raised.severity == "warning"

    not_tracking = dispatcher(gaze_lost_s=0.3)
    feed(not_tracking, [status_payload(state="tracker_lost")], channel="status")
    assert not [a for a in feed(not_tracking, batch_payloads(samples + away + back)).alerts if a.type == "gaze_lost"]


def test_sample_rate_low_when_the_tracker_delivers_half_its_nominal_rate():
    slow = simulated(12, 60.0, seed=3)  # 60 Hz samples ...
    d = dispatcher(sample_rate_window_s=2.0)
    feed(d, [status_payload(frequency_hz=120.0)], channel="status")
    out = feed(d, batch_payloads(slow.samples, sample_rate_hz=120.0))  # ... from a "120 Hz" tracker
    rate = [a for a in out.alerts if a.type == "sample_rate_low"]
    assert [a.state for a in rate] == ["raised"]
    assert rate[0].details["observed_hz"] == pytest.approx(60, abs=1) and rate[0].details["nominal_hz"] == 120
    assert rate[0].utc_us == slow.samples[120]["system_time_stamp"] + UTC_OFFSET_US  # the sample closing 2 s
    normal = simulated(6, 120.0, seed=3, start_system_time_us=slow.samples[-1]["system_time_stamp"] + 8333)
    out = feed(d, batch_payloads(normal.samples, first_seq=len(slow.samples), first_batch_seq=10_000))
    assert [a.state for a in out.alerts if a.type == "sample_rate_low"] == ["cleared"]

    fine = dispatcher(sample_rate_window_s=2.0)
    assert not [a for a in feed(fine, batch_payloads(simulated(12, 120.0).samples)).alerts if a.type == "sample_rate_low"]


def test_agent_offline_on_the_last_will_and_cleared_when_it_is_back():
    d = dispatcher()
    feed(d, [status_payload(state="tracking")], channel="status")
    will = status_payload(state="offline", utc=None)
    out = feed(d, [will, will], channel="status")  # the will delivered twice (QoS 1): one alert
    assert [(a.type, a.state, a.severity) for a in out.alerts] == [("agent_offline", "raised", "critical")]
    assert out.alerts[0].details["last_will"] is True and out.alerts[0].utc_us == 1_900_000_000_000_000
    out = feed(d, [status_payload(state="tracking", utc="2030-01-01T00:00:01.000000Z")], channel="status")
    assert [(a.type, a.state) for a in out.alerts] == [("agent_offline", "cleared")]

    clean = dispatcher()
    feed(clean, [status_payload(state="tracking")], channel="status")
    out = feed(clean, [status_payload(state="offline")], channel="status")
    assert [(a.state, a.severity) for a in out.alerts] == [("raised", "warning")]


def test_a_retained_offline_status_of_an_agent_gone_before_the_start_is_not_news():
    d = dispatcher()
    out = d.handle("lab/s1/status", status_payload(state="offline", utc=None), retained=True)
    assert out.alerts == []
    assert d.session_summaries()["s1"]["agent_state"] == "offline"


def test_aoi_visits_enter_and_exit_with_fixations_and_raise_aoi_dwell():
    left = Aoi("left", 0.0, 0.0, 0.5, 1.0)
    everything = Aoi("screen", -1.0, -1.0, 2.0, 2.0, dwell_s=1.0)
    settings = ProcessorSettings(alerts=AlertSettings(aoi_dwell_s=0.8))
    d = make_dispatcher(settings, aois_for=lambda session: (left, everything))
    stream = simulated(30, seed=12)
    out = feed(d, batch_payloads(stream.samples))
    out.merge(d.end_all("end"))
    starts = [e for e in out.fixation_events if e.event == "start"]
    left_events = [e for e in out.aoi_events if e.aoi == "left"]
    assert [e.event for e in left_events] == ["enter", "exit"] * (len(left_events) // 2)
    inside = [e for e in starts if e.x is not None and e.x <= 0.5]
    assert 0 < len([e for e in left_events if e.event == "enter"]) <= len(inside)
    for enter, exit_ in zip(left_events[::2], left_events[1::2]):
        assert exit_.dwell_ms == pytest.approx((exit_.utc_us - enter.utc_us) / 1000)
        assert any(s.start_utc_us == enter.utc_us for s in inside)
    # the whole screen: one visit from the first fixation to the last one
    screen = [e for e in out.aoi_events if e.aoi == "screen"]
    assert [e.event for e in screen] == ["enter", "exit"]
    dwell = [a for a in out.alerts if a.type == "aoi_dwell"]
    states = assert_raised_then_cleared(dwell)
    assert [a.state for a in states[("aoi_dwell", "screen")]] == ["raised", "cleared"]
    assert states[("aoi_dwell", "screen")][0].utc_us == screen[0].utc_us + 1_000_000  # the AOI's own dwell_s
    left_dwell = states.get(("aoi_dwell", "left"), [])
    for raised, cleared in zip(left_dwell[::2], left_dwell[1::2]):
        assert cleared.details["dwell_ms"] >= 800 and raised.utc_us == raised.details["visit_start_utc_us"] + 800_000
    visits = [p for p in points_of(out) if p.measurement == "aoi_visit"]
    assert len(visits) == len([e for e in out.aoi_events if e.event == "exit"])


def test_every_alert_is_stored_as_a_point():
    d = dispatcher(long_fixation_s=0.3)
    out = feed(d, batch_payloads(simulated(20, seed=1).samples))
    stored = [(p.tags["type"], p.tags["state"], p.time_us) for p in points_of(out) if p.measurement == "alert"]
    assert stored == [(a.type, a.state, a.utc_us) for a in out.alerts] and stored


# --------------------------------------------------------------------------- agent_silent (issue 9, item 11)

SECOND = 1_000_000


class Clock:
    def __init__(self, utc_us: int) -> None:
        self.utc_us = utc_us
        self.connected = True

    def advance(self, seconds: float) -> None:
        self.utc_us += round(seconds * SECOND)


def silent_dispatcher(clock: Clock, **alerts):
    return make_dispatcher(
        ProcessorSettings(alerts=AlertSettings(**alerts)), utc_us=lambda: clock.utc_us, connected=lambda: clock.connected
    )


def iso(utc_us: int) -> str:
    from gazewire.wire.timeutil import iso_from_utc_us

    return iso_from_utc_us(utc_us)


def silent_alerts(outcome):
    return [(a.state, a.severity) for a in outcome.alerts if a.type == "agent_silent"]


def test_agent_silent_is_raised_once_when_the_status_stops_being_refreshed_and_cleared_by_the_next():
    clock = Clock(1_800_000_000 * SECOND)
    d = silent_dispatcher(clock, agent_silent_s=30)
    status = status_payload(state="tracking", utc=iso(clock.utc_us))
    d.handle("lab/s1/status", status)
    clock.advance(29)
    assert silent_alerts(d.housekeeping()) == []
    clock.advance(2)
    out = d.housekeeping()
    assert silent_alerts(out) == [("raised", "warning")]
    assert out.alerts[0].details["state"] == "tracking" and out.alerts[0].details["silent_s"] == 31.0
    clock.advance(60)
    assert silent_alerts(d.housekeeping()) == []  # raised once
    assert "agent_silent" in d.session_summaries()["s1"]["active_alerts"]
    out = d.handle("lab/s1/status", status_payload(state="tracking", utc=iso(clock.utc_us)))
    assert silent_alerts(out) == [("cleared", "warning")]
    assert silent_alerts(d.housekeeping()) == []


def test_agent_silent_waits_four_of_the_agents_own_intervals_and_never_for_an_offline_agent():
    from gazewire.wire.messages import AgentStatus

    clock = Clock(1_800_000_000 * SECOND)
    d = silent_dispatcher(clock, agent_silent_s=10)
    slow = AgentStatus.model_validate_json(status_payload(state="online", utc=iso(clock.utc_us)))
    slow.status_interval_s = 60.0
    d.handle("lab/s1/status", slow.to_json())
    clock.advance(200)
    assert silent_alerts(d.housekeeping()) == []
    clock.advance(41)
    assert silent_alerts(d.housekeeping()) == [("raised", "warning")]

    gone = silent_dispatcher(clock, agent_silent_s=10)
    gone.handle("lab/s2/status", status_payload("s2", state="offline", utc=iso(clock.utc_us)))
    clock.advance(3600)
    assert silent_alerts(gone.housekeeping()) == []


def test_a_stale_retained_tracking_status_raises_agent_silent_only_counting_from_the_connection():
    """An agent killed while the broker was down left 'tracking' retained, and no will: the
    processor gets it on subscription, made hours ago. It is not judged while the processor is
    cut off from the broker (every agent would look silent then), and then from the connection."""
    clock = Clock(1_800_000_000 * SECOND)
    d = silent_dispatcher(clock, agent_silent_s=30)
    clock.connected = False
    d.handle("lab/s1/status", status_payload(state="tracking", utc=iso(clock.utc_us - 3 * 3600 * SECOND)), retained=True)
    clock.advance(120)
    assert silent_alerts(d.housekeeping()) == []  # not connected: not judged
    clock.connected = True
    assert silent_alerts(d.housekeeping()) == []  # just connected: the agent may still refresh it
    clock.advance(31)
    out = d.housekeeping()
    assert silent_alerts(out) == [("raised", "warning")]
    assert out.alerts[0].details["silent_s"] > 3 * 3600


def test_a_pruned_status_is_not_a_session_nor_bad_input_and_ends_the_watch():
    clock = Clock(1_800_000_000 * SECOND)
    d = silent_dispatcher(clock, agent_silent_s=30)
    assert d.handle("lab/gone/status", b"", retained=True) == d.handle("lab/gone/status", b"")
    assert "gone" not in d.sessions and d.counters()["bad_input"] == 0 and d.counters()["statuses_cleared"] == 2
    d.handle("lab/s1/status", status_payload(state="tracking", utc=iso(clock.utc_us)))
    d.handle("lab/s1/status", b"")
    clock.advance(3600)
    assert silent_alerts(d.housekeeping()) == []
