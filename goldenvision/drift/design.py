"""Chart design: average run lengths by Markov chain and by simulation, limits for a wanted
in-control ARL, and limits guaranteed despite a short Phase I baseline.

* ARL by Markov chains (:func:`ewma_arl`, :func:`cusum_arl`; Brook & Evans 1972,
  Lucas & Saccucci 1990) and by simulation (:func:`simulate_run_lengths`).
* Designed to a wanted in-control ARL (:func:`ewma_limit_for_arl0`, :func:`cusum_h_for_arl0`).
* Limits that hold the in-control ARL with a wanted probability although centre and sigma
  come from a short baseline (:func:`guaranteed_design`; Gandy & Kvaløy 2013).

References
----------
* Brook, D. & Evans, D. A. (1972). An approach to the probability distribution of CUSUM run
  length. *Biometrika* 59(3), 539-549. doi:10.1093/biomet/59.3.539
* Lucas, J. M. & Crosier, R. B. (1982). Fast initial response for CUSUM quality-control
  schemes. *Technometrics* 24(3), 199-205. doi:10.1080/00401706.1982.10487759
* Lucas, J. M. & Saccucci, M. S. (1990). Exponentially weighted moving average control
  schemes: properties and enhancements. *Technometrics* 32(1), 1-12. doi:10.1080/00401706.1990.10484583
* Gandy, A. & Kvaløy, J. T. (2013). Guaranteed conditional performance of control charts via
  bootstrap methods. *Scand. J. Statist.* 40(4), 647-668. doi:10.1111/sjos.12006
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import optimize, special

from ._common import DriftError
from .charts import cusum_statistic, d2, ewma_statistic

# --------------------------------------------------------------------------------------
# EWMA
# --------------------------------------------------------------------------------------

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
    from scipy import stats  # here, not at module level: scipy.stats takes ~0.8 s to import

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

def _cusum_one_sided_arl(k: float, h: float, mu: float, states: int, scale: float = 1.0) -> float:
    # Brook & Evans (1972): state 0 is C = 0, state i (1..m-1) covers ((i - 1/2) w, (i + 1/2) w].
    w = 2.0 * h / (2 * states - 1)
    c = w * np.arange(states)
    upper = w * (np.arange(states) + 0.5)
    # P(next in state j | in state i): next = max(0, c_i + Z - k), Z ~ N(mu, 1)
    from scipy import stats

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


# --------------------------------------------------------------------------------------
# Guaranteed design and simulation
# --------------------------------------------------------------------------------------

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

    from scipy import stats

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
