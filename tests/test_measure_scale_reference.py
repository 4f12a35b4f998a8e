"""Sizes without a metric frame: the camera's distance is not the product's size, and a local burr
or a part lying askew is not a change of width.

Synthetic scenes with a known answer: a plate (the measured width) with reference marks inside
it, drawn through a known camera homography with sub-pixel coverage and a lens blur."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from goldenvision.measure.dimensions import edge_band_mask, golden_edge_lines, measure_dimension
from goldenvision.measure.scale_reference import reference_mask, refine_on_reference
from goldenvision.results import RegistrationResult
from goldenvision.spec import DimensionSpec

SHAPE = (360, 480)  # golden and unit images, px
PX_PER_MM = 4.0  # the golden camera
SS = 4  # supersampling of the renderer
HALF_W, HALF_H = 40.0, 25.0  # the plate, mm (width 80 mm along x)
MARKS = [(-20.0, -10.0, 3.0), (20.0, -10.0, 3.0), (-20.0, 10.0, 2.0), (20.0, 10.0, 2.0), (0.0, 0.0, 4.0)]


def _camera(scale: float = 1.0, angle_deg: float = 0.0, shift=(0.0, 0.0), tilt: float = 0.0) -> np.ndarray:
    """mm -> px: scale, rotation and a slight perspective about the image centre."""
    a = math.radians(angle_deg)
    k = PX_PER_MM * scale
    h = np.array([[k * math.cos(a), -k * math.sin(a), SHAPE[1] / 2 + shift[0]],
                  [k * math.sin(a), k * math.cos(a), SHAPE[0] / 2 + shift[1]],
                  [tilt, 0.0, 1.0]])
    return h


def _poly(h: np.ndarray, pts_mm: np.ndarray) -> np.ndarray:
    p = np.c_[pts_mm, np.ones(len(pts_mm))] @ h.T
    return p[:, :2] / p[:, 2:]


def _render(h: np.ndarray, *, width_scale: float = 1.0, burr: tuple[float, float, float] | None = None,
            plate_turn_deg: float = 0.0, seed: int = 0) -> np.ndarray:
    """The scene through the camera ``h`` (mm -> px): ground 60, plate 170, dark marks 40.

    ``width_scale`` widens the plate alone (the marks stay); ``burr`` = (y_mm, length_mm, height_mm)
    on the right edge; ``plate_turn_deg`` turns the plate alone about its centre."""
    big = np.full((SHAPE[0] * SS, SHAPE[1] * SS), 60, np.uint8)
    hs = np.diag([SS, SS, 1.0]) @ h
    t = math.radians(plate_turn_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    hw = HALF_W * width_scale
    plate = np.array([[-hw, -HALF_H], [hw, -HALF_H], [hw, HALF_H], [-hw, HALF_H]]) @ rot.T
    cv2.fillPoly(big, [np.round(_poly(hs, plate) * 16).astype(np.int32)], 170, lineType=cv2.LINE_8, shift=4)
    if burr is not None:
        y0, ln, ht = burr
        ys = np.linspace(y0 - ln / 2, y0 + ln / 2, 40)
        prof = ht * np.sqrt(np.clip(1 - ((ys - y0) / (ln / 2)) ** 2, 0, None))
        pts = np.vstack([np.c_[hw + prof, ys], [[hw - 1.0, y0 + ln / 2], [hw - 1.0, y0 - ln / 2]]]) @ rot.T
        cv2.fillPoly(big, [np.round(_poly(hs, pts) * 16).astype(np.int32)], 170, lineType=cv2.LINE_8, shift=4)
    for x, y, r in MARKS:
        ang = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        circ = np.c_[x + r * np.cos(ang), y + r * np.sin(ang)]
        cv2.fillPoly(big, [np.round(_poly(hs, circ) * 16).astype(np.int32)], 40, lineType=cv2.LINE_8, shift=4)
    img = cv2.resize(big.astype(np.float32), (SHAPE[1], SHAPE[0]), interpolation=cv2.INTER_AREA)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    img += np.random.default_rng(seed).normal(0.0, 1.0, img.shape).astype(np.float32)
    return img


GOLDEN_CAM = _camera()
MM_PER_PX = 1.0 / PX_PER_MM
DIM = DimensionSpec(name="plate_width", measure="width", nominal_mm=2 * HALF_W, tolerance_mm=(-0.4, 0.4),
                    caliper={"center": (SHAPE[1] / 2, SHAPE[0] / 2 + 12.0), "angle_deg": 0.0,
                             "length_px": 2 * HALF_W * PX_PER_MM + 60.0, "width_px": 8.0})


def _registration(h: np.ndarray) -> RegistrationResult:
    return RegistrationResult(h, ok=True, rms_px=0.05, method="test", confidence=1.0, reference_shape_hw=SHAPE)


@pytest.fixture(scope="module")
def golden() -> tuple[np.ndarray, np.ndarray, float]:
    """The golden image, its reference px, and the edge tool's own offset on this plate (zeroing on
    the golden, as the pipeline does: nominal minus the golden's reading)."""
    g = _render(GOLDEN_CAM)
    keep = edge_band_mask(g, [DIM])
    assert keep is not None
    ref = reference_mask(g, keep)
    own = measure_dimension(g, DIM, _registration(np.eye(3)), MM_PER_PX, reference="golden_frame")
    zero = 2 * HALF_W - own.measured_mm
    assert abs(zero) < 0.1  # the tool's offset is a fraction of a pixel
    return g, ref, zero


