"""Demo product generator: deterministic photos of products with ground truth.

The default product is a leather wallet in the station light box (below). The product zoo
(:mod:`goldenvision.demo.zoo`) adds families with their own materials and defects: ``label``,
``part``, ``apparel``, ``hardware`` and ``jewellery``, each photographed in the station
(``mode="station"``) or as an inspector's hand-held JPEG without fiducials
(``mode="handheld"``): ``generate_lot(out_dir, family="label", mode="handheld")``. The wallet
itself can be photographed hand-held too (``family="wallet", mode="handheld"``).

The demo renders the light box of ``goldenvision/calibration/profiles/lightbox-demo.yaml``
(platen, four ArUco fiducials, 24-patch chart, ruler) with a wallet-like leather panel on it
(grain, stitched seam, plated buckle, printed logo patch, strap, rivet), photographs it
through a known camera homography under a known lighting, and writes:

* ``spec.yaml``: the spec the lot is judged by (colour zones, calipers, anomaly zones, AQL);
* ``golden/golden_XX.png``: captures of the golden unit (``golden_00`` defines golden px);
* ``lot/unit_XXX.png`` + ``unit_XXX.json``: production units with their ground truth;
* ``lot/truth.json``: all the truth plus the golden reference's camera homography and pose.

Layout
------
* :mod:`.scene`: the wallet and light box as data (dimensions, colours, zones), ``UnitParams``,
  ``DefectParams``, camera homography and product pose;
* :mod:`.fields`: the variant fields (bend, blotchy dye, plating shading) in product mm;
* :mod:`.render`: painting textures in mm with exact coverage (wallet, defects, coaster);
* :mod:`.photograph`: the light box texture (fiducials, chart, ruler) and the photo model,
  :func:`render_unit`;
* :mod:`.truth`: the ground truth of one unit;
* :mod:`.lot`: lot design, the spec, :func:`generate_lot`, the variant units;
* :mod:`.zoo`: the other product families and the hand-held photo.

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

Variants (issues 3 and 4; the default lot does not use them, and its render is unchanged by them):

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
``golden_captures`` (each with its ``dimensions``), ``product_corners_mm`` (the nominal panel's corners), ``dimension_specs``,
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

from .fields import (
    _BEND_HALF_H_MM,
    _BEND_HALF_W_MM,
    _BLOTCH_GRID_MM,
    _BLOTCH_TERMS,
    PLATED_ZONE,
    SEAM_Y_MM,
    _bend_bound_mm,
    _blotch_direction,
    _blotch_norm,
    _blotch_raw,
    _chroma_direction,
    _plating_l,
    _unbend,
    _zone_grid,
    bend_displacement_mm,
    blotch_field,
    plated_zone_truth_lab,
    seam_points_mm,
    zone_truth_lab,
)
from .lot import (
    _COLOR_DIRECTIONS,
    FAMILY_NAMES,
    VARIANT_KINDS,
    _golden_capture,
    _lot_faults,
    _make_unit,
    _poly_px,
    _write_png,
    build_spec,
    generate_lot,
    make_variant_unit,
    spec_variant,
)
from .photograph import (
    _camera_jitter,
    _gains,
    _photograph,
    _render_with_texture,
    _srgb_lut,
    _station_texture,
    _warp_bent,
    empty_lightbox_image,
    golden_params,
    product_mm_to_camera_px,
    product_mm_to_golden_px,
    render_unit,
    wrong_product_image,
)
from .render import (
    _box_coverage_1d,
    _Canvas,
    _coaster_texture,
    _defect_footprint,
    _l_lut,
    _logo_mask_hr,
    _missing_print_box,
    _noise_field,
    _product_texture,
    _rgb_from_l,
    _scratch_ends,
    _sdf_round_box,
    _sdf_segment,
    _stain_circles,
    _stain_sdf,
    _stitch_box,
    _stitch_x,
)

# ruff: noqa: F401  (private names re-exported: tests, scripts and other modules import them from goldenvision.demo)
from .scene import (
    _BUCKLE_CENTER_MM,
    _BUCKLE_R_MM,
    _BUCKLE_SLOT_MM,
    _BUCKLE_W_X_MM,
    _CAM_H,
    _CAM_PX_PER_MM,
    _CAM_W,
    _D65_2,
    _DEFECT_ZONE,
    _FAULT_KINDS,
    _GOLDEN_CENTER_STATION_MM,
    _HOLE_R_MM,
    _LAB_CHART_CARD,
    _LAB_HOLE,
    _LAB_INK,
    _LAB_MARKER_BLACK,
    _LAB_METAL,
    _LAB_OUTSIDE,
    _LAB_PLATEN,
    _LAB_QUIET,
    _LAB_RULER,
    _LAB_RULER_INK,
    _LAB_STRAP,
    _LAB_THREAD,
    _LOGO_CENTER_MM,
    _LOGO_INK_BOX_MM,
    _LOGO_SIZE_MM,
    _PANEL_H_MM,
    _PANEL_R_MM,
    _PIVOT_MM,
    _RIVET_CENTER_MM,
    _SEAM_N,
    _SEAM_PITCH_MM,
    _SEAM_Y_MM,
    _SS,
    _STITCH_LEN_MM,
    _STITCH_W_MM,
    _STRAP_X_MM,
    _TEX_BOX_MM,
    ANOMALY_ZONES,
    COLOR_ZONES,
    DIMENSIONS,
    GOLDEN_LOGO_LAB,
    GOLDEN_PANEL_LAB,
    GOLDEN_POSE,
    LOGO_TARGET_LAB,
    PANEL_TARGET_LAB,
    PROFILE_NAME,
    DefectParams,
    DemoLot,
    UnitParams,
    _apply_h,
    _camera_size,
    _delta_e00,
    _golden_pose_matrix,
    _jsonable,
    _mm_to_golden_px,
    _pose_matrix,
    _shift_to_de,
    camera_homography,
    demo_profile,
    lab_to_linear_srgb,
    product_pose,
)
from .truth import (
    _unit_truth,
)

__all__ = [
    "FAMILY_NAMES",
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
