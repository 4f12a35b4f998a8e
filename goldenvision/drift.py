"""Statistical process control (SPC) of unit metrics: drift caught while units still pass.

Pure functions over arrays at the bottom, a thin layer over the results store on top
(:func:`detect_drift`, which reads ``store.results()`` dicts; it never writes).

Charts
------
* Shewhart individuals and moving range (:func:`phase1_individuals`, :func:`individuals_chart`),
  X̄-R and X̄-S over rational subgroups (:func:`xbar_r_chart`, :func:`xbar_s_chart`), with the
  control-chart constants d2, d3 and c4 computed from the normal distribution
  (:func:`d2`, :func:`d3`, :func:`c4`; Montgomery 2013, Appendix VI).
* EWMA (:func:`ewma_chart`) and two-sided tabular CUSUM (:func:`cusum_chart`), with their
  average run lengths (ARL) computed by Markov chains (:func:`ewma_arl`, :func:`cusum_arl`;
  Brook & Evans 1972, Lucas & Saccucci 1990) and by simulation (:func:`simulate_run_lengths`),
  and designed to a wanted in-control ARL (:func:`ewma_limit_for_arl0`, :func:`cusum_h_for_arl0`).
* The Western Electric (1956) and Nelson (1984) run rules (:func:`rule_violations`).
* Process capability Cp, Cpk, Pp, Ppk (:func:`capability`).
* Change-point estimates (:func:`cusum_change_point`, :func:`likelihood_change_point`), the
  direction of a shift in words (:func:`direction_words`) and a two-sample material-batch
  comparison with an effect size in the metric's units (:func:`compare_batches`).

Phase I / Phase II: limits (centre and sigma) are estimated from a baseline of in-control
units (:func:`phase1_individuals`), then the later units are monitored against them.

References
----------
* Montgomery, D. C. (2013). *Introduction to Statistical Quality Control*, 7th ed., Wiley.
* Western Electric (1956). *Statistical Quality Control Handbook*.
* Nelson, L. S. (1984). The Shewhart control chart - tests for special causes.
  *J. Quality Technology* 16(4), 237-239.
* Brook, D. & Evans, D. A. (1972). An approach to the probability distribution of CUSUM run
  length. *Biometrika* 59(3), 539-549. doi:10.1093/biomet/59.3.539
* Lucas, J. M. & Crosier, R. B. (1982). Fast initial response for CUSUM quality-control
  schemes. *Technometrics* 24(3), 199-205. doi:10.1080/00401706.1982.10487759
* Lucas, J. M. & Saccucci, M. S. (1990). Exponentially weighted moving average control
  schemes: properties and enhancements. *Technometrics* 32(1), 1-12. doi:10.1080/00401706.1990.10484583
* Champ, C. W. & Woodall, W. H. (1987). Exact results for Shewhart control charts with
  supplementary runs rules. *Technometrics* 29(4), 393-399. doi:10.1080/00401706.1987.10488266
* Hodges, J. L. & Lehmann, E. L. (1963). Estimates of location based on rank tests.
  *Ann. Math. Statist.* 34(2), 598-611. doi:10.1214/aoms/1177704172
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import optimize, signal, special, stats

from .errors import GoldenVisionError

__all__ = [
    "DriftError",
    "d2", "d3", "c4",
    "Limits", "phase1_individuals",
    "IndividualsChart", "individuals_chart",
    "SubgroupChart", "xbar_r_chart", "xbar_s_chart",
    "ewma_statistic", "EwmaChart", "ewma_chart", "ewma_arl", "ewma_limit_for_arl0",
    "cusum_statistic", "CusumChart", "cusum_chart", "cusum_arl", "cusum_h_for_arl0",
    "simulate_run_lengths",
    "RULE_SETS", "RuleViolation", "rule_violations",
    "Capability", "capability",
    "cusum_change_point", "likelihood_change_point",
    "metric_label", "metric_unit", "direction_words",
    "BatchComparison", "compare_batches",
    "SeriesDesign", "SeriesAlarm", "monitor_series",
    "Alarm", "SeriesReport", "DriftReport", "detect_drift",
]


class DriftError(GoldenVisionError, ValueError):
    """An SPC input is invalid (too few points, zero spread, an unknown rule set or chart)."""


def _as_1d(x: Any, name: str, *, min_len: int = 1) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise DriftError(f"{name}: expected a 1-D array of values, got shape {a.shape}")
    if a.size < min_len:
        raise DriftError(f"{name}: expected at least {min_len} values, got {a.size}")
    if not np.all(np.isfinite(a)):
        raise DriftError(f"{name}: expected finite values, got {int((~np.isfinite(a)).sum())} NaN/inf")
    return a


# --------------------------------------------------------------------------------------
# Control-chart constants
# --------------------------------------------------------------------------------------

_GRID = np.linspace(-9.0, 9.0, 3601)


@lru_cache(maxsize=64)
def d2(n: int) -> float:
    """Mean of the relative range W = R/σ of ``n`` normal observations.

    ``d2(n) = ∫ 1 − Φ(x)^n − (1 − Φ(x))^n dx`` (Montgomery 2013, Appendix VI; e.g.
    d2(2) = 1.128, d2(5) = 2.326), by quadrature on a 0.005 σ grid.
    """
    if int(n) != n or n < 2:
        raise DriftError(f"d2: expected a subgroup size n >= 2, got {n!r}")
    p = stats.norm.cdf(_GRID)
    return float(np.trapezoid(1.0 - p**n - (1.0 - p) ** n, _GRID))


@lru_cache(maxsize=64)
def d3(n: int) -> float:
    """Standard deviation of the relative range W = R/σ of ``n`` normal observations.

    ``E[W²] = 2 ∬_{x<y} 1 − Φ(y)^n − (1 − Φ(x))^n + (Φ(y) − Φ(x))^n dx dy`` and
    ``d3 = sqrt(E[W²] − d2²)`` (Tippett 1925; Montgomery 2013, Appendix VI: d3(2) = 0.853,
    d3(5) = 0.864).
    """
    if int(n) != n or n < 2:
        raise DriftError(f"d3: expected a subgroup size n >= 2, got {n!r}")
    g = np.linspace(-8.0, 8.0, 1601)
    p = stats.norm.cdf(g)
    px, py = p[:, None], p[None, :]
    f = 1.0 - py**n - (1.0 - px) ** n + np.clip(py - px, 0.0, None) ** n
    # integrate over the triangle x < y; the diagonal gets half weight (trapezoid rule)
    f = f * np.where(g[None, :] > g[:, None], 1.0, 0.0) + np.diag(np.diag(f)) * 0.5
    ew2 = 2.0 * np.trapezoid(np.trapezoid(f, g, axis=1), g)
    return float(math.sqrt(max(ew2 - d2(n) ** 2, 0.0)))


def c4(n: int) -> float:
    """Bias of the sample standard deviation: ``E[s] = c4 σ``,
    ``c4 = sqrt(2/(n−1)) Γ(n/2) / Γ((n−1)/2)`` (Montgomery 2013, eq. 6.28; c4(5) = 0.9400)."""
    if int(n) != n or n < 2:
        raise DriftError(f"c4: expected a subgroup size n >= 2, got {n!r}")
    return float(math.sqrt(2.0 / (n - 1)) * math.exp(math.lgamma(n / 2) - math.lgamma((n - 1) / 2)))


# --------------------------------------------------------------------------------------
# Shewhart charts
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Limits:
    """Phase I estimates of an in-control process: centre and short-term sigma (metric units).

    ``excluded`` are baseline indices dropped as out of control while estimating.
    """

    center: float
    sigma: float
    n: int
    excluded: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"center": self.center, "sigma": self.sigma, "n": self.n, "excluded": list(self.excluded)}


def phase1_individuals(baseline: Any, *, L: float = 3.0, max_iter: int = 0) -> Limits:
    """Phase I limits of an individuals chart from a baseline.

    The centre is the mean and sigma the average moving range over d2(2) = 1.128
    (Montgomery 2013, §6.4, eq. 6.33). With ``max_iter > 0``, points beyond
    ``center ± L sigma`` are dropped and the estimate repeated (at most ``max_iter`` times),
    the manual Phase I practice; off by default, because on in-control data it trims the
    tails and biases sigma low (more false alarms in Phase II), and
    :func:`guaranteed_design` assumes untrimmed estimates.

    Parameters
    ----------
    baseline : array_like, shape (n,), float
        In-control values in time order (metric units), n >= 8.

    Raises
    ------
    DriftError
        Fewer than 8 values, or no spread (sigma 0).
    """
    x = _as_1d(baseline, "baseline", min_len=8)
    keep = np.ones(x.size, dtype=bool)
    for it in range(max_iter + 1):
        xs = x[keep]
        sigma = float(np.mean(np.abs(np.diff(xs)))) / d2(2)
        center = float(xs.mean())
        if sigma <= 0.0:
            raise DriftError(f"baseline: expected some spread, all {xs.size} kept values equal {center!r}")
        if it == max_iter:
            break
        out = keep & (np.abs(x - center) > L * sigma)
        if not out.any() or keep.sum() - out.sum() < 8:
            break
        keep &= ~out
    return Limits(center, sigma, int(keep.sum()), tuple(int(i) for i in np.flatnonzero(~keep)))


@dataclass(frozen=True, slots=True)
class IndividualsChart:
    """Individuals (X) and moving-range (MR) chart. Arrays are (n,) in metric units; ``mr[0]`` is NaN."""

    x: np.ndarray
    mr: np.ndarray
    center: float
    sigma: float
    ucl: float
    lcl: float
    mr_center: float
    mr_ucl: float
    beyond: np.ndarray  # int indices of points beyond the X limits


def individuals_chart(x: Any, *, center: float, sigma: float, L: float = 3.0) -> IndividualsChart:
    """Individuals and moving-range chart against given (Phase I) limits.

    X limits are ``center ± L sigma``; the MR chart has centre ``d2(2) sigma`` and upper limit
    ``(d2(2) + L d3(2)) sigma`` (= 3.267 MR̄ for L = 3; Montgomery 2013, eq. 6.32).
    """
    a = _as_1d(x, "x")
    if not sigma > 0:
        raise DriftError(f"sigma: expected > 0, got {sigma!r}")
    mr = np.concatenate([[np.nan], np.abs(np.diff(a))])
    ucl, lcl = center + L * sigma, center - L * sigma
    beyond = np.flatnonzero((a > ucl) | (a < lcl))
    return IndividualsChart(a, mr, float(center), float(sigma), ucl, lcl, d2(2) * sigma,
                            (d2(2) + L * d3(2)) * sigma, beyond)


@dataclass(frozen=True, slots=True)
class SubgroupChart:
    """X̄ chart with an R or S chart over m subgroups of size n (arrays (m,), metric units)."""

    kind: str  # "xbar-r" | "xbar-s"
    xbar: np.ndarray
    spread: np.ndarray  # ranges or standard deviations
    center: float
    sigma: float  # estimated process sigma (R̄/d2 or S̄/c4)
    ucl: float
    lcl: float
    spread_center: float
    spread_ucl: float
    spread_lcl: float
    beyond: np.ndarray  # int indices of subgroups whose mean or spread is beyond its limits


def _subgroups(subgroups: Any) -> np.ndarray:
    g = np.asarray(subgroups, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] < 2 or g.shape[1] < 2:
        raise DriftError(f"subgroups: expected shape (m >= 2 subgroups, n >= 2 units), got {g.shape}")
    if not np.all(np.isfinite(g)):
        raise DriftError("subgroups: expected finite values")
    return g


def xbar_r_chart(subgroups: Any, *, L: float = 3.0) -> SubgroupChart:
    """X̄-R chart (Montgomery 2013, §6.2): sigma = R̄/d2(n); X̄ limits ``x̿ ± L sigma/√n``
    (A2 = 3/(d2 √n) for L = 3); R limits ``R̄ (1 ± L d3/d2)`` (D3, D4), the lower one clipped at 0.

    Parameters
    ----------
    subgroups : array_like, shape (m, n), float
        m rational subgroups of n consecutive units each (metric units).
    """
    g = _subgroups(subgroups)
    n = g.shape[1]
    xbar, r = g.mean(axis=1), np.ptp(g, axis=1)
    rbar = float(r.mean())
    sigma = rbar / d2(n)
    center = float(xbar.mean())
    half = L * sigma / math.sqrt(n)
    r_ucl, r_lcl = rbar * (1 + L * d3(n) / d2(n)), max(0.0, rbar * (1 - L * d3(n) / d2(n)))
    beyond = np.flatnonzero((np.abs(xbar - center) > half) | (r > r_ucl) | (r < r_lcl))
    return SubgroupChart("xbar-r", xbar, r, center, sigma, center + half, center - half, rbar, r_ucl, r_lcl, beyond)


def xbar_s_chart(subgroups: Any, *, L: float = 3.0) -> SubgroupChart:
    """X̄-S chart (Montgomery 2013, §6.3): sigma = S̄/c4(n); X̄ limits ``x̿ ± L sigma/√n`` (A3);
    S limits ``S̄ (1 ± L sqrt(1 − c4²)/c4)`` (B3, B4), the lower one clipped at 0.

    Parameters
    ----------
    subgroups : array_like, shape (m, n), float
    """
    g = _subgroups(subgroups)
    n = g.shape[1]
    xbar, s = g.mean(axis=1), g.std(axis=1, ddof=1)
    sbar = float(s.mean())
    sigma = sbar / c4(n)
    center = float(xbar.mean())
    half = L * sigma / math.sqrt(n)
    k = L * math.sqrt(1 - c4(n) ** 2) / c4(n)
    s_ucl, s_lcl = sbar * (1 + k), max(0.0, sbar * (1 - k))
    beyond = np.flatnonzero((np.abs(xbar - center) > half) | (s > s_ucl) | (s < s_lcl))
    return SubgroupChart("xbar-s", xbar, s, center, sigma, center + half, center - half, sbar, s_ucl, s_lcl, beyond)


# --------------------------------------------------------------------------------------
# EWMA
# --------------------------------------------------------------------------------------

def ewma_statistic(z: Any, *, lam: float, start: Any = 0.0) -> np.ndarray:
    """EWMA ``w_t = lam z_t + (1 − lam) w_{t−1}`` along the last axis, ``w_0 = start``.

    Parameters
    ----------
    z : array_like, shape (..., T), float
        Standardised values ``(x − center)/sigma`` (or raw values with ``start`` the centre).
    lam : float
        Weight of the newest value, 0 < lam <= 1.
    start : float or array_like, shape (...)
        The statistic before the first value (one per leading index).
    """
    if not 0.0 < lam <= 1.0:
        raise DriftError(f"lam: expected 0 < lam <= 1, got {lam!r}")
    a = np.asarray(z, dtype=np.float64)
    zi = (1.0 - lam) * np.asarray(start, dtype=np.float64)[..., None] * np.ones(a.shape[:-1] + (1,))
    out, _ = signal.lfilter([lam], [1.0, -(1.0 - lam)], a, axis=-1, zi=zi)
    return out


@dataclass(frozen=True, slots=True)
class EwmaChart:
    """EWMA chart in metric units: statistic, limits per point, first alarm index (or None)."""

    statistic: np.ndarray
    center: float
    ucl: np.ndarray
    lcl: np.ndarray
    lam: float
    L: float
    first_alarm: int | None
    side: int  # +1 above the UCL, -1 below the LCL, 0 no alarm


def ewma_chart(x: Any, *, center: float, sigma: float, lam: float = 0.1, L: float = 2.814,
               limits: str = "exact") -> EwmaChart:
    """EWMA control chart (Roberts 1959; Montgomery 2013, §9.2).

    Limits are ``center ± L sigma sqrt(lam/(2 − lam) (1 − (1 − lam)^(2t)))``
    (``limits="exact"``, narrower for the first points) or the asymptotic
    ``center ± L sigma sqrt(lam/(2 − lam))`` (``limits="asymptotic"``).

    ARL design (Lucas & Saccucci 1990, Table 3; Montgomery 2013, Table 9.11), asymptotic
    limits, the statistic started at the centre: in-control ARL0 ≈ 500 for (lam, L) =
    (0.05, 2.615), (0.10, 2.814), (0.20, 2.962), (0.40, 3.054), (0.50, 3.071); small lam
    finds small sustained shifts and slow drifts sooner. :func:`ewma_arl` computes the ARL of
    any design, :func:`ewma_limit_for_arl0` the L for a wanted ARL0. The default (0.1, 2.814)
    has ARL0 ≈ 500 and ARL ≈ 10.3 at a 1 sigma shift.

    Parameters
    ----------
    x : array_like, shape (n,), float
        Values in time order (metric units).
    center, sigma : float
        Phase I centre and sigma.
    """
    a = _as_1d(x, "x")
    if not sigma > 0:
        raise DriftError(f"sigma: expected > 0, got {sigma!r}")
    if limits not in ("exact", "asymptotic"):
        raise DriftError(f"limits: expected 'exact' or 'asymptotic', got {limits!r}")
    w = ewma_statistic((a - center) / sigma, lam=lam)
    t = np.arange(1, a.size + 1)
    width = math.sqrt(lam / (2.0 - lam)) * (np.ones(a.size) if limits == "asymptotic"
                                            else np.sqrt(1.0 - (1.0 - lam) ** (2 * t)))
    over = np.flatnonzero(np.abs(w) > L * width)
    first = int(over[0]) if over.size else None
    side = 0 if first is None else int(np.sign(w[first]))
    return EwmaChart(center + sigma * w, float(center), center + L * sigma * width, center - L * sigma * width,
                     float(lam), float(L), first, side)


@lru_cache(maxsize=512)
def ewma_arl(lam: float, L: float, shift_sigma: float = 0.0, *, states: int = 301, scale: float = 1.0) -> float:
    """ARL of a two-sided EWMA chart with asymptotic limits, by the Markov chain of
    Lucas & Saccucci (1990) (after Brook & Evans 1972).

    The in-control interval of the standardised statistic, ``±L sqrt(lam/(2 − lam))``, is cut
    into ``states`` cells; ARL = ``(I − Q)^-1 1`` from the centre cell, the observations being
    N(shift_sigma, scale²) in sigma units (``scale`` != 1 models a misestimated sigma).
    (0.5, 3.071) gives 500 (Lucas & Saccucci 1990, Table 3).
    """
    h = L * math.sqrt(lam / (2.0 - lam))
    w = 2.0 * h / states
    c = -h + w * (np.arange(states) + 0.5)
    lo = (c[None, :] - w / 2 - (1 - lam) * c[:, None]) / lam
    hi = (c[None, :] + w / 2 - (1 - lam) * c[:, None]) / lam
    q = stats.norm.cdf((hi - shift_sigma) / scale) - stats.norm.cdf((lo - shift_sigma) / scale)
    arl = np.linalg.solve(np.eye(states) - q, np.ones(states))
    return float(arl[states // 2])


def ewma_limit_for_arl0(arl0: float, lam: float) -> float:
    """The L of a two-sided EWMA (asymptotic limits) whose in-control ARL is ``arl0``."""
    if not arl0 > 1:
        raise DriftError(f"arl0: expected > 1, got {arl0!r}")
    return float(optimize.brentq(lambda L: ewma_arl(lam, L, states=151) - arl0, 0.5, 6.0, xtol=1e-4))


# --------------------------------------------------------------------------------------
# CUSUM
# --------------------------------------------------------------------------------------

def cusum_statistic(z: Any, *, k: float, start: tuple[Any, Any] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided tabular CUSUM along the last axis (Page 1954; Montgomery 2013, eq. 9.2-9.3).

    ``C+_t = max(0, z_t − k + C+_{t−1})``, ``C−_t = max(0, −z_t − k + C−_{t−1})``.

    Parameters
    ----------
    z : array_like, shape (..., T), float
        Standardised values ``(x − center)/sigma``.
    k : float
        Reference value in sigma (half the shift to detect fastest).
    start : (C+_0, C−_0)
        Starting sums (0 without a head start), scalars or arrays of shape (...).

    Returns
    -------
    (c_plus, c_minus) : ndarray, shape (..., T)
    """
    a = np.asarray(z, dtype=np.float64)
    cp = np.empty_like(a)
    cm = np.empty_like(a)
    sp = np.broadcast_to(np.asarray(start[0], dtype=np.float64), a.shape[:-1]).copy()
    sm = np.broadcast_to(np.asarray(start[1], dtype=np.float64), a.shape[:-1]).copy()
    for t in range(a.shape[-1]):
        zt = a[..., t]
        sp = np.maximum(0.0, zt - k + sp)
        sm = np.maximum(0.0, -zt - k + sm)
        cp[..., t] = sp
        cm[..., t] = sm
    return cp, cm