def _read(golden, unit: np.ndarray, unit_cam: np.ndarray, *, absorbed_stretch: float) -> tuple[float, float]:
    """(mm, 1-sigma mm) of the plate width in the golden frame, starting from a registration of the
    unit that stretched it onto the golden's width by ``absorbed_stretch`` along x (what a fit on the
    plate's own outline does), refined on the reference marks."""
    g, ref, zero = golden
    stretch = np.array([[absorbed_stretch, 0, 0], [0, 1, 0], [0, 0, 1.0]])
    h_true = GOLDEN_CAM @ np.linalg.inv(unit_cam)  # unit px -> golden px, by the marks
    h_abs = GOLDEN_CAM @ stretch @ np.linalg.inv(GOLDEN_CAM) @ h_true
    fit = refine_on_reference(g, unit, _registration(h_abs), ref)
    assert fit is not None
    r = measure_dimension(unit, DIM, _registration(h_abs), MM_PER_PX, reference="golden_frame", reference_fit=fit,
                          zero=(zero, None, 1))
    return r.measured_mm, r.uncertainty_mm


def test_the_reference_leaves_the_measured_outline_out(golden):
    g, ref, _ = golden
    # every reference px lies on a mark, none on the plate's outline (its sides, top and bottom)
    corners = _poly(GOLDEN_CAM, np.array([[-HALF_W, -HALF_H], [HALF_W, HALF_H]]))
    ys, xs = np.nonzero(ref)
    assert len(xs) > 400
    near_outline = (np.minimum(np.abs(xs - corners[0, 0]), np.abs(xs - corners[1, 0])) < 6) | \
                   (np.minimum(np.abs(ys - corners[0, 1]), np.abs(ys - corners[1, 1])) < 6)
    assert not near_outline.any()


@pytest.mark.parametrize("scale, angle", [(0.9, 6.0), (1.08, -9.0)])
def test_a_change_of_camera_distance_does_not_read_as_a_change_of_size(golden, scale, angle):
    cam = _camera(scale, angle, shift=(7.0, -5.0), tilt=2e-5)
    unit = _render(cam, seed=1)
    mm, unc = _read(golden, unit, cam, absorbed_stretch=1.0)
    assert mm == pytest.approx(2 * HALF_W, abs=0.05)
    assert 0.0 < unc < 0.2


@pytest.mark.parametrize("scale", [0.92, 1.06])
def test_a_plate_truly_one_percent_wider_reads_one_percent_wider(golden, scale):
    cam = _camera(scale, 4.0, shift=(-6.0, 3.0))
    unit = _render(cam, width_scale=1.01, seed=2)
    # the unit's registration fitted on the plate's outline stretched it back onto the golden's width
    mm, unc = _read(golden, unit, cam, absorbed_stretch=1 / 1.01)
    assert mm == pytest.approx(1.01 * 2 * HALF_W, abs=0.08)
    # and the reading is the marks' scale, not the registration's: without the refinement it is nominal
    h_abs = GOLDEN_CAM @ np.diag([1 / 1.01, 1, 1]) @ np.linalg.inv(GOLDEN_CAM) @ GOLDEN_CAM @ np.linalg.inv(cam)
    plain = measure_dimension(unit, DIM, _registration(h_abs), MM_PER_PX, reference="golden_frame",
                              zero=(golden[2], None, 1))
    assert plain.measured_mm == pytest.approx(2 * HALF_W, abs=0.1)
    # the uncertainty covers the error
    assert abs(mm - 1.01 * 2 * HALF_W) < 3 * unc + 0.02


