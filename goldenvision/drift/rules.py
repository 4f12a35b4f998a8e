"""Run rules, process capability and change points.

* The Western Electric (1956) and Nelson (1984) run rules (:func:`rule_violations`).
* Process capability Cp, Cpk, Pp, Ppk (:func:`capability`; Montgomery 2013, ch. 8).
* Change-point estimates (:func:`cusum_change_point`, :func:`likelihood_change_point`).

References
----------
* Montgomery, D. C. (2013). *Introduction to Statistical Quality Control*, 7th ed., Wiley.
* Western Electric (1956). *Statistical Quality Control Handbook*.
* Nelson, L. S. (1984). The Shewhart control chart - tests for special causes.
  *J. Quality Technology* 16(4), 237-239.
* Champ, C. W. & Woodall, W. H. (1987). Exact results for Shewhart control charts with
  supplementary runs rules. *Technometrics* 29(4), 393-399. doi:10.1080/00401706.1987.10488266
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._common import DriftError, _as_1d
from .charts import cusum_statistic, d2

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
