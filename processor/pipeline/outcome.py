"""What handling one message produces: messages to publish and points to store."""

from __future__ import annotations

from dataclasses import dataclass, field

from gazewire.wire.messages import Alert, AoiEvent, FixationEvent, WireModel
from gazewire.wire.topics import Channel
from gazewire.processor.outputs.lineprotocol import Point


@dataclass
class Outcome:
    fixations: list[FixationEvent] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    aoi: list[AoiEvent] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)

    def merge(self, other: Outcome) -> Outcome:
        self.fixations += other.fixations
        self.alerts += other.alerts
        self.aoi += other.aoi
        self.points += other.points
        return self

    def messages(self) -> list[tuple[Channel, WireModel]]:
        """Everything to publish, each with its channel: fixations, AOI events, alerts."""
        return (
            [(Channel.FIXATIONS, m) for m in self.fixations]
            + [(Channel.AOI, m) for m in self.aoi]
            + [(Channel.ALERTS, m) for m in self.alerts]
        )

    def __bool__(self) -> bool:
        return bool(self.fixations or self.alerts or self.aoi or self.points)
