"""The demo wallet and its light box as data: dimensions, colours, zones, unit parameters, camera and pose."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..calibration.color import WHITEPOINT_D65_XY
from ..calibration.profile import StationProfile, load_profile
from ..errors import SpecError

PROFILE_NAME = "lightbox-demo"

#: Camera model at size 1.0: 1600 x 1200 px, 7.8 px/mm, platen centred.
_CAM_W, _CAM_H, _CAM_PX_PER_MM = 1600, 1200, 7.8
#: Supersampling factor of the camera image (texels are matched to supersampled pixels).
_SS = 2

#: D65, CIE 1931 2 degree xy (colour-science's, without importing it: it imports matplotlib.pyplot).
_D65_2 = WHITEPOINT_D65_XY

# --------------------------------------------------------------------------------------
# Product design (product mm: origin at the panel centre, x right, y down)
# --------------------------------------------------------------------------------------
_PANEL_H_MM = 68.0
_PANEL_R_MM = 5.0
_STRAP_X_MM = (18.0, 73.0)  # strap from under the buckle out past the panel's right edge
_BUCKLE_CENTER_MM = (40.0, 0.0)
_BUCKLE_W_X_MM = 18.0  # plate extent along x (the measured "width" runs along y)
_BUCKLE_R_MM = 3.0
_BUCKLE_SLOT_MM = (4.0, 18.0)  # slot (x, y extent) showing the strap
_RIVET_CENTER_MM = (10.0, 20.0)
_LOGO_CENTER_MM = (-20.0, -15.0)
_LOGO_SIZE_MM = (34.0, 15.0)
_LOGO_INK_BOX_MM = (-26.0, -20.0, -5.0, -10.0)  # x1, y1, x2, y2 of the "GV" ink
_SEAM_Y_MM = -29.5
_SEAM_PITCH_MM = 3.5
_SEAM_N = 29
_STITCH_LEN_MM = 2.2
_STITCH_W_MM = 0.7
_HOLE_R_MM = 0.3
#: Pivot of the product pose (centre of the product's bounding box) and its golden place.
_PIVOT_MM = (9.0, 0.0)
_GOLDEN_CENTER_STATION_MM = (100.0, 61.5)
#: Extent of the product texture (product mm): x1, y1, x2, y2.
_TEX_BOX_MM = (-57.0, -36.0, 75.0, 36.0)

# Surface colours, CIELAB D65 / 2 degree.
_LAB_OUTSIDE = (18.0, 0.0, 0.0)
_LAB_PLATEN = (80.0, 0.0, 1.0)
_LAB_QUIET = (95.0, 0.0, 0.0)
_LAB_MARKER_BLACK = (12.0, 0.0, 0.0)
_LAB_CHART_CARD = (25.0, 0.0, 0.0)
_LAB_RULER = (92.0, 0.0, 4.0)
_LAB_RULER_INK = (15.0, 0.0, 0.0)
_LAB_THREAD = (82.0, 3.0, 18.0)
_LAB_HOLE = (18.0, 4.0, 6.0)
_LAB_INK = (88.0, 1.0, 12.0)
_LAB_METAL = (66.0, 0.3, 3.0)
_LAB_STRAP = (30.0, 15.0, 19.0)

#: Spec targets (Lab D65/2) and the golden unit's true colours.
PANEL_TARGET_LAB = (42.0, 22.0, 32.0)
LOGO_TARGET_LAB = (30.0, 38.0, 14.0)
GOLDEN_PANEL_LAB = (42.15, 21.9, 31.8)
GOLDEN_LOGO_LAB = (29.9, 38.1, 14.15)

#: Colour zones: name -> (polygon in product mm, target Lab, tolerance ΔE00, weights kL, kC, kH).
COLOR_ZONES: dict[str, dict[str, Any]] = {
    "panel": {
        "polygon_mm": [(-50.0, 3.0), (-22.0, 3.0), (-22.0, 27.0), (-50.0, 27.0)],
        "target": PANEL_TARGET_LAB,
        "golden": GOLDEN_PANEL_LAB,
        "tolerance": 2.0,
        "weights": (2.0, 1.0, 1.0),
        "name": "Tan leather 7-42 (demo)",
    },
    "logo": {
        "polygon_mm": [(-35.5, -21.0), (-28.5, -21.0), (-28.5, -9.0), (-35.5, -9.0)],
        "target": LOGO_TARGET_LAB,
        "golden": GOLDEN_LOGO_LAB,
        "tolerance": 1.5,
        "weights": (1.0, 1.0, 1.0),
        "name": "Burgundy print 30-38 (demo)",
    },
}

#: Dimensions: name -> nominal, tolerance and tool (product mm).
DIMENSIONS: dict[str, dict[str, Any]] = {
    "panel_width": {
        "nominal": 110.0, "tol": 1.0, "measure": "width",
        "caliper_mm": {"center": (0.0, 28.0), "angle_deg": 0.0, "length": 126.0, "width": 2.0},
    },
    "strap_width": {
        "nominal": 25.0, "tol": 0.5, "measure": "width",
        "caliper_mm": {"center": (64.0, 0.0), "angle_deg": 90.0, "length": 40.0, "width": 4.0},
    },
    "buckle_width": {
        "nominal": 32.0, "tol": 0.4, "measure": "width",
        "caliper_mm": {"center": (34.5, 0.0), "angle_deg": 90.0, "length": 46.0, "width": 2.0},
    },
    "rivet_diameter": {
        "nominal": 8.0, "tol": 0.3, "measure": "diameter",
        "circle_mm": {"center": _RIVET_CENTER_MM, "radius": 4.0, "search": 1.5},
    },
}

#: Anomaly zones: name -> (polygon in product mm, defect type).
ANOMALY_ZONES: dict[str, dict[str, Any]] = {
    "buckle": {"polygon_mm": [(30.0, -17.5), (50.0, -17.5), (50.0, 17.5), (30.0, 17.5)], "defect_type": "plating"},
    "seam": {"polygon_mm": [(-53.5, -32.5), (53.5, -32.5), (53.5, -26.5), (-53.5, -26.5)], "defect_type": "stitching"},
    "logo": {"polygon_mm": [(-38.0, -23.5), (-2.0, -23.5), (-2.0, -6.5), (-38.0, -6.5)], "defect_type": "print"},
    "panel": {"polygon_mm": [(-52.0, -4.0), (3.0, -4.0), (3.0, 31.0), (-52.0, 31.0)], "defect_type": "finish"},
}

_DEFECT_ZONE = {"scratch": "buckle", "skipped_stitch": "seam", "stain": "panel", "missing_print": "logo"}
_FAULT_KINDS = ("color", "dimension", "scratch", "skipped_stitch", "stain", "missing_print")


def _golden_pose_matrix() -> np.ndarray:
    return _pose_matrix(0.0, 0.0, 0.0)


def _pose_matrix(angle_deg: float, dx_mm: float, dy_mm: float) -> np.ndarray:
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    px, py = _PIVOT_MM
    tx, ty = _GOLDEN_CENTER_STATION_MM[0] + dx_mm, _GOLDEN_CENTER_STATION_MM[1] + dy_mm
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return np.array([[1.0, 0, tx], [0, 1.0, ty], [0, 0, 1]]) @ rot @ np.array([[1.0, 0, -px], [0, 1.0, -py], [0, 0, 1]])


#: product mm -> station mm of the golden reference (golden_00).
GOLDEN_POSE = _golden_pose_matrix()


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DefectParams:
    """One defect, in product mm.

    Attributes
    ----------
    kind : {"scratch", "skipped_stitch", "stain", "missing_print"}
    center_mm : (float, float)
        Scratch / stain centre; ignored for the others.
    length_mm : float
        Scratch length, stain radius (mm); missing print: fraction of the ink box width removed.
    width_mm : float
        Scratch width (mm).
    angle_deg : float
        Scratch direction (from +x towards +y).
    strength : float
        Scratch: ΔL* of the line (+ bright, - dark); stain: ΔL* (< 0, darker).
    stitches : tuple of int
        Indices of the missing stitches (skipped stitch).
    seed : int
        Shape seed (stain outline).
    """

    kind: str
    center_mm: tuple[float, float] = (0.0, 0.0)
    length_mm: float = 0.0
    width_mm: float = 0.0
    angle_deg: float = 0.0
    strength: float = 0.0
    stitches: tuple[int, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in _DEFECT_ZONE:
            raise SpecError(f"DefectParams.kind: expected one of {sorted(_DEFECT_ZONE)}, got {self.kind!r}")


@dataclass(frozen=True)
class UnitParams:
    """Everything that defines one photo of one unit (deterministic render).

    Attributes
    ----------
    unit_id : str
    panel_lab, logo_lab, strap_lab : (float, float, float)
        True surface colours, CIELAB D65 / 2 degree (the leather grain is zero-mean around them).
    panel_width_mm, strap_width_mm, buckle_width_mm, rivet_diameter_mm : float
        True dimensions in mm.
    pose : (angle_deg, dx_mm, dy_mm)
        Product placement relative to the golden pose (rotation about the product's box centre).
    camera_jitter : (rot_deg, dx, dy, scale, px, py)
        Camera jitter in normalised image coordinates (shift in image widths, perspective terms
        per image width); zeros and scale 1 = the nominal camera.
    gains : (float, float, float)
        Per-channel lighting gains applied in linear RGB (1 = reference exposure).
    grain_seed, noise_seed : int
        Seeds of the leather grain (the physical unit) and of the sensor noise (the photo).
    noise_sigma : float
        Sensor noise standard deviation in 8-bit grey levels.
    grain_sd : float
        Standard deviation of the leather grain in L*.
    defects : tuple of DefectParams
    fault : str
        "none" or the fault kind this unit was made with ("color", "dimension", ...).
    fault_detail : str
        Plain words (e.g. "panel darker", "strap_width +0.9 mm").
    metal_lab : (float, float, float)
        Base colour of the plating (buckle, rivet) before its shading gradient and highlights.
    bend : (sag_mm, s_mm, shear_mm)
        Smooth in-plane deformation of the product (soft goods), see :func:`bend_displacement_mm`;
        zeros = flat (rigid) product.
    blotch : (peak_de00, cell_mm, seed)
        Blotchy dye lot on the panel, see :func:`blotch_field`; ``peak_de00`` 0 = uniform dye.
    """

    unit_id: str = "golden"
    panel_lab: tuple[float, float, float] = GOLDEN_PANEL_LAB
    logo_lab: tuple[float, float, float] = GOLDEN_LOGO_LAB
    strap_lab: tuple[float, float, float] = _LAB_STRAP
    panel_width_mm: float = 110.0
    strap_width_mm: float = 25.0
    buckle_width_mm: float = 32.0
    rivet_diameter_mm: float = 8.0
    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    camera_jitter: tuple[float, float, float, float, float, float] = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    grain_seed: int = 0
    noise_seed: int = 0
    noise_sigma: float = 1.2
    grain_sd: float = 0.8
    defects: tuple[DefectParams, ...] = ()
    fault: str = "none"
    fault_detail: str = ""
    metal_lab: tuple[float, float, float] = _LAB_METAL
    bend: tuple[float, float, float] = (0.0, 0.0, 0.0)
    blotch: tuple[float, float, int] = (0.0, 10.0, 0)

    def dims_mm(self) -> dict[str, float]:
        return {
            "panel_width": self.panel_width_mm,
            "strap_width": self.strap_width_mm,
            "buckle_width": self.buckle_width_mm,
            "rivet_diameter": self.rivet_diameter_mm,
        }


@dataclass(frozen=True)
class DemoLot:
    """Paths written by :func:`generate_lot` and the lot's truth (the content of truth.json)."""

    out_dir: Path
    spec_path: Path
    golden_paths: tuple[Path, ...]
    unit_paths: tuple[Path, ...]
    truth_path: Path
    truth: dict[str, Any] = field(repr=False)


# --------------------------------------------------------------------------------------
# Colour and geometry helpers
# --------------------------------------------------------------------------------------
def lab_to_linear_srgb(lab_d65: npt.ArrayLike) -> np.ndarray:
    """CIELAB (D65, 2 degree) -> linear sRGB (IEC 61966-2-1), no clipping.

    Parameters
    ----------
    lab_d65 : array_like, shape (..., 3)
        L* in [0, 100], a*, b*.

    Returns
    -------
    ndarray, shape (..., 3), float64
        Linear sRGB, 1.0 = diffuse white.
    """
    import colour  # here, not at module level: colour-science imports matplotlib.pyplot (~1 s)

    xyz = colour.Lab_to_XYZ(np.asarray(lab_d65, dtype=np.float64), illuminant=_D65_2)
    return colour.XYZ_to_sRGB(xyz, illuminant=_D65_2, apply_cctf_encoding=False)


def _delta_e00(lab1: Any, lab2: Any, weights: tuple[float, float, float]) -> float:
    """CIEDE2000 (Sharma et al. 2005) with kL, kC, kH = weights; (1,1,1) or (2,1,1) (textiles)."""
    w = tuple(float(v) for v in weights)
    if w == (1.0, 1.0, 1.0):
        textiles = False
    elif w == (2.0, 1.0, 1.0):
        textiles = True
    else:  # pragma: no cover - the demo only uses these two
        raise SpecError(f"demo weights: expected (1, 1, 1) or (2, 1, 1), got {list(w)}")
    import colour

    return float(colour.difference.delta_E_CIE2000(np.asarray(lab1, float), np.asarray(lab2, float), textiles=textiles))


def camera_homography(size: float = 1.0, jitter: tuple[float, ...] = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0)) -> np.ndarray:
    """Station mm -> camera px homography of the demo camera.

    Parameters
    ----------
    size : float
        Camera resolution factor (1.0 = 1600 x 1200 px at 7.8 px/mm).
    jitter : (rot_deg, dx, dy, scale, px, py)
        Applied in normalised image coordinates ``q = (p - c) / W`` (``c`` the image centre,
        ``W`` the width): ``q' = [[s cos, -s sin, dx], [s sin, s cos, dy], [px, py, 1]] q``.

    Returns
    -------
    ndarray, shape (3, 3), float64
        Maps ``[x_mm, y_mm, 1]`` to camera px (pixel centres at integer coordinates).
    """
    w, h = _camera_size(size)
    f = _CAM_PX_PER_MM * size
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    nominal = np.array([[f, 0.0, cx - f * 100.0], [0.0, f, cy - f * 75.0], [0.0, 0.0, 1.0]])
    rot, dx, dy, sc, px, py = (float(v) for v in jitter)
    c, s = math.cos(math.radians(rot)) * sc, math.sin(math.radians(rot)) * sc
    j = np.array([[c, -s, dx], [s, c, dy], [px, py, 1.0]])
    to_n = np.array([[1.0 / w, 0.0, -cx / w], [0.0, 1.0 / w, -cy / w], [0.0, 0.0, 1.0]])
    return np.linalg.inv(to_n) @ j @ to_n @ nominal


