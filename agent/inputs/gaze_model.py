"""A seeded model of binocular gaze that produces Tobii Pro SDK gaze dictionaries.

Pure: no threads, no I/O, no wall clock. :class:`GazeSimulator` turns a seed and
a handful of physiological and device parameters into samples with exactly the
keys and value types of ``tobii_research`` gaze data (``as_dictionary=True``,
see :mod:`gazewire.agent.inputs.sdk`): tuples of floats for points, int 0/1 validities,
NaN for every value of an invalid eye, int µs time stamps. It also records what
it generated (:class:`GroundTruth`), so the fixations found downstream can be
compared with the fixations that were simulated.

The model
---------
The eye alternates between fixations and saccades (Rayner, 1998):

* **Fixation durations** are ``fixation_min_ms`` plus a gamma variate of shape 3
  (mean ``fixation_mean_ms``, default 250 ms, floor 80 ms): right-skewed, mode
  about 190 ms, SD about 100 ms, as in scene viewing and reading (Rayner, 1998,
  Psychol. Bull. 124:372-422; gamma-shaped timers as in Nuthmann, Smith,
  Engbert & Henderson, 2010, Psychol. Rev. 117:382-405).
* **Fixational eye movements** (Martinez-Conde, Macknik & Hubel, 2004, Nat. Rev.
  Neurosci. 5:229-240): drift is a confined random walk (Ornstein-Uhlenbeck,
  time constant 0.5 s; cf. the confining potential of Engbert, Mergenthaler,
  Sinn & Pikovsky, 2011, PNAS 108:E765-E770) with a short-time diffusion
  coefficient of ``drift_arcmin2_per_s`` (default 20 arcmin²/s, the order of
  magnitude reported by Cherici, Kuang, Poletti & Rucci, 2012, J. Vis. 12(6):31);
  tremor is a small (``tremor_deg``, 0.005°) 70-100 Hz oscillation, independent
  per eye. Microsaccades are not modelled.
* **Measurement noise** is white, Gaussian and independent per eye and axis,
  scaled so that its RMS sample-to-sample distance (the "precision (RMS)" of
  Tobii's data sheets; Holmqvist, Nyström & Mulvey, 2012, ETRA) equals
  ``noise_deg`` (default 0.03°, Tobii Pro Spectrum-like). Drift and tremor are
  eye movements and come on top of it. Each eye also has a constant offset
  (calibration error), the two eyes ``eye_offset_deg`` (0.2°) apart.
* **Saccade targets** lie anywhere on the display (3 % margin). Amplitudes are
  1° plus a gamma variate of shape 2 (mean ``saccade_mean_deg``, 6.5°), in a
  uniformly random direction, redrawn when the target would leave the display:
  most naturally occurring saccades are below 15° (Bahill, Adler & Stark, 1975,
  Invest. Ophthalmol. 14:468-469).
* **Saccade kinematics** follow the main sequence,
  ``Vp = Vmax (1 - exp(-A / C))`` with ``Vmax`` = 600°/s and ``C`` = 8° (Baloh,
  Sills, Kumley & Honrubia, 1975, Neurology 25:1065-1070; Bahill, Clark & Stark,
  1975, Math. Biosci. 24:191-204), with a small per-saccade log-normal scatter
  (``main_sequence_scatter``, 8 %). The position follows a minimum-jerk profile
  ``s = 10τ³ - 15τ⁴ + 6τ⁵`` (Flash & Hogan, 1985, J. Neurosci. 5:1688-1703), whose
  peak velocity is ``1.875 A / D``, so ``D = 1.875 A / Vp``: 27 ms at 1°, 34 ms
  at 5°, 68 ms at 20°, close to the classic ``D ≈ 2.2 A + 21 ms`` (Carpenter,
  1988, *Movements of the Eyes*). The eye rotates along a great circle, so
  amplitudes and velocities are true 3-D angles.
* **Blinks** make both eyes invalid for 100-300 ms (100 + 200·Beta(2, 3) ms,
  mean 180 ms) at ``blink_rate_per_min`` (15/min; about 17/min at rest,
  Bentivoglio et al., 1997, Mov. Disord. 12:1028-1034; durations as in Caffier,
  Erdmann & Ullsperger, 2003, Eur. J. Appl. Physiol. 89:319-325). **One-eye
  dropouts** (one eye lost by the tracker) last 50-500 ms (log-uniform) at
  ``dropout_rate_per_min`` (4/min). Both are renewal processes whose onset
  rate is exactly the given rate, with a refractory gap (0.3 s after a blink,
  0.1 s after a dropout, so two never merge into one); blinks and dropouts
  may overlap each other. An invalid eye
  has validity 0 and NaN everywhere, like the SDK's.
* **Pupil diameter** varies slowly (Ornstein-Uhlenbeck, SD 0.35 mm, time
  constant 3 s) around ``pupil_mm`` (3.5 mm), within 2.5-5 mm; the eyes differ by
  a small constant anisocoria (SD 0.1 mm; Lam, Thompson & Corbett, 1987, Am. J.
  Ophthalmol. 104:69-73) and 0.01 mm of measurement noise.
* **Gaze origin** (eye position, user coordinate system, mm): eyes
  ``interpupillary_distance_mm`` (63 mm; Dodgson, 2004, Proc. SPIE 5291) apart
  around x = 0, at the height of the display centre, ``eye_distance_mm`` from
  the display, with a slow head sway of ``head_sway_mm`` (3 mm SD, 2 s).

Geometry
--------
Positions are modelled in *per-axis visual angle* from the display centre
(``x_deg = atan(X / D)``, ``y_deg = atan(Y / D)``, x to the right, y
downwards, ``X``/``Y`` the offsets on the display in mm, ``D`` =
``eye_distance_mm``), the convention of ``gazewire.processor.pipeline.eye_movements.geometry``, and
converted to the display area's normalised coordinates ((0, 0) top-left,
(1, 1) bottom-right; noise may carry a sample slightly outside 0..1, as with a
real tracker; nothing is clipped). The display area stands upright in the plane
z = 0 of Tobii's user coordinate system (x to the user's right, y up, z towards
the user), centred on x = 0 with its bottom edge 20 mm above the tracker, so a
gaze point in user coordinates is ``((x - 0.5) W, 20 + (1 - y) H, 0)``.

Time
----
Sample ``i`` is captured at eye time ``i / f``. ``system_time_stamp`` is the
start value plus ``round(i / f)`` in µs (:meth:`GazeSimulator.resume_at` starts a
new stretch after a pause; the sample count carries on). ``device_time_stamp``
is the tracker's own clock: an arbitrary epoch plus the elapsed system time
stretched by ``clock_drift_ppm`` (3 ppm), so it keeps running through pauses.

Determinism and speed
---------------------
Seven independent random streams are spawned from ``seed``; samples are made
in fixed blocks of 512, so the samples do not depend on how they are requested
(``next_sample`` one by one or ``next_samples`` in any chunks). Measured on one
core of the development machine (CPython 3.11, numpy 2.4): about 175 000
samples/s at 120 Hz and 300 000 samples/s at 1200 Hz with the default
parameters, dictionaries included (``python -m gazewire.agent.inputs.gaze_model``
prints the figures).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from gazewire.agent.inputs.sdk import GazeDict

FloatArray = NDArray[np.float64]

MIN_FREQUENCY_HZ = 60.0  # Tobii Pro Spark / Nano
MAX_FREQUENCY_HZ = 1200.0  # Tobii Pro Spectrum
MINIMUM_JERK_PEAK = 1.875  # peak of ds/dτ of the minimum-jerk profile
BLINK_MS = (100.0, 300.0)
DROPOUT_MS = (50.0, 500.0)
PUPIL_RANGE_MM = (2.5, 5.0)
BLOCK_SAMPLES = 512  # samples made per block; fixed so chunking never changes the output

_DISPLAY_ELEVATION_MM = 20.0  # bottom edge of the display area above the tracker
_TARGET_MARGIN = 0.03  # saccade targets stay this far (normalised) inside the display
_MIN_SACCADE_DEG = 1.0
_DRIFT_TAU_S = 0.5
_PUPIL_SD_MM = 0.35
_PUPIL_TAU_S = 3.0
_PUPIL_NOISE_MM = 0.01
_ANISOCORIA_SD_MM = 0.1
_HEAD_TAU_S = 2.0
_ORIGIN_NOISE_MM = 0.1
_SCATTER_CLIP = (0.75, 1.33)
_BLINK_MEAN_MS = BLINK_MS[0] + (BLINK_MS[1] - BLINK_MS[0]) * 2.0 / 5.0  # Beta(2, 3) mean 0.4
_DROPOUT_MEAN_MS = (DROPOUT_MS[1] - DROPOUT_MS[0]) / math.log(DROPOUT_MS[1] / DROPOUT_MS[0])
_BLINK_MIN_GAP_S = 0.3  # a blink is not followed by another within 0.3 s
_DROPOUT_MIN_GAP_S = 0.1

EyeSide = Literal["left", "right"]
PARAMETER_NAMES: tuple[str, ...] = (
    "frequency_hz",
    "seed",
    "display_width_mm",
    "display_height_mm",
    "eye_distance_mm",
    "noise_deg",
    "blink_rate_per_min",
    "dropout_rate_per_min",
    "fixation_mean_ms",
    "fixation_min_ms",
    "saccade_mean_deg",
    "peak_velocity_max_deg_s",
    "main_sequence_c_deg",
    "main_sequence_scatter",
    "eye_offset_deg",
    "drift_arcmin2_per_s",
    "tremor_deg",
    "pupil_mm",
    "interpupillary_distance_mm",
    "head_sway_mm",
    "clock_drift_ppm",
    "device_epoch_us",
)


# --------------------------------------------------------------------------- kinematics


def main_sequence_peak_velocity(
    amplitude_deg: float, vmax_deg_s: float = 600.0, c_deg: float = 8.0
) -> float:
    """Peak velocity (deg/s) of a saccade of ``amplitude_deg``: ``Vmax (1 - exp(-A / C))``."""
    return vmax_deg_s * (1.0 - math.exp(-amplitude_deg / c_deg))


def saccade_duration_s(amplitude_deg: float, peak_velocity_deg_s: float) -> float:
    """Duration (s) of a minimum-jerk saccade: ``1.875 A / Vp``."""
    return MINIMUM_JERK_PEAK * amplitude_deg / peak_velocity_deg_s


def minimum_jerk(tau: FloatArray) -> FloatArray:
    """Fraction of the amplitude covered at normalised time ``tau`` (clipped to 0..1)."""
    t = np.clip(tau, 0.0, 1.0)
    return t * t * t * (10.0 + t * (-15.0 + 6.0 * t))


@dataclass(frozen=True)
class DisplayGeometry:
    """Normalised display-area coordinates ↔ per-axis degrees from the display centre."""

    width_mm: float
    height_mm: float
    eye_distance_mm: float

    def to_degrees(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        d = self.eye_distance_mm
        return (
            np.degrees(np.arctan2((np.asarray(x, dtype=np.float64) - 0.5) * self.width_mm, d)),
            np.degrees(np.arctan2((np.asarray(y, dtype=np.float64) - 0.5) * self.height_mm, d)),
        )

    def to_normalised(self, x_deg: FloatArray, y_deg: FloatArray) -> tuple[FloatArray, FloatArray]:
        d = self.eye_distance_mm
        return (
            0.5 + np.tan(np.radians(x_deg)) * (d / self.width_mm),
            0.5 + np.tan(np.radians(y_deg)) * (d / self.height_mm),
        )

    def limits_deg(self, margin: float = 0.0) -> tuple[float, float]:
        """Largest |x_deg| and |y_deg| that stay ``margin`` (normalised) inside the display."""
        d = self.eye_distance_mm
        return (
            math.degrees(math.atan((0.5 - margin) * self.width_mm / d)),
            math.degrees(math.atan((0.5 - margin) * self.height_mm / d)),
        )


Vector = tuple[float, float, float]


def _direction(x_deg: float, y_deg: float) -> Vector:
    """Unit gaze direction of per-axis angles: ``(tan x, tan y, 1)`` normalised."""
    x, y = math.tan(math.radians(x_deg)), math.tan(math.radians(y_deg))
    norm = math.sqrt(x * x + y * y + 1.0)
    return x / norm, y / norm, 1.0 / norm


def _cross(a: Vector, b: Vector) -> Vector:
    return a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]


def _angle_deg(a: Vector, b: Vector) -> float:
    """Angle between two directions, accurate for small angles."""
    c = _cross(a, b)
    dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    return math.degrees(math.atan2(math.sqrt(c[0] ** 2 + c[1] ** 2 + c[2] ** 2), dot))


def _ar1(start: FloatArray, a: float, innovations: FloatArray) -> FloatArray:
    """``x[k] = a x[k-1] + e[k]`` along the last axis from ``x[-1] = start``, vectorised.

    Uses ``x[k] = a^k (x0 + Σ a^-j e[j])`` over stretches short enough that
    ``a^-k`` stays below about 1e6.
    """
    n = innovations.shape[-1]
    out = np.empty_like(innovations)
    if n == 0:
        return out
    stretch = n if a >= 1.0 else max(1, min(n, int(13.8 / -math.log(a)) if a > 0 else 1))
    state = np.asarray(start, dtype=np.float64)
    for first in range(0, n, stretch):
        part = innovations[..., first : first + stretch]
        powers = a ** np.arange(1, part.shape[-1] + 1, dtype=np.float64)
        out[..., first : first + part.shape[-1]] = powers * (
            state[..., None] + np.cumsum(part / powers, axis=-1)
        )
        state = out[..., first + part.shape[-1] - 1]
    return out


# --------------------------------------------------------------------------- ground truth


@dataclass(frozen=True)
class Fixation:
    """A simulated fixation: samples ``start_index`` (inclusive) to ``end_index`` (exclusive).

    ``start_us``/``end_us`` are the ``system_time_stamp`` of its first and last
    sample; ``duration_ms`` is the modelled (continuous) duration. ``x``/``y``
    (normalised) and ``x_deg``/``y_deg`` are the mean of the true, noise-free
    binocular gaze over its samples (blinks included: the eye keeps fixating).
    """

    number: int
    start_index: int
    end_index: int
    start_us: int
    end_us: int
    duration_ms: float
    x: float
    y: float
    x_deg: float
    y_deg: float


@dataclass(frozen=True)
class Saccade:
    """A simulated saccade from ``(start_x, start_y)`` to ``(end_x, end_y)`` (normalised).

    ``amplitude_deg`` is the true 3-D rotation, ``peak_velocity_deg_s`` the
    peak of its minimum-jerk profile. Indices and times as in :class:`Fixation`.
    """

    number: int
    start_index: int
    end_index: int
    start_us: int
    end_us: int
    duration_ms: float
    amplitude_deg: float
    peak_velocity_deg_s: float
    start_x: float
    start_y: float
    end_x: float
    end_y: float


@dataclass(frozen=True)
class Blink:
    """Both eyes invalid for samples ``start_index`` to ``end_index`` (exclusive)."""

    start_index: int
    end_index: int
    start_us: int
    end_us: int
    duration_ms: float


@dataclass(frozen=True)
class Dropout:
    """One eye (``eye``) invalid for samples ``start_index`` to ``end_index`` (exclusive)."""

    eye: EyeSide
    start_index: int
    end_index: int
    start_us: int
    end_us: int
    duration_ms: float


GroundTruthEvent = Fixation | Saccade | Blink | Dropout


@dataclass(frozen=True)
class GroundTruth:
    """What the simulator generated, up to the last sample handed out.

    Holds the events whose last sample has been produced (``samples`` samples
    so far); an event still running at the end is left out.
    """

    frequency_hz: float
    samples: int
    fixations: tuple[Fixation, ...]
    saccades: tuple[Saccade, ...]
    blinks: tuple[Blink, ...]
    dropouts: tuple[Dropout, ...]

    @property
    def events(self) -> tuple[GroundTruthEvent, ...]:
        """All events ordered by their first sample."""
        merged: list[GroundTruthEvent] = [
            *self.fixations,
            *self.saccades,
            *self.blinks,
            *self.dropouts,
        ]
        return tuple(sorted(merged, key=lambda event: (event.start_index, event.end_index)))


_Factory = Callable[[int, int], GroundTruthEvent]  # (start_us, end_us) -> event


# --------------------------------------------------------------------------- validation


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _within(name: str, value: object, low: float, high: float, unit: str, why: str = "") -> float:
    number = _number(name, value)
    if not low <= number <= high:
        unit = f" {unit}" if unit else ""
        raise ValueError(f"{name} must be between {low:g} and {high:g}{unit}{why}, got {value!r}")
    return number


def _positive(name: str, value: object, unit: str) -> float:
    number = _number(name, value)
    if number <= 0.0:
        raise ValueError(f"{name} must be > 0 {unit}, got {value!r}")
    return number


def _whole(name: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- the simulator


class GazeSimulator:
    """Seeded binocular gaze, sample by sample, as Tobii Pro SDK gaze dictionaries.

    Not thread-safe: one thread generates; read :attr:`ground_truth` from the
    same thread or while it is paused. See the module docstring for the model.
    """

    def __init__(
        self,
        frequency_hz: float = 120.0,
        seed: int = 0,
        *,
        display_width_mm: float = 527.0,
        display_height_mm: float = 296.5,
        eye_distance_mm: float = 650.0,
        noise_deg: float = 0.03,
        blink_rate_per_min: float = 15.0,
        dropout_rate_per_min: float = 4.0,
        fixation_mean_ms: float = 250.0,
        fixation_min_ms: float = 80.0,
        saccade_mean_deg: float = 6.5,
        peak_velocity_max_deg_s: float = 600.0,
        main_sequence_c_deg: float = 8.0,
        main_sequence_scatter: float = 0.08,
        eye_offset_deg: float = 0.2,
        drift_arcmin2_per_s: float = 20.0,
        tremor_deg: float = 0.005,
        pupil_mm: float = 3.5,
        interpupillary_distance_mm: float = 63.0,
        head_sway_mm: float = 3.0,
        clock_drift_ppm: float = 3.0,
        start_system_time_us: int = 0,
        device_epoch_us: int | None = None,
    ) -> None:
        self.frequency_hz = _within(
            "frequency_hz",
            frequency_hz,
            MIN_FREQUENCY_HZ,
            MAX_FREQUENCY_HZ,
            "Hz",
            " (the range of Tobii Pro eye trackers)",
        )
        self.seed = _whole("seed", seed)
        self.display_width_mm = _positive("display_width_mm", display_width_mm, "mm")
        self.display_height_mm = _positive("display_height_mm", display_height_mm, "mm")
        self.eye_distance_mm = _positive("eye_distance_mm", eye_distance_mm, "mm")
        self.noise_deg = _within("noise_deg", noise_deg, 0.0, 5.0, "deg")
        self.blink_rate_per_min = _within(
            "blink_rate_per_min", blink_rate_per_min, 0.0, 60.0, "per minute"
        )
        self.dropout_rate_per_min = _within(
            "dropout_rate_per_min", dropout_rate_per_min, 0.0, 60.0, "per minute"
        )
        self.fixation_min_ms = _within("fixation_min_ms", fixation_min_ms, 20.0, 1000.0, "ms")
        self.fixation_mean_ms = _within("fixation_mean_ms", fixation_mean_ms, 20.0, 10_000.0, "ms")
        if self.fixation_mean_ms <= self.fixation_min_ms:
            raise ValueError(
                f"fixation_mean_ms ({fixation_mean_ms!r}) must be greater than "
                f"fixation_min_ms ({fixation_min_ms!r})"
            )
        self.saccade_mean_deg = _within("saccade_mean_deg", saccade_mean_deg, 1.5, 40.0, "deg")
        self.peak_velocity_max_deg_s = _within(
            "peak_velocity_max_deg_s", peak_velocity_max_deg_s, 200.0, 1000.0, "deg/s"
        )
        self.main_sequence_c_deg = _within(
            "main_sequence_c_deg", main_sequence_c_deg, 2.0, 30.0, "deg"
        )
        self.main_sequence_scatter = _within(
            "main_sequence_scatter", main_sequence_scatter, 0.0, 0.2, ""
        )
        self.eye_offset_deg = _within("eye_offset_deg", eye_offset_deg, 0.0, 5.0, "deg")
        self.drift_arcmin2_per_s = _within(
            "drift_arcmin2_per_s", drift_arcmin2_per_s, 0.0, 1000.0, "arcmin²/s"
        )
        self.tremor_deg = _within("tremor_deg", tremor_deg, 0.0, 0.1, "deg")
        self.pupil_mm = _within("pupil_mm", pupil_mm, *PUPIL_RANGE_MM, "mm")
        self.interpupillary_distance_mm = _within(
            "interpupillary_distance_mm", interpupillary_distance_mm, 40.0, 80.0, "mm"
        )
        self.head_sway_mm = _within("head_sway_mm", head_sway_mm, 0.0, 50.0, "mm")
        self.clock_drift_ppm = _within("clock_drift_ppm", clock_drift_ppm, -1000.0, 1000.0, "ppm")
        start_us = _whole("start_system_time_us", start_system_time_us)
        epoch = None if device_epoch_us is None else _whole("device_epoch_us", device_epoch_us)

        self.geometry = DisplayGeometry(
            self.display_width_mm, self.display_height_mm, self.eye_distance_mm
        )
        streams = [np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(7)]
        setup = streams[0]
        self._plan_rng, self._noise_rng, self._pupil_rng, self._head_rng = streams[1:5]
        self._blink_rng, self._dropout_rng = streams[5:7]

        # constants of this simulated observer and tracker, always drawn in this order
        drawn_epoch = int(setup.integers(10**9, 10**12))
        self.device_epoch_us = drawn_epoch if epoch is None else epoch
        offset_angle = setup.normal(0.0, math.radians(20.0))
        half = 0.5 * self.eye_offset_deg
        offset = np.array([math.cos(offset_angle), math.sin(offset_angle)]) * half
        self._eye_offset = np.stack([-offset, offset])  # (eye, axis), left then right
        self._tremor_hz = setup.uniform(70.0, 100.0, size=2)
        self._tremor_phase = setup.uniform(0.0, 2.0 * math.pi, size=2)
        tremor_angle = setup.uniform(0.0, math.pi, size=2)
        self._tremor_axis = np.stack([np.cos(tremor_angle), np.sin(tremor_angle)], axis=1)
        anisocoria = setup.normal(0.0, _ANISOCORIA_SD_MM)
        self._pupil_offset = np.array([0.5 * anisocoria, -0.5 * anisocoria])
        self._pupil_state = np.array([setup.normal(0.0, _PUPIL_SD_MM)])
        self._head_sd = np.array([1.0, 1.0, 1.5]) * self.head_sway_mm
        self._head_state = setup.normal(0.0, 1.0, size=3) * self._head_sd
        x_lim, y_lim = self.geometry.limits_deg(0.25)
        self._target = (setup.uniform(-x_lim, x_lim), setup.uniform(-y_lim, y_lim))

        f = self.frequency_hz
        dt = 1.0 / f
        self._noise_sd = self.noise_deg / 2.0  # per axis: RMS-S2S = 2 σ for white noise
        drift_d = self.drift_arcmin2_per_s / 3600.0  # deg²/s
        self._drift_a = math.exp(-dt / _DRIFT_TAU_S)
        self._drift_innov = math.sqrt(drift_d * _DRIFT_TAU_S * (1.0 - self._drift_a**2))
        self._pupil_a = math.exp(-dt / _PUPIL_TAU_S)
        self._pupil_innov = _PUPIL_SD_MM * math.sqrt(1.0 - self._pupil_a**2)
        self._head_a = math.exp(-dt / _HEAD_TAU_S)
        self._head_innov = self._head_sd * math.sqrt(1.0 - self._head_a**2)
        self._fix_min_s = self.fixation_min_ms / 1000.0
        self._fix_scale_s = (self.fixation_mean_ms - self.fixation_min_ms) / 3000.0
        self._eye_y_mm = _DISPLAY_ELEVATION_MM + self.display_height_mm / 2.0

        # plan: fixations and saccades in eye time, true binocular gaze per sample (deg)
        self._t = 0.0
        self._planned_end = 0
        self._truth_start = 0
        self._truth_chunks: list[FloatArray] = []
        self._fixation_count = 0
        self._saccade_count = 0
        # blinks and dropouts: next onset in eye time, and the index ranges made so far
        self._blink_mean_gap_s = self._mean_gap_s(self.blink_rate_per_min, _BLINK_MEAN_MS)
        self._dropout_mean_gap_s = self._mean_gap_s(self.dropout_rate_per_min, _DROPOUT_MEAN_MS)
        self._next_blink_s = self._blink_gap_s()
        self._next_dropout_s = self._dropout_gap_s()
        self._blink_ranges: deque[tuple[int, int]] = deque()
        self._dropout_ranges: deque[tuple[int, int, int]] = deque()  # (start, end, eye)
        # samples made but not handed out (time stamps are set when handed out)
        self._block_start = 0
        self._pending: list[GazeDict] = []
        self._pending_pos = 0
        self._emitted = 0
        # time: stretches of (first sample index, its system time stamp)
        self._stretch_index: list[int] = [0]
        self._stretch_us: list[int] = [start_us]
        self._device_origin_us = start_us
        self._device_rate = 1.0 + self.clock_drift_ppm * 1e-6
        # ground truth: drafts waiting for their last sample, finished events
        self._drafts: dict[str, deque[tuple[int, int, _Factory]]] = {
            kind: deque() for kind in ("fixations", "saccades", "blinks", "dropouts")
        }
        self._done: dict[str, list[Any]] = {kind: [] for kind in self._drafts}

    # ------------------------------------------------------------------ public

    @property
    def samples_emitted(self) -> int:
        """Samples handed out so far (the index of the next sample)."""
        return self._emitted

    @property
    def next_system_time_us(self) -> int:
        """The ``system_time_stamp`` the next sample will carry."""
        return self._system_time_us(self._emitted)

    @property
    def parameters(self) -> dict[str, Any]:
        """The model parameters, enough to reproduce this stream with the same seed."""
        return {name: getattr(self, name) for name in PARAMETER_NAMES}

    def next_sample(self) -> GazeDict:
        """The next sample."""
        return self.next_samples(1)[0]

    def next_samples(self, count: int) -> list[GazeDict]:
        """The next ``count`` samples, in order. Each dictionary is new and the caller's."""
        count = _whole("count", count)
        while len(self._pending) - self._pending_pos < count:
            self._make_block()
        first = self._pending_pos
        samples = self._pending[first : first + count]
        # Every sample handed out now lies in the newest stretch (resume_at starts one at the
        # next sample). Plain arithmetic, the same operations as _system_times_us in the same
        # order, so the same numbers: cheaper than numpy for the few samples of a tick.
        begin, start_us = self._stretch_index[-1], self._stretch_us[-1]
        frequency, origin, rate, epoch = self.frequency_hz, self._device_origin_us, self._device_rate, self.device_epoch_us
        for index, sample in enumerate(samples, self._emitted - begin):
            system_us = start_us + round(index * 1e6 / frequency)
            sample["device_time_stamp"] = epoch + round((system_us - origin) * rate)
            sample["system_time_stamp"] = system_us
        self._pending_pos += count
        self._emitted += count
        if self._pending_pos >= BLOCK_SAMPLES:
            del self._pending[: self._pending_pos]
            self._pending_pos = 0
        return samples

    def resume_at(self, system_time_us: int) -> None:
        """Stamp the next sample ``system_time_us`` and the following ones 1/f apart.

        For a pause in the stream: the samples carry on where they were (no
        sample is skipped), the time stamps jump, the device clock keeps
        running. Before the first sample, this simply sets the start time.
        """
        system_time_us = _whole("system_time_us", system_time_us)
        if self._emitted == 0:
            self._stretch_index, self._stretch_us = [0], [system_time_us]
            self._device_origin_us = system_time_us
            return
        last = self._system_time_us(self._emitted - 1)
        if system_time_us <= last:
            raise ValueError(
                f"cannot resume at {system_time_us} µs: the last sample was stamped {last} µs"
            )
        if self._stretch_index[-1] == self._emitted:
            self._stretch_us[-1] = system_time_us
        else:
            self._stretch_index.append(self._emitted)
            self._stretch_us.append(system_time_us)

    @property
    def ground_truth(self) -> GroundTruth:
        """The events whose last sample has been handed out (see :class:`GroundTruth`)."""
        for kind, drafts in self._drafts.items():
            while drafts and max(drafts[0][1], drafts[0][0] + 1) <= self._emitted:
                start, end, factory = drafts.popleft()
                last = max(end, start + 1) - 1
                event = factory(self._system_time_us(start), self._system_time_us(last))
                self._done[kind].append(event)
        return GroundTruth(
            frequency_hz=self.frequency_hz,
            samples=self._emitted,
            fixations=tuple(self._done["fixations"]),
            saccades=tuple(self._done["saccades"]),
            blinks=tuple(self._done["blinks"]),
            dropouts=tuple(self._done["dropouts"]),
        )

    # ------------------------------------------------------------------ time

    def _system_times_us(self, first: int, count: int) -> NDArray[np.int64]:
        indices = np.arange(first, first + count, dtype=np.int64)
        out = np.empty(count, dtype=np.int64)
        bounds = self._stretch_index + [first + count]
        for number, (begin, end) in enumerate(itertools.pairwise(bounds)):
            lo, hi = max(begin, first) - first, min(end, first + count) - first
            if lo >= hi:
                continue
            elapsed = (indices[lo:hi] - begin).astype(np.float64) * 1e6 / self.frequency_hz
            out[lo:hi] = self._stretch_us[number] + np.rint(elapsed).astype(np.int64)
        return out

    def _system_time_us(self, index: int) -> int:
        return int(self._system_times_us(index, 1)[0])  # the samples' own arithmetic

    def _index_at(self, t: float) -> int:
        """First sample captured at or after eye time ``t`` (s)."""
        return math.ceil(t * self.frequency_hz - 1e-7)

    # ------------------------------------------------------------------ the plan

    def _plan_fixation_and_saccade(self) -> None:
        rng = self._plan_rng
        f = self.frequency_hz
        duration = self._fix_min_s + rng.gamma(3.0, self._fix_scale_s)
        t0, t1 = self._t, self._t + duration
        i0, i1 = self._index_at(t0), self._index_at(t1)
        tx, ty = self._target
        drift = _ar1(
            np.zeros(2), self._drift_a, rng.standard_normal((2, i1 - i0)) * self._drift_innov
        )
        fixation = drift + np.array([[tx], [ty]])
        if i1 > i0:
            start_deg = (float(fixation[0, -1]), float(fixation[1, -1]))
            nx, ny = self.geometry.to_normalised(fixation[0], fixation[1])
            mean_x, mean_y = float(nx.sum()) / nx.size, float(ny.sum()) / ny.size
            sums = fixation.sum(axis=1) / nx.size
            mean_deg = (float(sums[0]), float(sums[1]))
        else:  # cannot happen with fixation_min_ms >= 20 at >= 60 Hz; kept for safety
            start_deg = mean_deg = (tx, ty)
            nx0, ny0 = self.geometry.to_normalised(np.array(tx), np.array(ty))
            mean_x, mean_y = float(nx0), float(ny0)
        self._fixation_count += 1
        number = self._fixation_count

        def fixation_event(start_us: int, end_us: int) -> Fixation:
            return Fixation(
                number, i0, i1, start_us, end_us, duration * 1000.0, mean_x, mean_y, *mean_deg
            )

        self._drafts["fixations"].append((i0, i1, fixation_event))

        start_dir = _direction(*start_deg)
        target_deg, target_dir = self._next_target(start_dir)
        amplitude = _angle_deg(start_dir, target_dir)
        factor = 1.0
        if self.main_sequence_scatter > 0.0:
            factor = math.exp(self.main_sequence_scatter * rng.standard_normal())
            factor = min(max(factor, _SCATTER_CLIP[0]), _SCATTER_CLIP[1])
        if amplitude > 1e-9:
            peak = factor * main_sequence_peak_velocity(
                amplitude, self.peak_velocity_max_deg_s, self.main_sequence_c_deg
            )
            sac_duration = saccade_duration_s(amplitude, peak)
        else:
            peak = 0.0
            sac_duration = (
                MINIMUM_JERK_PEAK
                * self.main_sequence_c_deg
                / (factor * self.peak_velocity_max_deg_s)
            )
        t2 = t1 + sac_duration
        j1 = self._index_at(t2)
        tau = (np.arange(i1, j1, dtype=np.float64) / f - t1) / sac_duration
        fraction = minimum_jerk(tau)
        omega = math.radians(amplitude)
        if omega > 1e-12:  # slerp: the eye turns about one axis at angular speed ω ds/dt
            w0 = np.sin((1.0 - fraction) * omega) / math.sin(omega)
            w1 = np.sin(fraction * omega) / math.sin(omega)
        else:
            w0, w1 = np.ones_like(fraction), np.zeros_like(fraction)
        path_x = w0 * start_dir[0] + w1 * target_dir[0]
        path_y = w0 * start_dir[1] + w1 * target_dir[1]
        path_z = w0 * start_dir[2] + w1 * target_dir[2]
        saccade = np.degrees(np.stack([np.arctan2(path_x, path_z), np.arctan2(path_y, path_z)]))
        self._saccade_count += 1
        s_number = self._saccade_count
        ends_x, ends_y = self.geometry.to_normalised(
            np.array([start_deg[0], target_deg[0]]), np.array([start_deg[1], target_deg[1]])
        )
        ends = (float(ends_x[0]), float(ends_y[0]), float(ends_x[1]), float(ends_y[1]))

        def saccade_event(start_us: int, end_us: int) -> Saccade:
            return Saccade(
                s_number, i1, j1, start_us, end_us, sac_duration * 1000.0, amplitude, peak, *ends
            )

        self._drafts["saccades"].append((i1, j1, saccade_event))
        self._truth_chunks.append(np.concatenate([fixation, saccade], axis=1))
        self._planned_end = j1
        self._t = t2
        self._target = target_deg

    def _next_target(self, start: Vector) -> tuple[tuple[float, float], Vector]:
        """A saccade target on the display: gamma amplitude, uniform direction.

        Rotates ``start`` by the amplitude towards a random direction in its
        tangent plane; redraws when the target is off the display, and after 32
        misses takes a uniformly random point on it.
        """
        rng = self._plan_rng
        x_lim, y_lim = self.geometry.limits_deg(_TARGET_MARGIN)
        norm = math.hypot(start[2], start[0])
        horizontal = (start[2] / norm, 0.0, -start[0] / norm)
        vertical = _cross(start, horizontal)
        scale = (self.saccade_mean_deg - _MIN_SACCADE_DEG) / 2.0
        for _ in range(32):
            amplitude = math.radians(_MIN_SACCADE_DEG + rng.gamma(2.0, scale))
            angle = rng.uniform(0.0, 2.0 * math.pi)
            along, across = math.cos(amplitude), math.sin(amplitude)
            h, v = across * math.cos(angle), across * math.sin(angle)
            target = (
                along * start[0] + h * horizontal[0] + v * vertical[0],
                along * start[1] + h * horizontal[1] + v * vertical[1],
                along * start[2] + h * horizontal[2] + v * vertical[2],
            )
            if target[2] <= 0.0:
                continue
            x = math.degrees(math.atan2(target[0], target[2]))
            y = math.degrees(math.atan2(target[1], target[2]))
            if abs(x) <= x_lim and abs(y) <= y_lim:
                return (x, y), target
        x, y = float(rng.uniform(-x_lim, x_lim)), float(rng.uniform(-y_lim, y_lim))
        return (x, y), _direction(x, y)

    def _take_truth(self, first: int, end: int) -> FloatArray:
        while self._planned_end < end:
            self._plan_fixation_and_saccade()
        truth = np.concatenate(self._truth_chunks, axis=1)
        block = truth[:, first - self._truth_start : end - self._truth_start]
        self._truth_chunks = [truth[:, end - self._truth_start :]]
        self._truth_start = end
        return block

    # ------------------------------------------------------------------ blinks, dropouts

    @staticmethod
    def _mean_gap_s(rate_per_min: float, mean_duration_ms: float) -> float:
        if rate_per_min == 0.0:
            return math.inf
        return 60.0 / rate_per_min - mean_duration_ms / 1000.0

    @staticmethod
    def _gap_s(rng: np.random.Generator, mean_gap_s: float, min_gap_s: float) -> float:
        """A refractory minimum plus an exponential: onsets at the mean rate, never merged."""
        if math.isinf(mean_gap_s):
            return math.inf
        return min_gap_s + float(rng.exponential(mean_gap_s - min_gap_s))

    def _blink_gap_s(self) -> float:
        return self._gap_s(self._blink_rng, self._blink_mean_gap_s, _BLINK_MIN_GAP_S)

    def _dropout_gap_s(self) -> float:
        return self._gap_s(self._dropout_rng, self._dropout_mean_gap_s, _DROPOUT_MIN_GAP_S)

    def _starts_before(self, onset_s: float, end: int) -> bool:
        return math.isfinite(onset_s) and self._index_at(onset_s) < end

    def _invalid_masks(self, first: int, end: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Which samples of ``first..end`` are invalid for the left and the right eye."""
        while self._starts_before(self._next_blink_s, end):
            rng = self._blink_rng
            duration = (BLINK_MS[0] + (BLINK_MS[1] - BLINK_MS[0]) * rng.beta(2.0, 3.0)) / 1000.0
            onset = self._next_blink_s
            b0, b1 = self._index_at(onset), self._index_at(onset + duration)
            self._blink_ranges.append((b0, b1))
            self._drafts["blinks"].append(
                (b0, b1, _interval_factory(Blink, b0, b1, duration * 1000.0))
            )
            self._next_blink_s = onset + duration + self._blink_gap_s()
        while self._starts_before(self._next_dropout_s, end):
            rng = self._dropout_rng
            low, high = (math.log(ms / 1000.0) for ms in DROPOUT_MS)
            duration = math.exp(rng.uniform(low, high))
            eye = int(rng.integers(0, 2))
            onset = self._next_dropout_s
            d0, d1 = self._index_at(onset), self._index_at(onset + duration)
            self._dropout_ranges.append((d0, d1, eye))
            side: EyeSide = "left" if eye == 0 else "right"
            self._drafts["dropouts"].append(
                (d0, d1, _interval_factory(Dropout, d0, d1, duration * 1000.0, side))
            )
            self._next_dropout_s = onset + duration + self._dropout_gap_s()
        n = end - first
        blink = np.zeros(n, dtype=bool)
        for b0, b1 in self._blink_ranges:
            blink[max(b0, first) - first : max(min(b1, end) - first, 0)] = True
        invalid = [blink.copy(), blink.copy()]
        for d0, d1, eye in self._dropout_ranges:
            invalid[eye][max(d0, first) - first : max(min(d1, end) - first, 0)] = True
        while self._blink_ranges and self._blink_ranges[0][1] <= end:
            self._blink_ranges.popleft()
        # dropouts of both eyes share one renewal process, so they end in order too
        while self._dropout_ranges and self._dropout_ranges[0][1] <= end:
            self._dropout_ranges.popleft()
        return invalid[0], invalid[1]

    # ------------------------------------------------------------------ one block of samples

    def _make_block(self) -> None:
        first = self._block_start
        n = BLOCK_SAMPLES
        end = first + n
        truth = self._take_truth(first, end)  # (axis, n) deg
        t = np.arange(first, end, dtype=np.float64) / self.frequency_hz
        noise = self._noise_rng.standard_normal((2, 2, n)) * self._noise_sd  # (eye, axis, n)
        origin_noise = self._noise_rng.standard_normal((2, 3, n)) * _ORIGIN_NOISE_MM
        pupil_noise = self._noise_rng.standard_normal((2, n)) * _PUPIL_NOISE_MM
        head = _ar1(
            self._head_state,
            self._head_a,
            self._head_rng.standard_normal((3, n)) * self._head_innov[:, None],
        )
        self._head_state = head[:, -1].copy()
        pupil = _ar1(
            self._pupil_state,
            self._pupil_a,
            self._pupil_rng.standard_normal((1, n)) * self._pupil_innov,
        )
        self._pupil_state = pupil[:, -1].copy()
        invalid = self._invalid_masks(first, end)

        width, height = self.display_width_mm, self.display_height_mm
        eyes: list[tuple[list[Any], ...]] = []
        for eye in (0, 1):
            tremor = self.tremor_deg * np.sin(
                2.0 * math.pi * self._tremor_hz[eye] * t + self._tremor_phase[eye]
            )
            x_deg = truth[0] + self._eye_offset[eye, 0] + self._tremor_axis[eye, 0] * tremor
            y_deg = truth[1] + self._eye_offset[eye, 1] + self._tremor_axis[eye, 1] * tremor
            nx, ny = self.geometry.to_normalised(x_deg + noise[eye, 0], y_deg + noise[eye, 1])
            point_x = (nx - 0.5) * width
            point_y = _DISPLAY_ELEVATION_MM + (1.0 - ny) * height
            point_z = np.zeros(n)
            side = -0.5 if eye == 0 else 0.5
            origin_x = head[0] + side * self.interpupillary_distance_mm + origin_noise[eye, 0]
            origin_y = head[1] + self._eye_y_mm + origin_noise[eye, 1]
            origin_z = head[2] + self.eye_distance_mm + origin_noise[eye, 2]
            diameter = np.clip(
                self.pupil_mm + pupil[0] + self._pupil_offset[eye] + pupil_noise[eye],
                *PUPIL_RANGE_MM,
            )
            columns = [nx, ny, point_x, point_y, point_z, diameter, origin_x, origin_y, origin_z]
            bad = invalid[eye]
            for column in columns:
                column[bad] = math.nan
            values = [column.tolist() for column in columns]
            eyes.append(
                (
                    list(zip(values[0], values[1])),
                    list(zip(values[2], values[3], values[4])),
                    values[5],
                    list(zip(values[6], values[7], values[8])),
                    (~bad).astype(np.int8).tolist(),
                )
            )
        (lp, lu, ld, lo, lv), (rp, ru, rd, ro, rv) = eyes
        self._pending.extend(
            [
                {
                    "device_time_stamp": 0,
                    "system_time_stamp": 0,
                    "left_gaze_point_on_display_area": lp_,
                    "left_gaze_point_in_user_coordinate_system": lu_,
                    "left_gaze_point_validity": lv_,
                    "left_pupil_diameter": ld_,
                    "left_pupil_validity": lv_,
                    "left_gaze_origin_in_user_coordinate_system": lo_,
                    "left_gaze_origin_validity": lv_,
                    "right_gaze_point_on_display_area": rp_,
                    "right_gaze_point_in_user_coordinate_system": ru_,
                    "right_gaze_point_validity": rv_,
                    "right_pupil_diameter": rd_,
                    "right_pupil_validity": rv_,
                    "right_gaze_origin_in_user_coordinate_system": ro_,
                    "right_gaze_origin_validity": rv_,
                }
                for lp_, lu_, ld_, lo_, lv_, rp_, ru_, rd_, ro_, rv_ in zip(
                    lp, lu, ld, lo, lv, rp, ru, rd, ro, rv
                )
            ]
        )
        self._block_start = end


def _interval_factory(
    kind: type[Blink | Dropout],
    start: int,
    end: int,
    duration_ms: float,
    eye: EyeSide | None = None,
) -> _Factory:
    if kind is Dropout:
        assert eye is not None
        return lambda start_us, end_us: Dropout(eye, start, end, start_us, end_us, duration_ms)
    return lambda start_us, end_us: Blink(start, end, start_us, end_us, duration_ms)


def simulate_recording(
    duration_s: float, frequency_hz: float = 120.0, seed: int = 0, **params: Any
) -> tuple[list[GazeDict], GroundTruth]:
    """``round(duration_s × frequency_hz)`` samples and the ground truth of what they show.

    ``params`` are :class:`GazeSimulator`'s keyword parameters (e.g.
    ``start_system_time_us``, ``noise_deg``).
    """
    duration = _positive("duration_s", duration_s, "s")
    simulator = GazeSimulator(frequency_hz, seed, **params)
    samples = simulator.next_samples(round(duration * simulator.frequency_hz))
    return samples, simulator.ground_truth


def _measure_speed() -> None:  # pragma: no cover - a manual benchmark
    import time

    for frequency in (120.0, 1200.0):
        simulator = GazeSimulator(frequency, seed=1)
        simulator.next_samples(10_000)
        count = 300_000
        began = time.perf_counter()
        simulator.next_samples(count)
        elapsed = time.perf_counter() - began
        print(f"{frequency:6.0f} Hz: {count / elapsed:,.0f} samples/s")


if __name__ == "__main__":  # pragma: no cover
    _measure_speed()
