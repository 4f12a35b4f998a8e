"""Zoo lots: golden captures and production units of a family, photographed in a mode, with truth.

Frames of the truth
-------------------
* station: as the wallet's: ``camera_homography`` station mm -> camera px, ``product_pose``
  product mm -> station mm, golden px = ``profile.mm_to_px`` of station mm under the golden
  pose, ``unit_to_golden_px`` maps *rectified* unit px (the profile's metric frame) to golden px.
* hand-held: ``camera_homography`` table mm -> camera px, ``product_pose`` product mm -> table
  mm; golden px are the camera px of ``golden_00`` (photographed square-on: no roll, no tilt,
  scale 1, so the spec's ``scale_mm_per_px`` is ``1 / (7.8 size)``); ``unit_to_golden_px``
  maps the unit's *camera* px to golden px (there is no metric frame without fiducials).

Photo variation
---------------
station: units rotate ±6 deg and shift ±5 mm on the platen, the camera jitters as the wallet's,
brightness 0.75-1.08 with a ±3 % tint. Hand-held: camera roll ±15 deg, tilt up to 7 deg about
each axis (under 10 deg in all), scale 0.9-1.1, shift ±3 % of the width; the unit lies ±3 deg,
±4 mm on the table; brightness 0.8-1.1 with a ±4 % tint; a gain ramp of up to ±25 % across the
image and vignetting 5-30 %; noise 1.5-2.5 grey levels; JPEG quality 80-94; a marker in two
frames out of three (ArUco square, ruler, none in turn; a frame with a marker is aimed between
product and marker, at scale 0.90-0.97). Golden captures vary less (±3 deg,
±3 mm; hand-held roll ±5 deg, tilt ±3 deg, scale ±5 %, JPEG 92-95, no marker).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ...errors import SpecError
from ..lot import GOLDEN_UNIT_BASE, GOLDEN_UNITS
from ..photograph import _camera_jitter, _gains
from ..scene import (
    _CAM_PX_PER_MM,
    PROFILE_NAME,
    DemoLot,
    _apply_h,
    _camera_size,
    _delta_e00,
    _jsonable,
    demo_profile,
)
from .base import MODES, Family, ZooUnit
from .camera import (
    MARKER_ID,
    MARKER_SIZE_MM,
    camera_of,
    marker_points_mm,
    photograph_unit,
    pose_of,
    product_texture,
    zoo_pose,
)

__all__ = ["make_zoo_unit", "zoo_golden_capture", "zoo_truth", "golden_px_of", "build_zoo_spec", "generate_zoo_lot"]




#: JPEG qualities of a hand-held lot's units (inclusive) unless the caller gives its own (the golden
#: captures: 92-95).
UNIT_JPEG_QUALITY = (80, 94)


def _photo_params(mode: str, rng: np.random.Generator, *, golden: bool,
                  jpeg_quality: tuple[int, int] = UNIT_JPEG_QUALITY) -> dict[str, Any]:
    if mode == "station":
        a, d = (3.0, 3.0) if golden else (6.0, 5.0)
        return {
            "pose": (float(rng.uniform(-a, a)), float(rng.uniform(-d, d)), float(rng.uniform(-d, d))),
            "camera": _camera_jitter(rng),
            "gains": _gains(rng, 0.96, 1.04, 0.01) if golden else _gains(rng, 0.75, 1.08, 0.03),
            "noise_seed": int(rng.integers(1 << 30)),
        }
    roll, tilt, dsc, a, d = (5.0, 3.0, 0.05, 3.0, 3.0) if golden else (15.0, 7.0, 0.10, 3.0, 4.0)
    out = {
        "pose": (float(rng.uniform(-a, a)), float(rng.uniform(-d, d)), float(rng.uniform(-d, d))),
        "camera": (float(rng.uniform(-roll, roll)), float(rng.uniform(-tilt, tilt)), float(rng.uniform(-tilt, tilt)),
                   float(rng.uniform(1.0 - dsc, 1.0 + dsc)), float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03))),
        "gains": _gains(rng, 0.95, 1.05, 0.01) if golden else _gains(rng, 0.8, 1.1, 0.04),
        "light": ((float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.08, 0.08)), float(rng.uniform(0.03, 0.1))) if golden
                  else (float(rng.uniform(-0.25, 0.25)), float(rng.uniform(-0.25, 0.25)), float(rng.uniform(0.05, 0.3)))),
        "noise_seed": int(rng.integers(1 << 30)),
        "noise_sigma": float(rng.uniform(1.2, 1.6)) if golden else float(rng.uniform(1.5, 2.5)),
        "jpeg_quality": int(rng.integers(92, 96)) if golden else int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1)),
    }
    return out


def make_zoo_unit(fam: Family, index: int, fault: str, seed: int, mode: str = "station",
                  jpeg_quality: tuple[int, int] = UNIT_JPEG_QUALITY) -> ZooUnit:
    """Production unit ``index`` of a zoo lot (deterministic in family, index, fault, seed, mode).

    The physical unit (colours, dimensions, variation, texture, defect) depends on the family,
    ``index``, ``fault`` and ``seed`` only, not on the photo mode. ``jpeg_quality``: the range
    (inclusive) a hand-held photo's JPEG quality is drawn from; another range draws the same
    pose, light and noise."""
    if mode not in MODES:
        raise SpecError(f"mode: expected one of {list(MODES)}, got {mode!r}")
    prod = fam.draw_production(index, fault, seed)
    rng = np.random.default_rng([int(seed), 6000 + int(index), MODES.index(mode)])
    lo, hi = (int(v) for v in jpeg_quality)
    if not 1 <= lo <= hi <= 100:
        raise SpecError(f"jpeg_quality: expected 1 <= low <= high <= 100, got {jpeg_quality!r}")
    photo = _photo_params(mode, rng, golden=False, jpeg_quality=(lo, hi))
    if mode == "handheld":
        marker = fam.markers[int(index) % len(fam.markers)]
        mx, my = fam.marker_spot_mm if marker == "aruco" else fam.ruler_spot_mm
        photo["marker"] = marker
        ang = float(rng.uniform(-8.0, 8.0)) if marker == "aruco" else float(rng.uniform(-3.0, 3.0))
        jx, jy = float(rng.uniform(-3.0, 3.0)), float(rng.uniform(-3.0, 3.0))
        if marker != "none":
            # the inspector frames product and marker together: aims between them and steps back
            # a little (scale 0.90-0.97 instead of 0.9-1.1)
            a, dx, dy = photo["pose"]
            photo["pose"] = (a, dx - mx / 2, dy - my / 2)
            cam = list(photo["camera"])
            cam[3] = 0.9 + (cam[3] - 0.9) * 0.35
            photo["camera"] = tuple(cam)
            photo["marker_pose"] = (float(mx / 2 + jx), float(my / 2 + jy), ang)
    return ZooUnit(family=fam.name, unit_id=f"unit_{index:03d}", mode=mode, **prod, **photo)


def zoo_golden_capture(fam: Family, index: int, seed: int, mode: str = "station",
                       golden_units: str = "one") -> ZooUnit:
    """Golden capture ``index``: the golden unit (one physical unit), photographed again.

    ``golden_00`` is the reference photo: golden pose, nominal camera (hand-held: square-on).
    ``golden_units="several"``: capture ``index`` > 0 photographs another good unit instead, its
    grain, weave, tone and dimensions drawn as production's are (:data:`GOLDEN_UNIT_BASE` + ``index``,
    disjoint from any lot), so that the golden carries the unit-to-unit variation."""
    if golden_units not in GOLDEN_UNITS:
        raise SpecError(f"golden_units: expected one of {list(GOLDEN_UNITS)}, got {golden_units!r}")
    base = replace(fam.golden_unit(), mode=mode, unit_id=f"golden_{index:02d}")
    if golden_units == "several" and index > 0:
        base = replace(base, **fam.draw_production(GOLDEN_UNIT_BASE + int(index), "none", seed))
    if index == 0:
        extra: dict[str, Any] = {"noise_seed": int(seed) * 7919 + 1}
        if mode == "handheld":
            extra.update(light=(0.04, -0.03, 0.06), jpeg_quality=95, noise_sigma=1.2)
        return replace(base, **extra)
    rng = np.random.default_rng([int(seed), 500 + int(index), 7 + MODES.index(mode)])
    return replace(base, **_photo_params(mode, rng, golden=True))


def golden_px_of(fam: Family, mode: str, seed: int, size: float, pts_product_mm: Any) -> np.ndarray:
    """Golden px of material points (product mm) of the golden unit in the golden_00 photo frame."""
    pts = np.asarray(pts_product_mm, np.float64).reshape(-1, 2)
    if mode == "station":
        return demo_profile(size).mm_to_px(_apply_h(zoo_pose(mode="station"), pts))
    g0 = zoo_golden_capture(fam, 0, seed, mode)
    return _apply_h(camera_of(g0, size) @ pose_of(g0), pts)


def _scale_mm_per_px(mode: str, size: float) -> float:
    return demo_profile(size).scale_mm_per_px if mode == "station" else 1.0 / (_CAM_PX_PER_MM * size)


def zoo_truth(fam: Family, unit: ZooUnit, seed: int, size: float) -> dict[str, Any]:
    """Ground truth of one photo (see the module docstring for the frames)."""
    h_cam = camera_of(unit, size)
    pose = pose_of(unit)
    if unit.mode == "station":
        s = demo_profile(size).scale_mm_per_px
        mm_to_px = np.array([[1 / s, 0, -0.5], [0, 1 / s, -0.5], [0, 0, 1.0]])
        unit_to_golden = mm_to_px @ zoo_pose(mode="station") @ np.linalg.inv(pose) @ np.linalg.inv(mm_to_px)
    else:
        g0 = zoo_golden_capture(fam, 0, seed, "handheld")
        unit_to_golden = camera_of(g0, size) @ pose_of(g0) @ np.linalg.inv(pose) @ np.linalg.inv(h_cam)
        unit_to_golden = unit_to_golden / unit_to_golden[2, 2]
    failing: list[str] = []
    colors = {}
    for name, z in fam.color_zones.items():
        lab = unit.lab(name)
        de_t = _delta_e00(lab, z["target"], z["weights"])
        de_g = _delta_e00(lab, z["golden"], z["weights"])
        colors[name] = {"lab": [float(v) for v in lab], "target_lab": list(z["target"]), "golden_lab": list(z["golden"]),
                        "delta_e_target": de_t, "delta_e_golden": de_g, "tolerance_de00": z["tolerance"],
                        "weights": list(z["weights"])}
        if de_t > z["tolerance"] or de_g > z["tolerance"]:
            failing.append(f"color:{name}")
    dims = {}
    for name, dd in fam.dimensions.items():
        dims[name] = unit.dim(name)
        if abs(dims[name] - dd["nominal"]) > dd["tol"]:
            failing.append(f"dimension:{name}")
    defects = []
    for d in unit.defects:
        box, area = fam.defect_footprint(d, unit)
        corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]])
        gp = golden_px_of(fam, unit.mode, seed, size, corners)
        zone = fam.defect_zone[d.kind]
        defects.append({"type": d.kind, "zone": zone, "defect_type": fam.anomaly_zones[zone]["defect_type"],
                        "bbox": [float(gp[:, 0].min()), float(gp[:, 1].min()), float(gp[:, 0].max()), float(gp[:, 1].max())],
                        "bbox_product_mm": [float(v) for v in box], "area_mm2": float(area), "params": _jsonable(asdict(d))})
        if f"anomaly:{zone}" not in failing:
            failing.append(f"anomaly:{zone}")
    out: dict[str, Any] = {
        "unit_id": unit.unit_id,
        "family": fam.name,
        "mode": unit.mode,
        "image_size_px": list(_camera_size(size)),
        "camera_homography": h_cam.tolist(),
        "product_pose": pose.tolist(),
        "unit_to_golden_px": unit_to_golden.tolist(),
        "lighting_gains": [float(v) for v in unit.gains],
        "noise_sigma": float(unit.noise_sigma),
        "colors": colors,
        "dimensions": dims,
        "variation": {k: float(v) for k, v in unit.variation},
        "defects": defects,
        "fault": unit.fault,
        "fault_detail": unit.fault_detail,
        "expected_verdict": "fail" if failing else "pass",
        "failing_checks": failing,
    }
    if unit.mode == "handheld":
        roll, tx, ty, sc, _, _ = unit.camera
        out["handheld"] = {"roll_deg": float(roll), "tilt_x_deg": float(tx), "tilt_y_deg": float(ty), "scale": float(sc),
                           "light": {"gx": unit.light[0], "gy": unit.light[1], "vignette": unit.light[2],
                                     "model": "gain = 1 + gx u + gy v - vignette (u^2 + v^2), u, v = (px - centre) / width"},
                           "jpeg_quality": int(unit.jpeg_quality)}
        if unit.marker == "none":
            out["scale_marker"] = None
        else:
            pts = _apply_h(h_cam, marker_points_mm(unit))
            out["scale_marker"] = {
                "kind": unit.marker,
                "points_px": pts.tolist(),
                "points": ("corners TL, TR, BR, BL of the black square" if unit.marker == "aruco"
                           else "tops of the 0 mm and 100 mm ticks"),
                "size_mm": 20.0 if unit.marker == "aruco" else 100.0,
                "aruco": {"dictionary": "DICT_4X4_50", "id": 7} if unit.marker == "aruco" else None,
            }
    return out


def _poly(fam: Family, mode: str, seed: int, size: float, poly_mm: Any) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2)] for x, y in golden_px_of(fam, mode, seed, size, poly_mm)]


def build_zoo_spec(fam: Family, mode: str = "station", size: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """The family's spec sheet (a dict for :func:`goldenvision.spec.load_spec`), in golden px.

    Station: with the demo station profile. Hand-held: no station; ``scale_mm_per_px`` is the
    golden_00 photo's nominal scale."""
    s = _scale_mm_per_px(mode, size)
    colors = [{"name": name, "region": _poly(fam, mode, seed, size, z["polygon_mm"]),
               "target": {"lab": list(z["target"]), "illuminant": "D65", "observer": 2, "name": z["name"]},
               "tolerance_de00": z["tolerance"], "weights": list(z["weights"]), "severity": "major"}
              for name, z in fam.color_zones.items()]
    dims = []
    for name, dd in fam.dimensions.items():
        entry: dict[str, Any] = {"name": name, "measure": dd["measure"], "nominal_mm": dd["nominal"],
                                 "tolerance_mm": [-dd["tol"], dd["tol"]], "severity": "major"}
        if "polarity" in dd:  # of the first edge along the caliper, or outward for a diameter
            entry["polarity"] = dd["polarity"]
        if "caliper_mm" in dd:
            c = dd["caliper_mm"]
            u = np.array([math.cos(math.radians(c["angle_deg"])), math.sin(math.radians(c["angle_deg"]))])
            p = golden_px_of(fam, mode, seed, size, [c["center"], np.asarray(c["center"]) + u])
            ang = math.degrees(math.atan2(p[1, 1] - p[0, 1], p[1, 0] - p[0, 0]))
            entry["caliper"] = {"center": [round(float(p[0, 0]), 3), round(float(p[0, 1]), 3)], "angle_deg": round(ang, 4),
                                "length_px": round(c["length"] / s, 3), "width_px": round(c["width"] / s, 3)}
        else:
            c = dd["circle_mm"]
            p = golden_px_of(fam, mode, seed, size, [c["center"]])[0]
            entry["circle"] = {"center": [round(float(p[0]), 3), round(float(p[1]), 3)],
                               "radius_px": round(c["radius"] / s, 3), "search_px": round(c["search"] / s, 3)}
        dims.append(entry)
    zones = [{"name": name, "region": _poly(fam, mode, seed, size, z["polygon_mm"]), "defect_type": z["defect_type"],
              "sensitivity": 1.0, "min_area_mm2": z.get("min_area_mm2", 0.5), "severity": "major"} for name, z in fam.anomaly_zones.items()]
    spec: dict[str, Any] = {"product": fam.product, "revision": "A", "registration": "auto"}
    if mode == "station":
        spec["station"] = PROFILE_NAME if size == 1.0 else _jsonable(copy.deepcopy(demo_profile(size).raw))
    elif "aruco" in fam.markers:  # the inspector's known-size marker: the dimensions' reference where it shows
        spec["scale_marker"] = {"type": "aruco", "dictionary": "DICT_4X4_50", "id": MARKER_ID, "size_mm": MARKER_SIZE_MM}
    if mode != "station" and "ruler" in fam.markers:  # a ruler's ticks: the scale where it shows and no marker does
        spec["scale_ruler"] = {"tick_mm": 1.0}
    spec.update({"scale_mm_per_px": s, "colors": colors, "dimensions": dims, "anomaly_zones": zones,
                 "aql": {"level": "II", "critical": 0.0, "major": 2.5, "minor": 4.0}})
    return spec


