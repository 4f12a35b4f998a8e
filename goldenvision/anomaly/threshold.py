"""Thresholds from good images only, and defect regions from a normalised map.

The anomaly stage never sees a labelled defect. Each zone's threshold comes from the
distribution of *held-out good* max-scores (leave-one-out over the golden captures, plus
the scores of accepted units scored before they joined the model):

* with ``n >= ceil((1 - alpha) (n + 1))`` i.e. enough samples, the split-conformal bound
  ``s_(k)``, ``k = ceil((n + 1)(1 - alpha))`` (Vovk et al. 2005; Angelopoulos & Bates 2021,
  arXiv:2107.07511): a new good image exceeds it with probability <= alpha;
* with fewer samples (the usual 4-8 golden captures) the conformal rank does not exist, so
  the rule is ``max + margin``: ``max(s) * (1 + margin_few)`` with a margin that shrinks as
  ``1 / sqrt(n)``, which is conservative for light-tailed maxima (Gumbel domain).

The threshold is then divided by the zone's ``sensitivity`` and never put below
``floor`` (a minimum deviation in score units that keeps a noise-free golden from giving
a threshold of zero).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import SpecError
from ..results import Defect
from ..spec import AnomalyZone

__all__ = ["good_score_threshold", "find_defects", "DEFAULT_ALPHA"]

#: Target false-reject rate of the conformal rule.
DEFAULT_ALPHA = 0.01


def good_score_threshold(
    good_scores: np.ndarray | list[float],
    *,
    alpha: float = DEFAULT_ALPHA,
    sensitivity: float = 1.0,
    floor: float = 0.0,
    margin_few: float = 0.5,
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
        With too few samples for the conformal rank, threshold = ``max * (1 + margin_few / sqrt(n))``.

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
    return max(base, floor, 1e-6) / sensitivity


def find_defects(
    norm_map: np.ndarray,
    zone_mask: np.ndarray,
    zone: AnomalyZone,
    *,
    scale_mm_per_px: float | None,
    min_area_px: int = 1,
) -> list[Defect]:
    """Connected regions where the normalised map reaches the threshold (>= 1.0).

    Parameters
    ----------
    norm_map : ndarray, shape (H, W), float32
        Anomaly map in golden px, 1.0 = the zone's threshold.
    zone_mask : ndarray, shape (H, W), bool
        Pixels of the zone (and valid).
    zone : AnomalyZone
        Gives name, defect type, severity and ``min_area_mm2``.
    scale_mm_per_px : float or None, keyword-only
        mm per golden px; without it ``min_area_mm2`` cannot be applied and ``area_mm2`` is None.
    min_area_px : int, keyword-only
        Smallest region in px kept regardless of the mm rule.

    Returns
    -------
    list of Defect
        Sorted by descending peak score; bbox ``(x1, y1, x2, y2)`` golden px, x2/y2 exclusive.
    """
    hot = ((norm_map >= 1.0) & zone_mask).astype(np.uint8)
    if not hot.any():
        return []
    n, labels, stats, _ = cv2.connectedComponentsWithStats(hot, connectivity=8)
    min_px = max(int(min_area_px), 1)
    if scale_mm_per_px is not None and zone.min_area_mm2 > 0:
        min_px = max(min_px, int(math.ceil(zone.min_area_mm2 / scale_mm_per_px**2)))
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_px]
    if not keep:
        return []
    # Peak score per label in one pass.
    flat_lab = labels.ravel()
    sel = flat_lab > 0
    peaks = np.zeros(n, dtype=np.float64)
    np.maximum.at(peaks, flat_lab[sel], norm_map.ravel()[sel].astype(np.float64))
    out = []
    for i in keep:
        x, y, w, h, a = (int(v) for v in stats[i])
        out.append(
            Defect(
                bbox=(x, y, x + w, y + h),
                score=float(peaks[i]),
                zone=zone.name,
                defect_type=zone.defect_type,
                severity=zone.severity,
                area_px=a,
                area_mm2=None if scale_mm_per_px is None else a * scale_mm_per_px**2,
            )
        )
    out.sort(key=lambda d: -d.score)
    return out

