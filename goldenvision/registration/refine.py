"""Fine alignment and verification of one coarse candidate.

Inverse-compositional Gauss-Newton (Baker & Matthews 2004,
doi:10.1023/B:VISI.0000011205.11775.fd) on the reference's edge points, coarse to fine, with
a tone-curve fit per iteration (piecewise linear, knots at the reference's material tones;
with two tones a gain/offset, and the criterion is then the correlation coefficient, as in
ECC: Evangelidis & Psarakis 2008, doi:10.1109/TPAMI.2008.113) and Huber-then-Tukey weights;
then every check that keeps a wrong homography from being reported ``ok``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..transform import apply_homography
from ._base import (
    _BASIN_PX,
    _BASIN_TOL_PX,
    _FEATURE_THR_PX,
    _MAX_CORNER_STD_PX,
    _MIN_EDGE_INLIERS,
    _MIN_EDGE_INSIDE,
    _MIN_EDGE_INSIDE_ZOOM,
    _MIN_INLIERS,
    _MIN_NCC_COARSE,
    _MIN_NCC_VOUCHED,
    _MIN_RHO_FINE,
    _MIN_RHO_START,
    _N_BLOAT,
    _PART_MAX_SHARE,
    _RIVAL_RHO_MARGIN,
    _SAT_SHARE,
    _TONE_MIN_GAIN,
    _TONE_MIN_SEP,
    _TONE_MIN_SHARE,
    _ZOOM_MIN_INLIERS,
    _UNCERTAINTY_LEVELS,
    _blur,
    _corner_diff,
    _corner_move,
    _corners,
    _dwarp_dp,
    _h_scale,
    _level_shape,
    _masked_correlation,
    _norm_mat,
    _Pyramid,
    _robust_weights,
    _sanity,
    _scale_mat,
    _step_warp,
)
from .model import RegistrationModel
from .refusal import Refusal, RefusalCode

@dataclass
class _Fine:
    g: np.ndarray  # reference full px -> moving full px
    rho: float
    corner_std_px: float
    converged: bool
    n_valid: int
    inlier_frac: float  # share of the reference edge points inside the unit image that it reproduces
    inside_frac: float  # share of the reference edge points that fall inside the unit image
    weak: np.ndarray | None = None  # least determined parameter direction (unit vector, normalised coordinates)
    final_level: int = 0
    note: str | None = None  # why it was accepted as it was (keypoint inliers it does not explain)
    path: dict[int, np.ndarray] | None = None  # the estimate after each level (moving -> reference px)


def _extent_corners(model: RegistrationModel, lvl: int) -> np.ndarray:
    """(n, 2) points, level ``lvl`` px, where the alignment's uncertainty is predicted.

    Without a mask, the reference's four corners (the whole photo is the product). With a mask
    (a product on a table), the vertices of the convex hull of the level's edge points: the
    extent of the content the alignment is fitted to, which lies inside the mask. The error
    of an affine map at a point is linear in the point, so its variance is a convex quadratic
    and its maximum over the hull is taken at a vertex; for a round or oval product the
    corners of the mask's bounding box lie 0.41 r outside it and would extrapolate a rotation's
    uncertainty to places where nothing is judged. For a rectangular product the hull's
    vertices are its corners, as before."""
    if not model.has_mask_:
        return _corners(_level_shape(model.shape_hw_, lvl))
    cache = _model_cache(model, "_extent_hull")
    hull = cache.get(lvl)
    if hull is None:
        pts = np.asarray(model.levels_[lvl]["pts"], np.float32).reshape(-1, 2)
        if len(pts) >= 3:
            hull = cv2.convexHull(pts.reshape(-1, 1, 2)).reshape(-1, 2).astype(np.float64)
        else:  # no content to bound (the refinement refuses such a level anyway)
            hull = _corners(_level_shape(model.shape_hw_, lvl))
        cache[lvl] = hull
    return hull


#: A refinement whose estimate after a level above its last is within this many px (worst
#: corner) of the estimate after the same level of a refinement that ended in an alignment refused
#: as undetermined stops there (:func:`_refine`'s ``known``).
_SAME_ALIGNMENT_PX = 1.0


@dataclass
class _Known:
    """A refinement stopped on its way to an alignment already refused (:func:`_refine`)."""
    h: np.ndarray  # moving px -> reference px, where it stopped
    which: int  # the index of the path it reached among ``known``


def _refine(model: RegistrationModel, mpyr: list[np.ndarray], g0: np.ndarray, *, affine: bool,
            start_level: int | None = None, known: Sequence[dict[int, np.ndarray]] = ()
            ) -> _Fine | _Known | None:
    """Coarse-to-fine inverse-compositional alignment; None if it diverges or lacks data.

    ``known``: the paths (``_Fine.path``: the estimate after each level, moving -> reference px)
    of refinements that ended in an alignment refused as not determined by the content. When the
    estimate after a level above the last comes within :data:`_SAME_ALIGNMENT_PX` of such a path's
    after the same level, the refinement stops with :class:`_Known`: the finer levels, the same
    steps from the same place, would reach the same alignment, which :func:`.align.register`
    refuses from any start (zoo wood hand-held: ten Fourier-Mellin starts, each refined to the
    alignment the keypoints' start had reached, 1.2 s a unit; their estimates after the level
    above the last agreed to 0.02 px, while the perspective those levels leave free kept them
    13 px from the end at the frame's corners)."""
    g = g0.copy()
    mblur: dict[int, np.ndarray] = mpyr.blurred if isinstance(mpyr, _Pyramid) else {}
    n_par = 6 if affine else 8
    start = model.coarse_level_ if start_level is None else min(start_level, model.coarse_level_)
    res: _Fine | None = None
    worst_std = 0.0
    # a unit photographed smaller than the golden carries no detail at the golden's finest
    # levels: stop at the level whose px size matches the unit's (sampling a blurrier unit with
    # sharper reference values would bias the edges)
    scale0 = _h_scale(np.linalg.inv(g), model.shape_hw_)  # moving -> ref length factor
    final = int(np.clip(math.ceil(math.log2(scale0) - 0.5), 0, start))
    bloat = _saturated(mpyr)
    weak = None
    path: dict[int, np.ndarray] = {}
    d_edge = np.zeros(_N_BLOAT)  # edge shift towards the dark side (level px), fitted when ``bloat``
    for lvl in range(start, final - 1, -1):
        data = model.levels_[lvl]
        pts = data["pts"].astype(np.float64)
        if len(pts) < 50:
            return None
        t = data["t"].astype(np.float64)
        sd = data["sd"][:, :n_par].astype(np.float64)
        lvl_shape = _level_shape(model.shape_hw_, lvl)
        nmat, s, _ = _norm_mat(lvl_shape)
        # moving level whose px size matches the reference level's px size
        scale = _h_scale(np.linalg.inv(g), model.shape_hw_)  # moving -> ref length factor
        m = int(np.clip(round(lvl - math.log2(scale)), 0, len(mpyr) - 1))
        # sample the moving level blurred like the reference values ``t`` (same edge profile)
        img = mblur.get(m)
        if img is None:
            img = mblur[m] = _blur(mpyr[m])
        gl = _scale_mat(-m) @ g @ _scale_mat(lvl)
        max_it = 40 if lvl == start else 15
        converged = False
        w_all = np.ones(len(pts))
        gxy = data["sd"][:, [2, 5]].astype(np.float64) / s  # reference gradient, gray / level px
        mag = np.hypot(gxy[:, 0], gxy[:, 1])
        if bloat:
            # edge normals in the unit's pixel grid: a sampled edge's blur (and so its shift
            # under clipping) grows from 1 (along a pixel axis) to sqrt 2 (diagonal)
            cx, cy = (lvl_shape[1] - 1) / 2.0, (lvl_shape[0] - 1) / 2.0
            wc = gl[2, 0] * cx + gl[2, 1] * cy + gl[2, 2]
            qc = (gl[:2, :2] @ [cx, cy] + gl[:2, 2]) / wc
            jac = (gl[:2, :2] - np.outer(qc, gl[2, :2])) / wc  # d(moving)/d(reference) at the centre
            nm = gxy @ np.linalg.inv(jac)  # gradient in the unit's grid (a covector)
            diag = (np.abs(nm[:, 0]) + np.abs(nm[:, 1])) / np.maximum(np.hypot(nm[:, 0], nm[:, 1]), 1e-12)
            basis = np.stack([mag, mag * (diag - 1.2)], 1)[:, :_N_BLOAT]  # 1.2 ~ mean of diag: less correlated
        if lvl < start:
            d_edge *= 2.0
        knots = _level_knots(model, lvl)
        for it in range(max_it):
            q = apply_homography(pts, gl)
            inside = (q[:, 0] >= 0) & (q[:, 0] <= img.shape[1] - 1) & (q[:, 1] >= 0) & (q[:, 1] <= img.shape[0] - 1)
            if inside.sum() < max(50, 0.2 * len(pts)):
                return None
            qf = q[inside].astype(np.float32).reshape(-1, 1, 2)
            iw = cv2.remap(img, qf, None, cv2.INTER_LINEAR).reshape(-1).astype(np.float64)
            t_in = t[inside]
            # photometric model: moving = f(reference), a gain/offset or, when a material's tone
            # changed, a monotone piecewise-linear tone curve (weighted least squares)
            wt = w_all[inside]
            if np.count_nonzero(wt) < max(30, 0.2 * len(t_in)):
                wt = np.ones(len(t_in))
            t_in = t_in + basis[inside] @ d_edge if bloat else t_in
            tone = _tone_fit(t_in, iw, wt, knots)
            if tone is None:
                return None
            ti, slope, tb = tone
            sdi = slope[:, None] * sd[inside]
            e = iw - ti
            # Huber while far off, then Tukey so that occluded or changed areas drop out
            w = _robust_weights(e, redescending=(lvl < start or it >= 5))
            w_all[:] = 0.0
            w_all[inside] = w
            hess = sdi.T @ (sdi * w[:, None])
            grad = sdi.T @ (w * e)
            # nuisance unknowns bordered onto the 8 x 8 system by hand (a 10-column matmul is
            # many times slower than the 8-column one with this OpenBLAS): on a clipped unit,
            # two edge shifts: a shift of every edge along its gradient, uniform and growing
            # with obliquity (the unit's whites dilated by clipping, or its traces etched
            # thinner); and the tone curve's values at its knots when it is taken (the
            # gain/offset is left out, as it always was: it hardly couples to the geometry).
            # They cannot move the part, so the homography stays unbiased, and its covariance
            # marginalises them.
            parts = ([slope[:, None] * basis[inside]] if bloat else []) + ([] if tb is None else [tb])
            if parts:
                nuis = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
                cross = sdi.T @ (nuis * w[:, None])
                hess = np.block([[hess, cross], [cross.T, nuis.T @ (nuis * w[:, None])]])
                grad = np.r_[grad, nuis.T @ (w * e)]
            n_all = hess.shape[0]
            try:
                dp = np.linalg.solve(hess + 1e-9 * np.trace(hess) * np.eye(n_all), grad)
            except np.linalg.LinAlgError:
                return None
            if bloat:
                d_edge += dp[n_par:n_par + _N_BLOAT]
            dp = dp[:n_par]
            gl = gl @ np.linalg.inv(_step_warp(dp, nmat))
            gl /= gl[2, 2]
            corner_move = _corner_move(dp, lvl_shape)  # level px
            if not np.all(np.isfinite(gl)):
                return None
            if corner_move < 0.005:
                converged = True
                break
        g = _scale_mat(m) @ gl @ _scale_mat(-lvl)
        g /= g[2, 2]
        h_now = np.linalg.inv(g)
        h_now /= h_now[2, 2]
        path[lvl] = h_now
        if lvl > final:
            for j, k in enumerate(known):
                if lvl in k and _corner_diff(h_now, k[lvl], model.shape_hw_) <= _SAME_ALIGNMENT_PX:
                    return _Known(h=h_now, which=j)
        if lvl <= final + _UNCERTAINTY_LEVELS:
            # Gauss-Newton covariance sigma^2 (J^T W J)^-1 propagated to the four corners, in
            # full px. Also taken one level up, where pixel-scale jaggies no longer pin down a
            # direction that the part's shape leaves free (a bar along its length).
            sigma2 = float(np.sum(w * e**2) / max(np.sum(w) - n_all, 1.0))
            try:
                cov = sigma2 * np.linalg.inv(hess)[:n_par, :n_par]
            except np.linalg.LinAlgError:
                cov = np.full((n_par, n_par), np.inf)
            cc = (_extent_corners(model, lvl) - _norm_mat(lvl_shape)[2]) / s
            du, dv = _dwarp_dp(cc[:, 0], cc[:, 1])
            with np.errstate(all="ignore"):
                ju, jv = s * du[:, :n_par], s * dv[:, :n_par]
                var = np.einsum("ij,jk,ik->i", ju, cov, ju) + np.einsum("ij,jk,ik->i", jv, cov, jv)
            # 1 sigma: the RMS error of the worst corner or hull vertex (sqrt of the trace of its 2 x 2 covariance).
            # Measured on DeepPCB warps (scripts/bench_registration.py) the true worst-corner error
            # is about this at the median (neighbouring points' residuals are correlated, so the
            # plain Gauss-Newton sigma^2 (J^T W J)^-1 is not inflated further; it held as is)
            std = 2.0**lvl * math.sqrt(max(float(np.max(var)), 0.0)) if np.all(np.isfinite(var)) else math.inf
            worst_std = max(worst_std, std)
            if lvl == final and np.all(np.isfinite(cov)):
                weak = np.linalg.eigh(cov)[1][:, -1]
        if lvl == final:
            # the edge correlation of a gain/offset model (the correlation coefficient, as
            # before the tone curve: a more flexible photometric model must not lift it)
            rho = float(np.corrcoef(iw, t_in)[0, 1]) if iw.std() > 1e-6 and t_in.std() > 1e-6 else 0.0
            res = _Fine(g=g, rho=rho, corner_std_px=worst_std, converged=converged, n_valid=int(inside.sum()),
                        inlier_frac=float(np.sum(w > 0.25) / max(int(inside.sum()), 1)),
                        inside_frac=float(inside.sum() / len(pts)), weak=weak, final_level=final, path=path)
    return res


def _material_tones(model: RegistrationModel) -> np.ndarray:
    """Gray values (ascending) of the reference's flat areas: the tones of its materials.

    Peaks of the histogram of the coarse reference's flat pixels (gradient < 1 gray / px)
    inside the mask that hold at least ``_TONE_MIN_SHARE`` of them, at least ``_TONE_MIN_SEP``
    gray apart. Cached on the model."""
    tones = getattr(model, "_tones", None)
    if tones is None:
        ref = model.coarse_.astype(np.float32)
        gx = cv2.Sobel(ref, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(ref, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        flat = (np.hypot(gx, gy) < 1.0) & model.coarse_mask_
        n = int(flat.sum())
        keep: list[int] = []
        if n >= 50:
            hist = np.bincount(model.coarse_[flat].ravel(), minlength=256).astype(np.float64)
            sm = cv2.GaussianBlur(hist.reshape(1, -1), (0, 0), 2.0, borderType=cv2.BORDER_REFLECT).ravel()
            peak = (sm >= np.r_[sm[0], sm[:-1]]) & (sm >= np.r_[sm[1:], sm[-1]]) & (sm > 0)
            mass = np.convolve(hist, np.ones(17), "same") / n  # share within +-8 gray
            for i in sorted(np.flatnonzero(peak), key=lambda i: -mass[i]):
                if mass[i] < _TONE_MIN_SHARE:
                    break
                if all(abs(int(i) - k) >= _TONE_MIN_SEP for k in keep):
                    keep.append(int(i))
        tones = np.asarray(sorted(keep), np.float64)
        object.__setattr__(model, "_tones", tones)
    return tones


def _model_cache(model: RegistrationModel, attr: str) -> dict:
    """A per-level cache kept on the (frozen) model under ``attr``: derived at run time, so the
    package format does not change."""
    cache = getattr(model, attr, None)
    if cache is None:
        cache = {}
        object.__setattr__(model, attr, cache)
    return cache


def _level_knots(model: RegistrationModel, lvl: int) -> np.ndarray:
    """:func:`_tone_knots` of level ``lvl``'s reference values, cached on the model."""
    cache = _model_cache(model, "_tone_knots")
    knots = cache.get(lvl)
    if knots is None:
        knots = cache[lvl] = _tone_knots(model.levels_[lvl]["t"].astype(np.float64), _material_tones(model))
    return knots


def _tone_knots(t: np.ndarray, tones: np.ndarray) -> np.ndarray:
    """Knots (gray, ascending) of the tone curve for reference values ``t``: the 1st and 99th
    percentiles of ``t`` and the material tones between them, none closer than
    ``_TONE_MIN_SEP`` to another (two knots: the gain/offset model).

    Knots only at the tones of flat areas (and the ends of the data): between two materials'
    tones the curve is linear, so it follows a change of one material's tone but cannot bend
    within one edge's profile, which would let it mimic an edge's shift (a one-sided edge's
    shift is a translation of the part)."""
    lo, hi = np.percentile(t, [1.0, 99.0])
    keep = [float(lo)]
    for v in tones:
        if v - keep[-1] >= _TONE_MIN_SEP and hi - v >= _TONE_MIN_SEP:
            keep.append(float(v))
    keep.append(max(float(hi), keep[-1] + 1.0))
    return np.asarray(keep, np.float64)


def _hat_fit(t: np.ndarray, iw: np.ndarray, wt: np.ndarray, knots: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Weighted least-squares piecewise-linear ``iw ~ f(t)`` with values at ``knots``: ``f(t)``,
    ``f'(t)``, each value's segment and its place in it (0-1, beyond at the ends), or None
    unless every segment rises."""
    n, k = len(t), len(knots)
    j = np.zeros(n, np.intp)  # segment of each value (the ends extended)
    for kv in knots[1:-1]:
        j += t >= kv
    width = np.diff(knots)
    u = (t - knots[j]) / width[j]
    # normal equations of the hat basis (tridiagonal k x k) by bincount: no n x k matrix
    v = 1.0 - u
    wv, wu = wt * v, wt * u
    gram = np.zeros((k, k))
    ii = np.arange(k - 1)
    gram[ii, ii] += np.bincount(j, wv * v, k - 1)
    gram[ii + 1, ii + 1] += np.bincount(j, wu * u, k - 1)
    off = np.bincount(j, wv * u, k - 1)
    gram[ii, ii + 1] += off
    gram[ii + 1, ii] += off
    rhs = np.zeros(k)
    rhs[:-1] += np.bincount(j, wv * iw, k - 1)
    rhs[1:] += np.bincount(j, wu * iw, k - 1)
    try:
        coef = np.linalg.solve(gram, rhs)
    except np.linalg.LinAlgError:
        return None
    seg = np.diff(coef) / width
    if not (np.all(np.isfinite(coef)) and np.all(seg > 1e-3)):
        return None
    return coef[j] * v + coef[j + 1] * u, seg[j], j, u


def _tone_fit(t: np.ndarray, iw: np.ndarray, wt: np.ndarray, knots: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Weighted least-squares photometric model ``iw ~ f(t)``: a gain/offset, or the
    piecewise-linear tone curve with values at ``knots`` when that explains the edges clearly
    better.

    ``t`` (n,) reference gray, ``iw`` (n,) moving gray, ``wt`` (n,) weights (>= 0). Returns
    ``f(t)`` (n,), its slope ``f'(t)`` (n,) and, for the curve, the derivative of ``f(t)`` by
    its knot values (n, k), the hat basis (None for the gain/offset); None when the gain is not
    positive.

    The curve is taken only when it divides the robust variance of the residuals (the squared
    median absolute residual over all ``n`` points, whatever their weights: the weights come from the incumbent model and
    would favour it) by more than ``_TONE_MIN_GAIN`` (a material's tone changed) and every
    segment rises. Otherwise the gain/offset stands: a curve fitted to edges that do not
    match (a print shifted on its body) flattens their segment and so discounts the
    information they carry, with no better fit to show for it."""
    n, k = len(t), len(knots)
    lin = np.c_[t, np.ones(n)]
    lw = lin.T * wt
    try:
        ga, gb = np.linalg.solve(lw @ lin, lw @ iw)
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(ga) or ga <= 1e-3:
        return None
    f_lin = ga * t + gb
    if k > 2:
        # choose on up to ~3000 points (the curve fitted to them, robust scales as the median
        # |residual|: least-squares residuals are centred); fit all points only if chosen
        sub = slice(None, None, max(1, n // 3000))
        hat = _hat_fit(t[sub], iw[sub], wt[sub], knots)
        if hat is not None:
            mad_lin = float(np.median(np.abs(iw[sub] - f_lin[sub])))
            if mad_lin**2 > _TONE_MIN_GAIN * float(np.median(np.abs(iw[sub] - hat[0]))) ** 2:
                hat = _hat_fit(t, iw, wt, knots) if sub.step > 1 else hat
                if hat is not None:
                    f_tone, slope, j, u = hat
                    tb = np.zeros((n, k))
                    flat, idx = tb.reshape(-1), np.arange(n) * k + j
                    flat[idx] = 1.0 - u
                    flat[idx + 1] = u
                    return f_tone, slope, tb
    return f_lin, np.full(n, ga), None


def _basin_check(model: RegistrationModel, mpyr: list[np.ndarray], h: np.ndarray, fine: _Fine, affine: bool
                 ) -> tuple[Refusal | None, _Fine | None]:
    """(reason or None, settled or None): reason if the alignment is not a well-defined minimum:
    restarted at its finest level ``_BASIN_PX`` px (worst corner) away along its least determined
    direction, either way, the refinement must come back within ``_BASIN_TOL_PX``.

    The Gauss-Newton covariance counts every edge point as information; on binarised or
    jagged edges the pixel staircase of each image "pins" directions that the part's shape
    leaves free (stripes along their length), and the estimate can drift there while its
    predicted uncertainty stays small. A restart tests the cost surface instead of its
    curvature at one point.

    ``settled``: when both restarts end within ``_BASIN_TOL_PX`` of each other, away from the
    alignment and at a higher edge correlation, the refinement had stopped short of its minimum
    (its iterations ran out along a shallow direction, a homography's perspective terms on a round
    product say); the better of the two restarts, for the caller to verify again (its own basin
    included). Restarts that part ways (a part that slides along its stripes) settle nothing."""
    if fine.weak is None:
        return None, None
    shape = model.shape_hw_
    nmat = _norm_mat(shape)[0]
    move = _corner_move(fine.weak, shape)
    if not move > 1e-9:
        return None, None
    ends: list[tuple[_Fine, np.ndarray]] = []
    refusal = None
    for sign in (1.0, -1.0):
        g_p = fine.g @ np.linalg.inv(_step_warp(sign * _BASIN_PX / move * fine.weak, nmat))
        again = _refine(model, mpyr, g_p / g_p[2, 2], affine=affine, start_level=fine.final_level)
        if not isinstance(again, _Fine):  # (no ``known``: never a stop on the way)
            return Refusal(RefusalCode.UNDETERMINED,
                           f"alignment not determined by the content (a restart {_BASIN_PX:.0f} px off diverged)"), None
        h2 = np.linalg.inv(again.g)
        h2 = h2 / h2[2, 2]
        ends.append((again, h2))
        d = _corner_diff(h2, h, shape)
        if d > _BASIN_TOL_PX and refusal is None:
            refusal = Refusal(RefusalCode.UNDETERMINED, (
                f"alignment not determined by the content (a restart {_BASIN_PX:.0f} px off along its least "
                f"determined direction ends {d:.2f} px away; stripes or jagged edges?)"))
    if refusal is None:
        return None, None
    (fa, ha), (fb, hb) = ends
    if _corner_diff(ha, hb, shape) <= _BASIN_TOL_PX and min(fa.rho, fb.rho) > fine.rho:
        return refusal, max((fa, fb), key=lambda f: f.rho)
    return refusal, None


def _saturated(mpyr: list[np.ndarray]) -> bool:
    """Whether the unit image's bright (or dark) side is clipped: most of its pixels at >= 250
    (<= 5) sit exactly at 255 (0), as no sensor noise survives there. Cached on the pyramid."""
    sat = getattr(mpyr, "saturated", None)
    if sat is None:
        hist = cv2.calcHist([mpyr[0]], [0], None, [256], [0, 256]).ravel().astype(np.float64)
        n = hist.sum()
        hi, lo = hist[250:].sum(), hist[:6].sum()
        sat = bool((hi > 0.01 * n and hist[255] > _SAT_SHARE * hi) or (lo > 0.01 * n and hist[0] > _SAT_SHARE * lo))
        if isinstance(mpyr, _Pyramid):
            mpyr.saturated = sat
    return sat


def _coarse_ncc(model: RegistrationModel, mpyr: list[np.ndarray], h: np.ndarray, min_cover: float = 0.5) -> float:
    """Correlation over the mask at the coarse level of the moving image warped by ``h``."""
    k = model.coarse_level_
    ref = model.coarse_
    scale = _h_scale(h, model.shape_hw_)
    m = int(np.clip(round(k - math.log2(scale)), 0, len(mpyr) - 1))
    hk = _scale_mat(-k) @ h @ _scale_mat(m)
    size = (ref.shape[1], ref.shape[0])
    warped = cv2.warpPerspective(mpyr[m], hk, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cover = cv2.warpPerspective(np.full(mpyr[m].shape, 255, np.uint8), hk, size, flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return _masked_correlation(ref, warped, model.coarse_mask_, cover, min_cover)


def _evaluate(model: RegistrationModel, mpyr: list[np.ndarray], h0: np.ndarray, *, affine: bool,
              pairs: np.ndarray | None, start_level: int | None = None, start_only: bool = False,
              known: Sequence[dict[int, np.ndarray]] = ()
              ) -> tuple[np.ndarray | None, _Fine | None, float, Refusal | None]:
    """Refine and verify one coarse candidate: (H, fine, coarse ncc, refusal or None).

    ``start_only``: the homography is only the start of a non-rigid fit, whose own checks
    replace the residual ones (edge inliers, correlation, corner uncertainty) here. ``known``:
    the paths of refinements refused as undetermined (:func:`_refine`); a refinement on its way
    to one of their alignments stops (H, None, -1, a refusal with ``same_as`` its index)."""
    why = _sanity(h0, model.shape_hw_)
    if why:
        return None, None, -1.0, Refusal(RefusalCode.IMPLAUSIBLE_WARP, f"coarse estimate rejected: {why}")
    fine = _refine(model, mpyr, np.linalg.inv(h0), affine=affine, start_level=start_level, known=known)
    if isinstance(fine, _Known):
        return fine.h, None, -1.0, Refusal(RefusalCode.UNDETERMINED, "converges to an alignment refused above as "
                                           "not determined by the content", same_as=fine.which)
    if fine is None:
        return None, None, -1.0, Refusal(RefusalCode.DIVERGED, "fine alignment diverged or left the image")
    return _verify(model, mpyr, fine, affine=affine, pairs=pairs, start_only=start_only, settle=True)


def _inlier_share(model: RegistrationModel, pairs: np.ndarray) -> float:
    """Area of the convex hull of the keypoint inliers' reference points (``pairs[:, :2]``, full
    px) over the area of the hull of the reference's edge points at the coarse level: the share
    of the product's extent that the inliers hold (1 when either hull is degenerate)."""
    lvl = model.coarse_level_
    pts = np.asarray(model.levels_[lvl]["pts"], np.float32).reshape(-1, 2) * 2.0**lvl
    ref = np.asarray(pairs[:, :2], np.float32).reshape(-1, 2)
    if len(pts) < 3 or len(ref) < 3:
        return 1.0
    whole = cv2.contourArea(cv2.convexHull(pts.reshape(-1, 1, 2)))
    part = cv2.contourArea(cv2.convexHull(ref.reshape(-1, 1, 2)))
    return float(part / whole) if whole > 0 else 1.0


def _verify(model: RegistrationModel, mpyr: list[np.ndarray], fine: _Fine, *, affine: bool,
            pairs: np.ndarray | None, start_only: bool, settle: bool
            ) -> tuple[np.ndarray | None, _Fine | None, float, Refusal | None]:
    """Every check of a refined alignment ``fine`` (see :func:`_evaluate`).

    Keypoint inliers that the refinement does not explain refuse it, unless they hold a minor
    part of the product (:data:`_PART_MAX_SHARE` of its extent): that part may have moved on
    the product (a label applied off position, a print off register; a defect for the anomaly
    stage to find at its place, no reason to refuse), and the dense alignment is then judged on
    its own as when no keypoints vouch, its basin included; ``fine.note`` records the
    disagreement. ``settle``: an alignment whose basin restarts agree on a better minimum
    (:func:`_basin_check`) is verified again from there, once."""
    h = np.linalg.inv(fine.g)
    h /= h[2, 2]
    why = _sanity(h, model.shape_hw_)
    if why:
        return h, fine, -1.0, Refusal(RefusalCode.IMPLAUSIBLE_WARP, f"refined homography rejected: {why}")
    zoom = pairs is not None and len(pairs) >= _ZOOM_MIN_INLIERS  # many inliers vouch for a partial view
    ncc = _coarse_ncc(model, mpyr, h, min_cover=_MIN_EDGE_INSIDE_ZOOM if zoom else 0.5)
    if pairs is not None:
        # the refinement must still explain the feature inliers (working-level px)
        d = np.linalg.norm(apply_homography(pairs[:, 2:], h) - pairs[:, :2], axis=1) / 2**model.work_level_
        med, frac = float(np.median(d)), float(np.mean(d < 2 * _FEATURE_THR_PX))
        if med > _FEATURE_THR_PX or frac < 0.5:
            text = (f"refinement disagrees with the feature inliers (median {med:.1f} px, "
                    f"{100 * frac:.0f}% within {2 * _FEATURE_THR_PX:.0f} px)")
            share = _inlier_share(model, pairs)
            if start_only or share > _PART_MAX_SHARE:
                return h, fine, ncc, Refusal(RefusalCode.FEATURES_DISAGREE, text)
            note = f"{text}; they hold {100 * share:.0f}% of the product's extent (that part moved on it?)"
            if zoom:  # no inliers vouch for a partial view any more
                ncc = _coarse_ncc(model, mpyr, h)
            h, fine, ncc, alone = _verify_dense(model, mpyr, h, fine, ncc, affine=affine, zoom=False, vouched=False,
                                                start_only=False, settle=settle)
            if alone is not None:  # nor does the rest pin the alignment down: refused as before, saying both
                return h, fine, ncc, Refusal(RefusalCode.FEATURES_DISAGREE,
                                             f"{note}; the dense alignment, judged alone: {alone.text}")
            fine.note = f"{note}: the dense alignment of the rest stands"
            return h, fine, ncc, None
    return _verify_dense(model, mpyr, h, fine, ncc, affine=affine, zoom=zoom, vouched=pairs is not None,
                         start_only=start_only, settle=settle)


def _verify_dense(model: RegistrationModel, mpyr: list[np.ndarray], h: np.ndarray, fine: _Fine, ncc: float, *,
                  affine: bool, zoom: bool, vouched: bool, start_only: bool, settle: bool
                  ) -> tuple[np.ndarray, _Fine, float, Refusal | None]:
    """The checks of :func:`_verify` after the keypoints': overlap, edge inliers, correlations,
    predicted uncertainty and, unless keypoint inliers vouch for it (``vouched``), the basin."""
    min_inside = _MIN_EDGE_INSIDE_ZOOM if zoom else _MIN_EDGE_INSIDE
    if fine.inside_frac < min_inside:
        return h, fine, ncc, Refusal(RefusalCode.LOW_OVERLAP, (
            f"only {100 * fine.inside_frac:.0f}% of the reference edge points fall inside the unit "
            f"image (< {100 * min_inside:.0f}%)"))
    if start_only:
        if fine.rho < _MIN_RHO_START:
            return h, fine, ncc, Refusal(RefusalCode.LOW_CORRELATION,
                                         f"edge correlation of the rigid start {fine.rho:.2f} < {_MIN_RHO_START}")
        return h, fine, ncc, None
    if fine.inlier_frac < _MIN_EDGE_INLIERS:
        return h, fine, ncc, Refusal(RefusalCode.OCCLUDED, (
            f"only {100 * fine.inlier_frac:.0f}% of the reference edge points are found in the unit "
            f"(< {100 * _MIN_EDGE_INLIERS:.0f}%; occlusion or another part?)"))
    if fine.rho < _MIN_RHO_FINE:
        return h, fine, ncc, Refusal(RefusalCode.LOW_CORRELATION, f"edge correlation {fine.rho:.2f} < {_MIN_RHO_FINE}")
    min_ncc = _MIN_NCC_VOUCHED if zoom else _MIN_NCC_COARSE  # zoom: the inliers agree (checked above)
    if ncc < min_ncc:
        return h, fine, ncc, Refusal(RefusalCode.LOW_CORRELATION,
                                     f"correlation over the mask {ncc:.2f} < {min_ncc}")
    if not fine.corner_std_px <= _MAX_CORNER_STD_PX:
        return h, fine, ncc, Refusal(RefusalCode.UNDETERMINED, (
            f"alignment not determined by the content (predicted uncertainty over the product "
            f"{fine.corner_std_px:.2f} px > {_MAX_CORNER_STD_PX}; symmetric or featureless part?)"),
            std_px=float(fine.corner_std_px))
    if not vouched:  # no feature inliers vouch for it: test the minimum itself
        refusal, settled = _basin_check(model, mpyr, h, fine, affine)
        if refusal and settled is not None and settle:
            h2 = np.linalg.inv(settled.g)
            h2 /= h2[2, 2]
            if _sanity(h2, model.shape_hw_):
                return h, fine, ncc, refusal
            return _verify_dense(model, mpyr, h2, settled, _coarse_ncc(model, mpyr, h2), affine=affine, zoom=False,
                                 vouched=False, start_only=False, settle=False)
        if refusal:
            return h, fine, ncc, refusal
    return h, fine, ncc, None


def _confidence(fine: _Fine, ncc: float, inliers: int) -> float:
    c_rho = np.clip((fine.rho - _MIN_RHO_FINE) / (1 - _MIN_RHO_FINE), 0, 1)
    c_ncc = np.clip((ncc - _MIN_NCC_COARSE) / (1 - _MIN_NCC_COARSE), 0, 1)
    c_std = math.exp(-fine.corner_std_px / _MAX_CORNER_STD_PX)
    return float(np.clip(0.2 + 0.8 * (c_rho * c_ncc) ** 0.5 * c_std, 0, 1))


def _rival(model: RegistrationModel, mpyr: list[np.ndarray], found, pool: np.ndarray | None, n_inl: int,
           affine: bool) -> Refusal | None:
    """Refusal if a second, distinct alignment fits about as well (symmetric/repetitive part)."""
    if pool is None or len(pool) < _MIN_INLIERS:
        return None
    h, fine, _ = found
    scale = 2.0**model.work_level_
    d = np.linalg.norm(apply_homography(pool[:, 2:], h) - pool[:, :2], axis=1) / scale
    rest = pool[d > 4 * _FEATURE_THR_PX]
    if len(rest) < _MIN_INLIERS:
        return None
    rp = (rest[:, :2] / scale).astype(np.float32)
    mp = (rest[:, 2:] / scale).astype(np.float32)
    h2w, inl = cv2.findHomography(mp, rp, cv2.USAC_MAGSAC, _FEATURE_THR_PX, maxIters=2000, confidence=0.99)
    if h2w is None or inl is None or int(inl.sum()) < max(_MIN_INLIERS, 0.3 * n_inl):
        return None
    h2 = _scale_mat(model.work_level_) @ h2w @ _scale_mat(-model.work_level_)
    h2 = h2 / h2[2, 2]
    if _corner_diff(h, h2, model.shape_hw_) / scale < 4 * _FEATURE_THR_PX:
        return None
    sel = inl.ravel() > 0
    pairs = rest[sel]
    hr, fr, _, why = _evaluate(model, mpyr, h2, affine=affine, pairs=pairs)
    if hr is not None and _corner_diff(hr, h, model.shape_hw_) <= 2.0:
        return None  # its refinement came back to the first alignment (its inliers a part that moved): no rival
    if why is None and fr is not None and fr.rho >= fine.rho - _RIVAL_RHO_MARGIN:
        return Refusal(RefusalCode.AMBIGUOUS, (
            f"ambiguous: a second alignment ({int(sel.sum())} inliers, correlation {fr.rho:.3f}) fits about as "
            f"well as the first ({n_inl} inliers, {fine.rho:.3f}); symmetric or repetitive part"))
    return None
