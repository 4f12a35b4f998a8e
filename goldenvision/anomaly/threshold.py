"""Thresholds from good images only (defect regions: :mod:`.regions`).

The anomaly stage never sees a labelled defect. Each zone's threshold comes from the
distribution of *held-out good* max-scores (leave-one-out over the golden captures, plus
the scores of accepted units scored before they joined the model):

* with ``n >= ceil((1 - alpha) (n + 1))`` i.e. enough samples, the split-conformal bound
  ``s_(k)``, ``k = ceil((n + 1)(1 - alpha))`` (Vovk et al. 2005; Angelopoulos & Bates 2021,
  arXiv:2107.07511): a new good image exceeds it with probability <= alpha;
* with fewer samples (the usual 4-8 golden captures) the conformal rank does not exist, so
  the rule is the larger of ``max(s) * (1 + margin_few / sqrt(n))`` and, for n >= 3, the
  ``1 - alpha`` quantile of a Gumbel law fitted to ``s`` by moments (a max-score over many
  pixels is in the Gumbel domain; Gumbel, *Statistics of Extremes*, 1958):
  ``mu - beta ln(-ln(1 - alpha))``, ``beta = sqrt(6) sd / pi``, ``mu = mean - 0.5772 beta``.

The threshold is then divided by the zone's ``sensitivity`` and never put below
``floor`` (a minimum deviation in score units that keeps a noise-free golden from giving
a threshold of zero).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import SpecError

__all__ = ["good_score_threshold", "DEFAULT_ALPHA"]

#: Target false-reject rate of the conformal rule.
DEFAULT_ALPHA = 0.01


def good_score_threshold(
    good_scores: np.ndarray | list[float],
    *,
    alpha: float = DEFAULT_ALPHA,
    sensitivity: float = 1.0,
    floor: float = 0.0,
    margin_few: float = 1.0,
) -> float:
    """Threshold on a zone's max-score from held-out good scores only.

    Parameters
    ----------
    good_scores : array_like, shape (n,), float
        Max-scores of good images not used to fit the model they were scored with (>= 1).
    alpha : float, keyword-only
        Target false-reject rate in (0, 1).
    sensitivity : float, keyword-only
        Zone sensitivity (> 0); the threshold is divided by it.
    floor : float, keyword-only
        Smallest threshold (score units) before the sensitivity scaling.
    margin_few : float, keyword-only
        With too few samples for the conformal rank, threshold >= ``max * (1 + margin_few / sqrt(n))``
        (and >= the Gumbel quantile when n >= 3).

    Returns
    -------
    float
        Threshold in score units (> 0).
    """
    s = np.sort(np.asarray(good_scores, dtype=np.float64).ravel())
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise SpecError(f"good_scores: expected >= 1 finite score, got {s.size} values ({s[:5]}...)")
    if not (0 < alpha < 1):
        raise SpecError(f"alpha: expected a rate in (0, 1), got {alpha}")
    if sensitivity <= 0:
        raise SpecError(f"sensitivity: expected > 0, got {sensitivity}")
    n = s.size
    k = math.ceil((n + 1) * (1 - alpha))
    if k <= n:
        base = float(s[k - 1])
    else:
        base = float(s[-1]) * (1.0 + margin_few / math.sqrt(n))
        if n >= 3:  # Gumbel (max-domain) quantile from the method of moments
            beta = float(np.std(s, ddof=1)) * math.sqrt(6.0) / math.pi
            mu = float(np.mean(s)) - 0.5772156649 * beta
            base = max(base, mu - beta * math.log(-math.log(1.0 - alpha)))
    return max(base, floor, 1e-6) / sensitivity
