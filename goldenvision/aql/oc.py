"""Operating-characteristic (OC) curves of single and double plans (binomial or Poisson)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..errors import SpecError
from .plans import DoubleSamplingPlan, SamplingPlan


def _binom_or_poisson_cdf(k: np.ndarray | int, n: int, p: np.ndarray, poisson: bool) -> np.ndarray:
    from scipy import stats

    if poisson:
        return stats.poisson.cdf(k, n * p)
    return stats.binom.cdf(k, n, p)


def oc_curve(
    sampling: SamplingPlan | DoubleSamplingPlan,
    p: Any,
    *,
    model: Literal["auto", "binomial", "poisson"] = "auto",
) -> np.ndarray:
    """Probability of acceptance Pa of a plan at process quality ``p``.

    Parameters
    ----------
    sampling : SamplingPlan or DoubleSamplingPlan
    p : array_like of float
        Fraction nonconforming in [0, 1] (binomial), or mean nonconformities PER UNIT
        (>= 0; 0.05 = 5 per 100 units) for the Poisson model.
    model : {"auto", "binomial", "poisson"}
        ``auto`` uses the Poisson model when the plan's AQL > 10 (those columns are
        nonconformities per 100 units, ISO 2859-1 clause 12), else the binomial model
        (Type B OC: sampling from a process, lot size ignored).

    Returns
    -------
    ndarray of float64, same shape as ``p``
        Pa in [0, 1]: probability that the lot is accepted, ``P(d <= Re - 1)`` (equal to
        ``P(d <= Ac)`` except for the reduced-inspection gap plans, whose lots with
        ``Ac < d < Re`` are accepted too). For a double plan
        ``Pa = P(d1 <= Ac1) + sum_{d1=Ac1+1}^{Re1-1} P(d1) P(d2 <= Re2 - 1 - d1)``
        (``Re2 - 1 = Ac2`` in Tables 3-A/3-B; in Table 3-C the second-stage gap counts as
        accepted, like the single-plan gap).
    """
    if model not in ("auto", "binomial", "poisson"):
        raise SpecError(f"model={model!r}; expected 'auto', 'binomial' or 'poisson'")
    if not isinstance(sampling, (SamplingPlan, DoubleSamplingPlan)):
        raise SpecError(f"sampling: expected a SamplingPlan or DoubleSamplingPlan, got {type(sampling).__name__}")
    arr = np.asarray(p, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise SpecError("p: expected finite values >= 0")
    poisson = model == "poisson" or (model == "auto" and sampling.aql > 10)
    if not poisson and np.any(arr > 1):
        raise SpecError(f"p: expected fractions nonconforming in [0, 1] for the binomial model, got max {arr.max():g}")
    if isinstance(sampling, SamplingPlan):
        return np.asarray(_binom_or_poisson_cdf(sampling.reject - 1, sampling.sample_size, arr, poisson), dtype=np.float64)
    s = sampling
    pa = _binom_or_poisson_cdf(s.accept_1, s.first_sample_size, arr, poisson)
    if s.is_single or s.second_sample_size == 0:
        return np.asarray(pa, dtype=np.float64)
    from scipy import stats  # here, not at module level: scipy.stats takes ~0.8 s to import

    for d1 in range(s.accept_1 + 1, s.reject_1):
        if poisson:
            pd1 = stats.poisson.pmf(d1, s.first_sample_size * arr)
        else:
            pd1 = stats.binom.pmf(d1, s.first_sample_size, arr)
        pa = pa + pd1 * _binom_or_poisson_cdf(s.reject_2 - 1 - d1, s.second_sample_size, arr, poisson)
    return np.clip(np.asarray(pa, dtype=np.float64), 0.0, 1.0)