def product_pose(angle_deg: float = 0.0, dx_mm: float = 0.0, dy_mm: float = 0.0) -> np.ndarray:
    """Product mm -> station mm (rigid): rotation about the product's box centre, then a shift
    relative to the golden placement. ``product_pose()`` is :data:`GOLDEN_POSE`."""
    return _pose_matrix(angle_deg, dx_mm, dy_mm)


def _camera_size(size: float) -> tuple[int, int]:
    if not (0.1 <= float(size) <= 2.0):
        raise SpecError(f"size: expected a camera resolution factor in [0.1, 2.0], got {size!r}")
    return int(round(_CAM_W * size)), int(round(_CAM_H * size))


def demo_profile(size: float = 1.0) -> StationProfile:
    """The demo station profile with ``scale_mm_per_px = 0.125 / size`` (same layout)."""
    base = load_profile(PROFILE_NAME)
    if size == 1.0:
        return base
    raw = copy.deepcopy(base.raw)
    raw["scale_mm_per_px"] = 0.125 / float(size)
    return load_profile(raw)


def _apply_h(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    xyw = pts @ h[:, :2].T + h[:, 2]
    return xyw[:, :2] / xyw[:, 2:3]


def _shift_to_de(base: np.ndarray, direction: np.ndarray, de_want: float, ref: Any, weights: Any) -> np.ndarray:
    """base + k * direction with ΔE00(result, ref) == de_want (bisection on k >= 0)."""
    lo, hi = 0.0, 1.0
    while _delta_e00(base + hi * direction, ref, weights) < de_want:
        hi *= 2.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if _delta_e00(base + mid * direction, ref, weights) < de_want:
            lo = mid
        else:
            hi = mid
    return base + hi * direction


def _mm_to_golden_px(prof: StationProfile, pts_product_mm: Any) -> np.ndarray:
    return prof.mm_to_px(_apply_h(GOLDEN_POSE, np.asarray(pts_product_mm, np.float64)))


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _good_unit_lab(base: np.ndarray, zone: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """A good unit's colour: ``base`` plus N(0, 0.2) per Lab channel, shrunk (x0.7 at a time)
    until it lies within 0.35 of the zone's tolerance of both the target and the golden."""
    r = rng.normal(0.0, 0.2, 3)
    lab = base + r
    for _ in range(60):
        if max(_delta_e00(lab, zone["target"], zone["weights"]),
               _delta_e00(lab, zone["golden"], zone["weights"])) <= 0.35 * zone["tolerance"]:
            break
        r *= 0.7
        lab = base + r
    return lab
