"""The agent's counters and the ``status`` message built from them."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from gazewire import __version__
from gazewire.wire.messages import AgentCounters, AgentStatus, ClockInfo, DisplayArea, RecordingInfo, TrackerInfo
from gazewire.wire.timeutil import iso_from_utc_us, utc_now_us


@dataclass
class Counters:
    """Plain integers; each is written by one thread only (CPython int stores are atomic)."""

    samples_in: int = 0
    samples_invalid: int = 0
    samples_dropped_queue: int = 0
    samples_malformed: int = 0
    samples_dropped_sdk: int = 0  # estimated from holes in device_time_stamp
    batches_unsaved: int = 0  # sent without the outbox (its disk failed)
    samples_unsaved: int = 0
    live_published: int = 0
    markers: int = 0
    commands_refused: int = 0  # answered ok: false (invalid, or failed)
    samples_live_only: int = 0  # between recordings with keep_unrecorded = false: not numbered, batched or written


def build_status(
    *,
    session: str,
    state: str,
    run: str,
    reason: str | None,
    publish_hz: float,
    tracker: TrackerInfo | None,
    display_area: DisplayArea | None,
    clock: ClockInfo | None,
    counters: AgentCounters,
    warnings: list[str],
    recording: RecordingInfo | None = None,
    custody: str | None = None,
    status_interval_s: float | None = None,
) -> AgentStatus:
    return AgentStatus(
        session=session,
        state=state,  # type: ignore[arg-type]
        utc=iso_from_utc_us(utc_now_us()),
        agent_version=__version__,
        host=socket.gethostname(),
        run=run,
        reason=reason,
        publish_hz=publish_hz,
        tracker=tracker,
        display_area=display_area,
        clock=clock,
        counters=counters,
        warnings=warnings,
        recording=recording,
        custody=custody,  # type: ignore[arg-type]
        status_interval_s=status_interval_s,
    )


def last_will(session: str, run: str) -> AgentStatus:
    """The retained ``offline`` status the broker publishes if the agent vanishes."""
    return AgentStatus(
        session=session,
        state="offline",
        utc=None,
        agent_version=__version__,
        host=socket.gethostname(),
        run=run,
        reason="connection lost without a clean disconnect (last will)",
    )