@dataclass(frozen=True, slots=True)
class CusumChart:
    """Tabular CUSUM in sigma units (``c_plus``, ``c_minus``), decision interval h, first alarm."""

    c_plus: np.ndarray
    c_minus: np.ndarray
    k: float
    h: float
    first_alarm: int | None
    side: int
    change_point: int | None  # index of the first unit of the shift (last zero of the alarming sum + 1)


def cusum_chart(x: Any, *, center: float, sigma: float, k: float = 0.5, h: float = 4.0) -> CusumChart:
    """Two-sided tabular CUSUM control chart (Montgomery 2013, §9.1).

    ARL design (Lucas & Crosier 1982, Table 1 without FIR; Montgomery 2013, Table 9.3),
    k = 0.5: h = 4 gives ARL0 = 168 and ARL = 8.38 at a 1 sigma shift; h = 5 gives
    ARL0 = 465 and 10.4. :func:`cusum_arl` computes the ARL of any (k, h) by Brook & Evans'
    Markov chain; :func:`cusum_h_for_arl0` the h for a wanted ARL0. k = delta/2 detects a
    shift of delta sigma fastest.

    The change point is the last index before the alarm at which the alarming sum was 0,
    plus one (Montgomery 2013, §9.1.2: the counter N+ or N−).
    """
    a = _as_1d(x, "x")
    if not sigma > 0:
        raise DriftError(f"sigma: expected > 0, got {sigma!r}")
    cp, cm = cusum_statistic((a - center) / sigma, k=k)
    over = np.flatnonzero((cp > h) | (cm > h))
    first = int(over[0]) if over.size else None
    side, cpt = 0, None
    if first is not None:
        side = 1 if cp[first] > h else -1
        s = cp if side > 0 else cm
        zeros = np.flatnonzero(s[: first + 1] == 0.0)
        cpt = int(zeros[-1] + 1) if zeros.size else 0
    return CusumChart(cp, cm, float(k), float(h), first, side, cpt)


