"""Choose and build the tracker source named in the settings."""

from __future__ import annotations

from gazewire.agent.config import AgentSettings, SourceKind
from gazewire.agent.inputs.base import TrackerSource


def open_source(settings: AgentSettings) -> TrackerSource:
    if settings.source is SourceKind.SIMULATED:
        from gazewire.agent.inputs.simulated import SimulatedTracker

        return SimulatedTracker(
            frequency_hz=settings.frequency_hz or 120.0,
            seed=settings.seed,
            limit=settings.sample_limit,
            speed=settings.speed,
        )
    if settings.source is SourceKind.REPLAY:
        from gazewire.agent.inputs.replay import ReplayTracker

        assert settings.replay_file is not None  # checked by the settings
        return ReplayTracker(settings.replay_file, speed=settings.speed, frequency_hz=settings.frequency_hz)
    from gazewire.agent.inputs.tobii import TobiiTracker

    return TobiiTracker(
        address=settings.tracker_address,
        serial=settings.tracker_serial,
        frequency_hz=settings.frequency_hz,
        lost_timeout_s=settings.tracker_lost_timeout_s,
    )
