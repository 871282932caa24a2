"""Alerts: small, pure state machines, one per alert type.

Each machine sends exactly one ``raised`` and one ``cleared`` Alert per
occurrence (see :class:`~processor.alerts.condition.Condition`), with sample
time (UTC), never the wall clock, so replaying the same batches gives the
same alerts. The session (:mod:`processor.session`) feeds them.
"""

from processor.alerts.agent_offline import AgentOffline
from processor.alerts.aoi_dwell import AoiDwell
from processor.alerts.condition import Condition
from processor.alerts.gaze_lost import GazeLost
from processor.alerts.long_fixation import LongFixation
from processor.alerts.sample_rate import SampleRateLow

__all__ = ["AgentOffline", "AoiDwell", "Condition", "GazeLost", "LongFixation", "SampleRateLow"]
