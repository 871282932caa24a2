"""One alert condition: raised once, cleared once, never repeated per sample.

Every alert machine owns one :class:`Condition` per thing it watches (a
session, an AOI). ``raise_`` while raised and ``clear`` while clear do
nothing, so a machine cannot send two ``raised`` in a row even by mistake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gazewire.wire.messages import Alert, AlertType, Severity
from gazewire.wire.timeutil import iso_from_utc_us

# Sample times are whole microseconds held as float seconds; comparisons with a
# threshold allow half a microsecond so that 2.3 - 2.0 >= 0.3 holds as it should.
TIME_TOLERANCE_S = 0.5e-6

UtcOf = Callable[[float], int]
"""UTC (µs) of a detector time: how the machines turn sample times into alert times."""


class Condition:
    def __init__(self, session: str, type: AlertType, severity: Severity) -> None:
        self.session = session
        self.type: AlertType = type
        self.severity: Severity = severity
        self.active = False
        self.raised_utc_us: int | None = None
        self.raised_details: dict[str, Any] = {}

    def raise_(self, utc_us: int, details: dict[str, Any], severity: Severity | None = None) -> Alert | None:
        if self.active:
            return None
        self.active = True
        self.raised_utc_us = utc_us
        self.raised_details = details
        if severity is not None:
            self.severity = severity
        return self._alert("raised", utc_us, details)

    def clear(self, utc_us: int, details: dict[str, Any]) -> Alert | None:
        if not self.active:
            return None
        self.active = False
        raised = self.raised_utc_us if self.raised_utc_us is not None else utc_us
        self.raised_utc_us = None
        return self._alert("cleared", max(utc_us, raised), {**self.raised_details, **details})

    def _alert(self, state: str, utc_us: int, details: dict[str, Any]) -> Alert:
        return Alert(
            session=self.session,
            type=self.type,
            state=state,  # type: ignore[arg-type]
            severity=self.severity,
            utc=iso_from_utc_us(utc_us),
            utc_us=utc_us,
            details=details,
        )


def keep(*alerts: Alert | None) -> list[Alert]:
    """The alerts that were actually sent (drops the Nones of no-op calls)."""
    return [alert for alert in alerts if alert is not None]
