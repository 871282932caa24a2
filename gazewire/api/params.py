"""The query parameters the endpoints share, and how a time is written.

A time is an ISO 8601 time with a zone (``2026-11-30T10:15:00Z``,
``2026-11-30T11:15:00+01:00``), a date (its midnight UTC, as ``gazewire export``
takes it) or an integer of UTC microseconds (the ``utc_us`` of the data). A range is ``from <= t < to``: consecutive ranges
neither overlap nor leave a gap.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import Query
from pydantic import AwareDatetime, BeforeValidator, Field

from gazewire.api.formats import Format

TIME_HELP = (
    "ISO 8601 with a zone (2026-11-30T10:15:00Z, 2026-11-30T11:15:00+01:00), a date (2026-11-30: its midnight "
    "UTC) or UTC microseconds (the data's utc_us)."
)
TIME_PROBLEM = ("not a time: write ISO 8601 with a zone (2026-11-30T10:15:00Z) or UTC microseconds")
TIME_PARAMETERS = ("from", "to", "since", "until")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MIN_UTC_US = (datetime(1, 1, 1, tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)
MAX_UTC_US = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)
_SPACE_BEFORE_ZONE = re.compile(r"(T[0-9:.]+) (\d\d:?\d\d)$")  # '+01:00' arrives as ' 01:00' when '+' was not escaped


def _time_text(value: Any) -> Any:
    """Microseconds as an int, an ISO 8601 time as its text; anything else refused here (pydantic
    would take '6.5' as seconds since 1970)."""
    if not isinstance(value, str):
        return value
    text = _SPACE_BEFORE_ZONE.sub(r"\1+\2", value.strip())
    if re.fullmatch(r"[+-]?[0-9]{1,20}", text):
        return int(text)
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return text + "T00:00:00Z"  # a date: its midnight, UTC (as the command line reads it)
    if not re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]", text):
        raise ValueError(TIME_PROBLEM)
    return text


UtcMicroseconds = Annotated[int, Field(ge=MIN_UTC_US, le=MAX_UTC_US)]
Time = Annotated[UtcMicroseconds | AwareDatetime, BeforeValidator(_time_text)]


def utc_us(value: int | datetime | None) -> int | None:
    """A time parameter as UTC microseconds (exact: no floating point on the way)."""
    if value is None or isinstance(value, int):
        return value
    return (value - EPOCH) // timedelta(microseconds=1)


From = Annotated[Time | None, Query(alias="from", description=f"Start of the range (included): {TIME_HELP}",
                                   examples=["2026-11-30T10:15:00Z"])]
To = Annotated[Time | None, Query(description=f"End of the range (excluded): {TIME_HELP}",
                                 examples=["2026-11-30T10:20:00Z"])]
Since = Annotated[Time | None, Query(description=f"Only recordings that start at or after this time: {TIME_HELP}")]
Until = Annotated[Time | None, Query(description=f"Only recordings that start before this time: {TIME_HELP}")]
FormatQuery = Annotated[Format, Query(
    description="csv (a header line, one line per row), parquet (typed, Zstandard, the recording's details "
    "in the key-value metadata), json (NDJSON: one JSON object per line) or arrow (Arrow IPC stream).",
)]
