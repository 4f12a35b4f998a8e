"""Lot design: golden captures, production units (good and one fault each), the spec, generate_lot, variants."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import yaml

from ..calibration.profile import StationProfile
from ..errors import GoldenVisionError, SpecError
from .fields import PLATED_ZONE, plated_zone_truth_lab
from .photograph import (
    _camera_jitter,
    _gains,
    _render_with_texture,
    golden_params,
    render_unit,
)
from .render import _product_texture
from .scene import (
    _BUCKLE_CENTER_MM,
    _FAULT_KINDS,
    _PANEL_H_MM,
    _SEAM_N,
    ANOMALY_ZONES,
    COLOR_ZONES,
    DIMENSIONS,
    GOLDEN_POSE,
    PROFILE_NAME,
    DefectParams,
    DemoLot,
    UnitParams,
    _apply_h,
    _camera_size,
    _delta_e00,
    _good_unit_lab,
    _jsonable,
    _mm_to_golden_px,
    _shift_to_de,
    demo_profile,
)
from .truth import _unit_truth

# --------------------------------------------------------------------------------------
# The lot
# --------------------------------------------------------------------------------------
_COLOR_DIRECTIONS = {
    "darker": (-1.0, 0.0, 0.0),
    "lighter": (1.0, 0.0, 0.0),
    "yellower": (0.0, 0.0, 1.0),
    "bluer": (0.0, 0.0, -1.0),
    "redder": (0.0, 1.0, 0.0),
    "greener": (0.0, -1.0, 0.0),
}


def _make_unit(index: int, fault: str, seed: int) -> UnitParams:
    rng = np.random.default_rng([int(seed), 1000 + index])
    fields: dict[str, Any] = {}
    detail = ""
    # colours: golden + drift (panel b* +0.02 per unit) + small random, kept < 0.35 x tolerance
    drift = np.array([0.0, 0.0, min(0.02 * index, 1.0)])  # saturates after 50 units: good units stay good
    labs = {}
    for name, z in COLOR_ZONES.items():
        base = np.asarray(z["golden"], np.float64) + (drift if name == "panel" else 0.0)
        labs[name] = _good_unit_lab(base, z, rng)
    if fault == "color":
        name = ("panel", "logo")[int(rng.integers(2))]
        z = COLOR_ZONES[name]
        word = sorted(_COLOR_DIRECTIONS)[int(rng.integers(len(_COLOR_DIRECTIONS)))]
        k = rng.uniform(1.8, 2.4)
        lab = _shift_to_de(labs[name], np.asarray(_COLOR_DIRECTIONS[word]), k * z["tolerance"], z["target"], z["weights"])
        # also at least 1.6 x tolerance from the golden
        if _delta_e00(lab, z["golden"], z["weights"]) < 1.6 * z["tolerance"]:
            lab = _shift_to_de(lab, np.asarray(_COLOR_DIRECTIONS[word]), 1.8 * z["tolerance"], z["golden"], z["weights"])
        labs[name] = lab
        detail = f"{name} {word}"
    fields["panel_lab"] = tuple(float(v) for v in labs["panel"])
    fields["logo_lab"] = tuple(float(v) for v in labs["logo"])
    for name, dd in DIMENSIONS.items():
        fields[f"{name}_mm"] = float(dd["nominal"] + rng.uniform(-0.3, 0.3) * dd["tol"])
    if fault == "dimension":
        names = sorted(DIMENSIONS)
        name = names[int(rng.integers(len(names)))]
        dd = DIMENSIONS[name]
        dev = float(rng.uniform(1.7, 2.2) * dd["tol"] * (1 if rng.random() < 0.5 else -1))
        fields[f"{name}_mm"] = dd["nominal"] + dev
        detail = f"{name} {dev:+.2f} mm"
    defects: tuple[DefectParams, ...] = ()
    if fault == "scratch":
        bright = bool(rng.random() < 0.35)
        defects = (DefectParams(
            kind="scratch",
            center_mm=(float(_BUCKLE_CENTER_MM[0] + rng.uniform(4.2, 5.2)), float(rng.uniform(-9.0, 9.0))),
            length_mm=float(rng.uniform(4.0, 6.0)), width_mm=float(rng.uniform(0.3, 0.45)),
            angle_deg=float(rng.uniform(75.0, 105.0)), strength=22.0 if bright else -30.0,
        ),)
        detail = f"{'bright' if bright else 'dark'} scratch on the buckle"
    elif fault == "skipped_stitch":
        n = int(rng.integers(1, 3))
        i0 = int(rng.integers(3, _SEAM_N - 4))
        defects = (DefectParams(kind="skipped_stitch", stitches=tuple(range(i0, i0 + n))),)
        detail = f"{n} stitch(es) missing from #{i0}"
    elif fault == "stain":
        defects = (DefectParams(
            kind="stain", center_mm=(float(rng.uniform(-13.0, -7.0)), float(rng.uniform(4.0, 18.0))),
            length_mm=float(rng.uniform(2.0, 3.0)), strength=float(-rng.uniform(11.0, 15.0)), seed=int(rng.integers(1 << 30)),
        ),)
        detail = "darker stain on the leather"
    elif fault == "missing_print":
        frac = float(rng.uniform(0.35, 0.6))
        defects = (DefectParams(kind="missing_print", length_mm=frac),)
        detail = f"right {frac:.0%} of the logo print missing"
    return UnitParams(
        unit_id=f"unit_{index:03d}",
        pose=(float(rng.uniform(-6.0, 6.0)), float(rng.uniform(-5.0, 5.0)), float(rng.uniform(-5.0, 5.0))),
        camera_jitter=_camera_jitter(rng),
        gains=_gains(rng, 0.75, 1.08, 0.03),
        grain_seed=int(rng.integers(1 << 30)),
        noise_seed=int(rng.integers(1 << 30)),
        defects=defects,
        fault=fault,
        fault_detail=detail,
        **fields,
    )


def _lot_faults(seed: int, n_units: int) -> list[str]:
    n_bad = int(round(0.4 * n_units))
    faults = ["none"] * (n_units - n_bad) + [_FAULT_KINDS[i % len(_FAULT_KINDS)] for i in range(n_bad)]
    rng = np.random.default_rng([int(seed), 7])
    order = rng.permutation(n_units)
    return [faults[i] for i in order]


#: How the golden captures are made: one physical unit photographed again, or several good units.
GOLDEN_UNITS = ("one", "several")
#: With several golden units, capture ``i``'s unit is production unit ``GOLDEN_UNIT_BASE + i`` (far past any lot).
GOLDEN_UNIT_BASE = 90000


def _golden_capture(index: int, seed: int, golden_units: str = "one") -> UnitParams:
    base = golden_params()
    if golden_units == "several" and index > 0:
        # another good unit (goldenvision.demo.zoo.lot.zoo_golden_capture): its own grain and
        # dimensions; the golden colours (a production unit this far into the lot carries the
        # lot's b* drift)
        other = _make_unit(GOLDEN_UNIT_BASE + int(index), "none", seed)
        base = replace(base, grain_seed=other.grain_seed, **{f"{k}_mm": getattr(other, f"{k}_mm") for k in DIMENSIONS})
    if index == 0:
        return UnitParams(**{**asdict(base), "unit_id": "golden_00", "defects": (), "noise_seed": int(seed) * 7919 + 1})
    rng = np.random.default_rng([int(seed), 500 + index])
    return UnitParams(**{
        **asdict(base), "unit_id": f"golden_{index:02d}", "defects": (),
        "pose": (float(rng.uniform(-3.0, 3.0)), float(rng.uniform(-3.0, 3.0)), float(rng.uniform(-3.0, 3.0))),
        "camera_jitter": _camera_jitter(rng),
        "gains": _gains(rng, 0.96, 1.04, 0.01),
        "noise_seed": int(rng.integers(1 << 30)),
    })


def _poly_px(prof: StationProfile, poly_mm: list[tuple[float, float]]) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2)] for x, y in _mm_to_golden_px(prof, poly_mm)]


def build_spec(size: float = 1.0) -> dict[str, Any]:
    """The demo spec sheet (a dict accepted by :func:`goldenvision.spec.load_spec`).

    Polygons, calipers and circles are in golden px of the profile of ``size``."""
    prof = demo_profile(size)
    s = prof.scale_mm_per_px
    colors = []
    for name, z in COLOR_ZONES.items():
        colors.append({
            "name": name,
            "region": _poly_px(prof, z["polygon_mm"]),
            "target": {"lab": list(z["target"]), "illuminant": "D65", "observer": 2, "name": z["name"]},
            "tolerance_de00": z["tolerance"],
            "weights": list(z["weights"]),
            "severity": "major",
        })
    dims = []
    for name, dd in DIMENSIONS.items():
        entry: dict[str, Any] = {"name": name, "measure": dd["measure"], "nominal_mm": dd["nominal"],
                                 "tolerance_mm": [-dd["tol"], dd["tol"]], "severity": "major"}
        if "caliper_mm" in dd:
            c = dd["caliper_mm"]
            center = _mm_to_golden_px(prof, [c["center"]])[0]
            u = np.array([math.cos(math.radians(c["angle_deg"])), math.sin(math.radians(c["angle_deg"]))])
            d = _apply_h(GOLDEN_POSE, np.array([c["center"] + u, c["center"] - u])) @ np.eye(2)
            ang = math.degrees(math.atan2(d[0, 1] - d[1, 1], d[0, 0] - d[1, 0]))
            entry["caliper"] = {"center": [round(float(center[0]), 3), round(float(center[1]), 3)], "angle_deg": round(ang, 4),
                                "length_px": round(c["length"] / s, 3), "width_px": round(c["width"] / s, 3)}
        else:
            c = dd["circle_mm"]
            center = _mm_to_golden_px(prof, [c["center"]])[0]
            entry["circle"] = {"center": [round(float(center[0]), 3), round(float(center[1]), 3)],
                               "radius_px": round(c["radius"] / s, 3), "search_px": round(c["search"] / s, 3)}
        dims.append(entry)
    zones = [{"name": name, "region": _poly_px(prof, z["polygon_mm"]), "defect_type": z["defect_type"],
              "sensitivity": 1.0, "min_area_mm2": 0.5, "severity": "major"} for name, z in ANOMALY_ZONES.items()]
    return {
        "product": "wallet-classic",
        "revision": "B",
        "registration": "auto",
        "station": PROFILE_NAME if size == 1.0 else _jsonable(copy.deepcopy(prof.raw)),
        "scale_mm_per_px": s,
        "colors": colors,
        "dimensions": dims,
        "anomaly_zones": zones,
        "aql": {"level": "II", "critical": 0.0, "major": 2.5, "minor": 4.0},
    }


def _write_png(path: Path, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover
        raise GoldenVisionError(f"{path}: PNG encoding failed")
    path.write_bytes(buf.tobytes())


#: Product families :func:`generate_lot` makes: the wallet and the zoo (goldenvision.demo.zoo).
FAMILY_NAMES = ("wallet", "label", "part", "apparel", "hardware", "jewellery", "ceramic", "pcba", "wood", "sole")


def generate_lot(out_dir: "str | Path", *, seed: int = 0, n_golden: int = 5, n_units: int = 40, size: float = 1.0,
                 family: str = "wallet", mode: str = "station", golden_units: str = "one",
                 jpeg_quality: tuple[int, int] | None = None) -> DemoLot:
    """Write a demo spec, golden captures and a production lot with ground truth.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created; existing demo files are overwritten).
    seed : int, keyword-only
        Everything (poses, lighting, colours, faults, grain, noise) is a function of ``seed``.
    n_golden : int, keyword-only
        Number of golden captures (>= 1); ``golden_00`` defines golden px.
    n_units : int, keyword-only
        Lot size (>= 1); about 60 % good units, the rest one clear fault each.
    size : float, keyword-only
        Camera resolution factor (1.0 = 1600 x 1200 px; the station spec's scale is ``0.125 / size``).
    family : str, keyword-only
        "wallet" (the default demo product) or a zoo family of :data:`FAMILY_NAMES`
        (see :mod:`goldenvision.demo.zoo`).
    mode : {"station", "handheld"}, keyword-only
        Station light box with fiducials and chart, or an inspector's hand-held photo (JPEG
        files, no fiducials, see :mod:`goldenvision.demo.zoo.camera`; the hand-held wallet lot
        photographs the station lot's physical units, :mod:`goldenvision.demo.zoo.wallet`).
    golden_units : {"one", "several"}, keyword-only
        "one": the golden captures photograph one physical unit; "several": ``golden_00`` is the
        golden unit and every other capture another good unit (its own grain, weave, tone and
        dimensions), as when a golden is sealed from several approved units.
    jpeg_quality : (int, int), optional, keyword-only
        Hand-held lots: the range (inclusive) of the units' JPEG qualities (None: 80-94, the
        golden captures 92-95 whatever it is).

    Returns
    -------
    DemoLot
    """
    if family not in FAMILY_NAMES:
        raise SpecError(f"generate_lot family: expected one of {list(FAMILY_NAMES)}, got {family!r}")
    if mode not in ("station", "handheld"):
        raise SpecError(f"generate_lot mode: expected 'station' or 'handheld', got {mode!r}")
    jq = {} if jpeg_quality is None else {"jpeg_quality": (int(jpeg_quality[0]), int(jpeg_quality[1]))}
    if family != "wallet":
        from .zoo import FAMILIES, generate_zoo_lot

        return generate_zoo_lot(out_dir, FAMILIES[family], mode=mode, seed=seed, n_golden=n_golden, n_units=n_units,
                                size=size, golden_units=golden_units, **jq)
    if mode == "handheld":  # the same physical units, photographed by hand (goldenvision.demo.zoo.wallet)
        from .zoo import generate_zoo_lot
        from .zoo.wallet import WalletHandheld

        return generate_zoo_lot(out_dir, WalletHandheld(), mode=mode, seed=seed, n_golden=n_golden, n_units=n_units,
                                size=size, golden_units=golden_units, **jq)
    if int(n_golden) < 1 or int(n_units) < 1:
        raise SpecError(f"generate_lot: expected n_golden >= 1 and n_units >= 1, got {n_golden}, {n_units}")
    if golden_units not in GOLDEN_UNITS:
        raise SpecError(f"generate_lot golden_units: expected one of {list(GOLDEN_UNITS)}, got {golden_units!r}")
    size = float(size)
    _camera_size(size)
    out = Path(out_dir)
    (out / "golden").mkdir(parents=True, exist_ok=True)
    (out / "lot").mkdir(parents=True, exist_ok=True)
    prof = demo_profile(size)
    spec = build_spec(size)
    spec_path = out / "spec.yaml"
    spec_path.write_text("# goldenvision demo spec (generated by goldenvision.demo)\n" + yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")

    golden_paths = []
    golden_truth = []
    gtex = _product_texture(_golden_capture(0, seed), size)
    for i in range(int(n_golden)):
        gp = _golden_capture(i, seed, golden_units)
        path = out / "golden" / f"golden_{i:02d}.png"
        _write_png(path, _render_with_texture(gp, gtex if golden_units == "one" or i == 0 else _product_texture(gp, size), size))
        golden_paths.append(path)
        t = _unit_truth(gp, prof, size)
        golden_truth.append({k: t[k] for k in ("unit_id", "camera_homography", "product_pose", "unit_to_golden_px", "lighting_gains",
                                               "dimensions")})

    faults = _lot_faults(seed, int(n_units))
    unit_paths = []
    units = []
    for i, fault in enumerate(faults):
        up = _make_unit(i, fault, seed)
        rgb, truth = render_unit(up, prof, size=size)
        path = out / "lot" / f"{up.unit_id}.png"
        _write_png(path, rgb)
        truth["image"] = path.name
        (out / "lot" / f"{up.unit_id}.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
        unit_paths.append(path)
        units.append(truth)

    lot_truth = {
        "generator": "goldenvision.demo",
        "seed": int(seed),
        "size": size,
        "image_size_px": list(_camera_size(size)),
        "scale_mm_per_px": prof.scale_mm_per_px,
        "golden_reference": {
            "camera_homography": golden_truth[0]["camera_homography"],
            "product_pose": golden_truth[0]["product_pose"],
        },
        "golden_captures": golden_truth,
        "product_corners_mm": [[-55.0, -_PANEL_H_MM / 2], [55.0, -_PANEL_H_MM / 2], [55.0, _PANEL_H_MM / 2],
                               [-55.0, _PANEL_H_MM / 2]],
        "dimension_specs": {k: {"nominal_mm": v["nominal"], "tolerance_mm": [-v["tol"], v["tol"]]} for k, v in DIMENSIONS.items()},
        "units": units,
        "n_pass": sum(u["expected_verdict"] == "pass" for u in units),
        "n_fail": sum(u["expected_verdict"] == "fail" for u in units),
    }
    truth_path = out / "lot" / "truth.json"
    truth_path.write_text(json.dumps(lot_truth, indent=1), encoding="utf-8")
    return DemoLot(out, spec_path, tuple(golden_paths), tuple(unit_paths), truth_path, lot_truth)


def spec_variant(size: float = 1.0, *, registration: str | None = None, panel_uniformity_de00: float | None = None,
                 plated_zone: bool = False) -> dict[str, Any]:
    """:func:`build_spec` with the variants of issues 3 and 4.

    Parameters
    ----------
    size : float
        Camera resolution factor.
    registration : {"auto", "homography", "affine", "nonrigid", "none"} or None, keyword-only
        Overrides the spec's registration method (None: keep "auto").
    panel_uniformity_de00 : float or None, keyword-only
        ``uniformity_tolerance_de00`` of the panel zone (95th-percentile cell ΔE00).
    plated_zone : bool, keyword-only
        Add a ``buckle`` colour zone (:data:`PLATED_ZONE`) whose target is the nominal plating's
        truth (:func:`plated_zone_truth_lab`).
    """
    spec = build_spec(size)
    if registration is not None:
        spec["registration"] = registration
    if panel_uniformity_de00 is not None:
        for c in spec["colors"]:
            if c["name"] == "panel":
                c["uniformity_tolerance_de00"] = float(panel_uniformity_de00)
    if plated_zone:
        prof = demo_profile(size)
        spec["colors"].append({
            "name": "buckle",
            "region": _poly_px(prof, PLATED_ZONE["polygon_mm"]),
            "target": {"lab": [round(v, 4) for v in plated_zone_truth_lab()], "illuminant": "D65", "observer": 2,
                       "name": PLATED_ZONE["name"]},
            "tolerance_de00": PLATED_ZONE["tolerance"],
            "weights": list(PLATED_ZONE["weights"]),
            "severity": "major",
        })
    return spec


#: Kinds accepted by :func:`make_variant_unit`.
VARIANT_KINDS = ("good", "color", "blotchy", "bent")


def make_variant_unit(index: int, kind: str, seed: int = 0, *, bend_mm: float = 1.8, blotch_de00: float = 2.5,
                      blotch_cell_mm: float = 10.0) -> UnitParams:
    """A unit of the variant lots (deterministic in ``index``, ``kind``, ``seed``).

    ``good`` and ``color`` are the default lot's good / colour-fault units (same draws);
    ``blotchy`` is a good unit whose panel is blotchy (``±blotch_de00`` peak, cells of
    ``blotch_cell_mm``, random seed); ``bent`` is a good unit with a random bend: sag,
    S-bend and lateral S each uniform in ±``bend_mm`` (the largest set to ±``bend_mm``).
    """
    if kind not in VARIANT_KINDS:
        raise SpecError(f"make_variant_unit kind: expected one of {list(VARIANT_KINDS)}, got {kind!r}")
    base = _make_unit(int(index), "color" if kind == "color" else "none", int(seed))
    rng = np.random.default_rng([int(seed), 3000 + int(index)])
    if kind == "blotchy":
        cell = float(blotch_cell_mm * rng.uniform(0.8, 1.2))
        return replace(base, blotch=(float(blotch_de00), cell, int(rng.integers(1 << 30))), fault="blotchy",
                       fault_detail=f"blotchy panel (±{blotch_de00:.1f} ΔE00, {cell:.0f} mm)")
    if kind == "bent":
        b = rng.uniform(-1.0, 1.0, 3)
        b = b / np.abs(b).max() * float(bend_mm)
        return replace(base, bend=cast("tuple[float, float, float]", tuple(float(v) for v in b)),
                       fault_detail="bent (sag {:+.2f}, S {:+.2f}, shear {:+.2f} mm)".format(*b))
    return base
