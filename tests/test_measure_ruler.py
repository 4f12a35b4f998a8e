"""Dimensions scaled by a ruler in a hand-held photo (issue 13: "a ruler or a known-size marker")."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from goldenvision.errors import SpecError
from goldenvision.measure import measure_dimension
from goldenvision.measure.ruler import find_scale_ruler
from goldenvision.measure.scale_reference import ReferenceFit
from goldenvision.results import RegistrationResult
from goldenvision.spec import DimensionSpec, ScaleRuler, load_spec

PX_PER_MM = 10.0  # the drawn plane
GOLDEN_MM_PER_PX = 0.2  # the golden frame: the plane seen square-on at 5 px/mm
PLANE_MM = (140.0, 95.0)
RULER = ScaleRuler(tick_mm=1.0)


def _cover(lo: float, hi: float, n: int) -> np.ndarray:
    """Fraction of each plane px (0..n) inside [lo, hi] mm."""
    xs = np.arange(n) + 0.5
    return np.clip(np.minimum(xs, hi * PX_PER_MM) - np.maximum(xs - 1, lo * PX_PER_MM), 0, 1)


def _paint(img: np.ndarray, x0: float, x1: float, y0: float, y1: float, value: float) -> None:
    """Paint ``value`` over [x0, x1] x [y0, y1] mm, each px by the fraction of it covered (only
    the px the rectangle touches are computed: elsewhere the cover is 0 and the px unchanged)."""
    h, w = img.shape
    cy, cx = _cover(y0, y1, h), _cover(x0, x1, w)
    rows, cols = np.flatnonzero(cy), np.flatnonzero(cx)
    if not len(rows) or not len(cols):
        return
    win = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    cover = np.outer(cy[win[0]], cx[win[1]])
    img[win] = img[win] * (1 - cover) + value * cover


def _plane(bar_width_mm: float, grow: float = 1.0, ruler: bool = True, zipper: bool = False,
           ruler_from_mm: float = 0.0) -> np.ndarray:
    """Linear reflectance: a grey table, a dark bar ``bar_width_mm`` wide about (90, 40) mm (a
    product ``grow`` times its nominal size as a whole), and below it a yellowish ruler with 1 mm
    ticks (longer every 5 and 10 mm) from ``ruler_from_mm`` to 100 mm, or a zipper-like band of
    teeth 3 mm apart."""
    w, h = int(PLANE_MM[0] * PX_PER_MM), int(PLANE_MM[1] * PX_PER_MM)
    img = np.full((h, w), 0.35, np.float32)
    cx, cy = 90.0, 40.0
    _paint(img, cx - grow * bar_width_mm / 2, cx + grow * bar_width_mm / 2, cy - grow * 28.0, cy + grow * 28.0, 0.03)
    if ruler:
        _paint(img, 12.0, 128.0, 78.0, 90.0, 0.6)
        for k in range(int(ruler_from_mm), 101):
            x = 20.0 + k
            ln = 5.0 if k % 10 == 0 else (3.5 if k % 5 == 0 else 2.2)
            _paint(img, x - 0.1, x + 0.1, 78.0, 78.0 + ln, 0.04)
    if zipper:
        _paint(img, 15.0, 125.0, 80.0, 88.0, 0.08)
        for k in range(36):
            x = 17.0 + 3.0 * k
            _paint(img, x, x + 1.5, 80.5, 87.5, 0.7)
    return img


def _camera(scale: float, tilt_deg: float) -> np.ndarray:
    """Plane px -> unit px: ``scale`` times the golden's 5 px/mm, a turn and a tilt."""
    s = scale * (1.0 / GOLDEN_MM_PER_PX) / PX_PER_MM
    a = np.array([[s * math.cos(0.15), -s * math.sin(0.15), 70.0], [s * math.sin(0.15), s * math.cos(0.15), 10.0],
                  [0, 0, 1]])
    t = math.radians(tilt_deg)
    persp = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [math.sin(t) / 900.0, 0.0, 1.0]])
    return persp @ a


def _photo(plane: np.ndarray, cam: np.ndarray, seed: int = 1) -> np.ndarray:
    """The plane photographed: optics blur and resample in linear light, then sRGB-encoded."""
    soft = cv2.GaussianBlur(plane, (0, 0), 0.5 * PX_PER_MM / 5.0)
    img = cv2.warpPerspective(soft, cam, (900, 620), flags=cv2.INTER_LINEAR, borderValue=float(plane[0, 0]))
    enc = np.where(img <= 0.0031308, 12.92 * img, 1.055 * np.clip(img, 0, None) ** (1 / 2.4) - 0.055) * 255.0
    enc = enc + np.random.default_rng(seed).normal(0, 1.0, enc.shape)
    return np.dstack([np.clip(np.round(enc), 0, 255).astype(np.uint8)] * 3)