def _cusum_one_sided_arl(k: float, h: float, mu: float, states: int, scale: float = 1.0) -> float:
    # Brook & Evans (1972): state 0 is C = 0, state i (1..m-1) covers ((i - 1/2) w, (i + 1/2) w].
    w = 2.0 * h / (2 * states - 1)
    c = w * np.arange(states)
    upper = w * (np.arange(states) + 0.5)
    # P(next in state j | in state i): next = max(0, c_i + Z - k), Z ~ N(mu, 1)
    cdf = stats.norm.cdf((upper[None, :] - c[:, None] + k - mu) / scale)
    q = np.diff(np.concatenate([np.zeros((states, 1)), cdf], axis=1), axis=1)
    arl = np.linalg.solve(np.eye(states) - q, np.ones(states))
    return float(arl[0])


@lru_cache(maxsize=512)
def cusum_arl(k: float, h: float, shift_sigma: float = 0.0, *, states: int = 400, scale: float = 1.0) -> float:
    """ARL of a two-sided tabular CUSUM started at zero.

    Each one-sided ARL comes from the Markov chain of Brook & Evans (1972); the two-sided
    ARL combines them as ``1/ARL = 1/ARL+ + 1/ARL−`` (Kemp 1971; used by Lucas & Crosier
    1982), exact when the two sums cannot be positive together (k >= 0 and both zero-started
    is close enough; see Woodall 1984). k = 0.5, h = 4 gives 168 in control and 8.38 at a
    1 sigma shift (Lucas & Crosier 1982). Observations are N(shift_sigma, scale²) in sigma units.
    """
    up = _cusum_one_sided_arl(k, h, shift_sigma, states, scale)
    down = _cusum_one_sided_arl(k, h, -shift_sigma, states, scale)
    return float(1.0 / (1.0 / up + 1.0 / down))


def cusum_h_for_arl0(arl0: float, k: float = 0.5) -> float:
    """The decision interval h of a two-sided CUSUM with reference value k whose ARL0 is ``arl0``."""
    if not arl0 > 1:
        raise DriftError(f"arl0: expected > 1, got {arl0!r}")
    return float(optimize.brentq(lambda h: cusum_arl(k, h, states=150) - arl0, 0.2, 30.0, xtol=1e-4))