def test_a_local_burr_does_not_change_a_width(golden):
    g = golden[0]
    lines = golden_edge_lines(g, [DIM])
    assert lines[DIM.name].strips_each_side >= 3
    reg = _registration(np.eye(3))
    y_cal = (DIM.caliper.center[1] - SHAPE[0] / 2) / PX_PER_MM  # the caliper's line, mm
    unit = _render(GOLDEN_CAM, burr=(y_cal, 4.0, 0.6), seed=3)
    robust = measure_dimension(unit, DIM, reg, MM_PER_PX, reference="station_profile", edge_line=lines[DIM.name],
                               zero=(golden[2], None, 1))
    plain = measure_dimension(unit, DIM, reg, MM_PER_PX, reference="station_profile", zero=(golden[2], None, 1))
    assert plain.measured_mm > 2 * HALF_W + 0.3  # the caliper alone reads the burr
    assert robust.measured_mm == pytest.approx(2 * HALF_W, abs=0.04)
    # and without a burr the two agree
    clean = _render(GOLDEN_CAM, seed=4)
    a = measure_dimension(clean, DIM, reg, MM_PER_PX, reference="station_profile", edge_line=lines[DIM.name],
                               zero=(golden[2], None, 1))
    b = measure_dimension(clean, DIM, reg, MM_PER_PX, reference="station_profile", zero=(golden[2], None, 1))
    assert a.measured_mm == pytest.approx(b.measured_mm, abs=0.02)


def test_a_plate_lying_askew_is_not_read_wider(golden):
    g = golden[0]
    lines = golden_edge_lines(g, [DIM])
    reg = _registration(np.eye(3))
    unit = _render(GOLDEN_CAM, plate_turn_deg=6.0, seed=5)
    robust = measure_dimension(unit, DIM, reg, MM_PER_PX, reference="station_profile", edge_line=lines[DIM.name],
                               zero=(golden[2], None, 1))
    plain = measure_dimension(unit, DIM, reg, MM_PER_PX, reference="station_profile", zero=(golden[2], None, 1))
    assert plain.measured_mm > 2 * HALF_W / math.cos(math.radians(6.0)) - 0.1  # along the caliper: 1/cos wider
    assert robust.measured_mm == pytest.approx(2 * HALF_W, abs=0.05)


def test_no_reference_structure_gives_no_fit():
    flat = np.full(SHAPE, 100.0, np.float32)
    keep = np.ones(SHAPE, bool)
    assert not reference_mask(flat, keep).any()
    assert refine_on_reference(flat, flat, _registration(np.eye(3)), np.zeros(SHAPE, bool)) is None


def test_the_reference_says_how_far_off_the_registrations_perspective_is(golden):
    """The fit keeps the registration's perspective; ``perspective_cov`` is what the reference px
    say of it (used far out, at a marker beside the product): small on a right registration, and
    about the error on one tilted by a wrong perspective."""
    g, ref, _ = golden
    cam = _camera(0.95, 5.0, shift=(4.0, -3.0))
    unit = _render(cam, seed=3)
    h_true = GOLDEN_CAM @ np.linalg.inv(cam)
    c = np.array([SHAPE[1] / 2, SHAPE[0] / 2])
    to_c = np.array([[1.0, 0.0, -c[0]], [0.0, 1.0, -c[1]], [0.0, 0.0, 1.0]])
    p_err = np.array([6e-5, -4e-5])  # 1/px: the scale 200 px out off by about 2 %
    tilt = np.linalg.inv(to_c) @ np.array([[1.0, 0, 0], [0, 1.0, 0], [p_err[0], p_err[1], 1.0]]) @ to_c
    right = refine_on_reference(g, unit, _registration(h_true), ref)
    wrong = refine_on_reference(g, unit, _registration(tilt @ h_true), ref)
    assert right is not None and wrong is not None
    assert right.perspective_cov is not None and wrong.perspective_cov is not None
    sd_right = math.sqrt(float(np.trace(right.perspective_cov)))
    sd_wrong = math.sqrt(float(np.trace(wrong.perspective_cov)))
    size = float(np.hypot(*p_err))
    assert sd_right < 0.3 * size
    assert 0.5 * size < sd_wrong < 3.0 * size
    # lengths inside the product carry it only where the reference shows the perspective off
    assert wrong.perspective_off and not right.perspective_off
    ends = np.array([[100.0, 300.0], [380.0, 300.0]])
    assert right.perspective_length_std_px(ends[0], ends[1]) == 0.0
    assert wrong.perspective_length_std_px(ends[0], ends[1]) > 0.05




