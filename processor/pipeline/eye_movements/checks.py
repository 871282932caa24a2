"""Parameter checks that raise a ``ValueError`` naming the parameter and the allowed range."""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection

__all__ = ["check_bool", "check_choice", "check_number", "check_odd_int"]


def check_number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number in the range.

    The range is ``[minimum, maximum]`` (``(minimum, maximum]`` when ``min_inclusive`` is
    false); either bound may be ``None`` (unbounded).
    """
    low = "" if minimum is None else ("[" if min_inclusive else "(") + f"{minimum:g}"
    high = "" if maximum is None else f"{maximum:g}]"
    if minimum is not None and maximum is not None:
        allowed = f"in {low}, {high}"
    elif minimum is not None:
        allowed = (">= " if min_inclusive else "> ") + f"{minimum:g}"
    elif maximum is not None:
        allowed = f"<= {maximum:g}"
    else:
        allowed = "finite"
    message = f"{name} must be a finite number {allowed}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(message)  # noqa: TRY004 - bad parameters are ValueErrors here
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(message)
    if minimum is not None and (number < minimum or (not min_inclusive and number == minimum)):
        raise ValueError(message)
    if maximum is not None and number > maximum:
        raise ValueError(message)
    return number


def check_odd_int(name: str, value: object, *, minimum: int, maximum: int) -> int:
    """Return ``value`` or raise unless it is an odd integer in ``[minimum, maximum]``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or int(value) % 2 == 0
        or not minimum <= value <= maximum
    ):
        raise ValueError(f"{name} must be an odd integer in [{minimum}, {maximum}], got {value!r}")
    return int(value)


def check_choice(name: str, value: object, choices: Collection[object]) -> object:
    """Return ``value`` or raise unless it is one of ``choices``."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` or raise unless it is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")  # noqa: TRY004
    return value
