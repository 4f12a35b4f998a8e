"""Non-rigid refinement: a smooth B-spline deformation after the homography, and its checks.

A reference px ``p`` sits at ``H^-1 (p + d(p))`` in the unit, ``d`` a uniform cubic B-spline
(Rueckert et al. 1999, doi:10.1109/42.796284) fitted by robust Gauss-Newton with a
bending-energy penalty; kept only when an F test against the homography alone supports it.
See the package docstring of :mod:`goldenvision.registration` for the measured figures.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .._stats import mad_normal
from ..transform import apply_homography
from ._base import (
    _MIN_EDGE_INLIERS,
    _MIN_EDGE_INSIDE,
    _MIN_NCC_COARSE,
    _MIN_RHO_FINE,
    _NR_CORR,
    _NR_EXTRA_LEVELS,
    _NR_FINEST_LEVEL,
    _NR_KNOTS,
    _NR_MAX_BEND_FRAC,
    _NR_MAX_STD_PX,
    _NR_MAX_STRAIN,
    _NR_MIN_KNOT_PX,
    _NR_SMOOTH,
    _blur,
    _fine_level_data,
    _h_scale,
    _level_shape,
    _mask_pyramid,
    _masked_correlation,
    _norm_mat,
    _Pyramid,
    _pyramid,
    _robust_weights,
    _scale_mat,
)
from .model import RegistrationModel
from .refusal import Refusal, RefusalCode

@dataclass
class _NonRigid:
    coef: np.ndarray  # (2, ny, nx) control-point displacements, reference full px
    knot_px: float  # control-point spacing, reference full px
    rho: float
    inlier_frac: float
    inside_frac: float
    std_px: float  # predicted 1-sigma (RMS) uncertainty of the displacement, worst edge point (full px)
    converged: bool
    f_stat: float = math.inf  # F statistic of the deformation against the homography alone



def _bspline_weights(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uniform cubic B-spline: first control index and the 4 weights at knot coordinates ``u``.

    Control point ``j`` sits at knot coordinate ``j - 1`` (so index 0 is one knot before the
    image's first pixel); returns ``i0`` (N,) int and ``w`` (N, 4) float64."""
    i = np.floor(u)
    t = u - i
    t2, t3 = t * t, t * t * t
    w = np.stack([(1 - t) ** 3, 3 * t3 - 6 * t2 + 4, -3 * t3 + 3 * t2 + 3 * t + 1, t3], axis=1) / 6.0
    return i.astype(np.int64), w



def _nr_grid(shape_hw: tuple[int, int]) -> tuple[float, int, int]:
    """Control-point spacing (full px) and the grid size (ny, nx) for a reference of ``shape_hw``."""
    h, w = shape_hw
    knot = max(max(h, w) / _NR_KNOTS, _NR_MIN_KNOT_PX)
    return knot, int(math.floor((h - 1) / knot)) + 4, int(math.floor((w - 1) / knot)) + 4



def _nr_penalty(ny: int, nx: int) -> np.ndarray:
    """Bending-energy penalty ``R`` (2 ny nx square) on the control grid: the sum of squared
    second differences along x, along y and the mixed one, per displacement component. Its null
    space is the affine fields, so the homography's leftovers cost nothing."""
    from scipy import sparse

    def d2(n: int) -> "sparse.csr_matrix":
        return sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(max(n - 2, 0), n))

    def d1(n: int) -> "sparse.csr_matrix":
        return sparse.diags([-1.0, 1.0], [0, 1], shape=(n - 1, n))

    ix, iy = sparse.identity(nx), sparse.identity(ny)
    ops = [sparse.kron(iy, d2(nx)), sparse.kron(d2(ny), ix), np.sqrt(2.0) * sparse.kron(d1(ny), d1(nx))]
    r = sum((o.T @ o) for o in ops)
    return sparse.kron(sparse.identity(2), r).tocsc()