def _ewma_arl_batch(lam: float, L: float, means: np.ndarray, scales: np.ndarray, states: int = 41) -> np.ndarray:
    h = L * math.sqrt(lam / (2.0 - lam))
    w = 2.0 * h / states
    c = -h + w * (np.arange(states) + 0.5)
    lo = (c[None, :] - w / 2 - (1 - lam) * c[:, None]) / lam
    hi = (c[None, :] + w / 2 - (1 - lam) * c[:, None]) / lam
    m, s = means[:, None, None], scales[:, None, None]
    q = special.ndtr((hi[None] - m) / s) - special.ndtr((lo[None] - m) / s)
    arl = np.linalg.solve(np.eye(states)[None] - q, np.ones((means.size, states, 1)))[..., 0]
    return arl[:, states // 2]


def _cusum_arl_batch(k: float, h: float, means: np.ndarray, scales: np.ndarray, states: int = 40) -> np.ndarray:
    w = 2.0 * h / (2 * states - 1)
    c = w * np.arange(states)
    upper = w * (np.arange(states) + 0.5)
    s = scales[:, None, None]

    def one_sided(mu: np.ndarray) -> np.ndarray:
        cdf = special.ndtr((upper[None, None, :] - c[None, :, None] + k - mu[:, None, None]) / s)
        q = np.diff(np.concatenate([np.zeros((mu.size, states, 1)), cdf], axis=2), axis=2)
        return np.linalg.solve(np.eye(states)[None] - q, np.ones((mu.size, states, 1)))[:, 0, 0]

    return 1.0 / (1.0 / one_sided(means) + 1.0 / one_sided(-means))


@lru_cache(maxsize=32)
def guaranteed_design(n_baseline: int, *, arl0: float, lam: float = 0.1, k: float = 0.5, guarantee: float = 0.9,
                      n_boot: int = 64, seed: int = 0) -> tuple[float, float, float]:
    """Shewhart L, EWMA L and CUSUM h that keep the in-control ARL at ``arl0`` or more with
    probability ``guarantee``, although centre and sigma come from ``n_baseline`` units.

    Plug-in limits from a short baseline raise false alarms badly: with 50 baseline units the
    conditional ARL0 of a chart designed for 2000 is far lower in a sizeable share of
    baselines (Jensen et al. 2006, J. Quality Technology 38(4), 349-364). This is the
    parametric (normal) bootstrap of Gandy & Kvaløy (2013, Scand. J. Statist. 40(4),
    647-668, doi:10.1111/sjos.12006): ``n_boot`` baselines of N(0, 1) are drawn and centre
    (mean) and sigma (MR̄/d2) estimated as :func:`phase1_individuals` does, so that a later
    in-control value standardises to N(−μ̂/σ̂, 1/σ̂²); the limit is set so that the
    ``1 − guarantee`` quantile of the conditional ARL0 over the draws is ``arl0`` (closed form
    for Shewhart; Markov chains of 40 states, batched over the draws, for EWMA and CUSUM,
    accurate to a few per cent in ARL, well inside the bootstrap's own spread).
    Deterministic for a given seed.
    """
    if n_baseline < 8:
        raise DriftError(f"n_baseline: expected at least 8, got {n_baseline}")
    if not 0.0 < guarantee < 1.0:
        raise DriftError(f"guarantee: expected a probability in (0, 1), got {guarantee!r}")
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n_boot, int(n_baseline)))
    sd = np.abs(np.diff(base, axis=1)).mean(axis=1) / d2(2)
    means, scales = -base.mean(axis=1) / sd, 1.0 / sd
    level = 1.0 - guarantee

    def root(arls: Any, lo: float, hi: float) -> float:
        def f(v: float) -> float:
            a = arls(v)
            a = np.where(np.isfinite(a) & (a > 0), a, np.inf)  # an ill-conditioned solve means a huge ARL
            return math.log(float(np.quantile(a, level))) - math.log(arl0)

        while f(hi) < 0 and hi < 64:  # widen until the quantile exceeds arl0
            lo, hi = hi, hi * 1.5
        return float(optimize.brentq(f, lo, hi, xtol=1e-3))

    shew = root(lambda L: 1.0 / (stats.norm.cdf((-L - means) / scales) + stats.norm.sf((L - means) / scales)),
                0.5, 4.0)
    ew = root(lambda L: _ewma_arl_batch(lam, L, means, scales), 0.5, 4.0)
    cu = root(lambda h: _cusum_arl_batch(k, h, means, scales), 0.5, 8.0)
    return shew, ew, cu


def simulate_run_lengths(chart: str, *, n_runs: int, shift_sigma: float = 0.0, seed: int = 0,
                         lam: float = 0.1, L: float = 2.814, k: float = 0.5, h: float = 4.0,
                         block: int = 256, max_length: int = 1_000_000) -> np.ndarray:
    """Run lengths of ``n_runs`` independent charts on N(shift_sigma, 1) data, vectorised.

    Runs advance together in blocks of ``block`` points through :func:`ewma_statistic` or
    :func:`cusum_statistic` (the code the charts use); each stops at its first signal.
    EWMA uses asymptotic limits and starts at the centre, CUSUM starts at 0 without a head
    start, as in the published tables (Lucas & Saccucci 1990; Lucas & Crosier 1982).

    Parameters
    ----------
    chart : "ewma" or "cusum"

    Returns
    -------
    ndarray, shape (n_runs,), int64
        The index (1-based) of the first signal of each run.
    """
    if chart not in ("ewma", "cusum"):
        raise DriftError(f"chart: expected 'ewma' or 'cusum', got {chart!r}")
    rng = np.random.default_rng(seed)
    lengths = np.zeros(n_runs, dtype=np.int64)
    active = np.arange(n_runs)
    state_a = np.zeros(n_runs)
    state_b = np.zeros(n_runs)
    limit = L * math.sqrt(lam / (2.0 - lam))
    t0 = 0
    while active.size and t0 < max_length:
        z = rng.standard_normal((active.size, block)) + shift_sigma
        if chart == "ewma":
            w = ewma_statistic(z, lam=lam, start=state_a)
            signal_ = np.abs(w) > limit
            end_a, end_b = w[:, -1], state_b
        else:
            cp, cm = cusum_statistic(z, k=k, start=(state_a, state_b))
            signal_ = (cp > h) | (cm > h)
            end_a, end_b = cp[:, -1], cm[:, -1]
        hit = signal_.any(axis=1)
        first = np.argmax(signal_, axis=1)
        lengths[active[hit]] = t0 + first[hit] + 1
        active, state_a, state_b = active[~hit], end_a[~hit], end_b[~hit]
        t0 += block
    if active.size:
        raise DriftError(f"simulate_run_lengths: {active.size} runs had no signal within {max_length} points")
    return lengths


# --------------------------------------------------------------------------------------
# Run rules
# --------------------------------------------------------------------------------------

#: Rules per set: (id, description). Western Electric (1956) zones A/B/C are 3/2/1 sigma.
RULE_SETS: dict[str, tuple[tuple[str, str], ...]] = {
    "limits": (("1", "1 point beyond 3 sigma"),),
    "western_electric": (
        ("1", "1 point beyond 3 sigma"),
        ("2", "2 of 3 points beyond 2 sigma, same side"),
        ("3", "4 of 5 points beyond 1 sigma, same side"),
        ("4", "8 points in a row on one side of the centre"),
    ),
    "nelson": (
        ("1", "1 point beyond 3 sigma"),
        ("2", "9 points in a row on one side of the centre"),
        ("3", "6 points in a row steadily increasing or decreasing"),
        ("4", "14 points in a row alternating up and down"),
        ("5", "2 of 3 points beyond 2 sigma, same side"),
        ("6", "4 of 5 points beyond 1 sigma, same side"),
        ("7", "15 points in a row within 1 sigma of the centre"),
        ("8", "8 points in a row beyond 1 sigma, either side"),
    ),
}


@dataclass(frozen=True, slots=True)
class RuleViolation:
    """A run rule that fired: ``index`` completes the pattern, ``first_index`` starts it."""

    rule_set: str
    rule: str
    description: str
    index: int
    first_index: int
    side: int  # +1 above the centre, -1 below, 0 neither (trend/alternation/stratification)

    @property
    def name(self) -> str:
        return f"{self.rule_set} rule {self.rule}: {self.description}"


