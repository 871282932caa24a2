"""The processor's detection path without a broker: batches in, FixationEvents out,
compared with the simulator's ground truth; independent of how the stream is cut
into batches; times mapped back to UTC exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazewire.processor.config import ProcessorSettings
from tests.processor.streams import (
    UTC_OFFSET_US,
    batch_payloads,
    dispatcher,
    feed,
    fixation_key,
    make_dispatcher,
    mutate,
    parse,
    simulated,
    status_payload,
)


def match_truth(ends, truth_fixations, offset_us=UTC_OFFSET_US, max_error_deg=1.0):
    """Truth fixations >= 100 ms matched by a detected one overlapping in time and close in space."""
    matched = []
    for truth in truth_fixations:
        start, end = truth.start_us + offset_us, truth.end_us + offset_us
        overlapping = [e for e in ends if e.start_utc_us <= end and e.end_utc_us >= start]
        errors = [math.hypot(e.x_deg - truth.x_deg, e.y_deg - truth.y_deg) for e in overlapping]
        if errors and min(errors) < max_error_deg:
            matched.append(truth)
    return matched


@pytest.mark.parametrize("frequency_hz", [120.0, 600.0])
def test_fixations_match_the_simulated_ones(frequency_hz):
    stream = simulated(40, frequency_hz, seed=3)
    d = dispatcher()
    feed(d, [status_payload(frequency_hz=frequency_hz)], channel="status")
    out = feed(d, batch_payloads(stream.samples, sizes=int(frequency_hz / 20), sample_rate_hz=frequency_hz))
    ends = [e for e in out.fixation_events if e.event == "end"]
    truth = [f for f in stream.truth.fixations if f.duration_ms >= 100]
    matched = match_truth(ends, truth)
    assert len(truth) > 100
    assert len(matched) >= 0.95 * len(truth), f"{len(matched)} of {len(truth)} simulated fixations found"
    # not one fixation per sample either: about as many detected as simulated
    assert 0.9 * len(stream.truth.fixations) <= len(ends) <= 1.1 * len(stream.truth.fixations)


def test_every_start_has_one_end_with_the_same_number_and_numbers_count_up():
    stream = simulated(20, seed=4)
    d = dispatcher()
    out = feed(d, batch_payloads(stream.samples))
    out.merge(d.end_all("test over"))
    starts = [e.fixation for e in out.fixation_events if e.event == "start"]
    ends = [e.fixation for e in out.fixation_events if e.event == "end"]
    assert starts == ends == list(range(1, len(starts) + 1))
    for event in out.fixation_events:
        if event.event == "start":
            assert event.start_utc_us <= event.confirmed_utc_us <= event.detected_utc_us
        else:
            assert event.start_utc_us < event.end_utc_us <= event.detected_utc_us
            assert event.duration_ms == pytest.approx((event.end_utc_us - event.start_utc_us) / 1000, abs=0.002)


def events_for(samples, sizes):
    d = dispatcher()
    out = feed(d, batch_payloads(samples, sizes=sizes))
    out.merge(d.end_all("end of recording"))
    return [fixation_key(e) for e in out.fixation_events]


STREAM = simulated(12, 120.0, seed=7)
REFERENCE = events_for(STREAM.samples, len(STREAM.samples))  # one batch with everything


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=8))
def test_any_cut_into_batches_gives_the_same_fixation_events(sizes):
    assert events_for(STREAM.samples, sizes) == REFERENCE


def test_event_times_are_the_samples_utc_even_when_the_clock_offset_steps():
    stream = simulated(10, seed=5)
    step_at = len(stream.samples) // 2

    def offset(index: int) -> int:  # the agent re-measured its clock: UTC steps back 3.2 ms
        return UTC_OFFSET_US if index < step_at else UTC_OFFSET_US - 3_200

    payloads = batch_payloads(stream.samples, offset_us=offset)
    sample_utc = {u for p in payloads for u in parse(p).columns.utc_us}
    out = feed(dispatcher(), payloads)
    assert out.fixation_events
    for event in out.fixation_events:
        assert event.start_utc_us in sample_utc
        if event.end_utc_us is not None:
            assert event.end_utc_us in sample_utc
    after = [e for e in out.fixation_events if e.start_utc_us > stream.samples[step_at]["system_time_stamp"] + UTC_OFFSET_US]
    assert after, "some fixations after the step"
    for event in after:  # mapped with the new offset, i.e. 3.2 ms earlier than the old one would give
        assert event.start_utc_us - (UTC_OFFSET_US - 3_200) in {s["system_time_stamp"] for s in stream.samples}


def end_events(out):
    return [e for e in out.fixation_events if e.event == "end"]


def test_visual_angles_use_the_display_area_from_the_agent_status():
    stream = simulated(30, seed=6, display_width_mm=600.0, display_height_mm=340.0)
    truth = [f for f in stream.truth.fixations if f.duration_ms >= 100]
    settings = ProcessorSettings(default_display_width_mm=300.0, default_display_height_mm=200.0)
    told = make_dispatcher(settings)
    feed(told, [status_payload(display=(600.0, 340.0))], channel="status")
    assert len(match_truth(end_events(feed(told, batch_payloads(stream.samples))), truth, max_error_deg=0.5)) >= 0.95 * len(truth)

    untold = make_dispatcher(settings)  # no status: the (wrong) defaults apply
    assert len(match_truth(end_events(feed(untold, batch_payloads(stream.samples))), truth, max_error_deg=0.5)) < 0.5 * len(truth)


def test_visual_angles_use_each_samples_eye_distance_from_the_gaze_origins():
    stream = simulated(30, seed=6, eye_distance_mm=900.0)  # the processor's default is 650 mm
    truth = [f for f in stream.truth.fixations if f.duration_ms >= 100]
    d = dispatcher()
    assert len(match_truth(end_events(feed(d, batch_payloads(stream.samples))), truth, max_error_deg=0.5)) >= 0.95 * len(truth)
    assert d.session_summaries()["s1"]["eye_distance_mm"] == pytest.approx(900, abs=15)

    no_origins = [
        mutate(p, **{"columns.left_origin_valid": [0] * parse(p).count, "columns.right_origin_valid": [0] * parse(p).count})
        for p in batch_payloads(stream.samples)
    ]
    blind = dispatcher()  # falls back to 650 mm: every angle is too large by about 900/650
    ends = end_events(feed(blind, no_origins))
    ratios = [e.x_deg / t.x_deg for t in truth for e in ends if e.start_utc_us == t.start_us + UTC_OFFSET_US and abs(t.x_deg) > 5]
    assert ratios and np.median(ratios) == pytest.approx(900 / 650, rel=0.05)


def test_idt_is_the_alternative_detector():
    stream = simulated(20, seed=3)
    d = make_dispatcher(ProcessorSettings(algorithm="idt"))
    out = feed(d, batch_payloads(stream.samples))
    ends = [e for e in out.fixation_events if e.event == "end"]
    assert ends and all(e.algorithm == "idt" for e in ends)
    truth = [f for f in stream.truth.fixations if f.duration_ms >= 150]
    assert len(match_truth(ends, truth)) >= 0.9 * len(truth)


def test_the_end_latency_bound_reads_the_detector_parameters():
    from gazewire.processor.pipeline.detection import end_latency_bound_s
    from gazewire.processor.pipeline.eye_movements import IDTParameters, IVTParameters, MovementParameters

    default = end_latency_bound_s(IVTParameters(), 120.0)
    assert default == pytest.approx(0.075 + 0.060 + 0.010 + 0.075 + 4 / 120.0)
    assert end_latency_bound_s(IVTParameters(merge_max_gap_ms=0), 120.0) == pytest.approx(default - 0.075)
    assert end_latency_bound_s(IVTParameters(noise_reduction_window=7), 120.0) == pytest.approx(default + 2 / 120.0)
    assert end_latency_bound_s(IDTParameters(max_gap_ms=10), None) == pytest.approx(0.010 + 3 / 60.0)
    ivd = end_latency_bound_s(MovementParameters(), 120.0)
    assert ivd == pytest.approx(0.100 + 0.010 + 4 / 120.0)
    assert end_latency_bound_s(MovementParameters(max_gap_ms=150), 120.0) == pytest.approx(ivd + 0.050)


@pytest.mark.parametrize("rate_hz", [60, 120, 600])
def test_ivd_ends_fixations_and_blinks_within_the_latency_bound(rate_hz):
    """Fed one sample at a time, every fixation end and blink comes within the bound after the
    fixation's last sample (the blink's first valid sample after): the bound the long-fixation,
    AOI-dwell and drowsiness alerts rely on. Tentative starts come with the look-ahead after
    the minimum duration, final ones at most about pursuit_min_window_ms after the start."""
    from gazewire.processor.pipeline.detection import end_latency_bound_s
    from gazewire.processor.pipeline.eye_movements import (
        Blink,
        FixationEnded,
        FixationStarted,
        FixationTentative,
        MovementClassifier,
        MovementParameters,
    )
    from tests.processor.pipeline.eye_movements.test_movements import synthetic_movements

    # no dropouts: while samples are invalid, every event waits up to max_gap_ms more (gap fill-in)
    t, x, y, _ = synthetic_movements(21, rate_hz, 20.0, noise_deg=0.02, jitter=False, dropouts=False)
    parameters = MovementParameters()
    bound = end_latency_bound_s(parameters, rate_hz)
    classifier = MovementClassifier(parameters)
    seen = {FixationEnded: 0, Blink: 0, FixationTentative: 0}
    tentative: list[float] = []
    for i in range(len(t)):
        for event in classifier.feed(t[i : i + 1], x[i : i + 1], y[i : i + 1]):
            newest = float(t[i])
            if isinstance(event, FixationEnded):
                assert newest - event.end_s <= bound, event
            elif isinstance(event, Blink):
                after = t[np.searchsorted(t, event.end_s, side="right")]
                assert newest - after <= bound, event
            elif isinstance(event, FixationTentative):
                tentative.append(newest - event.confirmed_s)
            elif isinstance(event, FixationStarted):  # certain: its samples' pursuit windows are in
                window = parameters.pursuit_min_window_ms + parameters.saccade_velocity_window_ms / 2
                assert newest - event.start_s <= (window + parameters.max_gap_ms) / 1000 + 3 / rate_hz
            if type(event) in seen:
                seen[type(event)] += 1
    assert all(count >= 5 for count in seen.values()), seen
    # the look-ahead after the minimum duration; the gap fill-in's wait if a blink follows
    look_ahead = parameters.saccade_velocity_window_ms / 2000 + 3 / rate_hz
    assert np.median(tentative) <= look_ahead
    assert max(tentative) <= look_ahead + parameters.max_gap_ms / 1000

