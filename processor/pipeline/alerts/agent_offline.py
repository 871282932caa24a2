"""``agent_offline``: the agent's status went ``offline``.

Either it said so when shutting down (severity ``warning``), or the broker
published its last will because it vanished (``critical``). Raised only on a
change: an ``offline`` status that is merely the retained state of an agent
that was already gone before the processor started (the broker hands it out
on subscribe) is remembered, not alerted. Cleared when any other status
arrives. The time is the status's own ``utc``; a last will has none, so the
processor's receive time is used.
"""

from __future__ import annotations

from gazewire.wire.messages import Alert
from gazewire.processor.pipeline.alerts.condition import Condition, keep


class AgentOffline:
    def __init__(self, session: str) -> None:
        self.condition = Condition(session, "agent_offline", "critical")
        self.last_state: str | None = None
        self._offline_since_us: int | None = None

    def status(
        self, state: str, utc_us: int, *, retained: bool, last_will: bool, reason: str | None, run: str | None
    ) -> list[Alert]:
        alerts: list[Alert] = []
        previous = self.last_state
        self.last_state = state
        if state == "offline":
            news = not retained or (previous is not None and previous != "offline")
            if news and not self.condition.active:
                self._offline_since_us = utc_us
                alerts += keep(self.condition.raise_(
                    utc_us,
                    {"reason": reason, "run": run, "last_will": last_will, "previous_state": previous},
                    severity="critical" if last_will else "warning",
                ))
        elif self.condition.active:
            since = self._offline_since_us if self._offline_since_us is not None else utc_us
            alerts += keep(self.condition.clear(
                utc_us, {"state": state, "run": run, "offline_ms": round(max(0, utc_us - since) / 1000.0, 3)}
            ))
        return alerts
