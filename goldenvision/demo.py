"""Demo product generator: deterministic light-box photos of a leather wallet with ground truth.

The demo renders the light box of ``goldenvision/calibration/profiles/lightbox-demo.yaml``
(platen, four ArUco fiducials, 24-patch chart, ruler) with a wallet-like leather panel on it
(grain, stitched seam, plated buckle, printed logo patch, strap, rivet), photographs it
through a known camera homography under a known lighting, and writes:

* ``spec.yaml``: the spec the lot is judged by (colour zones, calipers, anomaly zones, AQL);
* ``golden/golden_XX.png``: captures of the golden unit (``golden_00`` defines golden px);
* ``lot/unit_XXX.png`` + ``unit_XXX.json``: production units with their ground truth;
* ``lot/truth.json``: all the truth plus the golden reference's camera homography and pose.

Rendering model (so that the truth is exact)
--------------------------------------------
The scene is built in the **station frame** (mm, origin top-left of the platen, x right,
y down) and in the **product frame** (mm, origin at the panel centre, x along the panel's
width, y down). Every surface is defined in CIELAB (D65, 2 degree observer), converted to
linear sRGB (IEC 61966-2-1) with colour-science. Two textures are painted with exact
box-filter coverage (axis-aligned rectangles by their overlap with each texel, curved
shapes by a signed-distance ramp one texel wide):

* the station texture, in station mm (cached per size);
* the product texture, in product mm (per unit), premultiplied by its coverage.

Both are warped with ``cv2.warpPerspective`` (bilinear) into a 2x supersampled camera image
through ``camera_homography @ product_pose`` (product) and ``camera_homography`` (station),
composited in linear light, multiplied by per-channel lighting gains, reduced with
``INTER_AREA`` (a 2x2 box), sRGB-encoded, given Gaussian noise (grey levels) and rounded to
uint8. All the filters are symmetric, so a straight edge's 50 % position in linear light is
where the geometry puts it (tested to 0.05 px).

Because blur happens in linear light and the photo is sRGB-encoded, an edge located in the
*encoded* grey sits 0.10-0.13 px towards the darker side (measured on the panel edge at
size 0.4 and 1.0); locate edges in linear light (or L*) for the exact position.

Variants (issues 3 and 4; the default lot does not use them and is byte-identical to before):

* **bent soft goods**: ``UnitParams.bend = (sag_mm, s_mm, shear_mm)`` displaces every
  material point by a smooth in-plane field (:func:`bend_displacement_mm`) before the pose;
  the render inverts it exactly per supersampled pixel (``cv2.remap``), and
  :func:`product_mm_to_camera_px` / :func:`product_mm_to_golden_px` give the true photo and
  golden px of any material point (tested to 0.05 px on a bent edge);
* **blotchy dye lot**: ``UnitParams.blotch = (peak_de00, cell_mm, seed)`` adds a low-frequency
  chroma field (:func:`blotch_field`), zero-mean over the panel colour zone, so the zone mean
  stays ``panel_lab`` while cell means reach ``peak_de00``;
* **plated zone**: :data:`PLATED_ZONE` on the buckle (shading gradient + specular band), truth
  :func:`plated_zone_truth_lab` (area mean of the diffuse Lab, highlights excluded);
  ``UnitParams.metal_lab`` sets the plating's base colour;
* :func:`spec_variant` (registration method, panel uniformity tolerance, plated zone) and
  :func:`make_variant_unit` ("good", "color", "blotchy", "bent").

Frames of the truth: ``camera_homography`` maps station mm -> camera px (pixel centres at
integer coordinates); ``product_pose`` maps product mm -> station mm (rigid); golden px are
``profile.mm_to_px`` of station mm under the golden pose (:data:`GOLDEN_POSE`).

Truth of one unit (``unit_XXX.json``, and ``truth.json["units"]``)::

    unit_id, image, image_size_px, camera_homography (3x3), product_pose (3x3),
    unit_to_golden_px (3x3: rectified unit px -> golden px, the true registration),
    lighting_gains [r, g, b], noise_sigma,
    colors: {zone: {lab, target_lab, golden_lab, delta_e_target, delta_e_golden, tolerance_de00, weights}},
    dimensions: {name: true mm},
    defects: [{type, zone, defect_type, bbox (golden px x1, y1, x2, y2), bbox_product_mm, area_mm2, params}],
    fault ("none", "color", "dimension", "scratch", "skipped_stitch", "stain", "missing_print"),
    fault_detail, expected_verdict ("pass" | "fail"),
    failing_checks (e.g. ["color:panel"], ["dimension:strap_width"], ["anomaly:buckle"])

``truth.json`` adds ``golden_reference`` ({camera_homography, product_pose} of golden_00),
``golden_captures``, ``product_corners_mm`` (the nominal panel's corners), ``dimension_specs``,
``seed``, ``size``, ``scale_mm_per_px``, ``n_pass`` and ``n_fail``.

Lot design (deterministic by seed): about 60 % good units (colour within 0.35 x tolerance of
both the target and the golden, dimensions within ±0.3 x tolerance, no defect), the rest one
clear fault each (colour ΔE00 1.8-2.4 x tolerance, at least 1.6 x from the golden; dimension
1.7-2.2 x tolerance; or one defect), and a panel b* drift of +0.02 per unit (capped at +1.0). Product poses:
rotation ±6 deg, shift ±5 mm (the product then stays inside ``product_area_mm``); lighting
brightness 0.75-1.08 with a ±3 % tint (the chart's white patch never clips); golden captures
±3 deg, ±3 mm, brightness ±4 %.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import colour
import cv2
import numpy as np
import yaml

from .calibration.profile import StationProfile, load_profile
from .errors import GoldenVisionError, SpecError

__all__ = [
    "DefectParams",
    "UnitParams",
    "DemoLot",
    "PROFILE_NAME",
    "GOLDEN_POSE",
    "COLOR_ZONES",
    "DIMENSIONS",
    "ANOMALY_ZONES",
    "lab_to_linear_srgb",
    "camera_homography",
    "product_pose",
    "demo_profile",
    "build_spec",
    "golden_params",
    "render_unit",
    "wrong_product_image",
    "empty_lightbox_image",
    "generate_lot",
    "SEAM_Y_MM",
    "PLATED_ZONE",
    "VARIANT_KINDS",
    "bend_displacement_mm",
    "product_mm_to_camera_px",
    "product_mm_to_golden_px",
    "seam_points_mm",
    "blotch_field",
    "zone_truth_lab",
    "plated_zone_truth_lab",
    "spec_variant",
    "make_variant_unit",
]

PROFILE_NAME = "lightbox-demo"

#: Camera model at size 1.0: 1600 x 1200 px, 7.8 px/mm, platen centred.
_CAM_W, _CAM_H, _CAM_PX_PER_MM = 1600, 1200, 7.8
#: Supersampling factor of the camera image (texels are matched to supersampled pixels).
_SS = 2

_D65_2 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]

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
def lab_to_linear_srgb(lab_d65: np.ndarray) -> np.ndarray:
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


def _box_coverage_1d(lo: float, hi: float, edges: np.ndarray) -> np.ndarray:
    """Overlap of [lo, hi] with each cell [edges[i], edges[i+1]], as a fraction of the cell."""
    left = np.maximum(edges[:-1], lo)
    right = np.minimum(edges[1:], hi)
    return np.clip(right - left, 0.0, None) / (edges[1:] - edges[:-1])


class _Canvas:
    """A linear-RGB texture over a box in some mm frame, with exact-coverage painters."""

    def __init__(self, box_mm: tuple[float, float, float, float], px_per_mm: float, fill: np.ndarray | None, alpha: bool):
        x1, y1, x2, y2 = box_mm
        self.t = 1.0 / px_per_mm
        self.x0, self.y0 = x1, y1
        self.w = int(math.ceil((x2 - x1) * px_per_mm))
        self.h = int(math.ceil((y2 - y1) * px_per_mm))
        self.rgb = np.zeros((self.h, self.w, 3), np.float32)
        if fill is not None:
            self.rgb[:] = np.asarray(fill, np.float32)
        self.alpha = np.zeros((self.h, self.w), np.float32) if alpha else None

    @property
    def texel_to_mm(self) -> np.ndarray:
        """Texel px (centres at integers) -> mm of the canvas frame."""
        t = self.t
        return np.array([[t, 0.0, self.x0 + 0.5 * t], [0.0, t, self.y0 + 0.5 * t], [0.0, 0.0, 1.0]])

    def _range(self, lo: float, hi: float, origin: float, n: int) -> tuple[int, int]:
        a = max(int(math.floor((lo - origin) / self.t)) - 1, 0)
        b = min(int(math.ceil((hi - origin) / self.t)) + 1, n)
        return a, max(a, b)

    def roi(self, box_mm: tuple[float, float, float, float]) -> tuple[slice, slice, np.ndarray, np.ndarray]:
        """Slices of the texels touching ``box_mm`` and the mm grids (X, Y) of their centres."""
        c0, c1 = self._range(box_mm[0], box_mm[2], self.x0, self.w)
        r0, r1 = self._range(box_mm[1], box_mm[3], self.y0, self.h)
        xs = (self.x0 + (np.arange(c0, c1) + 0.5) * self.t).astype(np.float32)
        ys = (self.y0 + (np.arange(r0, r1) + 0.5) * self.t).astype(np.float32)
        return slice(r0, r1), slice(c0, c1), xs[None, :], ys[:, None]

    def coverage_from_sdf(self, d: np.ndarray) -> np.ndarray:
        """Signed distance (mm, < 0 inside) -> coverage with a one-texel linear ramp."""
        return np.clip(0.5 - d / self.t, 0.0, 1.0).astype(np.float32)

    def rect_coverage(self, box_mm: tuple[float, float, float, float]) -> tuple[slice, slice, np.ndarray]:
        """Exact area coverage of an axis-aligned rectangle."""
        rs, cs, _, _ = self.roi(box_mm)
        ex = self.x0 + np.arange(cs.start, cs.stop + 1) * self.t
        ey = self.y0 + np.arange(rs.start, rs.stop + 1) * self.t
        cov = np.outer(_box_coverage_1d(box_mm[1], box_mm[3], ey), _box_coverage_1d(box_mm[0], box_mm[2], ex))
        return rs, cs, cov.astype(np.float32)

    def paint(self, rs: slice, cs: slice, cov: np.ndarray, rgb: np.ndarray) -> None:
        """Over-composite a colour (3,) or a field (h, w, 3) with coverage ``cov``."""
        c = cov[..., None]
        self.rgb[rs, cs] = self.rgb[rs, cs] * (1.0 - c) + np.asarray(rgb, np.float32) * c
        if self.alpha is not None:
            self.alpha[rs, cs] = self.alpha[rs, cs] * (1.0 - cov) + cov

    def paint_rect(self, box_mm: tuple[float, float, float, float], rgb: np.ndarray) -> None:
        rs, cs, cov = self.rect_coverage(box_mm)
        self.paint(rs, cs, cov, rgb)


def _sdf_round_box(x: np.ndarray, y: np.ndarray, cx: float, cy: float, hx: float, hy: float, r: float) -> np.ndarray:
    qx = np.abs(x - cx) - (hx - r)
    qy = np.abs(y - cy) - (hy - r)
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - r


def _sdf_segment(x: np.ndarray, y: np.ndarray, p0: np.ndarray, p1: np.ndarray, half_w: float) -> np.ndarray:
    d = p1 - p0
    t = np.clip(((x - p0[0]) * d[0] + (y - p0[1]) * d[1]) / float(d @ d), 0.0, 1.0)
    return np.hypot(x - (p0[0] + t * d[0]), y - (p0[1] + t * d[1])) - half_w


@functools.lru_cache(maxsize=64)
def _l_lut(lab: tuple[float, float, float], lo: float, hi: float) -> np.ndarray:
    """Linear sRGB of (L*, a, b) for L* on a 0.01 grid from ``lo`` to ``hi``: for fields where only L* varies."""
    grid = np.arange(lo, hi + 0.02, 0.01)
    rgb = lab_to_linear_srgb(np.stack([grid, np.full_like(grid, lab[1]), np.full_like(grid, lab[2])], axis=-1)).astype(np.float32)
    rgb.setflags(write=False)
    return rgb


def _rgb_from_l(l_field: np.ndarray, lab: tuple[float, float, float], lo: float, hi: float) -> np.ndarray:
    """Linear sRGB of an L* field with fixed a*, b* (look-up at 0.01 L*: error < 0.005 L*)."""
    lut = _l_lut(tuple(float(v) for v in lab), float(lo), float(hi))
    idx = np.clip(np.rint((np.asarray(l_field, np.float32) - np.float32(lo)) * np.float32(100.0)), 0, len(lut) - 1).astype(np.intp)
    return lut[idx]


def _noise_field(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """Band-limited zero-mean noise: white noise on a grid of ``cell_px`` texels, cubic upsampled."""
    gh = max(int(math.ceil(shape[0] / cell_px)) + 3, 4)
    gw = max(int(math.ceil(shape[1] / cell_px)) + 3, 4)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    up = cv2.resize(coarse, (int(round(gw * cell_px)), int(round(gh * cell_px))), interpolation=cv2.INTER_CUBIC)
    return up[: shape[0], : shape[1]]


# --------------------------------------------------------------------------------------
# Station texture
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def _station_texture(size: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear-RGB texture of the platen (station mm) and its texel -> station mm matrix."""
    prof = load_profile(PROFILE_NAME)
    fw, fh = prof.frame_mm
    cv = _Canvas((0.0, 0.0, fw, fh), _SS * _CAM_PX_PER_MM * size, lab_to_linear_srgb(_LAB_PLATEN), alpha=False)
    white = lab_to_linear_srgb(_LAB_QUIET)
    black = lab_to_linear_srgb(_LAB_MARKER_BLACK)
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, prof.marker_dictionary or "DICT_4X4_50"))
    for mid, corners in sorted(prof.marker_corners_mm.items()):
        x1, y1 = corners.min(axis=0)
        x2, y2 = corners.max(axis=0)
        quiet = 2.0
        cv.paint_rect((x1 - quiet, y1 - quiet, x2 + quiet, y2 + quiet), white)
        cells = cv2.aruco.generateImageMarker(dictionary, int(mid), 6, borderBits=1).astype(np.float32) / 255.0
        # Exact area sampling of the 6x6 cell bitmap: value = My @ bits @ Mx^T.
        rs, cs, _, _ = cv.roi((x1, y1, x2, y2))
        ex = cv.x0 + np.arange(cs.start, cs.stop + 1) * cv.t
        ey = cv.y0 + np.arange(rs.start, rs.stop + 1) * cv.t
        step = (x2 - x1) / 6.0
        mx = np.stack([_box_coverage_1d(x1 + j * step, x1 + (j + 1) * step, ex) for j in range(6)], axis=1)
        my = np.stack([_box_coverage_1d(y1 + i * step, y1 + (i + 1) * step, ey) for i in range(6)], axis=1)
        white_frac = (my @ cells @ mx.T).astype(np.float32)
        inside = np.outer(my.sum(axis=1), mx.sum(axis=1)).astype(np.float32)
        black_frac = inside - white_frac
        cv.rgb[rs, cs] = (
            cv.rgb[rs, cs] * (1.0 - inside[..., None]) + white * white_frac[..., None] + black * black_frac[..., None]
        ).astype(np.float32)
    if prof.chart is not None:
        ch = prof.chart
        half = ch.patch_mm / 2.0
        lo = ch.centers_mm.min(axis=0) - half - 1.5
        hi = ch.centers_mm.max(axis=0) + half + 1.5
        cv.paint_rect((lo[0], lo[1], hi[0], hi[1]), lab_to_linear_srgb(_LAB_CHART_CARD))
        patch_rgb = lab_to_linear_srgb(ch.lab_ref)
        for (cx, cy), rgb in zip(ch.centers_mm, patch_rgb):
            cv.paint_rect((cx - half, cy - half, cx + half, cy + half), rgb)
    # Ruler along the bottom right (visual only): 1 mm ticks, longer every 5 and 10 mm.
    rx1, rx2, ry1, ry2 = 72.0, 182.0, 136.0, 146.0
    cv.paint_rect((rx1, ry1, rx2, ry2), lab_to_linear_srgb(_LAB_RULER))
    ink = lab_to_linear_srgb(_LAB_RULER_INK)
    for k in range(0, 101):
        x = rx1 + 5.0 + k
        ln = 4.0 if k % 10 == 0 else (2.6 if k % 5 == 0 else 1.6)
        cv.paint_rect((x - 0.1, ry1, x + 0.1, ry1 + ln), ink)
    px_per_mm = 1.0 / cv.t
    img8 = np.zeros((cv.h, cv.w), np.uint8)
    for k in range(0, 101, 10):
        org = (int((rx1 + 5.0 + k - 1.2) * px_per_mm), int((ry2 - 1.2) * px_per_mm))
        cv2.putText(img8, str(k // 10), org, cv2.FONT_HERSHEY_SIMPLEX, 0.085 * px_per_mm, 255,
                    max(1, int(0.25 * px_per_mm)), cv2.LINE_AA)
    m = (img8.astype(np.float32) / 255.0)[..., None]
    cv.rgb[:] = cv.rgb * (1.0 - m) + ink.astype(np.float32) * m
    cv.rgb.setflags(write=False)  # cached and shared between photos
    return cv.rgb, cv.texel_to_mm


# --------------------------------------------------------------------------------------
# Product texture
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _logo_mask_hr() -> tuple[np.ndarray, float]:
    """The "GV" ink mask at 20 px/mm over the ink box (resolution-independent truth)."""
    ppm = 20.0
    x1, y1, x2, y2 = _LOGO_INK_BOX_MM
    w, h = int(round((x2 - x1) * ppm)), int(round((y2 - y1) * ppm))
    ss = 4
    big = np.zeros((h * ss, w * ss), np.uint8)
    scale = 1.0
    (tw, th), _ = cv2.getTextSize("GV", cv2.FONT_HERSHEY_DUPLEX, scale, 2)
    scale = 0.62 * h * ss / th
    thick = max(1, int(round(0.09 * h * ss)))
    (tw, th), _ = cv2.getTextSize("GV", cv2.FONT_HERSHEY_DUPLEX, scale, thick)
    org = (int((w * ss - tw) / 2), int(0.66 * h * ss + th / 2 - th * 0.2))
    cv2.putText(big, "GV", org, cv2.FONT_HERSHEY_DUPLEX, scale, 255, thick, cv2.LINE_8)
    # underline bar
    cv2.rectangle(big, (int(0.08 * w * ss), int(0.86 * h * ss)), (int(0.92 * w * ss), int(0.95 * h * ss)), 255, -1)
    mask = cv2.resize(big.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)
    mask.setflags(write=False)
    return mask, ppm


def _missing_print_box(d: DefectParams) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = _LOGO_INK_BOX_MM
    frac = float(np.clip(d.length_mm, 0.2, 0.9))
    return (x2 - frac * (x2 - x1), y1, x2, y2)


def _stain_circles(d: DefectParams) -> np.ndarray:
    rng = np.random.default_rng([d.seed, 77])
    n = 4
    ang = rng.uniform(0, 2 * np.pi, n)
    rad = d.length_mm * rng.uniform(0.25, 0.5, n)
    r = d.length_mm * rng.uniform(0.45, 0.7, n)
    c = np.stack([d.center_mm[0] + rad * np.cos(ang), d.center_mm[1] + rad * np.sin(ang), r], axis=1)
    return np.vstack([[d.center_mm[0], d.center_mm[1], 0.7 * d.length_mm], c])


def _stain_sdf(x: np.ndarray, y: np.ndarray, circles: np.ndarray) -> np.ndarray:
    d = None
    for cx, cy, r in circles:
        di = np.hypot(x - cx, y - cy) - r
        d = di if d is None else np.minimum(d, di)
    return d


def _defect_footprint(d: DefectParams) -> tuple[tuple[float, float, float, float], float]:
    """Bounding box (product mm) and area (mm²) of a defect."""
    if d.kind == "scratch":
        p0, p1 = _scratch_ends(d)
        hw = d.width_mm / 2.0
        box = (min(p0[0], p1[0]) - hw, min(p0[1], p1[1]) - hw, max(p0[0], p1[0]) + hw, max(p0[1], p1[1]) + hw)
        return box, d.length_mm * d.width_mm + math.pi * hw * hw
    if d.kind == "skipped_stitch":
        boxes = [_stitch_box(i) for i in d.stitches]
        box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        return box, len(d.stitches) * _STITCH_LEN_MM * _STITCH_W_MM
    if d.kind == "stain":
        circles = _stain_circles(d)
        box = (
            float((circles[:, 0] - circles[:, 2]).min()), float((circles[:, 1] - circles[:, 2]).min()),
            float((circles[:, 0] + circles[:, 2]).max()), float((circles[:, 1] + circles[:, 2]).max()),
        )
        step = 0.05
        xs = np.arange(box[0], box[2], step) + step / 2
        ys = np.arange(box[1], box[3], step) + step / 2
        area = float((_stain_sdf(xs[None, :], ys[:, None], circles) < 0).sum() * step * step)
        return box, area
    # missing print: the removed part of the ink
    mask, ppm = _logo_mask_hr()
    x1, y1, x2, y2 = _LOGO_INK_BOX_MM
    mb = _missing_print_box(d)
    c0 = int(round((mb[0] - x1) * ppm))
    removed = mask[:, c0:]
    rows = np.nonzero(removed.max(axis=1) > 0.02)[0]
    cols = np.nonzero(removed.max(axis=0) > 0.02)[0]
    box = (mb[0] + cols.min() / ppm, y1 + rows.min() / ppm, mb[0] + (cols.max() + 1) / ppm, y1 + (rows.max() + 1) / ppm)
    return box, float(removed.sum() / ppm / ppm)


def _scratch_ends(d: DefectParams) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(d.center_mm, np.float64)
    u = np.array([math.cos(math.radians(d.angle_deg)), math.sin(math.radians(d.angle_deg))])
    return c - u * d.length_mm / 2, c + u * d.length_mm / 2


def _stitch_x(i: int) -> float:
    return (i - (_SEAM_N - 1) / 2.0) * _SEAM_PITCH_MM


def _stitch_box(i: int) -> tuple[float, float, float, float]:
    x = _stitch_x(i)
    return (x - _STITCH_LEN_MM / 2, _SEAM_Y_MM - _STITCH_W_MM / 2, x + _STITCH_LEN_MM / 2, _SEAM_Y_MM + _STITCH_W_MM / 2)


def _product_texture(p: UnitParams, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied linear RGBA texture of the product (float32, (h, w, 4)) and texel -> product mm."""
    cv = _Canvas(_TEX_BOX_MM, _SS * _CAM_PX_PER_MM * size, None, alpha=True)
    rng = np.random.default_rng([int(p.grain_seed), 11])
    px_per_mm = 1.0 / cv.t
    # leather grain: zero-mean band-limited noise in L* (1 mm and 0.3 mm octaves)
    grain = 0.8 * _noise_field(rng, (cv.h, cv.w), 1.0 * px_per_mm) + 0.6 * _noise_field(rng, (cv.h, cv.w), 0.3 * px_per_mm)
    grain2 = _noise_field(rng, (cv.h, cv.w), 0.6 * px_per_mm)
    defects = {d.kind: d for d in p.defects}

    # panel
    hw = p.panel_width_mm / 2.0
    rs, cs, X, Y = cv.roi((-hw, -_PANEL_H_MM / 2, hw, _PANEL_H_MM / 2))
    cov = cv.coverage_from_sdf(_sdf_round_box(X, Y, 0.0, 0.0, hw, _PANEL_H_MM / 2, _PANEL_R_MM))
    g = grain[rs, cs]
    inside = cov > 0.5
    g = (g - g[inside].mean()) / max(float(g[inside].std()), 1e-6) * p.grain_sd
    l_field = p.panel_lab[0] + g
    if "stain" in defects:
        d = defects["stain"]
        circles = _stain_circles(d)
        sc = np.clip(0.5 - _stain_sdf(X, Y, circles) / 0.25, 0.0, 1.0)  # 0.25 mm soft rim
        l_field = l_field + d.strength * sc
    if p.blotch[0] > 0:
        # blotchy dye lot: a zero-mean (over the panel colour zone) chroma field added to (a*, b*)
        lab_f = np.empty(l_field.shape + (3,), np.float64)
        lab_f[..., 0] = l_field
        lab_f[..., 1:] = np.asarray(p.panel_lab[1:], np.float64)
        lab_f[..., 1:] += blotch_field(p, X, Y)[..., None] * _blotch_direction(p)[1:]
        cv.paint(rs, cs, cov, lab_to_linear_srgb(lab_f).astype(np.float32))
    else:
        cv.paint(rs, cs, cov, _rgb_from_l(l_field, p.panel_lab, p.panel_lab[0] - 25, p.panel_lab[0] + 8))

    # seam: stitch holes, then thread dashes
    hole = lab_to_linear_srgb(_LAB_HOLE)
    thread = lab_to_linear_srgb(_LAB_THREAD)
    missing = set(defects["skipped_stitch"].stitches) if "skipped_stitch" in defects else set()
    for i in range(_SEAM_N):
        x = _stitch_x(i)
        for hx in (x - _STITCH_LEN_MM / 2 - 0.15, x + _STITCH_LEN_MM / 2 + 0.15):
            rs, cs, X, Y = cv.roi((hx - 0.5, _SEAM_Y_MM - 0.5, hx + 0.5, _SEAM_Y_MM + 0.5))
            cv.paint(rs, cs, cv.coverage_from_sdf(np.hypot(X - hx, Y - _SEAM_Y_MM) - _HOLE_R_MM), hole)
    for i in range(_SEAM_N):
        if i in missing:
            continue
        b = _stitch_box(i)
        rs, cs, X, Y = cv.roi(b)
        x = _stitch_x(i)
        d = _sdf_round_box(X, Y, x, _SEAM_Y_MM, _STITCH_LEN_MM / 2, _STITCH_W_MM / 2, _STITCH_W_MM / 2)
        # slight twist shading along the thread
        shade = (1.0 - 0.12 * np.abs(Y - _SEAM_Y_MM) / (_STITCH_W_MM / 2))[..., None]
        cv.paint(rs, cs, cv.coverage_from_sdf(d), thread[None, None, :] * shade)

    # logo patch + ink
    lx, ly = _LOGO_CENTER_MM
    lw, lh = _LOGO_SIZE_MM
    rs, cs, X, Y = cv.roi((lx - lw / 2, ly - lh / 2, lx + lw / 2, ly + lh / 2))
    cov = cv.coverage_from_sdf(_sdf_round_box(X, Y, lx, ly, lw / 2, lh / 2, 1.5))
    cv.paint(rs, cs, cov, lab_to_linear_srgb(p.logo_lab))
    mask, ppm = _logo_mask_hr()
    ix1, iy1, ix2, iy2 = _LOGO_INK_BOX_MM
    if "missing_print" in defects:
        mb = _missing_print_box(defects["missing_print"])
        mask = mask.copy()
        mask[:, int(round((mb[0] - ix1) * ppm)):] = 0.0
    rs, cs, X, Y = cv.roi(_LOGO_INK_BOX_MM)
    # resample the 20 px/mm mask onto the texels (area for downsampling, linear otherwise)
    to_hr = np.array([[ppm, 0, -ix1 * ppm - 0.5], [0, ppm, -iy1 * ppm - 0.5], [0, 0, 1.0]])
    tex = np.array([[cv.t, 0, cv.x0 + (cs.start + 0.5) * cv.t], [0, cv.t, cv.y0 + (rs.start + 0.5) * cv.t], [0, 0, 1.0]])
    m = to_hr @ tex
    src = mask
    if cv.t * ppm > 1.0:  # texel bigger than a mask pixel: box-filter first
        k = int(round(cv.t * ppm))
        src = cv2.blur(mask, (k, k), borderType=cv2.BORDER_CONSTANT)
    ink_cov = cv2.warpAffine(src, m[:2], (cs.stop - cs.start, rs.stop - rs.start), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    cv.paint(rs, cs, np.clip(ink_cov, 0, 1), lab_to_linear_srgb(_LAB_INK))

    # rivet: radial metallic gradient
    rx, ry = _RIVET_CENTER_MM
    rr = p.rivet_diameter_mm / 2.0
    rs, cs, X, Y = cv.roi((rx - rr, ry - rr, rx + rr, ry + rr))
    rho = np.hypot(X - rx, Y - ry)
    # domed head: flat plated rim (a clean edge for the diameter) and a highlight off centre
    l_r = 64.0 + 14.0 * np.exp(-((np.hypot(X - rx + 0.3 * rr, Y - ry + 0.3 * rr) / (0.3 * rr)) ** 2))
    cv.paint(rs, cs, cv.coverage_from_sdf(rho - rr), _rgb_from_l(l_r, p.metal_lab, 40, 85))

    # strap (leather, own grain)
    sw = p.strap_width_mm / 2.0
    sx1, sx2 = _STRAP_X_MM
    rs, cs, X, Y = cv.roi((sx1, -sw, sx2, sw))
    cov = cv.coverage_from_sdf(_sdf_round_box(X, Y, (sx1 + sx2) / 2, 0.0, (sx2 - sx1) / 2, sw, 0.8))
    g = grain2[rs, cs]
    g = (g - g.mean()) / max(float(g.std()), 1e-6) * p.grain_sd
    cv.paint(rs, cs, cov, _rgb_from_l(p.strap_lab[0] + g, p.strap_lab, p.strap_lab[0] - 6, p.strap_lab[0] + 6))

    # buckle: plated plate with a cylindrical gradient, a specular band and a slot
    bx, by = _BUCKLE_CENTER_MM
    bh = p.buckle_width_mm / 2.0
    bw = _BUCKLE_W_X_MM / 2.0
    rs, cs, X, Y = cv.roi((bx - bw, by - bh, bx + bw, by + bh))
    cov = cv.coverage_from_sdf(_sdf_round_box(X, Y, bx, by, bw, bh, _BUCKLE_R_MM))
    u = (X - bx) / bw + 0.0 * Y
    l_b = _plating_l(u) + (p.metal_lab[0] - _LAB_METAL[0])
    if "scratch" in defects:
        d = defects["scratch"]
        p0, p1 = _scratch_ends(d)
        sc = cv.coverage_from_sdf(_sdf_segment(X, Y, p0, p1, d.width_mm / 2.0))
        l_b = l_b + d.strength * sc
    rgb_b = _rgb_from_l(np.clip(l_b, 30, 95), p.metal_lab, 30, 95)
    spec = np.exp(-0.5 * ((X - (bx - 0.35 * bw)) / 0.6) ** 2) + 0.0 * Y
    rgb_b = rgb_b + (0.7 * spec)[..., None].astype(np.float32)
    cv.paint(rs, cs, cov, rgb_b)
    slx, sly = _BUCKLE_SLOT_MM[0] / 2, _BUCKLE_SLOT_MM[1] / 2
    rs, cs, X, Y = cv.roi((bx - slx, by - sly, bx + slx, by + sly))
    slot = cv.coverage_from_sdf(_sdf_round_box(X, Y, bx, by, slx, sly, slx))
    cv.paint(rs, cs, slot, lab_to_linear_srgb((22.0, 10.0, 12.0)))

    rgba = np.concatenate([cv.rgb, cv.alpha[..., None]], axis=-1)  # painted over 0: already premultiplied
    return rgba, cv.texel_to_mm


def _coaster_texture(seed: int, size: float) -> tuple[np.ndarray, np.ndarray]:
    """A round cork coaster (the wrong product), premultiplied RGBA in its own mm frame."""
    r = 45.0
    cv = _Canvas((-r - 1, -r - 1, r + 1, r + 1), _SS * _CAM_PX_PER_MM * size, None, alpha=True)
    rng = np.random.default_rng([int(seed), 23])
    rs, cs, X, Y = cv.roi((-r, -r, r, r))
    rho = np.hypot(X, Y)
    g = 2.5 * _noise_field(rng, (cv.h, cv.w), 0.5 / cv.t)[rs, cs]
    cork = (62.0, 8.0, 24.0)
    cv.paint(rs, cs, cv.coverage_from_sdf(rho - r), _rgb_from_l(cork[0] + g, cork, 40, 80))
    ring = cv.coverage_from_sdf(np.abs(rho - 30.0) - 1.5)
    cv.paint(rs, cs, ring, lab_to_linear_srgb((35.0, -25.0, 10.0)))
    star = cv.coverage_from_sdf(np.abs(np.hypot(X, Y) - 12.0 - 4.0 * np.cos(5 * np.arctan2(Y, X))) - 1.0)
    cv.paint(rs, cs, star, lab_to_linear_srgb((35.0, -25.0, 10.0)))
    rgba = np.concatenate([cv.rgb, cv.alpha[..., None]], axis=-1)  # painted over 0: already premultiplied
    return rgba, cv.texel_to_mm


# --------------------------------------------------------------------------------------
# Camera
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _srgb_lut() -> np.ndarray:
    v = np.arange(65536, dtype=np.float64) / 65535.0
    enc = np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)
    lut = (255.0 * enc).astype(np.float32)
    lut.setflags(write=False)
    return lut


def _photograph(
    layers: list[tuple[np.ndarray, np.ndarray]],
    h_cam: np.ndarray,
    gains: tuple[float, float, float],
    noise_seed: int,
    noise_sigma: float,
    size: float,
) -> np.ndarray:
    """Render the station plus premultiplied RGBA layers ``(texture, texel -> station mm)``."""
    w, h = _camera_size(size)
    wss, hss = w * _SS, h * _SS
    # camera px -> supersampled px (pixel centres at integers in both)
    to_ss = np.array([[_SS, 0.0, (_SS - 1) / 2.0], [0.0, _SS, (_SS - 1) / 2.0], [0.0, 0.0, 1.0]])
    hs = to_ss @ h_cam
    st_tex, st_a = _station_texture(float(size))
    outside = [float(v) for v in lab_to_linear_srgb(_LAB_OUTSIDE)]
    img = cv2.warpPerspective(st_tex, hs @ st_a, (wss, hss), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=outside)
    for layer in layers:
        tex, a = layer[0], layer[1]
        bend = layer[2] if len(layer) > 2 else None
        m = hs @ a
        th, tw = tex.shape[:2]
        corners = _apply_h(m, np.array([[-1, -1], [tw, -1], [tw, th], [-1, th]], np.float64))
        pad = 2 if bend is None else 2 + int(math.ceil(_bend_bound_mm(bend[0]) * _SS * _CAM_PX_PER_MM * size * 1.1))
        x0 = max(int(math.floor(corners[:, 0].min())) - pad, 0)
        y0 = max(int(math.floor(corners[:, 1].min())) - pad, 0)
        x1 = min(int(math.ceil(corners[:, 0].max())) + pad + 1, wss)
        y1 = min(int(math.ceil(corners[:, 1].max())) + pad + 1, hss)
        if x1 <= x0 or y1 <= y0:
            continue
        if bend is None:
            shift = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]])
            warped = cv2.warpPerspective(tex, shift @ m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        else:
            warped = _warp_bent(tex, hs, bend, (x0, y0, x1, y1))
        roi = img[y0:y1, x0:x1]
        roi *= 1.0 - warped[..., 3:4]
        roi += warped[..., :3]
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    small *= np.asarray(gains, np.float32)  # lighting gains commute with the (linear) box filter
    idx = np.clip(small * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    enc = _srgb_lut()[idx]
    if noise_sigma > 0:
        rng = np.random.default_rng([int(noise_seed), 5])
        enc += rng.standard_normal(enc.shape, dtype=np.float32) * np.float32(noise_sigma)
    return np.clip(np.rint(enc), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------
# Truth
# --------------------------------------------------------------------------------------
def _mm_to_golden_px(prof: StationProfile, pts_product_mm: Any) -> np.ndarray:
    return prof.mm_to_px(_apply_h(GOLDEN_POSE, np.asarray(pts_product_mm, np.float64)))


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


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def render_unit(params: UnitParams, profile: "StationProfile | str | None" = None, *, size: float = 1.0) -> tuple[np.ndarray, dict[str, Any]]:
    """Render one photo of one unit and its ground truth.

    Parameters
    ----------
    params : UnitParams
        The unit (colours, dimensions, defects) and the photo (pose, camera jitter, lighting, noise).
    profile : StationProfile or str or None
        The profile golden px refer to (default: :func:`demo_profile` of ``size``). Its layout must
        be the demo light box; only ``scale_mm_per_px`` is read.
    size : float, keyword-only
        Camera resolution factor (1.0 = 1600 x 1200 px).

    Returns
    -------
    rgb : ndarray, shape (H, W, 3), uint8
        The photo (sRGB).
    truth : dict
        JSON-able ground truth (see the module docstring and docs/DESIGN.md).
    """
    if not isinstance(params, UnitParams):
        raise SpecError(f"render_unit params: expected a UnitParams, got {type(params).__name__}")
    prof = demo_profile(size) if profile is None else load_profile(profile)
    tex = _product_texture(params, size)
    return _render_with_texture(params, tex, size), _unit_truth(params, prof, size)


def _render_with_texture(p: UnitParams, tex: tuple[np.ndarray, np.ndarray], size: float) -> np.ndarray:
    rgba, a = tex
    h_cam = camera_homography(size, p.camera_jitter)
    if any(v != 0.0 for v in p.bend):
        pose = product_pose(*p.pose)
        return _photograph([(rgba, pose @ a, (p.bend, pose, a))], h_cam, p.gains, p.noise_seed, p.noise_sigma, size)
    return _photograph([(rgba, product_pose(*p.pose) @ a)], h_cam, p.gains, p.noise_seed, p.noise_sigma, size)


def golden_params() -> UnitParams:
    """The golden unit as photographed for golden_00 (nominal camera, golden pose, gains 1)."""
    return UnitParams()


def wrong_product_image(seed: int = 0, size: float = 1.0) -> np.ndarray:
    """A round cork coaster in the light box (not the product), for registration-refusal tests.

    Returns ``(H, W, 3)`` uint8 RGB."""
    rng = np.random.default_rng([int(seed), 31])
    tex, a = _coaster_texture(seed, size)
    place = np.array([[1.0, 0, 100.0 + rng.uniform(-5, 5)], [0, 1.0, 61.5 + rng.uniform(-3, 3)], [0, 0, 1.0]])
    jitter = _camera_jitter(rng)
    gains = tuple(float(v) for v in rng.uniform(0.9, 1.05) * np.ones(3))
    return _photograph([(tex, place @ a)], camera_homography(size, jitter), gains, int(seed) + 1000, 1.2, size)


def empty_lightbox_image(seed: int = 0, size: float = 1.0, *, gains: tuple[float, float, float] = (1.0, 1.0, 1.0),
                         noise_sigma: float = 1.2, camera_jitter: tuple[float, ...] | None = None) -> np.ndarray:
    """The light box with nothing on the platen. Returns ``(H, W, 3)`` uint8 RGB.

    ``camera_jitter`` None draws one from ``seed`` (``seed`` 0 with None: the nominal camera)."""
    if camera_jitter is None:
        camera_jitter = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0) if seed == 0 else _camera_jitter(np.random.default_rng([int(seed), 41]))
    return _photograph([], camera_homography(size, camera_jitter), gains, int(seed) + 2000, noise_sigma, size)


# --------------------------------------------------------------------------------------
# The lot
# --------------------------------------------------------------------------------------
def _camera_jitter(rng: np.random.Generator) -> tuple[float, float, float, float, float, float]:
    return (
        float(rng.uniform(-0.4, 0.4)),
        float(rng.uniform(-0.002, 0.002)),
        float(rng.uniform(-0.002, 0.002)),
        float(rng.uniform(0.996, 1.004)),
        float(rng.uniform(-0.008, 0.008)),
        float(rng.uniform(-0.008, 0.008)),
    )


def _gains(rng: np.random.Generator, lo: float, hi: float, tint: float) -> tuple[float, float, float]:
    b = rng.uniform(lo, hi)
    t = np.clip(1.0 + rng.normal(0.0, tint / 2, 3), 1 - tint, 1 + tint)
    return tuple(float(b * v) for v in t)


_COLOR_DIRECTIONS = {
    "darker": (-1.0, 0.0, 0.0),
    "lighter": (1.0, 0.0, 0.0),
    "yellower": (0.0, 0.0, 1.0),
    "bluer": (0.0, 0.0, -1.0),
    "redder": (0.0, 1.0, 0.0),
    "greener": (0.0, -1.0, 0.0),
}


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


def _make_unit(index: int, fault: str, seed: int) -> UnitParams:
    rng = np.random.default_rng([int(seed), 1000 + index])
    fields: dict[str, Any] = {}
    detail = ""
    # colours: golden + drift (panel b* +0.02 per unit) + small random, kept < 0.35 x tolerance
    drift = np.array([0.0, 0.0, min(0.02 * index, 1.0)])  # saturates after 50 units: good units stay good
    labs = {}
    for name, z in COLOR_ZONES.items():
        base = np.asarray(z["golden"], np.float64) + (drift if name == "panel" else 0.0)
        r = rng.normal(0.0, 0.2, 3)
        lab = base + r
        for _ in range(60):
            if max(_delta_e00(lab, z["target"], z["weights"]), _delta_e00(lab, z["golden"], z["weights"])) <= 0.35 * z["tolerance"]:
                break
            r *= 0.7
            lab = base + r
        labs[name] = lab
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


def _golden_capture(index: int, seed: int) -> UnitParams:
    base = golden_params()
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


def generate_lot(out_dir: "str | Path", *, seed: int = 0, n_golden: int = 5, n_units: int = 40, size: float = 1.0) -> DemoLot:
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
        Camera resolution factor (1.0 = 1600 x 1200 px; the spec's scale is ``0.125 / size``).

    Returns
    -------
    DemoLot
    """
    if int(n_golden) < 1 or int(n_units) < 1:
        raise SpecError(f"generate_lot: expected n_golden >= 1 and n_units >= 1, got {n_golden}, {n_units}")
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
        gp = _golden_capture(i, seed)
        path = out / "golden" / f"golden_{i:02d}.png"
        _write_png(path, _render_with_texture(gp, gtex, size))
        golden_paths.append(path)
        t = _unit_truth(gp, prof, size)
        golden_truth.append({k: t[k] for k in ("unit_id", "camera_homography", "product_pose", "unit_to_golden_px", "lighting_gains")})

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


# --------------------------------------------------------------------------------------
# Variants (issues 3 and 4): bent soft goods, blotchy dye lot, plated colour zone
# --------------------------------------------------------------------------------------
#: Seam line (product mm) and the x extent of its stitches.
SEAM_Y_MM = _SEAM_Y_MM
_BEND_HALF_W_MM = 55.0  # half the nominal panel width: the bend's length scale along x
_BEND_HALF_H_MM = _PANEL_H_MM / 2.0


def _plating_l(u: np.ndarray) -> np.ndarray:
    """Diffuse L* of the nominal plating across the buckle, ``u`` = (x - centre) / half width."""
    return 64.0 + 12.0 * np.cos(np.pi * 0.5 * u) - 6.0 * u


def bend_displacement_mm(bend: "tuple[float, float, float]", points_product_mm: Any) -> np.ndarray:
    """In-plane displacement (product mm) of material points of a bent unit.

    A material point ``P = (x, y)`` of the flat product lies at ``P + D(P)`` (product mm) in
    the photo of a bent unit, then goes through the unit's pose and camera as usual::

        D_x = shear * sin(pi * y / 68)
        D_y = sag * (1 - (x / 55)^2) + s * sin(2 pi x / 110)

    i.e. a sag (bow of the panel along its width, centre ``sag`` mm down relative to the ends),
    an S-bend (one period over the panel width, ``±s`` mm) and a lateral S (the short edges
    bowing by ``±shear`` mm). With amplitudes <= 2 mm the field's gradient stays < 0.12 (the
    map is a smooth diffeomorphism; its inverse is found by fixed-point iteration).

    Parameters
    ----------
    bend : (sag_mm, s_mm, shear_mm)
    points_product_mm : array_like, shape (N, 2) or (..., 2)

    Returns
    -------
    ndarray, same shape as ``points_product_mm``, float64
    """
    sag, s_amp, shear = (float(v) for v in bend)
    pts = np.asarray(points_product_mm, np.float64)
    x, y = pts[..., 0], pts[..., 1]
    d = np.empty_like(pts)
    d[..., 0] = shear * np.sin(np.pi * y / (2 * _BEND_HALF_H_MM))
    d[..., 1] = sag * (1.0 - (x / _BEND_HALF_W_MM) ** 2) + s_amp * np.sin(np.pi * x / _BEND_HALF_W_MM)
    return d


def _bend_bound_mm(bend: "tuple[float, float, float]") -> float:
    """Upper bound of |D| over the product texture box."""
    sag, s_amp, shear = (abs(float(v)) for v in bend)
    xmax = max(abs(_TEX_BOX_MM[0]), abs(_TEX_BOX_MM[2]))
    return math.hypot(shear, sag * max(1.0, (xmax / _BEND_HALF_W_MM) ** 2 - 1.0) + s_amp)


def _unbend(bend: "tuple[float, float, float]", q: np.ndarray, iterations: int = 12) -> np.ndarray:
    """Material points P with ``P + D(P) = q`` (fixed point; contraction factor < 0.12)."""
    p = q.copy()
    for _ in range(iterations):
        p = q - bend_displacement_mm(bend, p)
    return p


def _warp_bent(tex: np.ndarray, hs: np.ndarray, bend_info: tuple[Any, np.ndarray, np.ndarray],
               box: tuple[int, int, int, int]) -> np.ndarray:
    """Warp a product texture into supersampled camera px through pose, bend and camera.

    Each output pixel centre goes back to station mm (inverse camera), to bent product mm
    (inverse pose), to the material point (inverse bend) and to texel px, then ``cv2.remap``
    (bilinear, as the rigid path's ``warpPerspective``) samples the texture there."""
    bend, pose, t2mm = bend_info
    x0, y0, x1, y1 = box
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
    pts = np.stack([xs, ys], axis=-1).reshape(-1, 2)
    q = _apply_h(np.linalg.inv(pose) @ np.linalg.inv(hs), pts)
    tp = _apply_h(np.linalg.inv(t2mm), _unbend(bend, q))
    mx = tp[:, 0].reshape(xs.shape).astype(np.float32)
    my = tp[:, 1].reshape(xs.shape).astype(np.float32)
    return cv2.remap(tex, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))


def product_mm_to_camera_px(params: UnitParams, points_product_mm: Any, *, size: float = 1.0) -> np.ndarray:
    """Where material points of the product appear in the unit's photo (camera px).

    Applies the unit's bend (:func:`bend_displacement_mm`), pose and camera homography.

    Parameters
    ----------
    params : UnitParams
    points_product_mm : array_like, shape (N, 2)
        Material points in product mm (the flat product's frame).
    size : float, keyword-only
        Camera resolution factor.

    Returns
    -------
    ndarray, shape (N, 2), float64
        Camera px (pixel centres at integers).
    """
    pts = np.asarray(points_product_mm, np.float64).reshape(-1, 2)
    bent = pts + bend_displacement_mm(params.bend, pts)
    h = camera_homography(size, params.camera_jitter) @ product_pose(*params.pose)
    return _apply_h(h, bent)


def product_mm_to_golden_px(points_product_mm: Any, *, size: float = 1.0) -> np.ndarray:
    """True golden px of material points (the golden reference is flat and in :data:`GOLDEN_POSE`).

    Returns ``(N, 2)`` float64 golden px of the demo profile of ``size``."""
    return _mm_to_golden_px(demo_profile(size), np.asarray(points_product_mm, np.float64).reshape(-1, 2))


def seam_points_mm(n: int = 57) -> np.ndarray:
    """``n`` points (product mm) evenly along the stitched seam, first to last stitch end."""
    half = (_SEAM_N - 1) / 2.0 * _SEAM_PITCH_MM + _STITCH_LEN_MM / 2
    return np.stack([np.linspace(-half, half, int(n)), np.full(int(n), _SEAM_Y_MM)], axis=1)


# --- blotchy dye ----------------------------------------------------------------------
_BLOTCH_TERMS = 10
_BLOTCH_GRID_MM = 0.05


def _blotch_raw(cell_mm: float, seed: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sum of random plane waves with half-wavelengths ~ ``cell_mm`` (blotch size)."""
    rng = np.random.default_rng([int(seed), 97])
    out = np.zeros(np.broadcast(x, y).shape, np.float64)
    for _ in range(_BLOTCH_TERMS):
        k = np.pi / (float(cell_mm) * rng.uniform(0.7, 1.3))
        th = rng.uniform(0, np.pi)
        ph = rng.uniform(0, 2 * np.pi)
        out += np.cos(k * (np.cos(th) * x + np.sin(th) * y) + ph)
    return out


@functools.lru_cache(maxsize=32)
def _blotch_norm(cell_mm: float, seed: int, peak_de00: float, panel_lab: tuple[float, float, float]) -> tuple[float, float]:
    """(offset, gain): ``gain * (raw - offset)`` has zero mean over the panel colour zone (area,
    on a 0.05 mm grid) and its largest |value| there shifts the chroma by ``peak_de00``."""
    xs = _zone_grid(COLOR_ZONES["panel"]["polygon_mm"])
    raw = _blotch_raw(cell_mm, seed, xs[0], xs[1])
    off = float(raw.mean())
    amp = float(np.abs(raw - off).max())
    base = np.asarray(panel_lab, np.float64)
    direction = _chroma_direction(panel_lab)
    k = float(np.linalg.norm(_shift_to_de(base, direction, float(peak_de00), base, COLOR_ZONES["panel"]["weights"]) - base))
    return off, k / amp


def _zone_grid(poly: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of a 0.05 mm grid over an axis-aligned rectangular zone (product mm)."""
    arr = np.asarray(poly, np.float64)
    (x1, y1), (x2, y2) = arr.min(axis=0), arr.max(axis=0)
    g = _BLOTCH_GRID_MM
    xs = x1 + (np.arange(int(round((x2 - x1) / g))) + 0.5) * g
    ys = y1 + (np.arange(int(round((y2 - y1) / g))) + 0.5) * g
    return xs[None, :], ys[:, None]


def _chroma_direction(lab: Any) -> np.ndarray:
    lab = np.asarray(lab, np.float64)
    c = math.hypot(lab[1], lab[2])
    return np.array([0.0, lab[1] / c, lab[2] / c]) if c > 1e-6 else np.array([0.0, 0.0, 1.0])


def _blotch_direction(p: UnitParams) -> np.ndarray:
    return _chroma_direction(p.panel_lab)


def blotch_field(params: UnitParams, x_mm: Any, y_mm: Any) -> np.ndarray:
    """Chroma offset (CIELAB units along the panel's chroma direction) of a blotchy dye lot.

    ``params.blotch = (peak_de00, cell_mm, seed)``: a sum of ten random plane waves with
    half-wavelengths 0.7-1.3 x ``cell_mm``, shifted to zero mean over the panel colour zone
    (so the zone's mean Lab stays ``params.panel_lab``) and scaled so that its largest |value|
    in the zone is ``peak_de00`` ΔE00 (zone weights) from ``panel_lab``. The panel's Lab is
    ``panel_lab + blotch_field * (0, a*, b*) / C*`` (grain in L* on top, as for any unit).

    Returns float64 of the broadcast shape of ``x_mm``, ``y_mm`` (zeros when ``peak_de00`` is 0).
    """
    peak, cell, seed = float(params.blotch[0]), float(params.blotch[1]), int(params.blotch[2])
    x, y = np.asarray(x_mm, np.float64), np.asarray(y_mm, np.float64)
    if peak <= 0:
        return np.zeros(np.broadcast(x, y).shape)
    if not (1.0 <= cell <= 50.0):
        raise SpecError(f"UnitParams.blotch cell_mm: expected 1-50 mm, got {cell!r}")
    off, gain = _blotch_norm(cell, seed, peak, tuple(float(v) for v in params.panel_lab))
    return gain * (_blotch_raw(cell, seed, x, y) - off)


# --- plated zone ----------------------------------------------------------------------
#: A colour zone on the plated buckle (product mm): above the slot, across the specular band.
PLATED_ZONE: dict[str, Any] = {
    "polygon_mm": [(33.0, -14.5), (47.0, -14.5), (47.0, -10.5), (33.0, -10.5)],
    "tolerance": 1.5,
    "weights": (1.0, 1.0, 1.0),
    "name": "Nickel plating (demo)",
}


def plated_zone_truth_lab(metal_lab: "tuple[float, float, float]" = _LAB_METAL) -> tuple[float, float, float]:
    """True colour of the plated zone: the area mean of the plating's *diffuse* CIELAB.

    The buckle renders as L* = ``_plating_l(u) + (metal L* - 66)`` (a cylindrical shading
    gradient across its x extent, ``u`` = (x - 40 mm) / 9 mm) with the metal's a*, b*, plus a
    specular band added in linear light (a Gaussian, sigma 0.6 mm, at x = 36.85 mm). The zone's
    truth excludes the highlight: it is the mean of the diffuse L* over the zone's area (exact
    closed form over the zone's x range) and the metal's a*, b*, i.e. what a spectrophotometer
    with a specular-excluded geometry would average over the zone.
    """
    bx, bw = _BUCKLE_CENTER_MM[0], _BUCKLE_W_X_MM / 2.0
    xs = [v[0] for v in PLATED_ZONE["polygon_mm"]]
    u1, u2 = (min(xs) - bx) / bw, (max(xs) - bx) / bw
    mean_l = 64.0 + 12.0 * (2.0 / np.pi) * (math.sin(np.pi * u2 / 2) - math.sin(np.pi * u1 / 2)) / (u2 - u1) - 3.0 * (u1 + u2)
    return (float(mean_l + (metal_lab[0] - _LAB_METAL[0])), float(metal_lab[1]), float(metal_lab[2]))


def zone_truth_lab(params: UnitParams) -> dict[str, tuple[float, float, float]]:
    """True zone colours (CIELAB D65) of a unit: ``panel`` and ``logo`` (their recorded Lab,
    also for a blotchy panel, whose field is zero-mean over the zone) and ``buckle`` (the plated
    zone, :func:`plated_zone_truth_lab`)."""
    return {
        "panel": tuple(float(v) for v in params.panel_lab),
        "logo": tuple(float(v) for v in params.logo_lab),
        "buckle": plated_zone_truth_lab(params.metal_lab),
    }


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
        return replace(base, bend=tuple(float(v) for v in b),
                       fault_detail="bent (sag {:+.2f}, S {:+.2f}, shear {:+.2f} mm)".format(*b))
    return base
