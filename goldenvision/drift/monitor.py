"""Drift caught while units still pass: one series monitored (:func:`monitor_series`), and the
thin layer over the results store (:func:`detect_drift`, which reads ``store.results()``
dicts; it never writes).

Phase I / Phase II: limits (centre and sigma) are estimated from a baseline of in-control
units (:func:`~goldenvision.drift.charts.phase1_individuals`), then the later units are
monitored against them with the charts of :mod:`goldenvision.drift.charts`, designed by
:mod:`goldenvision.drift.design`, and the run rules of :mod:`goldenvision.drift.rules`.

References
----------
* Montgomery, D. C. (2013). *Introduction to Statistical Quality Control*, 7th ed., Wiley.
* Champ, C. W. & Woodall, W. H. (1987). Exact results for Shewhart control charts with
  supplementary runs rules. *Technometrics* 29(4), 393-399. doi:10.1080/00401706.1987.10488266
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ._common import DriftError, _as_1d
from .batches import BatchComparison, compare_batches
from .charts import CusumChart, EwmaChart, Limits, cusum_chart, ewma_chart, phase1_individuals
from .design import cusum_h_for_arl0, ewma_limit_for_arl0, guaranteed_design
from .rules import RULE_SETS, Capability, capability, cusum_change_point, rule_violations
from .words import direction_words

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
            from scipy import stats  # here, not at module level: scipy.stats takes ~0.8 s to import

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
            assert cu.change_point is not None  # set whenever the chart alarms
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
    out: list[BatchComparison] = []
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
