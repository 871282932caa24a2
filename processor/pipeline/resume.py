"""What a session carries across a processor restart, and how what was open is closed.

The processor's detectors live in memory; a crash loses them. What must not be lost
is kept with every journal commit (:meth:`Session.snapshot`) and taken up again on
start (:meth:`Session.resume`):

* the sequence numbers (next batch, next sample, remembered gaps and runs), so a
  batch delivered again after the restart is a duplicate, not a gap or a reset;
* the last fixation number (and saccade, pursuit, blink numbers), so numbering goes on
  within the session;
* the fixation start events and raised alerts not yet ended or cleared: on resume
  each is closed explicitly - a fixation ``end`` event with ``interrupted: true``,
  an alert ``cleared`` with ``details.interrupted = true`` - at the last sample
  time the processor had, so every start has its end and every raise its clear.

Pure: plain values and JSON text; the journal stores the text.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from gazewire.wire.messages import Alert, FixationEvent
from gazewire.wire.timeutil import iso_from_utc_us


@dataclass
class SessionState:
    sequence: dict[str, Any] = field(default_factory=dict)
    last_fixation: int = 0
    last_movements: dict[str, int] = field(default_factory=dict)  # saccade, pursuit, blink
    open_fixations: list[dict[str, Any]] = field(default_factory=list)  # FixationEvent start messages
    open_alerts: list[dict[str, Any]] = field(default_factory=list)  # Alert raised messages
    device: str | None = None
    run: str | None = None
    agent_state: str | None = None
    nominal_hz: float | None = None
    display_mm: list[float] | None = None
    last_sample_utc_us: int | None = None

    @property
    def has_open(self) -> bool:
        return bool(self.open_fixations or self.open_alerts)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, text: bytes | str) -> SessionState:
        values = json.loads(text)
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        return cls(**known)


def alert_key(alert: Alert) -> str:
    """One key per alert condition: its type, and the AOI for per-AOI alerts."""
    aoi = alert.details.get("aoi")
    return f"{alert.type}:{aoi}" if aoi is not None else alert.type


def interrupted_end(start: FixationEvent, last_sample_utc_us: int | None, now_utc_us: int) -> FixationEvent:
    """The ``end`` of a fixation whose start was published before a processor crash."""
    end_utc_us = max(start.start_utc_us, last_sample_utc_us or start.start_utc_us)
    values = start.model_dump()
    values.update(
        event="end",
        end_utc_us=end_utc_us,
        duration_ms=(end_utc_us - start.start_utc_us) / 1000.0,
        dispersion_deg=None,
        confirmed_utc_us=None,
        tentative=None,  # (a start's)
        utc=iso_from_utc_us(now_utc_us),
        detected_utc_us=last_sample_utc_us,
        interrupted=True,
    )
    return FixationEvent(**values)


def interrupted_clear(raised: Alert, last_sample_utc_us: int | None) -> Alert:
    """The ``cleared`` of an alert raised before a processor crash."""
    utc_us = max(raised.utc_us, last_sample_utc_us or raised.utc_us)
    return Alert(
        session=raised.session,
        type=raised.type,
        state="cleared",
        severity=raised.severity,
        utc=iso_from_utc_us(utc_us),
        utc_us=utc_us,
        details={**raised.details, "interrupted": True},
    )