def _gray(photo: np.ndarray) -> np.ndarray:
    from goldenvision.calibration.color import linear_luminance

    return linear_luminance(photo)


def _dim() -> DimensionSpec:
    # the bar (nominal 12 mm) seen across, in golden px (5 px/mm): centre (90, 40) mm
    return DimensionSpec(name="bar", measure="width", nominal_mm=12.0, tolerance_mm=(-0.3, 0.3),
                         caliper={"center": [450.0, 200.0], "angle_deg": 0.0, "length_px": 100.0, "width_px": 20.0})


def _fit(cam: np.ndarray, grow: float, rms_px: float = 0.05) -> ReferenceFit:
    """The registration refined on the product: it maps the (grown) product onto the golden."""
    f = 1.0 / GOLDEN_MM_PER_PX / PX_PER_MM
    c = np.array([90.0, 40.0]) * PX_PER_MM
    shrink = np.array([[1 / grow, 0, c[0] * (1 - 1 / grow)], [0, 1 / grow, c[1] * (1 - 1 / grow)], [0, 0, 1]])
    reg = RegistrationResult(np.diag([f, f, 1.0]) @ shrink @ np.linalg.inv(cam), ok=True, rms_px=rms_px,
                             reference_shape_hw=(475, 700))
    return ReferenceFit(registration=reg, cov_linear=np.diag([1e-8, 1e-8, 1e-8]), reference_px=5000,
                        correction=np.eye(2, 3), perspective_cov=np.diag([1e-14, 1e-14]), centre_px=(450.0, 200.0))


@pytest.mark.parametrize(("scale", "tilt"), [(0.95, 0.0), (1.1, 8.0)])
def test_the_ruler_is_found_and_its_pitch_fitted(scale, tilt):
    cam = _camera(scale, tilt)
    r = find_scale_ruler(_photo(_plane(12.0), cam), RULER)
    assert r is not None
    assert r.n_ticks >= 90
    # the true positions of the fitted first and last tick: plane mm (20 + k, 78) through the camera
    k0 = round(r.span_mm)
    true = cv2.perspectiveTransform(np.array([[[20.0 * PX_PER_MM, 78.0 * PX_PER_MM],
                                                [(20.0 + k0) * PX_PER_MM, 78.0 * PX_PER_MM]]]), cam)[0]
    true_len = float(np.hypot(*(true[1] - true[0])))
    got_len = float(np.hypot(*(r.ends_px[1] - r.ends_px[0])))
    assert got_len == pytest.approx(true_len, rel=2e-3)
    assert r.end_std_px < 0.2


@pytest.mark.parametrize(("scale", "tilt", "grow"), [(0.92, 0.0, 1.0), (1.08, 8.0, 1.0), (1.0, 5.0, 1.01)])
def test_a_width_through_the_ruler_matches_the_truth_and_a_larger_product_reads_larger(scale, tilt, grow):
    """A product uniformly 1 % larger reads 1 % larger through the ruler; the golden frame, whose
    scale is the product's own registration, reads the nominal size."""
    cam = _camera(scale, tilt)
    photo = _photo(_plane(12.0, grow=grow), cam)
    fit = _fit(cam, grow)
    r = find_scale_ruler(photo, RULER, expected_mm_per_px=GOLDEN_MM_PER_PX / scale)
    assert r is not None
    ruled = measure_dimension(_gray(photo), _dim(), fit.registration, GOLDEN_MM_PER_PX, reference="ruler", ruler=r,
                              reference_fit=fit)
    golden = measure_dimension(_gray(photo), _dim(), fit.registration, GOLDEN_MM_PER_PX, reference="golden_frame",
                               reference_fit=fit)
    truth = 12.0 * grow
    assert str(ruled.reference) == "ruler"
    assert 0 < ruled.uncertainty_mm < 0.05
    assert abs(ruled.measured_mm - truth) <= max(3 * ruled.uncertainty_mm, 0.01)
    if grow != 1.0:
        assert abs(golden.measured_mm - 12.0) < 0.03  # the golden frame cannot see it
        assert ruled.measured_mm - golden.measured_mm == pytest.approx(12.0 * (grow - 1.0), abs=0.04)


def test_without_the_products_registration_the_ruler_is_not_used():
    cam = _camera(1.0, 0.0)
    photo = _photo(_plane(12.0), cam)
    r = find_scale_ruler(photo, RULER)
    assert r is not None
    reg = _fit(cam, 1.0).registration
    res = measure_dimension(_gray(photo), _dim(), reg, GOLDEN_MM_PER_PX, reference="ruler", ruler=r)
    assert str(res.reference) == "golden_frame"
    with pytest.raises(SpecError, match="ruler"):
        measure_dimension(_gray(photo), _dim(), reg, GOLDEN_MM_PER_PX, reference="ruler")


