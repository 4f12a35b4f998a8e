"""Lines and circles fitted to caliper edges: Huber line fit, Kåsa then geometric circle fit
with outlier rejection, and the radial-caliper circle measurement."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

import cv2
import numpy as np
from scipy import ndimage
from scipy.special import erf

from .._stats import mad_normal
from ..errors import MeasurementError, SpecError
from ..results import jsonable
from .calipers import (
    _POLARITIES,
    _SQRT2,
    _SQRT2PI,
    Polarity,
    _check_choice,
    _check_gray,
    _image_noise,
    _profile_noise,
    _sample,
    _threshold_from_noise,
    measure_caliper_edges,
)

__all__ = [
    "tukey_weights",
    "LineFit",
    "CircleFit",
    "fit_line",
    "fit_circle",
    "point_line_distance",
    "line_angle_deg",
    "line_line_distance",
    "measure_line",
    "measure_circle",
]

@dataclass(frozen=True, slots=True)
class LineFit:
    """A fitted straight line ``point + t * direction`` (px of the image fitted).

    ``rms_px`` is the RMS orthogonal residual of the inliers; ``inliers`` marks the
    points kept by the robust fit.
    """

    point_px: tuple[float, float]
    direction: tuple[float, float]
    rms_px: float
    inliers: np.ndarray
    n_points: int

    @property
    def angle_deg(self) -> float:
        """Direction angle from +x towards +y, in (-90, 90]."""
        a = math.degrees(math.atan2(self.direction[1], self.direction[0]))
        if a <= -90:
            a += 180
        elif a > 90:
            a -= 180
        return a

    def to_dict(self) -> dict[str, Any]:
        return {
            "point_px": list(self.point_px),
            "direction": list(self.direction),
            "angle_deg": self.angle_deg,
            "rms_px": jsonable(self.rms_px),
            "n_inliers": int(np.count_nonzero(self.inliers)),
            "n_points": self.n_points,
        }


@dataclass(frozen=True, slots=True)
class CircleFit:
    """A fitted circle (px of the image fitted).

    Attributes
    ----------
    center_px : tuple of float
        (x, y) of the centre.
    radius_px : float
    rms_px : float
        RMS radial residual of the inliers.
    radius_uncertainty_px : float
        One standard deviation of the radius from the geometric fit's covariance.
    points_px : ndarray, shape (N, 2)
        The edge points fitted.
    inliers : ndarray, shape (N,), bool
    """

    center_px: tuple[float, float]
    radius_px: float
    rms_px: float
    radius_uncertainty_px: float
    points_px: np.ndarray
    inliers: np.ndarray

    @property
    def diameter_px(self) -> float:
        return 2.0 * self.radius_px

    def to_dict(self) -> dict[str, Any]:
        return {
            "center_px": list(self.center_px),
            "radius_px": jsonable(self.radius_px),
            "diameter_px": jsonable(self.diameter_px),
            "rms_px": jsonable(self.rms_px),
            "radius_uncertainty_px": jsonable(self.radius_uncertainty_px),
            "n_points": int(len(self.points_px)),
            "n_inliers": int(np.count_nonzero(self.inliers)),
        }


def tukey_weights(r: np.ndarray, *, min_sigma: float = 1e-9) -> np.ndarray:
    """Tukey's biweight IRLS weights of residuals ``r`` (c = 4.685 robust sigmas; the sigma is
    1.4826 x the median absolute residual, at least ``min_sigma``)."""
    sig = max(1.4826 * float(np.median(np.abs(r))), min_sigma)
    u = r / (4.685 * sig)
    return np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)


def fit_line(points: np.ndarray, *, outlier_k: float = 3.0) -> LineFit:
    """Robust straight-line fit: OpenCV Huber M-estimator, then total least squares on inliers.

    Parameters
    ----------
    points : ndarray, shape (N >= 2, 2)
        (x, y) px.
    outlier_k : float, keyword-only
        Points farther than ``outlier_k`` robust (MAD) standard deviations from the Huber
        line (and farther than 0.05 px) are outliers.

    Returns
    -------
    LineFit
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 2 or not np.all(np.isfinite(pts)):
        raise MeasurementError(f"fit_line: expected at least 2 finite (x, y) points, got {len(pts)}")
    vx, vy, x0, y0 = cv2.fitLine(pts.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    d = np.array([vx, vy], dtype=np.float64)
    n = np.array([-d[1], d[0]])
    res = (pts - [x0, y0]) @ n
    mad = float(mad_normal(res))
    inl = np.abs(res - np.median(res)) <= max(outlier_k * mad, 0.05)
    if inl.sum() < 2:
        inl[:] = True
    q = pts[inl]
    c = q.mean(axis=0)
    _, _, vt = np.linalg.svd(q - c, full_matrices=False)
    d = vt[0]
    if d[0] < 0 or (d[0] == 0 and d[1] < 0):
        d = -d
    n = np.array([-d[1], d[0]])
    r = (q - c) @ n
    return LineFit((float(c[0]), float(c[1])), (float(d[0]), float(d[1])), float(np.sqrt(np.mean(r**2))), inl, len(pts))


def point_line_distance(point_px: Sequence[float], line: LineFit) -> float:
    """Signed orthogonal distance of a point from a line, px (positive to the left of its direction, y down)."""
    d = np.asarray(line.direction)
    n = np.array([-d[1], d[0]])
    return float((np.asarray(point_px, dtype=np.float64) - line.point_px) @ n)


def line_angle_deg(a: LineFit, b: LineFit) -> float:
    """Angle between two lines in [0, 90] degrees."""
    c = abs(float(np.dot(a.direction, b.direction)))
    return math.degrees(math.acos(min(1.0, c)))


def line_line_distance(a: LineFit, b: LineFit) -> float:
    """Distance between two (nearly parallel) lines: ``b``'s centroid from ``a`` and ``a``'s from ``b``, averaged."""
    return 0.5 * (abs(point_line_distance(b.point_px, a)) + abs(point_line_distance(a.point_px, b)))


def measure_line(
    gray: np.ndarray,
    start_px: Sequence[float],
    end_px: Sequence[float],
    *,
    search_px: float = 10.0,
    n_calipers: int = 10,
    width_px: float = 5.0,
    sigma_px: float = 1.0,
    polarity: Polarity = "any",
) -> LineFit:
    """Fit a straight edge near the segment ``start -> end``: ``n_calipers`` calipers across it.

    Each caliper (length ``2 search_px``, perpendicular to the segment, direction = the
    segment's normal ``(-dy, dx)``) keeps its strongest edge; :func:`fit_line`
    fits them. Calipers that leave the image or find no edge are skipped.
    """
    p0, p1 = np.asarray(start_px, dtype=np.float64), np.asarray(end_px, dtype=np.float64)
    d = p1 - p0
    ln = float(np.hypot(*d))
    if ln <= 0:
        raise SpecError("measure_line: start_px and end_px coincide")
    angle = math.degrees(math.atan2(d[0], -d[1]))  # caliper direction = normal (-dy, dx) of the segment
    pts = []
    for f in (np.arange(n_calipers) + 0.5) / n_calipers:
        c = p0 + f * d
        try:
            _, q = measure_caliper_edges(gray, c, angle, 2 * search_px, width_px, sigma_px=sigma_px,
                                         polarity=polarity, select="strongest")
        except MeasurementError:
            continue
        if len(q):
            pts.append(q[0])
    if len(pts) < 2:
        raise MeasurementError(f"measure_line: found an edge in {len(pts)} of {n_calipers} calipers, need 2")
    return fit_line(np.array(pts))


def _kasa(pts: np.ndarray) -> tuple[float, float, float]:
    """Algebraic circle fit (Kåsa 1976): x^2 + y^2 + D x + E y + F = 0 by linear least squares."""
    m = pts.mean(axis=0)
    q = pts - m
    a = np.column_stack([q, np.ones(len(q))])
    rhs = -(q**2).sum(axis=1)
    (dd, ee, ff), *_ = np.linalg.lstsq(a, rhs, rcond=None)
    cx, cy = -dd / 2, -ee / 2
    r = math.sqrt(max(cx * cx + cy * cy - ff, 0.0))
    return float(cx + m[0]), float(cy + m[1]), r


def _geometric_circle(pts: np.ndarray, c0: tuple[float, float, float]) -> tuple[np.ndarray, float, float]:
    """Geometric (orthogonal distance) circle fit by Levenberg-Marquardt; returns params, rms, std of r."""

    def fun(p):
        return np.hypot(pts[:, 0] - p[0], pts[:, 1] - p[1]) - p[2]

    def jac(p):
        dx, dy = pts[:, 0] - p[0], pts[:, 1] - p[1]
        rr = np.maximum(np.hypot(dx, dy), 1e-12)
        return np.column_stack([-dx / rr, -dy / rr, -np.ones(len(pts))])

    from scipy.optimize import least_squares  # here, not at module level: scipy.optimize takes ~0.2 s to import

    r = least_squares(fun, np.asarray(c0, dtype=np.float64), jac=jac, method="lm", xtol=1e-12, ftol=1e-12)
    rss = float(r.fun @ r.fun)
    dof = max(1, len(pts) - 3)
    try:
        std_r = math.sqrt(max(np.linalg.inv(r.jac.T @ r.jac)[2, 2] * rss / dof, 0.0))
    except np.linalg.LinAlgError:
        std_r = float("nan")
    return r.x, math.sqrt(rss / len(pts)), std_r


def fit_circle(points: np.ndarray, *, outlier_k: float = 3.0) -> CircleFit:
    """Robust circle fit: Kåsa algebraic start, geometric least squares, outlier rejection.

    Points whose radial residual exceeds ``outlier_k`` robust (MAD) standard deviations
    (and 0.05 px) are dropped and the geometric fit is repeated (twice at most) [3]_ [4]_.

    Parameters
    ----------
    points : ndarray, shape (N >= 3, 2)
        (x, y) px.

    Returns
    -------
    CircleFit
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3 or not np.all(np.isfinite(pts)):
        raise MeasurementError(f"fit_circle: expected at least 3 finite (x, y) points, got {len(pts)}")
    inl = np.ones(len(pts), dtype=bool)
    p = np.array(_kasa(pts))
    rms, std_r = float("nan"), float("nan")
    for _ in range(3):
        if inl.sum() < 3:
            break
        p, rms, std_r = _geometric_circle(pts[inl], tuple(p))
        res = np.hypot(pts[:, 0] - p[0], pts[:, 1] - p[1]) - p[2]
        med = np.median(res[inl])
        mad = float(mad_normal(res[inl]))
        new = np.abs(res - med) <= max(outlier_k * mad, 0.05)
        if new.sum() < 3 or np.array_equal(new, inl):
            break
        inl = new
    return CircleFit((float(p[0]), float(p[1])), float(abs(p[2])), rms, std_r, pts, inl)


def _refine_erf_batch(profiles: np.ndarray, coarse: np.ndarray, s0: float, spacing_px: float,
                      iterations: int = 40) -> np.ndarray:
    """Single-edge erf fits of many profiles at once (batched Levenberg-Marquardt).

    ``profiles`` (n, N); ``coarse`` (n, 2) of (position px, signed response). The window is
    ``±(3 s0 + 2)`` px around each coarse position (shifted to stay inside the profile).
    Returns the refined positions in px (NaN where the fit left its window).
    """
    n, ns = profiles.shape
    hw = int(round((3.0 * s0 + 2.0) / spacing_px))
    m = min(2 * hw + 1, ns)
    i0 = np.clip(np.round(coarse[:, 0] / spacing_px).astype(int) - m // 2, 0, ns - m)
    idx = i0[:, None] + np.arange(m)[None, :]
    y = np.take_along_axis(profiles, idx, axis=1)
    x = idx * spacing_px
    st = math.hypot(s0, s0)
    b = coarse[:, 1] * _SQRT2PI * st / 2.0
    p = np.column_stack([y[:, 0] + b, b, coarse[:, 0], np.full(n, s0)])

    def model(p):
        u = (x - p[:, 2:3]) / (_SQRT2 * p[:, 3:4])
        e = erf(u)
        g = np.exp(-u * u) * (2.0 / math.sqrt(math.pi))
        f = p[:, 0:1] + p[:, 1:2] * e
        j = np.stack([np.ones_like(e), e, -g * p[:, 1:2] / (_SQRT2 * p[:, 3:4]), -g * u * p[:, 1:2] / p[:, 3:4]], -1)
        return f, j

    f, j = model(p)
    cost = ((f - y) ** 2).sum(1)
    lam = np.full(n, 1e-3)
    eye = np.eye(4)
    for _ in range(iterations):
        r = f - y
        jt = j.transpose(0, 2, 1)
        jtj = jt @ j
        g = (jt @ r[..., None])[..., 0]
        a = jtj + lam[:, None, None] * (jtj * eye + 1e-12 * eye)
        try:
            step = np.linalg.solve(a, -g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            break
        pn = p + step
        pn[:, 3] = np.abs(pn[:, 3]) + 1e-6
        fn, jn = model(pn)
        cn = ((fn - y) ** 2).sum(1)
        ok = cn < cost
        p[ok], f[ok], j[ok], cost[ok] = pn[ok], fn[ok], jn[ok], cn[ok]
        lam = np.where(ok, lam / 3.0, lam * 4.0)
        if np.all(np.abs(step[:, 2]) < 1e-7) or np.all(lam > 1e8):
            break
    pos = p[:, 2].copy()
    bad = (pos < x[:, 0]) | (pos > x[:, -1]) | ~np.isfinite(pos)
    pos[bad] = np.nan
    return pos


def measure_circle(
    gray: np.ndarray,
    center_px: Sequence[float],
    radius_px: float,
    search_px: float,
    *,
    n_calipers: int | None = None,
    sigma_px: float = 1.0,
    threshold: float | None = None,
    polarity: Polarity = "any",
    step_px: float = 0.25,
) -> CircleFit:
    """Fit a circular edge near ``(center_px, radius_px)`` with radial calipers.

    ``n_calipers`` radial calipers (default ``clip(round(2 pi r / 4), 16, 72)``) each run
    outward from ``radius - search`` to ``radius + search``; each averages over an
    annular sector (arc samples at constant radius, not straight parallel lines, so the
    curvature of the edge does not bias the radius) whose arc is 60 % of the caliper
    spacing. ``polarity`` is along the outward direction (a dark disc on a light ground
    is "dark_to_light"). Each caliper keeps its strongest edge, refined by the erf model
    of :func:`find_edges` (single edge, all calipers fitted at once by a batched
    Levenberg-Marquardt); :func:`fit_circle` fits them.

    ``threshold`` (grey levels per px) is the response a caliper's edge must exceed; None: as
    :func:`find_edges`' automatic threshold, with each profile's noise at most the noise of the
    image patch around the annulus (:func:`~goldenvision.measure.calipers._image_noise`) over
    the square root of the arc lines averaged: a short radial profile of a small circle is
    mostly its edge, whose curvature its own second differences read as noise.

    Raises
    ------
    MeasurementError
        The search annulus leaves the image, or fewer than 5 calipers found an edge.
    """
    g = _check_gray(gray)
    _check_choice(polarity, _POLARITIES, "polarity")
    if not (radius_px > 0 and search_px > 0) or search_px >= radius_px:
        raise SpecError(f"measure_circle: expected 0 < search_px < radius_px, got {search_px}, {radius_px}")
    n = int(np.clip(round(2 * math.pi * radius_px / 4.0), 16, 72)) if n_calipers is None else int(n_calipers)
    if n < 5:
        raise SpecError(f"measure_circle: expected n_calipers >= 5, got {n}")
    ns = int(math.floor(2 * search_px / step_px + 1e-9)) + 1
    s = (np.arange(ns) - (ns - 1) / 2.0) * step_px
    rho = radius_px + s
    arc = 0.6 * 2 * math.pi * radius_px / n
    m = max(1, int(round(arc)))
    dphi = (np.arange(m) - (m - 1) / 2.0) * (arc / m) / radius_px if m > 1 else np.zeros(1)
    theta = 2 * math.pi * np.arange(n) / n
    phi = theta[:, None, None] + dphi[None, :, None]  # (n, m, 1)
    xs = center_px[0] + rho[None, None, :] * np.cos(phi)
    ys = center_px[1] + rho[None, None, :] * np.sin(phi)
    prof = _sample(g, xs, ys, "circle search annulus").mean(axis=1)  # (n, ns)
    pts = []
    # strongest edge of each radial profile (Gaussian derivative + parabola), all at once
    resp = ndimage.gaussian_filter1d(prof, sigma_px / step_px, axis=1, order=1, mode="nearest") / step_px
    if threshold is None:
        # A radial profile of a small circle is short and mostly its edge: the edge's own curvature
        # inflates its second differences (a 3 mm hole at 7 px radius: 2-6 times the noise, and
        # no caliper found its edge). The noise of the image patch around the annulus, over the
        # square root of the arc lines averaged, bounds it from above where the profiles cannot.
        rr_out = radius_px + search_px + 2.0
        patch_noise = _image_noise(g, int(math.floor(center_px[0] - rr_out)), int(math.floor(center_px[1] - rr_out)),
                                   int(math.ceil(center_px[0] + rr_out)) + 1, int(math.ceil(center_px[1] + rr_out)) + 1)
        noise = _profile_noise(prof, step_px)
        if math.isfinite(patch_noise):
            noise = np.minimum(noise, patch_noise / math.sqrt(m))
        thr = _threshold_from_noise(noise, prof, sigma_px, step_px)
    else:
        thr = np.full(n, float(threshold))
    signed = resp if polarity == "dark_to_light" else (-resp if polarity == "light_to_dark" else np.abs(resp))
    signed = signed.copy()
    signed[:, [0, -1]] = -np.inf  # a peak needs both neighbours
    i = np.argmax(signed, axis=1)
    rr = np.arange(n)
    found = signed[rr, i] > thr
    a0, a1, a2 = (np.abs(resp[rr, np.clip(i + o, 0, ns - 1)]) for o in (-1, 0, 1))
    den = a0 - 2 * a1 + a2
    with np.errstate(divide="ignore", invalid="ignore"):
        dlt = np.where(den < 0, 0.5 * (a0 - a2) / den, 0.0)
    q = (i + np.clip(dlt, -0.5, 0.5)) * step_px
    rows = np.flatnonzero(found)
    coarse = np.column_stack([q[rows], resp[rows, i[rows]]])
    if rows.size:
        pos = _refine_erf_batch(prof[rows], coarse, max(sigma_px, 0.5), step_px)
        for k, q in zip(rows, pos):
            if np.isfinite(q):
                r_k = radius_px + s[0] + q
                pts.append((center_px[0] + r_k * math.cos(theta[k]), center_px[1] + r_k * math.sin(theta[k])))
    if len(pts) < 5:
        raise MeasurementError(f"measure_circle: found an edge in {len(pts)} of {n} radial calipers, need 5")
    return fit_circle(np.array(pts))
