"""Detector parameters, each declared once: its default, the values it may take and what it
trades off.

A detector's parameters are a frozen dataclass (:class:`~.ivt.IVTParameters`,
:class:`~.idt.IDTParameters`) whose fields are made with :func:`parameter`. Everything else
reads them from there: the dataclass checks itself on construction (a precise ``ValueError``
naming the parameter and the allowed values), its docstring lists them, and the processor's
settings (:mod:`gazewire.processor.config`) derive their fields, defaults, checks and
descriptions from them.
"""

from __future__ import annotations

import math
import numbers
import textwrap
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

__all__ = [
    "Choice",
    "DetectorParameters",
    "Flag",
    "Number",
    "OddInteger",
    "Rule",
    "documented",
    "parameter",
    "rule_of",
]


class Rule:
    """The values a parameter may take."""

    def allowed(self) -> str:  # pragma: no cover - abstract
        """The allowed values, as the end of the sentence "<name> must be ..."."""
        raise NotImplementedError

    def accepts(self, value: object) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, name: str, value: object) -> None:
        """Raise ``ValueError("<name> must be <allowed>, got <value>")`` unless accepted."""
        if not self.accepts(value):
            raise ValueError(f"{name} must be {self.allowed()}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Number(Rule):
    """A finite real number (not a bool) in ``[minimum, maximum]``; ``(minimum, maximum]`` when
    ``min_inclusive`` is false. Either bound may be ``None`` (unbounded)."""

    minimum: float | None = None
    maximum: float | None = None
    min_inclusive: bool = True

    def allowed(self) -> str:
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f"a finite number in {'[' if self.min_inclusive else '('}{low:g}, {high:g}]"
        if low is not None:
            return f"a finite number {'>=' if self.min_inclusive else '>'} {low:g}"
        if high is not None:
            return f"a finite number <= {high:g}"
        return "a finite number"

    def accepts(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        number = float(value)
        if not math.isfinite(number):
            return False
        if self.minimum is not None and (number < self.minimum or (not self.min_inclusive and number == self.minimum)):
            return False
        return self.maximum is None or number <= self.maximum


@dataclass(frozen=True, slots=True)
class OddInteger(Rule):
    """An odd integer (not a bool, not a float) in ``[minimum, maximum]``."""

    minimum: int
    maximum: int

    def allowed(self) -> str:
        return f"an odd integer in [{self.minimum}, {self.maximum}]"

    def accepts(self, value: object) -> bool:
        return (
            not isinstance(value, bool)
            and isinstance(value, numbers.Integral)
            and int(value) % 2 == 1
            and self.minimum <= int(value) <= self.maximum
        )


@dataclass(frozen=True, slots=True)
class Choice(Rule):
    """One of ``choices`` (``None`` among them means "none of these")."""

    choices: tuple[object, ...]

    def allowed(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def accepts(self, value: object) -> bool:
        return value in self.choices


@dataclass(frozen=True, slots=True)
class Flag(Rule):
    """``True`` or ``False``."""

    def allowed(self) -> str:
        return "True or False"

    def accepts(self, value: object) -> bool:
        return isinstance(value, bool)


def parameter(default: Any, rule: Rule, description: str) -> Any:
    """A dataclass field of a detector parameter: default, allowed values, and what it trades
    off (one or two sentences for the people who set it; shown in the sample config)."""
    return field(default=default, metadata={"rule": rule, "description": description})


def rule_of(parameter_field: Any) -> Rule:
    return parameter_field.metadata["rule"]


@dataclass(frozen=True)
class DetectorParameters:
    """Base of the parameter dataclasses: checks every field against its rule, in field order."""

    def __post_init__(self) -> None:
        for item in fields(self):
            rule_of(item).check(item.name, getattr(self, item.name))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameter names."""
        return tuple(item.name for item in fields(cls))


P = TypeVar("P", bound=type[DetectorParameters])


def documented(cls: P) -> P:
    """Append each parameter's default, allowed values and trade-off to the class docstring."""
    lines = ["", "    Defaults and allowed values", "    ---------------------------"]
    for item in fields(cls):
        lines.append(f"    {item.name} = {item.default!r}: {rule_of(item).allowed()}.")
        lines += textwrap.wrap(item.metadata["description"], 92, initial_indent=" " * 8, subsequent_indent=" " * 8)
    cls.__doc__ = (cls.__doc__ or "").rstrip() + "\n" + "\n".join(lines) + "\n"
    return cls
