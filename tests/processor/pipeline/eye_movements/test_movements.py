"""Tests of the eye-movement classifier (:mod:`gazewire.processor.pipeline.eye_movements.classify`):
fixations, saccades with PSO, smooth pursuit and blinks, streaming and offline."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazewire.processor.pipeline.eye_movements import (
    ALGORITHMS,
    BLINK,
    FIXATION,
    PSO,
    PURSUIT,
    SACCADE,
    UNDEFINED,
    Blink,
    FixationEnded,
    FixationRetracted,
    FixationStarted,
    FixationTentative,
    MovementClassifier,
    MovementParameters,
    Pursuit,
    Saccade,
    classify_samples,
    label_samples,
    labels_from_events,
    make_detector,
)

# ------------------------------------------------------------------------------------------------
# Synthetic gaze with pursuit
# ------------------------------------------------------------------------------------------------


def synthetic_movements(
    seed: int,
    rate_hz: float,
    seconds: float,
    *,
    noise_deg: float = 0.02,
    jitter: bool = True,
    blinks: bool = True,
    dropouts: bool = True,
    dropped_samples: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fixations (with drift), smooth pursuit at 3-25 deg/s, main-sequence saccades, noise,
    blinks and dropouts. Returns ``t, x, y, truth`` with the generated label per sample."""
    rng = np.random.default_rng(seed)
    n = max(2, round(seconds * rate_hz))
    dt = 1.0 / rate_hz
    t = 10.0 + np.arange(n) * dt
    if jitter:
        t = t + rng.uniform(-0.2, 0.2, n) * dt
    x = np.empty(n)
    y = np.empty(n)
    truth = np.zeros(n, dtype=np.int8)
    px, py = rng.uniform(-8, 8), rng.uniform(-6, 6)
    i = 0
    while i < n:
        k = max(1, int(rng.uniform(0.15, 0.8) * rate_hz))
        stop = min(n, i + k)
        elapsed = t[i:stop] - t[i]
        if rng.random() < 0.4:
            speed = rng.uniform(3.0, 25.0)
            angle = rng.uniform(0, 2 * np.pi)
            vx, vy = speed * np.cos(angle), speed * np.sin(angle)
            truth[i:stop] = PURSUIT
        else:
            vx, vy = rng.normal(0.0, 0.3, 2)
            truth[i:stop] = FIXATION
        x[i:stop] = px + vx * elapsed
        y[i:stop] = py + vy * elapsed
        i = stop
        if i >= n:
            break
        px, py = x[i - 1], y[i - 1]
        amplitude = rng.uniform(2.0, 12.0)
        angle = rng.uniform(0, 2 * np.pi)
        qx = float(np.clip(px + amplitude * np.cos(angle), -15, 15))
        qy = float(np.clip(py + amplitude * np.sin(angle), -12, 12))
        m = max(1, int((0.021 + 0.0022 * amplitude) * rate_hz))
        stop = min(n, i + m)
        profile = (1 - np.cos(np.pi * np.arange(1, stop - i + 1) / m)) / 2
        x[i:stop] = px + (qx - px) * profile
        y[i:stop] = py + (qy - py) * profile
        truth[i:stop] = SACCADE
        i = stop
        px, py = qx, qy
    x += rng.normal(0.0, noise_deg, n)
    y += rng.normal(0.0, noise_deg, n)
    gaps = []
    if blinks:
        gaps += [(rng.uniform(0.08, 0.25), rng.random()) for _ in range(int(seconds / 2) + 1)]
    if dropouts:
        gaps += [(rng.uniform(0.001, 0.06), rng.random()) for _ in range(int(seconds) + 1)]
    for length, where in gaps:
        start = int(where * n)
        stop = min(n, start + max(1, int(length * rate_hz)))
        x[start:stop] = np.nan
        y[start:stop] = np.nan
        truth[start:stop] = BLINK
    if dropped_samples:
        keep = np.ones(n, dtype=bool)
        for _ in range(int(seconds) + 1):
            start = int(rng.random() * n)
            keep[start : start + int(rng.uniform(0.001, 0.15) * rate_hz) + 1] = False
        keep[0] = True
        t, x, y, truth = t[keep], x[keep], y[keep], truth[keep]
    return t, x, y, truth


