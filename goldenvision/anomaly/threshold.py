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

* with ``tail`` and enough samples for the tail to be seen, ``n >= 1 / (2 alpha)`` (50 at
  alpha 0.01) but fewer than ``1 / alpha`` (where the conformal rank at alpha is little more than
  the sample maximum), the ``1 - alpha`` quantile of that Gumbel law alone, never below the
  ``ceil(n (1 - 2 alpha))``-th smallest score: the rule states its false-alarm rate (alpha under
  the fitted law, at most ``2 alpha`` of the held-out good scores above it) instead of a margin
  over the largest one. The margin rule's ``max * (1 + margin_few / sqrt(n))`` is made for the
  usual 4-8 captures; at n = 88 it sets the threshold 1.11x above the single largest good score,
  and one good photo with a glint then decides what every defect must exceed (KolektorSDD,
  docs/DESIGN.md). Where the conformal rank exists (``n >= 1 / alpha - 1``) it is used as before.

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
    tail: bool = False,
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
    tail : bool, keyword-only
        With ``1 / (2 alpha) <= n`` and too few samples for the conformal rank: the Gumbel
        ``1 - alpha`` quantile alone, at least the ``ceil(n (1 - 2 alpha))``-th smallest score (see
        the module docstring). False: the margin rule for every n below the conformal rank (models
        sealed before this option).

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
    elif tail and n >= max(3.0, 1.0 / (2.0 * alpha)):
        base = max(_gumbel_quantile(s, alpha), float(s[math.ceil(n * (1.0 - 2.0 * alpha)) - 1]))
    else:
        base = float(s[-1]) * (1.0 + margin_few / math.sqrt(n))
        if n >= 3:
            base = max(base, _gumbel_quantile(s, alpha))
    return max(base, floor, 1e-6) / sensitivity


def _gumbel_quantile(s: np.ndarray, alpha: float) -> float:
    """``1 - alpha`` quantile of a Gumbel (max-domain) law fitted to ``s`` (n >= 2) by moments:
    ``mu - beta ln(-ln(1 - alpha))``, ``beta = sqrt(6) sd / pi``, ``mu = mean - 0.5772 beta``."""
    beta = float(np.std(s, ddof=1)) * math.sqrt(6.0) / math.pi
    mu = float(np.mean(s)) - 0.5772156649 * beta
    return mu - beta * math.log(-math.log(1.0 - alpha))
