"""Calipers and subpixel edges: profiles across an edge, Gaussian-derivative detection and
the erf least-squares refinement (single and joint). See :mod:`goldenvision.measure`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal
from collections.abc import Sequence

import cv2
import numpy as np
from scipy import ndimage
from scipy.special import erf, ndtri

from ..errors import ImageError, MeasurementError, SpecError
from ..results import jsonable

__all__ = ["Edge", "caliper_profile", "find_edges", "measure_caliper_edges", "Polarity", "Select"]

Polarity = Literal["any", "dark_to_light", "light_to_dark"]
Select = Literal["all", "first", "last", "strongest"]
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_BILINEAR_NOISE_FACTOR = 1.5
_MAX_JOINT = 4  # at most this many edges in one joint fit
_POLARITIES = ("any", "dark_to_light", "light_to_dark")
_SELECTS = ("all", "first", "last", "strongest")


@dataclass(frozen=True, slots=True)
class Edge:
    """One edge along a profile.

    Attributes
    ----------
    position_px : float
        Position along the profile in px, measured from the profile's first sample.
    strength : float
        Peak magnitude of the Gaussian-derivative response, grey levels per px.
    polarity : str
        ``"dark_to_light"`` (grey level rises along the profile) or ``"light_to_dark"``.
    residual : float
        RMS residual of the edge-model fit on its window, grey levels (NaN for the
        parabolic baseline).
    contrast : float
        Fitted step height ``|2 b|`` in grey levels (the response-based estimate for
        the parabolic baseline).
    sigma_px : float
        Fitted blur ``s`` of the edge in px (NaN for the parabolic baseline).
    uncertainty_px : float
        One standard deviation of ``position_px`` from the fit covariance, scaled for the
        correlation of oversampled profile samples (NaN for the parabolic baseline).
    """

    position_px: float
    strength: float
    polarity: str
    residual: float
    contrast: float = float("nan")
    sigma_px: float = float("nan")
    uncertainty_px: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {k: jsonable(getattr(self, k)) for k in self.__slots__}


def _check_gray(gray: np.ndarray, name: str = "gray") -> np.ndarray:
    """Validate a grey image; RGB (H, W, 3) becomes BT.601 luma. Never copies a 2D input."""
    arr = np.asarray(gray)
    if arr.ndim == 3 and arr.shape[2] == 3:
        if arr.dtype == np.uint8:
            return cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)
        if np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer):
            return arr.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ImageError(f"{name}: expected a grey image (H, W) or RGB (H, W, 3), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ImageError(f"{name}: expected uint8, uint16 or float grey levels, got dtype {arr.dtype}")
    return arr


def _check_choice(value: str, choices: Sequence[str], name: str) -> None:
    if value not in choices:
        raise SpecError(f"{name}={value!r}; expected one of {list(choices)}")


def _sample(gray: np.ndarray, xs: np.ndarray, ys: np.ndarray, what: str) -> np.ndarray:
    """Bilinear samples of ``gray`` at float px (x, y) (any shape), refusing points outside."""
    h, w = gray.shape
    xmin, xmax, ymin, ymax = xs.min(), xs.max(), ys.min(), ys.max()
    if not (np.isfinite(xmin) and np.isfinite(xmax) and np.isfinite(ymin) and np.isfinite(ymax)):
        raise MeasurementError(f"{what}: caliper coordinates are not finite")
    tol = 1e-6
    if xmin < -tol or ymin < -tol or xmax > w - 1 + tol or ymax > h - 1 + tol:
        raise MeasurementError(
            f"{what} leaves the image: it spans x {xmin:.1f}..{xmax:.1f}, y {ymin:.1f}..{ymax:.1f} px, "
            f"the image has x 0..{w - 1}, y 0..{h - 1}"
        )
    x0, y0 = int(max(0, math.floor(xmin))), int(max(0, math.floor(ymin)))
    x1, y1 = int(min(w, math.floor(xmax) + 2)), int(min(h, math.floor(ymax) + 2))
    crop = np.asarray(gray[y0:y1, x0:x1], dtype=np.float64)
    coords = np.stack([ys - y0, xs - x0])
    return ndimage.map_coordinates(crop, coords, order=1, mode="nearest", output=np.float64)


def caliper_profile(
    gray: np.ndarray,
    center_px: Sequence[float],
    angle_deg: float,
    length_px: float,
    width_px: float,
    *,
    step_px: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """The 1D grey profile of a caliper: the mean across the band at each position along it.

    Parameters
    ----------
    gray : ndarray, shape (H, W) (or (H, W, 3) RGB, see the module notes)
        Grey levels of the image the caliper lies in (px, pixel centres at integers).
    center_px : (x, y)
        Caliper centre in px of ``gray``.
    angle_deg : float
        Direction of the profile, degrees from +x towards +y.
    length_px : float
        Length along the profile, px; the profile runs from ``-length/2`` to ``+length/2``.
    width_px : float
        Band averaged across the profile, px; ``max(1, round(width_px))`` parallel lines
        evenly spread over it.
    step_px : float, keyword-only
        Sample spacing along the profile, px (default 0.25: four bilinear samples per px).

    Returns
    -------
    positions_px : ndarray, shape (N,), float64
        Signed distance of each sample from the centre along the profile, px.
    profile : ndarray, shape (N,), float64
        Mean grey level across the band.

    Raises
    ------
    MeasurementError
        The caliper rectangle leaves the image.
    """
    g = _check_gray(gray)
    if not (length_px > 0 and width_px > 0 and step_px > 0):
        raise SpecError(
            f"caliper: expected length_px, width_px and step_px > 0, got {length_px}, {width_px}, {step_px}"
        )
    n = int(math.floor(length_px / step_px + 1e-9)) + 1
    s = (np.arange(n) - (n - 1) / 2.0) * step_px
    m = max(1, int(round(width_px)))
    t = (np.arange(m) - (m - 1) / 2.0) * (width_px / m if m > 1 else 0.0)
    a = math.radians(angle_deg)
    c, sn = math.cos(a), math.sin(a)
    cx, cy = float(center_px[0]), float(center_px[1])
    xs = cx + s[None, :] * c - t[:, None] * sn
    ys = cy + s[None, :] * sn + t[:, None] * c
    vals = _sample(g, xs, ys, "caliper")
    return s, vals.mean(axis=0)


def _response(profile: np.ndarray, sigma_px: float, spacing_px: float) -> np.ndarray:
    """Gaussian-derivative response in grey levels per px."""
    return ndimage.gaussian_filter1d(profile, sigma_px / spacing_px, order=1, mode="nearest") / spacing_px


#: 20th percentile of the half-normal distribution: |N(0, 1)| <= this with probability 0.2
#: (``scipy.stats.halfnorm.ppf(0.2)``, computed as scipy does, without importing scipy.stats).
_HALFNORM_Q20 = float(ndtri((1.0 + 0.2) / 2.0))


def _profile_noise(profiles: np.ndarray, spacing_px: float) -> np.ndarray:
    """Grey-level noise std of profiles (last axis), from second differences of samples ~1 px apart.

    ``y[i-1] - 2 y[i] + y[i+1]`` of white noise is ``N(0, 6 sigma^2)``; its 20th percentile
    of absolute values is used (not the median), so a dense pattern of edges, whose second
    differences are large on most samples, does not pass for noise.
    """
    k = max(1, int(round(1.0 / spacing_px)))
    y = profiles[..., ::k]
    if y.shape[-1] < 5:
        return np.zeros(y.shape[:-1])
    d2 = np.abs(y[..., :-2] - 2.0 * y[..., 1:-1] + y[..., 2:])
    return np.quantile(d2, 0.2, axis=-1) / (_HALFNORM_Q20 * math.sqrt(6.0))


#: :func:`_image_noise` reads at most about this many rows of its patch (evenly spaced).
_IMAGE_NOISE_MAX_ROWS = 64


def _image_noise(gray: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> float:
    """Grey-level noise std of the pixels of ``gray`` in ``[x0, x1) x [y0, y1)`` (clipped to the
    image), NaN when fewer than 5 x 5 px remain.

    Immerkær's mask ``[[1, -2, 1], [-2, 4, -2], [1, -2, 1]]`` (J. Immerkær, "Fast noise variance
    estimation", Computer Vision and Image Understanding 64(2), 300-302, 1996,
    doi:10.1006/cviu.1996.0060: nothing on a plane, ``6 sigma`` std on white noise of ``sigma``),
    applied as the separable product of two second differences on at most
    :data:`_IMAGE_NOISE_MAX_ROWS` evenly spaced rows, and read robustly: the 20th percentile of
    its absolute response, as :func:`_profile_noise` does along a profile, so the minority of
    pixels on edges (a hole's rim, an outline) does not pass for noise. A 2D patch holds flat
    pixels even where every short profile through it crosses the edge (a small circle's radial
    calipers).
    """
    h, w = gray.shape
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 5 or y1 - y0 < 5:
        return float("nan")
    patch = np.asarray(gray[y0:y1, x0:x1], dtype=np.float64)
    rows = np.arange(1, patch.shape[0] - 1, max(1, (patch.shape[0] - 2) // _IMAGE_NOISE_MAX_ROWS))
    v = patch[rows - 1] - 2.0 * patch[rows] + patch[rows + 1]
    resp = v[:, :-2] - 2.0 * v[:, 1:-1] + v[:, 2:]
    return float(np.quantile(np.abs(resp), 0.2)) / (_HALFNORM_Q20 * 6.0)


def _threshold_from_noise(noise, profiles: np.ndarray, sigma_px: float, spacing_px: float):
    """Six standard deviations of the Gaussian-derivative response to the noise, floored.

    The response of the derivative of a Gaussian of scale ``s`` to unit white noise has
    variance ``1 / (4 sqrt(pi) s^3)``. Oversampled profiles (``spacing_px < 1``) come from
    bilinear interpolation, which smooths the noise between pixels and makes the
    second-difference estimate low: measured on band profiles of pure noise, the response's
    std is 1.44 times the prediction, so the factor is 9 instead of 6 there. The floor is
    0.2 % of the largest grey level.
    """
    resp_std = noise / math.sqrt(4.0 * math.sqrt(math.pi) * sigma_px**3)
    floor = 2e-3 * np.abs(profiles).max(axis=-1) + 1e-12
    return np.maximum((9.0 if spacing_px < 1.0 else 6.0) * resp_std, floor)


def _auto_threshold(profile: np.ndarray, sigma_px: float, spacing_px: float) -> float:
    """Automatic threshold of :func:`find_edges` (see :func:`_profile_noise`)."""
    return float(_threshold_from_noise(_profile_noise(profile, spacing_px), profile, sigma_px, spacing_px))


def _peaks(resp: np.ndarray, thr: float) -> list[tuple[float, int, float]]:
    """(subpixel index by parabola, integer index, signed peak response) of local extrema above thr."""
    out: list[tuple[float, int, float]] = []
    a = np.abs(resp)
    if a.size < 3:
        return out
    mid = a[1:-1]
    is_peak = (mid > thr) & (mid > a[:-2]) & (mid >= a[2:]) & (np.sign(resp[1:-1]) == np.sign(resp[:-2]))
    is_peak &= np.sign(resp[1:-1]) == np.sign(resp[2:])
    for i in np.flatnonzero(is_peak) + 1:
        y0, y1, y2 = a[i - 1], a[i], a[i + 1]
        den = y0 - 2 * y1 + y2
        d = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        out.append((i + float(np.clip(d, -0.5, 0.5)), int(i), float(resp[i])))
    return out


def _model(p: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Multi-step erf model and its Jacobian. p = [a, b_1..b_k, x_1..x_k, s]."""
    a, b, xk, s = p[0], p[1 : 1 + k], p[1 + k : 1 + 2 * k], p[-1]
    u = (x[:, None] - xk[None, :]) / (_SQRT2 * s)
    e = erf(u)
    g = np.exp(-u * u) * (2.0 / math.sqrt(math.pi))
    f = a + e @ b
    jac = np.empty((x.size, 2 + 2 * k))
    jac[:, 0] = 1.0
    jac[:, 1 : 1 + k] = e
    jac[:, 1 + k : 1 + 2 * k] = -g * b[None, :] / (_SQRT2 * s)
    jac[:, -1] = -(g * u * b[None, :]).sum(axis=1) / s
    return f, jac


# per edge: position px, contrast, sigma px, rms residual, std of position px
_EdgeFit = tuple[float, float, float, float, float]


def _solve_lm(fun: Any, jac: Any, p0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """MINPACK's Levenberg-Marquardt (lmder) from ``p0``: (solution, residuals and Jacobian
    there), or None when the start is not finite or the solver refuses.

    The same call, with the same tolerances and scaling, as
    ``least_squares(fun, p0, jac=jac, method="lm", xtol=1e-10, ftol=1e-10, max_nfev=200)``
    (gtol 1e-8, diag from the Jacobian, factor 100): bit-identical solutions, through
    ``leastsq``, without ``least_squares``' per-evaluation wrappers (two thirds of a caliper's
    time in them on the demo lot).
    """
    from scipy.optimize import leastsq  # here, not at module level: scipy.optimize takes ~0.2 s to import (~0.3 us here)

    f0 = fun(p0)
    if not np.all(np.isfinite(f0)):
        return None
    try:
        x, _cov, info, _msg, _ier = leastsq(fun, p0, Dfun=jac, full_output=True, col_deriv=False, ftol=1e-10,
                                            xtol=1e-10, gtol=1e-8, maxfev=200, factor=100.0, diag=None)
    except (ValueError, TypeError, np.linalg.LinAlgError):
        return None
    return x, info["fvec"], np.asarray(jac(x))


def _fit_cluster(
    profile: np.ndarray,
    x: np.ndarray,
    peaks: list[tuple[float, float]],
    lo: float,
    hi: float,
    s0: float,
    spacing_px: float,
    blur_px: float | None = None,
) -> list[_EdgeFit] | None:
    """Fit the shared-blur multi-erf model to samples in [lo, hi] (px).

    ``peaks`` are (coarse position px, signed response); ``blur_px`` fixes ``s``. Returns
    per edge (position, contrast, sigma, rms residual, std of position), or None if the
    fit failed.
    """
    sel = (x >= lo) & (x <= hi)
    xw, yw = x[sel], profile[sel]
    k = len(peaks)
    n_par = 1 + 2 * k + (blur_px is None)
    if xw.size < n_par + 2:
        return None
    s_init = s0 if blur_px is None else blur_px
    st = math.hypot(s0, s_init)
    b0 = np.array([r * _SQRT2PI * st / 2.0 for _, r in peaks])
    a0 = yw[0] + b0.sum()
    p0 = np.concatenate([[a0], b0, [q for q, _ in peaks]])
    if blur_px is None:
        p0 = np.append(p0, s0)

        def full(p):
            return p
    else:

        def full(p):
            return np.append(p, blur_px)

    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def evaluate(p):  # the solver asks for fun and jac at the same p: compute both once
        key = p.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = _model(full(p), xw, k)
        return cache[key]

    def fun(p):
        return evaluate(p)[0] - yw

    def jac(p):
        return evaluate(p)[1][:, :n_par]

    solved = _solve_lm(fun, jac, p0)
    if solved is None:
        return None
    x_opt, r_fun, r_jac = solved
    p = full(x_opt)
    s = abs(p[-1])
    xk = p[1 + k : 1 + 2 * k]
    if not (np.all(np.isfinite(p)) and 0.05 < s < (hi - lo)) or np.any(xk < lo) or np.any(xk > hi):
        return None
    dof = max(1, xw.size - n_par)
    rss = float(r_fun @ r_fun)
    rms = math.sqrt(rss / xw.size)
    try:
        cov = np.linalg.inv(r_jac.T @ r_jac) * (rss / dof)
        # Oversampled, interpolated samples are correlated: about one independent sample per px.
        var = np.diag(cov)[1 + k : 1 + 2 * k] * max(1.0, 1.0 / spacing_px)
        std = np.sqrt(np.clip(var, 0, None))
    except np.linalg.LinAlgError:
        std = np.full(k, np.nan)
    bs = p[1 : 1 + k]
    return [(float(xk[i]), float(2 * abs(bs[i])), float(s), rms, float(std[i])) for i in range(k)]


#: A joint fit whose step exceeds this many times the grey range of its window, whose edges
#: lie closer than :data:`_MIN_SEPARATION_S` blurs, or whose edge position has a standard
#: deviation over :data:`_MAX_JOINT_STD_PX`, has traded huge opposite steps against each other
#: (weak noise peaks beside a strong edge): it is not a description of the profile. Nor is one
#: whose edges come out in another order than their peaks: a weak peak's edge has left its
#: place and split the strong edge in two (a marker's side, zoo hand-held: a peak of 0.85 grey
#: levels per px, 4.3 px beside one of 64, fitted 0.9 px on the far side of it, the two sharing
#: its step with half its blur; whether MINPACK got there turned on the last bit of the samples,
#: and the edge moved 0.3 px between two runs of the same photo).
_MAX_CONTRAST_RANGE = 4.0
_MIN_SEPARATION_S = 0.25
_MAX_JOINT_STD_PX = 1.0
#: After a failed joint fit, peaks weaker than this share of the cluster's strongest are left out
#: of a second joint fit (they keep their unrefined position).
_WEAK_PEAK_SHARE = 0.1


def _degenerate(fit: Sequence[_EdgeFit], window: np.ndarray) -> bool:
    """Whether a (joint) fit of peaks in increasing position is degenerate: see
    :data:`_MAX_CONTRAST_RANGE`."""
    if window.size == 0:
        return True
    if any(b[0] <= a[0] for a, b in zip(fit, fit[1:])):  # the edges swapped places
        return True
    rng = float(window.max() - window.min())
    if any(f[1] > _MAX_CONTRAST_RANGE * rng + 1e-9 for f in fit):
        return True
    if any(not f[4] <= _MAX_JOINT_STD_PX for f in fit):  # NaN counts as degenerate too
        return True
    pos = sorted(f[0] for f in fit)
    s = fit[0][2]
    return any(b - a < _MIN_SEPARATION_S * s for a, b in zip(pos, pos[1:]))


def _fit_strong_subset(prof: np.ndarray, x: np.ndarray, cl: list[tuple[float, float]], lo_lim: float, hi_lim: float,
                       margin: float, s0: float, spacing_px: float,
                       blur_px: float | None) -> list[_EdgeFit | None] | None:
    """The joint fit again on the cluster's peaks of at least :data:`_WEAK_PEAK_SHARE` of its
    strongest response (the weak ones get None: unrefined), or None when that leaves every
    peak in or the fit fails or is degenerate."""
    top = max(abs(r) for _, r in cl)
    keep = [k for k, (_, r) in enumerate(cl) if abs(r) >= _WEAK_PEAK_SHARE * top]
    if len(keep) == len(cl) or not keep:
        return None
    sub = [cl[k] for k in keep]
    lo = max(lo_lim, sub[0][0] - margin)
    hi = min(hi_lim, sub[-1][0] + margin)
    fit = _fit_cluster(prof, x, sub, lo, hi, s0, spacing_px, blur_px)
    if fit is None or _degenerate(fit, prof[(x >= lo) & (x <= hi)]):
        return None
    out: list[_EdgeFit | None] = [None] * len(cl)
    for k, f in zip(keep, fit):
        out[k] = f
    return out


def _wanted(response: float, min_strength: float, polarity: Polarity) -> bool:
    """Whether a candidate of signed ``response`` passes ``find_edges``' strength and polarity."""
    if abs(response) < min_strength:
        return False
    return polarity == "any" or (polarity == "dark_to_light") == (response > 0)


def find_edges(
    profile: np.ndarray,
    *,
    sigma_px: float = 1.0,
    threshold: float | None = None,
    polarity: Polarity = "any",
    select: Select = "all",
    spacing_px: float = 1.0,
    method: Literal["erf", "parabolic"] = "erf",
    blur_px: float | None = None,
    min_strength: float = 0.0,
) -> list[Edge]:
    """Subpixel edges of a 1D profile.

    Candidates are local extrema of the Gaussian-derivative response (scale ``sigma_px``)
    above ``threshold``, located by a parabola through the three samples at the peak.
    With ``method="erf"`` each candidate is refined by a least-squares fit of a blurred
    step ``a + b erf((x - x0) / (sqrt(2) s))`` on a window of about ``±(3 s + 2)`` px;
    candidates whose windows overlap (narrow bars, close edges) are fitted jointly with
    one shared blur ``s`` (see the module notes and [2]_).

    Parameters
    ----------
    profile : ndarray, shape (N,)
        Grey levels along the profile (e.g. from :func:`caliper_profile`).
    sigma_px : float, keyword-only
        Scale of the Gaussian derivative, px (also the initial blur of the fit). 1.0 suits
        sharp edges; raise it for noisy or soft edges.
    threshold : float or None, keyword-only
        Minimum |response| in grey levels per px. None: 6 standard deviations of the
        response to the profile's noise (9 for oversampled, interpolated profiles; the
        noise estimated robustly from second differences of samples 1 px apart), at
        least 0.2 % of the profile's largest grey level. Dense patterns (edges closer
        than ~4 px) inflate the noise estimate: give a threshold there.
    polarity : {"any", "dark_to_light", "light_to_dark"}, keyword-only
        Keep only rising (dark_to_light) or falling edges along the profile.
    select : {"all", "first", "last", "strongest"}, keyword-only
        Which of the kept edges to return (always a list; empty when none).
    spacing_px : float, keyword-only
        Distance between profile samples, px (0.25 for the default :func:`caliper_profile`).
    method : {"erf", "parabolic"}, keyword-only
        "parabolic" stops after the parabolic peak (the baseline; residual NaN).
    blur_px : float or None, keyword-only
        Fix the blur ``s`` of the erf model (px of the profile) instead of fitting it.
        A bar narrower than about twice its blur has a width and a contrast that trade
        off against the blur, so its width is only well determined when the blur is
        known: measure ``Edge.sigma_px`` of an isolated edge with the same caliper
        geometry (it includes the interpolation's own blur) and pass it here.
    min_strength : float, keyword-only
        Return only edges whose response ``strength`` is at least this (grey levels per px).
        A group of close candidates none of which is that strong (and of ``polarity``) is not
        fitted at all; a group that holds one is fitted whole, weak neighbours included, so the
        edges returned are exactly those of ``min_strength=0`` that pass. A caller tracing one
        known edge along strips skips the fits of a textured surface's weak edges this way.

    Returns
    -------
    list of Edge
        Sorted by position; ``position_px`` counts from the first sample.
    """
    prof = np.asarray(profile, dtype=np.float64)
    if prof.ndim != 1 or prof.size < 5:
        raise SpecError(f"profile: expected a 1D array of at least 5 samples, got shape {prof.shape}")
    if not np.all(np.isfinite(prof)):
        raise SpecError("profile: expected finite grey levels, got NaN or inf")
    if not (sigma_px > 0 and spacing_px > 0):
        raise SpecError(f"find_edges: expected sigma_px > 0 and spacing_px > 0, got {sigma_px}, {spacing_px}")
    _check_choice(polarity, _POLARITIES, "polarity")
    _check_choice(select, _SELECTS, "select")
    _check_choice(method, ("erf", "parabolic"), "method")
    if blur_px is not None and not blur_px > 0:
        raise SpecError(f"blur_px: expected None or > 0, got {blur_px}")
    if not min_strength >= 0:
        raise SpecError(f"min_strength: expected >= 0, got {min_strength}")
    resp = _response(prof, sigma_px, spacing_px)
    thr = _auto_threshold(prof, sigma_px, spacing_px) if threshold is None else float(threshold)
    peaks = _peaks(resp, thr)
    x = np.arange(prof.size) * spacing_px
    edges: list[Edge] = []
    if method == "parabolic":
        for q, _, r in peaks:
            st = math.hypot(sigma_px, sigma_px)
            edges.append(
                Edge(q * spacing_px, abs(r), "dark_to_light" if r > 0 else "light_to_dark", float("nan"),
                     contrast=abs(r) * _SQRT2PI * st)
            )
    else:
        s0 = max(sigma_px, 0.5)
        margin = 3.0 * max(s0, blur_px or 0.0) + 2.0
        coarse = [(q * spacing_px, r) for q, _, r in peaks]
        i = 0
        while i < len(coarse):
            j = i
            while j + 1 < len(coarse) and coarse[j + 1][0] - coarse[j][0] < 2 * margin:
                j += 1
            if j - i >= _MAX_JOINT:  # a dense texture, not a bar: fit edges one by one between neighbours
                j = i
            cl = coarse[i : j + 1]
            if (min_strength > 0 or polarity != "any") and not any(_wanted(r, min_strength, polarity) for _, r in cl):
                i = j + 1  # none of this group would be returned: no fit
                continue
            lo_lim = coarse[i - 1][0] + 0.5 * s0 if i > 0 else x[0]
            hi_lim = coarse[j + 1][0] - 0.5 * s0 if j + 1 < len(coarse) else x[-1]
            m = margin
            joint: list[_EdgeFit] | None = None
            for _ in range(3):  # widen the window when the fitted blur is large
                lo = max(lo_lim, cl[0][0] - m)
                hi = min(hi_lim, cl[-1][0] + m)
                joint = _fit_cluster(prof, x, cl, lo, hi, s0, spacing_px, blur_px)
                if joint is None or 3.0 * joint[0][2] + 1.0 <= m:
                    break
                m = 3.0 * joint[0][2] + 2.0
            if joint is not None and _degenerate(joint, prof[(x >= lo) & (x <= hi)]):
                joint = None
            fit: Sequence[_EdgeFit | None] | None = joint
            if fit is None and len(cl) > 1:
                fit = _fit_strong_subset(prof, x, cl, lo_lim, hi_lim, margin, s0, spacing_px, blur_px)
            if fit is None and len(cl) > 1:  # joint fit failed (e.g. a noise peak beside an edge): one by one
                singles: list[_EdgeFit | None] = []
                for n_e, (q, r) in enumerate(cl):
                    lo = max(lo_lim, cl[n_e - 1][0] + 0.5 * s0 if n_e > 0 else q - margin, q - margin)
                    hi = min(hi_lim, cl[n_e + 1][0] - 0.5 * s0 if n_e + 1 < len(cl) else q + margin, q + margin)
                    one = _fit_cluster(prof, x, [(q, r)], lo, hi, s0, spacing_px, blur_px)
                    singles.append(None if one is None else one[0])
                fit = singles
            for n_e, (q, r) in enumerate(cl):
                pol = "dark_to_light" if r > 0 else "light_to_dark"
                fe = None if fit is None else fit[n_e]
                if fe is None:
                    edges.append(Edge(q, abs(r), pol, float("nan"), contrast=abs(r) * _SQRT2PI * s0 * _SQRT2))
                else:
                    pos, con, s, rms, std = fe
                    edges.append(Edge(pos, abs(r), pol, rms, contrast=con, sigma_px=s, uncertainty_px=std))
            i = j + 1
        edges.sort(key=lambda e: e.position_px)
    if polarity != "any":
        edges = [e for e in edges if e.polarity == polarity]
    if min_strength > 0:
        edges = [e for e in edges if e.strength >= min_strength]
    if not edges or select == "all":
        return edges
    if select == "first":
        return [edges[0]]
    if select == "last":
        return [edges[-1]]
    return [max(edges, key=lambda e: e.strength)]


def measure_caliper_edges(
    gray: np.ndarray,
    center_px: Sequence[float],
    angle_deg: float,
    length_px: float,
    width_px: float,
    *,
    sigma_px: float = 1.0,
    threshold: float | None = None,
    polarity: Polarity = "any",
    select: Select = "all",
    step_px: float = 0.25,
    blur_px: float | None = None,
    min_strength: float = 0.0,
) -> tuple[list[Edge], np.ndarray]:
    """Edges of one caliper, with their (x, y) px in ``gray``.

    :func:`caliper_profile` then :func:`find_edges` (options as there).

    Returns
    -------
    edges : list of Edge
        ``position_px`` is the signed distance from the caliper centre along its direction;
        ``uncertainty_px`` is the fit's standard deviation times 1.5, which corrects for the
        noise that bilinear interpolation hides from the residuals (calibrated in
        ``scripts/bench_measure.py``: RMS of error / uncertainty about 1).
    points_px : ndarray, shape (len(edges), 2)
        The edge positions as (x, y) px on the caliper's centre line.
    """
    s, prof = caliper_profile(gray, center_px, angle_deg, length_px, width_px, step_px=step_px)
    found = find_edges(prof, sigma_px=sigma_px, threshold=threshold, polarity=polarity, select=select,
                       spacing_px=step_px, blur_px=blur_px, min_strength=min_strength)
    a = math.radians(angle_deg)
    d = np.array([math.cos(a), math.sin(a)])
    # Bilinear samples average 2-4 pixels, so the residuals underestimate the pixel noise
    # (mean variance factor (2/3)^2 at random subpixel phase) while the low-frequency noise that
    # moves the edge is not reduced: scale the fit's standard deviation by 1.5.
    out = [Edge(e.position_px + s[0], e.strength, e.polarity, e.residual, e.contrast, e.sigma_px,
                _BILINEAR_NOISE_FACTOR * e.uncertainty_px) for e in found]
    t = np.array([e.position_px for e in out], dtype=np.float64).reshape(-1, 1)
    pts = np.asarray(center_px, dtype=np.float64).reshape(1, 2) + t * d
    return out, pts
