"""The Tobii I-VT fixation filter as a streaming detector.

Olsen, A. (2012). *The Tobii I-VT Fixation Filter: Algorithm description*. Tobii Technology.
(Velocity-threshold identification itself: Salvucci, D. D. & Goldberg, J. H. (2000).
Identifying fixations and saccades in eye-tracking protocols. *Proceedings of ETRA 2000*,
71-78.)

Steps, in Olsen's order (the parameters of :class:`IVTParameters`, whose defaults are Tobii's
published ones):

1. gap fill-in: linear interpolation over gaps up to ``max_gap_ms`` (:mod:`.gapfill`);
2. eye selection: done upstream, the input is one (averaged) gaze signal in degrees;
3. noise reduction: moving median (``noise_reduction``) over ``noise_reduction_window`` samples
   (:mod:`.smoothing`);
4. velocity: angle between the first and last sample of a ``velocity_window_ms`` window centred
   on each sample, divided by their time difference (:mod:`.velocity`);
5. classification: a sample with velocity below ``velocity_threshold_deg_s`` is a fixation
   sample; a run of consecutive fixation samples is a fixation candidate;
6. merge adjacent fixations: a candidate that starts less than ``merge_max_gap_ms`` after the
   previous one ended and whose mean position is less than ``merge_max_angle_deg`` from the
   previous one's is merged into it (the samples in between become part of the fixation);
7. discard short fixations: fixations shorter than ``min_fixation_ms`` (``end - start`` of their
   samples) are dropped.

One deliberate, documented difference to the offline filter, needed to report fixations while
they happen (``merge_decision="early"``, the default): the merge decision (step 6) for a
candidate is taken when the candidate *ends* or when it has itself lasted ``min_fixation_ms``,
whichever comes first, with the candidate's mean position at that moment (offline, the mean
over the whole candidate is used). A candidate that lasts ``min_fixation_ms`` is certain to be
reported - on its own or as part of the previous fixation - so deciding then lets
:class:`FixationStarted` be emitted with a final start time and number instead of waiting for
the candidate to end. For candidates shorter than ``min_fixation_ms`` (the ones the merge step
exists for: fragments split by a noise spike) the decision is exactly Olsen's.
``merge_decision="at_end"`` is Olsen's rule exactly, for offline use: then a fixation that
starts less than ``merge_max_gap_ms`` after the previous one is only confirmed
(:class:`FixationStarted`) when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .gapfill import Item
from .geometry import direction_angle_deg, gaze_direction
from .parameters import Choice, DetectorParameters, Flag, Number, OddInteger, documented, parameter
from .smoothing import NoiseReduction, NoiseReductionMethod
from .stats import RunningStats
from .stream import StreamingDetector
from .velocity import VelocityWindow

__all__ = ["IVTDetector", "IVTParameters"]


@documented
@dataclass(frozen=True)
class IVTParameters(DetectorParameters):
    """Parameters of the Tobii I-VT filter; defaults are Tobii's published defaults (Olsen 2012).

    Attributes
    ----------
    gap_fill:
        Fill gaps of invalid samples by linear interpolation.
    max_gap_ms:
        Longest gap (time between the valid samples around it) that is filled; also the longest
        jump of the timestamps bridged without a break.
    noise_reduction:
        ``"median"``, ``"mean"`` or ``None`` (no noise reduction).
    noise_reduction_window:
        Samples in the noise-reduction window.
    velocity_window_ms:
        Length of the velocity window centred on each sample.
    velocity_threshold_deg_s:
        Samples slower than this are fixation samples.
    merge_max_gap_ms:
        Adjacent fixations less than this apart in time may be merged; 0 disables merging.
    merge_max_angle_deg:
        ... and only if their mean positions are less than this apart.
    min_fixation_ms:
        Fixations shorter than this (``end - start``) are discarded.
    merge_decision:
        When a candidate that follows a fixation within ``merge_max_gap_ms`` is merged or not:
        ``"early"`` when it ends or has lasted ``min_fixation_ms``, with its mean so far -
        needed for timely :class:`FixationStarted` events; ``"at_end"`` when it ends (Olsen's
        offline rule). See the module docstring.
    """

    gap_fill: bool = parameter(
        True, Flag(), "Interpolate short gaps of invalid samples (blinks cut short, lost frames)."
    )
    max_gap_ms: float = parameter(
        75.0,
        Number(0, 1000, min_inclusive=False),
        "Longest gap filled in. Longer bridges more tracking loss but can join two "
        "fixations across a real blink; it also delays events while samples are invalid.",
    )
    noise_reduction: NoiseReductionMethod | None = parameter(
        "median",
        Choice(("median", "mean", None)),
        "Moving median (robust to spikes), mean, or none (no smoothing, noisier velocity).",
    )
    noise_reduction_window: int = parameter(
        3,
        OddInteger(3, 51),
        "Samples in the noise-reduction window (odd). Wider smooths more "
        "but blurs saccade onsets and adds window/2 samples of delay.",
    )
    velocity_window_ms: float = parameter(
        20.0,
        Number(0, 200, min_inclusive=False),
        "Window over which velocity is measured. Longer is less noisy but smears short "
        "saccades and delays every event by half the window.",
    )
    velocity_threshold_deg_s: float = parameter(
        30.0,
        Number(0, 1000, min_inclusive=False),
        "Samples slower than this are fixation samples. Lower misses fewer saccades but "
        "splits noisy fixations; higher merges small saccades into fixations.",
    )
    merge_max_gap_ms: float = parameter(
        75.0,
        Number(0, 1000),
        "Fixations closer than this in time (and merge_max_angle_deg in space) are "
        "merged. It is also how long a fixation's end waits before being published; 0 disables merging.",
    )
    merge_max_angle_deg: float = parameter(
        0.5, Number(0, 180), "Fixations closer than this (mean positions) may be merged."
    )
    min_fixation_ms: float = parameter(
        60.0,
        Number(0, 1000),
        "Shorter fixations are discarded. A fixation start is published once it has "
        "lasted this long, so higher also delays start events.",
    )
    merge_decision: Literal["early", "at_end"] = parameter(
        "early",
        Choice(("early", "at_end")),
        "early decides a merge once the later fixation has lasted min_fixation_ms, so starts "
        "are published while the fixation goes on; at_end is Olsen's offline rule, which "
        "delays them until the fixation ends.",
    )


class _Chain:
    """A fixation candidate, or several merged ones; ``number`` is set once it is certain."""

    __slots__ = ("number", "stats")

    def __init__(self, n_extra: int) -> None:
        self.stats = RunningStats(n_extra)
        self.number: int | None = None


class IVTDetector(StreamingDetector):
    """Streaming Tobii I-VT fixation detector (see the module docstring for the algorithm).

    ``feed()`` batches in any sizes give exactly the events of a single pass over the whole
    recording. The state is bounded: the gap-fill, median and velocity windows (a few dozen
    samples) and the running sums of at most two fixation candidates and of the samples between
    them - never the history.

    Latency (how long after the sample that justifies it an event can be emitted):

    * every sample is classified once the samples up to ``velocity_window_ms / 2`` after it,
      one more sample (to know the velocity window is complete) and ``noise_reduction_window
      // 2`` more samples (median window) have been fed: with the default windows, at 500 Hz
      7 samples = 14 ms, at 1200 Hz 14 samples = 11.7 ms, at 60 Hz 3 samples = 50 ms. While
      samples are invalid, add up to ``max_gap_ms`` (the gap fill-in waits to know whether the gap will be filled).
    * :class:`FixationStarted` comes with the classification of the sample that brings the
      fixation to ``min_fixation_ms``; when that needs a merge (a short candidate merged with
      the one after it), with the merge decision: when the later candidate has lasted
      ``min_fixation_ms`` on its own, or ends.
    * :class:`FixationEnded` comes ``merge_max_gap_ms`` after the fixation's last sample
      if no fixation candidate starts within that time; if one does, once that candidate has
      lasted ``min_fixation_ms`` or ended and is not merged - at most ``merge_max_gap_ms +
      min_fixation_ms`` after the fixation's last sample; plus the classification
      delay above in both cases; or at :meth:`flush`.

    With ``merge_decision="at_end"`` a candidate starting within ``merge_max_gap_ms`` of the
    previous fixation is only confirmed when it ends, and the previous fixation's
    :class:`FixationEnded` waits for that too.
    """

    def __init__(self, parameters: IVTParameters | None = None, **overrides: object) -> None:
        if parameters is None:
            parameters = IVTParameters(**overrides)  # type: ignore[arg-type]
        elif overrides:
            raise ValueError("pass either an IVTParameters instance or keyword overrides, not both")
        self.parameters = parameters
        super().__init__(parameters.max_gap_ms / 1000.0, parameters.gap_fill)
        self._noise = NoiseReduction(parameters.noise_reduction, parameters.noise_reduction_window)
        self._velocity = VelocityWindow(parameters.velocity_window_ms / 1000.0)
        self._threshold = parameters.velocity_threshold_deg_s
        self._merge_gap_s = parameters.merge_max_gap_ms / 1000.0
        self._merge_angle = parameters.merge_max_angle_deg
        self._min_s = parameters.min_fixation_ms / 1000.0
        self._decide_early = parameters.merge_decision == "early"
        self._smoothed: list = []
        self._classified: list = []
        self._open: _Chain | None = None  # candidate receiving samples
        self._pending: _Chain | None = None  # ended candidate, waiting for a merge
        self._between: RunningStats | None = None  # samples after the pending candidate
        self._undecided = False  # is the open candidate still to be merged or not?

    @property
    def buffered_samples(self) -> int:
        return self._gaps.buffered + self._noise.buffered + self._velocity.buffered

    # -- pipeline ------------------------------------------------------------------------------

    def _process(self, item: Item) -> None:
        smoothed = self._smoothed
        self._noise.push(item, smoothed)
        if not smoothed:
            return
        classified = self._classified
        velocity = self._velocity
        for s in smoothed:
            velocity.push(s, classified)
        smoothed.clear()
        for c in classified:
            self._classify(c)
        classified.clear()

    def _classify(self, item: tuple | None) -> None:
        if item is None:
            self._close_open()
            return
        t = item[0]
        if item[1] is None:  # invalid sample: ends the candidate, time passes
            self._close_open()
            self._expire(t)
            return
        n_extra = len(self._extra_names or ())
        if item[4] < self._threshold:  # fixation sample (NaN velocity compares False)
            chain = self._open
            if chain is None:
                self._expire(t)
                chain = self._open = _Chain(n_extra)
                self._undecided = self._pending is not None
            stats = chain.stats
            stats.add(t, item[1], item[2], item[3])
            if stats.end_s - stats.start_s >= self._min_s:
                if not self._undecided:
                    if chain.number is None:
                        self._confirm(chain)
                elif self._decide_early:
                    self._decide(closing=False)
        else:
            self._close_open()
            self._expire(t)
            if self._pending is not None:
                self._between.add(t, item[1], item[2], item[3])  # type: ignore[union-attr]

    def _expire(self, t: float) -> None:
        """Finalise the pending candidate if no candidate starting at ``t`` or later can merge."""
        pending = self._pending
        if pending is not None and t - pending.stats.end_s >= self._merge_gap_s:
            self._finalise(pending)
            self._pending = None
            self._between = None

    def _close_open(self) -> None:
        chain = self._open
        if chain is None:
            return
        if self._undecided:
            self._decide(closing=True)
        else:
            self._pending = chain
            self._open = None
            self._between = RunningStats(len(self._extra_names or ()))

    def _decide(self, closing: bool) -> None:
        """Merge the open candidate into the pending one, or finalise the pending one."""
        pending = self._pending
        chain = self._open
        assert pending is not None and chain is not None
        a, b = pending.stats, chain.stats
        ax, ay = gaze_direction(a.mean_x, a.mean_y)
        bx, by = gaze_direction(b.mean_x, b.mean_y)
        if direction_angle_deg(ax, ay, bx, by) < self._merge_angle:
            a.absorb(self._between)  # type: ignore[arg-type]
            a.absorb(b)
            chain = pending
        else:
            self._finalise(pending)
        self._undecided = False
        if closing:
            self._pending = chain
            self._open = None
            self._between = RunningStats(len(self._extra_names or ()))
        else:
            self._pending = None
            self._open = chain
            self._between = None
        stats = chain.stats
        if chain.number is None and stats.end_s - stats.start_s >= self._min_s:
            self._confirm(chain)

    def _confirm(self, chain: _Chain) -> None:
        chain.number = self._take_number()
        self._events.append(chain.stats.started_event(chain.number, self.extra_names))

    def _finalise(self, chain: _Chain) -> None:
        if chain.number is not None:  # uncertain candidates are shorter than the minimum
            self._events.append(chain.stats.ended_event(chain.number, self.extra_names))

    def _end_of_stream(self) -> None:
        self._close_open()
        if self._pending is not None:
            self._finalise(self._pending)
        self._pending = None
        self._between = None