def _nr_design(pts_full: np.ndarray, knot: float, ny: int, nx: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices (N, 16) into the flattened (ny, nx) grid and the weights (N, 16) of each point."""
    ix, wx = _bspline_weights(pts_full[:, 0] / knot)
    iy, wy = _bspline_weights(pts_full[:, 1] / knot)
    ix = np.clip(ix, 0, nx - 4)
    iy = np.clip(iy, 0, ny - 4)
    off = np.arange(4)
    cols = ((iy[:, None, None] + off[None, :, None]) * nx + (ix[:, None, None] + off[None, None, :])).reshape(-1, 16)
    wts = (wy[:, :, None] * wx[:, None, :]).reshape(-1, 16)
    return cols, wts



def _nr_field(coef: np.ndarray, knot: float, shape_hw: tuple[int, int]) -> np.ndarray:
    """The dense (H, W, 2) float32 displacement field of the spline (separable evaluation)."""
    h, w = shape_hw
    ny, nx = coef.shape[1:]

    def basis(n_px: int, n_ctrl: int) -> np.ndarray:
        i0, wt = _bspline_weights(np.arange(n_px, dtype=np.float64) / knot)
        i0 = np.clip(i0, 0, n_ctrl - 4)
        b = np.zeros((n_px, n_ctrl))
        for j in range(4):
            b[np.arange(n_px), i0 + j] = wt[:, j]
        return b

    by, bx = basis(h, ny), basis(w, nx)
    return np.stack([by @ coef[c] @ bx.T for c in range(2)], axis=-1).astype(np.float32)



def _refine_nonrigid(model: RegistrationModel, mpyr: list[np.ndarray], g: np.ndarray,
                     ref_gray: np.ndarray | None = None) -> _NonRigid | None:
    """Smooth deformation after the homography (reference full px -> moving full px ``g``).

    Model: the reference point ``p`` sits at ``g(p + d(p))`` in the unit, ``d`` a uniform cubic
    B-spline (Rueckert et al. 1999, doi:10.1109/42.796284) with ``_NR_KNOTS`` control intervals
    along the longest side, fitted by robust Gauss-Newton (forward additive, the reference
    gradient standing in for the warped unit's) on the reference edge points of each pyramid
    level from the coarse one down to the unit's resolution, with the same gain/offset model and
    Huber-then-Tukey weights as the rigid refinement and a bending-energy penalty. The coarse
    levels (0.8 px blur of a level of 2^k px) see only structure that is stable across units:
    panel edges and seams, not the grain; the spline's support (many stitches wide) cannot
    lock onto a neighbouring stitch.
    """
    from scipy import sparse
    from scipy.sparse.linalg import MatrixRankWarning, spsolve

    knot, ny, nx = _nr_grid(model.shape_hw_)
    n_c = ny * nx
    coef = np.zeros((2, ny, nx))
    pen = _nr_penalty(ny, nx)
    mblur: dict[int, np.ndarray] = mpyr.blurred if isinstance(mpyr, _Pyramid) else {}
    start = model.coarse_level_
    scale0 = _h_scale(np.linalg.inv(g), model.shape_hw_)
    final = int(np.clip(math.ceil(math.log2(scale0) - 0.5), 0, start))
    final = max(final, _NR_FINEST_LEVEL) if start >= _NR_FINEST_LEVEL else final
    out: _NonRigid | None = None
    levels = dict(enumerate(model.levels_))
    mlist = list(mpyr)
    if ref_gray is not None:
        rpyr = _pyramid(ref_gray, start + 1 + _NR_EXTRA_LEVELS)
        rmask = _mask_pyramid(model.coarse_mask_ if model.has_mask_ else None, rpyr[start:])
        for j in range(1, _NR_EXTRA_LEVELS + 1):
            lv = rpyr[start + j]
            if min(lv.shape) < 24:
                break
            levels[start + j] = _fine_level_data(lv, rmask[j], 3000, seed=start + j)
        while len(mlist) < len(mpyr) + _NR_EXTRA_LEVELS and min(mlist[-1].shape) >= 48:
            mlist.append(cv2.pyrDown(mlist[-1]))
        start = max(levels)
    for lvl in range(start, final - 1, -1):
        data = levels[lvl]
        pts = data["pts"].astype(np.float64)
        if len(pts) < 50:
            return None
        t = data["t"].astype(np.float64)
        lvl_shape = _level_shape(model.shape_hw_, lvl)
        _, s, _ = _norm_mat(lvl_shape)
        gxy = data["sd"][:, [2, 5]].astype(np.float64) / s  # reference gradient, gray / level px
        f = 2.0**lvl
        pfull = pts * f  # pyrDown keeps level px x at full px 2^k x
        cols, wts = _nr_design(pfull, knot, ny, nx)
        scale = _h_scale(np.linalg.inv(g), model.shape_hw_)
        m = int(np.clip(round(lvl - math.log2(scale)), 0, len(mlist) - 1))
        img = mblur.get(m) if m < len(mpyr) else None
        if img is None:
            img = _blur(mlist[m])
            if m < len(mpyr):
                mblur[m] = img
        gl = _scale_mat(-m) @ g @ _scale_mat(lvl)
        # Jacobian d(residual)/d(coef) per unit gain: gradient (x, y) times the spline weights,
        # coefficients in full px and the level's px 2^lvl full px
        rows = np.repeat(np.arange(len(pts)), 32)
        jcols = np.concatenate([cols, cols + n_c], axis=1).ravel()
        jvals = np.concatenate([gxy[:, :1] * wts, gxy[:, 1:] * wts], axis=1).ravel() / f
        jac = sparse.csr_matrix((jvals, (rows, jcols)), shape=(len(pts), 2 * n_c))
        w_all = np.ones(len(pts))
        converged = False
        max_it = 12 if lvl == start else 3  # finer levels: 3 steps (6 took 0.53 s and landed no closer: seam max 0.343 vs 0.309 px)
        for it in range(max_it):
            d = np.stack([np.sum(coef[0].ravel()[cols] * wts, 1), np.sum(coef[1].ravel()[cols] * wts, 1)], 1) / f
            q = apply_homography(pts + d, gl)
            inside = (q[:, 0] >= 0) & (q[:, 0] <= img.shape[1] - 1) & (q[:, 1] >= 0) & (q[:, 1] <= img.shape[0] - 1)
            if inside.sum() < max(50, 0.2 * len(pts)):
                return None
            iw = cv2.remap(img, q[inside].astype(np.float32).reshape(-1, 1, 2), None,
                           cv2.INTER_LINEAR).reshape(-1).astype(np.float64)
            t_in = t[inside]
            use = w_all[inside] > 0
            if use.sum() < max(30, 0.2 * len(t_in)):
                use = np.ones(len(t_in), bool)
            sw = np.sqrt(w_all[inside][use])
            (ga, gb), *_ = np.linalg.lstsq(np.c_[t_in[use], np.ones(int(use.sum()))] * sw[:, None], iw[use] * sw,
                                           rcond=None)
            if not np.isfinite(ga) or ga <= 1e-3:
                return None
            ti = ga * t_in + gb
            e = iw - ti
            w = _robust_weights(e, redescending=(lvl < start or it >= 4))
            w_all[:] = 0.0
            w_all[inside] = w
            ji = jac[np.flatnonzero(inside)] * ga
            hess = (ji.T @ ji.multiply(w[:, None])).tocsc()  # banded: each spline weight touches 4 x 4 controls
            grad = ji.T @ (w * e)
            dg = hess.diagonal()
            lam = _NR_SMOOTH * float(dg.sum()) / hess.shape[0]
            cvec = coef.reshape(-1)
            # control points that (almost) no edge point sees are held at the rest by a ridge,
            # so the field does not swing in plain areas where only the bending energy speaks
            ridge = np.where(dg < 0.002 * np.mean(dg), 0.01 * np.mean(dg), 1e-6 * np.mean(dg))
            a = (hess + lam * pen + sparse.diags(ridge)).tocsc()
            # sparse solve: ~100x cheaper than a dense one and single-threaded (a dense BLAS
            # solve's thread pool stalls on a busy station PC)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MatrixRankWarning)  # singular: a NaN step, refused below
                step = spsolve(a, -grad - lam * (pen @ cvec))
            if not np.all(np.isfinite(step)):
                return None
            coef = (cvec + step).reshape(2, ny, nx)
            if float(np.max(np.abs(step))) < 0.01 * f:
                converged = True
                break
        if lvl == final:
            rho = float(np.corrcoef(iw, ti)[0, 1]) if iw.std() > 1e-6 and ti.std() > 1e-6 else 0.0
            # predicted uncertainty of the displacement at the edge points: sigma^2 (J^T W J + lam R)^-1
            sigma2 = float(np.sum(w * e**2) / max(np.sum(w) - 2 * n_c, 1.0))
            a_inv: np.ndarray | None
            cov: np.ndarray | None
            try:
                a_inv = np.linalg.inv(a.toarray())
                cov = sigma2 * a_inv
            except np.linalg.LinAlgError:
                a_inv = cov = None
            std = math.inf
            if cov is not None:
                sub = np.flatnonzero(inside)[:: max(1, int(inside.sum()) // 400)]
                b = sparse.csr_matrix((np.tile(wts[sub], 2).ravel(), (np.repeat(np.arange(2 * len(sub)), 16),
                                       np.concatenate([cols[sub], cols[sub] + n_c]).ravel())),
                                      shape=(2 * len(sub), 2 * n_c))
                var = np.einsum("ij,ij->i", b @ cov, b.toarray())
                var = var[: len(sub)] + var[len(sub):]
                # 1 sigma (RMS displacement error at the worst edge point), as the rigid corner figure
                std = math.sqrt(max(float(np.max(var)), 0.0)) if np.all(np.isfinite(var)) else math.inf
            f_stat = _nr_f_test(pts, t, gl, img, inside, e, hess, a_inv)
            out = _NonRigid(coef=coef, knot_px=knot, rho=rho,
                            inlier_frac=float(np.sum(w > 0.25) / max(int(inside.sum()), 1)),
                            inside_frac=float(inside.sum() / len(pts)), std_px=std, converged=converged,
                            f_stat=f_stat)
    return out



def _nr_f_test(pts: np.ndarray, t: np.ndarray, gl: np.ndarray, img: np.ndarray, inside: np.ndarray,
               e: np.ndarray, hess: Any, a_inv: np.ndarray | None) -> float:
    """F test of the deformation against the homography alone on the final level's edge points.

    Residuals of both models (each with its own gain/offset) on the points inside the unit
    under both, a truncated quadratic (Tukey-like, at 4.685 robust sigma of the deformed fit)
    against outliers, ``_NR_CORR`` points per independent residual, and the effective number of
    spline parameters ``tr(J^T W J (J^T W J + lam R + ridge)^-1)`` (Hastie & Tibshirani 1990,
    Generalized Additive Models, ch. 3.5). Returns F (inf when the test cannot be made)."""
    q0 = apply_homography(pts, gl)
    in0 = (q0[:, 0] >= 0) & (q0[:, 0] <= img.shape[1] - 1) & (q0[:, 1] >= 0) & (q0[:, 1] <= img.shape[0] - 1)
    both = in0[inside]
    idx = np.flatnonzero(inside)[both]
    if both.sum() < 50:
        return math.inf
    iw0 = cv2.remap(img, q0[idx].astype(np.float32).reshape(-1, 1, 2), None,
                    cv2.INTER_LINEAR).reshape(-1).astype(np.float64)
    t0 = t[idx]
    (ga, gb), *_ = np.linalg.lstsq(np.c_[t0, np.ones(len(t0))], iw0, rcond=None)
    e0 = iw0 - (ga * t0 + gb)
    e1 = e[both]
    c2 = (4.685 * float(mad_normal(e1)) + 1e-9) ** 2
    s0 = float(np.sum(np.minimum(e0**2, c2)))
    s1 = float(np.sum(np.minimum(e1**2, c2)))
    if a_inv is None:
        return math.inf
    df = float(np.sum(a_inv * hess.T.toarray()))  # tr(A^-1 H) without the product
    n_eff = len(idx) / _NR_CORR
    if n_eff <= df + 1 or s1 <= 0:
        return math.inf
    return float(max(s0 - s1, 0.0) / df / (s1 / (n_eff - df)))



def _nonrigid_check(model: RegistrationModel, mpyr: list[np.ndarray], h: np.ndarray, nr: _NonRigid
                    ) -> tuple[np.ndarray, float, Refusal | None]:
    """Dense field, coarse correlation with it, and the refusal of the deformation or None."""
    field = _nr_field(nr.coef, nr.knot_px, model.shape_hw_)
    hh, ww = model.shape_hw_
    # size and smoothness of the deformation beyond its affine part, over the mask's area
    k = model.work_level_
    wm = model.work_mask_
    small = field[:: 2**k, :: 2**k][: wm.shape[0], : wm.shape[1]]
    # judged where edge points pin the field down (near them: within a quarter control spacing)
    sel: np.ndarray = np.zeros(small.shape[:2], bool)
    ep = np.round(model.levels_[min(k, len(model.levels_) - 1)]["pts"] * 2.0 ** min(k, len(model.levels_) - 1)
                  / 2.0**k).astype(int)
    ep = ep[(ep[:, 0] >= 0) & (ep[:, 0] < sel.shape[1]) & (ep[:, 1] >= 0) & (ep[:, 1] < sel.shape[0])]
    sel[ep[:, 1], ep[:, 0]] = True
    rad = max(1, int(nr.knot_px / 4 / 2.0**k))
    sel = cv2.dilate(sel.astype(np.uint8), np.ones((2 * rad + 1, 2 * rad + 1), np.uint8)) > 0
    sel &= wm[: small.shape[0], : small.shape[1]]
    ys, xs = np.nonzero(sel)
    ncc = _coarse_ncc_field(model, mpyr, h, field)
    if ys.size < 10:
        return field, ncc, Refusal(RefusalCode.LOW_OVERLAP, "deformation: no mask area")
    dv = small[ys, xs].astype(np.float64)
    a = np.c_[xs * 2.0**k, ys * 2.0**k, np.ones(ys.size)]
    coef, *_ = np.linalg.lstsq(a, dv, rcond=None)
    bend = float(np.max(np.linalg.norm(dv - a @ coef, axis=1)))
    gy_x, gx_x = np.gradient(field[..., 0])
    gy_y, gx_y = np.gradient(field[..., 1])
    strain = np.sqrt(gx_x**2 + gy_x**2 + gx_y**2 + gy_y**2)[:: 2**k, :: 2**k][: sel.shape[0], : sel.shape[1]]
    max_strain = float(np.max(strain[sel]))
    if nr.inside_frac < _MIN_EDGE_INSIDE:
        return field, ncc, Refusal(RefusalCode.LOW_OVERLAP, (
            f"only {100 * nr.inside_frac:.0f}% of the reference edge points fall inside the unit image "
            f"after the deformation (< {100 * _MIN_EDGE_INSIDE:.0f}%)"))
    if nr.inlier_frac < _MIN_EDGE_INLIERS:
        return field, ncc, Refusal(RefusalCode.OCCLUDED, (
            f"only {100 * nr.inlier_frac:.0f}% of the reference edge points are found in the unit after "
            f"the deformation (< {100 * _MIN_EDGE_INLIERS:.0f}%; occlusion or another part?)"))
    if nr.rho < _MIN_RHO_FINE:
        return field, ncc, Refusal(RefusalCode.LOW_CORRELATION,
                                   f"edge correlation after the deformation {nr.rho:.2f} < {_MIN_RHO_FINE}")
    if ncc < _MIN_NCC_COARSE:
        return field, ncc, Refusal(RefusalCode.LOW_CORRELATION,
                                   f"correlation over the mask after the deformation {ncc:.2f} < {_MIN_NCC_COARSE}")
    if bend > _NR_MAX_BEND_FRAC * max(hh, ww):
        return field, ncc, Refusal(RefusalCode.DEFORMATION_TOO_LARGE, (
            f"deformation too large: {bend:.1f} px beyond an affine map "
            f"(> {_NR_MAX_BEND_FRAC * max(hh, ww):.1f} px)"))
    if max_strain > _NR_MAX_STRAIN:
        return field, ncc, Refusal(RefusalCode.DEFORMATION_TOO_LARGE,
                                   f"deformation too strong: strain {max_strain:.3f} > {_NR_MAX_STRAIN}")
    if not nr.std_px <= _NR_MAX_STD_PX:
        return field, ncc, Refusal(RefusalCode.UNDETERMINED, (
            f"deformation not determined by the content (predicted uncertainty {nr.std_px:.2f} px "
            f"> {_NR_MAX_STD_PX})"))
    return field, ncc, None



def _coarse_ncc_field(model: RegistrationModel, mpyr: list[np.ndarray], h: np.ndarray, field: np.ndarray) -> float:
    """Correlation over the mask at the coarse level of the moving image warped by ``h`` and ``field``."""
    k = model.coarse_level_
    ref = model.coarse_
    scale = _h_scale(h, model.shape_hw_)
    m = int(np.clip(round(k - math.log2(scale)), 0, len(mpyr) - 1))
    f = 2.0**k
    ys, xs = np.mgrid[0 : ref.shape[0], 0 : ref.shape[1]].astype(np.float64)
    fy = np.clip((ys * f).astype(int), 0, field.shape[0] - 1)
    fx = np.clip((xs * f).astype(int), 0, field.shape[1] - 1)
    d = field[fy, fx].astype(np.float64)
    p = np.stack([xs * f + d[..., 0], ys * f + d[..., 1]], -1).reshape(-1, 2)
    q = apply_homography(p, np.linalg.inv(h)) / 2.0**m
    mx = q[:, 0].reshape(ref.shape).astype(np.float32)
    my = q[:, 1].reshape(ref.shape).astype(np.float32)
    warped = cv2.remap(mpyr[m], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    hm, wm = mpyr[m].shape
    cover = (mx >= 0) & (mx <= wm - 1) & (my >= 0) & (my <= hm - 1)
    return _masked_correlation(ref, warped, model.coarse_mask_, cover)