def _lot_faults(fam: Family, seed: int, n_units: int) -> list[str]:
    n_bad = int(round(0.4 * n_units))
    kinds = fam.fault_kinds
    faults = ["none"] * (n_units - n_bad) + [kinds[i % len(kinds)] for i in range(n_bad)]
    rng = np.random.default_rng([int(seed), 7, 11])
    return [faults[i] for i in rng.permutation(n_units)]


def _write_image(path: Path, rgb: np.ndarray, jpeg_quality: int) -> None:
    import cv2

    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if jpeg_quality:
        # the photo was already JPEG-compressed at this quality; re-encoding the decoded pixels at
        # 100 keeps the file a JPEG without a visible second loss
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])
    else:
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover
        raise SpecError(f"{path}: image encoding failed")
    path.write_bytes(buf.tobytes())


def generate_zoo_lot(out_dir: "str | Path", fam: Family, *, mode: str = "station", seed: int = 0, n_golden: int = 4,
                     n_units: int = 20, size: float = 1.0, golden_units: str = "one",
                     jpeg_quality: tuple[int, int] = UNIT_JPEG_QUALITY) -> DemoLot:
    """Write a zoo family's spec, golden captures and a production lot with ground truth.

    Same layout as the wallet's lot (``spec.yaml``, ``golden/``, ``lot/unit_XXX.* + .json``,
    ``lot/truth.json``); hand-held photos are JPEG files. ``golden_units``: "one" (the golden
    unit photographed ``n_golden`` times) or "several" (``golden_00`` the golden unit, the other
    captures other good units: :func:`zoo_golden_capture`). ``jpeg_quality``: the range of the
    hand-held units' JPEG qualities (:func:`make_zoo_unit`)."""
    if mode not in MODES:
        raise SpecError(f"generate_lot mode: expected one of {list(MODES)}, got {mode!r}")
    if int(n_golden) < 1 or int(n_units) < 1:
        raise SpecError(f"generate_lot: expected n_golden >= 1 and n_units >= 1, got {n_golden}, {n_units}")
    size = float(size)
    _camera_size(size)
    out = Path(out_dir)
    (out / "golden").mkdir(parents=True, exist_ok=True)
    (out / "lot").mkdir(parents=True, exist_ok=True)
    ext = "png" if mode == "station" else "jpg"
    spec = build_zoo_spec(fam, mode, size, seed)
    spec_path = out / "spec.yaml"
    spec_path.write_text(f"# goldenvision demo spec: {fam.name}, {mode} photos (generated by goldenvision.demo)\n"
                         + yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    golden_paths, golden_truth = [], []
    g0 = zoo_golden_capture(fam, 0, seed, mode, golden_units)
    gtex = product_texture(fam, g0, size)
    for i in range(int(n_golden)):
        gp = zoo_golden_capture(fam, i, seed, mode, golden_units)
        path = out / "golden" / f"golden_{i:02d}.{ext}"
        same_unit = golden_units == "one" or i == 0
        _write_image(path, photograph_unit(fam, gp, size, gtex if same_unit else None), gp.jpeg_quality)
        golden_paths.append(path)
        t = zoo_truth(fam, gp, seed, size)
        golden_truth.append({k: t[k] for k in ("unit_id", "camera_homography", "product_pose", "unit_to_golden_px",
                                               "lighting_gains", "dimensions")})
    unit_paths, units = [], []
    for i, fault in enumerate(_lot_faults(fam, seed, int(n_units))):
        up = make_zoo_unit(fam, i, fault, seed, mode, jpeg_quality)
        path = out / "lot" / f"{up.unit_id}.{ext}"
        _write_image(path, photograph_unit(fam, up, size), up.jpeg_quality)
        truth = zoo_truth(fam, up, seed, size)
        truth["image"] = path.name
        (out / "lot" / f"{up.unit_id}.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
        unit_paths.append(path)
        units.append(truth)
    lot_truth = {
        "generator": "goldenvision.demo",
        "family": fam.name,
        "mode": mode,
        "seed": int(seed),
        "size": size,
        "image_size_px": list(_camera_size(size)),
        "scale_mm_per_px": _scale_mm_per_px(mode, size),
        "golden_reference": {"camera_homography": golden_truth[0]["camera_homography"],
                             "product_pose": golden_truth[0]["product_pose"]},
        "golden_captures": golden_truth,
        "product_corners_mm": [list(map(float, p)) for p in fam.outline_mm],
        "dimension_specs": {k: {"nominal_mm": v["nominal"], "tolerance_mm": [-v["tol"], v["tol"]]}
                            for k, v in fam.dimensions.items()},
        "units": units,
        "n_pass": sum(u["expected_verdict"] == "pass" for u in units),
        "n_fail": sum(u["expected_verdict"] == "fail" for u in units),
    }
    truth_path = out / "lot" / "truth.json"
    truth_path.write_text(json.dumps(lot_truth, indent=1), encoding="utf-8")
    return DemoLot(out, spec_path, tuple(golden_paths), tuple(unit_paths), truth_path, lot_truth)
