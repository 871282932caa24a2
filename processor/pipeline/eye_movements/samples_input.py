"""The checks every streaming detector makes on a fed batch of samples, in one place.

Pure: arrays in, arrays out, a precise :class:`ValueError` for what is wrong (nothing about
the caller is changed when it raises)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_1d(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """``values`` as a 1-D float64 array; ValueError naming ``name`` otherwise."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    return array


def checked_batch(
    t_seconds: ArrayLike,
    x_deg: ArrayLike,
    y_deg: ArrayLike,
    extra: Mapping[str, ArrayLike] | None,
    *,
    extra_names: tuple[str, ...] | None,
    last_time: float | None,
) -> tuple[NDArray, NDArray, NDArray, tuple[str, ...], list[NDArray]]:
    """One batch checked against the stream so far: ``t, x, y``, the extra columns' names (in
    ``extra_names``' order when they are the same set) and their columns.

    ``extra_names`` is the names fixed by the first non-empty batch (None: none yet),
    ``last_time`` the time of the stream's last sample (None: none yet). Raises on arrays
    of different lengths or shapes, non-finite or non-increasing time (also across
    batches), or extra columns other than the first batch's. An empty batch is not checked
    against the stream."""
    t = as_1d("t_seconds", t_seconds)
    x = as_1d("x_deg", x_deg)
    y = as_1d("y_deg", y_deg)
    n = t.shape[0]
    if x.shape[0] != n or y.shape[0] != n:
        raise ValueError(
            "t_seconds, x_deg and y_deg must have the same length, got "
            f"{n}, {x.shape[0]} and {y.shape[0]}"
        )
    names = tuple(extra) if extra else ()
    if extra_names is not None and set(names) == set(extra_names):
        names = extra_names  # same columns in another order
    columns: list[NDArray] = []
    for name in names:
        column = as_1d(f"extra[{name!r}]", extra[name])  # type: ignore[index]
        if column.shape[0] != n:
            raise ValueError(
                f"extra[{name!r}] must have the same length as t_seconds ({n}), "
                f"got {column.shape[0]}"
            )
        columns.append(column)
    if n == 0:
        return t, x, y, names, columns
    if extra_names is not None and names != extra_names:
        raise ValueError(
            f"extra columns must stay the same across feeds: expected {extra_names}, "
            f"got {names}"
        )
    if not np.all(np.isfinite(t)):
        bad = int(np.flatnonzero(~np.isfinite(t))[0])
        raise ValueError(f"t_seconds must be finite, got {float(t[bad])!r} at index {bad}")
    if n > 1:
        steps = np.diff(t)
        if not np.all(steps > 0):
            bad = int(np.flatnonzero(~(steps > 0))[0])
            raise ValueError(
                "t_seconds must be strictly increasing, got "
                f"{float(t[bad])!r} then {float(t[bad + 1])!r} at index {bad + 1}"
            )
    if last_time is not None and not t[0] > last_time:
        raise ValueError(
            "t_seconds must be strictly increasing across feeds, got "
            f"{float(t[0])!r} after {last_time!r}"
        )
    return t, x, y, names, columns
