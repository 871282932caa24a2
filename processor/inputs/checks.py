"""Every stateless check of an inbound message, in one place: what can be judged from the
message alone, before any session sees it.

Two layers, in this order:

1. the wire model (:mod:`gazewire.wire.messages`, applied by
   :mod:`gazewire.processor.inputs.payloads`): JSON, protocol version, field
   types, NaN/infinity, string patterns, ``count`` at most ``MAX_BATCH_SAMPLES``
   and every column ``count`` long - the contract both sides share;
2. this module: what the processor needs on top - integers that fit 64 bits
   with room to subtract, value ranges of numbers and text that can be stored
   as it came (:data:`FIELD_RANGES`, :data:`COLUMN_RANGES`; each range says
   why it is what it is), times of this century and not far ahead of the
   processor's clock, sample numbers that count up by one and sample times
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
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, create_model

from gazewire.wire.messages import (
    MARKER_UTC_NS_END,
    MARKER_UTC_NS_MIN,
    MAX_NAME_LENGTH,
    AgentStatus,
    BatchColumns,
    GazeBatch,
    Marker,
)
from gazewire.processor.pipeline.bad_input import BadInput, BadInputKind

INTEGER_LIMIT = 2**62  # generous for µs clocks (146 000 years), and differences never overflow

# Sample and marker times are moments of an experiment: from 2000 up to (not including) 2100, as
# for markers sent as commands (one rule, the wire contract's).
UTC_US_MIN = MARKER_UTC_NS_MIN // 1000
UTC_US_END = MARKER_UTC_NS_END // 1000
# ...and not in the future by the processor's clock. A day of margin: an agent's clock set in the
# wrong time zone is at most 14 h ahead, and its samples are still worth keeping; more than a day
# ahead is a clock that was never set, or a forged message (which would date data to come).
MAX_AHEAD_OF_PROCESSOR_US = 86_400_000_000


@dataclass(frozen=True, slots=True)
class Range:
    """Allowed values of a number: ``low <= value <= high`` (``low < value`` when not
    ``low_inclusive``, ``value < high`` when not ``high_inclusive``); ``problem`` ends the
    message when a value is outside."""

    low: float
    high: float
    problem: str
    low_inclusive: bool = True
    high_inclusive: bool = True

    def contains(self, value: float) -> bool:
        above = value >= self.low if self.low_inclusive else value > self.low
        below = value <= self.high if self.high_inclusive else value < self.high
        return above and below


CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Text:
    """Allowed text: at most ``max_length`` characters and no control character. What the
    processor stores as an InfluxDB tag or string field must be stored as it came: line protocol
    has no way to write a line break (or any control character) in a tag, nor in a field that
    every InfluxDB-compatible server reads, and a tag longer than 64 KB fails the whole write it
    is part of."""

    max_length: int
    problem: str = ""

    def contains(self, value: str) -> bool:
        return len(value) <= self.max_length and CONTROL_CHARACTER.search(value) is None

    def describe(self, value: str) -> str:
        if len(value) > self.max_length:
            return f"is {len(value)} characters long, more than {self.max_length}"
        character = CONTROL_CHARACTER.search(value)
        assert character is not None
        return f"holds the control character U+{ord(character.group()):04X} at {character.start()}"


INTEGER = Range(-INTEGER_LIMIT, INTEGER_LIMIT, "is out of range (|value| > 2**62)")
UTC_US = Range(UTC_US_MIN, UTC_US_END, "is not a time from 2000 to 2099", high_inclusive=False)
# Gaze on the display area, normalised: 0..1 on the display. Gaze off the display is kept (it
# meets the display plane outside 0..1), but a Tobii tracker follows gaze only up to ~35-40 deg
# off its axis, which meets the display plane within about one display size of its edge; ten
# display sizes beyond either edge is a generous margin that still refuses a value like 1e308.
ON_OR_NEAR_THE_DISPLAY = Range(-10.0, 11.0, "is not on or near the display (-10..11)")
# A human pupil is 1.5-8 mm across (dark-adapted young adults up to ~9); 0.5-10 mm leaves room for
# the tracker's noise. A negative or zero diameter is no measurement (the SDK sends NaN: null).
PUPIL_MM = Range(0.5, 10.0, "is not a pupil diameter (0.5..10 mm)")
# The eye's position in the tracker's user coordinate system (origin at the tracker's centre,
# z towards the user): Tobii Pro track boxes span at most about ±250 mm sideways and end below
# 1000 mm from the tracker; ±1000 mm across and 0..2000 mm deep is twice that on every side.
EYE_ACROSS_MM = Range(-1000.0, 1000.0, "is not within the tracker's reach (-1000..1000 mm)")
EYE_DEPTH_MM = Range(0.0, 2000.0, "is not within the tracker's reach (0..2000 mm)", low_inclusive=False)
# A tracker's serial number (an InfluxDB tag): Tobii's are under 30 characters.
DEVICE = Text(128)
MARKER_NAME = Text(MAX_NAME_LENGTH)

FIELD_RANGES: dict[type, dict[str, Range | Text]] = {
    GazeBatch: {
        "device": DEVICE,
        "batch_seq": INTEGER,
        "first_seq": INTEGER,
        "clock_offset_us": INTEGER,
        "sample_rate_hz": Range(0, 100_000, "is not a tracker rate", low_inclusive=False),
    },
    Marker: {
        "name": MARKER_NAME,
        "utc_ns": Range(MARKER_UTC_NS_MIN, MARKER_UTC_NS_END, "is not a time from 2000 to 2099", high_inclusive=False),
    },
}
"""Per message type, the header fields with a range (``None`` values are not checked)."""

COLUMN_RANGES: dict[str, Range] = {
    "seq": INTEGER,
    "device_time_us": INTEGER,
    "system_time_us": INTEGER,
    "utc_us": UTC_US,
    "x": ON_OR_NEAR_THE_DISPLAY,
    "y": ON_OR_NEAR_THE_DISPLAY,
    "left_x": ON_OR_NEAR_THE_DISPLAY,
    "left_y": ON_OR_NEAR_THE_DISPLAY,
    "right_x": ON_OR_NEAR_THE_DISPLAY,
    "right_y": ON_OR_NEAR_THE_DISPLAY,
    "left_pupil": PUPIL_MM,
    "right_pupil": PUPIL_MM,
    "left_origin_x": EYE_ACROSS_MM,
    "left_origin_y": EYE_ACROSS_MM,
    "left_origin_z": EYE_DEPTH_MM,
    "right_origin_x": EYE_ACROSS_MM,
    "right_origin_y": EYE_ACROSS_MM,
    "right_origin_z": EYE_DEPTH_MM,
}
"""Per batch column, the range of every value in it (``None`` values are not checked)."""


def _ranged_item(item: Any, allowed: Range) -> Any:
    """``item`` (``int``, ``float`` or ``float | None``) with ``allowed`` as pydantic constraints."""
    bounds = {
        "ge" if allowed.low_inclusive else "gt": allowed.low,
        "le" if allowed.high_inclusive else "lt": allowed.high,
    }
    nullable = type(None) in getattr(item, "__args__", ())
    base = next(t for t in getattr(item, "__args__", (item,)) if t is not type(None))
    ranged = Annotated[base, Field(**bounds)]
    return ranged | None if nullable else ranged


RangedColumns = create_model(  # type: ignore[call-overload]
    "RangedColumns",
    __base__=BatchColumns,
    __doc__="The contract's columns with :data:`COLUMN_RANGES` as constraints of their values.",
    **{
        name: (list[_ranged_item(BatchColumns.model_fields[name].annotation.__args__[0], allowed)], ...)
        for name, allowed in COLUMN_RANGES.items()
    },
)
RangedGazeBatch = create_model(  # type: ignore[call-overload]
    "RangedGazeBatch",
    __base__=GazeBatch,
    __doc__="The contract's GazeBatch whose columns' values are in :data:`COLUMN_RANGES`.",
    columns=(RangedColumns, ...),
)
"""A :class:`GazeBatch` (a subclass: the contract's fields and checks) that pydantic-core only
accepts when every column value is in :data:`COLUMN_RANGES` - the range checks done while the
JSON is parsed, for a fraction of what checking the parsed lists in Python costs. Derived from
the contract's models and this module's ranges, so neither has a second home. The parser tries it
first; a batch it refuses is parsed again with the contract's model and checked here, so what is
refused, and the reason given, are what they were without it."""


def check_message(
    message: GazeBatch | AgentStatus | Marker, session: str, *, now_utc_us: int | None = None
) -> None:
    """Raise BadInput if ``message`` (already a valid wire model) fails a stateless check.
    ``now_utc_us``: the processor's clock, for times that cannot be in the future (None: not
    checked). A :data:`RangedGazeBatch` has its column ranges checked already."""
    for name, allowed in FIELD_RANGES.get(GazeBatch if isinstance(message, GazeBatch) else type(message), {}).items():
        value = getattr(message, name)
        if value is not None and not allowed.contains(value):
            raise BadInput(BadInputKind.OUT_OF_RANGE, _field_problem(name, value, allowed), session)
    if isinstance(message, GazeBatch):
        if not isinstance(message, RangedGazeBatch):
            _check_column_ranges(message, session)
        _check_column_order(message, session)
        if now_utc_us is not None and message.count:
            _check_not_ahead("columns.utc_us", max(message.columns.utc_us), now_utc_us, session)
    elif isinstance(message, Marker) and now_utc_us is not None:
        _check_not_ahead("utc_ns", message.utc_ns // 1000, now_utc_us, session)


def _field_problem(name: str, value: object, allowed: Range | Text) -> str:
    if isinstance(allowed, Text):
        return f"{name} {allowed.describe(str(value))}"
    if allowed is INTEGER:
        return f"{name}: {value} {allowed.problem}"
    return f"{name} {value!r} {allowed.problem}"


def _check_not_ahead(name: str, utc_us: int, now_utc_us: int, session: str) -> None:
    ahead_us = utc_us - now_utc_us
    if ahead_us > MAX_AHEAD_OF_PROCESSOR_US:
        raise BadInput(
            BadInputKind.OUT_OF_RANGE,
            f"{name}: a time {ahead_us / 3.6e9:.1f} h ahead of the processor's clock (more than a day)",
            session,
        )


def _check_column_ranges(batch: GazeBatch, session: str) -> None:
    columns = batch.columns
    for name, allowed in COLUMN_RANGES.items():
        values = getattr(columns, name)
        if not values:
            continue
        try:  # most columns hold no None: no scan for one before min and max
            low, high = min(values), max(values)
            if low is None:  # [None]: nothing compared
                continue
        except TypeError:  # None among the numbers
            values = [v for v in values if v is not None]
            if not values:
                continue
            low, high = min(values), max(values)
        if not (allowed.contains(low) and allowed.contains(high)):
            raise BadInput(
                BadInputKind.OUT_OF_RANGE, f"columns.{name}: a value {allowed.problem}", session
            )


def _check_column_order(batch: GazeBatch, session: str) -> None:
    columns = batch.columns
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
