"""Shared pieces of the registration: tuning constants, input checks, pyramids, the
reference-side data of the fine alignment, homography sanity and small geometry helpers.

Coordinates are ``(x, y)`` px with pixel centres at integers; level ``k`` of a pyramid has
px of ``2^k`` full px (``cv2.pyrDown``).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from .._stats import mad_normal
from ..errors import ImageError
from ..transform import apply_homography

METHODS = ("auto", "homography", "affine", "nonrigid", "outline", "none")

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
#: a zoomed view (Oxford boat 1->3: x2 zoom and 30-60 deg rotation) shows a fraction of the
#: reference: with at least this many keypoint inliers vouching for the alignment, the overlap
#: may drop to _MIN_EDGE_INSIDE_ZOOM of the edge points (and of the mask for the correlation)
_ZOOM_MIN_INLIERS = 60
_MIN_EDGE_INSIDE_ZOOM = 0.1
_MIN_EDGE_INSIDE = 0.4  # share of the reference edge points that must fall inside the unit image (the frame border is no evidence against an alignment)
_MIN_NCC_COARSE = 0.55  # dense correlation over the mask, coarse level
# ... when >= _ZOOM_MIN_INLIERS feature inliers agree with the refinement and the edges correlate:
# polished metal, glass and gloss move their highlights with the light and the pose, so dense
# intensity correlation falls (0.46 on a plated pendant with 90/112 ORB inliers) while the
# geometry is vouched for twice over
_MIN_NCC_VOUCHED = 0.3
_MAX_CORNER_STD_PX = 0.2  # predicted 1-sigma (RMS) corner error, reference px (0.6 px at 3 sigma)
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
_TONE_MIN_SHARE = 0.03  # a material tone (a knot of the fine alignment's tone curve): share of the flat pixels within +-8 gray
_TONE_MIN_GAIN = 2.0  # the tone curve replaces the gain/offset only when it divides the squared median |residual| by more
_TONE_MIN_SEP = 12.0  # least gray distance between two knots of the tone curve
_SAT_SHARE = 0.8  # share of the >= 250 (<= 5) pixels exactly at 255 (0) that means "clipped"
_NR_KNOTS = 12  # non-rigid: B-spline control intervals along the reference's longest side (8: seam ends 0.55 px off under an S-bend)
_NR_MIN_KNOT_PX = 60.0  # non-rigid: smallest control spacing, reference px (a spline finer than this follows texture, not bends)
_NR_SMOOTH = 0.001  # non-rigid: bending-energy weight, relative to the mean diagonal of J^T W J
_NR_EXTRA_LEVELS = 1  # non-rigid: pyramid levels fitted below the stored coarse level
_NR_FINEST_LEVEL = 0  # non-rigid: finest pyramid level fitted
_NR_MAX_BEND_FRAC = 0.03  # non-rigid: largest displacement beyond an affine map, of the longest side
_NR_MAX_STRAIN = 0.3  # non-rigid: largest |grad d| (Frobenius) of the displacement field
_NR_MAX_STD_PX = 0.2  # non-rigid: predicted 1-sigma (RMS) displacement uncertainty at the edge points, px
_NR_CORR = 9.0  # non-rigid: edge points per independent residual (blur, interpolation) in the model-selection test
_NR_F_MIN = 100.0  # non-rigid: the deformation is kept only when its F statistic against the homography alone exceeds this
#: a second, distinct alignment is a rival (ambiguous part) when its finest-level edge correlation
#: comes within this of the best one's; a clearly worse one (a 180-degree twin of a part whose
#: outline is symmetric but whose content is not, or a repeating chain shifted by a link that no
#: longer fits the product's ends) is a wrong alignment, not an ambiguity
_RIVAL_RHO_MARGIN = 0.03
_MIN_RHO_START = 0.3  # non-rigid: edge correlation the rigid start must reach before the deformation is fitted
#: keypoint inliers that the refinement does not explain are a *part* of the product that moved
#: on it (a label applied off position, a print off register) when the convex hull of their
#: reference points covers at most this share of the hull of the reference's edge points; the
#: dense alignment is then judged on its own, as when no keypoints vouch (basin check included).
#: Inliers spread over the product that disagree with it leave the refusal standing (a
#: repetitive part the refinement slid along by a period)
_PART_MAX_SHARE = 0.25


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



#: a colour projection replaces the luminance when its contrast (std) inside the mask is this
#: many times the luminance's: a product whose colour differs from its background or print
#: while their luminance is alike (a blue panel on a brown table) is invisible in luminance
_COLOR_GAIN_MIN = 2.0
_LUMA = (0.299, 0.587, 0.114)


def _gray_weights(rgb: np.ndarray, mask: np.ndarray | None) -> tuple[float, float, float] | None:
    """RGB weights of the gray image the registration works on, or None for the luminance.

    The first principal axis of the reference's RGB inside the mask (sampled), scaled so that
    its absolute weights sum to 1 (the projection stays in 0-255 after an offset) with a
    positive sum; used only when its contrast is ``_COLOR_GAIN_MIN`` times the luminance's."""
    if rgb.ndim != 3:
        return None
    step = max(1, int(math.sqrt(rgb.shape[0] * rgb.shape[1] / 40000)))
    px = rgb[::step, ::step].reshape(-1, 3)
    if mask is not None:
        px = px[mask[::step, ::step].reshape(-1)]
    if len(px) < 100:
        return None
    cov = np.cov(px.astype(np.float64).T)
    vals, vecs = np.linalg.eigh(cov)
    v = vecs[:, -1] / np.abs(vecs[:, -1]).sum()
    if v.sum() < 0:
        v = -v
    luma = np.asarray(_LUMA)
    var_l, var_v = float(luma @ cov @ luma), float(v @ cov @ v)
    if not var_v > _COLOR_GAIN_MIN**2 * max(var_l, 1e-9):
        return None
    return (float(v[0]), float(v[1]), float(v[2]))