def test_a_partly_covered_ruler_is_still_read():
    cam = _camera(1.0, 4.0)
    r = find_scale_ruler(_photo(_plane(12.0, ruler_from_mm=45.0), cam), RULER)
    assert r is not None and 45 <= r.n_ticks <= 57


def test_a_zipper_like_periodic_band_is_not_a_ruler():
    """Teeth 3 mm apart, as regular as a ruler's ticks: their pitch gives 3 times the expected
    scale, so they are not taken for 1 mm ticks."""
    cam = _camera(1.0, 3.0)
    photo = _photo(_plane(12.0, ruler=False, zipper=True), cam)
    assert find_scale_ruler(photo, RULER, expected_mm_per_px=GOLDEN_MM_PER_PX) is None
    # the same band is a ruler of 3 mm ticks: the check is the scale, not the drawing
    assert find_scale_ruler(photo, ScaleRuler(tick_mm=3.0), expected_mm_per_px=GOLDEN_MM_PER_PX) is not None
    # and a photo with nothing periodic has no ruler
    blank = _photo(_plane(12.0, ruler=False), cam)
    assert find_scale_ruler(blank, RULER) is None


@pytest.mark.parametrize("bad", [
    np.zeros((0, 0, 3), np.uint8),
    np.zeros((5, 900, 3), np.uint8),
    np.zeros((40,), np.uint8),
    np.full((200, 300), np.nan, np.float32),
    np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8),
])
def test_a_truncated_or_corrupt_image_gives_none(bad):
    assert find_scale_ruler(bad, RULER) is None


def test_a_truncated_photo_with_half_a_ruler_never_raises():
    photo = _photo(_plane(12.0), _camera(1.0, 0.0))[:430]  # cut through the ruler's ticks
    r = find_scale_ruler(photo, RULER)
    assert r is None or r.n_ticks >= 20


@pytest.mark.parametrize("tick", [0.0, -1.0, 1000.0, float("nan")])
def test_absurd_ruler_ticks_are_spec_errors(tick):
    base = {"product": "p", "scale_mm_per_px": 0.2}
    assert load_spec({**base, "scale_ruler": {}}).scale_ruler.tick_mm == 1.0
    with pytest.raises(SpecError, match="scale_ruler"):
        load_spec({**base, "scale_ruler": {"tick_mm": tick}})


def test_the_pipeline_takes_the_ruler_only_after_a_marker_and_only_when_the_spec_names_one():
    from goldenvision.sealing import _dimension_reference, _find_ruler

    cam = _camera(1.0, 3.0)
    photo = _photo(_plane(12.0), cam)
    reg = _fit(cam, 1.0).registration
    spec = {"product": "p", "scale_mm_per_px": GOLDEN_MM_PER_PX}
    assert _find_ruler(photo, load_spec(spec), None, reg, GOLDEN_MM_PER_PX) is None  # not in the spec
    ruler = _find_ruler(photo, load_spec({**spec, "scale_ruler": {"tick_mm": 1.0}}), None, reg, GOLDEN_MM_PER_PX)
    assert ruler is not None and ruler.n_ticks >= 90
    # a golden scale twice the true one: the ticks' pitch is not plausible, no ruler
    assert _find_ruler(photo, load_spec({**spec, "scale_ruler": {}}), None, reg, 2 * GOLDEN_MM_PER_PX) is None
    assert _dimension_reference(None, None, ruler) == "ruler"
    assert _dimension_reference(None, None, None) == "golden_frame"


def test_a_ruler_reading_that_cannot_decide_its_band_says_what_would():
    from goldenvision.decision import _incapable
    from goldenvision.results import DimensionResult

    d = DimensionResult(name="bar", measured_mm=12.1, nominal_mm=12.0, tol_minus_mm=0.1, tol_plus_mm=0.1,
                        uncertainty_mm=0.08, reference="ruler")
    assert "ruler" in _incapable("ruler", d)


def test_a_ruler_that_cannot_decide_the_band_gives_way_to_the_golden_frame():
    """Where the ruler's expanded uncertainty reaches half the tolerance band (the registration
    carried far out to it), its reading could decide nothing: the golden frame's is reported."""
    cam = _camera(1.0, 3.0)
    photo = _photo(_plane(12.0), cam)
    fit = _fit(cam, 1.0)
    r = find_scale_ruler(photo, RULER)
    assert r is not None
    wide = measure_dimension(_gray(photo), _dim(), fit.registration, GOLDEN_MM_PER_PX, reference="ruler", ruler=r,
                             reference_fit=fit)
    assert str(wide.reference) == "ruler"
    narrow_dim = _dim().model_copy(update={"tolerance_mm": (-1.5 * wide.uncertainty_mm, 1.5 * wide.uncertainty_mm)})
    narrow = measure_dimension(_gray(photo), narrow_dim, fit.registration, GOLDEN_MM_PER_PX, reference="ruler",
                               ruler=r, reference_fit=fit)
    assert str(narrow.reference) == "golden_frame"


