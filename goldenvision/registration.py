"""Registration: align a unit (moving) image onto the golden (reference) frame, or refuse.

Pipeline of :func:`register` (``method="auto"`` / ``"homography"`` / ``"affine"``):

1. **Coarse**: ORB keypoints (Rublee et al. 2011, doi:10.1109/ICCV.2011.6126544) on the
   working level of an image pyramid (longest side <= ``max_side_px``), Hamming 2-NN
   matching with Lowe's ratio test (Lowe 2004, doi:10.1023/B:VISI.0000029664.99615.94) and a
   robust homography by MAGSAC++ (``cv2.USAC_MAGSAC``; Barath et al. 2020,
   doi:10.1109/CVPR42600.2020.00138). If that does not verify, SIFT keypoints are tried, then
   a **Fourier-Mellin** estimate (rotation and scale from the log-polar phase correlation of
   the high-passed magnitude spectra, then the shift by phase correlation; Reddy & Chatterji
   1996, doi:10.1109/83.506761) for low-texture and repetitive parts.
2. **Fine**: inverse-compositional Gauss-Newton alignment (Baker & Matthews 2004,
   doi:10.1023/B:VISI.0000011205.11775.fd) of the homography on a coarse-to-fine pyramid, on
   the reference's high-gradient pixels, with a per-iteration gain/offset fit (so the
   criterion is the correlation coefficient, as in ECC: Evangelidis & Psarakis 2008,
   doi:10.1109/TPAMI.2008.113) and Huber weights against occlusion. When the unit image is
   clipped (most of its pixels at >= 250 sit exactly at 255, or at <= 5 exactly at 0), two
   more nuisance unknowns join the Gauss-Newton step: a uniform shift of every edge along its
   gradient (a blurred step brightened and then clipped has its mid-level moved towards the
   dark side; traces etched thinner do the same) and its growth with the edge's obliquity to
   the unit's pixel grid (a diagonal edge is sampled wider, so it moves sqrt 2 as far); they
   cannot move the part, and the corner covariance marginalises them. The reference side
   (points, steepest-descent images, keypoints, descriptors, spectra) is precomputed once by
   :meth:`RegistrationModel.fit` and stored in the sealed golden package.
3. **Verification** (a wrong homography is never reported ``ok``): the correlation of the
   warped moving image with the reference on the edge points of the finest level and over
   the whole mask at a coarse level; the share of the reference edge points that fall inside
   the unit image (>= 40 %) and of those that the unit reproduces (>= 50 %; a part cut by the
   frame border is not an occluded one); sanity of the homography (orientation, scale range
   0.4-2.5, anisotropy, perspective terms); agreement of the coarse estimate and the
   refinement; and the alignment's own uncertainty: the Gauss-Newton covariance
   ``sigma^2 (J^T J)^-1`` propagated to the four reference corners. A part with a continuous
   symmetry (a disc, a straight bar) leaves a direction of ``J^T J`` unconstrained and is
   refused rather than aligned at random. A second, distinct hypothesis that fits about as
   well (a symmetric or repetitive part: MAGSAC again on the first and second nearest
   neighbours left over by the first model; for Fourier-Mellin, the 180-degree twin) is also
   refused. ``RegistrationResult.rms_px`` carries that predicted corner uncertainty.

Clipping (measured with ``scripts/bench_registration.py``): on DeepPCB boards brightened x1-1.3
so the whites clip, the gain/offset model alone gave p99 1.0 px and a 1.35 px result reported
ok; with the edge-shift unknowns p99 0.17 px, max 0.21 px. On a part whose dark areas have
edges on one side only, clipping still leaves up to ~0.7 px (against 0.2-0.6 px unclipped), or
a refusal. A clipped-linear photometric model (unit = blur(min(255, a R + b)) from stored 5 x 5
reference neighbourhoods) was tried and dropped: it cannot see a gain hidden by a golden that
is itself saturated, and on a soft golden it did worse than the edge shift.
4. **Non-rigid** (``method="nonrigid"``): the homography found as above (with only the
   sanity, feature-agreement, coverage and a loose correlation >= ``_MIN_RHO_START`` check:
   a bent unit does not fit a homography) is the start of a smooth deformation ``d``: a
   reference px ``p`` sits at ``H^-1 (p + d(p))`` in the unit. ``d`` is a uniform cubic
   B-spline (Rueckert et al. 1999, doi:10.1109/42.796284), ``_NR_KNOTS`` control intervals
   along the longest side, fitted by the same robust Gauss-Newton (gain/offset, Huber then
   Tukey) on the reference edge points from one level below the stored coarse level (where a
   3.5 mm stitch pitch is below Nyquist and only edges and seam lines remain) down to the
   unit's resolution, with a bending-energy penalty (zero on affine fields) and a ridge on
   control points no edge point sees. Model selection: the deformation is kept only when it
   lowers the robust edge residual of the finest level by a clear margin, an F statistic
   (residual decrease per effective spline parameter over the residual variance, ``_NR_CORR``
   edge points per independent residual) above ``_NR_F_MIN``; otherwise the field is zero and
   the homography alone stands (with the rigid checks' figures). Measured with
   ``scripts/bench_nonrigid.py`` (10 units, 1.8 mm bends): F 210-440 on bent units, 6-49 on
   flat ones, where the spline had made the seam worse (p95 0.27, max 0.65 px against the
   homography's 0.16, 0.21 px). The p-value of that F is no guide (1e-5 and below on flat
   units: residuals of rendered or photographed units are not independent noise), so the
   threshold is set between the two measured groups. Verification after the deformation: edge correlation
   >= 0.6, edge inliers and coverage, correlation over the mask with the deformation, the
   deformation's size beyond an affine map (<= ``_NR_MAX_BEND_FRAC`` of the longest side)
   and strain (|grad d| <= ``_NR_MAX_STRAIN``) near the edge points, and the predicted
   displacement uncertainty (3 sigma of ``(J^T W J + lam R)^-1`` at the edge points <=
   ``_NR_MAX_STD_PX``, reported as ``rms_px``). ``d`` is kept in ``RegistrationResult.flow``
   (see :mod:`goldenvision.transform`). Measured with ``scripts/bench_nonrigid.py``: a free
   DIS optical flow (the previous design) locked onto neighbouring stitches and followed each
   unit's grain (seam median 0.7 px on flat units, 1.1 px on bent ones).

Coordinates are ``(x, y)`` px with pixel centres at integers; the homography maps moving
(unit) px to reference (golden) px.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .errors import ImageError, SpecError
from .results import RegistrationResult
from .transform import apply_homography, map_points_to_moving, map_points_to_reference

__all__ = [
    "RegistrationModel",
    "register",
    "warp_to_reference",
    "map_points_to_moving",
    "map_points_to_reference",
    "corner_error_px",
    "METHODS",
]

METHODS = ("auto", "homography", "affine", "nonrigid", "none")

_STATE_VERSION = 1
_LEVEL_KEYS = ("pts", "t", "sd")
#: Smallest side of the coarsest fine-alignment level (px).
_COARSE_MIN_SIDE = 96
#: Longest side of the coarsest fine-alignment level we start from (px).
_COARSE_START_SIDE = 200
_N_POINTS = 12000
_ORB_FEATURES = 2000  # reference (once, at sealing)
_ORB_FEATURES_UNIT = 1200  # per unit: brute-force Hamming matching costs O(N_ref x N_unit)
_SIFT_FEATURES = 2000
_RATIO = 0.85
_MIN_INLIERS = 15
_MIN_RHO_FINE = 0.6  # correlation on the finest level's edge points (0.75 refused a demo unit whose panel was 1.8 mm narrow)
_MIN_EDGE_INLIERS = 0.5  # share of the reference edge points inside the unit image that must fit (robust weights)
_MIN_EDGE_INSIDE = 0.4  # share of the reference edge points that must fall inside the unit image (the frame border is no evidence against an alignment)
_MIN_NCC_COARSE = 0.55  # dense correlation over the mask, coarse level
_MAX_CORNER_STD_PX = 0.6  # predicted corner error (about 3 sigma), reference px
_FEATURE_THR_PX = 3.0  # MAGSAC threshold and consistency scale, working-level px
_SCALE_RANGE = (0.4, 2.5)
_MAX_ANISOTROPY = 2.5
_MAX_PERSPECTIVE = 0.6  # max |1 - w| over the reference corners (w = homogeneous scale)
_FM_SIZE = 256
_T_BLUR = 0.8  # Gaussian sigma (level px) applied to both images before the fine alignment
_UNCERTAINTY_LEVELS = 1  # corner uncertainty = worst over pyramid levels 0.._UNCERTAINTY_LEVELS
_FM_RADIUS = 0.25  # of the spectrum size: log-polar band up to half Nyquist
_BASIN_PX = 2.0  # restart offset (worst corner, px) of the Fourier-Mellin path's basin check
_BASIN_TOL_PX = 0.5  # how close (worst corner, px) the restarts must come back
_FM_SEARCH_STEP = 1.06  # scale grid ratio of the Fourier-Mellin fallback's scale search
_FM_SEARCH_TOP = 4  # candidates of that search (per group of rotations) that are refined and verified
_FM_ROT_PEAKS = 5  # log-polar correlation peaks whose rotations the scale search also tries
_N_BLOAT = 2  # edge-shift unknowns fitted on a clipped unit image (uniform, obliquity-dependent)
_SAT_SHARE = 0.8  # share of the >= 250 (<= 5) pixels exactly at 255 (0) that means "clipped"
_NR_KNOTS = 12  # non-rigid: B-spline control intervals along the reference's longest side (8: seam ends 0.55 px off under an S-bend)
_NR_MIN_KNOT_PX = 60.0  # non-rigid: smallest control spacing, reference px (a spline finer than this follows texture, not bends)
_NR_SMOOTH = 0.001  # non-rigid: bending-energy weight, relative to the mean diagonal of J^T W J
_NR_EXTRA_LEVELS = 1  # non-rigid: pyramid levels fitted below the stored coarse level
_NR_FINEST_LEVEL = 0  # non-rigid: finest pyramid level fitted
_NR_MAX_BEND_FRAC = 0.03  # non-rigid: largest displacement beyond an affine map, of the longest side
_NR_MAX_STRAIN = 0.3  # non-rigid: largest |grad d| (Frobenius) of the displacement field
_NR_MAX_STD_PX = 0.6  # non-rigid: predicted displacement uncertainty (about 3 sigma) at the edge points, px
_NR_CORR = 9.0  # non-rigid: edge points per independent residual (blur, interpolation) in the model-selection test
_NR_F_MIN = 100.0  # non-rigid: the deformation is kept only when its F statistic against the homography alone exceeds this
_MIN_RHO_START = 0.3  # non-rigid: edge correlation the rigid start must reach before the deformation is fitted


# ----------------------------------------------------------------------------- input checks
def _as_gray(image: Any, name: str) -> np.ndarray:
    """Validate an image and return it as (H, W) uint8 gray."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{name}: expected a numpy array (H, W, 3) or (H, W) uint8, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ImageError(f"{name}: expected dtype uint8, got {image.dtype} with shape {image.shape}")
    if image.ndim == 3 and image.shape[2] == 3:
        gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    elif image.ndim == 2:
        gray = np.ascontiguousarray(image)
    else:
        raise ImageError(f"{name}: expected shape (H, W, 3) RGB or (H, W) gray, got {image.shape}")
    if min(gray.shape) < 32:
        raise ImageError(f"{name}: expected at least 32 x 32 px, got {gray.shape}")
    return gray


