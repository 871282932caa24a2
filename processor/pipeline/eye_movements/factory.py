"""Choosing a detector by name, and what every detector offers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from numpy.typing import ArrayLike

from .classify import MovementClassifier, MovementParameters
from .events import MovementEvent
from .idt import IDTDetector, IDTParameters
from .ivt import IVTDetector, IVTParameters
from .parameters import DetectorParameters

__all__ = ["ALGORITHMS", "Detector", "algorithm_of", "make_detector"]

ALGORITHMS: dict[
    str,
    tuple[
        type[IVTDetector | IDTDetector | MovementClassifier],
        type[IVTParameters | IDTParameters | MovementParameters],
    ],
] = {
    "ivt": (IVTDetector, IVTParameters),
    "idt": (IDTDetector, IDTParameters),
    # I-VD: identification by velocity (saccades) and displacement (fixation vs pursuit)
    "ivd": (MovementClassifier, MovementParameters),
}


class Detector(Protocol):
    """A streaming eye-movement detector: fed batches of samples in time order, it returns the
    events each batch completed; :meth:`flush` ends the stream. Any split of a recording into
    batches gives the same events."""

    @property
    def parameters(self) -> DetectorParameters: ...

    def feed(
        self,
        t_seconds: ArrayLike,
        x_deg: ArrayLike,
        y_deg: ArrayLike,
        extra: Mapping[str, ArrayLike] | None = None,
    ) -> list[MovementEvent]: ...

    def flush(self) -> list[MovementEvent]: ...


def algorithm_of(parameters: DetectorParameters) -> str:
    """The algorithm name (``"ivt"``, ``"idt"``, ``"ivd"``) whose parameters these are."""
    for name, (_, parameter_class) in ALGORITHMS.items():
        if type(parameters) is parameter_class:
            return name
    raise ValueError(f"not the parameters of a known detector: {parameters!r}")


def make_detector(
    algorithm: str, parameters: DetectorParameters | None = None, /, **overrides: object
) -> IVTDetector | IDTDetector | MovementClassifier:
    """A new streaming detector: ``"ivt"`` (Tobii I-VT), ``"idt"`` (I-DT) or ``"ivd"``.

    ``"ivd"`` is the :class:`MovementClassifier` (fixations, saccades, smooth pursuit, blinks:
    identification by velocity and displacement); it emits the same fixation events as the
    others plus :class:`Saccade`, :class:`Pursuit` and :class:`Blink` events.

    ``parameters`` (an :class:`IVTParameters` / :class:`IDTParameters` /
    :class:`MovementParameters`), or keyword ``overrides`` of their defaults.

    Raises
    ------
    ValueError
        For an unknown algorithm (the message lists the choices), parameters of another
        algorithm, an unknown parameter name (the message lists the algorithm's parameters) or
        a value out of range.
    """
    try:
        detector_class, parameter_class = ALGORITHMS[algorithm]
    except (KeyError, TypeError):
        choices = ", ".join(repr(name) for name in ALGORITHMS)
        raise ValueError(f"algorithm must be one of {choices}, got {algorithm!r}") from None
    if parameters is not None:
        if overrides:
            raise ValueError("pass either parameters or keyword overrides, not both")
        if type(parameters) is not parameter_class:
            raise ValueError(f"{algorithm!r} needs {parameter_class.__name__}, got {type(parameters).__name__}")
        return detector_class(parameters)  # type: ignore[arg-type]
    known = parameter_class.names()
    unknown = [name for name in overrides if name not in known]
    if unknown:
        raise ValueError(
            f"unknown {algorithm!r} parameter(s) {', '.join(map(repr, unknown))}; "
            f"valid parameters: {', '.join(known)}"
        )
    return detector_class(parameter_class(**overrides))  # type: ignore[arg-type]
