"""Dimensions in millimetres: subpixel calipers, fitted lines and circles, gauge R&R.

The measuring tools follow the measure handles of HALCON and Cognex's Caliper tool:

* A **caliper** is a rectangle laid across an edge. Its 1D **profile** runs along the
  long axis and is the mean grey level across the band (``width_px``), sampled bilinearly
  at subpixel positions (:func:`caliper_profile`).
* **Edges** are extrema of the Gaussian-derivative response of the profile (Canny 1986),
  located first by a parabola through the three samples at the peak (the usual baseline,
  ~0.1 px RMS), then **refined by least squares** of a blurred-step model
  ``I(x) = a + b erf((x - x0) / (sqrt(2) s))`` (the step response of a Gaussian optical
  system) on a window around the peak (:func:`find_edges`). Edges whose blur overlaps
  (narrow bars 2-6 px wide, close parallel edges) are fitted **jointly** with one shared
  ``s``: ``I(x) = a + sum_k b_k erf((x - x_k) / (sqrt(2) s))``, so a bar's width is not
  biased by the neighbouring edge (the Gaussian-derivative peaks of a bar narrower than
  about ``2 s`` sit at ``±s`` whatever the true width; see Canny 1986, §IV, and
  Ye, Fu & Poudel 2005 for the erf edge model).
* **Lines** and **circles** are fitted to many caliper edges (:func:`fit_line` with
  OpenCV's Huber M-estimator, :func:`fit_circle` with the algebraic Kåsa fit followed
  by a geometric least-squares fit with outlier rejection; Kåsa 1976, Chernov 2010).
* **Dimensions** of a spec (:class:`goldenvision.spec.DimensionSpec`) are placed in golden
  px, mapped into the unit image through the registration
  (:func:`goldenvision.transform.map_points_to_moving`) and measured **in unit px**; the
  result times ``scale_mm_per_px`` is mm (docs/DESIGN.md, "Frames and units").
* **Gauge R&R** (:func:`gauge_rr`) by the ANOVA method of the AIAG MSA manual, 4th ed.

Grey images
-----------
``gray`` is ``(H, W)`` uint8, uint16 or float (any range; grey levels are taken as given,
so thresholds and residuals are in the same units), or ``(H, W, 3)`` uint8/float RGB,
which is converted to luma ``Y' = 0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601, as
``cv2.COLOR_RGB2GRAY``). Pixel centres are at integer coordinates ``(x, y)``.

References
----------
.. [1] J. Canny, "A computational approach to edge detection", IEEE TPAMI 8(6), 1986.
       doi:10.1109/TPAMI.1986.4767851
.. [2] J. Ye, G. Fu, U. P. Poudel, "High-accuracy edge detection with Blurred Edge Model",
       Image and Vision Computing 23(5), 2005. doi:10.1016/j.imavis.2004.07.007
.. [3] I. Kåsa, "A circle fitting procedure and its error analysis", IEEE Trans. Instrum.
       Meas. IM-25(1), 1976. doi:10.1109/TIM.1976.6312298
.. [4] N. Chernov, "Circular and Linear Regression: Fitting Circles and Lines by Least
       Squares", CRC Press, 2010.
.. [5] AIAG, "Measurement Systems Analysis, Reference Manual", 4th ed., 2010, Chapter III,
       Section B (Average and Range method; Analysis of Variance method), and
       D. C. Montgomery, "Introduction to Statistical Quality Control", 7th ed., §8.7.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import cv2
import numpy as np
from scipy import ndimage
from scipy import stats
from scipy.optimize import least_squares
from scipy.special import erf
from scipy.stats import median_abs_deviation

from .errors import ImageError, MeasurementError, SpecError
from .results import DimensionResult, RegistrationResult, jsonable
from .spec import DimensionSpec
from .transform import local_scale, map_points_to_moving

__all__ = [
    "Edge",
    "LineFit",
    "CircleFit",
    "GaugeStudy",
    "caliper_profile",
    "find_edges",
    "measure_caliper_edges",
    "measure_line",
    "measure_circle",
    "fit_line",
    "fit_circle",
    "line_angle_deg",
    "point_line_distance",
    "line_line_distance",
    "measure_dimension",
    "measure_dimensions",
    "gauge_rr",
]

Polarity = Literal["any", "dark_to_light", "light_to_dark"]
Select = Literal["all", "first", "last", "strongest"]

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_BILINEAR_NOISE_FACTOR = 1.5
_MAX_JOINT = 4  # at most this many edges in one joint fit
_POLARITIES = ("any", "dark_to_light", "light_to_dark")
_SELECTS = ("all", "first", "last", "strongest")


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------
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


@dataclass(frozen=True, slots=True)
class GaugeStudy:
    """A gauge repeatability and reproducibility study (AIAG MSA 4th ed., ANOVA method).

    All spreads are one standard deviation in the unit of the measurements (mm). The
    study variation is ``6 sigma`` (AIAG MSA 4th ed.; the 3rd ed. used 5.15).

    Attributes
    ----------
    repeatability : float
        EV, equipment variation (within a part, operator/session and setup).
    reproducibility : float
        AV, appraiser (operator or session) variation, without the interaction.
    interaction : float
        Part x operator interaction (0 when pooled because it is not significant at
        alpha = 0.25, as the AIAG manual does).
    grr : float
        ``sqrt(EV^2 + AV^2 + INT^2)``.
    part_variation : float or None
        PV; None when a single part was measured.
    total_variation : float or None
        ``sqrt(GRR^2 + PV^2)``.
    pct_grr_tolerance : float or None
        ``100 * 6 GRR / tolerance width``; AIAG: < 10 % acceptable, 10-30 % may be
        acceptable, > 30 % unacceptable.
    pct_grr_total : float or None
        ``100 * GRR / TV``.
    ndc : int or None
        Number of distinct categories ``floor(1.41 PV / GRR)`` (>= 5 required).
    interaction_pooled : bool
    n_parts, n_operators, n_repeats : int
    """

    repeatability: float
    reproducibility: float
    interaction: float
    grr: float
    part_variation: float | None
    total_variation: float | None
    pct_grr_tolerance: float | None
    pct_grr_total: float | None
    ndc: int | None
    interaction_pooled: bool
    n_parts: int
    n_operators: int
    n_repeats: int
    tolerance_width: float | None = None

    @property
    def acceptability(self) -> str | None:
        """AIAG rule on %GRR of the tolerance: 'acceptable', 'marginal' or 'unacceptable'."""
        p = self.pct_grr_tolerance
        if p is None:
            return None
        return "acceptable" if p < 10 else ("marginal" if p <= 30 else "unacceptable")

    def min_tolerance_width(self, pct_grr: float = 10.0) -> float:
        """Smallest tolerance band (max - min, same unit) this gauge judges at ``pct_grr`` %."""
        return 6.0 * self.grr * 100.0 / pct_grr

    def to_dict(self) -> dict[str, Any]:
        d = {k: jsonable(getattr(self, k)) for k in self.__slots__}
        d["acceptability"] = self.acceptability
        d["min_tolerance_width_10pct"] = jsonable(self.min_tolerance_width(10.0))
        return d


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Edges
# --------------------------------------------------------------------------------------
def _response(profile: np.ndarray, sigma_px: float, spacing_px: float) -> np.ndarray:
    """Gaussian-derivative response in grey levels per px."""
    return ndimage.gaussian_filter1d(profile, sigma_px / spacing_px, order=1, mode="nearest") / spacing_px


#: 20th percentile of the half-normal distribution: |N(0, 1)| <= this with probability 0.2.
_HALFNORM_Q20 = float(stats.halfnorm.ppf(0.2))


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
    out = []
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


def _fit_cluster(
    profile: np.ndarray,
    x: np.ndarray,
    peaks: list[tuple[float, float]],
    lo: float,
    hi: float,
    s0: float,
    spacing_px: float,
    blur_px: float | None = None,
) -> list[tuple[float, float, float, float, float]] | None:
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

    def evaluate(p):  # least_squares asks for fun and jac at the same p: compute both once
        key = p.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = _model(full(p), xw, k)
        return cache[key]

    def fun(p):
        return evaluate(p)[0] - yw

    def jac(p):
        return evaluate(p)[1][:, :n_par]

    try:
        r = least_squares(fun, p0, jac=jac, method="lm", xtol=1e-10, ftol=1e-10, max_nfev=200)
    except (ValueError, np.linalg.LinAlgError):
        return None
    p = full(r.x)
    s = abs(p[-1])
    xk = p[1 + k : 1 + 2 * k]
    if not (np.all(np.isfinite(p)) and 0.05 < s < (hi - lo)) or np.any(xk < lo) or np.any(xk > hi):
        return None
    dof = max(1, xw.size - n_par)
    rss = float(r.fun @ r.fun)
    rms = math.sqrt(rss / xw.size)
    try:
        cov = np.linalg.inv(r.jac.T @ r.jac) * (rss / dof)
        # Oversampled, interpolated samples are correlated: about one independent sample per px.
        var = np.diag(cov)[1 + k : 1 + 2 * k] * max(1.0, 1.0 / spacing_px)
        std = np.sqrt(np.clip(var, 0, None))
    except np.linalg.LinAlgError:
        std = np.full(k, np.nan)
    bs = p[1 : 1 + k]
    return [(float(xk[i]), float(2 * abs(bs[i])), float(s), rms, float(std[i])) for i in range(k)]


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
            lo_lim = coarse[i - 1][0] + 0.5 * s0 if i > 0 else x[0]
            hi_lim = coarse[j + 1][0] - 0.5 * s0 if j + 1 < len(coarse) else x[-1]
            m = margin
            fit = None
            for _ in range(3):  # widen the window when the fitted blur is large
                lo = max(lo_lim, cl[0][0] - m)
                hi = min(hi_lim, cl[-1][0] + m)
                fit = _fit_cluster(prof, x, cl, lo, hi, s0, spacing_px, blur_px)
                if fit is None or 3.0 * fit[0][2] + 1.0 <= m:
                    break
                m = 3.0 * fit[0][2] + 2.0
            if fit is None and len(cl) > 1:  # joint fit failed (e.g. a noise peak beside an edge): one by one
                fit = []
                for n_e, (q, r) in enumerate(cl):
                    lo = max(lo_lim, cl[n_e - 1][0] + 0.5 * s0 if n_e > 0 else q - margin, q - margin)
                    hi = min(hi_lim, cl[n_e + 1][0] - 0.5 * s0 if n_e + 1 < len(cl) else q + margin, q + margin)
                    one = _fit_cluster(prof, x, [(q, r)], lo, hi, s0, spacing_px, blur_px)
                    fit.append(None if one is None else one[0])
            for n_e, (q, r) in enumerate(cl):
                pol = "dark_to_light" if r > 0 else "light_to_dark"
                if fit is None or fit[n_e] is None:
                    edges.append(Edge(q, abs(r), pol, float("nan"), contrast=abs(r) * _SQRT2PI * s0 * _SQRT2))
                else:
                    pos, con, s, rms, std = fit[n_e]
                    edges.append(Edge(pos, abs(r), pol, rms, contrast=con, sigma_px=s, uncertainty_px=std))
            i = j + 1
        edges.sort(key=lambda e: e.position_px)
    if polarity != "any":
        edges = [e for e in edges if e.polarity == polarity]
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
                       spacing_px=step_px, blur_px=blur_px)
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


# --------------------------------------------------------------------------------------
# Lines
# --------------------------------------------------------------------------------------
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
    mad = float(median_abs_deviation(res, scale="normal"))
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


# --------------------------------------------------------------------------------------
# Circles
# --------------------------------------------------------------------------------------
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
        mad = float(median_abs_deviation(res[inl], scale="normal"))
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
        thr = _threshold_from_noise(_profile_noise(prof, step_px), prof, sigma_px, step_px)
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


# --------------------------------------------------------------------------------------
# Dimensions of a spec
# --------------------------------------------------------------------------------------
#: Edges weaker than this fraction of the strongest in a caliper are ignored for dimensions.
RELATIVE_THRESHOLD = 0.25
#: For `distance`, the third strongest edge must be weaker than this fraction of the second.
AMBIGUITY_RATIO = 0.8


def _edge_std(e: Edge) -> float:
    return e.uncertainty_px if np.isfinite(e.uncertainty_px) else 0.1


def measure_dimension(
    gray: np.ndarray,
    dim: DimensionSpec,
    registration: RegistrationResult,
    scale_mm_per_px: float,
    *,
    sigma_px: float = 1.0,
) -> DimensionResult:
    """Measure one spec dimension in the unit image.

    The feature is placed in golden px by the spec and mapped into unit px with
    :func:`goldenvision.transform.map_points_to_moving` (caliper end points and centre;
    the band width scaled by :func:`goldenvision.transform.local_scale` of the inverse
    homography). The size is measured in unit px and multiplied by ``scale_mm_per_px``.

    * ``width``: from the first edge (of ``dim.polarity``, if given) to the last edge of
      the opposite polarity along the caliper (a bar or strap seen across).
    * ``distance``: between the two strongest edges (the first of ``dim.polarity`` if
      given); ambiguous (error) when a third edge is at least 80 % as strong as the second.
    * ``diameter``: twice the radius of :func:`measure_circle`; ``dim.polarity`` is read
      along the outward radius (a dark hole in a light part is "dark_to_light"). The
      radius and search band are scaled by the registration's local (area) scale.

    Edges weaker than 25 % of the caliper's strongest are ignored.

    Parameters
    ----------
    gray : ndarray, shape (H, W) or (H, W, 3)
        The unit image in unit px (see the module notes for dtypes).
    dim : DimensionSpec
    registration : RegistrationResult
        unit px -> golden px.
    scale_mm_per_px : float
        mm per unit px (> 0).
    sigma_px : float, keyword-only
        Gaussian-derivative scale of the edge detector, px.

    Returns
    -------
    DimensionResult
        ``uncertainty_mm`` is one standard deviation from the edge fits' residuals
        (combined in quadrature; for diameters, twice the radius' standard deviation).
        ``edges_unit_px`` are the edge points used, (x, y) unit px.

    Raises
    ------
    MeasurementError
        The message starts with the dimension's name: caliper off the image, no edge, no
        edge pair, ambiguous edges.
    """
    if not (scale_mm_per_px > 0 and math.isfinite(scale_mm_per_px)):
        raise SpecError(f"scale_mm_per_px: expected a finite number > 0, got {scale_mm_per_px}")
    g = _check_gray(gray)
    try:
        size_px, unc_px, pts = _measure_px(g, dim, registration, sigma_px)
    except MeasurementError as exc:
        msg = str(exc)
        raise MeasurementError(msg if msg.startswith(f"{dim.name}:") else f"{dim.name}: {msg}") from None
    return DimensionResult(
        name=dim.name,
        measured_mm=float(size_px * scale_mm_per_px),
        nominal_mm=float(dim.nominal_mm),
        tol_minus_mm=dim.tol_minus_mm,
        tol_plus_mm=dim.tol_plus_mm,
        severity=dim.severity,
        uncertainty_mm=float(unc_px * scale_mm_per_px),
        edges_unit_px=tuple((float(x), float(y)) for x, y in pts),
    )


def _measure_px(g: np.ndarray, dim: DimensionSpec, reg: RegistrationResult, sigma_px: float):
    hinv = np.linalg.inv(reg.homography)
    if dim.measure == "diameter":
        circ = dim.circle
        cg = np.array(circ.center, dtype=np.float64)
        cu = map_points_to_moving(cg[None], reg)[0]
        sc = math.sqrt(local_scale(hinv, cg, np.array([1.0, 0.0])) * local_scale(hinv, cg, np.array([0.0, 1.0])))
        pol = dim.polarity
        fit = measure_circle(g, cu, circ.radius_px * sc, min(circ.search_px * sc, 0.9 * circ.radius_px * sc),
                             sigma_px=sigma_px, polarity=pol)
        if fit.inliers.sum() < 0.5 * len(fit.inliers):
            raise MeasurementError(
                f"circle fit kept only {int(fit.inliers.sum())} of {len(fit.inliers)} edge points (no clear circle)"
            )
        return 2.0 * fit.radius_px, 2.0 * fit.radius_uncertainty_px, [fit.center_px]
    cal = dim.caliper
    a = math.radians(cal.angle_deg)
    d = np.array([math.cos(a), math.sin(a)])
    cg = np.array(cal.center, dtype=np.float64)
    ends = map_points_to_moving(np.vstack([cg - 0.5 * cal.length_px * d, cg, cg + 0.5 * cal.length_px * d]), reg)
    du = ends[2] - ends[0]
    length_u = float(np.hypot(*du))
    du = du / length_u
    # centre on the straight unit-px segment nearest the mapped centre (they differ only under flow)
    cu = ends[0] + float(np.dot(ends[1] - ends[0], du)) * du
    width_u = cal.width_px * local_scale(hinv, cg, np.array([-d[1], d[0]]))
    angle_u = math.degrees(math.atan2(du[1], du[0]))
    edges, pts = measure_caliper_edges(g, cu, angle_u, length_u, max(1.0, width_u), sigma_px=sigma_px)
    if edges:
        top = max(e.strength for e in edges)
        keep = [i for i, e in enumerate(edges) if e.strength >= RELATIVE_THRESHOLD * top]
        edges = [edges[i] for i in keep]
        pts = pts[keep]
    if not edges:
        raise MeasurementError("no edge found along the caliper (flat or featureless profile)")
    if dim.measure == "width":
        first = next((i for i, e in enumerate(edges) if dim.polarity == "any" or e.polarity == dim.polarity), None)
        if first is None:
            raise MeasurementError(f"no {dim.polarity} edge along the caliper")
        opp = "light_to_dark" if edges[first].polarity == "dark_to_light" else "dark_to_light"
        last = next((i for i in range(len(edges) - 1, first, -1) if edges[i].polarity == opp), None)
        if last is None:
            raise MeasurementError(
                f"no {opp} edge after the first {edges[first].polarity} edge at "
                f"{edges[first].position_px:+.1f} px: the caliper does not span both sides"
            )
        i, j = first, last
    else:  # distance
        order = sorted(range(len(edges)), key=lambda k: -edges[k].strength)
        if dim.polarity != "any":
            cand = [k for k in order if edges[k].polarity == dim.polarity]
            if not cand:
                raise MeasurementError(f"no {dim.polarity} edge along the caliper")
            i = cand[0]
            rest = [k for k in order if k != i]
        else:
            i, rest = order[0], order[1:]
        if not rest:
            raise MeasurementError("only one edge found along the caliper, need two for a distance")
        j = rest[0]
        if len(rest) > 1 and edges[rest[1]].strength >= AMBIGUITY_RATIO * edges[j].strength:
            raise MeasurementError(
                f"ambiguous edges: the second and third strongest ({edges[j].strength:.3g} and "
                f"{edges[rest[1]].strength:.3g} grey/px) are too alike"
            )
    size = abs(edges[j].position_px - edges[i].position_px)
    unc = math.hypot(_edge_std(edges[i]), _edge_std(edges[j]))
    return size, unc, [pts[min(i, j)], pts[max(i, j)]]


def measure_dimensions(
    gray: np.ndarray,
    dims: Sequence[DimensionSpec],
    registration: RegistrationResult,
    scale_mm_per_px: float,
    *,
    sigma_px: float = 1.0,
) -> list[DimensionResult | MeasurementError]:
    """Measure every dimension; a feature that cannot be measured yields its MeasurementError.

    The grey conversion (for RGB input) is done once. Bad input for the whole call (image,
    scale) still raises.
    """
    g = _check_gray(gray)
    if not (scale_mm_per_px > 0 and math.isfinite(scale_mm_per_px)):
        raise SpecError(f"scale_mm_per_px: expected a finite number > 0, got {scale_mm_per_px}")
    out: list[DimensionResult | MeasurementError] = []
    for dim in dims:
        try:
            out.append(measure_dimension(g, dim, registration, scale_mm_per_px, sigma_px=sigma_px))
        except MeasurementError as exc:
            out.append(exc)
    return out


# --------------------------------------------------------------------------------------
# Gauge R&R
# --------------------------------------------------------------------------------------
def gauge_rr(
    measurements_mm: np.ndarray,
    tolerance_width_mm: float | None = None,
    *,
    alpha_interaction: float = 0.25,
) -> GaugeStudy:
    """Gauge repeatability and reproducibility by two-way crossed ANOVA (AIAG MSA 4th ed.).

    Parameters
    ----------
    measurements_mm : ndarray
        Shape ``(n_parts, n_operators, n_repeats)``: every part measured ``n_repeats``
        times by every operator (or in every session/station); or ``(n_repeats,)``: one
        part measured repeatedly (repeatability only). Other shapes are refused (a 2D
        array could be either parts x repeats or operators x repeats).
    tolerance_width_mm : float or None
        Upper minus lower specification limit (e.g. 1.0 for ±0.5 mm).
    alpha_interaction : float, keyword-only
        The part x operator interaction is pooled into the error when its F test's
        p-value exceeds this (AIAG uses 0.25).

    Returns
    -------
    GaugeStudy

    Notes
    -----
    With ``p`` parts, ``o`` operators and ``r`` repeats, the expected mean squares of the
    random-effects model give (AIAG MSA 4th ed., Ch. III, Sec. B; Montgomery §8.7)::

        EV^2  = MS_E
        INT^2 = (MS_PO - MS_E) / r
        AV^2  = (MS_O - MS_PO) / (p r)
        PV^2  = (MS_P - MS_PO) / (o r)

    negative estimates set to 0; when the interaction is pooled, ``MS_E`` becomes
    ``(SS_PO + SS_E) / (df_PO + df_E)`` and it replaces ``MS_PO`` above.
    ``%GRR = 100 * 6 GRR / tolerance``, ``ndc = floor(1.41 PV / GRR)``.
    """
    y = np.asarray(measurements_mm, dtype=np.float64)
    if not np.all(np.isfinite(y)):
        raise SpecError("measurements_mm: expected finite numbers, got NaN or inf")
    if tolerance_width_mm is not None and not tolerance_width_mm > 0:
        raise SpecError(f"tolerance_width_mm: expected > 0, got {tolerance_width_mm}")
    if y.ndim == 1:
        if y.size < 2:
            raise SpecError(f"measurements_mm: expected at least 2 repeats, got {y.size}")
        ev = float(np.std(y, ddof=1))
        return GaugeStudy(
            ev, 0.0, 0.0, ev, None, None,
            None if tolerance_width_mm is None else 100.0 * 6.0 * ev / tolerance_width_mm,
            None, None, False, 1, 1, int(y.size), tolerance_width_mm,
        )
    if y.ndim != 3:
        raise SpecError(
            f"measurements_mm: expected shape (n_parts, n_operators, n_repeats) or (n_repeats,), got {y.shape}"
        )
    p, o, r = y.shape
    if r < 2 or p * o < 1:
        raise SpecError(f"measurements_mm: expected n_repeats >= 2 to separate repeatability, got shape {y.shape}")
    grand = y.mean()
    yi = y.mean(axis=(1, 2))
    yj = y.mean(axis=(0, 2))
    yij = y.mean(axis=2)
    ss_p = o * r * float(((yi - grand) ** 2).sum())
    ss_o = p * r * float(((yj - grand) ** 2).sum())
    ss_po = r * float(((yij - yi[:, None] - yj[None, :] + grand) ** 2).sum())
    ss_e = float(((y - yij[:, :, None]) ** 2).sum())
    df_p, df_o, df_po, df_e = p - 1, o - 1, (p - 1) * (o - 1), p * o * (r - 1)
    ms_e = ss_e / df_e
    pooled = True
    ms_int = ms_e
    var_int = 0.0
    if df_po > 0:
        ms_po = ss_po / df_po
        f = ms_po / ms_e if ms_e > 0 else (math.inf if ms_po > 0 else 0.0)
        pval = float(stats.f.sf(f, df_po, df_e)) if math.isfinite(f) else 0.0
        if pval <= alpha_interaction:
            pooled = False
            ms_int = ms_po
            var_int = max(0.0, (ms_po - ms_e) / r)
        else:
            ms_e = (ss_po + ss_e) / (df_po + df_e)
            ms_int = ms_e
    var_e = ms_e
    var_o = max(0.0, (ss_o / df_o - ms_int) / (p * r)) if df_o > 0 else 0.0
    var_p = max(0.0, (ss_p / df_p - ms_int) / (o * r)) if df_p > 0 else None
    ev, av, inter = math.sqrt(var_e), math.sqrt(var_o), math.sqrt(var_int)
    grr = math.sqrt(var_e + var_o + var_int)
    pv = None if var_p is None else math.sqrt(var_p)
    tv = None if pv is None else math.hypot(grr, pv)
    pct_tol = None if tolerance_width_mm is None else 100.0 * 6.0 * grr / tolerance_width_mm
    pct_tv = None if tv is None or tv == 0 else 100.0 * grr / tv
    ndc = None if pv is None else (int(math.floor(1.41 * pv / grr)) if grr > 0 else None)
    return GaugeStudy(ev, av, inter, grr, pv, tv, pct_tol, pct_tv, ndc, pooled and df_po > 0, p, o, r,
                      tolerance_width_mm)
