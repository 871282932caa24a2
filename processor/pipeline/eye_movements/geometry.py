"""Gaze geometry: screen coordinates to degrees of visual angle, angles between gaze samples.

Convention used by the whole :mod:`gazewire.processor.pipeline.eye_movements` package
-------------------------------------------------------------
A gaze position is a pair ``(x_deg, y_deg)`` of *per-axis visual angles* of the gazed point
relative to the centre of the display::

    x_deg = atan(X / D)        y_deg = atan(Y / D)

where ``X``/``Y`` are the horizontal/vertical offsets (same length unit as ``D``) of the point
on the display plane from the display centre, ``x`` positive to the right, ``y`` positive
*downwards* (the orientation of Tobii's ``gaze_point_on_display_area`` and of pixel rows), and
``D`` is the eye-to-display distance. This is exact for a viewer whose eye is in front of the
display centre, looking at a display perpendicular to the line of sight.

Because the point on the display plane can be recovered as ``(D tan x_deg, D tan y_deg)``, the
gaze *direction* of a sample is the vector ``(tan x_deg, tan y_deg, 1)`` and the angle between
two gaze samples is the true 3-D angle between their directions (:func:`angular_distance_deg`),
not the Euclidean distance of the ``(x_deg, y_deg)`` pairs (which over-estimates the angle
increasingly away from the display centre).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "angular_distance_deg",
    "direction_angle_deg",
    "gaze_direction",
    "normalised_to_degrees",
    "pixels_to_degrees",
]


def _positive(name: str, value: float) -> float:
    """Return ``value`` as float, or raise ``ValueError`` unless it is finite and > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}") from None
    if not math.isfinite(number) or number <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def _plane_to_degrees(
    offset_x: NDArray[np.float64], offset_y: NDArray[np.float64], distance: float | NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return (
        np.degrees(np.arctan2(offset_x, distance)),
        np.degrees(np.arctan2(offset_y, distance)),
    )


def normalised_to_degrees(
    x: ArrayLike,
    y: ArrayLike,
    display_width_mm: float,
    display_height_mm: float,
    eye_distance_mm: float | ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert normalised display-area coordinates to degrees of visual angle.

    Parameters
    ----------
    x, y:
        Normalised display-area coordinates, ``(0, 0)`` top-left and ``(1, 1)`` bottom-right
        corner of the active display area, as in Tobii's ``gaze_point_on_display_area``.
        Values outside ``[0, 1]`` (gaze off the display) are converted the same way; NaN stays
        NaN.
    display_width_mm, display_height_mm:
        Size of the active display area (mm), > 0.
    eye_distance_mm:
        Distance from the eye to the display plane (mm), > 0: one for every sample, or an
        array with each sample's own (as long as ``x``).

    Returns
    -------
    x_deg, y_deg:
        Per-axis visual angles ``atan(offset / distance)`` relative to the display centre,
        x positive to the right, y positive downwards (see the module docstring).
    """
    width = _positive("display_width_mm", display_width_mm)
    height = _positive("display_height_mm", display_height_mm)
    x_arr = np.asarray(x, dtype=np.float64)
    y_arr = np.asarray(y, dtype=np.float64)
    if np.ndim(eye_distance_mm) == 0:
        distance: float | NDArray[np.float64] = _positive("eye_distance_mm", eye_distance_mm)  # type: ignore[arg-type]
    else:
        distance = np.asarray(eye_distance_mm, dtype=np.float64)
        if distance.shape != x_arr.shape:
            raise ValueError(
                f"eye_distance_mm must be one number or one per sample ({x_arr.shape}), got shape {distance.shape}"
            )
        if not np.all(np.isfinite(distance) & (distance > 0)):
            bad = distance[~(np.isfinite(distance) & (distance > 0))][0]
            raise ValueError(f"eye_distance_mm must be finite numbers > 0, got {float(bad)!r}")
    return _plane_to_degrees((x_arr - 0.5) * width, (y_arr - 0.5) * height, distance)


def pixels_to_degrees(
    x_px: ArrayLike,
    y_px: ArrayLike,
    screen_width_m: float,
    screen_height_m: float,
    resolution_x_px: float,
    resolution_y_px: float,
    viewing_distance_m: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert screen pixel coordinates to degrees of visual angle.

    Pixel coordinates are measured from the top-left corner of the screen (x to the right,
    y downwards); the screen centre is ``(resolution_x_px / 2, resolution_y_px / 2)``.

    Parameters
    ----------
    x_px, y_px:
        Gaze position in pixels; NaN stays NaN.
    screen_width_m, screen_height_m:
        Physical size of the screen (m), > 0.
    resolution_x_px, resolution_y_px:
        Screen resolution (px), > 0.
    viewing_distance_m:
        Eye-to-screen distance (m), > 0.

    Returns
    -------
    x_deg, y_deg:
        Per-axis visual angles relative to the screen centre (see the module docstring).
    """
    width = _positive("screen_width_m", screen_width_m)
    height = _positive("screen_height_m", screen_height_m)
    res_x = _positive("resolution_x_px", resolution_x_px)
    res_y = _positive("resolution_y_px", resolution_y_px)
    distance = _positive("viewing_distance_m", viewing_distance_m)
    x_arr = np.asarray(x_px, dtype=np.float64)
    y_arr = np.asarray(y_px, dtype=np.float64)
    return _plane_to_degrees(
        (x_arr - res_x / 2.0) * (width / res_x), (y_arr - res_y / 2.0) * (height / res_y), distance
    )


def gaze_direction(x_deg: float, y_deg: float) -> tuple[float, float]:
    """Direction of a gaze sample as ``(tan x, tan y)``; the full vector is ``(tan x, tan y, 1)``.

    Scalar helper used by the streaming detectors (plain :mod:`math`, so the result of a sample
    never depends on how the recording was split into batches).
    """
    return math.tan(math.radians(x_deg)), math.tan(math.radians(y_deg))


def direction_angle_deg(ax: float, ay: float, bx: float, by: float) -> float:
    """Angle (deg) between the directions ``(ax, ay, 1)`` and ``(bx, by, 1)``.

    Uses ``atan2(|a x b|, a . b)``, which is accurate for small angles (unlike ``acos``) and
    does not need normalised vectors.
    """
    cx = ay - by  # a x b with a_z = b_z = 1
    cy = bx - ax
    cz = ax * by - ay * bx
    dot = ax * bx + ay * by + 1.0
    return math.degrees(math.atan2(math.sqrt(cx * cx + cy * cy + cz * cz), dot))


def angular_distance_deg(
    x1_deg: ArrayLike, y1_deg: ArrayLike, x2_deg: ArrayLike, y2_deg: ArrayLike
) -> NDArray[np.float64]:
    """Angle (deg) between gaze positions ``(x1, y1)`` and ``(x2, y2)`` given in degrees.

    Vectorised version of the angle the detectors use (see the module docstring): the 3-D angle
    between the gaze directions ``(tan x, tan y, 1)``.
    """
    ax = np.tan(np.radians(np.asarray(x1_deg, dtype=np.float64)))
    ay = np.tan(np.radians(np.asarray(y1_deg, dtype=np.float64)))
    bx = np.tan(np.radians(np.asarray(x2_deg, dtype=np.float64)))
    by = np.tan(np.radians(np.asarray(y2_deg, dtype=np.float64)))
    cx = ay - by
    cy = bx - ax
    cz = ax * by - ay * bx
    dot = ax * bx + ay * by + 1.0
    return np.degrees(np.arctan2(np.sqrt(cx * cx + cy * cy + cz * cz), dot))
