"""The demo wallet photographed hand-held: the station wallet's units through the zoo's hand-held camera.

The physical units are exactly the station lot's (:func:`goldenvision.demo.lot._make_unit`: same
colours, dimensions, grain and defects for the same index, fault and seed); only the photo
differs. The wallet (132 x 72 mm with its strap) fills a hand-held frame, so its frames carry no
marker.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import numpy as np

from ..render import _defect_footprint, _product_texture
from ..scene import (
    _DEFECT_ZONE,
    _PANEL_H_MM,
    _TEX_BOX_MM,
    ANOMALY_ZONES,
    COLOR_ZONES,
    DIMENSIONS,
    DefectParams,
    UnitParams,
)
from .base import Family, ZooUnit

__all__ = ["WalletHandheld"]

_DIM_FIELDS = {"panel_width": "panel_width_mm", "strap_width": "strap_width_mm", "buckle_width": "buckle_width_mm",
               "rivet_diameter": "rivet_diameter_mm"}


class WalletHandheld(Family):
    name = "wallet"
    product = "wallet-classic"
    box_mm = _TEX_BOX_MM
    outline_mm = [(-55.0, -_PANEL_H_MM / 2), (55.0, -_PANEL_H_MM / 2), (55.0, _PANEL_H_MM / 2), (-55.0, _PANEL_H_MM / 2)]
    color_zones = COLOR_ZONES
    dimensions = {k: dict(v) for k, v in DIMENSIONS.items()}
    anomaly_zones = ANOMALY_ZONES
    defect_zone = _DEFECT_ZONE
    variation: dict[str, tuple[float, float]] = {}
    markers = ("none",)

    @property
    def fault_kinds(self) -> tuple[str, ...]:
        from ..scene import _FAULT_KINDS

        return _FAULT_KINDS

    def draw_production(self, index: int, fault: str, seed: int) -> dict[str, Any]:
        from ..lot import _make_unit

        p = _make_unit(int(index), fault, int(seed))
        return {"labs": (("panel", tuple(p.panel_lab)), ("logo", tuple(p.logo_lab))),
                "dims": tuple((k, float(getattr(p, f))) for k, f in _DIM_FIELDS.items()),
                "variation": (), "texture_seed": int(p.grain_seed), "defects": tuple(p.defects), "fault": p.fault,
                "fault_detail": p.fault_detail}

    def unit_params(self, u: ZooUnit) -> UnitParams:
        """The wallet's own parameters of a zoo unit (photo fields at their defaults)."""
        return replace(UnitParams(), unit_id=u.unit_id, panel_lab=u.lab("panel"), logo_lab=u.lab("logo"),
                       grain_seed=int(u.texture_seed),
                       defects=tuple(cast("tuple[DefectParams, ...]", u.defects)),  # the wallet's own defects
                       fault=u.fault, fault_detail=u.fault_detail,
                       **cast("dict[str, Any]", {f: u.dim(k) for k, f in _DIM_FIELDS.items()}))

    def texture(self, u: ZooUnit, size: float) -> tuple[np.ndarray, np.ndarray]:
        return _product_texture(self.unit_params(u), size)

    def defect_footprint(self, d: Any, unit: ZooUnit) -> tuple[tuple[float, float, float, float], float]:
        return _defect_footprint(d)

    def check_defect(self, d: Any) -> None:  # DefectParams validate themselves
        return None