def canonical(events) -> list[str]:
    """Exact, NaN-safe comparison key (``repr`` of a float round-trips bit for bit)."""
    out = []
    for event in events:
        values = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
        if "means" in values:
            values["means"] = sorted(values["means"].items())
        out.append(f"{type(event).__name__}{values!r}")
    return out


def run(classifier, t, x, y, extra=None):
    return classifier.feed(t, x, y, extra) + classifier.flush()


def of(kind, events):
    return [e for e in events if isinstance(e, kind)]


def kappa(a: np.ndarray, b: np.ndarray) -> float:
    po = np.mean(a == b)
    pa, pb = np.mean(a), np.mean(b)
    pe = pa * pb + (1 - pa) * (1 - pb)
    return float((po - pe) / (1 - pe))


def scene(rate: float, *parts: tuple[str, float, float, float]) -> tuple[np.ndarray, ...]:
    """Noise-free gaze from parts ``(kind, seconds, vx_or_x, vy_or_y)``: ``"fix"`` holds a
    position, ``"move"`` moves at (vx, vy) deg/s from where the gaze is, ``"jump"`` a saccade of
    20 ms to a position, ``"gap"`` invalid samples."""
    t_parts, x_parts, y_parts = [], [], []
    x0 = y0 = 0.0
    now = 0.0
    dt = 1.0 / rate
    for kind, seconds, a, b in parts:
        k = round(seconds * rate)
        tt = now + np.arange(k) * dt
        if kind == "fix":
            x0, y0 = a, b
            xx, yy = np.full(k, a), np.full(k, b)
        elif kind == "move":
            xx = x0 + a * (tt - now + dt)
            yy = y0 + b * (tt - now + dt)
            x0, y0 = float(xx[-1]), float(yy[-1])
        elif kind == "jump":
            profile = (1 - np.cos(np.pi * np.arange(1, k + 1) / k)) / 2
            xx = x0 + (a - x0) * profile
            yy = y0 + (b - y0) * profile
            x0, y0 = a, b
        else:
            xx = yy = np.full(k, np.nan)
        t_parts.append(tt)
        x_parts.append(xx)
        y_parts.append(yy)
        now += k * dt
    return np.concatenate(t_parts), np.concatenate(x_parts), np.concatenate(y_parts)


# ------------------------------------------------------------------------------------------------
# Parameters
# ------------------------------------------------------------------------------------------------


