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

The two materials' axis (Fisher's discriminant, where the principal axis does not hold)
---------------------------------------------------------------------------------------
A disc on the edge also holds what lies beside the edge: a routed round-over or a bevel in its
own shade, grain. When that shade is the disc's largest variation, the principal axis is the
shade's, it does not stand out from the grey, and the grey then reads the strongest step it
shows, which may be the shade's inner border and not the outline (zoo wood hand-held: an oak
board on a grey table of nearly its lightness, the 1 mm round-over darker; the board read
0.63 mm narrow, its hole 0.59 mm wide). What a dimension measures is where one material ends
and the other begins. So the linear RGB is also sampled on both sides of the edge points, in
bands :data:`SIDE_PX` away from them (clear of the edge's blur), and the axis that best tells
the two sides apart is Fisher's ``w = S^-1 (m_in - m_out)``, ``S`` their covariances (grain,
noise) plus the light's variation across an edge: a shade, uneven light or a highlight scales
a material's linear RGB, a relative :data:`SHADE` of each side's mean colour along it. On that
axis a material reads alike in its shade and in full light, so the step is the outline's. The
axis is taken when the step against that spread (Fisher's ratio) stands out :data:`AXIS_GAIN`
times more on it than on the grey; the bands are sampled once more about the edge read on the
axis, so that a bevel the grey edge fell on does not sit in them. Two materials that differ in
lightness far more than a shade (a dark part on a light platen) keep the grey: on the grey their
ratio is as high as on any axis. And the golden being the master, its size the nominal, the axis
must read the golden's dimension nearer the nominal than the grey does, by more than
:data:`AGREE_PX`: otherwise the grey stays, the sharper of the two where a JPEG keeps its colour
at half resolution (taken wherever the two read other edges, the axis read the zoo wallet's rivet
and the ceramic's gold band worse, hand-held: 14 of 24 and 31 of 43 within the bar).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar, cast

import cv2
import numpy as np

from ..calibration.color import _LINEAR_LUT_255, _LUMA_709
from ..errors import MeasurementError
from ..results import RegistrationResult
from ..spec import DimensionSpec
from .dimensions import _measure_px

__all__ = ["AXIS_GAIN", "DISC_PX", "SHADE", "SIDE_PX", "AGREE_PX", "edge_colour_weights", "grey_on_axis", "by_grey"]

#: the colour axis is used when the edge's step along it stands out this many times more
#: than along the measuring grey (per unit length of the weights)
AXIS_GAIN = 2.0
#: radius of the disc sampled around each golden edge point, px
DISC_PX = 3
#: the relative variation of a material's linear RGB with the light across an edge (a shade, a
#: highlight, uneven light): the nuisance of each side's mean colour in the materials' axis
SHADE = 0.25
#: the bands either side of an edge point sampled for the two materials, px from it (first, last)
SIDE_PX = (3, 10)
#: the materials' axis is taken only where it reads the golden's dimension nearer its nominal than
#: the grey does by more than this many px: the grey reads other edges
AGREE_PX = 1.0

_T = TypeVar("_T")


def edge_colour_weights(frame: np.ndarray, gray: np.ndarray, dims: Sequence[DimensionSpec],
                        registration: RegistrationResult,
                        gray_weights: Sequence[float] | None = None,
                        nominal_px: Mapping[str, float] | None = None) -> dict[str, list[float]]:
    """Per dimension that a colour axis shows far better than the grey: its weights on linear
    RGB (0-255 scale, sum of absolute values 1, signed so that the step has the grey's sign).

    ``frame``: the golden reference capture (RGB uint8); ``gray``: its measuring grey;
    ``registration``: the capture's mapping into golden px; ``gray_weights``: the grey's own
    weights on linear RGB (None: linear luminance); ``nominal_px``: each dimension's nominal in
    golden px (the golden is the master), without which the materials' axis is not tried."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        return {}
    lin = cv2.LUT(np.ascontiguousarray(frame), _LINEAR_LUT_255)
    y = np.asarray(_LUMA_709[0] if gray_weights is None else gray_weights, np.float64)
    y = y / max(float(np.linalg.norm(y)), 1e-12)
    out: dict[str, list[float]] = {}
    for dim in dims:
        pts = _edge_points(gray, dim, registration)
        if pts is None:
            continue
        axis = _principal_axis(lin, pts, y)
        if axis is None:
            axis = _materials_axis(lin, gray, dim, registration, y, (nominal_px or {}).get(dim.name))
        if axis is not None:
            out[dim.name] = axis
    return out


def _principal_axis(lin: np.ndarray, pts: np.ndarray, y: np.ndarray) -> list[float] | None:
    """The principal axis of the linear RGB in discs on the edge points, when it stands out."""
    h, w = lin.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for x, yy in np.round(pts).astype(int):
        if 0 <= x < w and 0 <= yy < h:
            cv2.circle(mask, (int(x), int(yy)), DISC_PX, 1, -1)
    x_rgb = lin[mask > 0].astype(np.float64)
    if len(x_rgb) < 32:
        return None
    cov = np.cov(x_rgb, rowvar=False)
    evals, evecs = np.linalg.eigh(cov)
    e = evecs[:, -1]
    s_axis = float(np.sqrt(max(float(evals[-1]), 0.0)))
    s_grey = float(np.sqrt(max(float(y @ cov @ y), 0.0)))
    if not s_axis > AXIS_GAIN * s_grey:
        return None
    if float(e @ cov @ y) < 0:  # the step keeps the grey's polarity (dark-to-light stays so)
        e = -e
    return [float(v) for v in e / np.abs(e).sum()]


def _materials_axis(lin: np.ndarray, gray: np.ndarray, dim: DimensionSpec, registration: RegistrationResult,
                    y: np.ndarray, nominal_px: float | None) -> list[float] | None:
    """Fisher's axis between the two sides of the dimension's edges (module docstring), when its
    ratio stands out :data:`AXIS_GAIN` times more than the grey's and it reads the golden's
    dimension nearer its nominal (``nominal_px``, golden px; None: never) by more than
    :data:`AGREE_PX`; sides sampled about the edges the grey reads, then once more about those the
    axis reads."""
    sides = _sides(lin, gray, dim, registration)
    w = None if sides is None else _fisher(*sides)
    if sides is None or w is None:
        return None
    w = _grey_sign(w, sides, y)
    sides = _sides(lin, _project(lin, w), dim, registration) or sides
    w = _fisher(*sides)
    if w is None:
        return None
    w = _grey_sign(w, sides, y)
    inner, outer = sides
    dm = inner.mean(axis=0) - outer.mean(axis=0)
    s = _spread(inner, outer)
    ratio_w = float(w @ dm) ** 2 / max(float(w @ s @ w), 1e-12)
    ratio_y = float(y @ dm) ** 2 / max(float(y @ s @ y), 1e-12)
    if not ratio_w > AXIS_GAIN ** 2 * ratio_y:
        return None
    if nominal_px is None:
        return None
    try:
        on_axis = _measure_px(_project(lin, w), dim, registration, 1.0, nominal_px)
    except MeasurementError:
        return None
    try:
        off_grey = abs(_measure_px(gray, dim, registration, 1.0, nominal_px)[0] - nominal_px)
    except MeasurementError:
        off_grey = math.inf
    # the golden is the master, its size the nominal: the axis must read it nearer (the grey is
    # the sharper of the two where a JPEG keeps its colour at half resolution; zoo wallet and
    # ceramic hand-held: an axis taken wherever it read other edges read their rivet and gold band
    # worse, 14 of 24 and 31 of 43 within the bar)
    if not abs(on_axis[0] - nominal_px) + AGREE_PX < off_grey:
        return None
    return [float(v) for v in w / np.abs(w).sum()]


def _grey_sign(w: np.ndarray, sides: tuple[np.ndarray, np.ndarray], y: np.ndarray) -> np.ndarray:
    """``w`` signed so that the step between the sides has the grey's sign (a dark-to-light
    edge stays so; the spec's polarity speaks of the grey)."""
    dm = sides[0].mean(axis=0) - sides[1].mean(axis=0)
    return -w if float(w @ dm) * float(y @ dm) < 0 else w


def _project(lin: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Linear RGB (0-255 scale) on ``w`` scaled to absolute weights summing to 1, offset to stay >= 0."""
    w = w / np.abs(w).sum()
    m = np.array([[w[0], w[1], w[2], -255.0 * float(w[w < 0].sum())]], np.float32)
    out = cv2.transform(lin, m)
    return out if out.ndim == 2 else out[..., 0]


def _spread(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """Both sides' covariance and the light's variation along each side's mean colour."""
    mi, mo = inner.mean(axis=0), outer.mean(axis=0)
    return (np.cov(inner, rowvar=False) + np.cov(outer, rowvar=False)
            + SHADE ** 2 * (np.outer(mi, mi) + np.outer(mo, mo)))


def _fisher(inner: np.ndarray, outer: np.ndarray) -> np.ndarray | None:
    s = _spread(inner, outer)
    dm = inner.mean(axis=0) - outer.mean(axis=0)
    try:
        w = np.linalg.solve(s, dm)
    except np.linalg.LinAlgError:
        return None
    return w if np.isfinite(w).all() and float(np.abs(w).sum()) > 0 else None


def _sides(lin: np.ndarray, gray: np.ndarray, dim: DimensionSpec,
           registration: RegistrationResult) -> tuple[np.ndarray, np.ndarray] | None:
    """Linear RGB in the bands :data:`SIDE_PX` inside and outside the edges ``gray`` reads
    (inside: towards the circle's centre, towards a width's other edge); None when either band
    has fewer than 32 samples in the image."""
    found = _edge_points(gray, dim, registration, with_normals=True)
    if found is None:
        return None
    pts, inward = found
    t = np.arange(SIDE_PX[0], SIDE_PX[1] + 1, dtype=np.float64)
    h, w = lin.shape[:2]
    out = []
    for sign in (1.0, -1.0):
        q = (pts[:, None, :] + sign * t[None, :, None] * inward[:, None, :]).reshape(-1, 2)
        q = np.round(q).astype(int)
        q = q[(q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)]
        if len(q) < 32:
            return None
        out.append(lin[q[:, 1], q[:, 0]].astype(np.float64))
    return out[0], out[1]


def _edge_points(gray: np.ndarray, dim: DimensionSpec, registration: RegistrationResult,
                 with_normals: bool = False):
    """Points along the edges the dimension is read on, frame px (None when it is not measured):
    a diameter's circle; a width's or distance's two edges across the caliper's band. With
    ``with_normals``: ``(points, inward unit normals)``, inward towards the circle's centre or
    the other edge."""
    try:
        size, _, pts, _ = _measure_px(gray, dim, registration, 1.0, None)
    except MeasurementError:
        return None
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    if dim.measure == "diameter":
        a = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
        radial = np.stack([np.cos(a), np.sin(a)], axis=1)
        out = p[0] + 0.5 * size * radial
        inward = -radial
    else:
        cal = dim.caliper
        assert cal is not None  # DimensionSpec requires a caliper for every other measure
        if len(p) < 2:
            return None
        d = p[1] - p[0]
        u = d / max(float(np.hypot(*d)), 1e-9)
        n = np.array([-u[1], u[0]])
        t = np.linspace(-0.5 * cal.width_px, 0.5 * cal.width_px, 9)
        out = (p[:2, None, :] + t[None, :, None] * n[None, None, :]).reshape(-1, 2)
        inward = np.repeat(np.stack([u, -u]), len(t), axis=0)
    ok = np.isfinite(out).all(axis=1)
    out, inward = out[ok], inward[ok]
    if len(out) < 4:
        return None
    return (out, inward) if with_normals else out


def grey_on_axis(frame: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """``frame`` (RGB uint8) projected on ``weights`` over linear RGB, offset to stay >= 0."""
    return _project(cv2.LUT(np.ascontiguousarray(frame), _LINEAR_LUT_255), np.asarray(weights, np.float64))


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
