"""``agent_silent``: the agent's status says it is there, but is no longer refreshed.

An agent refreshes its retained status every ``status_interval_s`` while it is
connected, and the broker publishes its ``offline`` last will when it loses it.
Neither happens when the agent hangs, or was killed while the broker was down
(the broker then keeps its last ``tracking`` status, and never sends a will).
So: raised once when the last status (any state but ``offline``) is older than
``silent_s`` - or than four of the agent's own status intervals, when it says
and that is longer - and cleared once by the next status, whatever it says.

The times are the processor's UTC clock, passed in: when the status came (or,
for a retained status handed out on subscription, when the agent made it, as
its ``utc`` says, if earlier) and now. Silence is counted from ``since`` at the
earliest: the moment the processor (re)connected, because while it is cut off
from the broker, every agent looks silent.
"""

from __future__ import annotations

from gazewire.wire.messages import Alert
from gazewire.processor.pipeline.alerts.condition import Condition, keep

INTERVALS = 4  # refreshes an agent may miss (the broker's status lifetime: gazewire.mqtt.status_lifetime_s)


class AgentSilent:
    def __init__(self, session: str, silent_s: float) -> None:
        self.silent_s = silent_s
        self.condition = Condition(session, "agent_silent", "warning")
        self.state: str | None = None
        self.run: str | None = None
        self.refreshed_utc_us: int | None = None  # when the last status was made (at the latest, received)
        self.interval_s: float | None = None

    @property
    def threshold_s(self) -> float:
        return max(self.silent_s, INTERVALS * (self.interval_s or 0.0))

    def status(self, state: str, refreshed_utc_us: int, *, interval_s: float | None, run: str | None) -> list[Alert]:
        """A status arrived (made at ``refreshed_utc_us``): remember it; clear if raised."""
        self.state, self.run, self.interval_s = state, run, interval_s
        self.refreshed_utc_us = refreshed_utc_us
        return keep(self.condition.clear(refreshed_utc_us, {"state": state, "run": run}))

    def cleared(self) -> None:
        """The retained status was deleted (pruned): nothing claims the agent is there."""
        self.state = None

    def check(self, now_utc_us: int, since_utc_us: int) -> list[Alert]:
        """Raise if the status is silent at ``now_utc_us``, counting from ``since_utc_us`` at the earliest."""
        if self.condition.active or self.state in (None, "offline") or self.refreshed_utc_us is None:
            return []
        silent_s = (now_utc_us - max(self.refreshed_utc_us, since_utc_us)) / 1e6
        if silent_s < self.threshold_s:
            return []
        return keep(self.condition.raise_(
            now_utc_us,
            {
                "state": self.state,
                "run": self.run,
                "silent_s": round((now_utc_us - self.refreshed_utc_us) / 1e6, 3),
                "threshold_s": self.threshold_s,
            },
        ))
