"""Choosing a detector by name."""

from __future__ import annotations

from .classify import MovementClassifier, MovementParameters
from .idt import IDTDetector, IDTParameters
from .ivt import IVTDetector, IVTParameters

__all__ = ["ALGORITHMS", "make_detector"]

ALGORITHMS: dict[str, tuple[type[IVTDetector | IDTDetector | MovementClassifier], type]] = {
    "ivt": (IVTDetector, IVTParameters),
    "idt": (IDTDetector, IDTParameters),
    # I-VD: identification by velocity (saccades) and displacement (fixation vs pursuit)
    "ivd": (MovementClassifier, MovementParameters),
}


def make_detector(
    algorithm: str, **parameters: object
) -> IVTDetector | IDTDetector | MovementClassifier:
    """A new streaming detector: ``"ivt"`` (Tobii I-VT), ``"idt"`` (I-DT) or ``"ivd"``.

    ``"ivd"`` is the :class:`MovementClassifier` (fixations, saccades, smooth pursuit, blinks:
    identification by velocity and displacement); it emits the same fixation events as the
    others plus saccade, pursuit and blink events.

    ``parameters`` override the defaults of :class:`IVTParameters` / :class:`IDTParameters` /
    :class:`MovementParameters`.

    Raises
    ------
    ValueError
        For an unknown algorithm (the message lists the choices), an unknown parameter name
        (the message lists the algorithm's parameters) or a value out of range.
    """
    try:
        detector_class, parameter_class = ALGORITHMS[algorithm]
    except (KeyError, TypeError):
        choices = ", ".join(repr(name) for name in ALGORITHMS)
        raise ValueError(f"algorithm must be one of {choices}, got {algorithm!r}") from None
    known = parameter_class.names()
    unknown = [name for name in parameters if name not in known]
    if unknown:
        raise ValueError(
            f"unknown {algorithm!r} parameter(s) {', '.join(map(repr, unknown))}; "
            f"valid parameters: {', '.join(known)}"
        )
    return detector_class(parameter_class(**parameters))
