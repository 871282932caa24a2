"""Every stateless check of an inbound message, in one place: what can be judged from the
message alone, before any session sees it.

Two layers, in this order:

1. the wire model (:mod:`gazewire.wire.messages`, applied by
   :mod:`gazewire.processor.inputs.payloads`): JSON, protocol version, field
   types, NaN/infinity, string patterns, ``count`` at most ``MAX_BATCH_SAMPLES``
   and every column ``count`` long - the contract both sides share;
2. this module: what the processor needs on top - integers that fit 64 bits
   with room to subtract, value ranges (:data:`FIELD_RANGES`,
   :data:`COLUMN_RANGES`), sample numbers that count up by one and sample times
   that only go forward within the batch.

A value range of a field is one line in :data:`FIELD_RANGES` or
:data:`COLUMN_RANGES`. Checks that depend on what came before (sequence numbers
across batches, time going backwards across batches) are stateful and live in
the core: :mod:`gazewire.processor.pipeline.sequence` and
:meth:`gazewire.processor.pipeline.session.Session.handle_batch`.

Each check raises :class:`~gazewire.processor.pipeline.bad_input.BadInput`
naming the problem; none changes anything.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

from gazewire.wire.messages import AgentStatus, GazeBatch, Marker
from gazewire.processor.pipeline.bad_input import BadInput, BadInputKind

INTEGER_LIMIT = 2**62  # generous for µs clocks (146 000 years), and differences never overflow


@dataclass(frozen=True, slots=True)
class Range:
    """Allowed values of a number: ``low <= value <= high`` (``low < value`` when not
    ``low_inclusive``); ``problem`` ends the message when a value is outside."""

    low: float
    high: float
    problem: str
    low_inclusive: bool = True

    def contains(self, value: float) -> bool:
        above = value >= self.low if self.low_inclusive else value > self.low
        return above and value <= self.high


INTEGER = Range(-INTEGER_LIMIT, INTEGER_LIMIT, "is out of range (|value| > 2**62)")

FIELD_RANGES: dict[type, dict[str, Range]] = {
    GazeBatch: {
        "batch_seq": INTEGER,
        "first_seq": INTEGER,
        "clock_offset_us": INTEGER,
        "sample_rate_hz": Range(0, 100_000, "is not a tracker rate", low_inclusive=False),
    },
    Marker: {"utc_ns": INTEGER},
}
"""Per message type, the header fields with a range (``None`` values are not checked)."""

COLUMN_RANGES: dict[str, Range] = {
    "seq": INTEGER,
    "device_time_us": INTEGER,
    "system_time_us": INTEGER,
    "utc_us": INTEGER,
}
"""Per batch column, the range of every value in it (``None`` values are not checked)."""


def check_message(message: GazeBatch | AgentStatus | Marker, session: str) -> None:
    """Raise BadInput if ``message`` (already a valid wire model) fails a stateless check."""
    for name, allowed in FIELD_RANGES.get(type(message), {}).items():
        value = getattr(message, name)
        if value is not None and not allowed.contains(value):
            raise BadInput(BadInputKind.OUT_OF_RANGE, _field_problem(name, value, allowed), session)
    if isinstance(message, GazeBatch):
        _check_columns(message, session)


def _field_problem(name: str, value: object, allowed: Range) -> str:
    if allowed is INTEGER:
        return f"{name}: {value} {allowed.problem}"
    return f"{name} {value!r} {allowed.problem}"


def _check_columns(batch: GazeBatch, session: str) -> None:
    columns = batch.columns
    for name, allowed in COLUMN_RANGES.items():
        values = getattr(columns, name)
        if None in values:
            values = [v for v in values if v is not None]
        if values and not (allowed.contains(min(values)) and allowed.contains(max(values))):
            raise BadInput(
                BadInputKind.OUT_OF_RANGE, f"columns.{name}: a value {allowed.problem}", session
            )
    seq = columns.seq
    if seq and seq != list(range(seq[0], seq[0] + len(seq))):
        raise BadInput(BadInputKind.SCHEMA, "columns.seq does not count up by one", session)
    system_us = columns.system_time_us
    if not all(map(operator.lt, system_us, system_us[1:])):
        bad = _first_not_increasing(system_us)
        raise BadInput(
            BadInputKind.TIME_BACKWARDS,
            f"system_time_us goes from {system_us[bad - 1]} to {system_us[bad]} at sample {seq[bad]}",
            session,
        )


def _first_not_increasing(values: Sequence[int]) -> int:
    return next(i for i in range(1, len(values)) if not values[i - 1] < values[i])
