"""Alerts: small, pure state machines, one per alert type.

Each machine sends exactly one ``raised`` and one ``cleared`` Alert per
occurrence (see :class:`~gazewire.processor.pipeline.alerts.condition.Condition`), with sample
time (UTC), never the wall clock, so replaying the same batches gives the
same alerts. The session (:mod:`gazewire.processor.pipeline.session`) feeds them.
"""

from collections.abc import Collection
from typing import Protocol

from gazewire.processor.pipeline.alerts.agent_offline import AgentOffline
from gazewire.processor.pipeline.alerts.agent_silent import AgentSilent
from gazewire.processor.pipeline.alerts.aoi_dwell import AoiDwell
from gazewire.processor.pipeline.alerts.condition import Condition
from gazewire.processor.pipeline.alerts.drowsiness import Drowsiness
from gazewire.processor.pipeline.alerts.gaze_lost import GazeLost
from gazewire.processor.pipeline.alerts.long_fixation import LongFixation
from gazewire.processor.pipeline.alerts.sample_rate import SampleRateLow

__all__ = [
    "AgentOffline",
    "AgentSilent",
    "AlertThresholds",
    "AoiDwell",
    "Condition",
    "Drowsiness",
    "GazeLost",
    "LongFixation",
    "SampleRateLow",
]


class AlertThresholds(Protocol):
    """What the machines need from the settings: which alerts are on, and their thresholds
    (the values, defaults and descriptions are the settings', :class:`gazewire.processor.config.AlertSettings`)."""

    @property
    def enabled(self) -> Collection[str]: ...
    @property
    def long_fixation_s(self) -> float: ...
    @property
    def aoi_dwell_s(self) -> float: ...
    @property
    def gaze_lost_s(self) -> float: ...
    @property
    def agent_silent_s(self) -> float: ...
    @property
    def sample_rate_window_s(self) -> float: ...
    @property
    def sample_rate_low_ratio(self) -> float: ...
    @property
    def drowsiness_window_s(self) -> float: ...
    @property
    def blink_rate_per_min(self) -> float: ...
    @property
    def long_closure_ms(self) -> float: ...
