"""Fixations, saccades, smooth pursuit and blinks: a streaming, vectorised classifier.

A velocity-and-displacement classifier in the family of I-VVT / I-VDT (Komogortsev, O. V. &
Karpov, A. (2013). Automated classification and scoring of smooth pursuit eye movements in the
presence of fixations and saccades. *Behavior Research Methods* 45, 203-215): saccades are found
by a velocity threshold, and the samples between saccades are told apart as fixation or smooth
pursuit by how far and how fast the gaze travels over a few hundred milliseconds - the
criterion of spatial range and consistent movement of Larsson, L., Nyström, M., Andersson, R.
& Stridh, M. (2015). Detection of fixations and smooth pursuit movements in high-speed
eye-tracking data. *Biomedical Signal Processing and Control* 18, 145-152.

Steps (every parameter in :class:`MovementParameters`, defaults with their sources):

1. **Gap fill-in** and **blinks**: runs of invalid samples up to ``max_gap_ms`` (75 ms) are
   filled by linear interpolation (Olsen, A. (2012). *The Tobii I-VT Fixation Filter*, Tobii
   Technology); every longer run is a :class:`~.events.Blink` (a blink or another loss
   of the eye) and breaks the signal into segments that nothing below reaches across.
2. **Noise reduction**: moving median over ``noise_reduction_window`` (3) samples (Olsen 2012).
3. **Velocity**: the angle between the first and the last sample of a window centred on each
   sample, divided by their time difference, as in Olsen (2012) (window rule of
   :mod:`.velocity`); once over ``saccade_velocity_window_ms`` (20 ms, Olsen's window; also the
   20 ms Savitzky-Golay window of Nyström, M. & Holmqvist, K. (2010). An adaptive algorithm for
   fixation, saccade, and glissade detection in eyetracking data. *Behavior Research Methods*
   42, 188-204) and once over the shorter ``boundary_velocity_window_ms`` (8 ms).
4. **Saccades**: a run of samples faster than ``saccade_threshold_deg_s`` (30 deg/s, Olsen
   2012) over the 20 ms window is a saccade candidate. The long window finds saccades robustly
   but smears them by half a window on each side, so the saccade itself is the part of the run
   from its first to its last sample that is faster than the threshold over the short window
   (Nyström & Holmqvist (2010) likewise place on- and offsets separately from the detection
   threshold); the samples of the run before it return to the intersaccadic interval, those
   after it are post-saccadic oscillation (PSO).
5. **Post-saccadic oscillations**: up to ``max_pso_ms`` (40 ms, Nyström & Holmqvist 2010; also
   REMoDNaV's maximum PSO duration: Dar, A. H., Wagner, A. S. & Hanke, M. (2021). REMoDNaV:
   robust eye-movement classification for dynamic stimulation. *Behavior Research Methods* 53,
   399-414) after the saccade's last sample, the samples up to the last one that is faster than
   the saccade threshold over the short window are the PSO. PSOs are reported with their saccade
   (:attr:`~.events.Saccade.pso_duration_ms`) and labelled :data:`PSO` per sample.
6. **Fixation or smooth pursuit**, per sample of an intersaccadic interval: a least-squares line
   is fitted to the gap-filled gaze positions of the interval's samples in a window around the
   sample - reaching back up to ``pursuit_window_back_ms`` (400 ms), ahead
   ``pursuit_look_ahead_ms`` (100 ms), but always spanning at least ``pursuit_min_window_ms``
   (250 ms) where the interval allows. The sample is smooth pursuit when the line's speed is at
   least ``pursuit_min_velocity_deg_s`` (2 deg/s, REMoDNaV's pursuit velocity threshold) *and* the
   line travels at least ``pursuit_min_displacement_deg`` (1 deg) over the window: a fixation
   keeps the target within about a degree, the extent of the dispersion thresholds of
   Salvucci, D. D. & Goldberg, J. H. (2000), Identifying fixations and saccades in eye-tracking
   protocols, *ETRA 2000*, 71-78, and Blignaut, P. (2009), Fixation identification: the optimum
   threshold for a dispersion algorithm, *Attention, Perception, & Psychophysics* 71, 881-895;
   the drift and post-saccadic glides within a fixation are fast over tens of milliseconds but
   do not travel that far, while pursuit does. Otherwise the sample is a fixation sample.
7. **Minimum durations**: a run of fixation samples shorter than ``min_fixation_ms`` (60 ms,
   Olsen 2012) and a run of pursuit samples shorter than ``min_pursuit_ms`` (40 ms, REMoDNaV) are
   reported as nothing (label :data:`UNDEFINED`).

Fixations are reported with the :class:`~.events.FixationStarted` /
:class:`~.events.FixationEnded` events of the fixation detectors (fixation alerts and AOI dwell
can keep using them), saccades, pursuit and blinks with the events of :mod:`.events`.

Streaming and vectorised: :meth:`MovementClassifier.feed` works on the columns of a batch at once
with numpy; only the samples that the windows still need are carried over to the next batch
(about ``pursuit_window_back_ms + pursuit_min_window_ms`` worth). Every per-sample quantity is
computed element-wise or with sequential running sums that are carried exactly across batches,
so any split of a recording into batches gives exactly the same events (tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .events import (
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
    MovementEvent,
    Pursuit,
    Saccade,
)
from .samples_input import checked_batch
from .parameters import DetectorParameters, Flag, Number, OddInteger, documented, parameter

__all__ = ["MovementClassifier", "MovementParameters", "classify_samples"]

_REST = 7  # internal label: between saccades, fixation or pursuit not decided yet
_INF = np.iinfo(np.int64).max // 4


@documented
@dataclass(frozen=True)
class MovementParameters(DetectorParameters):
    """Parameters of :class:`MovementClassifier` (the module docstring has the algorithm and the
    papers; each default's source is named in its description below).

    Two rules join two parameters: ``boundary_velocity_window_ms`` must be at most
    ``saccade_velocity_window_ms``, and ``pursuit_min_velocity_deg_s`` below
    ``saccade_threshold_deg_s``.
    """

    gap_fill: bool = parameter(
        True,
        Flag(),
        "Interpolate short gaps of invalid samples (Olsen 2012). Off: every invalid sample "
        "breaks the signal and runs of them are blinks.",
    )
    max_gap_ms: float = parameter(
        75.0,
        Number(0, 1000, min_inclusive=False),
        "Longest gap filled in (Olsen 2012: 75 ms); longer runs of invalid samples are blinks. "
        "Longer bridges more tracking loss but hides short blinks, and delays events while "
        "samples are invalid.",
    )
    noise_reduction_window: int = parameter(
        3,
        OddInteger(1, 51),
        "Samples in the moving-median window, odd (Olsen 2012: 3); 1 switches it off. Wider "
        "smooths more but blurs saccade onsets.",
    )
    saccade_velocity_window_ms: float = parameter(
        20.0,
        Number(0, 200, min_inclusive=False),
        "Velocity window that finds saccades (Olsen 2012; the 20 ms filter of Nyström & "
        "Holmqvist 2010). Longer is less noisy but misses short saccades and delays events by "
        "half the window.",
    )
    boundary_velocity_window_ms: float = parameter(
        8.0,
        Number(0, 200, min_inclusive=False),
        "Shorter velocity window that places saccade on- and offsets and finds post-saccadic "
        "oscillations (at most saccade_velocity_window_ms). Shorter places them more sharply "
        "but is noisier.",
    )
    saccade_threshold_deg_s: float = parameter(
        30.0,
        Number(0, 1000, min_inclusive=False),
        "Saccade velocity threshold (Olsen 2012: 30 deg/s). Lower finds smaller saccades but "
        "takes fast pursuit and noise for saccades.",
    )
    max_pso_ms: float = parameter(
        40.0,
        Number(0, 200),
        "Longest post-saccadic oscillation after a saccade (Nyström & Holmqvist 2010; Dar, "
        "Wagner & Hanke 2021, REMoDNaV: 40 ms); 0 reports none. Each saccade event waits this "
        "long.",
    )
    pursuit_window_back_ms: float = parameter(
        400.0,
        Number(0, 2000),
        "How far back the line fitted to tell fixation from smooth pursuit reaches (Larsson et "
        "al. 2015 judge pursuit over such windows). Longer tells slow pursuit better but "
        "reacts later to a change.",
    )
    pursuit_look_ahead_ms: float = parameter(
        100.0,
        Number(0, 1000),
        "How far ahead that line reaches. Every fixation end and pursuit event waits this long.",
    )
    pursuit_min_window_ms: float = parameter(
        250.0,
        Number(0, 2000, min_inclusive=False),
        "Shortest span of that line where the interval between saccades allows. Longer tells "
        "slow pursuit from drifting fixations better (400 ms: more dots kappa) but delays "
        "fixation starts by about this much.",
    )
    pursuit_min_velocity_deg_s: float = parameter(
        2.0,
        Number(0, 1000),
        "Slowest smooth pursuit (Dar, Wagner & Hanke 2021, REMoDNaV: 2 deg/s); below "
        "saccade_threshold_deg_s. Lower takes fixational drift for pursuit.",
    )
    pursuit_min_displacement_deg: float = parameter(
        1.0,
        Number(0, 90),
        "Least distance the gaze must travel over the window to be pursuit: a fixation keeps "
        "within about a degree (Salvucci & Goldberg 2000; Blignaut 2009; the spatial range of "
        "Larsson et al. 2015). Lower takes drift for pursuit, higher takes slow pursuit for "
        "fixation.",
    )
    min_fixation_ms: float = parameter(
        60.0,
        Number(0, 1000),
        "Shorter fixations are not reported (Olsen 2012: 60 ms).",
    )
    min_pursuit_ms: float = parameter(
        40.0,
        Number(0, 1000),
        "Shorter pursuit segments are not reported (REMoDNaV: 40 ms).",
    )
    tentative_starts: bool = parameter(
        True,
        Flag(),
        "Report a fixation's start as soon as it has lasted min_fixation_ms, before it can be "
        "told from slow smooth pursuit (which takes about pursuit_min_window_ms), and retract it "
        "if it was pursuit. Off: starts only when certain, ~pursuit_min_window_ms late. Needs "
        "pursuit_min_window_ms >= min_fixation_ms + max_gap_ms (else the decision is as early).",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.boundary_velocity_window_ms > self.saccade_velocity_window_ms:
            raise ValueError(
                "boundary_velocity_window_ms must be at most saccade_velocity_window_ms "
                f"({self.saccade_velocity_window_ms!r}), got {self.boundary_velocity_window_ms!r}"
            )
        if self.pursuit_min_velocity_deg_s >= self.saccade_threshold_deg_s:
            raise ValueError(
                "pursuit_min_velocity_deg_s must be below saccade_threshold_deg_s "
                f"({self.saccade_threshold_deg_s!r}), got {self.pursuit_min_velocity_deg_s!r}"
            )


def _angle_deg(ax, ay, bx, by):  # noqa: ANN001, ANN202 - numpy arrays or floats
    """Angle (deg) between directions ``(ax, ay, 1)`` and ``(bx, by, 1)`` (as in geometry)."""
    cx = ay - by
    cy = bx - ax
    cz = ax * by - ay * bx
    dot = ax * bx + ay * by + 1.0
    return np.degrees(np.arctan2(np.sqrt(cx * cx + cy * cy + cz * cz), dot))


def _direction_deg(x0: float, y0: float, x1: float, y1: float) -> float:
    """Direction of a movement, counter-clockwise from rightwards, up positive (y is down)."""
    angle = math.degrees(math.atan2(-(y1 - y0), x1 - x0)) + 0.0  # no -0.0
    return 180.0 if angle == -180.0 else angle


def _angle_between(x0: float, y0: float, x1: float, y1: float) -> float:
    """Angle (deg) between the gaze directions of two positions given in degrees."""
    return float(
        _angle_deg(
            math.tan(math.radians(x0)),
            math.tan(math.radians(y0)),
            math.tan(math.radians(x1)),
            math.tan(math.radians(y1)),
        )
    )


def _runs(values: NDArray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Start and stop (exclusive) of the runs of equal values."""
    n = values.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate(([0], change))
    stops = np.concatenate((change, [n]))
    return starts, stops


def _seqsum(carry: float, values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Running sums ``carry + v0, carry + v0 + v1, ...`` added strictly in sample order."""
    return np.cumsum(np.concatenate(([carry], values)))[1:]


class _Run:
    """Running statistics of the open fixation or pursuit run (sample-order sums)."""

    __slots__ = (
        "confirmed",
        "end_s",
        "end_values",
        "end_x",
        "end_y",
        "ex_counts",
        "ex_sums",
        "isi",
        "kind",
        "max_x",
        "max_y",
        "min_x",
        "min_y",
        "n",
        "number",
        "start_s",
        "start_values",
        "start_x",
        "start_y",
        "sum_speed",
        "sum_x",
        "sum_y",
        "tentative",
    )

    def __init__(self, kind: int, isi: int, n_extra: int) -> None:
        self.kind = kind
        self.isi = isi
        self.n = 0
        self.start_s = self.end_s = math.nan
        self.start_x = self.start_y = self.end_x = self.end_y = math.nan
        self.start_values: dict[str, float] = {}
        self.end_values: dict[str, float] = {}
        self.sum_x = self.sum_y = self.sum_speed = 0.0
        self.min_x = self.min_y = math.inf
        self.max_x = self.max_y = -math.inf
        self.ex_sums = [0.0] * n_extra
        self.ex_counts = [0] * n_extra
        self.confirmed = False
        self.number = 0
        self.tentative = 0  # the number of the interval's tentative start, if it had one


class MovementClassifier:
    """Streaming classifier of fixations, saccades (with PSO), smooth pursuit and blinks.

    Feed batches with :meth:`feed` (any sizes: the events are exactly those of one pass over the
    whole recording) and end with :meth:`flush`. See the module docstring for the algorithm.

    Delay (how long after a sample arrives the event it decides can be emitted), with the
    defaults: the velocity windows need 10 ms plus one sample ahead; a saccade is final 40 ms
    (``max_pso_ms``) after its last fast sample; a sample between saccades is decided once the
    samples ``pursuit_look_ahead_ms`` (100 ms) ahead of it, and ``pursuit_min_window_ms``
    (250 ms) from the start of its window, are in - so the first samples after a saccade wait
    up to 250 ms, later ones 100 ms, plus the 10 ms velocity look-ahead. Hence
    :class:`~.events.FixationStarted` comes about ``pursuit_min_window_ms`` + 10 ms after a
    fixation's first sample (at the earliest ``min_fixation_ms`` after it), and
    :class:`~.events.FixationEnded`, :class:`~.events.Pursuit` and
    :class:`~.events.Saccade` up to ``pursuit_look_ahead_ms`` + 10 ms (saccades:
    ``max_pso_ms`` + 10 ms) after their last sample. While samples are invalid add up to
    ``max_gap_ms`` (gap fill-in waits to know whether the gap will be filled). At 60 Hz every
    look-ahead is at least one sample (16.7 ms).

    State: the samples of the last ``pursuit_window_back_ms + pursuit_min_window_ms`` (about
    650 ms, at most a few thousand samples), plus running sums - never the history.
    """

    def __init__(self, parameters: MovementParameters | None = None, **overrides: object) -> None:
        if parameters is None:
            parameters = MovementParameters(**overrides)  # type: ignore[arg-type]
        elif overrides:
            raise ValueError(
                "pass either a MovementParameters instance or keyword overrides, not both"
            )
        self.parameters = p = parameters
        self._max_gap = p.max_gap_ms / 1000.0
        self._fill = p.gap_fill
        self._half_median = p.noise_reduction_window // 2
        self._half_detect = p.saccade_velocity_window_ms / 2000.0
        self._half_edge = p.boundary_velocity_window_ms / 2000.0
        self._halves = np.array([[self._half_detect], [self._half_edge]])
        self._threshold = p.saccade_threshold_deg_s
        self._max_pso = p.max_pso_ms / 1000.0
        self._back = p.pursuit_window_back_ms / 1000.0
        self._ahead = p.pursuit_look_ahead_ms / 1000.0
        self._min_window = p.pursuit_min_window_ms / 1000.0
        self._pursuit_speed = p.pursuit_min_velocity_deg_s
        self._pursuit_distance = p.pursuit_min_displacement_deg
        self._min_fix = p.min_fixation_ms / 1000.0
        self._min_pursuit = p.min_pursuit_ms / 1000.0
        # a tentative start can only come before the decision if the decision waits for
        # samples beyond the minimum fixation (see _try_tentative)
        self._tentative = p.tentative_starts and (
            p.pursuit_min_window_ms >= p.min_fixation_ms + p.max_gap_ms
        )
        self._extra_names: tuple[str, ...] | None = None
        self._last_time: float | None = None
        self._numbers = {"fixation": 0, "saccade": 0, "pursuit": 0, "blink": 0}
        self._events: list[MovementEvent] = []
        self._reset_stream(n_extra=0)

    # -- public API ----------------------------------------------------------------------------

    @property
    def last_time_s(self) -> float | None:
        """Time (s) of the last sample consumed by :meth:`feed`, ``None`` before the first."""
        return self._last_time

    @property
    def extra_names(self) -> tuple[str, ...]:
        """Names of the extra columns (fixed by the first non-empty :meth:`feed`)."""
        return self._extra_names or ()

    @property
    def buffered_samples(self) -> int:
        """Samples held in the classifier's windows (bounded, see the class docstring)."""
        return int(self._t.shape[0])

    def feed(
        self,
        t_seconds: ArrayLike,
        x_deg: ArrayLike,
        y_deg: ArrayLike,
        extra: Mapping[str, ArrayLike] | None = None,
    ) -> list[MovementEvent]:
        """Consume a batch of samples and return the events it completed (possibly none).

        Parameters
        ----------
        t_seconds:
            Sample times (s), finite and strictly increasing, also across calls.
        x_deg, y_deg:
            Gaze position in degrees of visual angle (see :mod:`.geometry`); NaN (or infinite)
            in either marks an invalid sample.
        extra:
            Optional extra columns, one array per name, of the same length; their per-fixation
            means are reported in the fixation events' ``means`` (as for the fixation
            detectors). The names are fixed by the first non-empty batch.

        Raises
        ------
        ValueError
            On arrays of different lengths or shapes, non-finite or non-increasing time, or extra
            columns that differ from the first batch's. The classifier is left unchanged.
        """
        t, x, y, columns = self._validate(t_seconds, x_deg, y_deg, extra)
        if t.shape[0] == 0:
            return []
        events: list[MovementEvent] = []
        self._events = events
        self._append(t, x, y, columns)
        self._advance(final=False)
        return events

    def flush(self) -> list[MovementEvent]:
        """End of stream: decide every pending sample and return the remaining events.

        The classifier can be fed again afterwards (time must still increase); the new data
        start a new segment, nothing is gap-filled, smoothed or windowed across the flush.
        Event numbers continue.
        """
        events: list[MovementEvent] = []
        self._events = events
        if self._t.shape[0]:
            self._advance(final=True)
        self._close_run()
        self._reset_stream(n_extra=len(self._extra_names or ()))
        return events

    # -- input ---------------------------------------------------------------------------------

    def _validate(
        self,
        t_seconds: ArrayLike,
        x_deg: ArrayLike,
        y_deg: ArrayLike,
        extra: Mapping[str, ArrayLike] | None,
    ) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        t, x, y, names, extra_columns = checked_batch(
            t_seconds, x_deg, y_deg, extra, extra_names=self._extra_names, last_time=self._last_time
        )
        columns = np.empty((t.shape[0], len(names)))
        for k, column in enumerate(extra_columns):
            columns[:, k] = column
        if t.shape[0] == 0:
            return t, x, y, columns
        if self._extra_names is None:
            self._extra_names = names
            self._reset_stream(n_extra=len(names))
        self._last_time = float(t[-1])
        return t, x, y, columns

    # -- buffers -------------------------------------------------------------------------------

    def _reset_stream(self, n_extra: int) -> None:
        """Empty buffers and per-segment state (start of stream or after a flush)."""
        self._base = 0  # stream index of buffer index 0 (segment/interval ids are stream indices)
        # Each column lives in a preallocated array (``_store``); the attributes below are views
        # of its rows ``_off`` to ``_off + n``: appending writes after them, forgetting old
        # samples moves ``_off`` on, and only when the array is full are the rows kept moved to
        # its start (or to a larger array). See _append and _trim.
        self._n_extra = n_extra
        layout = self._layout()
        self._store = {name: np.empty((0, *shape), dtype) for name, (dtype, _, shape) in layout.items()}
        self._fills = [(name, fill) for name, (_, fill, _) in layout.items() if fill is not None]
        self._off = 0
        self._views(0)
        self._n_fill = self._n_med = self._n_vel = self._n_sac = 0
        self._n_pre = self._n_fp = self._n_out = 0
        self._last_valid: tuple[float, float, float, NDArray] | None = None
        self._seg_start = -1  # id of the current segment, -1 after an invalid sample
        self._prev_isi = -1  # interval id of the last sample given running sums
        self._prev_pre = np.zeros(6)  # its running sums
        self._origin = (0.0, 0.0, 0.0)  # t, x, y of the first sample of that interval
        self._queue: list[tuple[int, MovementEvent]] = []  # (last buffer index, event)
        self._run: _Run | None = None
        self._onset = False  # is sample _n_sac the first sample of a saccade?
        self._tent_done = -1  # the last interval (id) whose tentative start was decided
        self._tent_pending: tuple[int, int] | None = None  # (interval, number) not yet resolved
        self._blink_n = 0
        self._blink_first_s = self._blink_last_s = math.nan
        self._blink_before: float | None = None  # last valid time before the open blink
        self._last_valid_time: float | None = None

    def _layout(self) -> dict[str, tuple[type, object, tuple[int, ...]]]:
        """Every per-sample column: dtype, value of a new row (``None``: given by the caller),
        shape of a row."""
        f, nan, extra = np.float64, np.nan, (self._n_extra,)
        return {
            "_t": (f, None, ()),
            "_xr": (f, None, ()),  # raw positions (NaN invalid)
            "_yr": (f, None, ()),
            "_er": (f, None, extra),
            "_xf": (f, nan, ()),  # gap-filled (NaN: invalid after fill-in)
            "_yf": (f, nan, ()),
            "_ef": (f, nan, extra),
            "_brk": (np.bool_, False, ()),  # a valid sample that starts a segment
            "_seg": (np.int64, -1, ()),  # segment id (stream index of its first sample)
            "_dx": (f, nan, ()),  # gaze direction (tan) of the smoothed position
            "_dy": (f, nan, ()),
            "_vd": (f, nan, ()),  # velocity over the saccade-detection window
            "_ve": (f, nan, ()),  # velocity over the boundary window
            "_lab": (np.int8, 0, ()),
            "_isi": (np.int64, -1, ()),  # interval id of rest samples (stream index), else -1
            "_speed": (f, nan, ()),  # pursuit-window speed of rest samples
            "_pre": (f, 0.0, (6,)),  # running sums over the interval (see _prefix)
        }

    def _views(self, n: int) -> None:
        """Point the column attributes at rows ``_off`` to ``_off + n`` of the store."""
        start, stop = self._off, self._off + n
        for name, array in self._store.items():
            setattr(self, name, array[start:stop])

    def _append(self, t: NDArray, x: NDArray, y: NDArray, columns: NDArray) -> None:
        self._trim()
        n = self._t.shape[0]
        m = t.shape[0]
        capacity = self._store["_t"].shape[0]
        if self._off + n + m > capacity:  # full: keep the rows in use, at the start of arrays big enough
            size = max(capacity, 2 * (n + m), 1024)
            for name, array in self._store.items():
                fresh = np.empty((size, *array.shape[1:]), array.dtype)
                fresh[:n] = array[self._off : self._off + n]
                self._store[name] = fresh
            self._off = 0
        a, b = self._off + n, self._off + n + m
        store = self._store
        for name, fill in self._fills:
            store[name][a:b] = fill
        store["_t"][a:b] = t
        store["_xr"][a:b] = x
        store["_yr"][a:b] = y
        store["_er"][a:b] = columns
        self._views(n + m)

    def _trim(self) -> None:
        """Forget the samples that no window or pending decision needs any more."""
        n = self._t.shape[0]
        if n == 0:
            return
        t = self._t
        keep = min(self._n_fill, self._n_sac, self._n_pre, self._n_fp, self._n_out)
        keep = min(keep, self._n_med - self._half_median)
        # velocity windows reach back half a window (and one sample) from the next sample
        low = t[min(self._n_vel, n - 1)] - self._half_detect
        keep = min(keep, int(np.searchsorted(t, low)) - 1)
        # pursuit windows reach back pursuit_window_back_ms (and one sample for the sums)
        low = t[min(self._n_fp, n - 1)] - self._back
        keep = min(keep, int(np.searchsorted(t, low)) - 1)
        for index, _ in self._queue:
            keep = min(keep, index)
        if keep <= 0:
            return
        self._off += keep
        self._views(n - keep)
        self._base += keep
        self._n_fill -= keep
        self._n_med -= keep
        self._n_vel -= keep
        self._n_sac -= keep
        self._n_pre -= keep
        self._n_fp -= keep
        self._n_out -= keep
        self._queue = [(index - keep, event) for index, event in self._queue]

    # -- pipeline ------------------------------------------------------------------------------

    def _advance(self, final: bool) -> None:
        self._gap_fill(final)
        self._smooth(final)
        self._velocity(final)
        self._saccades(final)
        self._prefix()
        self._pursuit(final)
        self._output(final)

    def _segment_ends(self, index: NDArray[np.int64], final: bool) -> NDArray[np.int64]:
        """Buffer index of the last sample of the segment of each ``index``, ``_INF`` if unknown.

        Known when a later fill-final sample is invalid or starts a new segment, or at the end
        of the stream. Meaningless for invalid samples.
        """
        limit = self._n_fill
        first = int(index[0]) + 1 if index.shape[0] else limit
        enders = first + np.flatnonzero(
            np.isnan(self._xf[first:limit]) | self._brk[first:limit]
        )
        position = np.searchsorted(enders, index, side="right")
        ends = np.full(index.shape[0], _INF, np.int64)
        have = position < enders.shape[0]
        ends[have] = enders[position[have]] - 1
        if final:
            ends[~have] = limit - 1
        return ends

    # 1. gap fill-in ---------------------------------------------------------------------------

    def _gap_fill(self, final: bool) -> None:
        start = self._n_fill
        n = self._t.shape[0]
        if start >= n:
            return
        t = self._t
        valid = np.isfinite(self._xr[start:]) & np.isfinite(self._yr[start:])
        stop = n  # first sample that is not final
        last = self._last_valid
        run_starts, run_stops = _runs(valid)
        filled: list[tuple[int, int]] = []
        for a, b in zip(run_starts.tolist(), run_stops.tolist()):
            if valid[a]:
                continue
            a += start
            b += start
            if a > start:
                prev_t: float | None = float(t[a - 1])
            else:
                prev_t = last[0] if last is not None else None
            if not self._fill or prev_t is None:
                continue  # cannot be filled
            if b < n:
                if float(t[b]) - prev_t <= self._max_gap:
                    filled.append((a, b))
            elif not final and float(t[n - 1]) - prev_t <= self._max_gap:
                stop = a  # a later sample may still close this gap in time
        m = stop - start
        if m == 0:
            return
        ok = valid[:m]
        xf = np.where(ok, self._xr[start:stop], np.nan)
        yf = np.where(ok, self._yr[start:stop], np.nan)
        ef = np.where(ok[:, None], self._er[start:stop], np.nan)
        for a, b in filled:
            if a > start:
                t0 = float(t[a - 1])
                x0 = float(self._xr[a - 1])
                y0 = float(self._yr[a - 1])
                e0 = self._er[a - 1]
            else:
                assert last is not None
                t0, x0, y0, e0 = last
            w = (t[a:b] - t0) / (float(t[b]) - t0)
            xf[a - start : b - start] = x0 + w * (float(self._xr[b]) - x0)
            yf[a - start : b - start] = y0 + w * (float(self._yr[b]) - y0)
            if e0.shape[0]:
                ef[a - start : b - start] = e0 + w[:, None] * (self._er[b] - e0)
        self._xf[start:stop] = xf
        self._yf[start:stop] = yf
        self._ef[start:stop] = ef
        # A segment starts at a valid sample after an invalid one, after a jump of the
        # timestamps longer than max_gap_ms, or at the start of the stream.
        ok = ~np.isnan(xf)
        tt = t[start:stop]
        prev_ok = np.concatenate(([last is not None], ok[:-1]))
        prev_t = np.concatenate(([last[0] if last is not None else -math.inf], tt[:-1]))
        brk = ok & (~prev_ok | (tt - prev_t > self._max_gap))
        self._brk[start:stop] = brk
        ids = np.arange(start, stop) + self._base
        seeds = np.where(brk, ids, -1)
        if ok[0] and not brk[0]:
            seeds[0] = self._seg_start
        seg = np.maximum.accumulate(seeds)
        seg[~ok] = -1
        self._seg[start:stop] = seg
        if ok[-1]:
            self._seg_start = int(seg[-1])
            self._last_valid = (float(tt[-1]), float(xf[-1]), float(yf[-1]), ef[-1].copy())
        else:
            self._seg_start = -1
            self._last_valid = None
        self._n_fill = stop

    # 2. noise reduction -----------------------------------------------------------------------

    def _smooth(self, final: bool) -> None:
        start = self._n_med
        stop = self._n_fill
        if start >= stop:
            return
        h = self._half_median
        index = np.arange(start, stop)
        ok = ~np.isnan(self._xf[start:stop])
        ends = self._segment_ends(index, final)
        ready = ~ok | (ends < _INF) | (index + h <= stop - 1)
        if not ready.all():
            cut = int(np.argmin(ready))
            stop = start + cut
            index, ok, ends = index[:cut], ok[:cut], ends[:cut]
        if stop == start:
            return
        xf = self._xf
        yf = self._yf
        xm = xf[start:stop].copy()
        ym = yf[start:stop].copy()
        if h:
            seg = self._seg[start:stop] - self._base
            half = np.minimum(np.minimum(index - seg, ends - index), h)
            half[~ok] = 0
            for k in range(1, h + 1):
                pick = np.flatnonzero(half == k)
                if pick.shape[0] == 0:
                    continue
                centre = index[pick]
                if k == 1:  # median of three, exactly, without sorting
                    for source, target in ((xf, xm), (yf, ym)):
                        a, b, c = source[centre - 1], source[centre], source[centre + 1]
                        target[pick] = np.maximum(
                            np.minimum(a, b), np.minimum(np.maximum(a, b), c)
                        )
                    continue
                window = centre[:, None] + np.arange(-k, k + 1)
                xm[pick] = np.median(xf[window], axis=1)
                ym[pick] = np.median(yf[window], axis=1)
        self._dx[start:stop] = np.tan(np.radians(xm))
        self._dy[start:stop] = np.tan(np.radians(ym))
        self._n_med = stop

    # 3. velocity ------------------------------------------------------------------------------

    def _window_velocity(
        self,
        index: NDArray[np.int64],
        half: NDArray[np.float64],
        ends: NDArray[np.int64],
        mid: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Velocity of samples ``index`` over centred windows (rule of :mod:`.velocity`): one row
        per half-window length in ``half`` (a column), one column per sample; ``mid[k]`` is the
        time half-way between samples ``k`` and ``k + 1``. Element-wise, so a sample's velocity
        is the same whatever else is computed with it."""
        t = self._t
        n = t.shape[0]
        ti = t[index]
        seg = self._seg[index] - self._base
        j = np.searchsorted(mid, ti + half, side="right")  # nearest sample to t + half
        right = np.maximum(j, index + 1)
        clipped = right >= ends
        right = np.minimum(right, ends)
        # The window's end is certain at the segment's end, when it is the next sample, or
        # when a later sample lies beyond t + half; and the sample must be smoothed already.
        ready = np.where(clipped, ends < _INF, (right > j) | (j < n - 1)) & (right < self._n_med)
        left = np.searchsorted(mid, ti - half, side="left")
        left = np.maximum(np.minimum(left, index - 1), seg)
        right = np.minimum(right, n - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            velocity = _angle_deg(
                self._dx[left], self._dy[left], self._dx[right], self._dy[right]
            ) / (t[right] - t[left])
        velocity[right == left] = np.nan
        return velocity, ready

    def _velocity(self, final: bool) -> None:
        start = self._n_vel
        stop = self._n_med
        if start >= stop:
            return
        index = np.arange(start, stop)
        ok = ~np.isnan(self._xf[start:stop])
        ends = np.where(ok, self._segment_ends(index, final), index)
        mid = (self._t[:-1] + self._t[1:]) * 0.5
        (vd, ve), (ready_d, ready_e) = self._window_velocity(index, self._halves, ends, mid)
        ready = ~ok | (ready_d & ready_e)
        if not ready.all():
            stop = start + int(np.argmin(ready))
        m = stop - start
        if m == 0:
            return
        self._vd[start:stop] = np.where(ok[:m], vd[:m], np.nan)
        self._ve[start:stop] = np.where(ok[:m], ve[:m], np.nan)
        self._n_vel = stop

    # 4-5. saccades and PSOs -------------------------------------------------------------------

    def _saccades(self, final: bool) -> None:
        pos = self._n_sac
        stop = self._n_vel
        if pos >= stop:
            return
        t = self._t
        n = t.shape[0]
        ok = ~np.isnan(self._xf[:stop])
        fast = ok & (self._vd[:stop] > self._threshold)
        edge_fast = self._ve[:stop] > self._threshold
        brk = self._brk[:stop]
        lab = self._lab
        self._onset = False
        while pos < stop:
            if not ok[pos]:
                more = ok[pos:stop]
                nxt = pos + int(np.argmax(more)) if more.any() else stop
                lab[pos:nxt] = BLINK
                pos = nxt
                continue
            if not fast[pos]:
                quiet = ~ok[pos:stop] | fast[pos:stop]
                nxt = pos + int(np.argmax(quiet)) if quiet.any() else stop
                lab[pos:nxt] = _REST
                pos = nxt
                continue
            # a saccade candidate: the run of fast samples within the segment
            tail = ~fast[pos + 1 : stop] | brk[pos + 1 : stop]
            if tail.any():
                run_stop = pos + 1 + int(np.argmax(tail))
            elif final or self._segment_ends(np.array([stop - 1]), final)[0] == stop - 1:
                run_stop = stop
            else:  # the run may go on; where the saccade starts may be known already
                core = np.flatnonzero(edge_fast[pos:stop])
                if core.shape[0]:
                    lab[pos : pos + int(core[0])] = _REST
                    pos += int(core[0])
                break
            core = np.flatnonzero(edge_fast[pos:run_stop])
            if core.shape[0]:
                first = pos + int(core[0])
                last = pos + int(core[-1])
            else:
                first, last = pos, run_stop - 1
            # PSO window: max_pso after the saccade, within the segment, up to the next
            # saccade candidate
            limit = int(np.searchsorted(t, float(t[last]) + self._max_pso, side="right"))
            cap = limit
            seg_end = int(self._segment_ends(np.array([last]), final)[0])
            if seg_end < _INF:
                cap = min(cap, seg_end + 1)
            later = np.flatnonzero(fast[run_stop : min(cap, stop)])
            if later.shape[0]:
                cap = run_stop + int(later[0])
            if cap > stop or (cap == limit and limit >= n and not final):
                lab[pos:first] = _REST  # the PSO window is not complete yet, the start is known
                pos = first
                break
            cap = max(cap, run_stop)
            high = np.flatnonzero(edge_fast[last + 1 : cap])
            pso_last = last + 1 + int(high[-1]) if high.shape[0] else last
            pso_last = max(pso_last, run_stop - 1)
            lab[pos:first] = _REST
            lab[first : last + 1] = SACCADE
            lab[last + 1 : pso_last + 1] = PSO
            self._queue.append((pso_last, self._saccade_event(first, last, pso_last)))
            pos = pso_last + 1
        self._n_sac = pos
        # the intersaccadic interval before a saccade ends at its first sample, known as soon as
        # that sample is: the first sample of a fast run that is fast over the short window too
        self._onset = bool(pos < stop and fast[pos] and edge_fast[pos])

    def _saccade_event(self, first: int, last: int, pso_last: int) -> Saccade:
        t = self._t
        x0, y0 = float(self._xf[first]), float(self._yf[first])
        x1, y1 = float(self._xf[last]), float(self._yf[last])
        self._numbers["saccade"] += 1
        return Saccade(
            number=self._numbers["saccade"],
            start_s=float(t[first]),
            end_s=float(t[last]),
            duration_ms=(float(t[last]) - float(t[first])) * 1000.0,
            amplitude_deg=_angle_between(x0, y0, x1, y1),
            peak_velocity_deg_s=float(np.max(self._vd[first : last + 1])),
            direction_deg=_direction_deg(x0, y0, x1, y1),
            start_x_deg=x0,
            start_y_deg=y0,
            end_x_deg=x1,
            end_y_deg=y1,
            pso_end_s=float(t[pso_last]),
            pso_duration_ms=(float(t[pso_last]) - float(t[last])) * 1000.0,
            start_values=self._values(first),
            end_values=self._values(last),
        )

    def _values(self, index: int) -> dict[str, float]:
        """The extra columns of one sample (gap-filled), by name."""
        row = self._ef[index]
        return {name: float(row[k]) for k, name in enumerate(self._extra_names or ())}

    # 6. fixation or pursuit -------------------------------------------------------------------

    def _prefix(self) -> None:
        """Running sums over each intersaccadic interval for the least-squares windows.

        Columns: t, t*t, x, y, t*x, t*y with t, x, y relative to the interval's first sample,
        summed strictly in sample order and carried across batches: they do not depend on how
        the recording was split.
        """
        start = self._n_pre
        stop = self._n_sac
        if start >= stop:
            return
        rest = self._lab[start:stop] == _REST
        brk = self._brk[start:stop]
        prev_rest = np.concatenate(([self._prev_isi >= 0], rest[:-1]))
        new = rest & (~prev_rest | brk)
        ids = np.arange(start, stop) + self._base
        seeds = np.where(new, ids, -1)
        if rest[0] and not new[0]:
            seeds[0] = self._prev_isi
        isi = np.maximum.accumulate(seeds)
        isi[~rest] = -1
        self._isi[start:stop] = isi
        t = self._t
        pre = self._pre
        run_starts, run_stops = _runs(isi)
        for a, b in zip((run_starts + start).tolist(), (run_stops + start).tolist()):
            interval = int(self._isi[a])
            if interval < 0:
                continue
            if interval == self._prev_isi:
                carry = self._prev_pre
            else:
                carry = np.zeros(6)
                self._origin = (float(t[a]), float(self._xf[a]), float(self._yf[a]))
            t0, x0, y0 = self._origin
            tt = t[a:b] - t0
            xx = self._xf[a:b] - x0
            yy = self._yf[a:b] - y0
            # one sequential running sum per column (cumsum along the rows adds in sample order)
            terms = np.column_stack((tt, tt * tt, xx, yy, tt * xx, tt * yy))
            pre[a:b] = np.cumsum(np.vstack((carry, terms)), axis=0)[1:]
            self._prev_isi = interval
            self._prev_pre = pre[b - 1].copy()
        if not rest[-1]:
            self._prev_isi = -1
        self._n_pre = stop

    def _pursuit(self, final: bool) -> None:
        start = self._n_fp
        stop = self._n_sac
        if start >= stop:
            return
        t = self._t
        n = t.shape[0]
        index = np.arange(start, stop)
        isi = self._isi[:stop]
        rest = isi[start:stop] >= 0
        # last sample of each sample's interval, where known (a later decided sample does not
        # continue it), else _INF; at the end of the stream the last decided sample
        enders = start + 1 + np.flatnonzero(isi[start + 1 :] != isi[start:-1])
        position = np.searchsorted(enders, index, side="right")
        have = position < enders.shape[0]
        isi_end = np.full(stop - start, _INF, np.int64)
        isi_end[have] = enders[position[have]] - 1
        if final or self._onset:  # the stream, or the interval, ends at the last labelled sample
            isi_end[~have] = stop - 1
        s = np.where(rest, isi[start:stop] - self._base, index)
        a = np.maximum(np.searchsorted(t, t[index] - self._back, side="left"), s)
        ahead = np.searchsorted(t, t[index] + self._ahead, side="right") - 1
        span = np.searchsorted(t, t[a] + self._min_window, side="right") - 1
        want = np.maximum(ahead, span)
        # certain when the interval ends first, or a later decided sample lies beyond the window
        ready = ~rest | (isi_end <= want) | ((want < n - 1) & (want < stop))
        if not ready.all():
            cut = int(np.argmin(ready))
            stop = start + cut
            index, rest, s, a = index[:cut], rest[:cut], s[:cut], a[:cut]
            want, isi_end = want[:cut], isi_end[:cut]
        if stop == start:
            return
        b = np.where(rest, np.minimum(want, isi_end), index)
        a = np.where(rest, a, index)
        pre = self._pre
        count = (b - a + 1).astype(np.float64)
        before = np.where((a > s)[:, None], pre[np.maximum(a - 1, 0)], 0.0)
        sums = pre[b] - before
        st, stt, sx, sy, stx, sty = (sums[:, k] for k in range(6))
        with np.errstate(invalid="ignore", divide="ignore"):
            den = stt - st * st / count
            vx = (stx - st * sx / count) / den
            vy = (sty - st * sy / count) / den
            speed = np.sqrt(vx * vx + vy * vy)
            pursuit = (
                rest
                & (b - a >= 2)
                & (speed >= self._pursuit_speed)
                & (speed * (t[b] - t[a]) >= self._pursuit_distance)
            )
        self._speed[start:stop] = np.where(rest, speed, np.nan)
        lab = self._lab
        lab[start:stop] = np.where(rest, np.where(pursuit, PURSUIT, FIXATION), lab[start:stop])
        self._n_fp = stop

    # 7. events --------------------------------------------------------------------------------

    def _output(self, final: bool) -> None:
        start = self._n_out
        stop = self._n_fp
        if start < stop:
            lab = self._lab[start:stop].astype(np.int64)
            isi = self._isi[start:stop]
            key = lab * (1 << 48) + (isi + 1)
            run_starts, run_stops = _runs(key)
            for a, b in zip((run_starts + start).tolist(), (run_stops + start).tolist()):
                kind = int(self._lab[a])
                if kind == BLINK:
                    self._close_run()
                    self._release(a)
                    self._extend_blink(a, b)
                    continue
                self._close_blink(a)
                if kind in (FIXATION, PURSUIT):
                    run = self._run
                    interval = int(self._isi[a])
                    if run is None or run.kind != kind or run.isi != interval:
                        self._close_run()
                        self._release(a)
                        if interval - self._base == a:  # the interval's first sample
                            self._try_tentative(a, interval, decided=True)
                        run = self._run = _Run(kind, interval, self._er.shape[1])
                        pending = self._tent_pending
                        if pending is not None and pending[0] == interval:
                            self._tent_pending = None
                            if kind == FIXATION:
                                run.tentative = pending[1]
                            else:  # it was pursuit
                                self._events.append(FixationRetracted(pending[1], float(self._t[a])))
                    self._extend_run(run, a, b)
                else:
                    self._close_run()
                    self._release(b)
                self._last_valid_time = float(self._t[b - 1])
            self._n_out = stop
        if final:
            self._close_run()
            self._close_blink(None)
        else:
            self._frontier()
        self._release(self._n_out if not final else _INF)

    def _frontier(self) -> None:
        """Events due at the first undecided sample ``f`` that need not wait for its decision: the
        open blink ends if ``f`` is valid; the open fixation or pursuit ends if ``f`` cannot
        continue it (a saccade, a blink, another interval); the interval starting at ``f`` may
        get a tentative fixation start. The walk over decided samples does the same at ``f``
        later, in the same order, so the events do not depend on how the stream was split."""
        f = self._n_out
        if f >= self._n_fill:
            return
        valid = not math.isnan(float(self._xf[f]))
        if self._blink_n and valid:
            self._close_blink(f)
        run = self._run
        if run is not None:
            known = f < self._n_sac
            ended = (
                not valid
                or bool(self._brk[f])
                or (known and (self._lab[f] != _REST or int(self._isi[f]) != run.isi))
                or (f == self._n_sac and self._onset)
            )
            if ended:
                self._close_run()
                self._release(f)
        if f < self._n_sac and self._lab[f] == _REST:
            interval = int(self._isi[f])
            if interval - self._base == f:
                self._try_tentative(f, interval, decided=False)

    def _try_tentative(self, a: int, interval: int, decided: bool) -> None:
        """Emit the tentative start of the fixation candidate at the first sample ``a`` of an
        intersaccadic interval once the interval has lasted ``min_fixation_ms`` (``decided``:
        sample ``a`` is decided, this is the last chance).

        With ``pursuit_min_window_ms >= min_fixation_ms + max_gap_ms`` (else tentative starts are
        off), the sample that makes the interval last the minimum is always labelled before
        ``a`` is decided (its pursuit window reaches past it, and samples of an interval are at
        most ``max_gap_ms`` apart), so whether an interval gets a tentative start never depends
        on how the stream was split. Its values are those :meth:`_extend_run` gives the
        :class:`FixationStarted` of a fixation starting at ``a``.
        """
        if not self._tentative or interval <= self._tent_done:
            return
        stop = self._n_sac
        outside = np.flatnonzero(self._isi[a:stop] != interval)
        m = int(outside[0]) if outside.shape[0] else stop - a
        t = self._t[a : a + m]
        reached = np.flatnonzero(t - float(t[0]) >= self._min_fix) if m else outside
        if reached.shape[0] == 0:
            if decided:
                self._tent_done = interval
            return
        k = int(reached[0]) + 1
        self._tent_done = interval
        x = _seqsum(0.0, self._xf[a : a + k])
        y = _seqsum(0.0, self._yf[a : a + k])
        extras = self._ef[a : a + k]
        sums, counts = [], []
        for column in range(extras.shape[1]):
            values = extras[:, column]
            valid = ~np.isnan(values)
            sums.append(float(_seqsum(0.0, np.where(valid, values, 0.0))[-1]))
            counts.append(int(np.count_nonzero(valid)))
        self._numbers["fixation"] += 1
        number = self._numbers["fixation"]
        self._tent_pending = (interval, number)
        self._events.append(
            FixationTentative(
                number=number,
                start_s=float(t[0]),
                confirmed_s=float(t[k - 1]),
                x_deg=float(x[-1]) / k,
                y_deg=float(y[-1]) / k,
                n_samples=k,
                means=self._means(sums, counts),
            )
        )

    def _release(self, upto: int) -> None:
        """Emit the queued saccades whose last sample lies before buffer index ``upto``."""
        if not self._queue:
            return
        keep = []
        for index, event in self._queue:
            if index < upto:
                self._events.append(event)
            else:
                keep.append((index, event))
        self._queue = keep

    def _extend_run(self, run: _Run, a: int, b: int) -> None:
        t = self._t[a:b]
        x = self._xf[a:b]
        y = self._yf[a:b]
        if run.n == 0:
            run.start_s = float(t[0])
            run.start_x = float(x[0])
            run.start_y = float(y[0])
            if run.kind == PURSUIT:
                run.start_values = self._values(a)
        sx = _seqsum(run.sum_x, x)
        sy = _seqsum(run.sum_y, y)
        count = run.n + np.arange(1, b - a + 1)
        extras = self._ef[a:b]
        ex_sums = []
        ex_counts = []
        for k in range(extras.shape[1]):
            column = extras[:, k]
            valid = ~np.isnan(column)
            ex_sums.append(_seqsum(run.ex_sums[k], np.where(valid, column, 0.0)))
            ex_counts.append(run.ex_counts[k] + np.cumsum(valid))
        if run.kind == FIXATION and not run.confirmed:
            reached = np.flatnonzero(t - run.start_s >= self._min_fix)
            if reached.shape[0]:
                k = int(reached[0])
                if run.tentative:
                    run.number = run.tentative
                else:
                    self._numbers["fixation"] += 1
                    run.number = self._numbers["fixation"]
                run.confirmed = True
                self._events.append(
                    FixationStarted(
                        number=run.number,
                        start_s=run.start_s,
                        confirmed_s=float(t[k]),
                        x_deg=float(sx[k]) / int(count[k]),
                        y_deg=float(sy[k]) / int(count[k]),
                        n_samples=int(count[k]),
                        means=self._means(
                            [float(s[k]) for s in ex_sums], [int(c[k]) for c in ex_counts]
                        ),
                    )
                )
        if run.kind == PURSUIT:
            run.sum_speed = float(_seqsum(run.sum_speed, self._speed[a:b])[-1])
        run.n = int(count[-1])
        run.sum_x = float(sx[-1])
        run.sum_y = float(sy[-1])
        run.min_x = min(run.min_x, float(x.min()))  # a run's samples are valid: no NaN
        run.max_x = max(run.max_x, float(x.max()))
        run.min_y = min(run.min_y, float(y.min()))
        run.max_y = max(run.max_y, float(y.max()))
        run.ex_sums = [float(s[-1]) for s in ex_sums]
        run.ex_counts = [int(c[-1]) for c in ex_counts]
        run.end_s = float(t[-1])
        run.end_x = float(x[-1])
        run.end_y = float(y[-1])
        if run.kind == PURSUIT:
            run.end_values = self._values(b - 1)

    def _means(self, sums: list[float], counts: list[int]) -> dict[str, float]:
        return {
            name: (sums[k] / counts[k] if counts[k] else math.nan)
            for k, name in enumerate(self._extra_names or ())
        }

    def _close_run(self) -> None:
        run = self._run
        self._run = None
        if run is None or run.n == 0:
            return
        duration = run.end_s - run.start_s
        if run.kind == FIXATION:
            if run.tentative and not run.confirmed:  # too short after all
                self._events.append(FixationRetracted(run.tentative, run.start_s))
            if run.confirmed:
                self._events.append(
                    FixationEnded(
                        number=run.number,
                        start_s=run.start_s,
                        end_s=run.end_s,
                        duration_ms=duration * 1000.0,
                        x_deg=run.sum_x / run.n,
                        y_deg=run.sum_y / run.n,
                        dispersion_deg=(run.max_x - run.min_x) + (run.max_y - run.min_y),
                        n_samples=run.n,
                        means=self._means(run.ex_sums, run.ex_counts),
                    )
                )
        elif duration >= self._min_pursuit:
            self._numbers["pursuit"] += 1
            self._events.append(
                Pursuit(
                    number=self._numbers["pursuit"],
                    start_s=run.start_s,
                    end_s=run.end_s,
                    duration_ms=duration * 1000.0,
                    mean_velocity_deg_s=run.sum_speed / run.n,
                    amplitude_deg=_angle_between(
                        run.start_x, run.start_y, run.end_x, run.end_y
                    ),
                    direction_deg=_direction_deg(run.start_x, run.start_y, run.end_x, run.end_y),
                    start_x_deg=run.start_x,
                    start_y_deg=run.start_y,
                    end_x_deg=run.end_x,
                    end_y_deg=run.end_y,
                    n_samples=run.n,
                    start_values=run.start_values,
                    end_values=run.end_values,
                )
            )

    def _extend_blink(self, a: int, b: int) -> None:
        if self._blink_n == 0:
            self._blink_first_s = float(self._t[a])
            self._blink_before = self._last_valid_time
        self._blink_n += b - a
        self._blink_last_s = float(self._t[b - 1])

    def _close_blink(self, after: int | None) -> None:
        """End the open blink, if any; ``after`` is the buffer index of the next valid sample."""
        if self._blink_n == 0:
            return
        first = self._blink_first_s
        last = self._blink_last_s
        begin = self._blink_before if self._blink_before is not None else first
        end = float(self._t[after]) if after is not None else last
        self._numbers["blink"] += 1
        self._events.append(
            Blink(
                number=self._numbers["blink"],
                start_s=first,
                end_s=last,
                duration_ms=(end - begin) * 1000.0,
                n_samples=self._blink_n,
            )
        )
        self._blink_n = 0
        self._blink_before = None


def classify_samples(
    t_seconds: ArrayLike, x_deg: ArrayLike, y_deg: ArrayLike, **parameters: object
) -> NDArray[np.int8]:
    """Per-sample labels of a whole recording, through :class:`MovementClassifier`.

    The recording is fed in one batch and the classifier flushed; each sample gets the label
    of the event that covers it: :data:`~.events.FIXATION` (1),
    :data:`~.events.SACCADE` (2), :data:`~.events.PSO` (3),
    :data:`~.events.PURSUIT` (4), :data:`~.events.BLINK` (5), else
    :data:`~.events.UNDEFINED` (6) - the codes of Andersson et al. (2017).

    Parameters
    ----------
    t_seconds, x_deg, y_deg:
        As for :meth:`MovementClassifier.feed`.
    **parameters:
        Overrides of the defaults of :class:`MovementParameters`.
    """
    t = np.asarray(t_seconds, dtype=np.float64)
    classifier = MovementClassifier(MovementParameters(**parameters))  # type: ignore[arg-type]
    events = classifier.feed(t, x_deg, y_deg)
    events += classifier.flush()
    return labels_from_events(t, events)


def labels_from_events(t_seconds: ArrayLike, events: list[MovementEvent]) -> NDArray[np.int8]:
    """Per-sample labels (codes of :mod:`.events`) of the samples ``t_seconds``."""
    t = np.asarray(t_seconds, dtype=np.float64)
    labels = np.full(t.shape[0], UNDEFINED, np.int8)

    def mark(first: float, last: float, code: int) -> None:
        a = int(np.searchsorted(t, first, side="left"))
        b = int(np.searchsorted(t, last, side="right"))
        labels[a:b] = code

    for event in events:
        if isinstance(event, FixationEnded):
            mark(event.start_s, event.end_s, FIXATION)
        elif isinstance(event, Saccade):
            mark(event.start_s, event.end_s, SACCADE)
            if event.pso_end_s > event.end_s:
                a = int(np.searchsorted(t, event.end_s, side="right"))
                b = int(np.searchsorted(t, event.pso_end_s, side="right"))
                labels[a:b] = PSO
        elif isinstance(event, Pursuit):
            mark(event.start_s, event.end_s, PURSUIT)
        elif isinstance(event, Blink):
            mark(event.start_s, event.end_s, BLINK)
    return labels
