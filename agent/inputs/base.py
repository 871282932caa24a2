"""The interface every tracker source implements: where a sample enters.

A source runs its own thread(s) (the SDK's callback thread, a simulator, a
file reader) and reports through :class:`TrackerEvents`. ``gaze`` is called
once per sample with an SDK gaze dictionary and must stay O(1): the agent
only enqueues it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from enum import Enum
from typing import Protocol

from gazewire.agent.inputs.sdk import GazeDict
from gazewire.errors import GazewireError
from gazewire.wire.messages import DisplayArea, TrackerInfo


class TrackerState(str, Enum):
    WAITING = "waiting_for_tracker"  # no tracker found yet; the source retries with backoff
    TRACKING = "tracking"  # samples flow
    LOST = "tracker_lost"  # the SDK reported connection lost; waiting for restored
    FINISHED = "finished"  # a replay or a limited simulation reached its end


class TrackerError(GazewireError):
    """A tracker source cannot be used (SDK missing, bad address, bad file)."""


class TrackerEvents(Protocol):
    def gaze(self, sample: GazeDict) -> None:
        """One gaze sample. Called on the source's thread; must return at once."""

    def tracker_state(self, state: TrackerState, detail: str | None = None) -> None:
        """The tracker connection changed."""

    def tracker_info(self, info: TrackerInfo, display_area: DisplayArea | None) -> None:
        """Model, serial, frequency and display area, once known or when they change."""

    def marker(self, name: str, system_time_us: int) -> None:
        """A marker found in a replayed recording (replay only)."""


class TrackerSource(ABC):
    """A source of SDK gaze dictionaries. ``start`` returns at once; ``stop`` joins."""

    name: str = "source"
    # What the tracker's SDK reported lost (a source without an SDK keeps 0).
    buffer_overflows: int = 0
    connection_losses: int = 0

    @abstractmethod
    def start(self, events: TrackerEvents) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    def warnings(self) -> list[str]:
        """What the agent's status should say about the source now (e.g. a
        frequency the tracker does not support); empty when all is well."""
        return []

    def system_time_us(self) -> int:
        """Now on the clock of the samples' ``system_time_stamp`` (µs).

        The SDK's clock is ``tobii_research.get_system_time_stamp()``; the
        simulated and replayed sources use the monotonic clock.
        """
        return time.monotonic_ns() // 1000