def _windows(mask: np.ndarray, n: int) -> np.ndarray:
    """Count of True in each window of n ending at i (i >= n - 1); -1 before."""
    c = np.concatenate([[0], np.cumsum(mask.astype(np.int64))])
    out = np.full(mask.size, -1, dtype=np.int64)
    if mask.size >= n:
        out[n - 1:] = c[n:] - c[:-n]
    return out


def _run_rule(z: np.ndarray, rid: str) -> list[tuple[int, int, int]]:
    """(index, first_index, side) of every point completing the pattern of rule ``rid``
    (rule ids as in Nelson's numbering; Western Electric ids are mapped by the caller)."""
    hits: list[tuple[int, int, int]] = []
    if rid == "n1":
        for i in np.flatnonzero(np.abs(z) > 3):
            hits.append((int(i), int(i), int(np.sign(z[i]))))
        return hits
    if rid in ("n5", "n6"):
        m, lim, need = (3, 2.0, 2) if rid == "n5" else (5, 1.0, 4)
        for side in (1, -1):
            beyond = side * z > lim
            cnt = _windows(beyond, m)
            for i in np.flatnonzero((cnt >= need) & beyond):
                first = int(i - m + 1 + np.argmax(beyond[i - m + 1: i + 1]))
                hits.append((int(i), first, side))
        return sorted(hits)
    if rid in ("n2", "we4"):
        m = 9 if rid == "n2" else 8
        for side in (1, -1):
            cnt = _windows(side * z > 0, m)
            for i in np.flatnonzero(cnt == m):
                hits.append((int(i), int(i - m + 1), side))
        return sorted(hits)
    if rid == "n3":  # 6 points in a row steadily increasing or decreasing: 5 steps of one sign
        d = np.sign(np.diff(z))
        for side in (1, -1):
            cnt = _windows(d == side, 5)
            for j in np.flatnonzero(cnt == 5):
                hits.append((int(j + 1), int(j - 4), side))
        return sorted(hits)
    if rid == "n4":  # 14 in a row alternating: 13 steps, consecutive steps of opposite sign
        d = np.sign(np.diff(z))
        alt = (d[1:] * d[:-1]) < 0  # alt[j] : steps j and j+1 alternate
        cnt = _windows(alt, 12)
        for j in np.flatnonzero(cnt == 12):
            hits.append((int(j + 2), int(j - 11), 0))
        return hits
    if rid == "n7":
        cnt = _windows(np.abs(z) < 1, 15)
        return [(int(i), int(i - 14), 0) for i in np.flatnonzero(cnt == 15)]
    if rid == "n8":
        cnt = _windows(np.abs(z) > 1, 8)
        both = []
        for i in np.flatnonzero(cnt == 8):
            seg = z[i - 7: i + 1]
            if (seg > 0).any() and (seg < 0).any():
                both.append((int(i), int(i - 7), 0))
        return both
    raise DriftError(f"rule {rid!r}: unknown")  # pragma: no cover


_RULE_IDS = {
    "limits": {"1": "n1"},
    "western_electric": {"1": "n1", "2": "n5", "3": "n6", "4": "we4"},
    "nelson": {str(i): f"n{i}" for i in range(1, 9)},
}


def rule_violations(x: Any, *, center: float, sigma: float, rules: str = "western_electric") -> list[RuleViolation]:
    """Every point at which a run rule of the chosen set fires, in time order.

    Parameters
    ----------
    x : array_like, shape (n,), float
        Individual values in time order (metric units).
    center, sigma : float
        Phase I centre and sigma; the zones are 1, 2 and 3 sigma.
    rules : "limits", "western_electric" or "nelson"
        ``limits`` is rule 1 only. The supplementary rules raise the false-alarm rate: an
        individuals chart with all four Western Electric rules has an in-control ARL of
        about 92 instead of 370 (Champ & Woodall 1987).
    """
    if rules not in RULE_SETS:
        raise DriftError(f"rules={rules!r}; expected one of {sorted(RULE_SETS)}")
    a = _as_1d(x, "x")
    if not sigma > 0:
        raise DriftError(f"sigma: expected > 0, got {sigma!r}")
    z = (a - center) / sigma
    desc = dict(RULE_SETS[rules])
    out = []
    for rule, rid in _RULE_IDS[rules].items():
        for i, first, side in _run_rule(z, rid):
            out.append(RuleViolation(rules, rule, desc[rule], i, first, side))
    return sorted(out, key=lambda v: (v.index, v.rule))


# --------------------------------------------------------------------------------------
# Capability
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Capability:
    """Process capability against specification limits (None where a limit is missing).

    Cp = (USL − LSL)/6σ_within, Cpk = min(USL − μ, μ − LSL)/3σ_within; Pp and Ppk the same
    with the overall standard deviation (Montgomery 2013, §8.2 and §8.2.4).
    """

    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    lsl: float | None
    usl: float | None
    cp: float | None
    cpk: float | None
    pp: float | None
    ppk: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def capability(x: Any, *, lsl: float | None = None, usl: float | None = None,
               sigma_within: float | None = None) -> Capability:
    """Cp, Cpk, Pp, Ppk of values against LSL/USL.

    Parameters
    ----------
    x : array_like, shape (n,), float
        Values in time order (n >= 2).
    lsl, usl : float or None
        Specification limits in metric units; a one-sided spec gives Cpk and Ppk only.
    sigma_within : float or None
        Short-term sigma; default average moving range / d2(2).
    """
    a = _as_1d(x, "x", min_len=2)
    if lsl is None and usl is None:
        raise DriftError("capability: expected lsl, usl or both, got neither")
    if lsl is not None and usl is not None and not usl > lsl:
        raise DriftError(f"capability: expected usl > lsl, got lsl={lsl}, usl={usl}")
    mu = float(a.mean())
    sw = float(np.mean(np.abs(np.diff(a)))) / d2(2) if sigma_within is None else float(sigma_within)
    so = float(a.std(ddof=1))

    def idx(sig: float) -> tuple[float | None, float | None]:
        if sig <= 0:
            return None, None
        p = None if lsl is None or usl is None else (usl - lsl) / (6 * sig)
        sides = [v for v in ((None if usl is None else (usl - mu) / (3 * sig)),
                             (None if lsl is None else (mu - lsl) / (3 * sig))) if v is not None]
        return p, min(sides)

    cp, cpk = idx(sw)
    pp, ppk = idx(so)
    return Capability(a.size, mu, sw, so, lsl, usl, cp, cpk, pp, ppk)


# --------------------------------------------------------------------------------------
# Change points
# --------------------------------------------------------------------------------------

def cusum_change_point(x: Any, *, center: float, sigma: float, end: int, side: int, k: float = 0.5) -> int:
    """First index of a shift that was signalled at ``end``, from the CUSUM of ``x[: end + 1]``.

    The one-sided CUSUM in the signal's direction is run from the start; the change point is
    the index after its last zero at or before ``end`` (Montgomery 2013, §9.1.2, the N+/N−
    counters; Page 1954). ``end`` itself when the sum is zero there.
    """
    a = _as_1d(x, "x")
    if not 0 <= end < a.size:
        raise DriftError(f"end: expected an index in [0, {a.size}), got {end}")
    if side not in (1, -1):
        raise DriftError(f"side: expected +1 or -1, got {side!r}")
    cp, cm = cusum_statistic((a[: end + 1] - center) / sigma, k=k)
    s = cp if side > 0 else cm
    if s[end] == 0.0:
        return int(end)
    zeros = np.flatnonzero(s == 0.0)
    return int(zeros[-1] + 1) if zeros.size else 0


def likelihood_change_point(x: Any, *, center: float, sigma: float, end: int | None = None) -> int:
    """Maximum-likelihood start of a step in the mean of ``x[: end + 1]`` from a known centre.

    For N(center, sigma²) data that step to an unknown mean at an unknown index tau, the MLE
    is ``argmax_tau (end − tau + 1) (mean(x[tau : end + 1]) − center)²`` (Samuel, Pignatiello
    & Calvin 1998, J. Quality Technology 30(2), 120-128, for the X̄ chart).
    """
    a = _as_1d(x, "x")
    end = a.size - 1 if end is None else int(end)
    if not 0 <= end < a.size:
        raise DriftError(f"end: expected an index in [0, {a.size}), got {end}")
    z = (a[: end + 1] - center) / sigma
    tail = np.cumsum(z[::-1])[::-1]  # sum z[tau:]
    count = np.arange(end + 1, 0, -1)
    return int(np.argmax(tail**2 / count))