def _as_mask(mask: Any, shape_hw: tuple[int, int]) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != tuple(shape_hw):
        raise ImageError(f"mask: expected shape {tuple(shape_hw)} (the reference's H, W), got {m.shape}")
    if m.dtype != np.bool_:
        raise ImageError(f"mask: expected dtype bool, got {m.dtype}")
    return m


class _Pyramid(list):
    """Levels of a Gaussian pyramid, with a cache of their blurred copies for the fine alignment."""

    def __init__(self, levels: list[np.ndarray]):
        super().__init__(levels)
        self.blurred: dict[int, np.ndarray] = {}
        self.saturated: bool | None = None


def _pyramid(gray: np.ndarray, n_levels: int) -> _Pyramid:
    """Gaussian pyramid; level k pixel (x, y) sits at (2^k x, 2^k y) of level 0 (cv2.pyrDown)."""
    pyr = [gray]
    for _ in range(n_levels - 1):
        pyr.append(cv2.pyrDown(pyr[-1]))
    return _Pyramid(pyr)


def _n_levels_for(shape_hw: tuple[int, int], min_side: int = _COARSE_MIN_SIDE) -> int:
    n, s = 1, min(shape_hw)
    while s // 2 >= min_side:
        s //= 2
        n += 1
    return n


def _level_for_side(shape_hw: tuple[int, int], max_side: int) -> int:
    k, s = 0, max(shape_hw)
    while s > max_side:
        s = (s + 1) // 2
        k += 1
    return k


def _scale_mat(k: float) -> np.ndarray:
    f = 2.0**k
    return np.diag([f, f, 1.0])


def _corners(shape_hw: tuple[int, int]) -> np.ndarray:
    h, w = shape_hw
    return np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)


def corner_error_px(h_est: np.ndarray, h_true: np.ndarray, shape_hw: tuple[int, int]) -> float:
    """Largest distance (px) between the four corners of a ``shape_hw`` image mapped by two homographies."""
    c = _corners(shape_hw)
    return float(np.linalg.norm(apply_homography(c, h_est) - apply_homography(c, h_true), axis=1).max())


