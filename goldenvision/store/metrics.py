"""The SPC metrics of one unit result, as (name, value, lsl, usl) rows for the long table.

Names (``<zone>`` and ``<name>`` are the spec's zone and feature names):

=============================  ===========================================================  ==========
name                           value                                                        limits
=============================  ===========================================================  ==========
``color.<zone>.de00``          CIEDE2000 of the zone against the golden                    usl = golden tolerance
``color.<zone>.de00_target``   CIEDE2000 against the spec target (when the spec has one)   usl = tolerance
``color.<zone>.dL``            signed ΔL* = L* − L*golden (CIE 1976)                        none
``color.<zone>.dC``            signed ΔC*ab = C*ab − C*ab,golden                            none
``color.<zone>.dH``            signed ΔH*ab (CIE 1976, sign of the hue-angle difference)    none
``dimension.<name>.mm``        measured_mm                                                  nominal −tol/+tol
``anomaly.<zone>.score``       normalised zone score (1.0 = the zone's threshold)           usl = 1.0
=============================  ===========================================================  ==========

ΔH*ab is computed as ``2 sqrt(C* C*golden) sin(Δh/2)``, which equals the CIE 15 definition
``sqrt(ΔE*ab² − ΔL*² − ΔC*²)`` in magnitude and carries the sign of the hue-angle
difference Δh (unit minus golden, wrapped to (−180°, 180°]); see CIE 15:2004 §8.2.1 and
Sharma, Wu & Dalal (2005) eq. 10 for the same construction. A colour dict may give the
three deltas itself as ``d_l_star``, ``d_c_star`` and ``d_h_star``; they are used as given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ResultDataError

__all__ = ["MetricRow", "unit_metrics", "lab_deltas_1976"]

MetricRow = tuple[str, float, "float | None", "float | None"]


def lab_deltas_1976(lab: Sequence[float], reference_lab: Sequence[float]) -> tuple[float, float, float]:
    """Signed CIE 1976 ΔL*, ΔC*ab and ΔH*ab of ``lab`` relative to ``reference_lab``.

    Parameters
    ----------
    lab, reference_lab : sequence of 3 float
        CIELAB (L*, a*, b*), same illuminant and observer.

    Returns
    -------
    (dL, dC, dH) : tuple of float
        ``dL < 0`` reads darker, ``dC < 0`` duller, ``dH > 0`` a hue angle turning
        anticlockwise in the a*b* plane (red → yellow → green → blue).
    """
    l1, a1, b1 = (float(v) for v in lab)
    l0, a0, b0 = (float(v) for v in reference_lab)
    c1, c0 = math.hypot(a1, b1), math.hypot(a0, b0)
    dh_deg = math.degrees(math.atan2(b1, a1) - math.atan2(b0, a0))
    dh_deg = (dh_deg + 180.0) % 360.0 - 180.0
    d_hue = 2.0 * math.sqrt(c1 * c0) * math.sin(math.radians(dh_deg) / 2.0)
    return l1 - l0, c1 - c0, d_hue


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _lab(value: Any, where: str) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 3:
        raise ResultDataError(f"{where}: expected [L*, a*, b*], got {value!r}")
    out = tuple(_finite(v) for v in value)
    return None if any(v is None for v in out) else out  # type: ignore[return-value]


def unit_metrics(result: Mapping[str, Any]) -> list[MetricRow]:
    """Every SPC metric of one ``UnitResult.to_dict()`` (see the module table).

    Parameters
    ----------
    result : mapping
        The result dict; ``color``, ``dimensions`` and ``zone_scores`` are read when present.

    Returns
    -------
    list of (name, value, lsl, usl)
        Metrics with no finite value are left out (a unit in review has none).
    """
    rows: list[MetricRow] = []

    def add(name: str, value: Any, lsl: Any = None, usl: Any = None) -> None:
        v = _finite(value)
        if v is not None:
            rows.append((name, v, _finite(lsl), _finite(usl)))

    for i, c in enumerate(result.get("color") or ()):
        if not isinstance(c, Mapping) or not c.get("name"):
            raise ResultDataError(f"result['color'][{i}]: expected a dict with a 'name', got {c!r}")
        zone = str(c["name"])
        add(f"color.{zone}.de00", c.get("delta_e_golden"), None, c.get("golden_tolerance"))
        add(f"color.{zone}.de00_target", c.get("delta_e_target"), None, c.get("tolerance"))
        d_l, d_c, d_h = (_finite(c.get(k)) for k in ("d_l_star", "d_c_star", "d_h_star"))
        deltas: tuple[float, float, float] | None
        if d_l is not None and d_c is not None and d_h is not None:
            deltas = (d_l, d_c, d_h)
        else:
            lab = _lab(c.get("lab"), f"result['color'][{i}]['lab']")
            ref = _lab(c.get("golden_lab"), f"result['color'][{i}]['golden_lab']")
            deltas = None if lab is None or ref is None else lab_deltas_1976(lab, ref)
        if deltas is not None:
            for stat, v in zip(("dL", "dC", "dH"), deltas):
                add(f"color.{zone}.{stat}", v)
    for i, d in enumerate(result.get("dimensions") or ()):
        if not isinstance(d, Mapping) or not d.get("name"):
            raise ResultDataError(f"result['dimensions'][{i}]: expected a dict with a 'name', got {d!r}")
        nominal = _finite(d.get("nominal_mm"))
        lsl = usl = None
        if nominal is not None:
            tm, tp = _finite(d.get("tol_minus_mm")), _finite(d.get("tol_plus_mm"))
            lsl = None if tm is None else nominal - tm
            usl = None if tp is None else nominal + tp
        add(f"dimension.{d['name']}.mm", d.get("measured_mm"), lsl, usl)
    scores = result.get("zone_scores") or {}
    if not isinstance(scores, Mapping):
        raise ResultDataError(f"result['zone_scores']: expected a dict of zone -> score, got {type(scores).__name__}")
    for zone, score in scores.items():
        add(f"anomaly.{zone}.score", score, None, 1.0)
    return rows
