"""InfluxDB line protocol: one point as one line of text.

``measurement,tag=value,... field=value,... timestamp`` with the timestamp in
microseconds (write precision ``us``). Tags are written sorted by key, so the
same point always gives the same line. Fields whose value is ``None`` (or a
non-finite float) are left out: InfluxDB has no null. Escaping follows
https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from gazewire.errors import GazewireError

FieldValue = float | int | str | bool | None

_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\n", "\\": "\\\\"})
_KEY_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n", "\\": "\\\\"})
_STRING_ESCAPES = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n"})


class EmptyPointError(GazewireError, ValueError):
    """A point without any field cannot be written."""


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
    return key.translate(_KEY_ESCAPES)


@lru_cache(maxsize=4096)
def _head(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """``measurement,tag=value,...`` with tags sorted by key; cached: few distinct heads exist."""
    head = measurement.translate(_MEASUREMENT_ESCAPES)
    for key, value in tags:
        if value:  # an empty tag value is not allowed: leave the tag out
            head += f",{key.translate(_KEY_ESCAPES)}={str(value).translate(_KEY_ESCAPES)}"
    return head


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
    return '"' + str(value).translate(_STRING_ESCAPES) + '"'
