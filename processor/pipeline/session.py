"""Everything the processor knows about one session, and what it does with
each message of it. Pure: no broker, no database, no wall clock (the caller
passes the time), so it is tested without servers.

A *stream* is one continuous run of samples of the session, with its own
time base and detector. It ends (the detector is flushed: open fixations end,
visits end, alerts that need samples clear) when the agent stops tracking, and
is replaced when the agent starts its numbering over or its clock restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gazewire.wire.messages import (
    AgentStatus,
    Alert,
    AoiEvent,
    BlinkEvent,
    FixationEvent,
    GazeBatch,
    Marker,
    PursuitEvent,
    SaccadeEvent,
)
from gazewire.wire.timeutil import iso_from_utc_us, utc_us_from_iso
from gazewire.processor.pipeline.alerts import (
    AgentOffline,
    AgentSilent,
    AlertThresholds,
    AoiDwell,
    Drowsiness,
    GazeLost,
    LongFixation,
    SampleRateLow,
)
from gazewire.processor.pipeline.aoi import Aoi
from gazewire.processor.pipeline.arrays import BatchArrays
from gazewire.processor.pipeline.bad_input import BadInput, BadInputKind
from gazewire.processor.pipeline.detection import Detection
from gazewire.processor.pipeline.eye_distance import EyeDistance
from gazewire.processor.pipeline.eye_movements import (
    Blink,
    DetectorParameters,
    FixationEnded,
    FixationRetracted,
    FixationStarted,
    FixationTentative,
    MovementEvent,
    Pursuit,
    Saccade,
    algorithm_of,
)
from gazewire.processor.pipeline.outcome import AoiVisit, Outcome, ReceivedStatus
from gazewire.processor.pipeline.rates import RecentRate
from gazewire.processor.pipeline.recordings import RecordingTimeline
from gazewire.processor.pipeline.resume import SessionState, alert_key, interrupted_clear, interrupted_end
from gazewire.processor.pipeline.sequence import BatchNumbers, Classification, SequenceTracker, Verdict
from gazewire.processor.pipeline.timebase import Timebase
from gazewire.processor.pipeline.visits import AoiVisits, Change, VisitChange

NOT_STREAMING = {"stopped", "offline", "waiting_for_tracker", "tracker_lost"}
# How far ahead of the processor's clock a sample may be dated before the stream's last time is
# distrusted (an agent's clock a little ahead by NTP's error, and the publish-to-handle delay).
FUTURE_TOLERANCE_US = 60_000_000


@dataclass(frozen=True)
class SessionConfig:
    """What every session needs from the settings."""

    parameters: DetectorParameters  # the detector's, which also says which detector
    display_mm: tuple[float, float]
    eye_distance_mm: float
    alerts: AlertThresholds
    aois_for: Callable[[str], tuple[Aoi, ...]] = lambda session: ()
    # Does the journal already hold batch (session, run, batch_seq)? Asked when the sequence
    # numbers alone cannot tell a duplicate from a late batch or a new run. None: no journal.
    held: Callable[[str, str | None, int], bool] | None = None


@dataclass
class SessionCounters:
    batches: int = 0  # batches taken (new or late)
    samples: int = 0
    duplicate_batches: int = 0  # dropped: seen before
    duplicate_samples: int = 0
    gap_batches: int = 0  # batches that never came before a later one
    missing_samples: int = 0
    late_batches: int = 0  # missing ones that came after all: stored, not detected
    late_samples: int = 0
    rejected_batches: int = 0  # bad input (counted by kind in the bad-input ledger too)
    rejected_samples: int = 0
    resets: int = 0  # the agent started its numbering over
    fixations: int = 0
    fixations_retracted: int = 0  # tentative starts that were no fixation (ivd)
    saccades: int = 0
    pursuits: int = 0
    blinks: int = 0
    alerts_raised: int = 0
    aoi_visits: int = 0
    statuses: int = 0
    markers: int = 0

    def add(self, other: SessionCounters) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class _Stream:
    timebase: Timebase
    detection: Detection
    eye: EyeDistance
    last_system_us: int
    last_s: float = 0.0
    last_utc_us: int = 0
    pending: bool = False  # samples fed since the last flush
    # open fixations by session number: their (tentative or certain) start, as published
    started: dict[int, FixationStarted | FixationTentative] = field(default_factory=dict)


class Session:
    def __init__(self, name: str, config: SessionConfig) -> None:
        self.name = name
        self.config = config
        self.counters = SessionCounters()
        self.sequence = SequenceTracker()
        self.device: str | None = None
        self.run: str | None = None
        self.agent_state: str | None = None
        self.display_mm: tuple[float, float] | None = None  # from the agent's status
        self.nominal_hz: float | None = None
        self.last_sample_utc_us: int | None = None
        self.recordings = RecordingTimeline()
        self._stream: _Stream | None = None
        self._deferred: list[GazeBatch] = []  # batches taken, their samples not yet detected (settle)
        self._deferred_last_us = 0  # system_time_us and utc_us of the last deferred sample
        self._deferred_last_utc_us = 0
        self._fixation_base = 0  # fixations numbered before the current detector
        self._last_number = 0
        # saccades, pursuits, blinks numbered before the current detector, and the last numbers
        self._movement_base = {Saccade: 0, Pursuit: 0, Blink: 0}
        self._movement_last = dict(self._movement_base)
        self.first_sample_utc_us: int | None = None
        self.saccade_rate = RecentRate()
        self.blink_rate = RecentRate()
        self._open_fixations: dict[int, FixationEvent] = {}  # start published, end not yet
        self._open_alerts: dict[str, Alert] = {}  # raised, not yet cleared
        enabled = set(config.alerts.enabled)
        alerts = config.alerts
        self.long_fixation = LongFixation(name, alerts.long_fixation_s) if "long_fixation" in enabled else None
        self.gaze_lost = GazeLost(name, alerts.gaze_lost_s) if "gaze_lost" in enabled else None
        self.sample_rate = (
            SampleRateLow(name, alerts.sample_rate_window_s, alerts.sample_rate_low_ratio)
            if "sample_rate_low" in enabled
            else None
        )
        self.agent_offline = AgentOffline(name) if "agent_offline" in enabled else None
        self.agent_silent = AgentSilent(name, alerts.agent_silent_s) if "agent_silent" in enabled else None
        self.drowsiness = (
            Drowsiness(name, alerts.drowsiness_window_s, alerts.blink_rate_per_min, alerts.long_closure_ms)
            if "drowsiness" in enabled
            else None
        )
        aois = config.aois_for(name)
        self.visits = AoiVisits(aois)
        self.dwell = (
            {aoi.name: AoiDwell(name, aoi.name, aoi.dwell_s or alerts.aoi_dwell_s) for aoi in aois}
            if "aoi_dwell" in enabled
            else {}
        )

    # ================================================================== messages

    def handle_batch(self, batch: GazeBatch, now_utc_us: int, *, defer: bool = False) -> Outcome:
        """Take one gaze batch; raise BadInput (state unchanged) if it cannot be used.

        ``defer``: a batch that continues the stream as it is (same device, run and rate, no
        gap, no restart) is only taken - numbered, counted, returned in ``batches`` - and its
        samples wait for :meth:`settle`, which feeds every waiting batch to the detector in one
        call. The events are the same as batch by batch (the detectors and alerts do not depend
        on how the samples are cut: property tests); only numpy's fixed cost per feed is
        paid once per group instead of once per batch. Anything that is no plain continuation
        settles what waits first, so the order of everything the session does is kept."""
        try:
            outcome = self._take_batch(batch, now_utc_us, defer)
        except BadInput:
            self.refused(batch)
            raise
        return self._finish(outcome)

    def settle(self, now_utc_us: int) -> Outcome:
        """Detect the samples of the batches :meth:`handle_batch` deferred (nothing if none)."""
        return self._finish(self._settle(now_utc_us))

    def _settle(self, now_utc_us: int) -> Outcome:
        if not self._deferred:
            return Outcome()
        batches, self._deferred = self._deferred, []
        arrays = BatchArrays.of_many(batches)
        if self.gaze_lost is not None and self.gaze_lost.may_raise(arrays.system_us, arrays.valid):
            # gaze_lost ends the AOI visits when it is raised, between the fixations of the
            # batch that raised it and those after: batch by batch, as without deferral
            outcome = Outcome()
            for batch in batches:
                outcome.merge(self._detect(BatchArrays.of(batch), now_utc_us))
            return outcome
        return self._detect(arrays, now_utc_us)

    @property
    def deferred_batches(self) -> int:
        return len(self._deferred)

    def refused(self, batch: GazeBatch) -> None:
        """``batch`` was refused as bad input (here, or by the stateless checks on the way in):
        its samples are counted refused, and not missing when a later batch comes."""
        self.counters.rejected_batches += 1
        self.counters.rejected_samples += batch.count
        self.sequence.refused(BatchNumbers(batch.run, batch.batch_seq, batch.first_seq, batch.count))

    def handle_status(self, status: AgentStatus, *, retained: bool, received_utc_us: int, now_utc_us: int) -> Outcome:
        outcome = self._settle(now_utc_us)  # the samples before the status see the state before it
        outcome.statuses.append(ReceivedStatus(status, received_utc_us))
        self.counters.statuses += 1
        previous = self.agent_state
        self.agent_state = status.state
        if status.display_area is not None:
            self.display_mm = (status.display_area.width_mm, status.display_area.height_mm)
        if status.tracker is not None and status.tracker.frequency_hz:
            self.nominal_hz = status.tracker.frequency_hz
        if status.state in NOT_STREAMING:
            outcome.merge(self._end_stream(f"agent {status.state}", now_utc_us))
        if self.agent_offline is not None:
            utc_us = received_utc_us
            if status.utc is not None:
                try:
                    utc_us = utc_us_from_iso(status.utc)
                except ValueError:
                    pass
            outcome.alerts += self.agent_offline.status(
                status.state,
                utc_us,
                retained=retained and previous is None,
                last_will=status.utc is None,
                reason=status.reason,
                run=status.run,
            )
        if self.agent_silent is not None:
            outcome.alerts += self.agent_silent.status(
                status.state, _made_utc_us(status, received_utc_us, retained), interval_s=status.status_interval_s,
                run=status.run,
            )
        return self._finish(outcome)

    def status_cleared(self) -> None:
        """The agent's retained status was deleted (``gazewire status --prune``)."""
        if self.agent_silent is not None:
            self.agent_silent.cleared()

    def silence(self, now_utc_us: int, since_utc_us: int) -> Outcome:
        """Housekeeping: raise agent_silent if the agent's status stopped being refreshed
        (counted from ``since_utc_us``, when the processor last connected, at the earliest)."""
        if self.agent_silent is None:
            return Outcome()
        return self._finish(Outcome(alerts=self.agent_silent.check(now_utc_us, since_utc_us)))

    def handle_marker(self, marker: Marker) -> Outcome:
        self.counters.markers += 1
        return Outcome(markers=[marker])

    def end(self, reason: str, now_utc_us: int) -> Outcome:
        """The processor stops or forgets this session: end everything open."""
        outcome = self._settle(now_utc_us)
        return self._finish(outcome.merge(self._end_stream(reason, now_utc_us)))

    def drop_stream(self) -> None:
        """After a processor bug while handling this session: start afresh with the next batch."""
        self._stream = None
        self._deferred = []

    # ================================================================== batches

    def _take_batch(self, batch: GazeBatch, now_utc_us: int, defer: bool = False) -> Outcome:
        numbers = BatchNumbers(batch.run, batch.batch_seq, batch.first_seq, batch.count)
        classification = self._classify(numbers)
        counters = self.counters
        if classification.verdict is Verdict.DUPLICATE:
            counters.duplicate_batches += 1
            counters.duplicate_samples += batch.count
            return Outcome(duplicates=[batch])
        if classification.verdict is Verdict.LATE:
            self.sequence.accept(numbers, classification)
            counters.batches += 1
            counters.samples += batch.count
            counters.late_batches += 1
            counters.late_samples += batch.count
            return Outcome(batches=[batch] if batch.count else [])
        restart = self._new_stream_reason(batch, classification, now_utc_us)

        # From here on the batch is taken: nothing below refuses it.
        outcome = Outcome()
        continues = (
            restart is None
            and not classification.missing_batches
            and not classification.missing_samples
            and batch.device == self.device
            and batch.run == self.run
            and (not batch.sample_rate_hz or batch.sample_rate_hz == self.nominal_hz)
        )
        if not (defer and continues):
            outcome = self._settle(now_utc_us)  # what waits is detected first, in order
        self.sequence.accept(numbers, classification)
        if restart is not None:
            outcome.merge(self._end_stream(restart, now_utc_us))
            self._retire_stream()
            if classification.verdict is Verdict.RESET:
                counters.resets += 1
        counters.batches += 1
        counters.samples += batch.count
        if classification.missing_batches or classification.missing_samples:
            counters.gap_batches += classification.missing_batches
            counters.missing_samples += classification.missing_samples
            outcome.alerts += self._interrupt_alerts("samples missing before this batch")
        self.device = batch.device
        self.run = batch.run
        if batch.sample_rate_hz:
            self.nominal_hz = batch.sample_rate_hz
        if batch.count == 0:
            return outcome
        outcome.batches.append(batch)
        self.recordings.note(batch.columns.utc_us[0], batch.recording)
        if defer and continues:
            self._deferred.append(batch)
            self._deferred_last_us = batch.columns.system_time_us[-1]
            self._deferred_last_utc_us = batch.columns.utc_us[-1]
        else:
            outcome.merge(self._detect(BatchArrays.of(batch), now_utc_us))
        return outcome

    def _classify(self, numbers: BatchNumbers) -> Classification:
        """The sequence tracker's verdict, checked against the journal where numbers alone
        cannot tell: a batch below the expected number is a duplicate exactly when the
        journal holds it (else it is late: stored, not detected)."""
        classification = self.sequence.classify(numbers)
        held = self.config.held
        verdict = classification.verdict
        if held is None or verdict in (Verdict.NEXT, Verdict.GAP):
            return classification
        is_held = held(self.name, numbers.run, numbers.batch_seq)
        if is_held and verdict is not Verdict.DUPLICATE:
            return Classification(Verdict.DUPLICATE, new_run=classification.new_run)
        if not is_held and verdict is Verdict.DUPLICATE:
            return Classification(Verdict.LATE, new_run=classification.new_run)
        return classification

    def _new_stream_reason(self, batch: GazeBatch, classification: Classification, now_utc_us: int) -> str | None:
        """Why this batch starts a new stream (``None``: it continues the current one); raise
        BadInput (state unchanged) if it cannot be taken.

        The session's stateful check of a batch - the stateless ones were done on the way in
        (:mod:`gazewire.processor.inputs.checks`): within one agent run, sample times only go
        forward, also from one batch to the next. A new run whose clock starts over (its host
        rebooted) starts a new stream instead.

        When the host clock goes backwards within a run, the batch and the stream disagree, and
        either may be wrong: a batch that is refused leaves the stream as it was, so a stream whose
        last time was wrong would refuse every later batch. So the batch is refused only when both
        of its clocks go backwards and the stream's last sample is not dated in the future by the
        processor's clock; otherwise the stream's last time is the one that cannot be right, and
        a new stream starts with this batch (nothing refused, nothing poisoned).
        """
        if classification.verdict is Verdict.RESET:
            return "the agent started its numbering over"
        stream = self._stream
        if (stream is None and not self._deferred) or batch.count == 0:
            return None
        if self._deferred:  # the last sample taken is a deferred batch's, not yet the stream's
            last_us, last_utc_us = self._deferred_last_us, self._deferred_last_utc_us
        else:
            assert stream is not None
            last_us, last_utc_us = stream.last_system_us, stream.last_utc_us
        first_us = batch.columns.system_time_us[0]
        if first_us > last_us:
            return None
        if classification.new_run:
            return "the agent restarted and its clock started over"
        if last_utc_us > now_utc_us + FUTURE_TOLERANCE_US:
            return "the previous samples were dated in the future"
        if batch.columns.utc_us[0] > last_utc_us:
            return "the agent's host clock went backwards while UTC went on"
        raise BadInput(
            BadInputKind.TIME_BACKWARDS,
            f"batch {batch.batch_seq} starts at system_time_us {first_us}, "
            f"not after the previous sample's {last_us}",
            self.name,
        )

    def _detect(self, arrays: BatchArrays, now_utc_us: int) -> Outcome:
        stream = self._stream
        if stream is None:
            config = self.config
            stream = self._stream = _Stream(
                timebase=Timebase(int(arrays.system_us[0])),
                detection=Detection(config.parameters),
                eye=EyeDistance(config.eye_distance_mm),
                last_system_us=int(arrays.system_us[0]) - 1,
            )
            new_stream = True
        else:
            new_stream = False
        timebase = stream.timebase
        timebase.note_offsets(arrays.system_us, arrays.utc_us)
        t = timebase.seconds(arrays.system_us)
        if new_stream and self.drowsiness is not None:
            self.drowsiness.stream_started(float(t[0]))
        if self.first_sample_utc_us is None:
            self.first_sample_utc_us = int(arrays.utc_us[0])
        distance = stream.eye.per_sample(
            arrays.left_z, arrays.left_origin_valid, arrays.right_z, arrays.right_origin_valid
        )
        events = stream.detection.feed(t, arrays.x, arrays.y, distance, self.display_mm or self.config.display_mm)
        stream.last_system_us = int(arrays.system_us[-1])
        stream.last_s = float(t[-1])
        stream.last_utc_us = int(arrays.utc_us[-1])
        stream.pending = True
        self.last_sample_utc_us = stream.last_utc_us

        outcome = self._movement_events(stream, events, now_utc_us)
        utc_of = timebase.utc_us
        if self.gaze_lost is not None and self.agent_state in (None, "tracking", "online"):
            alerts = self.gaze_lost.samples(t, arrays.valid, utc_of)
            outcome.alerts += alerts
            if any(a.state == "raised" for a in alerts):
                outcome.merge(self._visit_changes(self.visits.end_all(), utc_of))
        if self.sample_rate is not None:
            outcome.alerts += self.sample_rate.samples(t, self.nominal_hz, utc_of)
        horizon = stream.last_s - stream.detection.latency_bound_s(self.nominal_hz)
        if self.long_fixation is not None:
            outcome.alerts += self.long_fixation.progress(horizon, utc_of)
        if self.drowsiness is not None:
            outcome.alerts += self.drowsiness.progress(horizon, utc_of)
        for aoi, start_s, certain_s in self.visits.progress(horizon):
            dwell = self.dwell.get(aoi.name)
            if dwell is not None:
                outcome.alerts += dwell.progress(start_s, certain_s, utc_of)
        return outcome

    # ================================================================== fixations, visits

    def _movement_events(self, stream: _Stream, events: list[MovementEvent], now_utc_us: int) -> Outcome:
        """The detector's events as wire messages, and what they mean for alerts and visits."""
        outcome = Outcome()
        if not events:
            return outcome
        utc_of = stream.timebase.utc_us
        published = iso_from_utc_us(now_utc_us)
        for event in events:
            if isinstance(event, Saccade | Pursuit | Blink):
                self._movement(stream, event, published, outcome)
                continue
            number = self._fixation_base + event.number
            self._last_number = max(self._last_number, number)
            if isinstance(event, FixationRetracted):
                outcome.fixation_events += self._retracted(stream, number, published)
                continue
            x, y = _finite(event.means.get("x")), _finite(event.means.get("y"))
            common = {  # what a start and an end event of this fixation say alike
                "session": self.name,
                "device": self.device,
                "fixation": number,
                "algorithm": stream.detection.algorithm,
                "start_utc_us": utc_of(event.start_s),
                "x": x,
                "y": y,
                "x_deg": event.x_deg,
                "y_deg": event.y_deg,
                "samples": event.n_samples,
                "utc": published,
                "detected_utc_us": stream.last_utc_us,
            }
            if isinstance(event, FixationTentative | FixationStarted):
                # A tentative start (ivd) is published at once, for whoever needs it early; its
                # fixation's start event would say the same again, so it is not published. The
                # alerts and AOI visits wait for the certain start (they count fixations only).
                if number not in stream.started:
                    start = FixationEvent(
                        **common,
                        event="start",
                        duration_ms=_elapsed_ms(stream.timebase, event.start_s, event.confirmed_s),
                        confirmed_utc_us=utc_of(event.confirmed_s),
                        tentative=True if isinstance(event, FixationTentative) else None,
                    )
                    self._open_fixations[number] = start
                    outcome.fixation_events.append(start)
                stream.started[number] = event
                if isinstance(event, FixationTentative):
                    continue
                if self.long_fixation is not None:
                    outcome.alerts += self.long_fixation.started(number, event.start_s, event.confirmed_s, x, y, utc_of)
                outcome.merge(self._visit_changes(
                    self.visits.fixation_started(number, event.start_s, event.confirmed_s, x, y), utc_of
                ))
            elif isinstance(event, FixationEnded):
                stream.started.pop(number, None)
                self._open_fixations.pop(number, None)
                message = FixationEvent(
                    **common,
                    event="end",
                    end_utc_us=utc_of(event.end_s),
                    duration_ms=_elapsed_ms(stream.timebase, event.start_s, event.end_s),
                    dispersion_deg=event.dispersion_deg,
                )
                outcome.fixation_events.append(message)
                self.counters.fixations += 1
                if self.long_fixation is not None:
                    outcome.alerts += self.long_fixation.ended(number, event.end_s, message.duration_ms, utc_of)
                self.visits.fixation_ended(number, event.end_s)
        return outcome

    def _retracted(self, stream: _Stream, number: int, published: str) -> list[FixationEvent]:
        """The end of a tentative start that was no fixation (it was smooth pursuit): ``retracted``,
        zero long, with the start's values; not stored, not counted as a fixation."""
        start = stream.started.pop(number, None)
        self._open_fixations.pop(number, None)
        self.counters.fixations_retracted += 1
        if start is None:  # its start was never published (cannot happen; nothing to take back)
            return []
        start_utc_us = stream.timebase.utc_us(start.start_s)
        return [
            FixationEvent(
                session=self.name,
                device=self.device,
                event="end",
                fixation=number,
                algorithm=stream.detection.algorithm,
                start_utc_us=start_utc_us,
                end_utc_us=start_utc_us,
                duration_ms=0.0,
                x=_finite(start.means.get("x")),
                y=_finite(start.means.get("y")),
                x_deg=start.x_deg,
                y_deg=start.y_deg,
                samples=start.n_samples,
                utc=published,
                detected_utc_us=stream.last_utc_us,
                retracted=True,
            )
        ]

    def _movement(
        self, stream: _Stream, event: Saccade | Pursuit | Blink, published: str, outcome: Outcome
    ) -> None:
        """A saccade, pursuit or blink as its wire message. Fixation alerts and AOI visits do not
        see them (they count fixations only); blinks feed the drowsiness alert."""
        kind = type(event)
        number = self._movement_base[kind] + event.number
        self._movement_last[kind] = max(self._movement_last[kind], number)
        utc_of = stream.timebase.utc_us
        common: dict[str, Any] = {
            "session": self.name,
            "device": self.device,
            "algorithm": stream.detection.algorithm,
            "start_utc_us": utc_of(event.start_s),
            "end_utc_us": utc_of(event.end_s),
            "utc": published,
            "detected_utc_us": stream.last_utc_us,
        }
        if isinstance(event, Blink):
            outcome.blinks.append(
                BlinkEvent(
                    **common, blink=number, duration_ms=round(event.duration_ms, 3), samples=event.n_samples
                )
            )
            self.counters.blinks += 1
            self.blink_rate.add(common["end_utc_us"])
            if self.drowsiness is not None:
                self.drowsiness.blink(event.end_s, event.duration_ms)
            return
        common.update(
            duration_ms=_elapsed_ms(stream.timebase, event.start_s, event.end_s),
            amplitude_deg=event.amplitude_deg,
            direction_deg=event.direction_deg,
            start_x=_finite(event.start_values.get("x")),
            start_y=_finite(event.start_values.get("y")),
            end_x=_finite(event.end_values.get("x")),
            end_y=_finite(event.end_values.get("y")),
            start_x_deg=event.start_x_deg,
            start_y_deg=event.start_y_deg,
            end_x_deg=event.end_x_deg,
            end_y_deg=event.end_y_deg,
        )
        if isinstance(event, Saccade):
            outcome.saccades.append(
                SaccadeEvent(
                    **common,
                    saccade=number,
                    peak_velocity_deg_s=event.peak_velocity_deg_s,
                    pso_duration_ms=event.pso_duration_ms,
                )
            )
            self.counters.saccades += 1
            self.saccade_rate.add(common["end_utc_us"])
        else:
            outcome.pursuits.append(
                PursuitEvent(
                    **common, pursuit=number, mean_velocity_deg_s=event.mean_velocity_deg_s, samples=event.n_samples
                )
            )
            self.counters.pursuits += 1

    def _visit_changes(self, changes: list[VisitChange], utc_of: Callable[[float], int]) -> Outcome:
        outcome = Outcome()
        for change in changes:
            name = change.aoi.name
            start_utc = utc_of(change.start_s)
            if change.change is Change.ENTER:
                outcome.aoi_events.append(
                    AoiEvent(session=self.name, aoi=name, event="enter", utc=iso_from_utc_us(start_utc), utc_us=start_utc)
                )
                continue
            assert change.end_s is not None
            end_utc = utc_of(change.end_s)
            outcome.aoi_events.append(
                AoiEvent(
                    session=self.name,
                    aoi=name,
                    event="exit",
                    utc=iso_from_utc_us(end_utc),
                    utc_us=end_utc,
                    dwell_ms=(end_utc - start_utc) / 1000.0,
                )
            )
            outcome.aoi_visits.append(AoiVisit(self.name, name, start_utc, end_utc, change.fixations))
            self.counters.aoi_visits += 1
            dwell = self.dwell.get(name)
            if dwell is not None:
                outcome.alerts += dwell.visit_ended(change.start_s, change.end_s, utc_of)
        return outcome

    # ================================================================== stream ends

    def _end_stream(self, reason: str, now_utc_us: int) -> Outcome:
        """Flush the detector and end what needs samples to go on; the stream's clock stays."""
        stream = self._stream
        if stream is None or not stream.pending:
            return Outcome(alerts=self._interrupt_alerts(reason))
        stream.pending = False
        outcome = self._movement_events(stream, stream.detection.flush(), now_utc_us)
        utc_of = stream.timebase.utc_us
        outcome.merge(self._visit_changes(self.visits.end_all(), utc_of))
        outcome.alerts += self._interrupt_alerts(reason)
        return outcome

    def _retire_stream(self) -> None:
        """Start a new time base and detector with the next batch; numbers go on."""
        self._fixation_base = self._last_number
        self._movement_base = dict(self._movement_last)
        self._stream = None

    def _interrupt_alerts(self, reason: str) -> list[Alert]:
        utc_of = self._stream.timebase.utc_us if self._stream is not None else None
        alerts: list[Alert] = []
        if self.gaze_lost is not None:
            alerts += self.gaze_lost.interrupt(reason, utc_of)
        if self.sample_rate is not None:
            alerts += self.sample_rate.interrupt(reason, utc_of)
        if self.drowsiness is not None:
            alerts += self.drowsiness.interrupt(reason, utc_of)
        return alerts

    def _finish(self, outcome: Outcome) -> Outcome:
        self.recordings.tag(outcome)
        for alert in outcome.alerts:
            if alert.state == "raised":
                self.counters.alerts_raised += 1
                self._open_alerts[alert_key(alert)] = alert
            else:
                self._open_alerts.pop(alert_key(alert), None)
        return outcome

    # ================================================================== across restarts

    def snapshot(self) -> SessionState:
        """What a restarted processor needs to go on with this session (see pipeline/resume.py)."""
        assert not self._deferred, "settle() before snapshot(): open fixations would be missing"
        return SessionState(
            sequence=self.sequence.state(),
            last_fixation=self._last_number,
            last_movements={kind.__name__.lower(): number for kind, number in self._movement_last.items()},
            open_fixations=[event.model_dump(mode="json") for event in self._open_fixations.values()],
            open_alerts=[alert.model_dump(mode="json") for alert in self._open_alerts.values()],
            device=self.device,
            run=self.run,
            agent_state=self.agent_state,
            nominal_hz=self.nominal_hz,
            display_mm=list(self.display_mm) if self.display_mm is not None else None,
            last_sample_utc_us=self.last_sample_utc_us,
        )

    def resume(self, state: SessionState, now_utc_us: int) -> Outcome:
        """Take up a snapshot of a previous processor (a fresh session only): sequence
        numbers and fixation numbering go on; what was open is closed as interrupted."""
        self.sequence = SequenceTracker.from_state(state.sequence)
        self._last_number = self._fixation_base = state.last_fixation
        for kind in self._movement_last:
            self._movement_last[kind] = state.last_movements.get(kind.__name__.lower(), 0)
        self._movement_base = dict(self._movement_last)
        self.device = state.device
        self.run = state.run
        self.agent_state = state.agent_state
        self.nominal_hz = state.nominal_hz
        self.display_mm = (state.display_mm[0], state.display_mm[1]) if state.display_mm else None
        self.last_sample_utc_us = state.last_sample_utc_us
        outcome = Outcome()
        for values in state.open_fixations:
            end = interrupted_end(FixationEvent(**values), state.last_sample_utc_us, now_utc_us)
            outcome.fixation_events.append(end)
            self.counters.fixations += 1
        for values in state.open_alerts:
            outcome.alerts.append(interrupted_clear(Alert(**values), state.last_sample_utc_us))
        return self._finish(outcome)

    # ================================================================== status

    def active_alerts(self) -> list[str]:
        active = []
        for machine in (
            self.long_fixation, self.gaze_lost, self.sample_rate, self.agent_offline, self.agent_silent, self.drowsiness
        ):
            if machine is not None and machine.condition.active:
                active.append(machine.condition.type)
        active += [f"aoi_dwell:{name}" for name, dwell in self.dwell.items() if dwell.condition.active]
        return active

    def summary(self, bad_input: dict[str, int]) -> dict[str, Any]:
        stream = self._stream
        return {
            "agent_state": self.agent_state,
            "device": self.device,
            "run": self.run,
            "recording": self.recordings.current,
            **asdict(self.counters),
            "bad_input": bad_input,
            "active_alerts": self.active_alerts(),
            "last_sample_utc": iso_from_utc_us(self.last_sample_utc_us) if self.last_sample_utc_us else None,
            "nominal_hz": self.nominal_hz,
            "observed_hz": self.sample_rate.observed_hz if self.sample_rate is not None else None,
            # saccades and blinks per minute over the last minute of samples (ivd only)
            **self._movement_rates(),
            "display_mm": list(self.display_mm or self.config.display_mm),
            "display_from_agent": self.display_mm is not None,
            "eye_distance_mm": stream.eye.last_mm if stream is not None else None,
            "next_batch_seq": self.sequence.next_batch_seq,
            # The rectangles in force for this session, so live views can draw them.
            "aois": [
                {"name": a.name, "x_min": a.x_min, "y_min": a.y_min, "x_max": a.x_max, "y_max": a.y_max}
                for a in self.config.aois_for(self.name)
            ],
        }

    def _movement_rates(self) -> dict[str, float | None]:
        if algorithm_of(self.config.parameters) != "ivd":
            return {"saccades_per_min": None, "blinks_per_min": None}
        first, last = self.first_sample_utc_us, self.last_sample_utc_us
        return {
            "saccades_per_min": self.saccade_rate.per_min(first, last),
            "blinks_per_min": self.blink_rate.per_min(first, last),
        }


def _made_utc_us(status: AgentStatus, received_utc_us: int, retained: bool) -> int:
    """When a status was made: as received, unless the broker handed it out retained (on
    subscription) - then when the agent made it (its ``utc``), if earlier."""
    if not retained or status.utc is None:
        return received_utc_us
    try:
        return min(received_utc_us, utc_us_from_iso(status.utc))
    except ValueError:
        return received_utc_us


def _elapsed_ms(timebase: Timebase, start_s: float, end_s: float) -> float:
    """Milliseconds between two detector times, exact to the microsecond of the samples."""
    return max(0, timebase.system_us(end_s) - timebase.system_us(start_s)) / 1000.0


def _finite(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return float(value)
