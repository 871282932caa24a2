"""Fixation detection: pure, streaming algorithms over numpy arrays (no I/O).

* :class:`IVTDetector` - the Tobii I-VT fixation filter (Olsen 2012), Tobii's defaults;
* :class:`IDTDetector` - dispersion-threshold identification (Salvucci & Goldberg 2000).

Both are fed incrementally (``feed(t, x_deg, y_deg, extra=None)`` then ``flush()``) and emit
:class:`FixationStarted` / :class:`FixationEnded` events; any split of a recording into batches
gives exactly the same events. :func:`label_samples` gives a per-sample fixation mask through
the same detectors. Gaze positions are in degrees of visual angle relative to the display
centre, see :mod:`gazewire.processor.pipeline.eye_movements.geometry` for the conversions.
"""

from .events import FixationEnded, FixationStarted, MovementEvent
from .factory import ALGORITHMS, Detector, algorithm_of, make_detector
from .geometry import angular_distance_deg, normalised_to_degrees, pixels_to_degrees
from .idt import IDTDetector, IDTParameters
from .ivt import IVTDetector, IVTParameters
from .labels import label_samples
from .parameters import DetectorParameters

__all__ = [
    "ALGORITHMS",
    "Detector",
    "DetectorParameters",
    "FixationEnded",
    "FixationStarted",
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
