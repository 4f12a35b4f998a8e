"""Control charts: Shewhart individuals and moving range, X̄-R, X̄-S, EWMA and tabular CUSUM.

* Shewhart individuals and moving range (:func:`phase1_individuals`, :func:`individuals_chart`),
  X̄-R and X̄-S over rational subgroups (:func:`xbar_r_chart`, :func:`xbar_s_chart`), with the
  control-chart constants d2, d3 and c4 computed from the normal distribution
  (:func:`d2`, :func:`d3`, :func:`c4`; Montgomery 2013, Appendix VI).
* EWMA (:func:`ewma_chart`, Roberts 1959) and two-sided tabular CUSUM (:func:`cusum_chart`,
  Page 1954), with the statistics the run-length simulation shares
  (:func:`ewma_statistic`, :func:`cusum_statistic`). Their ARL design is in
  :mod:`goldenvision.drift.design`.

Phase I / Phase II: limits (centre and sigma) are estimated from a baseline of in-control
units (:func:`phase1_individuals`), then the later units are monitored against them.

References
----------
* Montgomery, D. C. (2013). *Introduction to Statistical Quality Control*, 7th ed., Wiley.
* Lucas, J. M. & Crosier, R. B. (1982). Fast initial response for CUSUM quality-control
  schemes. *Technometrics* 24(3), 199-205. doi:10.1080/00401706.1982.10487759
* Lucas, J. M. & Saccucci, M. S. (1990). Exponentially weighted moving average control
  schemes: properties and enhancements. *Technometrics* 32(1), 1-12. doi:10.1080/00401706.1990.10484583
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ._common import DriftError, _as_1d

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
    from scipy import stats  # here, not at module level: scipy.stats takes ~0.8 s to import

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
    from scipy import stats

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
    from scipy import signal  # here, not at module level: scipy.signal imports scipy.stats (~0.8 s)

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
