"""Two-sample material-batch comparison with an effect size in the metric's units
(:func:`compare_batches`).

References
----------
* Hodges, J. L. & Lehmann, E. L. (1963). Estimates of location based on rank tests.
  *Ann. Math. Statist.* 34(2), 598-611. doi:10.1214/aoms/1177704172
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._common import DriftError, _as_1d
from .words import _split_metric, direction_words, metric_label, metric_unit

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
    from scipy import stats  # here, not at module level: scipy.stats takes ~0.8 s to import

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