# --------------------------------------------------------------------------------------
# Metric names, units and directions in words
# --------------------------------------------------------------------------------------

def _split_metric(metric: str) -> tuple[str, str, str]:
    kind, _, rest = metric.partition(".")
    feature, _, stat = rest.rpartition(".")
    if not kind or not feature or not stat:
        return "", metric, ""
    return kind, feature, stat


_UNITS = {"dL": "ΔL*", "dC": "ΔC*", "dH": "ΔH*", "de00": "ΔE00", "de00_target": "ΔE00", "mm": "mm", "score": ""}


def metric_unit(metric: str) -> str:
    """The unit symbol of a store metric: 'ΔL*', 'ΔE00', 'mm', '' (anomaly scores)."""
    return _UNITS.get(_split_metric(metric)[2], "")


def metric_label(metric: str) -> str:
    """A short human label: 'panel ΔL*', 'strap_width (mm)', 'buckle anomaly score'."""
    kind, feature, stat = _split_metric(metric)
    if kind == "color":
        return f"{feature} {_UNITS.get(stat, stat)}" + (" vs target" if stat == "de00_target" else "")
    if kind == "dimension":
        return f"{feature} (mm)"
    if kind == "anomaly":
        return f"{feature} anomaly score"
    return metric


def _hue_words(reference_lab: Sequence[float] | None, side: int) -> str:
    if reference_lab is None:
        return "hue turning anticlockwise" if side > 0 else "hue turning clockwise"
    h = math.atan2(float(reference_lab[2]), float(reference_lab[1]))
    da, db = -math.sin(h) * side, math.cos(h) * side  # direction of increasing hue angle in a*b*
    if abs(da) >= abs(db):
        return "redder" if da > 0 else "greener"
    return "yellower" if db > 0 else "bluer"


def direction_words(metric: str, side: int, *, reference_lab: Sequence[float] | None = None) -> str:
    """A shift's direction in words, e.g. ``"panel getting darker"``, ``"strap_width getting smaller"``.

    Parameters
    ----------
    metric : str
        A store metric name (``color.<zone>.dL``, ``dimension.<name>.mm``, ...).
    side : int
        +1 the metric is going up, -1 going down.
    reference_lab : (L*, a*, b*) or None
        The golden's colour, to name a hue shift (``dH``) by the a*b* axis it moves along.
    """
    if side not in (1, -1):
        raise DriftError(f"side: expected +1 or -1, got {side!r}")
    kind, feature, stat = _split_metric(metric)
    up = side > 0
    if kind == "color":
        word = {
            "dL": "lighter" if up else "darker",
            "dC": "more saturated" if up else "duller (greyer)",
            "dH": _hue_words(reference_lab, side),
            "de00": "further from the golden colour" if up else "closer to the golden colour",
            "de00_target": "further from the target colour" if up else "closer to the target colour",
        }.get(stat, "going up" if up else "going down")
        return f"{feature} getting {word}" if not word.startswith("hue") else f"{feature} {word}"
    if kind == "dimension":
        return f"{feature} getting {'larger' if up else 'smaller'}"
    if kind == "anomaly":
        return f"{feature} looking {'more' if up else 'less'} anomalous"
    return f"{metric} going {'up' if up else 'down'}"


# --------------------------------------------------------------------------------------
# Material-batch comparison
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BatchComparison:
    """Does batch B differ from batch A on one metric? ``difference`` is B − A in metric units
    (difference of means for Welch, the Hodges-Lehmann shift for Mann-Whitney)."""

    metric: str
    batch_a: str
    batch_b: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    statistic: float

    def significant(self, alpha: float = 0.01) -> bool:
        return self.p_value < alpha

    def sentence(self) -> str:
        """E.g. ``"batch 2 panel is 0.60 ΔL* darker than batch 1, p < 0.001"``."""
        unit = metric_unit(self.metric)
        kind, feature, stat = _split_metric(self.metric)
        mag = abs(self.difference)
        side = 1 if self.difference > 0 else -1
        p = "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.3f}"
        if self.difference == 0:
            return f"batch {self.batch_b} {metric_label(self.metric)} is the same as batch {self.batch_a}, {p}"
        if kind == "color" and stat in ("dL", "dC"):
            word = direction_words(self.metric, side).split(" getting ", 1)[1]
            return f"batch {self.batch_b} {feature} is {mag:.2f} {unit} {word} than batch {self.batch_a}, {p}"
        if kind == "dimension":
            return (f"batch {self.batch_b} {feature} is {mag:.3f} mm {'larger' if side > 0 else 'smaller'} "
                    f"than batch {self.batch_a}, {p}")
        amount = f"{mag:.3g}" + (f" {unit}" if unit else "")
        return (f"batch {self.batch_b} {metric_label(self.metric)} is {amount} {'higher' if side > 0 else 'lower'} "
                f"than batch {self.batch_a}, {p}")

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["unit"] = metric_unit(self.metric)
        d["sentence"] = self.sentence()
        return d


def compare_batches(a: Any, b: Any, *, metric: str = "", batch_a: str = "A", batch_b: str = "B",
                    method: str = "welch", confidence: float = 0.95) -> BatchComparison:
    """Two-sample comparison of one metric between material batches, effect in metric units.

    Parameters
    ----------
    a, b : array_like, shape (n,), float
        The metric's values on batch A and on batch B (n >= 2 each).
    method : "welch" or "mannwhitney"
        ``welch``: Welch's t-test (unequal variances) with the difference of means and its
        Welch-Satterthwaite confidence interval (Welch 1947). ``mannwhitney``: the two-sided
        Mann-Whitney U test with the Hodges-Lehmann shift (median of all pairwise
        differences B − A) and its distribution-free interval (Hodges & Lehmann 1963;
        Lehmann 1975, §2.6), for heavy-tailed metrics such as anomaly scores.
    """
    xa, xb = _as_1d(a, "a", min_len=2), _as_1d(b, "b", min_len=2)
    if method == "welch":
        res = stats.ttest_ind(xb, xa, equal_var=False)
        va, vb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
        se = math.sqrt(va + vb)
        diff = float(xb.mean() - xa.mean())
        if se == 0:
            p, tstat, lo, hi = (1.0 if diff == 0 else 0.0), float("inf") * np.sign(diff), diff, diff
        else:
            df = (va + vb) ** 2 / (va**2 / (xa.size - 1) + vb**2 / (xb.size - 1))
            q = stats.t.ppf(0.5 + confidence / 2, df)
            p, tstat, lo, hi = float(res.pvalue), float(res.statistic), diff - q * se, diff + q * se
    elif method == "mannwhitney":
        res = stats.mannwhitneyu(xb, xa, alternative="two-sided")
        pair = np.sort((xb[:, None] - xa[None, :]).ravel())
        diff = float(np.median(pair))
        m, n = xa.size, xb.size
        # normal approximation of the U quantile for the interval (Lehmann 1975, eq. 2.55)
        kk = int(math.floor(m * n / 2 - stats.norm.ppf(0.5 + confidence / 2) * math.sqrt(m * n * (m + n + 1) / 12)))
        kk = min(max(kk, 0), pair.size - 1)
        p, tstat, lo, hi = float(res.pvalue), float(res.statistic), float(pair[kk]), float(pair[pair.size - 1 - kk])
    else:
        raise DriftError(f"method={method!r}; expected 'welch' or 'mannwhitney'")
    return BatchComparison(metric, str(batch_a), str(batch_b), xa.size, xb.size, float(xa.mean()), float(xb.mean()),
                           diff, float(lo), float(hi), float(p), method, float(tstat))


