"""The gaze model of gazewire.agent.inputs.gaze_model: SDK shape, determinism, physiology, timing.

Physiological checks measure the *samples* (the way a fixation detector sees
them) and use the ground truth only to know where to look.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gazewire.agent.inputs.sdk import EYE_KEYS, GAZE_KEYS, GazeDict
from gazewire.agent.inputs.gaze_model import (
    BLINK_MS,
    DROPOUT_MS,
    GazeSimulator,
    GroundTruth,
    main_sequence_peak_velocity,
    simulate_recording,
)

WIDTH_MM, HEIGHT_MM, DISTANCE_MM = 527.0, 296.5, 650.0


# --------------------------------------------------------------------------- helpers


def column(samples: list[GazeDict], key: str) -> np.ndarray:
    return np.array([sample[key] for sample in samples], dtype=np.float64)


def binocular_directions(samples: list[GazeDict]) -> np.ndarray:
    """(n, 3) gaze directions (tan x, tan y, 1) of the mean of both eyes; NaN if one is invalid."""
    left = column(samples, "left_gaze_point_on_display_area")
    right = column(samples, "right_gaze_point_on_display_area")
    mean = (left + right) / 2.0
    return np.stack(
        [
            (mean[:, 0] - 0.5) * WIDTH_MM / DISTANCE_MM,
            (mean[:, 1] - 0.5) * HEIGHT_MM / DISTANCE_MM,
            np.ones(len(samples)),
        ],
        axis=1,
    )


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cross, np.sum(a * b, axis=-1)))


def per_axis_degrees(points: np.ndarray) -> np.ndarray:
    return np.degrees(
        np.stack(
            [
                np.arctan((points[:, 0] - 0.5) * WIDTH_MM / DISTANCE_MM),
                np.arctan((points[:, 1] - 0.5) * HEIGHT_MM / DISTANCE_MM),
            ],
            axis=1,
        )
    )


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of every run of True values, end exclusive."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def same_samples(a: list[GazeDict], b: list[GazeDict], *, stamps: bool = True) -> bool:
    """Equal including NaN positions (repr makes nan == nan)."""
    skip = set() if stamps else {"device_time_stamp", "system_time_stamp"}

    def strip(sample: GazeDict) -> dict[str, Any]:
        return {key: value for key, value in sample.items() if key not in skip}

    return repr([strip(s) for s in a]) == repr([strip(s) for s in b])


def check_sdk_shape(sample: GazeDict) -> None:
    assert list(sample) == list(GAZE_KEYS)
    for key in ("device_time_stamp", "system_time_stamp"):
        assert type(sample[key]) is int
    for side in ("left", "right"):
        validities = {sample[f"{side}_{key}"] for key in EYE_KEYS if key.endswith("validity")}
        assert len(validities) == 1  # the model loses an eye completely or not at all
        valid = validities.pop()
        assert type(valid) is int and valid in (0, 1)
        point = sample[f"{side}_gaze_point_on_display_area"]
        ucs = sample[f"{side}_gaze_point_in_user_coordinate_system"]
        origin = sample[f"{side}_gaze_origin_in_user_coordinate_system"]
        pupil = sample[f"{side}_pupil_diameter"]
        assert type(point) is tuple and len(point) == 2
        assert type(ucs) is tuple and len(ucs) == 3
        assert type(origin) is tuple and len(origin) == 3
        assert type(pupil) is float
        values = [*point, *ucs, *origin, pupil]
        assert all(type(value) is float for value in values)
        if valid:
            assert all(math.isfinite(value) for value in values)
        else:
            assert all(math.isnan(value) for value in values)


@pytest.fixture(scope="module")
def half_hour() -> tuple[list[GazeDict], GroundTruth]:
    """30 min at 60 Hz with the default parameters."""
    return simulate_recording(1800.0, frequency_hz=60.0, seed=11)


# --------------------------------------------------------------------------- shape of a sample


def test_samples_have_exactly_the_sdk_keys_and_types(
    half_hour: tuple[list[GazeDict], GroundTruth],
) -> None:
    samples, _ = half_hour
    for sample in samples[:20_000]:
        check_sdk_shape(sample)
    left = column(samples, "left_gaze_point_validity")
    right = column(samples, "right_gaze_point_validity")
    assert (left == 0).any() and (right == 0).any() and ((left == 0) & (right == 1)).any()


def test_points_in_user_coordinates_match_the_normalised_points_and_eyes_sit_in_front() -> None:
    samples, _ = simulate_recording(20.0, seed=2)
    for side, eye_x in (("left", -31.5), ("right", 31.5)):
        valid = column(samples, f"{side}_gaze_point_validity") == 1
        point = column(samples, f"{side}_gaze_point_on_display_area")[valid]
        ucs = column(samples, f"{side}_gaze_point_in_user_coordinate_system")[valid]
        origin = column(samples, f"{side}_gaze_origin_in_user_coordinate_system")[valid]
        np.testing.assert_allclose(ucs[:, 0], (point[:, 0] - 0.5) * WIDTH_MM, atol=1e-9)
        np.testing.assert_allclose(ucs[:, 1], 20.0 + (1.0 - point[:, 1]) * HEIGHT_MM, atol=1e-9)
        assert (ucs[:, 2] == 0.0).all()
        assert abs(origin[:, 0].mean() - eye_x) < 5.0
        assert abs(origin[:, 2].mean() - DISTANCE_MM) < 10.0
        assert 0.5 < origin[:, 0].std() < 10.0  # the head sways, a little
        pupil = column(samples, f"{side}_pupil_diameter")[valid]
        assert pupil.min() >= 2.5 and pupil.max() <= 5.0 and pupil.std() > 0.05
    left_pupil = column(samples, "left_pupil_diameter")
    right_pupil = column(samples, "right_pupil_diameter")
    assert np.nanmean(np.abs(left_pupil - right_pupil)) > 0.0


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    frequency=st.sampled_from([60.0, 90.0, 120.0, 150.0, 250.0, 300.0, 600.0, 1200.0]),
    noise=st.floats(min_value=0.0, max_value=1.0),
    count=st.integers(min_value=1, max_value=700),
)
def test_any_seed_and_rate_give_sdk_shaped_ordered_samples(
    seed: int, frequency: float, noise: float, count: int
) -> None:
    simulator = GazeSimulator(frequency, seed, noise_deg=noise, start_system_time_us=5)
    samples = simulator.next_samples(count)
    assert len(samples) == count == simulator.samples_emitted
    for sample in samples:
        check_sdk_shape(sample)
    assert samples[0]["system_time_stamp"] == 5
    system = np.diff([s["system_time_stamp"] for s in samples])
    device = np.diff([s["device_time_stamp"] for s in samples])
    assert (system > 0).all() and (device > 0).all()


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_samples_however_they_are_requested() -> None:
    one_go = GazeSimulator(300.0, seed=5).next_samples(2000)
    pieces = GazeSimulator(300.0, seed=5)
    chunked: list[GazeDict] = []
    for size in (1, 7, 511, 513, 0, 300, 1):
        chunked.extend(pieces.next_samples(size))
    while len(chunked) < 2000:
        chunked.append(pieces.next_sample())
    assert same_samples(one_go, chunked)
    assert pieces.ground_truth == simulate_recording(2000 / 300.0, 300.0, seed=5)[1]
    assert len(pieces.ground_truth.fixations) > 10


def test_the_parameters_property_reproduces_the_stream() -> None:
    original = GazeSimulator(250.0, seed=12, noise_deg=0.1, blink_rate_per_min=30)
    copy = GazeSimulator(**original.parameters)
    assert same_samples(original.next_samples(1500), copy.next_samples(1500))


def test_a_different_seed_or_start_time_changes_what_it_should() -> None:
    base = GazeSimulator(120.0, seed=1).next_samples(500)
    other_seed = GazeSimulator(120.0, seed=2).next_samples(500)
    later = GazeSimulator(120.0, seed=1, start_system_time_us=10**9).next_samples(500)
    assert not same_samples(base, other_seed, stamps=False)
    assert same_samples(base, later, stamps=False)
    assert later[0]["system_time_stamp"] == 10**9
    assert later[0]["device_time_stamp"] == base[0]["device_time_stamp"]  # same tracker clock


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"frequency_hz": 59.9}, r"frequency_hz must be between 60 and 1200 Hz"),
        ({"frequency_hz": 1200.5}, r"frequency_hz must be between 60 and 1200 Hz"),
        ({"frequency_hz": math.nan}, r"frequency_hz must be finite"),
        ({"seed": -1}, r"seed must be >= 0"),
        ({"display_width_mm": 0.0}, r"display_width_mm must be > 0"),
        ({"display_height_mm": -3.0}, r"display_height_mm must be > 0"),
        ({"eye_distance_mm": 0}, r"eye_distance_mm must be > 0"),
        ({"noise_deg": -0.01}, r"noise_deg must be between 0 and 5"),
        ({"blink_rate_per_min": -1.0}, r"blink_rate_per_min must be between 0 and 60"),
        ({"blink_rate_per_min": 61.0}, r"blink_rate_per_min must be between 0 and 60"),
        ({"dropout_rate_per_min": math.inf}, r"dropout_rate_per_min must be finite"),
        ({"fixation_min_ms": 10.0}, r"fixation_min_ms must be between 20 and 1000"),
        (
            {"fixation_min_ms": 200.0, "fixation_mean_ms": 150.0},
            r"fixation_mean_ms \(150.0\) must be greater than fixation_min_ms \(200.0\)",
        ),
        ({"saccade_mean_deg": 0.5}, r"saccade_mean_deg must be between 1.5 and 40"),
        ({"pupil_mm": 6.0}, r"pupil_mm must be between 2.5 and 5"),
        ({"interpupillary_distance_mm": 20.0}, r"interpupillary_distance_mm must be between"),
        ({"start_system_time_us": -1}, r"start_system_time_us must be >= 0"),
    ],
)
def test_bad_parameters_are_refused_with_a_precise_value_error(
    params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        GazeSimulator(**params)


@pytest.mark.parametrize(
    "params",
    [{"frequency_hz": "120"}, {"seed": 1.5}, {"seed": True}, {"start_system_time_us": 1.0}],
)
def test_parameters_of_the_wrong_type_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=next(iter(params))):
        GazeSimulator(**params)


def test_bad_requests_are_refused() -> None:
    simulator = GazeSimulator()
    with pytest.raises(ValueError, match="count must be >= 0"):
        simulator.next_samples(-1)
    with pytest.raises(ValueError, match="duration_s must be > 0"):
        simulate_recording(0.0)
    assert simulator.next_samples(0) == []


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize("frequency", [60.0, 120.0, 250.0, 600.0, 1200.0])
def test_time_stamps_advance_by_one_period_and_the_device_clock_drifts(frequency: float) -> None:
    simulator = GazeSimulator(frequency, seed=3, start_system_time_us=1_000_000, clock_drift_ppm=4)
    samples = simulator.next_samples(round(100 * frequency))  # 100 s
    system = np.array([s["system_time_stamp"] for s in samples], dtype=np.int64)
    device = np.array([s["device_time_stamp"] for s in samples], dtype=np.int64)
    period = 1e6 / frequency
    assert set(np.diff(system).tolist()) <= {math.floor(period), math.ceil(period)}
    expected = 1_000_000 + np.rint(np.arange(len(samples)) * 1e6 / frequency)
    assert (system == expected).all()
    drift = (device[-1] - device[0]) / (system[-1] - system[0]) - 1.0
    assert drift == pytest.approx(4e-6, abs=0.05e-6)
    assert device[0] != system[0]  # an epoch of its own


def test_resume_after_a_pause_jumps_the_stamps_but_not_the_samples() -> None:
    paused = GazeSimulator(120.0, seed=9, start_system_time_us=0)
    first = paused.next_samples(100)
    last_stamp = first[-1]["system_time_stamp"]
    with pytest.raises(ValueError, match="cannot resume"):
        paused.resume_at(last_stamp)
    paused.resume_at(last_stamp + 2_000_000)
    second = paused.next_samples(100)
    assert second[0]["system_time_stamp"] == last_stamp + 2_000_000
    assert second[1]["system_time_stamp"] - second[0]["system_time_stamp"] in (8333, 8334)
    device_gap = second[0]["device_time_stamp"] - first[-1]["device_time_stamp"]
    assert device_gap == pytest.approx(2_000_000 * (1 + 3e-6), abs=2)  # the device clock ran on
    straight = GazeSimulator(120.0, seed=9).next_samples(200)
    assert same_samples(first + second, straight, stamps=False)
    truth = paused.ground_truth
    spanning = [f for f in truth.fixations if f.start_index < 100 <= f.end_index - 1]
    for fixation in spanning:  # a fixation across the pause lasts longer on the host clock
        assert fixation.end_us - fixation.start_us > 2_000_000


# --------------------------------------------------------------------------- physiology


def test_fixations_and_saccades_tile_the_recording_with_realistic_statistics(
    half_hour: tuple[list[GazeDict], GroundTruth],
) -> None:
    samples, truth = half_hour
    assert truth.samples == len(samples)
    assert truth.fixations[0].start_index == 0
    for fixation, saccade in zip(truth.fixations, truth.saccades):
        assert fixation.end_index == saccade.start_index
    for saccade, fixation in zip(truth.saccades, truth.fixations[1:]):
        assert saccade.end_index == fixation.start_index
    assert all(event.end_index <= len(samples) for event in truth.events)
    durations = np.array([f.duration_ms for f in truth.fixations])
    assert durations.min() >= 80.0
    assert 230.0 < durations.mean() < 270.0
    assert np.median(durations) < durations.mean()  # right-skewed
    amplitudes = np.array([s.amplitude_deg for s in truth.saccades])
    assert 5.0 < amplitudes.mean() < 8.0 and amplitudes.min() > 0.0
    for saccade in truth.saccades:
        for x, y in ((saccade.start_x, saccade.start_y), (saccade.end_x, saccade.end_y)):
            assert -0.01 < x < 1.01 and -0.01 < y < 1.01
        classic = 2.2 * saccade.amplitude_deg + 21.0
        assert 0.6 * classic < saccade.duration_ms < 1.5 * classic


def test_fixation_positions_in_the_ground_truth_match_the_samples() -> None:
    samples, truth = simulate_recording(60.0, frequency_hz=250.0, seed=4)
    left = per_axis_degrees(column(samples, "left_gaze_point_on_display_area"))
    right = per_axis_degrees(column(samples, "right_gaze_point_on_display_area"))
    both = (left + right) / 2.0
    checked = 0
    for fixation in truth.fixations:
        inside = both[fixation.start_index : fixation.end_index]
        inside = inside[np.isfinite(inside).all(axis=1)]
        if len(inside) < 10:
            continue
        checked += 1
        assert inside[:, 0].mean() == pytest.approx(fixation.x_deg, abs=0.05)
        assert inside[:, 1].mean() == pytest.approx(fixation.y_deg, abs=0.05)
        assert math.degrees(math.atan((fixation.x - 0.5) * WIDTH_MM / DISTANCE_MM)) == (
            pytest.approx(fixation.x_deg, abs=0.01)
        )
    assert checked > 150
    offset = np.nanmean(right - left, axis=0)
    assert float(np.hypot(*offset)) == pytest.approx(0.2, abs=0.03)  # left/right offset


def test_saccades_follow_the_main_sequence_measured_from_the_samples() -> None:
    frequency = 1200.0
    samples, truth = simulate_recording(60.0, frequency_hz=frequency, seed=7)
    directions = binocular_directions(samples)
    # velocity of sample k: angle between samples k-2 and k+2 over 4 periods
    velocity = np.full(len(samples), np.nan)
    velocity[2:-2] = angle_deg(directions[:-4], directions[4:]) * frequency / 4.0
    ratios, against_truth = [], []
    for saccade in truth.saccades:
        lo, hi = saccade.start_index - 8, saccade.end_index + 8
        if lo < 0 or hi > len(samples) or not np.isfinite(directions[lo:hi]).all():
            continue
        if saccade.amplitude_deg < 2.0:
            continue
        before = directions[lo : saccade.start_index - 3].mean(axis=0)
        after = directions[saccade.end_index + 3 : hi].mean(axis=0)
        amplitude = float(angle_deg(before, after))
        peak = float(np.nanmax(velocity[lo:hi]))
        ratios.append(peak / main_sequence_peak_velocity(amplitude))
        against_truth.append(peak / saccade.peak_velocity_deg_s)
    assert len(ratios) > 80
    ratios_arr, truth_arr = np.array(ratios), np.array(against_truth)
    assert 0.95 < np.median(ratios_arr) < 1.05  # Vp = 600 (1 - exp(-A / 8))
    assert np.mean(np.abs(np.log(ratios_arr)) < math.log(1.3)) > 0.95  # 8 % scatter
    assert np.mean(np.abs(truth_arr - 1.0) < 0.06) > 0.95  # the samples show what was planned


def test_measurement_noise_has_the_requested_precision_independently_per_eye() -> None:
    samples, truth = simulate_recording(
        60.0, frequency_hz=300.0, seed=8, noise_deg=0.05, drift_arcmin2_per_s=0, tremor_deg=0
    )
    steps: dict[str, list[np.ndarray]] = {"left": [], "right": []}
    for fixation in truth.fixations:
        lo, hi = fixation.start_index + 1, fixation.end_index - 1
        for side, differences in steps.items():
            points = per_axis_degrees(column(samples[lo:hi], f"{side}_gaze_point_on_display_area"))
            differences.append(np.diff(points, axis=0))
    left, right = (np.concatenate(steps[side]) for side in ("left", "right"))
    both = np.isfinite(left).all(axis=1) & np.isfinite(right).all(axis=1)
    for differences in (left[both], right[both]):
        rms_s2s = math.sqrt(float(np.mean(np.sum(differences**2, axis=1))))
        assert rms_s2s == pytest.approx(0.05, rel=0.05)
    correlation = np.corrcoef(left[both, 0], right[both, 0])[0, 1]
    assert abs(correlation) < 0.1


def test_blinks_and_dropouts_happen_at_their_rates_and_show_in_the_samples(
    half_hour: tuple[list[GazeDict], GroundTruth],
) -> None:
    samples, truth = half_hour
    minutes = len(samples) / 60.0 / 60.0
    assert len(truth.blinks) / minutes == pytest.approx(15.0, rel=0.15)
    assert len(truth.dropouts) / minutes == pytest.approx(4.0, rel=0.3)
    assert {d.eye for d in truth.dropouts} == {"left", "right"}
    for blink in truth.blinks:
        assert BLINK_MS[0] <= blink.duration_ms <= BLINK_MS[1]
    for dropout in truth.dropouts:
        assert DROPOUT_MS[0] <= dropout.duration_ms <= DROPOUT_MS[1]

    left = column(samples, "left_gaze_point_validity") == 0
    right = column(samples, "right_gaze_point_validity") == 0
    blinks = [(b.start_index, b.end_index) for b in truth.blinks]
    assert runs(left & right) == blinks  # every both-eye loss is a blink, and vice versa
    lost = {"left": np.zeros(len(samples), bool), "right": np.zeros(len(samples), bool)}
    for dropout in truth.dropouts:
        lost[dropout.eye][dropout.start_index : dropout.end_index] = True
    in_blink = left & right
    assert (left[~in_blink] == lost["left"][~in_blink]).all()
    assert (right[~in_blink] == lost["right"][~in_blink]).all()


@pytest.mark.parametrize(("blinks", "dropouts"), [(40.0, 30.0), (5.0, 10.0)])
def test_other_blink_and_dropout_rates_are_honoured(blinks: float, dropouts: float) -> None:
    minutes = 10.0
    _, truth = simulate_recording(
        minutes * 60.0,
        frequency_hz=60.0,
        seed=21,
        blink_rate_per_min=blinks,
        dropout_rate_per_min=dropouts,
    )
    # Poisson-like counts: 3 standard deviations of relative tolerance
    assert len(truth.blinks) / minutes == pytest.approx(blinks, rel=3 / math.sqrt(blinks * minutes))
    assert len(truth.dropouts) / minutes == pytest.approx(
        dropouts, rel=3 / math.sqrt(dropouts * minutes)
    )


def test_no_blinks_or_dropouts_when_their_rates_are_zero() -> None:
    samples, truth = simulate_recording(
        120.0, frequency_hz=60.0, seed=1, blink_rate_per_min=0, dropout_rate_per_min=0
    )
    assert truth.blinks == () and truth.dropouts == ()
    assert all(
        s["left_gaze_point_validity"] == s["right_gaze_point_validity"] == 1 for s in samples
    )
