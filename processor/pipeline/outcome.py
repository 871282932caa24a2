"""What handling one message produces, in the processor's own terms: the messages to
publish (fixation, saccade, pursuit and blink events, AOI events, alerts) and the records to
store (the batches taken, ended fixations, saccades, pursuits, blinks, ended AOI visits,
alerts, agent statuses, markers).

The core stops here. Turning these into storage rows is the outputs' job
(:func:`gazewire.processor.outputs.points.points_of`), publishing them the publisher's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    WireModel,
)
from gazewire.wire.topics import Channel


@dataclass(frozen=True, slots=True)
class ReceivedStatus:
    """An agent status and when the processor received it (for statuses without a time)."""

    status: AgentStatus
    received_utc_us: int


@dataclass(frozen=True, slots=True)
class AoiVisit:
    """An ended visit of an area of interest: from its first fixation's start to its last
    fixation's end (UTC, µs)."""

    session: str
    aoi: str
    start_utc_us: int
    end_utc_us: int
    fixations: int
    recording: str | None = None  # the recording of its first fixation


@dataclass
class Outcome:
    batches: list[GazeBatch] = field(default_factory=list)  # taken with their samples: every sample is stored
    fixation_events: list[FixationEvent] = field(default_factory=list)  # start and end; the ends are stored
    saccades: list[SaccadeEvent] = field(default_factory=list)  # each published and stored
    pursuits: list[PursuitEvent] = field(default_factory=list)
    blinks: list[BlinkEvent] = field(default_factory=list)
    aoi_events: list[AoiEvent] = field(default_factory=list)
    aoi_visits: list[AoiVisit] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    statuses: list[ReceivedStatus] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    duplicates: list[GazeBatch] = field(default_factory=list)  # dropped: held already (custody confirms them)

    def merge(self, other: Outcome) -> Outcome:
        self.batches += other.batches
        self.fixation_events += other.fixation_events
        self.saccades += other.saccades
        self.pursuits += other.pursuits
        self.blinks += other.blinks
        self.aoi_events += other.aoi_events
        self.aoi_visits += other.aoi_visits
        self.alerts += other.alerts
        self.statuses += other.statuses
        self.markers += other.markers
        self.duplicates += other.duplicates
        return self

    def messages(self) -> list[tuple[Channel, WireModel]]:
        """Everything to publish, each with its channel: fixations, saccades, pursuits, blinks,
        AOI events, alerts."""
        return (
            [(Channel.FIXATIONS, m) for m in self.fixation_events]
            + [(Channel.SACCADES, m) for m in self.saccades]
            + [(Channel.PURSUITS, m) for m in self.pursuits]
            + [(Channel.BLINKS, m) for m in self.blinks]
            + [(Channel.AOI, m) for m in self.aoi_events]
            + [(Channel.ALERTS, m) for m in self.alerts]
        )

    def __bool__(self) -> bool:
        return bool(
            self.batches
            or self.fixation_events
            or self.saccades
            or self.pursuits
            or self.blinks
            or self.aoi_events
            or self.aoi_visits
            or self.alerts
            or self.statuses
            or self.markers
            or self.duplicates
        )
