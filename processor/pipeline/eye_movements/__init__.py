"""Eye-movement detection: pure, streaming algorithms over numpy arrays (no I/O).

* :class:`MovementClassifier` (``"ivd"``) - fixations, saccades (with
  post-saccadic oscillations), smooth pursuit and blinks, by velocity and displacement; besides
  the fixation events it emits :class:`Saccade`, :class:`Pursuit` and :class:`Blink`;
  :func:`classify_samples` labels a whole recording with the codes of Andersson et al. (2017);
* :class:`IVTDetector` - the Tobii I-VT fixation filter (Olsen 2012), Tobii's defaults;
* :class:`IDTDetector` - dispersion-threshold identification (Salvucci & Goldberg 2000).

All are fed incrementally (``feed(t, x_deg, y_deg, extra=None)`` then ``flush()``) and emit
:class:`FixationStarted` / :class:`FixationEnded` events; any split of a recording into batches
gives exactly the same events. :func:`label_samples` gives a per-sample fixation mask through
the same detectors. Gaze positions are in degrees of visual angle relative to the display
centre, see :mod:`gazewire.processor.pipeline.eye_movements.geometry` for the conversions.
"""

from .classify import MovementClassifier, MovementParameters, classify_samples, labels_from_events
from .events import (
    BLINK,
    FIXATION,
    PSO,
    PURSUIT,
    SACCADE,
    UNDEFINED,
    Blink,
    FixationEnded,
    FixationRetracted,
    FixationStarted,
    FixationTentative,
    MovementEvent,
    Pursuit,
    Saccade,
)
from .factory import ALGORITHMS, Detector, algorithm_of, make_detector
from .geometry import angular_distance_deg, normalised_to_degrees, pixels_to_degrees
from .idt import IDTDetector, IDTParameters
from .ivt import IVTDetector, IVTParameters
from .labels import label_samples
from .parameters import DetectorParameters

__all__ = [
    "ALGORITHMS",
    "BLINK",
    "FIXATION",
    "PSO",
    "PURSUIT",
    "SACCADE",
    "UNDEFINED",
    "Blink",
    "MovementClassifier",
    "MovementParameters",
    "Pursuit",
    "Saccade",
    "classify_samples",
    "labels_from_events",
    "Detector",
    "DetectorParameters",
    "FixationEnded",
    "FixationRetracted",
    "FixationStarted",
    "FixationTentative",
    "IDTDetector",
    "IDTParameters",
    "IVTDetector",
    "IVTParameters",
    "MovementEvent",
    "algorithm_of",
    "angular_distance_deg",
    "label_samples",
    "make_detector",
    "normalised_to_degrees",
    "pixels_to_degrees",
]