class TestParameters:
    def test_defaults_and_registration(self) -> None:
        p = MovementParameters()
        assert (p.max_gap_ms, p.noise_reduction_window, p.saccade_velocity_window_ms) == (75, 3, 20)
        assert (p.saccade_threshold_deg_s, p.max_pso_ms, p.min_fixation_ms) == (30, 40, 60)
        assert (p.pursuit_min_velocity_deg_s, p.pursuit_min_displacement_deg) == (2, 1)
        assert ALGORITHMS["ivd"] == (MovementClassifier, MovementParameters)
        assert isinstance(make_detector("ivd"), MovementClassifier)
        assert make_detector("ivd", max_pso_ms=0).parameters.max_pso_ms == 0
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.max_gap_ms = 1  # type: ignore[misc]

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            ("gap_fill", 1, "gap_fill must be True or False, got 1"),
            ("max_gap_ms", 0, r"max_gap_ms must be a finite number in \(0, 1000\], got 0"),
            ("noise_reduction_window", 4, r"must be an odd integer in \[1, 51\], got 4"),
            ("saccade_velocity_window_ms", math.nan, "saccade_velocity_window_ms must be a finite"),
            ("boundary_velocity_window_ms", 30, "must be at most saccade_velocity_window_ms"),
            ("saccade_threshold_deg_s", -1, r"in \(0, 1000\], got -1"),
            ("max_pso_ms", 201, r"max_pso_ms must be a finite number in \[0, 200\], got 201"),
            ("pursuit_window_back_ms", "400", "pursuit_window_back_ms must be a finite number"),
            ("pursuit_look_ahead_ms", -1, "pursuit_look_ahead_ms must be a finite number"),
            ("pursuit_min_window_ms", 0, r"pursuit_min_window_ms must be a finite number in \(0"),
            ("pursuit_min_velocity_deg_s", 30, "must be below saccade_threshold_deg_s"),
            ("pursuit_min_displacement_deg", 91, "pursuit_min_displacement_deg must be a finite"),
            ("min_fixation_ms", math.inf, "min_fixation_ms must be a finite number"),
            ("min_pursuit_ms", True, "min_pursuit_ms must be a finite number"),
        ],
    )
    def test_rejects(self, name: str, value: object, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            MovementParameters(**{name: value})
        with pytest.raises(ValueError, match=message):
            make_detector("ivd", **{name: value})

    def test_rejects_unknown_parameter_and_both_forms(self) -> None:
        with pytest.raises(ValueError, match="unknown 'ivd' parameter"):
            make_detector("ivd", velocity_threshold_deg_s=30)
        with pytest.raises(ValueError, match="not both"):
            MovementClassifier(MovementParameters(), max_pso_ms=10)


# ------------------------------------------------------------------------------------------------
# Behaviour on known gaze
# ------------------------------------------------------------------------------------------------


class TestClassification:
    def test_fixation_saccade_pursuit_blink(self) -> None:
        t, x, y = scene(
            500,
            ("fix", 0.5, 0.0, 0.0),
            ("jump", 0.03, 8.0, 0.0),  # rightwards
            ("fix", 0.4, 8.0, 0.0),
            ("jump", 0.03, 8.0, -6.0),  # upwards (y grows downwards)
            ("move", 1.0, -6.0, 0.0),  # pursuit at 6 deg/s leftwards
            ("gap", 0.2, 0, 0),
            ("fix", 0.5, 2.0, -6.0),
        )
        events = run(MovementClassifier(), t, x, y)
        kinds = [type(e).__name__ for e in events]
        assert kinds == [
            "FixationTentative",
            "FixationStarted",
            "FixationEnded",
            "Saccade",
            "FixationTentative",
            "FixationStarted",
            "FixationEnded",
            "Saccade",
            "FixationTentative",  # the pursuit's first 60 ms could have been a fixation
            "FixationRetracted",
            "Pursuit",
            "Blink",
            "FixationTentative",
            "FixationStarted",
            "FixationEnded",
        ]
        first, second = of(Saccade, events)
        assert first.amplitude_deg == pytest.approx(8.0, abs=0.8)
        assert first.direction_deg == pytest.approx(0.0, abs=3)
        assert second.direction_deg == pytest.approx(90.0, abs=3)
        assert 200 < first.peak_velocity_deg_s < 1000
        assert 20 <= first.duration_ms <= 34  # a 30 ms jump: 16 samples, 30 ms first to last
        (pursuit,) = of(Pursuit, events)
        assert pursuit.mean_velocity_deg_s == pytest.approx(6.0, rel=0.05)
        assert pursuit.direction_deg == pytest.approx(180.0, abs=3)
        assert pursuit.duration_ms > 900
        (blink,) = of(Blink, events)
        assert blink.n_samples == 100
        assert blink.duration_ms == pytest.approx(202.0)  # last valid before to first valid after
        fixations = of(FixationEnded, events)
        assert [f.number for f in fixations] == [1, 2, 4]  # 3 was retracted
        assert fixations[1].x_deg == pytest.approx(8.0, abs=0.05)
        (retracted,) = of(FixationRetracted, events)
        assert retracted.number == 3 and retracted.start_s == pursuit.start_s
        quiet = run(MovementClassifier(tentative_starts=False), t, x, y)
        assert not of(FixationTentative, quiet) and not of(FixationRetracted, quiet)
        assert [f.number for f in of(FixationEnded, quiet)] == [1, 2, 3]
        assert canonical(of(FixationEnded, quiet)) == canonical(
            [dataclasses.replace(f, number=n) for f, n in zip(fixations, [1, 2, 3])]
        )

    def test_slow_drift_within_a_degree_is_a_fixation(self) -> None:
        t, x, y = scene(500, ("fix", 0.01, 0, 0), ("move", 1.5, 0.5, 0.3))  # 0.9 deg in 1.5 s
        labels = classify_samples(t, x, y)
        assert np.all(labels == FIXATION)

    @pytest.mark.parametrize("rate", [60, 120, 300, 600, 1200])
    def test_pursuit_at_any_rate(self, rate: int) -> None:
        t, x, y = scene(rate, ("fix", 0.6, 0, 0), ("move", 1.5, 4.0, 0.0))
        labels = classify_samples(t, x, y)
        pursuit = labels[t > 0.6 + 0.3]
        assert np.mean(pursuit == PURSUIT) > 0.95
        assert np.mean(labels[t < 0.5] == FIXATION) == 1.0

    def test_pso_after_a_saccade(self) -> None:
        t, x, y = scene(500, ("fix", 0.4, 0, 0), ("jump", 0.03, 6, 0), ("fix", 0.4, 6, 0))
        after = (t > 0.43) & (t < 0.46)
        x[after] += 0.4 * np.sin(2 * np.pi * 60 * (t[after] - 0.43))  # an overshoot wobble
        events = run(MovementClassifier(), t, x, y)
        (saccade,) = of(Saccade, events)
        assert 0 < saccade.pso_duration_ms <= 40
        labels = labels_from_events(t, events)
        assert PSO in labels
        no_pso = run(MovementClassifier(max_pso_ms=0), t, x, y)
        assert of(Saccade, no_pso)[0].pso_duration_ms == 0

    def test_agrees_with_synthetic_truth(self) -> None:
        t, x, y, truth = synthetic_movements(3, 500, 30.0)
        labels = classify_samples(t, x, y)
        assert kappa(labels == FIXATION, truth == FIXATION) > 0.75
        assert kappa(labels == PURSUIT, truth == PURSUIT) > 0.75
        assert kappa(labels == SACCADE, truth == SACCADE) > 0.6

    def test_labels_are_the_union_of_events(self) -> None:
        t, x, y, _ = synthetic_movements(4, 300, 10.0)
        labels = classify_samples(t, x, y)
        events = run(MovementClassifier(), t, x, y)
        fixation = np.zeros(len(t), bool)
        for e in of(FixationEnded, events):
            fixation |= (t >= e.start_s) & (t <= e.end_s)
        assert np.array_equal(labels == FIXATION, fixation)
        assert np.array_equal(label_samples(t, x, y, algorithm="ivd"), fixation)
        assert set(np.unique(labels)) <= {FIXATION, SACCADE, PSO, PURSUIT, BLINK, UNDEFINED}


# ------------------------------------------------------------------------------------------------
# Streaming: any split gives the same events as one pass
# ------------------------------------------------------------------------------------------------


def batches(n: int, sizes: list[int]):
    start = 0
    k = 0
    while start < n:
        size = sizes[k % len(sizes)]
        yield start, min(n, start + size)
        start += size
        k += 1
        if k > 100_000:
            size = n
    if n == 0:
        return


def feed_in_batches(classifier, t, x, y, extra, sizes):
    events = []
    sizes = [s for s in sizes if s > 0] or [1]
    for a, b in batches(len(t), sizes):
        chunk = {name: column[a:b] for name, column in extra.items()}
        events += classifier.feed(t[a:b], x[a:b], y[a:b], chunk)
    return events + classifier.flush()


def with_extras(t, x):
    rng = np.random.default_rng(len(t))
    flaky = rng.normal(size=len(t))
    flaky[rng.random(len(t)) < 0.1] = np.nan
    return {"nx": x / 30 + 0.5, "flaky": flaky}


recordings = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31),
        "rate_hz": st.sampled_from([60, 120, 250, 300, 500, 600, 1200]),
        "seconds": st.floats(1.0, 5.0),
        "noise_deg": st.sampled_from([0.0, 0.01, 0.05, 0.2]),
        "jitter": st.booleans(),
        "blinks": st.booleans(),
        "dropouts": st.booleans(),
        "dropped_samples": st.booleans(),
    }
)
batch_sizes = st.lists(
    st.one_of(st.integers(1, 3), st.integers(1, 100), st.integers(1, 5000)), min_size=1, max_size=12
)
configs = st.sampled_from(
    [
        {},
        {"noise_reduction_window": 1, "min_fixation_ms": 0, "min_pursuit_ms": 0},
        {"noise_reduction_window": 7, "max_pso_ms": 0, "boundary_velocity_window_ms": 20},
        {"gap_fill": False, "pursuit_look_ahead_ms": 0, "pursuit_window_back_ms": 0},
        {"max_gap_ms": 20, "pursuit_min_window_ms": 50, "pursuit_min_displacement_deg": 0},
        {"pursuit_look_ahead_ms": 500, "pursuit_min_window_ms": 1000, "max_pso_ms": 200},
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recording=recordings, parameters=configs, sizes=batch_sizes)
def test_any_batching_gives_the_same_events(recording, parameters, sizes) -> None:
    t, x, y, _ = synthetic_movements(**recording)
    extra = with_extras(t, x)
    expected = run(MovementClassifier(**parameters), t, x, y, extra)
    got = feed_in_batches(MovementClassifier(**parameters), t, x, y, extra, sizes)
    assert canonical(got) == canonical(expected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recording=recordings, sizes=batch_sizes)
def test_streaming_labels_equal_offline_labels(recording, sizes) -> None:
    t, x, y, _ = synthetic_movements(**recording)
    streamed = feed_in_batches(MovementClassifier(), t, x, y, {}, sizes)
    assert np.array_equal(labels_from_events(t, streamed), classify_samples(t, x, y))


def test_one_sample_at_a_time_gives_the_same_events() -> None:
    t, x, y, _ = synthetic_movements(11, 500, 6.0, dropped_samples=True)
    extra = with_extras(t, x)
    expected = run(MovementClassifier(), t, x, y, extra)
    got = feed_in_batches(MovementClassifier(), t, x, y, extra, [1])
    assert len(of(Pursuit, expected)) > 2 and len(of(Saccade, expected)) > 5
    assert len(of(Blink, expected)) > 1 and len(of(FixationEnded, expected)) > 2
    assert canonical(got) == canonical(expected)


def test_state_stays_bounded_on_a_long_recording() -> None:
    rate = 1200
    t, x, y, _ = synthetic_movements(5, rate, 120.0, noise_deg=0.03)
    classifier = MovementClassifier()
    buffered = []
    for a in range(0, len(t), 60):
        classifier.feed(t[a : a + 60], x[a : a + 60], y[a : a + 60])
        buffered.append(classifier.buffered_samples)
    classifier.flush()
    p = classifier.parameters
    window = (p.pursuit_window_back_ms + p.pursuit_min_window_ms + p.max_gap_ms) / 1000 * rate
    assert max(buffered) <= 2 * window + 256 + 60


@pytest.mark.parametrize("tentative_starts", [True, False])
def test_fixation_events_follow_their_grammar_and_numbers_have_no_other_holes(tentative_starts) -> None:
    """Per number: [tentative] started ended, or tentative retracted; a tentative start has the
    values of its started event; numbers count up, the retracted ones are the only holes."""
    t, x, y, _ = synthetic_movements(6, 250, 20.0)
    events = run(MovementClassifier(tentative_starts=tentative_starts), t, x, y)
    tentative: FixationTentative | None = None
    open_number = None
    for event in events:
        if isinstance(event, FixationTentative):
            assert tentative is None and open_number is None
            tentative = event
        elif isinstance(event, FixationRetracted):
            assert tentative is not None and event.number == tentative.number
            assert event.start_s == tentative.start_s
            tentative = None
        elif isinstance(event, FixationStarted):
            assert open_number is None
            if tentative is not None:
                assert event.number == tentative.number
                assert canonical([event])[0].split("{", 1)[1] == canonical([tentative])[0].split("{", 1)[1]
                tentative = None
            open_number = event.number
            assert event.confirmed_s - event.start_s >= 0.06
        elif isinstance(event, FixationEnded):
            assert event.number == open_number
            open_number = None
    retracted = of(FixationRetracted, events)
    assert bool(retracted) == tentative_starts and bool(of(FixationTentative, events)) == tentative_starts
    numbers = sorted([e.number for e in of(FixationEnded, events)] + [e.number for e in retracted])
    assert numbers == list(range(1, len(numbers) + 1))
    for kind in (Saccade, Pursuit, Blink):
        numbers = [e.number for e in of(kind, events)]
        assert numbers == list(range(1, len(numbers) + 1))
    spans = [e for e in events if isinstance(e, FixationEnded | Saccade | Pursuit | Blink)]
    assert all(a.end_s < b.start_s for a, b in zip(spans, spans[1:]))  # in time order, not overlapping


# ------------------------------------------------------------------------------------------------
# Input
# ------------------------------------------------------------------------------------------------


class TestInput:
    def test_time_must_increase(self) -> None:
        classifier = MovementClassifier()
        with pytest.raises(ValueError, match="strictly increasing, got 0.2 then 0.2 at index 2"):
            classifier.feed([0.1, 0.2, 0.2], [0, 0, 0], [0, 0, 0])
        classifier.feed([0.1, 0.2], [0, 0], [0, 0])
        with pytest.raises(ValueError, match="strictly increasing across feeds, got 0.2 after 0.2"):
            classifier.feed([0.2], [0], [0])
        with pytest.raises(ValueError, match="t_seconds must be finite, got nan at index 1"):
            classifier.feed([0.3, np.nan], [0, 0], [0, 0])
        assert classifier.last_time_s == 0.2

    def test_shapes_and_extras(self) -> None:
        classifier = MovementClassifier()
        with pytest.raises(ValueError, match="same length, got 2, 3 and 2"):
            classifier.feed([0, 1], [0, 0, 0], [0, 0])
        with pytest.raises(ValueError, match="x_deg must be a 1-D array"):
            classifier.feed([0, 1], [[0, 0]], [0, 0])
        with pytest.raises(ValueError, match=r"extra\['nx'\] must have the same length"):
            classifier.feed([0, 1], [0, 0], [0, 0], {"nx": [0.5]})
        assert classifier.feed([], [], []) == []
        classifier.feed([0.0], [0.0], [0.0], {"nx": [0.5]})
        with pytest.raises(ValueError, match="extra columns must stay the same"):
            classifier.feed([0.1], [0.0], [0.0])
        assert classifier.extra_names == ("nx",)

    def test_rejected_batch_leaves_classifier_unchanged(self) -> None:
        t, x, y, _ = synthetic_movements(2, 500, 3.0)
        reference = run(MovementClassifier(), t, x, y)
        classifier = MovementClassifier()
        events = classifier.feed(t[:700], x[:700], y[:700])
        with pytest.raises(ValueError):
            classifier.feed(t[690:800], x[690:800], y[690:800])
        events += classifier.feed(t[700:], x[700:], y[700:]) + classifier.flush()
        assert canonical(events) == canonical(reference)

    def test_extra_means_and_feeding_after_flush(self) -> None:
        t, x, y = scene(500, ("fix", 0.5, 1.0, 1.0))
        column = np.full(len(t), 0.25)
        column[::2] = np.nan
        classifier = MovementClassifier()
        first = of(FixationEnded, run(classifier, t, x, y, {"a": column}))
        second = of(FixationEnded, run(classifier, t + 10, x, y, {"a": column}))
        assert [e.number for e in first + second] == [1, 2]
        assert first[0].means == {"a": 0.25}
        assert second[0].start_s == 10.0