# --------------------------------------------------------------------------------------
# Monitoring one series (Phase I then Phase II)
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SeriesDesign:
    """How one metric series is monitored.

    Each chart is designed to the same in-control ARL ``arl0`` (per series and chart), so a
    product with many metrics still rarely raises a false alarm. With ``guarantee`` set (the
    default), the limits also absorb the error of Phase I estimates from a short baseline:
    the conditional in-control ARL is at least ``arl0`` with that probability
    (:func:`guaranteed_design`). With ``guarantee=None`` the limits are the textbook plug-in
    ones: Shewhart ``Φ^-1(1 − 1/(2 arl0))`` sigma, EWMA L from :func:`ewma_limit_for_arl0`,
    CUSUM h from :func:`cusum_h_for_arl0`. Rule sets ``western_electric`` and ``nelson``
    keep their published 1/2/3 sigma zones (and their lower ARL0, about 92 for all four
    Western Electric rules; Champ & Woodall 1987).
    """

    charts: tuple[str, ...] = ("shewhart", "ewma", "cusum")
    rules: str = "limits"
    arl0: float = 1000.0
    lam: float = 0.1
    k: float = 0.5
    guarantee: float | None = 0.8

    def __post_init__(self) -> None:
        bad = sorted(set(self.charts) - {"shewhart", "ewma", "cusum"})
        if bad or not self.charts:
            raise DriftError(f"charts={self.charts!r}; expected some of ['cusum', 'ewma', 'shewhart']")
        if self.rules not in RULE_SETS:
            raise DriftError(f"rules={self.rules!r}; expected one of {sorted(RULE_SETS)}")
        if not self.arl0 > 1:
            raise DriftError(f"arl0: expected > 1, got {self.arl0!r}")
        if self.guarantee is not None and not 0 < self.guarantee < 1:
            raise DriftError(f"guarantee: expected a probability in (0, 1) or None, got {self.guarantee!r}")

    def limits_for(self, n_baseline: int) -> tuple[float, float, float]:
        """(Shewhart L, EWMA L, CUSUM h) in sigma for a baseline of ``n_baseline`` units."""
        if self.guarantee is None:
            return (float(stats.norm.isf(1.0 / (2.0 * self.arl0))), _ewma_L_cached(float(self.arl0), float(self.lam)),
                    _cusum_h_cached(float(self.arl0), float(self.k)))
        return guaranteed_design(int(n_baseline), arl0=float(self.arl0), lam=float(self.lam), k=float(self.k),
                                 guarantee=float(self.guarantee))

    def to_dict(self) -> dict[str, Any]:
        return {"charts": list(self.charts), "rules": self.rules, "arl0": self.arl0, "lam": self.lam, "k": self.k,
                "guarantee": self.guarantee}


@lru_cache(maxsize=64)
def _ewma_L_cached(arl0: float, lam: float) -> float:
    return ewma_limit_for_arl0(arl0, lam)


@lru_cache(maxsize=64)
def _cusum_h_cached(arl0: float, k: float) -> float:
    return cusum_h_for_arl0(arl0, k)


@dataclass(frozen=True, slots=True)
class SeriesAlarm:
    """An alarm on one series: indices into the monitored (Phase II) values."""

    rule: str
    chart: str
    index: int
    first_index: int
    side: int


def monitor_series(values: Any, limits: Limits, design: SeriesDesign = SeriesDesign()) -> list[SeriesAlarm]:
    """Phase II monitoring of one series against Phase I limits; the first alarm of each rule.

    The first unit of each alarm is the CUSUM change point (:func:`cusum_change_point`) in
    the alarm's direction; for trend-free run rules (Nelson 4, 7, 8) it is the run's start.
    """
    x = _as_1d(values, "values")
    c, s = limits.center, limits.sigma
    shew_L, ewma_L, cusum_h = design.limits_for(limits.n)
    out: list[SeriesAlarm] = []

    def first_of(index: int, side: int, start: int | None = None) -> int:
        if side == 0:
            return int(start if start is not None else index)
        cp = cusum_change_point(x, center=c, sigma=s, end=index, side=side, k=design.k)
        return min(cp, int(start)) if start is not None else cp

    if "shewhart" in design.charts:
        seen = set()
        if design.rules == "limits":
            L = shew_L
            over = np.flatnonzero(np.abs(x - c) > L * s)
            if over.size:
                i = int(over[0])
                side = int(np.sign(x[i] - c))
                out.append(SeriesAlarm(f"shewhart individuals beyond {L:.2f} sigma", "shewhart", i,
                                       first_of(i, side), side))
        else:
            for v in rule_violations(x, center=c, sigma=s, rules=design.rules):
                if v.rule in seen:
                    continue
                seen.add(v.rule)
                out.append(SeriesAlarm(v.name, "shewhart", v.index, first_of(v.index, v.side, v.first_index), v.side))
    if "ewma" in design.charts:
        e = ewma_chart(x, center=c, sigma=s, lam=design.lam, L=ewma_L, limits="asymptotic")
        if e.first_alarm is not None:
            out.append(SeriesAlarm(f"ewma lambda={design.lam:g} L={e.L:.3f} (ARL0 {design.arl0:g})", "ewma",
                                   e.first_alarm, first_of(e.first_alarm, e.side), e.side))
    if "cusum" in design.charts:
        h = cusum_h
        cu = cusum_chart(x, center=c, sigma=s, k=design.k, h=h)
        if cu.first_alarm is not None:
            out.append(SeriesAlarm(f"cusum k={design.k:g} h={h:.3f} (ARL0 {design.arl0:g})", "cusum",
                                   cu.first_alarm, int(cu.change_point), cu.side))
    return sorted(out, key=lambda a: (a.index, a.chart))


# --------------------------------------------------------------------------------------
# The layer over the store
# --------------------------------------------------------------------------------------

GROUP_FIELDS = ("lot", "station", "shift", "material_batch", "operator")


@dataclass(frozen=True, slots=True)
class Alarm:
    """A drift alarm: which metric in which group, which rule, where the shift began, which way.

    ``first_unit`` is the change point (the first unit of the shift); ``alarm_unit`` is where
    the rule fired. ``in_tolerance`` tells whether the alarm unit's value was still within the
    metric's specification limits (the point of SPC: alarm before units fail).
    """

    metric: str
    group: dict[str, Any]
    rule: str
    chart: str
    first_unit: str
    first_unit_id: int
    alarm_unit: str
    alarm_unit_id: int
    direction: str
    value: float
    in_tolerance: bool | None
    units_before_alarm: int  # alarm index - first index

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def line(self) -> str:
        g = ", ".join(f"{k}={v}" for k, v in self.group.items())
        tol = "" if self.in_tolerance is None else ("; still in tolerance" if self.in_tolerance else "; out of tolerance")
        return (f"{self.metric} [{g}]: {self.direction}; {self.rule}; shift began at {self.first_unit}, "
                f"signalled at {self.alarm_unit}{tol}")


@dataclass(frozen=True)
class SeriesReport:
    """One metric of one group: values in production order, Phase I limits, charts, capability."""

    metric: str
    group: dict[str, Any]
    unit_ids: list[int]
    labels: list[str]
    values: np.ndarray
    batches: list[str | None]
    monitored: np.ndarray  # the values the charts watch (log of anomaly scores, else the values)
    transform: str | None
    baseline_n: int
    limits: Limits | None
    lsl: float | None
    usl: float | None
    capability: Capability | None
    alarms: list[Alarm]
    ewma: EwmaChart | None = None
    cusum: CusumChart | None = None
    phase2: np.ndarray | None = None  # indices (into values) of the monitored units
    note: str | None = None
    chart_limits: tuple[float, float, float] | None = None  # Shewhart L, EWMA L, CUSUM h in sigma

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "group": self.group, "n": int(self.values.size), "baseline_n": self.baseline_n,
            "transform": self.transform,
            "chart_limits": None if self.chart_limits is None else dict(zip(("shewhart_L", "ewma_L", "cusum_h"),
                                                                             self.chart_limits)),
            "limits": None if self.limits is None else self.limits.to_dict(), "lsl": self.lsl, "usl": self.usl,
            "capability": None if self.capability is None else self.capability.to_dict(),
            "alarms": len(self.alarms), "note": self.note,
        }


@dataclass(frozen=True)
class DriftReport:
    alarms: list[Alarm]
    series: list[SeriesReport]
    comparisons: list[BatchComparison]
    design: SeriesDesign
    family_arl0: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "alarms": [a.to_dict() for a in self.alarms],
            "series": [s.to_dict() for s in self.series],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "design": self.design.to_dict(),
            "family_arl0": self.family_arl0,
        }


def _label(unit: Mapping[str, Any]) -> str:
    f = unit.get("file")
    return str(f) if f else f"unit {unit.get('unit')}"


