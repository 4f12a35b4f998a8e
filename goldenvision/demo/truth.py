"""Ground truth of one photographed unit (colours, dimensions, defects, frames, expected verdict)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from ..calibration.profile import StationProfile
from .fields import plated_zone_truth_lab
from .render import _defect_footprint
from .scene import (
    _DEFECT_ZONE,
    _LAB_METAL,
    ANOMALY_ZONES,
    COLOR_ZONES,
    DIMENSIONS,
    GOLDEN_POSE,
    UnitParams,
    _camera_size,
    _delta_e00,
    _jsonable,
    _mm_to_golden_px,
    camera_homography,
    product_pose,
)


def _unit_truth(p: UnitParams, prof: StationProfile, size: float) -> dict[str, Any]:
    h_cam = camera_homography(size, p.camera_jitter)
    pose = product_pose(*p.pose)
    s = prof.scale_mm_per_px
    mm_to_px = np.array([[1 / s, 0, -0.5], [0, 1 / s, -0.5], [0, 0, 1.0]])
    unit_to_golden = mm_to_px @ GOLDEN_POSE @ np.linalg.inv(pose) @ np.linalg.inv(mm_to_px)
    failing: list[str] = []
    colors = {}
    labs = {"panel": p.panel_lab, "logo": p.logo_lab}
    for name, z in COLOR_ZONES.items():
        de_t = _delta_e00(labs[name], z["target"], z["weights"])
        de_g = _delta_e00(labs[name], z["golden"], z["weights"])
        colors[name] = {
            "lab": [float(v) for v in labs[name]],
            "target_lab": list(z["target"]),
            "golden_lab": list(z["golden"]),
            "delta_e_target": de_t,
            "delta_e_golden": de_g,
            "tolerance_de00": z["tolerance"],
            "weights": list(z["weights"]),
        }
        if de_t > z["tolerance"] or de_g > z["tolerance"]:
            failing.append(f"color:{name}")
    dims = {}
    for name, true_mm in p.dims_mm().items():
        dd = DIMENSIONS[name]
        dims[name] = float(true_mm)
        if abs(true_mm - dd["nominal"]) > dd["tol"]:
            failing.append(f"dimension:{name}")
    defects = []
    for d in p.defects:
        box, area = _defect_footprint(d)
        corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]])
        gp = _mm_to_golden_px(prof, corners)
        zone = _DEFECT_ZONE[d.kind]
        defects.append({
            "type": d.kind,
            "zone": zone,
            "defect_type": ANOMALY_ZONES[zone]["defect_type"],
            "bbox": [float(gp[:, 0].min()), float(gp[:, 1].min()), float(gp[:, 0].max()), float(gp[:, 1].max())],
            "bbox_product_mm": [float(v) for v in box],
            "area_mm2": float(area),
            "params": _jsonable(asdict(d)),
        })
        check = f"anomaly:{zone}"
        if check not in failing:
            failing.append(check)
    extra: dict[str, Any] = {}  # variant truth, only for variant units (default lot unchanged)
    if any(v != 0.0 for v in p.bend):
        extra["bend"] = {"sag_mm": float(p.bend[0]), "s_mm": float(p.bend[1]), "shear_mm": float(p.bend[2]),
                         "model": "goldenvision.demo.bend_displacement_mm"}
    if p.blotch[0] > 0:
        extra["blotch"] = {"peak_de00": float(p.blotch[0]), "cell_mm": float(p.blotch[1]), "seed": int(p.blotch[2]),
                           "zone": "panel", "zone_mean_lab": [float(v) for v in p.panel_lab]}
    if tuple(p.metal_lab) != _LAB_METAL:
        extra["plated_lab"] = list(plated_zone_truth_lab(p.metal_lab))
    return {
        **extra,
        "unit_id": p.unit_id,
        "image_size_px": list(_camera_size(size)),
        "camera_homography": h_cam.tolist(),
        "product_pose": pose.tolist(),
        "unit_to_golden_px": unit_to_golden.tolist(),
        "lighting_gains": [float(v) for v in p.gains],
        "noise_sigma": p.noise_sigma,
        "colors": colors,
        "dimensions": dims,
        "defects": defects,
        "fault": p.fault,
        "fault_detail": p.fault_detail,
        "expected_verdict": "fail" if failing else "pass",
        "failing_checks": failing,
    }
