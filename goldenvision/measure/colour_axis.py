"""The colour axis a dimension's edges are read on (internal).

A red print on a blue fabric, a brass pin on a green board: two materials of nearly the same
lightness make an edge that linear luminance barely shows, and a colour shift of either
material (a darker dye lot) then moves what the caliper reads: on the zoo's apparel, the print
disc on a fabric 5 L* darker read 0.17 mm large against a station bar of 0.05 mm. Colour
metrology reads such an edge on the colour axis that separates the two materials (a colour
caliper's "colour to grey" projection): a lens blurs each linear channel alike, so the edge of
any linear combination of linear RGB lies where the light's edge lies, and the projection that
carries the step keeps its contrast when one side's colour drifts.

At sealing, per dimension, the linear RGB around the golden reference's edge points (discs of
``DISC_PX``) is reduced to its principal axis: where the step along that axis stands out
:data:`AXIS_GAIN` times more than along the measuring grey (both per unit length of the
weights), the dimension is read on that axis, at sealing (every golden capture) and at
inspection alike; otherwise on the grey as before. The weights are stored in the package
(``meta["dimension_gray_weights"]``); packages without them read every dimension on the grey.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar, cast

import cv2
import numpy as np

from ..calibration.color import _LINEAR_LUT_255, _LUMA_709
from ..errors import MeasurementError
from ..results import RegistrationResult
from ..spec import DimensionSpec
from .dimensions import _measure_px

__all__ = ["AXIS_GAIN", "DISC_PX", "edge_colour_weights", "grey_on_axis", "by_grey"]

#: the colour axis is used when the edge's step along it stands out this many times more
#: than along the measuring grey (per unit length of the weights)
AXIS_GAIN = 2.0
#: radius of the disc sampled around each golden edge point, px
DISC_PX = 3

_T = TypeVar("_T")


def edge_colour_weights(frame: np.ndarray, gray: np.ndarray, dims: Sequence[DimensionSpec],
                        registration: RegistrationResult,
                        gray_weights: Sequence[float] | None = None) -> dict[str, list[float]]:
    """Per dimension that a colour axis shows far better than the grey: its weights on linear
    RGB (0-255 scale, sum of absolute values 1, signed so that the step has the grey's sign).

    ``frame``: the golden reference capture (RGB uint8); ``gray``: its measuring grey;
    ``registration``: the capture's mapping into golden px; ``gray_weights``: the grey's own
    weights on linear RGB (None: linear luminance)."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        return {}
    lin = cv2.LUT(np.ascontiguousarray(frame), _LINEAR_LUT_255)
    h, w = gray.shape
    y = np.asarray(_LUMA_709[0] if gray_weights is None else gray_weights, np.float64)
    y = y / max(float(np.linalg.norm(y)), 1e-12)
    out: dict[str, list[float]] = {}
    for dim in dims:
        pts = _edge_points(gray, dim, registration)
        if pts is None:
            continue
        mask = np.zeros((h, w), np.uint8)
        for x, yy in np.round(pts).astype(int):
            if 0 <= x < w and 0 <= yy < h:
                cv2.circle(mask, (int(x), int(yy)), DISC_PX, 1, -1)
        x_rgb = lin[mask > 0].astype(np.float64)
        if len(x_rgb) < 32:
            continue
        cov = np.cov(x_rgb, rowvar=False)
        evals, evecs = np.linalg.eigh(cov)
        e = evecs[:, -1]
        s_axis = float(np.sqrt(max(float(evals[-1]), 0.0)))
        s_grey = float(np.sqrt(max(float(y @ cov @ y), 0.0)))
        if not s_axis > AXIS_GAIN * s_grey:
            continue
        if float(e @ cov @ y) < 0:  # the step keeps the grey's polarity (dark-to-light stays so)
            e = -e
        out[dim.name] = [float(v) for v in e / np.abs(e).sum()]
    return out


def _edge_points(gray: np.ndarray, dim: DimensionSpec, registration: RegistrationResult) -> np.ndarray | None:
    """Points along the edges the dimension is read on, frame px (None when it is not measured):
    a diameter's circle; a width's or distance's two edges across the caliper's band."""
    try:
        size, _, pts, _ = _measure_px(gray, dim, registration, 1.0, None)
    except MeasurementError:
        return None
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    if dim.measure == "diameter":
        a = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
        out = p[0] + 0.5 * size * np.stack([np.cos(a), np.sin(a)], axis=1)
    else:
        cal = dim.caliper
        assert cal is not None  # DimensionSpec requires a caliper for every other measure
        if len(p) < 2:
            return None
        d = p[1] - p[0]
        n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9)
        t = np.linspace(-0.5 * cal.width_px, 0.5 * cal.width_px, 9)
        out = (p[:2, None, :] + t[None, :, None] * n[None, None, :]).reshape(-1, 2)
    out = out[np.isfinite(out).all(axis=1)]
    return out if len(out) >= 4 else None


def grey_on_axis(frame: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """``frame`` (RGB uint8) projected on ``weights`` over linear RGB, offset to stay >= 0."""
    w = np.asarray(weights, np.float64)
    lin = cv2.LUT(np.ascontiguousarray(frame), _LINEAR_LUT_255)
    m = np.array([[w[0], w[1], w[2], -255.0 * float(w[w < 0].sum())]], np.float32)
    out = cv2.transform(lin, m)
    return out if out.ndim == 2 else out[..., 0]


def by_grey(frame: np.ndarray, gray: np.ndarray, dims: Sequence[DimensionSpec],
            weights: Mapping[str, Sequence[float]] | None,
            fn: Callable[[np.ndarray, list[DimensionSpec]], list[_T]]) -> list[_T]:
    """``fn(grey, dims of that grey)`` for each grey the dimensions are read on (``gray`` for
    those without weights), the results back in the order of ``dims``."""
    groups: dict[tuple[float, ...] | None, list[int]] = {}
    for i, d in enumerate(dims):
        w = (weights or {}).get(d.name)
        groups.setdefault(None if w is None else tuple(float(v) for v in w), []).append(i)
    out: list[_T | None] = [None] * len(dims)
    for key, idx in groups.items():
        g = gray if key is None or frame.ndim != 3 else grey_on_axis(frame, key)
        for i, r in zip(idx, fn(g, [dims[i] for i in idx])):
            out[i] = r
    return cast("list[_T]", out)
