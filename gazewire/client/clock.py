"""How far this computer's clock is from an agent's: NTP's on-wire method over ``ping``.

A marker is stamped on the clock of the computer that sends it (the stimulus
PC); the agent places it among the samples on its own clock. When the two
clocks disagree, the marker moves by the difference. :func:`best_offset`
measures it the way NTP does (Mills, RFC 5905 §8): each probe is a ``ping``
with four times,

    t1  the client sends the command      (client clock)
    t2  the agent receives it             (agent clock: ``received_utc_ns``)
    t3  the agent sends the reply         (agent clock: ``sent_utc_ns``)
    t4  the client receives the reply     (client clock)

    offset     = ((t2 - t1) + (t3 - t4)) / 2      agent clock - client clock
    round trip = (t4 - t1) - (t3 - t2)            time on the wire, both ways

and of several probes the one with the smallest round trip is kept (NTP's
clock filter): its offset is off by at most half its round trip, whatever
the network does, because the error comes only from the two directions
taking different times. Pure functions; the client sends the pings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Probe:
    """One ping's four times, in nanoseconds (see the module docstring)."""

    sent_ns: int  # t1, client clock
    agent_received_ns: int  # t2, agent clock
    agent_sent_ns: int  # t3, agent clock
    received_ns: int  # t4, client clock

    @property
    def offset_ns(self) -> float:
        return ((self.agent_received_ns - self.sent_ns) + (self.agent_sent_ns - self.received_ns)) / 2

    @property
    def round_trip_ns(self) -> int:
        return (self.received_ns - self.sent_ns) - (self.agent_sent_ns - self.agent_received_ns)


@dataclass(frozen=True, slots=True)
class ClockOffset:
    """The agent's clock minus this client's: ``agent_ns = client_ns + offset_ns``.

    ``round_trip_ns`` is the best probe's time on the wire; the offset is off
    by at most half of it (``uncertainty_ns``).
    """

    offset_ns: int
    round_trip_ns: int
    probes: int  # how many probes were measured (the best one is kept)
    measured_ns: int  # when, on the client's clock

    @property
    def uncertainty_ns(self) -> int:
        """The bound on the offset's error: half the round trip, rounded up."""
        return math.ceil(self.round_trip_ns / 2)

    @property
    def offset_ms(self) -> float:
        return self.offset_ns / 1e6

    @property
    def uncertainty_ms(self) -> float:
        return self.uncertainty_ns / 1e6

    def to_agent_ns(self, client_ns: int) -> int:
        """A moment on this client's clock, on the agent's clock."""
        return client_ns + self.offset_ns

    def __str__(self) -> str:
        return f"{self.offset_ms:+.3f} ms ± {self.uncertainty_ms:.3f} ms (best of {self.probes} probes)"


def best_offset(probes: Iterable[Probe]) -> ClockOffset:
    """The offset from the probe with the smallest round trip.

    A probe with a negative round trip (a clock was stepped during it) is
    useless and skipped; ValueError when no probe is usable.
    """
    measured = list(probes)
    usable = [probe for probe in measured if probe.round_trip_ns >= 0]
    if not usable:
        raise ValueError(f"no usable clock probe among {len(measured)} (a clock stepped during every one)")
    best = min(usable, key=lambda probe: probe.round_trip_ns)
    return ClockOffset(
        offset_ns=round(best.offset_ns),
        round_trip_ns=best.round_trip_ns,
        probes=len(measured),
        measured_ns=best.received_ns,
    )
