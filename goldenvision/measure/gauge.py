"""Gauge repeatability and reproducibility by two-way crossed ANOVA (AIAG MSA 4th ed.)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SpecError
from ..results import jsonable

__all__ = ["GaugeStudy", "gauge_rr"]

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
        from scipy import stats  # here, not at module level: scipy.stats takes ~0.8 s to import

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