# ----------------------------------------------------------------------------- fine alignment data
def _dwarp_dp(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d(u', v')/dp of W(u; p) = [[1+p0, p1, p2], [p3, 1+p4, p5], [p6, p7, 1]] at p = 0."""
    z = np.zeros_like(u)
    o = np.ones_like(u)
    du = np.stack([u, v, o, z, z, z, -u * u, -u * v], axis=1)
    dv = np.stack([z, z, z, u, v, o, -u * v, -v * v], axis=1)
    return du, dv


def _step_warp(dp: np.ndarray, nmat: np.ndarray) -> np.ndarray:
    """The level-px warp ``N^-1 W(p) N`` of a parameter step ``dp`` (6 or 8 values, normalised
    coordinates ``N``; see :func:`_dwarp_dp`)."""
    p = np.zeros(8)
    p[: len(dp)] = dp
    wd = np.array([[1 + p[0], p[1], p[2]], [p[3], 1 + p[4], p[5]], [p[6], p[7], 1.0]])
    return np.linalg.inv(nmat) @ wd @ nmat


def _corner_move(dp: np.ndarray, shape_hw: tuple[int, int]) -> float:
    """Largest displacement (px of ``shape_hw``) of the image corners by a parameter step ``dp``."""
    _, s, c0 = _norm_mat(shape_hw)
    cn = (_corners(shape_hw) - c0) / s
    cu, cv_ = _dwarp_dp(cn[:, 0], cn[:, 1])
    n = len(dp)
    return s * float(np.max(np.hypot(cu[:, :n] @ dp, cv_[:, :n] @ dp)))


def _norm_mat(shape_hw: tuple[int, int]) -> tuple[np.ndarray, float, np.ndarray]:
    h, w = shape_hw
    s = 0.5 * max(h, w)
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    n = np.array([[1 / s, 0, -c[0] / s], [0, 1 / s, -c[1] / s], [0, 0, 1]])
    return n, s, c


def _kernels(sigma: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """5 x 5 Gaussian (sigma ``_T_BLUR``) and its x / y derivative kernels, flattened row-major.

    ``patch @ k`` is the blurred value at the patch centre and ``patch @ kx`` its x derivative
    (per px), for a (N, 25) array of 5 x 5 neighbourhoods; also returns the 1-D Gaussian.
    """
    sigma = _T_BLUR if sigma is None else sigma
    x = np.arange(-2, 3, dtype=np.float64)
    g1 = np.exp(-0.5 * (x / sigma) ** 2)
    g1 /= g1.sum()
    k = np.outer(g1, g1)
    dx = np.broadcast_to(x[None, :], (5, 5))
    dy = np.broadcast_to(x[:, None], (5, 5))
    kx = dx * k / sigma**2
    kx /= np.sum(kx * dx)  # exact on a linear ramp
    ky = dy * k / sigma**2
    ky /= np.sum(ky * dy)
    return k.ravel(), kx.ravel(), ky.ravel(), g1


def _blur(img: np.ndarray) -> np.ndarray:
    """The moving image blurred with the same 5-tap Gaussian as the reference values."""
    g1 = _kernels()[3].astype(np.float32)
    return cv2.sepFilter2D(img, cv2.CV_32F, g1, g1, borderType=cv2.BORDER_REFLECT)


def _fine_level_data(img: np.ndarray, mask: np.ndarray | None, n_points: int, seed: int) -> dict[str, np.ndarray]:
    """High-gradient points of one reference level and what the fine alignment needs of them.

    ``pts`` (N, 2) float32 level px; ``t`` (N,) float32 blurred values (5 x 5 Gaussian of
    sigma ``_T_BLUR``); ``sd`` (N, 8) float32 steepest-descent rows (gradient . dW/dp).
    """
    k, kx, ky, g1 = _kernels()
    f = cv2.sepFilter2D(img.astype(np.float32), cv2.CV_32F, g1.astype(np.float32), g1.astype(np.float32),
                        borderType=cv2.BORDER_REFLECT)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    mag = np.hypot(gx, gy)
    valid = np.ones(img.shape, bool)
    valid[:2, :] = valid[-2:, :] = valid[:, :2] = valid[:, -2:] = False
    if mask is not None:
        valid &= mask
    vals = mag[valid]
    if vals.size == 0:
        ys = xs = np.zeros(0, int)
    else:
        thr = max(2.0, float(np.percentile(vals, 75)))
        ys, xs = np.nonzero(valid & (mag > thr))
        if ys.size > n_points:
            # keep the strongest half, the rest drawn at random for spatial spread
            order = np.argsort(-mag[ys, xs])
            kk = n_points // 2
            rest = np.random.default_rng(seed).choice(order[kk:], n_points - kk, replace=False)
            keep = np.concatenate([order[:kk], rest])
            ys, xs = ys[keep], xs[keep]
    padded = cv2.copyMakeBorder(img, 2, 2, 2, 2, cv2.BORDER_REFLECT)
    oy, ox = np.mgrid[0:5, 0:5]
    patch = padded[ys[:, None] + oy.ravel()[None, :], xs[:, None] + ox.ravel()[None, :]]
    pf = patch.astype(np.float64)
    nmat, s, c = _norm_mat(img.shape)
    u = (xs - c[0]) / s
    v = (ys - c[1]) / s
    du, dv = _dwarp_dp(u.astype(np.float64), v.astype(np.float64))
    ju, jv = s * du, s * dv
    sd = (pf @ kx)[:, None] * ju + (pf @ ky)[:, None] * jv
    return {
        "pts": np.stack([xs, ys], axis=1).astype(np.float32),
        "t": (pf @ k).astype(np.float32),
        "sd": sd.astype(np.float32),
    }


_K, _KX, _KY, _G1 = _kernels()



def _masked_structure(gray: np.ndarray, mask: np.ndarray | None) -> float:
    """Std of the gray values inside the mask (0-255 units)."""
    return float(gray[mask].std()) if mask is not None and mask.any() else float(gray.std())


# ----------------------------------------------------------------------------- the model
@dataclass
class RegistrationModel:
    """Golden-side precomputation for :func:`register` (stored in the sealed package).

    Build it with :meth:`fit`; attributes that ``fit`` learns end in ``_``.

    Attributes
    ----------
    shape_hw_ : tuple of int
        (H, W) of the reference in px.
    work_level_ : int
        Pyramid level of the keypoints (longest side <= ``max_side_px``).
    levels_ : list of dict
        Per fine-alignment level (index = pyramid level): ``pts`` (N, 2) float32 level px,
        ``t`` (N,) float32 gray values, ``sd`` (N, 8) float32 steepest-descent rows.
    orb_ / sift_ : dict
        Keypoints ``pts`` (N, 2) float32 working-level px and ``desc`` descriptors.
    coarse_ : ndarray, (h, w) uint8
        The reference at the coarse verification level (``coarse_level_``).
    coarse_mask_ : ndarray, (h, w) bool
    fm_ : dict
        Fourier-Mellin data at ``coarse_level_``.
    gray_std_ : float
        Std of the reference gray values inside the mask (0-255).
    """

    shape_hw_: tuple[int, int]
    work_level_: int
    coarse_level_: int
    levels_: list[dict[str, np.ndarray]]
    orb_: dict[str, np.ndarray]
    sift_: dict[str, np.ndarray]
    coarse_: np.ndarray
    coarse_mask_: np.ndarray
    work_mask_: np.ndarray
    gray_std_: float
    has_mask_: bool

    @classmethod
    def fit(cls, reference_rgb: np.ndarray, *, mask: np.ndarray | None = None, max_side_px: int = 800) -> "RegistrationModel":
        """Precompute the reference side of the registration.

        Parameters
        ----------
        reference_rgb : ndarray, (H, W, 3) uint8 RGB or (H, W) uint8 gray
            The golden reference image (defines golden px).
        mask : ndarray, (H, W) bool, optional
            Where keypoints and correlation count (golden px); e.g. the product area, so the
            static fiducials and colour chart of a light box do not drive the alignment.
        max_side_px : int
            Longest side (px) of the pyramid level on which keypoints are taken.
        """
        gray = _as_gray(reference_rgb, "reference")
        mask = _as_mask(mask, gray.shape)
        if not isinstance(max_side_px, int) or max_side_px < 64:
            raise SpecError(f"max_side_px: expected an int >= 64, got {max_side_px!r}")
        n_lv = _n_levels_for(gray.shape)
        work = min(_level_for_side(gray.shape, max_side_px), n_lv - 1)
        coarse = min(max(_level_for_side(gray.shape, _COARSE_START_SIDE), 0), n_lv - 1)
        pyr = _pyramid(gray, max(n_lv, coarse + 1))
        masks = _mask_pyramid(mask, pyr)
        levels = [
            _fine_level_data(pyr[k], masks[k], _N_POINTS if k == 0 else max(3000, _N_POINTS >> k), seed=k)
            for k in range(coarse + 1)
        ]
        wmask = masks[work]
        orb = _detect(pyr[work], wmask, "orb")
        sift = _detect(pyr[work], wmask, "sift")
        return cls(
            shape_hw_=(int(gray.shape[0]), int(gray.shape[1])),
            work_level_=int(work),
            coarse_level_=int(coarse),
            levels_=levels,
            orb_=orb,
            sift_=sift,
            coarse_=pyr[coarse].copy(),
            coarse_mask_=(np.ones(pyr[coarse].shape, bool) if masks[coarse] is None else masks[coarse]),
            work_mask_=(np.ones(pyr[work].shape, bool) if wmask is None else wmask),
            gray_std_=_masked_structure(gray, mask),
            has_mask_=mask is not None,
        )

    def to_state(self) -> dict[str, Any]:
        """State for the golden package: ndarrays and JSON-able values only."""
        st: dict[str, Any] = {
            "version": _STATE_VERSION,
            "shape_hw": list(self.shape_hw_),
            "work_level": self.work_level_,
            "coarse_level": self.coarse_level_,
            "n_levels": len(self.levels_),
            "coarse": self.coarse_,
            "coarse_mask": self.coarse_mask_,
            "work_mask": self.work_mask_,
            "gray_std": float(self.gray_std_),
            "has_mask": bool(self.has_mask_),
        }
        for k, lv in enumerate(self.levels_):
            for key, arr in lv.items():
                st[f"level{k}_{key}"] = arr
        for name, d in (("orb", self.orb_), ("sift", self.sift_)):
            for key, arr in d.items():
                st[f"{name}_{key}"] = arr
        return st

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "RegistrationModel":
        """Rebuild a model from :meth:`to_state` output."""
        try:
            if int(state["version"]) != _STATE_VERSION:
                raise SpecError(f"registration state: expected version {_STATE_VERSION}, got {state['version']!r}")
            n = int(state["n_levels"])
            levels = [{key: np.asarray(state[f"level{k}_{key}"]) for key in _LEVEL_KEYS} for k in range(n)]
            return cls(
                shape_hw_=(int(state["shape_hw"][0]), int(state["shape_hw"][1])),
                work_level_=int(state["work_level"]),
                coarse_level_=int(state["coarse_level"]),
                levels_=levels,
                orb_={k: np.asarray(state[f"orb_{k}"]) for k in ("pts", "desc")},
                sift_={k: np.asarray(state[f"sift_{k}"]) for k in ("pts", "desc")},
                coarse_=np.asarray(state["coarse"], dtype=np.uint8),
                coarse_mask_=np.asarray(state["coarse_mask"], dtype=bool),
                work_mask_=np.asarray(state["work_mask"], dtype=bool),
                gray_std_=float(state["gray_std"]),
                has_mask_=bool(state["has_mask"]),
            )
        except KeyError as exc:
            raise SpecError(f"registration state: missing key {exc.args[0]!r}") from None


def _mask_pyramid(mask: np.ndarray | None, pyr: list[np.ndarray]) -> list[np.ndarray | None]:
    if mask is None:
        return [None] * len(pyr)
    out: list[np.ndarray | None] = []
    m = mask.astype(np.uint8) * 255
    for k, img in enumerate(pyr):
        if k > 0:
            m = cv2.pyrDown(m)
            m = cv2.resize(m, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST) if m.shape != img.shape else m
        out.append(m > 127)
    return out


# ----------------------------------------------------------------------------- keypoints
def _detect(img: np.ndarray, mask: np.ndarray | None, kind: str, n_orb: int = _ORB_FEATURES) -> dict[str, np.ndarray]:
    m = None if mask is None else (mask.astype(np.uint8) * 255)
    if kind == "orb":
        det = cv2.ORB_create(nfeatures=n_orb, fastThreshold=10, scaleFactor=1.2, nlevels=8)
    else:
        det = cv2.SIFT_create(nfeatures=_SIFT_FEATURES)
    kps, desc = det.detectAndCompute(img, m)
    if desc is None or len(kps) == 0:
        dt = np.uint8 if kind == "orb" else np.float32
        return {"pts": np.zeros((0, 2), np.float32), "desc": np.zeros((0, 32 if kind == "orb" else 128), dt)}
    return {"pts": np.array([k.pt for k in kps], np.float32), "desc": desc}


def _match(ref: dict[str, np.ndarray], mov: dict[str, np.ndarray], kind: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ratio-test matches (ref pts, mov pts) and the pool of all first and second neighbours.

    All arrays are (N, 2) float32 working-level px. The pool feeds the ambiguity test: a
    symmetric or repetitive part shows a second consistent set among the second neighbours.
    """
    empty = np.zeros((0, 2), np.float32)
    if len(ref["desc"]) < 2 or len(mov["desc"]) < 2:
        return empty, empty, empty, empty
    norm = cv2.NORM_HAMMING if kind == "orb" else cv2.NORM_L2
    knn = cv2.BFMatcher(norm).knnMatch(mov["desc"], ref["desc"], k=2)
    knn = [m for m in knn if len(m) == 2]
    if not knn:
        return empty, empty, empty, empty
    pairs = [(m[0].trainIdx, m[0].queryIdx) for m in knn if m[0].distance < _RATIO * m[1].distance]
    pool = [(mm.trainIdx, mm.queryIdx) for m in knn for mm in m if mm.distance <= 1.25 * m[0].distance]
    pi, pm = np.array(pool).T
    if not pairs:
        return empty, empty, ref["pts"][pi], mov["pts"][pm]
    ri, mi = np.array(pairs).T
    return ref["pts"][ri], mov["pts"][mi], ref["pts"][pi], mov["pts"][pm]


# ----------------------------------------------------------------------------- homography checks
def _sanity(h: np.ndarray, shape_hw: tuple[int, int]) -> str | None:
    """Reason why a moving->reference homography is implausible, or None."""
    if not np.all(np.isfinite(h)) or abs(h[2, 2]) < 1e-12:
        return "homography is not finite"
    h = h / h[2, 2]
    c = _corners(shape_hw)
    try:
        hi = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return "homography is singular"
    # homogeneous scale of the reference corners relative to the centre (perspective strength)
    ctr = np.array([(shape_hw[1] - 1) / 2, (shape_hw[0] - 1) / 2, 1.0])
    wc = float(hi[2] @ ctr)
    if abs(wc) < 1e-12:
        return "homography maps the reference centre to infinity"
    wi = (np.c_[c, np.ones(4)] @ hi[2]) / wc
    if np.any(wi <= 0) or np.max(np.abs(wi - 1)) > _MAX_PERSPECTIVE:
        return f"homography perspective terms too strong (corner w in [{wi.min():.2f}, {wi.max():.2f}])"
    # local Jacobian of H^-1 (reference -> moving) at the reference centre
    e = 0.5
    q = apply_homography(np.array([ctr[:2], ctr[:2] + [e, 0], ctr[:2] + [0, e]]), hi)
    a = np.c_[(q[1] - q[0]) / e, (q[2] - q[0]) / e]
    det = np.linalg.det(a)
    if det <= 0:
        return "homography flips the image (negative determinant)"
    sv = np.linalg.svd(a, compute_uv=False)
    scale = 1.0 / math.sqrt(det)  # moving -> reference length factor
    if not _SCALE_RANGE[0] <= scale <= _SCALE_RANGE[1]:
        return f"scale {scale:.2f} outside [{_SCALE_RANGE[0]}, {_SCALE_RANGE[1]}]"
    if sv[0] / sv[1] > _MAX_ANISOTROPY:
        return f"homography too anisotropic (condition {sv[0] / sv[1]:.2f} > {_MAX_ANISOTROPY})"
    return None


def _h_scale(h: np.ndarray, shape_hw: tuple[int, int]) -> float:
    """Length factor moving -> reference at the reference centre."""
    hi = np.linalg.inv(h)
    c = np.array([[(shape_hw[1] - 1) / 2, (shape_hw[0] - 1) / 2]])
    e = 0.5
    p = apply_homography(np.vstack([c, c + [e, 0], c + [0, e]]), hi)
    j = np.c_[(p[1] - p[0]) / e, (p[2] - p[0]) / e]
    return 1.0 / math.sqrt(max(abs(np.linalg.det(j)), 1e-12))


# ----------------------------------------------------------------------------- fine alignment
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


def _robust_weights(e: np.ndarray, redescending: bool) -> np.ndarray:
    """IRLS weights: Huber (k = 1.345) or Tukey's biweight (c = 4.685), scale by the MAD."""
    mad = float(np.median(np.abs(e - np.median(e)))) * 1.4826 + 1e-3
    if redescending:
        a = e / (4.685 * mad)
        return np.where(np.abs(a) < 1, (1 - a * a) ** 2, 0.0)
    a = np.abs(e) / (1.345 * mad)
    return np.where(a <= 1, 1.0, 1.0 / np.maximum(a, 1e-12))


def _refine(model: RegistrationModel, mpyr: list[np.ndarray], g0: np.ndarray, *, affine: bool,
            start_level: int | None = None) -> _Fine | None:
    """Coarse-to-fine inverse-compositional alignment; None if it diverges or lacks data."""
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
        for it in range(max_it):
            q = apply_homography(pts, gl)
            inside = (q[:, 0] >= 0) & (q[:, 0] <= img.shape[1] - 1) & (q[:, 1] >= 0) & (q[:, 1] <= img.shape[0] - 1)
            if inside.sum() < max(50, 0.2 * len(pts)):
                return None
            qf = q[inside].astype(np.float32).reshape(-1, 1, 2)
            iw = cv2.remap(img, qf, None, cv2.INTER_LINEAR).reshape(-1).astype(np.float64)
            t_in = t[inside]
            # photometric model: moving = a * reference + b (weighted least squares)
            use = w_all[inside] > 0
            if use.sum() < max(30, 0.2 * len(t_in)):
                use = np.ones(len(t_in), bool)
            sw = np.sqrt(w_all[inside][use])
            t_in = t_in + basis[inside] @ d_edge if bloat else t_in
            a_mat = np.c_[t_in[use], np.ones(int(use.sum()))] * sw[:, None]
            (ga, gb), *_ = np.linalg.lstsq(a_mat, iw[use] * sw, rcond=None)
            if not np.isfinite(ga) or ga <= 1e-3:
                return None
            ti = ga * t_in + gb
            sdi = ga * sd[inside]
            e = iw - ti
            # Huber while far off, then Tukey so that occluded or changed areas drop out
            w = _robust_weights(e, redescending=(lvl < start or it >= 5))
            w_all[:] = 0.0
            w_all[inside] = w
            hess = sdi.T @ (sdi * w[:, None])
            grad = sdi.T @ (w * e)
            if bloat:
                # two more unknowns: a shift of every edge along its gradient, uniform and
                # growing with obliquity (the unit's whites dilated by clipping, or its traces
                # etched thinner); they cannot move the part, so the homography stays unbiased
                # and its covariance marginalises them. (Bordered by hand: a 10-column matmul
                # is many times slower than the 8-column one with this OpenBLAS.)
                jd = ga * basis[inside]
                cross = sdi.T @ (jd * w[:, None])
                hess = np.block([[hess, cross], [cross.T, jd.T @ (jd * w[:, None])]])
                grad = np.r_[grad, jd.T @ (w * e)]
            n_all = hess.shape[0]
            try:
                dp = np.linalg.solve(hess + 1e-9 * np.trace(hess) * np.eye(n_all), grad)
            except np.linalg.LinAlgError:
                return None
            if bloat:
                d_edge += dp[n_par:]
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
        if lvl <= final + _UNCERTAINTY_LEVELS:
            # Gauss-Newton covariance sigma^2 (J^T W J)^-1 propagated to the four corners, in
            # full px. Also taken one level up, where pixel-scale jaggies no longer pin down a
            # direction that the part's shape leaves free (a bar along its length).
            sigma2 = float(np.sum(w * e**2) / max(np.sum(w) - n_all, 1.0))
            try:
                cov = sigma2 * np.linalg.inv(hess)[:n_par, :n_par]
            except np.linalg.LinAlgError:
                cov = np.full((n_par, n_par), np.inf)
            cc = (_corners(lvl_shape) - _norm_mat(lvl_shape)[2]) / s
            du, dv = _dwarp_dp(cc[:, 0], cc[:, 1])
            with np.errstate(all="ignore"):
                var = [np.trace((s * np.vstack([du[i, :n_par], dv[i, :n_par]])) @ cov
                                @ (s * np.vstack([du[i, :n_par], dv[i, :n_par]])).T) for i in range(4)]
            # neighbouring points' residuals are correlated (blur, interpolation): inflate by 3
            std = 3.0 * 2.0**lvl * math.sqrt(max(max(var), 0.0)) if np.all(np.isfinite(var)) else math.inf
            worst_std = max(worst_std, std)
            if lvl == final and np.all(np.isfinite(cov)):
                weak = np.linalg.eigh(cov)[1][:, -1]
        if lvl == final:
            rho = float(np.corrcoef(iw, ti)[0, 1]) if iw.std() > 1e-6 and ti.std() > 1e-6 else 0.0
            res = _Fine(g=g, rho=rho, corner_std_px=worst_std, converged=converged, n_valid=int(inside.sum()),
                        inlier_frac=float(np.sum(w > 0.25) / max(int(inside.sum()), 1)),
                        inside_frac=float(inside.sum() / len(pts)), weak=weak, final_level=final)
    return res


def _basin_check(model: RegistrationModel, mpyr: list[np.ndarray], h: np.ndarray, fine: _Fine, affine: bool
                 ) -> str | None:
    """Reason if the alignment is not a well-defined minimum: restarted at its finest level
    ``_BASIN_PX`` px (worst corner) away along its least determined direction, either way, the
    refinement must come back within ``_BASIN_TOL_PX``.

    The Gauss-Newton covariance counts every edge point as information; on binarised or
    jagged edges the pixel staircase of each image "pins" directions that the part's shape
    leaves free (stripes along their length), and the estimate can drift there while its
    predicted uncertainty stays small. A restart tests the cost surface instead of its
    curvature at one point."""
    if fine.weak is None:
        return None
    shape = model.shape_hw_
    nmat = _norm_mat(shape)[0]
    move = _corner_move(fine.weak, shape)
    if not move > 1e-9:
        return None
    for sign in (1.0, -1.0):
        g_p = fine.g @ np.linalg.inv(_step_warp(sign * _BASIN_PX / move * fine.weak, nmat))
        again = _refine(model, mpyr, g_p / g_p[2, 2], affine=affine, start_level=fine.final_level)
        if again is None:
            return f"alignment not determined by the content (a restart {_BASIN_PX:.0f} px off diverged)"
        h2 = np.linalg.inv(again.g)
        d = _corner_diff(h2 / h2[2, 2], h, shape)
        if d > _BASIN_TOL_PX:
            return (f"alignment not determined by the content (a restart {_BASIN_PX:.0f} px off along its least "
                    f"determined direction ends {d:.2f} px away; stripes or jagged edges?)")
    return None


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


def _level_shape(shape_hw: tuple[int, int], k: int) -> tuple[int, int]:
    h, w = shape_hw
    for _ in range(k):
        h, w = (h + 1) // 2, (w + 1) // 2
    return h, w


def _masked_correlation(ref: np.ndarray, warped: np.ndarray, mask: np.ndarray, cover: np.ndarray) -> float:
    """Pearson correlation of reference and warped unit over ``mask & cover``.

    -1 when the unit covers less than half of the mask (or under 100 px), 0 for a flat image.
    """
    sel = mask & cover
    if sel.sum() < 0.5 * mask.sum() or sel.sum() < 100:
        return -1.0
    a = ref[sel].astype(np.float64)
    b = warped[sel].astype(np.float64)
    if a.std() < 1e-6 or b.std() < 1e-6:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _coarse_ncc(model: RegistrationModel, mpyr: list[np.ndarray], h: np.ndarray) -> float:
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
    return _masked_correlation(ref, warped, model.coarse_mask_, cover)


# ----------------------------------------------------------------------------- coarse estimators
def _features_candidate(model: RegistrationModel, mpyr: list[np.ndarray], kind: str, affine: bool
                        ) -> tuple[np.ndarray | None, int, str, np.ndarray | None, np.ndarray | None]:
    """Feature homography (moving full px -> reference full px), inlier count, note, inlier pairs, pool.

    The inlier pairs and the pool are ``(N, 4)`` float64: reference x, y and moving x, y in full px.
    """
    wl = min(_level_for_side(mpyr[0].shape, max(model.work_mask_.shape)), len(mpyr) - 1)
    ref = model.orb_ if kind == "orb" else model.sift_
    mov = _detect(mpyr[wl], None, kind, n_orb=_ORB_FEATURES_UNIT)
    rp, mp, pool_r, pool_m = _match(ref, mov, kind)
    pool = np.c_[pool_r * 2.0**model.work_level_, pool_m * 2.0**wl].astype(np.float64)
    if len(rp) < _MIN_INLIERS:
        return None, 0, f"{kind}: {len(rp)} matches", None, pool
    thr = _FEATURE_THR_PX
    hw = None
    inl = None
    if not affine:
        hw, inl = cv2.findHomography(mp, rp, cv2.USAC_MAGSAC, thr, maxIters=5000, confidence=0.999)
        if hw is not None and _sanity(_scale_mat(model.work_level_) @ hw @ _scale_mat(-wl), model.shape_hw_):
            hw = None  # implausible perspective from a local cluster: start from an affine fit
    if hw is None:
        a, inl = cv2.estimateAffine2D(mp, rp, method=cv2.USAC_MAGSAC, ransacReprojThreshold=thr,
                                      maxIters=5000, confidence=0.999)
        hw = None if a is None else np.vstack([a, [0, 0, 1]])
    if hw is None or inl is None:
        return None, 0, f"{kind}: no robust fit from {len(rp)} matches", None, pool
    sel = inl.ravel() > 0
    n_in = int(sel.sum())
    if n_in < _MIN_INLIERS:
        return None, n_in, f"{kind}: {n_in} inliers", None, pool
    # inliers must spread over the part, not sit in one spot
    pin = rp[sel]
    spread = float(np.sqrt(max(np.linalg.eigvalsh(np.cov(pin.T)).min(), 0.0)))
    if spread < 0.03 * max(model.work_mask_.shape):
        return None, n_in, f"{kind}: inliers clustered (spread {spread:.1f} px)", None, pool
    h = _scale_mat(model.work_level_) @ hw @ _scale_mat(-wl)
    pairs = np.c_[rp[sel] * 2.0**model.work_level_, mp[sel] * 2.0**wl].astype(np.float64)
    return h / h[2, 2], n_in, f"{kind}: {n_in}/{len(rp)} inliers", pairs, pool


def _highpass_logpolar(img: np.ndarray) -> np.ndarray:
    """Log-polar map of the high-passed, centred magnitude spectrum (Reddy & Chatterji 1996)."""
    p = _FM_SIZE
    f = np.zeros((p, p), np.float32)
    h, w = img.shape
    sc = p / max(h, w)
    small = cv2.resize(img, (max(1, round(w * sc)), max(1, round(h * sc))), interpolation=cv2.INTER_AREA).astype(np.float32)
    small -= small.mean()
    win = cv2.createHanningWindow((small.shape[1], small.shape[0]), cv2.CV_32F)
    f[: small.shape[0], : small.shape[1]] = small * win
    mag = np.abs(np.fft.fftshift(np.fft.fft2(f))).astype(np.float32)
    yy, xx = np.meshgrid(np.linspace(-0.5, 0.5, p, endpoint=False), np.linspace(-0.5, 0.5, p, endpoint=False), indexing="ij")
    cc = np.cos(np.pi * yy) * np.cos(np.pi * xx)
    mag = np.log1p(mag) * ((1.0 - cc) * (2.0 - cc)).astype(np.float32)
    # band up to half Nyquist: the highest frequencies carry the pixel grid's own axes
    return cv2.warpPolar(mag, (p, p), (p / 2, p / 2), _FM_RADIUS * p, cv2.WARP_POLAR_LOG | cv2.INTER_LINEAR)


def _fm_inputs(model: RegistrationModel, mpyr: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(reference at the coarse level with the outside of the mask at its mean, moving level, k, m)."""
    k = model.coarse_level_
    ref = model.coarse_.astype(np.float32)
    refm = np.where(model.coarse_mask_, ref, ref[model.coarse_mask_].mean() if model.coarse_mask_.any() else 0)
    m = min(k, len(mpyr) - 1)
    return refm.astype(np.float32), mpyr[m].astype(np.float32), k, m


@functools.lru_cache(maxsize=8)
def _hanning(h: int, w: int) -> np.ndarray:
    """(h, w) float64 Hanning window (cached: the scale search correlates ~60 times per unit)."""
    win = cv2.createHanningWindow((w, h), cv2.CV_64F)
    win.flags.writeable = False
    return win


def _similarity_phase(refm: np.ndarray, mov: np.ndarray, k: int, m: int, angle_deg: float, s_level: float
                      ) -> tuple[float, np.ndarray]:
    """Rotate/scale the moving level about its centre onto the reference's, then phase-correlate
    for the shift: (peak response, moving full px -> reference full px homography)."""
    th = math.radians(angle_deg)
    rs = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]]) * s_level
    cref = np.array([(refm.shape[1] - 1) / 2, (refm.shape[0] - 1) / 2])
    cm = np.array([(mov.shape[1] - 1) / 2, (mov.shape[0] - 1) / 2])
    hs = np.eye(3)
    hs[:2, :2] = rs
    hs[:2, 2] = cref - rs @ cm
    warped = cv2.warpPerspective(mov, hs, (refm.shape[1], refm.shape[0]), borderValue=float(mov.mean()))
    (sx, sy), resp = cv2.phaseCorrelate(refm.astype(np.float64), warped.astype(np.float64), _hanning(*refm.shape))
    t = np.eye(3)
    t[:2, 2] = [-sx, -sy]
    h = _scale_mat(k) @ (t @ hs) @ _scale_mat(-m)
    return float(resp), h / h[2, 2]


def _fm_candidates(model: RegistrationModel, mpyr: list[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
    """Similarity candidates (moving full px -> reference full px) by Fourier-Mellin + phase
    correlation, and rotations (degrees) for the scale search: the two the candidates use, then
    those of the next log-polar correlation peaks."""
    refm, mov, k, m = _fm_inputs(model, mpyr)
    lp_r = _highpass_logpolar(refm)
    lp_m = _highpass_logpolar(mov)
    (dx, dy), _ = cv2.phaseCorrelate(lp_r.astype(np.float64), lp_m.astype(np.float64))
    p = _FM_SIZE
    klog = p / math.log(_FM_RADIUS * p)
    # spectra: rotation of the image rotates the spectrum; scaling by s shrinks it by 1/s
    rscale_ref = p / max(refm.shape)
    rscale_mov = p / max(mov.shape)
    s_mov_to_ref = math.exp(dx / klog) * (rscale_mov / rscale_ref)  # in coarse-level px
    ang = 360.0 * dy / p
    # the spectrum's rotation is the image's rotation (sign: warpPolar's angle runs clockwise
    # in image axes); the magnitude spectrum is 180-degree periodic, so both are tried
    angles = [-ang, -ang + 180.0]
    hs = [_similarity_phase(refm, mov, k, m, a, s_mov_to_ref)[1] for a in angles]
    # further rotations: the next peaks of the log-polar correlation (on binarised or partly
    # visible parts the highest peak is often the pixel grid's or a wrong one)
    for dy_k in _correlation_peaks(lp_r, lp_m, _FM_ROT_PEAKS):
        a = -360.0 * dy_k / p
        for b in (a, a + 180.0):
            if all(abs((b - c + 180.0) % 360.0 - 180.0) > 2.0 for c in angles):
                angles.append(b)
    return hs, angles


def _correlation_peaks(a: np.ndarray, b: np.ndarray, n: int) -> list[int]:
    """Row shifts (signed, px) of the ``n`` highest local maxima of the phase correlation of
    ``b`` against ``a`` (same convention as ``cv2.phaseCorrelate``: ``b(x) = a(x - d)`` peaks at d)."""
    from scipy import ndimage

    fa = np.fft.fft2(a.astype(np.float64))
    fb = np.fft.fft2(b.astype(np.float64))
    r = fb * np.conj(fa)
    r /= np.abs(r) + 1e-12
    c = np.real(np.fft.ifft2(r))
    loc = c == ndimage.maximum_filter(c, size=5, mode="wrap")
    ys, xs = np.nonzero(loc)
    order = np.argsort(-c[ys, xs])
    p = c.shape[0]
    out: list[int] = []
    for j in order:
        dy = int(ys[j]) - p if ys[j] > p / 2 else int(ys[j])
        if all(abs(dy - q) > 1 for q in out):
            out.append(dy)
        if len(out) == n:
            break
    return out


def _scale_search_candidates(model: RegistrationModel, mpyr: list[np.ndarray], angles: list[float],
                             top: int = _FM_SEARCH_TOP) -> list[np.ndarray]:
    """Candidates for the Fourier-Mellin rotations over a log-spaced scale grid (``_SCALE_RANGE``,
    ratio ``_FM_SEARCH_STEP``), best phase-correlation peaks first.

    Fourier-Mellin's scale comes from the whole spectrum and goes wrong when the unit shows only
    part of the reference (a zoomed or shifted view); its rotation survives that far better. The
    shift's phase-correlation peak is sharp only at about the right scale, so its height ranks
    the grid (about 60 small phase correlations at the coarse level, ~25 ms); the best
    ``3 top`` are re-ranked by the correlation over the mask at the coarse level."""
    refm, mov, k, m = _fm_inputs(model, mpyr)
    lo, hi = _SCALE_RANGE
    n = int(math.ceil(math.log(hi / lo) / math.log(_FM_SEARCH_STEP)))
    level = 2.0**m / 2.0**k
    found = [_similarity_phase(refm, mov, k, m, a, lo * _FM_SEARCH_STEP**i * level) for a in angles for i in range(n + 1)]
    found.sort(key=lambda c: -c[0])
    # the peak height is a noisy ranking: re-rank the best few by the correlation over the mask
    shortlist = [(_coarse_ncc(model, mpyr, h), resp, h) for resp, h in found[: 3 * top]]
    shortlist.sort(key=lambda c: (-c[0], -c[1]))
    return [h for _, _, h in shortlist[:top]]


# ----------------------------------------------------------------------------- evaluation
def _corner_diff(h1: np.ndarray, h2: np.ndarray, shape_hw: tuple[int, int]) -> float:
    return corner_error_px(h1, h2, shape_hw)


def _evaluate(model: RegistrationModel, mpyr: list[np.ndarray], h0: np.ndarray, *, affine: bool,
              pairs: np.ndarray | None, start_level: int | None = None, start_only: bool = False
              ) -> tuple[np.ndarray | None, _Fine | None, float, str | None]:
    """Refine and verify one coarse candidate: (H, fine, coarse ncc, reason or None).

    ``start_only``: the homography is only the start of a non-rigid fit, whose own checks
    replace the residual ones (edge inliers, correlation, corner uncertainty) here."""
    why = _sanity(h0, model.shape_hw_)
    if why:
        return None, None, -1.0, f"coarse estimate rejected: {why}"
    fine = _refine(model, mpyr, np.linalg.inv(h0), affine=affine, start_level=start_level)
    if fine is None:
        return None, None, -1.0, "fine alignment diverged or left the image"
    h = np.linalg.inv(fine.g)
    h /= h[2, 2]
    why = _sanity(h, model.shape_hw_)
    if why:
        return h, fine, -1.0, f"refined homography rejected: {why}"
    ncc = _coarse_ncc(model, mpyr, h)
    if pairs is not None:
        # the refinement must still explain the feature inliers (working-level px)
        d = np.linalg.norm(apply_homography(pairs[:, 2:], h) - pairs[:, :2], axis=1) / 2**model.work_level_
        med, frac = float(np.median(d)), float(np.mean(d < 2 * _FEATURE_THR_PX))
        if med > _FEATURE_THR_PX or frac < 0.5:
            return h, fine, ncc, (f"refinement disagrees with the feature inliers (median {med:.1f} px, "
                                  f"{100 * frac:.0f}% within {2 * _FEATURE_THR_PX:.0f} px)")
    if fine.inside_frac < _MIN_EDGE_INSIDE:
        return h, fine, ncc, (f"only {100 * fine.inside_frac:.0f}% of the reference edge points fall inside the unit "
                              f"image (< {100 * _MIN_EDGE_INSIDE:.0f}%)")
    if start_only:
        if fine.rho < _MIN_RHO_START:
            return h, fine, ncc, f"edge correlation of the rigid start {fine.rho:.2f} < {_MIN_RHO_START}"
        return h, fine, ncc, None
    if fine.inlier_frac < _MIN_EDGE_INLIERS:
        return h, fine, ncc, (f"only {100 * fine.inlier_frac:.0f}% of the reference edge points are found in the unit "
                              f"(< {100 * _MIN_EDGE_INLIERS:.0f}%; occlusion or another part?)")
    if fine.rho < _MIN_RHO_FINE:
        return h, fine, ncc, f"edge correlation {fine.rho:.2f} < {_MIN_RHO_FINE}"
    if ncc < _MIN_NCC_COARSE:
        return h, fine, ncc, f"correlation over the mask {ncc:.2f} < {_MIN_NCC_COARSE}"
    if not fine.corner_std_px <= _MAX_CORNER_STD_PX:
        return h, fine, ncc, (f"alignment not determined by the content (predicted corner uncertainty "
                              f"{fine.corner_std_px:.2f} px > {_MAX_CORNER_STD_PX}; symmetric or featureless part?)")
    if pairs is None:  # no feature inliers vouch for it: test the minimum itself
        why = _basin_check(model, mpyr, h, fine, affine)
        if why:
            return h, fine, ncc, why
    return h, fine, ncc, None


def _confidence(fine: _Fine, ncc: float, inliers: int) -> float:
    c_rho = np.clip((fine.rho - _MIN_RHO_FINE) / (1 - _MIN_RHO_FINE), 0, 1)
    c_ncc = np.clip((ncc - _MIN_NCC_COARSE) / (1 - _MIN_NCC_COARSE), 0, 1)
    c_std = math.exp(-fine.corner_std_px / _MAX_CORNER_STD_PX)
    return float(np.clip(0.2 + 0.8 * (c_rho * c_ncc) ** 0.5 * c_std, 0, 1))


def _rival(model: RegistrationModel, mpyr: list[np.ndarray], found, pool: np.ndarray | None, n_inl: int,
           affine: bool) -> str | None:
    """Reason if a second, distinct alignment fits about as well (symmetric/repetitive part)."""
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
    if why is None and fr is not None and fr.rho >= fine.rho - 0.03:
        return (f"ambiguous: a second alignment ({int(sel.sum())} inliers, correlation {fr.rho:.3f}) fits about as "
                f"well as the first ({n_inl} inliers, {fine.rho:.3f}); symmetric or repetitive part")
    return None


# ----------------------------------------------------------------------------- public API
def register(reference: np.ndarray, moving: np.ndarray, *, method: str = "auto",
             model: RegistrationModel | None = None, mask: np.ndarray | None = None) -> RegistrationResult:
    """Align ``moving`` (a unit) onto ``reference`` (the golden), or refuse with a reason.

    Parameters
    ----------
    reference : ndarray, (H, W, 3) uint8 RGB or (H, W) uint8 gray
        The golden reference (golden px).
    moving : ndarray, (h, w, 3) uint8 RGB or (h, w) uint8 gray
        The unit image (unit px); any size.
    method : {"auto", "homography", "affine", "nonrigid", "none"}
        ``"auto"``/``"homography"``: projective; ``"affine"``: 6 parameters; ``"nonrigid"``:
        homography then a smooth residual flow; ``"none"``: the moving image resized to the
        reference (the homography is that scaling, ``ok`` True).
    model : RegistrationModel, optional
        Precomputed reference side (from the golden package); fitted here when None.
    mask : ndarray, (H, W) bool, optional
        Where keypoints and correlation count, in reference px. Used when ``model`` is None;
        a model carries the mask it was fitted with and ``mask`` is then only shape-checked.

    Returns
    -------
    RegistrationResult
        ``homography`` maps moving px -> reference px. ``rms_px`` is the predicted 1-sigma
        alignment uncertainty at the reference corners (reference px) from the fine
        alignment's residual and Gauss-Newton covariance. ``ok`` False with ``reason`` when the
        unit cannot be aligned; this function never raises for bad content.

    Raises
    ------
    ImageError
        Wrong shapes or dtypes. SpecError for an unknown method.
    """
    if method not in METHODS:
        raise SpecError(f"method={method!r}; expected one of {list(METHODS)}")
    ref_gray = _as_gray(reference, "reference")
    mov_gray = _as_gray(moving, "moving")
    mask = _as_mask(mask, ref_gray.shape)
    if method == "none":
        sx = ref_gray.shape[1] / mov_gray.shape[1]
        sy = ref_gray.shape[0] / mov_gray.shape[0]
        h = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])
        return RegistrationResult(homography=h, ok=True, rms_px=0.0, inliers=0, confidence=1.0, method="none")
    if model is None:
        model = RegistrationModel.fit(ref_gray, mask=mask)
    elif tuple(model.shape_hw_) != ref_gray.shape:
        raise ImageError(f"model: fitted on a reference of shape {model.shape_hw_}, got reference {ref_gray.shape}")
    affine = method == "affine"
    fail = np.eye(3)
    if model.gray_std_ < 2.0:
        return RegistrationResult(fail, False, math.inf, method=method,
                                  reason=f"reference is blank inside the mask (gray std {model.gray_std_:.1f})")
    if float(mov_gray.std()) < 2.0:
        return RegistrationResult(fail, False, math.inf, method=method,
                                  reason=f"moving image is blank (gray std {float(mov_gray.std()):.1f})")
    mpyr = _pyramid(mov_gray, _n_levels_for(mov_gray.shape))
    tried: list[str] = []

    nonrigid = method == "nonrigid"

    undetermined: list[np.ndarray] = []  # alignments refused only for their predicted uncertainty

    def attempt(h0, label, pairs):
        h, fine, ncc, why = _evaluate(model, mpyr, h0, affine=affine, pairs=pairs, start_only=nonrigid)
        if why is None and nonrigid:
            nr = _refine_nonrigid(model, mpyr, np.linalg.inv(h), ref_gray)
            if nr is None:
                why = "non-rigid refinement diverged or left the image"
            else:
                if not nr.f_stat > _NR_F_MIN:  # the data do not support a deformation: the homography alone
                    nr = _NonRigid(coef=np.zeros_like(nr.coef), knot_px=nr.knot_px, rho=fine.rho,
                                   inlier_frac=fine.inlier_frac, inside_frac=fine.inside_frac,
                                   std_px=fine.corner_std_px, converged=fine.converged,
                                   f_stat=nr.f_stat)
                field, ncc, why = _nonrigid_check(model, mpyr, h, nr)
                if why is None:
                    return h, (fine, nr, field), ncc
        if why is None:
            return h, fine, ncc
        tried.append(f"{label}: {why}")
        if h is not None and "not determined by the content" in why:
            undetermined.append(h)
        return None

    found = None
    n_inl = 0
    label = ""
    try:
        for kind in ("orb", "sift"):
            h0, n_inl, note, pairs, pool = _features_candidate(model, mpyr, kind, affine)
            if h0 is None:
                tried.append(note)
                continue
            found = attempt(h0, note, pairs)
            if found is not None:
                label = f"{kind}+magsac+ic"
                rival = _rival(model, mpyr, _rigid_view(found), pool, n_inl, affine)
                if rival is not None:
                    return RegistrationResult(fail, False, math.inf, inliers=n_inl, method=method, reason=rival)
                break
        if found is None:
            n_inl = 0
            passed = []
            fm, angles = _fm_candidates(model, mpyr)
            for h0 in fm:
                r = attempt(h0, "fourier-mellin", None)
                if r is not None:
                    passed.append(r)
            # Fourier-Mellin's own rotation first, the next correlation peaks' only if that fails
            for group in (angles[:2], angles[2:]):
                if passed or not group:
                    break
                for h0 in _scale_search_candidates(model, mpyr, group):
                    r = attempt(h0, "fourier-mellin scale search", None)
                    if r is not None:
                        passed.append(r)
            # several starts that converge to one alignment give slightly different predicted
            # uncertainties; taking the one that happens to pass would be a multiple-testing
            # bias, so an alignment also refused as undetermined from another start is refused
            kept = [r for r in passed if all(_corner_diff(r[0], hq, model.shape_hw_) > 2.0 for hq in undetermined)]
            if len(kept) < len(passed):
                tried.append("fourier-mellin: the same alignment reached from another start is not determined by the content")
            passed = kept
            distinct = [r for j, r in enumerate(passed)
                        if all(_corner_diff(r[0], q[0], model.shape_hw_) > 2.0 for q in passed[:j])]
            if len(distinct) > 1:
                return RegistrationResult(fail, False, math.inf, method=method, reason=(
                    f"ambiguous: {len(distinct)} distinct alignments fit (symmetric or repetitive part, e.g. one "
                    "that fits as well turned by 180 degrees)"))
            if passed:
                found = max(passed, key=lambda r: _rigid_view(r)[1].rho)
                label = "fourier-mellin+ic"
    except (np.linalg.LinAlgError, cv2.error, FloatingPointError) as exc:  # numerical breakdown on bad content
        return RegistrationResult(fail, False, math.inf, method=method, reason=f"numerical failure: {exc}")
    if found is None:
        return RegistrationResult(fail, False, math.inf, method=method, reason="cannot align: " + _join_counted(tried))
    h, fine, ncc = found
    if nonrigid:
        fine, nr, flow = fine
        # the deformed fit's correlation and uncertainty stand for the rigid ones
        fine = _Fine(g=fine.g, rho=nr.rho, corner_std_px=nr.std_px, converged=nr.converged, n_valid=fine.n_valid,
                     inlier_frac=nr.inlier_frac, inside_frac=nr.inside_frac)
        return RegistrationResult(homography=h, ok=True, rms_px=float(nr.std_px), inliers=int(n_inl),
                                  confidence=_confidence(fine, ncc, n_inl), method=label + "+bspline", reason=None,
                                  flow=flow)
    return RegistrationResult(homography=h, ok=True, rms_px=float(fine.corner_std_px), inliers=int(n_inl),
                              confidence=_confidence(fine, ncc, n_inl), method=label, reason=None)


def _join_counted(items: list[str]) -> str:
    """Join reasons with "; ", identical ones once with a count (first-seen order)."""
    counts: dict[str, int] = {}
    for it in items:
        counts[it] = counts.get(it, 0) + 1
    return "; ".join(k if n == 1 else f"{k} (x{n})" for k, n in counts.items())


def _rigid_view(found):
    """(H, rigid fine result, ncc) of an accepted candidate (non-rigid ones carry a tuple)."""
    h, fine, ncc = found
    return (h, fine[0] if isinstance(fine, tuple) else fine, ncc)


# ----------------------------------------------------------------------------- non-rigid refinement
@dataclass
class _NonRigid:
    coef: np.ndarray  # (2, ny, nx) control-point displacements, reference full px
    knot_px: float  # control-point spacing, reference full px
    rho: float
    inlier_frac: float
    inside_frac: float
    std_px: float  # predicted 3-sigma uncertainty of the displacement at the edge points (full px)
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
                # neighbouring points' residuals are correlated (blur, interpolation): inflate by 3
                std = 3.0 * math.sqrt(max(float(np.max(var)), 0.0)) if np.all(np.isfinite(var)) else math.inf
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
    c2 = (4.685 * 1.4826 * float(np.median(np.abs(e1 - np.median(e1)))) + 1e-9) ** 2
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
                    ) -> tuple[np.ndarray, float, str | None]:
    """Dense field, coarse correlation with it, and the reason to refuse the deformation or None."""
    field = _nr_field(nr.coef, nr.knot_px, model.shape_hw_)
    hh, ww = model.shape_hw_
    # size and smoothness of the deformation beyond its affine part, over the mask's area
    k = model.work_level_
    wm = model.work_mask_
    small = field[:: 2**k, :: 2**k][: wm.shape[0], : wm.shape[1]]
    # judged where edge points pin the field down (near them: within a quarter control spacing)
    sel = np.zeros(small.shape[:2], bool)
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
        return field, ncc, "deformation: no mask area"
    dv = small[ys, xs].astype(np.float64)
    a = np.c_[xs * 2.0**k, ys * 2.0**k, np.ones(ys.size)]
    coef, *_ = np.linalg.lstsq(a, dv, rcond=None)
    bend = float(np.max(np.linalg.norm(dv - a @ coef, axis=1)))
    gy_x, gx_x = np.gradient(field[..., 0])
    gy_y, gx_y = np.gradient(field[..., 1])
    strain = np.sqrt(gx_x**2 + gy_x**2 + gx_y**2 + gy_y**2)[:: 2**k, :: 2**k][: sel.shape[0], : sel.shape[1]]
    max_strain = float(np.max(strain[sel]))
    if nr.inside_frac < _MIN_EDGE_INSIDE:
        return field, ncc, (f"only {100 * nr.inside_frac:.0f}% of the reference edge points fall inside the unit image "
                            f"after the deformation (< {100 * _MIN_EDGE_INSIDE:.0f}%)")
    if nr.inlier_frac < _MIN_EDGE_INLIERS:
        return field, ncc, (f"only {100 * nr.inlier_frac:.0f}% of the reference edge points are found in the unit after "
                            f"the deformation (< {100 * _MIN_EDGE_INLIERS:.0f}%; occlusion or another part?)")
    if nr.rho < _MIN_RHO_FINE:
        return field, ncc, f"edge correlation after the deformation {nr.rho:.2f} < {_MIN_RHO_FINE}"
    if ncc < _MIN_NCC_COARSE:
        return field, ncc, f"correlation over the mask after the deformation {ncc:.2f} < {_MIN_NCC_COARSE}"
    if bend > _NR_MAX_BEND_FRAC * max(hh, ww):
        return field, ncc, (f"deformation too large: {bend:.1f} px beyond an affine map "
                            f"(> {_NR_MAX_BEND_FRAC * max(hh, ww):.1f} px)")
    if max_strain > _NR_MAX_STRAIN:
        return field, ncc, f"deformation too strong: strain {max_strain:.3f} > {_NR_MAX_STRAIN}"
    if not nr.std_px <= _NR_MAX_STD_PX:
        return field, ncc, (f"deformation not determined by the content (predicted uncertainty {nr.std_px:.2f} px "
                            f"> {_NR_MAX_STD_PX})")
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


def warp_to_reference(moving: np.ndarray, result: RegistrationResult, shape_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``moving`` into reference px.

    Parameters
    ----------
    moving : ndarray, (h, w, 3) or (h, w), uint8 (or float32)
    result : RegistrationResult
    shape_hw : (H, W) of the reference frame in px.

    Returns
    -------
    warped : ndarray, (H, W[, 3]), same dtype as ``moving``
    valid : ndarray, (H, W) bool
        True where the moving image covers the reference pixel with all four bilinear
        neighbours (a sample blended with the border fill is not valid).
    """
    if not isinstance(moving, np.ndarray) or moving.ndim not in (2, 3) or (moving.ndim == 3 and moving.shape[2] not in (1, 3)):
        raise ImageError(f"moving: expected (H, W, 3) or (H, W) array, got {getattr(moving, 'shape', type(moving))}")
    if moving.dtype not in (np.uint8, np.float32):
        raise ImageError(f"moving: expected dtype uint8 or float32, got {moving.dtype}")
    hh, ww = int(shape_hw[0]), int(shape_hw[1])
    ys, xs = np.mgrid[0:hh, 0:ww].astype(np.float32)
    px, py = xs, ys
    if result.flow is not None:
        if result.flow.shape[:2] != (hh, ww):
            raise ImageError(f"result.flow: expected shape {(hh, ww, 2)}, got {result.flow.shape}")
        px = xs + result.flow[..., 0]
        py = ys + result.flow[..., 1]
    hi = np.linalg.inv(result.homography)
    den = hi[2, 0] * px + hi[2, 1] * py + hi[2, 2]
    mx = ((hi[0, 0] * px + hi[0, 1] * py + hi[0, 2]) / den).astype(np.float32)
    my = ((hi[1, 0] * px + hi[1, 1] * py + hi[1, 2]) / den).astype(np.float32)
    warped = cv2.remap(moving, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    h_m, w_m = moving.shape[:2]
    # only pixels with full bilinear support: a sample within half a pixel outside the image is
    # blended with the black fill and would read as a dark strip along the frame
    valid = (mx >= 0) & (mx <= w_m - 1) & (my >= 0) & (my <= h_m - 1) & (den > 0)
    return warped, valid
