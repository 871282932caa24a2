"""The query parameters the endpoints share, and how a time is written.

A time is an ISO 8601 time with a zone (``2026-11-30T10:15:00Z``,
``2026-11-30T11:15:00+01:00``) or an integer of UTC microseconds (the
``utc_us`` of the data). A range is ``from <= t < to``: consecutive ranges
neither overlap nor leave a gap.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Query

from gazewire.api.errors import ApiError
from gazewire.api.formats import Format
from gazewire.wire.timeutil import utc_us_from_iso

TIME_HELP = (
    "ISO 8601 with a zone (2026-11-30T10:15:00Z, 2026-11-30T11:15:00+01:00) or UTC microseconds "
    "(the data's utc_us)."
)
_SPACE_BEFORE_ZONE = re.compile(r" (\d\d:?\d\d)$")  # '+01:00' arrives as ' 01:00' when the '+' was not escaped


def utc_us(text: str | None, name: str) -> int | None:
    """A time parameter as UTC microseconds; 422 naming the parameter when it is neither form."""
    if text is None or text == "":
        return None
    text = text.strip()
    if re.fullmatch(r"-?\d{1,19}", text):
        return int(text)
    try:
        return utc_us_from_iso(_SPACE_BEFORE_ZONE.sub(r"+\1", text))
    except (ValueError, OverflowError):
        raise ApiError(
            422, f"query parameter {name!r}: {text!r} is not a time: write ISO 8601 with a zone "
                 "(2026-11-30T10:15:00Z) or UTC microseconds",
        ) from None


From = Annotated[str | None, Query(alias="from", description=f"Start of the range (included): {TIME_HELP}",
                                   examples=["2026-11-30T10:15:00Z"])]
To = Annotated[str | None, Query(description=f"End of the range (excluded): {TIME_HELP}",
                                 examples=["2026-11-30T10:20:00Z"])]
Since = Annotated[str | None, Query(description=f"Only recordings that start at or after this time: {TIME_HELP}")]
Until = Annotated[str | None, Query(description=f"Only recordings that start before this time: {TIME_HELP}")]
FormatQuery = Annotated[Format, Query(
    description="csv (a header line, one line per row), parquet (typed, Zstandard, the recording's details "
    "in the key-value metadata), json (NDJSON: one JSON object per line) or arrow (Arrow IPC stream).",
)]
