"""InfluxDB line protocol: one point as one line of text.

``measurement,tag=value,... field=value,... timestamp`` with the timestamp in
microseconds (write precision ``us``). Tags are written sorted by key, so the
same point always gives the same line. Fields whose value is ``None`` (or a
non-finite float) are left out: InfluxDB has no null. Escaping follows
https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/.

What line protocol cannot carry as it is, :func:`encode_line` refuses with
:class:`UnstorablePointError` instead of writing something else: a control
character (a line break ends the line; there is no escape for one in a tag, and
not every server reads one inside a quoted field either; a carriage return is
no better) and a series key (measurement and tags) over InfluxDB's 64 KB, which
would fail the whole write it is part of, other points and all. The checks on
the way in (:mod:`gazewire.processor.inputs.checks`) refuse such text before
it gets here, so this is the last guard, never the filter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from gazewire.errors import GazewireError

FieldValue = float | int | str | bool | None

_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ ", "\\": "\\\\"})
_KEY_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\\": "\\\\"})
_STRING_ESCAPES = str.maketrans({'"': '\\"', "\\": "\\\\"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SERIES_KEY_BYTES = 65_535  # InfluxDB refuses a longer measurement-and-tags key


class EmptyPointError(GazewireError, ValueError):
    """A point without any field cannot be written."""


class UnstorablePointError(GazewireError, ValueError):
    """A point line protocol cannot carry as it is (a control character, a series key over 64 KB)."""


@dataclass(frozen=True, slots=True)
class Point:
    """One InfluxDB point; build it with :meth:`gazewire.processor.outputs.measurements.Measurement.point`."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_us: int

    @property
    def session(self) -> str | None:
        return self.tags.get("session")

    def line(self) -> str:
        return encode_line(self.measurement, self.tags, self.fields, self.time_us)


def encode_line(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], time_us: int
) -> str:
    head = _head(measurement, tuple(sorted(tags.items())))
    parts = []
    for key, value in fields.items():
        kind = type(value)
        if kind is float:  # the common cases first: coordinates, pupils, flags, seq
            if value == value and value not in _INFINITIES:
                parts.append(f"{_key(key)}={value!r}")
            continue
        if kind is int:
            parts.append(f"{_key(key)}={value}i")
            continue
        encoded = encode_field(value)
        if encoded is not None:
            parts.append(f"{_key(key)}={encoded}")
    if not parts:
        raise EmptyPointError(f"point of {measurement!r} at {time_us} has no field with a value")
    return f"{head} {','.join(parts)} {int(time_us)}"


_INFINITIES = (math.inf, -math.inf)


def line_head(measurement: str, tags: Mapping[str, str]) -> str:
    """``measurement,tag=value,...`` as :func:`encode_line` writes it (tags sorted by key)."""
    return _head(measurement, tuple(sorted(tags.items())))


def field_key(key: str) -> str:
    """A field key as :func:`encode_line` writes it (escaped)."""
    return _key(key)


@lru_cache(maxsize=4096)
def _key(key: str) -> str:
    _refuse_control(key, "a field key")
    return key.translate(_KEY_ESCAPES)


@lru_cache(maxsize=4096)
def _head(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """``measurement,tag=value,...`` with tags sorted by key; cached: few distinct heads exist."""
    _refuse_control(measurement, "the measurement")
    head = measurement.translate(_MEASUREMENT_ESCAPES)
    for key, value in tags:
        if value:  # an empty tag value is not allowed: leave the tag out
            text = str(value)
            _refuse_control(key, "a tag key")
            _refuse_control(text, f"tag {key!r}")
            head += f",{key.translate(_KEY_ESCAPES)}={text.translate(_KEY_ESCAPES)}"
    size = len(head.encode())
    if size > MAX_SERIES_KEY_BYTES:
        raise UnstorablePointError(
            f"series key of {measurement!r} is {size} bytes, over InfluxDB's {MAX_SERIES_KEY_BYTES}"
        )
    return head


def _refuse_control(text: str, what: str) -> None:
    found = _CONTROL.search(text)
    if found is not None:
        raise UnstorablePointError(
            f"{what} holds the control character U+{ord(found.group()):04X}, which line protocol cannot carry"
        )


def encode_field(value: FieldValue) -> str | None:
    """A field value in line protocol, or None when it has no value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    text = str(value)
    _refuse_control(text, "a string field")
    return '"' + text.translate(_STRING_ESCAPES) + '"'
