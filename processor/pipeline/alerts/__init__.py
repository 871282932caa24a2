"""Alerts: small, pure state machines, one per alert type.

Each machine sends exactly one ``raised`` and one ``cleared`` Alert per
occurrence (see :class:`~gazewire.processor.pipeline.alerts.condition.Condition`), with sample
time (UTC), never the wall clock, so replaying the same batches gives the
same alerts. The session (:mod:`gazewire.processor.pipeline.session`) feeds them.
"""

from gazewire.processor.pipeline.alerts.agent_offline import AgentOffline
from gazewire.processor.pipeline.alerts.aoi_dwell import AoiDwell
from gazewire.processor.pipeline.alerts.condition import Condition
from gazewire.processor.pipeline.alerts.gaze_lost import GazeLost
from gazewire.processor.pipeline.alerts.long_fixation import LongFixation
from gazewire.processor.pipeline.alerts.sample_rate import SampleRateLow

__all__ = ["AgentOffline", "AoiDwell", "Condition", "GazeLost", "LongFixation", "SampleRateLow"]