def detect_drift(source: Any, *, product: str | None = None, by: Iterable[str] = (), baseline: int = 50,
                 baseline_lot: str | None = None, design: SeriesDesign = SeriesDesign(),
                 metrics: Iterable[str] | None = None, batch_method: str = "welch",
                 batch_alpha: float = 0.01, family_arl0: float | None = 2000.0) -> DriftReport:
    """Group stored units, set Phase I limits per metric, monitor the rest, compare batches.

    Parameters
    ----------
    source : Store or list of dict
        A :class:`goldenvision.store.Store` (its ``results()`` are read) or those dicts, in
        production order.
    product : str or None
        Only this product (default: every product, each its own group).
    by : iterable of str
        Extra grouping fields among ``lot, station, shift, material_batch, operator``. Without
        ``material_batch`` a batch change shows as a step in one series.
    baseline : int
        Phase I: the first ``baseline`` accepted (verdict ``pass``) units of each series.
        Anomaly scores (positive, right-skewed) are charted on a log scale and ΔE00 (a
        distance, chi-like) to the power 2/3 (Wilson & Hilferty 1931); for both only upward
        alarms are raised (a unit closer to the golden is no drift to stop for).
    family_arl0 : float or None
        In-control ARL wanted for each group as a whole: every chart of every metric of the
        group is designed to ``family_arl0 × charts × metrics`` (Bonferroni), so the chance of
        any false alarm does not grow with the number of metrics. None: ``design.arl0`` per
        chart.
    baseline_lot : str or None
        Phase I from a named period instead: the accepted units of this lot.
    design : SeriesDesign
        Charts, rule set and in-control ARL per chart.
    metrics : iterable of str or None
        Only these metric names (default all).
    batch_method : "welch" or "mannwhitney"
        The two-sample test of :func:`compare_batches`; each later material batch is compared
        with the first of its group, and comparisons with p < ``batch_alpha`` are kept.

    Returns
    -------
    DriftReport
        Alarms sorted by group, then alarm unit; one :class:`SeriesReport` per series.
    """
    by = tuple(by)
    bad = sorted(set(by) - set(GROUP_FIELDS))
    if bad:
        raise DriftError(f"by={list(by)}: unknown field(s) {bad}; expected some of {list(GROUP_FIELDS)}")
    if baseline < 8:
        raise DriftError(f"baseline: expected at least 8 units, got {baseline}")
    units = source.results(product=product) if hasattr(source, "results") else list(source)
    if product is not None:
        units = [u for u in units if u.get("product") == product]
    wanted = None if metrics is None else set(metrics)
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for u in units:
        ctx = u.get("context") or {}
        key = (u.get("product"),) + tuple(ctx.get(f) for f in by)
        groups.setdefault(key, []).append(u)

    all_alarms: list[Alarm] = []
    reports: list[SeriesReport] = []
    comparisons: list[BatchComparison] = []
    for key, members in groups.items():
        group = {"product": key[0], **{f: v for f, v in zip(by, key[1:])}}
        names = sorted({m for u in members for m in (u.get("metrics") or {})
                        if wanted is None or m in wanted})
        ref_labs = _reference_labs(members)
        gdesign = design if family_arl0 is None else dataclasses.replace(
            design, arl0=float(family_arl0) * len(design.charts) * max(1, len(names)))
        for name in names:
            rows = [u for u in members if name in (u.get("metrics") or {})]
            vals = np.array([float(u["metrics"][name]) for u in rows])
            lims = next((u.get("limits", {}).get(name) for u in rows if u.get("limits", {}).get(name)), None) or [None, None]
            lsl, usl = lims
            batches = [(u.get("context") or {}).get("material_batch") for u in rows]
            if baseline_lot is not None:
                base_idx = [i for i, u in enumerate(rows)
                            if (u.get("context") or {}).get("lot") == baseline_lot and u.get("verdict") == "pass"]
            else:
                base_idx = [i for i, u in enumerate(rows) if u.get("verdict") == "pass"][:baseline]
            common = dict(metric=name, group=group, unit_ids=[int(u.get("unit", i)) for i, u in enumerate(rows)],
                          labels=[_label(u) for u in rows], values=vals, batches=batches, lsl=lsl, usl=usl)
            if len(base_idx) < 8:
                reports.append(SeriesReport(**common, monitored=vals, transform=None, baseline_n=len(base_idx),
                                            limits=None, capability=None, alarms=[],
                                            note=f"only {len(base_idx)} accepted baseline units; need 8"))
                continue
            harm_only_up = name.startswith("anomaly.") or name.endswith((".de00", ".de00_target"))
            if name.startswith("anomaly.") and bool(np.all(vals > 0)):
                transform, mon = "log", np.log(vals)
            elif harm_only_up and bool(np.all(vals >= 0)):
                transform, mon = "power 2/3", vals ** (2.0 / 3.0)
            else:
                transform, mon = None, vals
            try:
                limits = phase1_individuals(mon[base_idx])
            except DriftError as exc:
                reports.append(SeriesReport(**common, monitored=mon, transform=transform, baseline_n=len(base_idx),
                                            limits=None, capability=None, alarms=[], note=str(exc)))
                continue
            base_set = set(base_idx)
            start = (max(base_idx) + 1) if baseline_lot is None else 0
            phase2 = np.array([i for i in range(start, len(rows)) if i not in base_set], dtype=int)
            cap = None
            if lsl is not None or usl is not None:
                try:
                    cap = capability(vals, lsl=lsl, usl=usl)
                except DriftError:
                    cap = None
            alarms: list[Alarm] = []
            ew = cu = chart_limits = None
            if phase2.size:
                xs = mon[phase2]
                chart_limits = gdesign.limits_for(limits.n)
                _, ewma_L, cusum_h = chart_limits
                ew = ewma_chart(xs, center=limits.center, sigma=limits.sigma, lam=gdesign.lam, L=ewma_L,
                                limits="asymptotic") if "ewma" in gdesign.charts else None
                cu = cusum_chart(xs, center=limits.center, sigma=limits.sigma, k=gdesign.k,
                                 h=cusum_h) if "cusum" in gdesign.charts else None
                for sa in monitor_series(xs, limits, gdesign):
                    if harm_only_up and sa.side < 0:
                        continue  # closer to the golden colour, less anomalous: not a drift to stop for
                    ai, fi = int(phase2[sa.index]), int(phase2[sa.first_index])
                    v = float(vals[ai])
                    in_tol = None if lsl is None and usl is None else bool(
                        (lsl is None or v >= lsl) and (usl is None or v <= usl))
                    direction = (direction_words(name, sa.side, reference_lab=ref_labs.get(name.split(".")[1]))
                                 if sa.side else "pattern (" + sa.rule.split(": ", 1)[-1] + ")")
                    alarms.append(Alarm(name, group, sa.rule, sa.chart, _label(rows[fi]), common["unit_ids"][fi],
                                        _label(rows[ai]), common["unit_ids"][ai], direction, v, in_tol,
                                        sa.index - sa.first_index))
            reports.append(SeriesReport(**common, monitored=mon, transform=transform, baseline_n=len(base_idx),
                                        limits=limits, capability=cap, alarms=alarms, ewma=ew, cusum=cu,
                                        phase2=phase2, chart_limits=chart_limits))
            all_alarms.extend(alarms)
            comparisons.extend(_batch_comparisons(name, vals, batches, batch_method, batch_alpha))
    all_alarms.sort(key=lambda a: (str(a.group), a.alarm_unit_id, a.metric, a.chart))
    return DriftReport(all_alarms, reports, comparisons, design, family_arl0)


def _reference_labs(members: Sequence[Mapping[str, Any]]) -> dict[str, Sequence[float]]:
    for u in members:
        colors = (u.get("result") or {}).get("color") or []
        labs = {c.get("name"): c.get("golden_lab") for c in colors if c.get("golden_lab")}
        if labs:
            return labs
    return {}


def _batch_comparisons(metric: str, vals: np.ndarray, batches: Sequence[str | None], method: str,
                       alpha: float) -> list[BatchComparison]:
    order: list[str] = []
    for b in batches:
        if b is not None and b not in order:
            order.append(b)
    out = []
    if len(order) < 2:
        return out
    arr = np.array([b if b is not None else "" for b in batches], dtype=object)
    ref = vals[arr == order[0]]
    for b in order[1:]:
        other = vals[arr == b]
        if ref.size < 2 or other.size < 2:
            continue
        c = compare_batches(ref, other, metric=metric, batch_a=order[0], batch_b=b, method=method)
        if c.significant(alpha):
            out.append(c)
    return out