def _silhouette_gray_weights(rgb: np.ndarray, product: np.ndarray, ground: np.ndarray
                             ) -> tuple[float, float, float] | None:
    """RGB weights of the gray on which the product stands out of its ground, or None.

    Fisher's linear discriminant (Fisher 1936, doi:10.1111/j.1469-1809.1936.tb02137.x) of the
    ``product`` pixels against the ``ground`` pixels (bool masks, same H x W as ``rgb``, sampled):
    the projection w = (S_p + S_g)^-1 (mu_p - mu_g) whose product-ground contrast is largest
    against the variation *within* the product and the ground. A product whose surface carries
    a texture of its own (wood grain, leather) varies mostly in lightness, so its luminance shows
    that texture as strongly as the outline; its colour against the ground shows the outline,
    the holes the ground shows through and a print of another colour, and hardly any grain.
    Scaled like :func:`_gray_weights`; returned only when its contrast-to-variation (the square
    root of the Fisher ratio) is ``_COLOR_GAIN_MIN`` times the luminance's."""
    if rgb.ndim != 3 or product.shape != rgb.shape[:2] or ground.shape != rgb.shape[:2]:
        return None
    step = max(1, int(math.sqrt(rgb.shape[0] * rgb.shape[1] / 40000)))
    px = rgb[::step, ::step].reshape(-1, 3).astype(np.float64)
    p, g = px[product[::step, ::step].reshape(-1)], px[ground[::step, ::step].reshape(-1)]
    if len(p) < 100 or len(g) < 100:
        return None
    diff = p.mean(axis=0) - g.mean(axis=0)
    within = np.cov(p.T) + np.cov(g.T) + 1e-6 * np.eye(3)
    try:
        v = np.linalg.solve(within, diff)
    except np.linalg.LinAlgError:
        return None
    luma = np.asarray(_LUMA)
    fisher_v = float(diff @ v)  # (v . diff)^2 / (v S v) at the optimum
    fisher_l = float((luma @ diff) ** 2 / max(float(luma @ within @ luma), 1e-9))
    if not fisher_v > _COLOR_GAIN_MIN**2 * fisher_l:
        return None
    v = v / np.abs(v).sum()
    if v.sum() < 0:
        v = -v
    return (float(v[0]), float(v[1]), float(v[2]))


def _project_gray(image: np.ndarray, weights: tuple[float, float, float] | None, name: str) -> np.ndarray:
    """(H, W) uint8 gray of an RGB image by ``weights`` (None: :func:`_as_gray`'s luminance)."""
    if weights is None or not (isinstance(image, np.ndarray) and image.ndim == 3):
        return _as_gray(image, name)
    _as_gray(image, name)  # the same input checks
    w = np.asarray(weights, np.float64)
    off = -255.0 * float(w[w < 0].sum())
    m = np.array([[w[0], w[1], w[2], off]], np.float64)
    return cv2.transform(np.ascontiguousarray(image), m).reshape(image.shape[:2]).astype(np.uint8) \
        if image.dtype == np.uint8 else _as_gray(image, name)


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



def _masked_structure(gray: np.ndarray, mask: np.ndarray | None) -> float:
    """Std of the gray values inside the mask (0-255 units)."""
    return float(gray[mask].std()) if mask is not None and mask.any() else float(gray.std())



def _mask_pyramid(mask: np.ndarray | None, pyr: list[np.ndarray]) -> list[np.ndarray | None]:
    if mask is None:
        return [None] * len(pyr)
    out: list[np.ndarray | None] = []
    m: np.ndarray = mask.astype(np.uint8) * 255
    for k, img in enumerate(pyr):
        if k > 0:
            m = cv2.pyrDown(m)
            m = cv2.resize(m, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST) if m.shape != img.shape else m
        out.append(m > 127)
    return out



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



def _level_shape(shape_hw: tuple[int, int], k: int) -> tuple[int, int]:
    h, w = shape_hw
    for _ in range(k):
        h, w = (h + 1) // 2, (w + 1) // 2
    return h, w



def _masked_correlation(ref: np.ndarray, warped: np.ndarray, mask: np.ndarray, cover: np.ndarray,
                        min_cover: float = 0.5) -> float:
    """Pearson correlation of reference and warped unit over ``mask & cover``.

    -1 when the unit covers less than ``min_cover`` of the mask (or under 100 px), 0 for a flat image.
    """
    sel = mask & cover
    if sel.sum() < min_cover * mask.sum() or sel.sum() < 100:
        return -1.0
    a = ref[sel].astype(np.float64)
    b = warped[sel].astype(np.float64)
    if a.std() < 1e-6 or b.std() < 1e-6:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])



def _robust_weights(e: np.ndarray, redescending: bool) -> np.ndarray:
    """IRLS weights: Huber (k = 1.345) or Tukey's biweight (c = 4.685), scale by the MAD."""
    mad = float(mad_normal(e)) + 1e-3
    if redescending:
        a = e / (4.685 * mad)
        return np.where(np.abs(a) < 1, (1 - a * a) ** 2, 0.0)
    a = np.abs(e) / (1.345 * mad)
    return np.where(a <= 1, 1.0, 1.0 / np.maximum(a, 1e-12))



def _corner_diff(h1: np.ndarray, h2: np.ndarray, shape_hw: tuple[int, int]) -> float:
    return corner_error_px(h1, h2, shape_hw)