def test_the_record_says_what_became_of_the_ruler():
    from goldenvision.pipeline import _ruler_record
    from goldenvision.results import DimensionResult

    r = find_scale_ruler(_photo(_plane(12.0), _camera(1.0, 3.0)), RULER)
    assert r is not None

    def dim(name: str, ref: str) -> DimensionResult:
        return DimensionResult(name=name, measured_mm=12.0, nominal_mm=12.0, tol_minus_mm=0.1, tol_plus_mm=0.1,
                               uncertainty_mm=0.01, reference=ref)

    rec = _ruler_record(r, False, False, [dim("bar", "ruler"), dim("slot", "golden_frame"), ValueError("x")])
    assert rec["found"] and rec["used_for"] == ["bar"] and rec["not_decided_by_it"] == ["slot"]
    assert rec["ticks"] == r.n_ticks and rec["tick_mm"] == 1.0
    assert _ruler_record(None, False, False, []) == {"searched": True, "found": False}
    assert _ruler_record(None, True, False, [])["searched"] is False  # a marker is the reference
    assert "not pinned" in _ruler_record(None, False, True, [])["why"]


def test_a_hand_held_lot_records_the_ruler_where_the_photo_holds_one(tmp_path):
    import goldenvision as gv
    from goldenvision import demo

    # at the benchmark's size (at size 0.3 the 1 mm ticks are too fine: the ruler of unit_001 was not found);
    # one golden capture: the ruler is looked for on the units, and the sealed registration model
    # is the reference capture's alone (the anomaly model's fit, the seal's cost, grows with each)
    lot = demo.generate_lot(tmp_path, family="pcba", mode="handheld", seed=2, n_golden=1, n_units=3, size=0.6)
    golden = gv.seal(lot.golden_paths, lot.spec_path)
    insp = gv.Inspector(golden)
    kinds = {u["unit_id"]: (u.get("scale_marker") or {}).get("kind") for u in lot.truth["units"]}
    with_ruler = [p for p in lot.unit_paths if kinds[p.stem] == "ruler"]
    without = [p for p in lot.unit_paths if kinds[p.stem] is None]
    assert with_ruler and without
    for p in with_ruler[:2] + without[:1]:
        r = insp.inspect(str(p))
        rec = r.provenance["scale_ruler"]
        # registered (so the ruler is looked for): asserted, the check below no longer conditional on it
        assert r.registration is not None and r.registration.ok, (p.stem, r.registration)
        assert rec["searched"] and rec["found"] == (p in with_ruler), (p.stem, rec)
        if rec.get("found"):
            names = {d.name for d in r.dimensions}
            assert set(rec["used_for"]) | set(rec["not_decided_by_it"]) == names
            assert all(str(d.reference) == "ruler" for d in r.dimensions if d.name in rec["used_for"])



def test_the_staircase_of_a_slanted_edge_is_not_a_ruler():
    """The zoo's hand-held label, seed 1, unit 17 (no ruler in the frame): its red band's top edge,
    at about 13 degrees, steps a px every 4.4 px along it after the camera's resampling and JPEG,
    the pitch of 1 mm ticks at that photo's scale, and was read as a 39 mm ruler (the band's
    height through it 2 mm off). Those "ticks" are only the edge's blur long; a ruler's cross its
    row for a few times their pitch (the zoo ruler's 2.2-5 mm, 2.5-4.4 pitches measured)."""
    from goldenvision.demo.zoo import FAMILIES
    from goldenvision.demo.zoo.camera import photograph_unit
    from goldenvision.demo.zoo.lot import make_zoo_unit

    fam = FAMILIES["label"]
    photo = photograph_unit(fam, make_zoo_unit(fam, 17, "barcode_void", 1, "handheld"), 0.6)
    assert find_scale_ruler(photo, RULER, expected_mm_per_px=1.0 / 4.37) is None
    # the same family's photo with a ruler in it (unit 16) keeps its ruler, all 101 ticks
    photo = photograph_unit(fam, make_zoo_unit(fam, 16, "color", 1, "handheld"), 0.6)
    r = find_scale_ruler(photo, RULER, expected_mm_per_px=1.0 / 4.37)
    assert r is not None and r.n_ticks == 101
