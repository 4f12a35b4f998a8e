"""Synthetic unit results (metrics only, no images) with a known drift, for testing SPC.

:func:`drifting_lot` writes the story the issue tells: a product made across three shifts,
first in control, then a new material batch that is a step darker, then a slow colour drift
(the panel getting darker) and a slow dimension drift (the strap getting narrower), until
units leave tolerance. Every unit is a ``UnitResult.to_dict()``-shaped dict with its context
and image sha256, so it can go through :meth:`goldenvision.store.Store.record_result`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..color import delta_e_2000

__all__ = ["DriftScenario", "drifting_lot"]

GOLDEN_LAB = (32.1, 18.4, 12.0)


@dataclass(frozen=True, slots=True)
class DriftScenario:
    """Where the simulated process changes (0-based unit indices) and by how much.

    Defaults: 320 units; in control up to unit 119; material batch 2 from unit 120, its panel
    ``batch_step_dl`` ΔL* darker; the strap narrows by ``dim_slope_mm`` per unit from unit 150;
    the panel darkens by ``color_slope_dl`` ΔL* per unit from unit 190.
    """

    n_units: int = 320
    batch_change: int = 120
    batch_step_dl: float = -0.6
    dim_drift_start: int = 150
    dim_slope_mm: float = -0.005
    color_drift_start: int = 190
    color_slope_dl: float = -0.012
    sd_l: float = 0.15
    sd_ab: float = 0.12
    sd_mm: float = 0.04
    nominal_mm: float = 25.0
    tol_mm: float = 0.5
    de00_tolerance: float = 1.5
    units_per_shift: int = 40
    golden_id: str = "5d9c6a8e-0000-4000-8000-000000000001"
    product: str = "wallet-classic"
    lot: str = "L7"

    @property
    def in_control_end(self) -> int:
        """Index of the last unit before any change."""
        return min(self.batch_change, self.dim_drift_start, self.color_drift_start) - 1


def drifting_lot(scenario: DriftScenario = DriftScenario(), *, seed: int = 0) -> list[dict[str, Any]]:
    """Unit result dicts of the scenario, in production order (``unit_id`` ``unit-0000.png`` ...).

    Returns
    -------
    list of dict
        Keys as ``UnitResult.to_dict()`` plus ``image_sha256`` and ``context``; the true
        per-unit means are in ``truth`` (``dl``, ``width_mm``).
    """
    sc = scenario
    rng = np.random.default_rng(seed)
    out = []
    for i in range(sc.n_units):
        mean_dl = (sc.batch_step_dl if i >= sc.batch_change else 0.0)
        mean_dl += sc.color_slope_dl * max(0, i - sc.color_drift_start + 1) if i >= sc.color_drift_start else 0.0
        mean_mm = sc.nominal_mm + (sc.dim_slope_mm * (i - sc.dim_drift_start + 1) if i >= sc.dim_drift_start else 0.0)
        lab = (GOLDEN_LAB[0] + mean_dl + rng.normal(0, sc.sd_l), GOLDEN_LAB[1] + rng.normal(0, sc.sd_ab),
               GOLDEN_LAB[2] + rng.normal(0, sc.sd_ab))
        de = float(delta_e_2000(np.array(lab), np.array(GOLDEN_LAB)))
        width = float(mean_mm + rng.normal(0, sc.sd_mm))
        score = float(np.clip(rng.gamma(16.0, 0.3 / 16.0), 0, None))
        ok_color, ok_dim = de <= sc.de00_tolerance, abs(width - sc.nominal_mm) <= sc.tol_mm
        reasons = []
        if not ok_color:
            reasons.append(f"panel ΔE00 {de:.2f} > {sc.de00_tolerance}")
        if not ok_dim:
            reasons.append(f"strap_width {width:.2f} mm out of {sc.nominal_mm}±{sc.tol_mm}")
        file = f"unit-{i:04d}.png"
        out.append({
            "unit_id": file,
            "verdict": "pass" if ok_color and ok_dim else "fail",
            "defect_class": None if ok_color and ok_dim else "major",
            "reasons": reasons,
            "color": [{"name": "panel", "lab": list(lab), "golden_lab": list(GOLDEN_LAB), "delta_e_golden": de,
                       "golden_tolerance": sc.de00_tolerance, "delta_e_target": None, "tolerance": sc.de00_tolerance,
                       "ok": ok_color}],
            "dimensions": [{"name": "strap_width", "measured_mm": width, "nominal_mm": sc.nominal_mm,
                            "tol_minus_mm": sc.tol_mm, "tol_plus_mm": sc.tol_mm, "ok": ok_dim}],
            "zone_scores": {"buckle": score},
            "anomaly_score": score,
            "defects": [],
            "provenance": {"golden_id": sc.golden_id, "product": sc.product},
            "image_sha256": hashlib.sha256(f"{seed}:{file}".encode()).hexdigest(),
            "context": {"product": sc.product, "lot": sc.lot, "station": "S1",
                        "shift": "ABC"[(i // sc.units_per_shift) % 3], "operator": None,
                        "material_batch": "hide-0412" if i < sc.batch_change else "hide-0413",
                        "ambient_temp_c": 22.0, "humidity_pct": 45.0},
            "truth": {"dl": mean_dl, "width_mm": mean_mm},
        })
    return out


def as_store_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dicts :meth:`Store.results` would return for these results, without a database
    (``unit`` is the 1-based position), for fast simulation studies of :mod:`goldenvision.drift`."""
    from .metrics import unit_metrics

    rows = []
    for i, r in enumerate(results, start=1):
        m = unit_metrics(r)
        rows.append({"unit": i, "image_sha256": r.get("image_sha256"), "file": r.get("unit_id"),
                     "golden_id": (r.get("provenance") or {}).get("golden_id"),
                     "product": (r.get("context") or {}).get("product") or (r.get("provenance") or {}).get("product"),
                     "verdict": r["verdict"], "reasons": r.get("reasons", []), "context": r.get("context") or {},
                     "metrics": {n: v for n, v, _, _ in m}, "limits": {n: [lo, hi] for n, _, lo, hi in m},
                     "result": r})
    return rows