def _grain(shift_px: float) -> np.ndarray:
    """A board's grain: bands along x every 24 px (a ring, 30 grey levels darker over 40 % of it),
    a little wavy, shifted across by ``shift_px`` (another board's grain), and sensor noise."""
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(np.float64)
    late = np.mod((yy + 1.5 * np.sin(xx / 45.0) + shift_px) / 24.0, 1.0) > 0.6
    img = 170.0 - 30.0 * cv2.GaussianBlur(late.astype(np.float32), (0, 0), 1.0)
    return (img + np.random.default_rng(int(10 * shift_px)).normal(0.0, 1.0, img.shape)).astype(np.float32)


def test_a_reference_that_slid_on_a_grain_new_on_every_unit_keeps_the_registrations_place():
    """The registration is exact (identity, one camera), but the unit's grain lies 6 px across from
    the golden's, as another board's does, and the grain is all the reference has. The fit slides
    by the grain, far beyond what a strain of the prior's size can move the reference's centroid:
    its shift is dropped, so its centroid stays where the registration put it. The same board with
    its grain in place is fitted with a shift well inside that bound."""
    import goldenvision.measure.scale_reference as sr

    def shift_at_centroid(fit) -> float:
        cg = np.asarray(fit.centre_px)
        return float(np.hypot(*(fit.correction[:, :2] @ cg + fit.correction[:, 2] - cg)))

    g = _grain(0.0)
    inner = np.zeros(SHAPE, bool)
    inner[40:320, 60:420] = True
    ref = reference_mask(g, inner)
    reg = _registration(np.eye(3))
    same = refine_on_reference(g, _grain(0.0), reg, ref, prior_strain_std=0.01)
    other = refine_on_reference(g, _grain(6.0), reg, ref, prior_strain_std=0.01)
    assert same is not None and other is not None
    assert shift_at_centroid(same) < 0.5 and shift_at_centroid(other) < 1e-9
    # without the bound the fit slides on the grain, bands away, with the same strain
    bound = sr.TRANSLATION_SIGMAS
    try:
        sr.TRANSLATION_SIGMAS = 1e9
        slid = refine_on_reference(g, _grain(6.0), reg, ref, prior_strain_std=0.01)
    finally:
        sr.TRANSLATION_SIGMAS = bound
    assert slid is not None and shift_at_centroid(slid) > 6.0
    np.testing.assert_allclose(slid.correction[:, :2], other.correction[:, :2], atol=1e-12)


def test_without_a_reference_fit_the_registrations_strain_error_joins_the_uncertainty(golden):
    """A registration that also fitted the measured plate may have absorbed part of a change of its
    width: without a reference fit, the strain covariance the pipeline passes (the features' drag
    and the registration's noise) adds the length's share, ``L sqrt(g^T C g)``, to the uncertainty;
    a strain across the width adds nothing."""
    g, _, _ = golden
    reg = _registration(np.eye(3))
    plain = measure_dimension(g, DIM, reg, MM_PER_PX, reference="golden_frame")
    along = measure_dimension(g, DIM, reg, MM_PER_PX, reference="golden_frame", strain_cov=np.diag([0.004**2, 0.0, 0.0]))
    across = measure_dimension(g, DIM, reg, MM_PER_PX, reference="golden_frame", strain_cov=np.diag([0.0, 0.0, 0.004**2]))
    assert along.measured_mm == plain.measured_mm == across.measured_mm
    added = math.sqrt(along.uncertainty_mm**2 - plain.uncertainty_mm**2)
    assert added == pytest.approx(0.004 * plain.measured_mm, rel=0.02)
    assert across.uncertainty_mm == pytest.approx(plain.uncertainty_mm, rel=1e-6)
