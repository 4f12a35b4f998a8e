"""Anomaly stage on synthetic printed / textured goods with known defects."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from goldenvision.anomaly import AnomalyConfig, AnomalyModel, backbone_available, find_defects, good_score_threshold
from goldenvision.anomaly import zone_features as ZF
from goldenvision.anomaly.backbone import MODEL_PATH, Backbone
from goldenvision.errors import ImageError, ModelError, SpecError
from goldenvision.results import AnomalyResult
from goldenvision.spec import AnomalyZone

H, W = 200, 280
SCALE = 0.1  # mm per golden px


def printed(h: int = H, w: int = W) -> np.ndarray:
    """A printed label: cream paper, blue blocks, a red ring and black text."""
    img = np.full((h, w, 3), (205, 195, 170), np.uint8)
    rng = np.random.default_rng(42)
    for _ in range(20):
        x, y = int(rng.integers(10, w - 60)), int(rng.integers(10, h - 60))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(8, 50)), y + int(rng.integers(3, 12))), (30, 40, 120), -1)
    cv2.circle(img, (220, 150), 25, (150, 30, 30), 3)
    cv2.putText(img, "GV 42", (20, 185), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2, cv2.LINE_AA)
    return img


def label_window(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """A window of the printed label (x0 <= x < x1, y0 <= y < y1) for tests whose point is not the
    label's size: the same print around their defects, fitted and scored in a third to a half of the time."""
    return np.ascontiguousarray(printed()[y0:y1, x0:x1])


def shoot(img: np.ndarray, rng: np.random.Generator, *, gain=1.0, noise=2.0, jitter=0.3) -> np.ndarray:
    """A capture: sub-pixel jitter, lighting gain (scalar or per channel) and sensor noise."""
    h, w = img.shape[:2]
    m = np.float32([[1, 0, rng.uniform(-jitter, jitter)], [0, 1, rng.uniform(-jitter, jitter)]])
    out = cv2.warpAffine(img.astype(np.float32), m, (w, h), borderMode=cv2.BORDER_REFLECT)
    out = out * np.asarray(gain, np.float32) + rng.normal(0, noise, out.shape)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def overlaps(bbox, truth) -> bool:
    x1, y1, x2, y2 = bbox
    a1, b1, a2, b2 = truth
    return x1 < a2 and a1 < x2 and y1 < b2 and b1 < y2


def golden_captures() -> tuple[np.ndarray, list[np.ndarray], np.random.Generator]:
    """The printed label, its 6 golden captures and the generator after them (a fresh one each call)."""
    rng = np.random.default_rng(0)
    g = printed()
    return g, [shoot(g, rng) for _ in range(6)], rng


GOLDEN_ZONE = {"name": "label", "defect_type": "print"}


@pytest.fixture(scope="module")
def golden():
    g, caps, _ = golden_captures()
    model = AnomalyModel.fit(caps, [AnomalyZone(**GOLDEN_ZONE)], scale_mm_per_px=SCALE)
    return g, model


def test_fit_calibrates_a_threshold_from_leave_one_out(golden):
    _, model = golden
    z = model.zones_[0]
    assert model.methods_ == {"label": "variation"}
    assert len(z.good_scores) == 6
    # Few samples: threshold = max(max * (1 + 1 / sqrt(n)), Gumbel q, floor) / sensitivity.
    s = np.asarray(z.good_scores)
    beta = s.std(ddof=1) * math.sqrt(6) / math.pi
    gumbel = s.mean() - 0.5772156649 * beta - beta * math.log(-math.log(0.99))
    expected = max(s.max() * (1 + 1.0 / math.sqrt(6)), gumbel, model.config.var_floor)
    assert z.threshold == pytest.approx(expected)


@pytest.mark.parametrize(
    "draw, truth",
    [
        (lambda u: cv2.line(u, (40, 60), (120, 100), (120, 110, 100), 2), (38, 58, 123, 103)),  # scratch
        (lambda u: cv2.rectangle(u, (18, 160), (60, 190), (205, 195, 170), -1), (18, 160, 61, 191)),  # missing print
        (lambda u: cv2.circle(u, (140, 130), 10, (180, 168, 150), -1), (130, 120, 151, 141)),  # stain (~25 levels)
    ],
    ids=["scratch", "missing_print", "stain"],
)
def test_defect_is_flagged_with_a_box_on_it(golden, draw, truth):
    g, model = golden
    unit = g.copy()
    draw(unit)
    res = model.score(shoot(unit, np.random.default_rng(7)))
    assert isinstance(res, AnomalyResult)
    assert res.score >= 1.0 and res.zone_scores["label"] == pytest.approx(res.score)
    assert res.defects, "no defect region"
    top = res.defects[0]
    assert overlaps(top.bbox, truth)
    assert top.zone == "label" and top.defect_type.value == "print"
    assert top.area_mm2 == pytest.approx(top.area_px * SCALE**2)
    # Every reported region lies on the truth (no false regions elsewhere).
    assert all(overlaps(d.bbox, truth) for d in res.defects)


@pytest.mark.parametrize("gain", [0.8, 1.2, (0.85, 1.0, 1.15)])
def test_lighting_gain_and_noise_are_not_defects(golden, gain):
    g, model = golden
    rng = np.random.default_rng(11)
    for _ in range(3):
        res = model.score(shoot(g, rng, gain=gain))
        assert res.defects == ()
        assert res.score < 1.0


def test_threshold_normalisation_holds_on_held_out_goods():
    """With the LOO threshold, held-out good images stay below 1.0.

    The few-sample rule (max + margin) is documented to target a false-reject rate of a few
    percent; measured 1.1 % at 4 captures and 0 % at 8 (180 held-out goods each, noise 8).
    """
    rng = np.random.default_rng(3)
    g = printed()
    noise = 14.0  # enough that the threshold comes from the data, not the floor
    caps = [shoot(g, rng, noise=noise, gain=rng.uniform(0.8, 1.2)) for _ in range(8)]
    model = AnomalyModel.fit(caps, [AnomalyZone(name="label")])
    z = model.zones_[0]
    assert z.threshold > model.config.var_floor  # data-driven
    scores = np.array([model.score(shoot(g, rng, noise=noise, gain=rng.uniform(0.8, 1.2))).score for _ in range(40)])
    assert (scores >= 1.0).sum() <= 1  # <= 2.5 %
    # ... and the normalisation is not vacuous: good images reach a sizeable part of 1.0.
    assert np.median(scores) > 0.4


def test_sensitivity_scales_the_threshold(golden):
    # the module's golden (sensitivity 1.0) against a fit of the same captures at sensitivity 2.0
    _, a = golden
    g, caps, rng = golden_captures()
    assert a.zones_[0].spec.sensitivity == 1.0
    b = AnomalyModel.fit(caps, [AnomalyZone(**GOLDEN_ZONE, sensitivity=2.0)], scale_mm_per_px=SCALE)
    assert b.thresholds_["label"] == pytest.approx(a.thresholds_["label"] / 2)
    unit = shoot(g, rng)
    assert b.score(unit).score == pytest.approx(2 * a.score(unit).score, rel=1e-5)


def test_state_round_trip_gives_identical_scores(golden):
    g, model = golden
    state = model.to_state()
    arrays = [v for v in state.values() if isinstance(v, np.ndarray)]
    assert {a.dtype for a in arrays} <= {np.dtype(np.float16), np.dtype(np.uint16), np.dtype(np.uint8)}
    again = AnomalyModel.from_state(state)
    unit = g.copy()
    cv2.line(unit, (40, 60), (120, 100), (120, 110, 100), 2)
    unit = shoot(unit, np.random.default_rng(5))
    r1, r2 = model.score(unit), again.score(unit)
    np.testing.assert_array_equal(r1.map, r2.map)
    assert r1.defects == r2.defects and r1.zone_scores == r2.zone_scores


def test_polygon_region_restricts_the_zone():
    rng = np.random.default_rng(1)
    g = label_window(0, 0, W, 100)  # the label's upper half, where both lines are drawn
    caps = [shoot(g, rng) for _ in range(5)]
    left = [[0, 0], [140, 0], [140, 99], [0, 99]]
    model = AnomalyModel.fit(caps, [AnomalyZone(name="left", region=left)])
    unit = g.copy()
    cv2.line(unit, (180, 40), (260, 60), (60, 60, 60), 3)  # right half only: outside the zone
    res = model.score(shoot(unit, rng))
    assert res.defects == () and res.score < 1.0
    assert np.all(res.map[:, 142:] == 0)
    unit = g.copy()
    cv2.line(unit, (30, 40), (100, 60), (60, 60, 60), 3)  # inside
    res = model.score(shoot(unit, rng))
    assert res.defects and res.defects[0].bbox[2] <= 141


def test_min_area_mm2_filters_small_regions():
    rng = np.random.default_rng(2)
    g = label_window(70, 40, 230, 160)
    caps = [shoot(g, rng) for _ in range(5)]
    unit = g.copy()
    cv2.rectangle(unit, (80, 60), (82, 62), (40, 40, 40), -1)  # 3x3 px = 0.09 mm² dot, at (150, 100) of the label
    unit = shoot(unit, rng)
    small = AnomalyModel.fit(caps, [AnomalyZone(name="z", min_area_mm2=0.0)], scale_mm_per_px=SCALE).score(unit)
    # 1 mm²: the dot is a tenth of it. (At 0.5 mm² this high-contrast dot's evidence already covers the
    # extent a just-detectable 0.5 mm² defect has in the aggregated map, regions.smallest_defect_extent_px.)
    big = AnomalyModel.fit(caps, [AnomalyZone(name="z", min_area_mm2=1.0)], scale_mm_per_px=SCALE).score(unit)
    assert small.defects and small.defects[0].area_mm2 < 0.5
    assert big.score >= 1.0 and big.defects == ()  # still scored, not reported as a region


def test_add_good_extends_scores_and_keeps_detection():
    rng = np.random.default_rng(4)
    g = label_window(0, 30, 160, 150)
    model = AnomalyModel.fit([shoot(g, rng) for _ in range(4)], [AnomalyZone(name="z")])
    n0 = model.n_.max()
    model.add_good([shoot(g, rng, gain=1.1) for _ in range(3)])
    assert model.n_.max() == n0 + 3 and len(model.zones_[0].good_scores) == 7
    unit = g.copy()
    cv2.line(unit, (40, 30), (120, 70), (120, 110, 100), 2)  # the scratch at (40, 60)-(120, 100) of the label
    assert model.score(shoot(unit, rng)).score >= 1.0
    assert model.score(shoot(g, rng, gain=0.9)).score < 1.0


def test_single_capture_uses_pseudo_captures():
    g = label_window(60, 70, 220, 190)
    model = AnomalyModel.fit([g], [AnomalyZone(name="z")])
    assert len(model.zones_[0].good_scores) == 5
    unit = g.copy()
    cv2.circle(unit, (80, 60), 6, (40, 40, 40), -1)  # at (140, 130) of the label
    assert model.score(unit).defects


def test_invalid_pixels_are_never_flagged(golden):
    g, model = golden
    unit = g.copy()
    unit[:, :60] = 0  # warp border
    valid = np.ones((H, W), bool)
    valid[:, :60] = False
    res = model.score(unit, valid)
    assert res.defects == () and np.all(res.map[:, :60] == 0)


def test_bad_inputs_raise_clear_errors(golden):
    g, model = golden
    with pytest.raises(ImageError, match="warped"):
        model.score(g[:100])
    with pytest.raises(ImageError, match="uint8"):
        model.score(g.astype(np.float32))
    with pytest.raises(ImageError, match="valid"):
        model.score(g, np.ones((10, 10), bool))
    with pytest.raises(ImageError, match="captures"):
        AnomalyModel.fit([], [])
    with pytest.raises(SpecError, match="method"):
        AnomalyModel.fit([g], [], method="magic")
    with pytest.raises(SpecError, match="polygon"):
        AnomalyModel.fit([g], [AnomalyZone(name="off", region=[[1000, 1000], [1100, 1000], [1100, 1100]])])
    with pytest.raises(ModelError):
        AnomalyModel.from_state({"version": 99})


def test_good_score_threshold_known_answers():
    s = np.arange(1, 200, dtype=float)  # 199 scores 1..199
    # conformal rank k = ceil(200 * 0.99) = 198 -> the 198th smallest = 198
    assert good_score_threshold(s, alpha=0.01) == 198.0
    assert good_score_threshold(s, alpha=0.01, sensitivity=2.0) == 99.0
    # too few for the rank: max(max * (1 + 1 / sqrt(4)) = 6, Gumbel 0.99 quantile of 1..4)
    assert good_score_threshold([1.0, 2.0, 3.0, 4.0]) == pytest.approx(6.5494, abs=1e-3)
    assert good_score_threshold([3.0, 4.0]) == pytest.approx(4.0 * (1 + 1 / math.sqrt(2)))
    assert good_score_threshold([0.1], floor=3.0) == 3.0
    with pytest.raises(SpecError):
        good_score_threshold([])


def test_find_defects_boxes_and_areas():
    m = np.zeros((50, 60), np.float32)
    m[10:20, 5:15] = 2.0  # 100 px
    m[30:32, 40:42] = 1.5  # 4 px
    zone = AnomalyZone(name="z", min_area_mm2=0.05)
    out = find_defects(m, np.ones_like(m, bool), zone, scale_mm_per_px=0.1)  # 0.05 mm² = 5 px
    assert [d.bbox for d in out] == [(5, 10, 15, 20)]
    assert out[0].area_px == 100 and out[0].score == 2.0 and out[0].area_mm2 == pytest.approx(1.0)
    out = find_defects(m, np.ones_like(m, bool), AnomalyZone(name="z"), scale_mm_per_px=None)
    assert sorted(d.area_px for d in out) == [4, 100] and out[1].area_mm2 is None


# ---------------------------------------------------------------- feature models (ONNX backbone)
needs_backbone = pytest.mark.skipif(not backbone_available(), reason="ONNX backbone not shipped")


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """Leather-like grain: blurred noise, different each call (no fixed geometry)."""
    rng = np.random.default_rng(seed)
    n = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5)
    n = n / n.std()
    base = np.array([120, 80, 50], np.float32)
    return np.clip(base + 18 * n[..., None], 0, 255).astype(np.uint8)


@needs_backbone
@pytest.mark.parametrize("method", ["patchcore", "padim"])
def test_feature_models_flag_a_patch(method):
    rng = np.random.default_rng(0)
    g = printed(160, 224)
    cfg = AnomalyConfig(feature_scale=1.0)
    caps = [shoot(g, rng) for _ in range(5)]  # 5 (was 6): PaDiM's leave-one-out fit 3.5 s -> 2 s
    model = AnomalyModel.fit(caps, [AnomalyZone(name="z", method=method)], config=cfg)
    assert model.methods_ == {"z": method}
    unit = g.copy()
    cv2.rectangle(unit, (100, 60), (124, 84), (20, 160, 20), -1)
    res = model.score(shoot(unit, rng))
    assert res.score >= 1.0 and overlaps(res.defects[0].bbox, (100, 60, 125, 85))
    # good captures under other light pass: their features are read as registered, not resampled by the
    # residual sub-pixel shift (with the resampling, 9 of 16 seeds flagged this gain-1.15 capture with
    # PaDiM, 5 of 16 with PatchCore; with it 1 of 64 such good captures over 16 seeds, PaDiM only)
    goods = [shoot(g, rng, gain=gain) for gain in (1.0, 1.15, 0.9, (1.1, 1.0, 0.95))]
    assert max(model.score(im).score for im in goods) < 1.0
    ones = np.ones(g.shape[:2], bool)
    assert model.residual_shift_px(goods[0], ones) is not None  # a sub-pixel shift the variation zones undo
    assert model.score(goods[0]).zone_scores["z"] == pytest.approx(
        float(model._raw_maps(goods[0], ones)["z"].max()) / model.zones_[0].threshold, rel=1e-5)
    again = AnomalyModel.from_state(model.to_state())
    np.testing.assert_array_equal(again.score(unit).map, model.score(unit).map)


@needs_backbone
def test_texture_zone_is_position_free_and_flags_a_stain():
    cfg = AnomalyConfig(feature_scale=1.0, texture_bank=500)
    caps = [texture(128, 160, s) for s in range(5)]
    zone = AnomalyZone(name="leather", defect_type="finish", method="texture")
    model = AnomalyModel.fit(caps, [zone], config=cfg)
    assert model.methods_ == {"leather": "texture"}
    assert model.tex_banks_["leather"].shape[0] <= 500
    assert model.score(texture(128, 160, 99)).score < 1.0  # new grain, same kind: good
    unit = texture(128, 160, 98)
    cv2.circle(unit, (80, 64), 20, (200, 200, 190), -1)  # a 4 mm stain at 0.1 mm/px
    res = model.score(unit)
    assert res.score >= 1.0 and overlaps(res.defects[0].bbox, (60, 44, 101, 85))


@needs_backbone
def test_patchcore_bank_stays_bounded_with_add_good():
    rng = np.random.default_rng(0)
    g = printed(96, 128)
    cfg = AnomalyConfig(feature_scale=1.0, bank_per_cell=4)
    model = AnomalyModel.fit([shoot(g, rng) for _ in range(3)], [AnomalyZone(name="z", method="patchcore")], config=cfg)
    model.add_good([shoot(g, rng) for _ in range(5)])
    assert model.pc_bank_.shape[0] == 4 and model.pc_bank_.dtype == np.float16
    assert len(model.zones_[0].good_scores) == 8


@needs_backbone
def test_backbone_tiling_matches_whole_image_and_checks_sha(tmp_path):
    from goldenvision.anomaly import get_backbone

    bb = get_backbone()
    img = printed(384, 512)
    whole = bb.features(img, tile_px=1024)
    tiled = bb.features(img, tile_px=320, overlap_px=96)  # 2 x 3 tiles
    assert whole.shape == tiled.shape == (48, 64, 152)
    rel = np.abs(whole - tiled).mean() / np.abs(whole).mean()
    assert rel < 0.02  # measured 0.5 %; 48 px overlap gives 8 %
    bad = tmp_path / "m.onnx"
    data = bytearray(MODEL_PATH.read_bytes())
    data[-1] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        Backbone(path=bad)
    with pytest.raises(ImageError):
        bb.run(np.zeros((20, 20, 3), np.uint8))


def test_find_defects_merges_nearby_pieces():
    m = np.zeros((40, 60), np.float32)
    m[10:14, 10:14] = 2.0
    m[10:14, 17:21] = 3.0  # 3 px gap
    m[30:33, 50:53] = 1.2
    zone = AnomalyZone(name="z")
    assert len(find_defects(m, np.ones_like(m, bool), zone, scale_mm_per_px=None)) == 3
    out = find_defects(m, np.ones_like(m, bool), zone, scale_mm_per_px=None, merge_px=2)
    assert [(d.bbox, d.area_px, d.score) for d in out] == [((10, 10, 21, 14), 32, 3.0), ((50, 30, 53, 33), 9, float(np.float32(1.2)))]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.floats(0.01, 100.0), min_size=1, max_size=300),
    sens=st.floats(0.1, 10.0),
)
def test_threshold_never_below_a_good_score_it_must_pass(scores, sens):
    """With sensitivity 1 no calibration score beyond the conformal rank is rejected."""
    s = np.sort(scores)
    thr = good_score_threshold(s)
    k = math.ceil((len(s) + 1) * 0.99)
    assert thr >= (s[k - 1] if k <= len(s) else s[-1])
    assert good_score_threshold(s, sensitivity=sens) == pytest.approx(thr / sens)


def test_good_score_threshold_tail_rule_known_answers():
    # 88 held-out good scores (KolektorSDD's count): 44 at 1, 43 at 2 and one outlier at 10
    s = np.r_[np.full(44, 1.0), np.full(43, 2.0), 10.0]
    # too few for the conformal rank at 0.01 (k = ceil(89 * 0.99) = 89 > 88): margin rule 10 * (1 + 1 / sqrt(88))
    assert good_score_threshold(s) == pytest.approx(10.0 * (1 + 1 / math.sqrt(88)))
    # tail rule: Gumbel by moments, mean 1.590909, sd 1.035418 -> beta = sqrt(6) sd / pi = 0.807314,
    # mu = mean - 0.577216 beta = 1.124913; 0.99 quantile mu + 4.600149 beta = 4.838687 (> s_(87) = 2)
    assert good_score_threshold(s, tail=True) == pytest.approx(4.838687, abs=1e-5)
    assert good_score_threshold(s, tail=True, sensitivity=2.0) == pytest.approx(4.838687 / 2, abs=1e-5)
    # at most 2 alpha of the scores above it: s_(ceil(88 * 0.98)) = s_(87) = 5 beats the Gumbel 4.40
    s2 = np.r_[np.full(86, 1.0), 5.0, 5.0]
    assert good_score_threshold(s2, tail=True) == 5.0
    # fewer than 1 / (2 alpha) = 50 scores: the margin rule as before; with the rank: the rank as before
    s3 = np.r_[np.full(44, 1.0), np.full(4, 2.0), 3.0]
    assert good_score_threshold(s3, tail=True) == good_score_threshold(s3)
    s4 = np.arange(1, 200, dtype=float)
    assert good_score_threshold(s4, tail=True) == 198.0


@settings(max_examples=60, deadline=None)
@given(scores=st.lists(st.floats(0.01, 100.0), min_size=50, max_size=98))
def test_tail_threshold_flags_at_most_two_alpha_of_the_goods(scores):
    s = np.sort(scores)
    thr = good_score_threshold(s, tail=True)
    assert (s > thr).sum() <= 0.02 * len(s)
    assert thr <= good_score_threshold(s) + 1e-9  # never stricter on the goods than the margin rule


def test_states_without_tail_key_recalibrate_with_the_margin_rule():
    rng = np.random.default_rng(0)
    caps = [np.clip(rng.normal(128, 10, (48, 64, 3)), 0, 255).astype(np.uint8) for _ in range(3)]
    m = AnomalyModel.fit(caps, [AnomalyZone(name="z", method="variation")])
    assert m.config.tail_threshold
    st_ = m.to_state()
    del st_["config"]["tail_threshold"]
    old = AnomalyModel.from_state(st_)
    assert not old.config.tail_threshold and old.zones_[0].threshold == m.zones_[0].threshold
    many = list(np.r_[np.full(44, 1.0), np.full(43, 2.0), 10.0])
    for model in (m, old):
        model.zones_[0].good_scores = list(many)
        model._calibrate()
    floor = m.config.var_floor
    assert m.zones_[0].threshold == pytest.approx(max(4.838687, floor), abs=1e-5)
    assert old.zones_[0].threshold == pytest.approx(10.0 * (1 + 1 / math.sqrt(88)))


def grain_unit(seed: int, *, h: int = 160, w: int = 200, leather=(150, 90, 50), patch=(60, 40, 120)) -> np.ndarray:
    """Leather with a unit-specific fine grain (0.15 mm, sd 6 levels at 0.1 mm/px) and a printed patch."""
    rng = np.random.default_rng(seed)
    n = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5)
    img = np.asarray(leather, np.float32) + 6 * (n / n.std())[..., None]
    img[20:60, 130:180] = patch
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def test_auto_picks_texture_variation_for_finish_zones_and_new_grain_passes():
    rng = np.random.default_rng(1)
    one = grain_unit(7)  # every golden capture is the same physical unit (same grain)
    caps = [shoot(one, rng, noise=1.5) for _ in range(5)]
    region = [[0, 70], [200, 70], [200, 160], [0, 160]]
    model = AnomalyModel.fit(caps, [AnomalyZone(name="leather", defect_type="finish", region=region)], scale_mm_per_px=SCALE)
    per_px = AnomalyModel.fit(caps, [AnomalyZone(name="leather", defect_type="other", region=region)], scale_mm_per_px=SCALE)
    assert model.methods_ == {"leather": "texture_variation"} and per_px.methods_ == {"leather": "variation"}
    other = shoot(grain_unit(99), rng, noise=1.5)
    # the per-pixel model sees another grain as a defect; the texture-aware zone does not
    assert per_px.score(other).score >= 1.0 and model.score(other).score < 0.6
    unit = grain_unit(98).astype(np.int16)
    yy, xx = np.mgrid[:160, :200]
    stain = (xx - 80) ** 2 + (yy - 115) ** 2 < 18**2  # 1.8 mm radius, 10 mm² darker blot
    unit[stain] -= 25
    res = model.score(shoot(np.clip(unit, 0, 255).astype(np.uint8), rng, noise=1.5))
    hits = [d for d in res.defects if d.zone == "leather"]
    assert hits and overlaps(hits[0].bbox, (62, 97, 99, 134))


def test_texture_low_pass_is_matched_to_the_zones_smallest_defect():
    """A 0.5 mm² spot (0.8 mm across) on grain: a fixed 0.5 mm low-pass leaves it a quarter of
    its contrast and misses it; matched to the zone's ``min_area_mm2`` it is found, while a
    new grain still passes; packages sealed before keep their fixed low-pass."""
    from goldenvision.anomaly.zone_variation import tex_sigma_px

    rng = np.random.default_rng(1)
    one = grain_unit(7)
    caps = [shoot(one, rng, noise=1.5) for _ in range(5)]
    region = [[0, 70], [200, 70], [200, 160], [0, 160]]
    zone = AnomalyZone(name="leather", defect_type="finish", region=region, min_area_mm2=0.5)
    matched = AnomalyModel.fit(caps, [zone], scale_mm_per_px=SCALE)
    # the low-pass alone (the full-resolution channel, :mod:`goldenvision.anomaly.fine`, finds the spot too)
    fixed = AnomalyModel.fit(caps, [zone], scale_mm_per_px=SCALE,
                             config=AnomalyConfig(tex_sigma_matched=False, tex_fine=False))
    r = math.sqrt(0.5 / math.pi) / SCALE
    assert tex_sigma_px(matched, matched.zones_[0]) == pytest.approx(r / math.sqrt(2))
    assert tex_sigma_px(fixed, fixed.zones_[0]) == pytest.approx(5.0)  # 0.5 mm
    yy, xx = np.mgrid[:160, :200]
    for seed in (97, 98, 99):
        assert matched.score(shoot(grain_unit(seed), rng, noise=1.5)).score < 0.8
        unit = grain_unit(seed).astype(np.int16)
        unit[(xx - 80) ** 2 + (yy - 115) ** 2 < r**2] -= 55
        photo = shoot(np.clip(unit, 0, 255).astype(np.uint8), rng, noise=1.5)
        hits = [d for d in matched.score(photo).defects if d.zone == "leather"]
        assert hits and overlaps(hits[0].bbox, (76, 111, 85, 120))
        assert fixed.score(photo).score < 1.0
    state = matched.to_state()
    del state["config"]["tex_sigma_matched"]  # a package sealed before the matched low-pass
    assert AnomalyModel.from_state(state).config.tex_sigma_matched is False
    assert AnomalyModel.from_state(matched.to_state()).config.tex_sigma_matched is True


def _after(state: dict) -> np.random.Generator:
    """A generator in ``state`` (``bit_generator.state`` of another): it draws what that one drew next."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


@pytest.fixture(scope="module")
def grain3_model():
    """The model of grain_unit(3)'s captures for each material's case, fitted once (only scored;
    each case gets a generator in the state the captures left it in, as when it fitted its own)."""
    rng = np.random.default_rng(2)
    g = grain_unit(3)
    caps = [shoot(g, rng, noise=1.5) for _ in range(5)]
    zone = AnomalyZone(name="all", defect_type="print", min_area_mm2=0.5)
    return AnomalyModel.fit(caps, [zone], scale_mm_per_px=SCALE), rng.bit_generator.state


@pytest.mark.parametrize("which", ["leather", "patch"])
def test_uniform_recolouring_of_one_material_is_not_anomalous_but_a_local_blot_is(which, grain3_model):
    model, state = grain3_model
    rng = _after(state)
    kw = {"leather": (135, 75, 38)} if which == "leather" else {"patch": (80, 50, 150)}
    shifted = grain_unit(3, **kw)
    assert model.score(shoot(shifted, rng, gain=(0.85, 0.9, 0.95), noise=1.5)).score < 1.0
    blot = shifted.copy()
    # a 1.2 mm blot of the other material: on the leather, or inside the printed patch
    x, y = (40, 100) if which == "leather" else (140, 30)
    cv2.rectangle(blot, (x, y), (x + 12, y + 12), (60, 40, 120) if which == "leather" else (150, 90, 50), -1)
    res = model.score(shoot(blot, rng, gain=(0.85, 0.9, 0.95), noise=1.5))
    assert res.score >= 1.0 and overlaps(res.defects[0].bbox, (x, y, x + 13, y + 13))


def test_add_good_learns_unit_to_unit_grain():
    rng = np.random.default_rng(5)
    zones = [AnomalyZone(name="leather", defect_type="other")]
    one = grain_unit(11)
    model = AnomalyModel.fit([shoot(one, rng, noise=1.5) for _ in range(4)], zones, scale_mm_per_px=SCALE)
    probe = shoot(grain_unit(500), rng, noise=1.5)
    before = model.score(probe).score
    spread_before = float(np.median(1.0 / model.inv_spread_[80:150, 10:120]))
    model.add_good([shoot(grain_unit(s), rng, noise=1.5) for s in (20, 21, 22, 23, 24)])
    assert float(np.median(1.0 / model.inv_spread_[80:150, 10:120])) > 1.2 * spread_before
    assert len(model.zones_[0].good_scores) == 4 + 5
    after = model.score(probe).score
    assert after < 0.7 * before


def three_materials(gain=(1.0, 1.0, 1.0), seed: int = 3) -> np.ndarray:
    """Leather (reflectance grain, 5 %) times ``gain``, around a bright plate, a printed patch and a dark seam."""
    rng = np.random.default_rng(seed)
    n = cv2.GaussianBlur(rng.normal(0, 1, (160, 200)).astype(np.float32), (0, 0), 1.5)
    img = np.asarray((150, 90, 50), np.float32) * np.asarray(gain, np.float32) * (1 + 0.05 * n / n.std())[..., None]
    img[100:130, 20:90] = (200, 200, 205)
    img[20:60, 130:180] = (60, 40, 120)
    cv2.line(img, (0, 80), (199, 80), (30, 25, 20), 2)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def three_materials_model():
    """The model of three_materials()'s captures for every gain's case, fitted once (as grain3_model)."""
    rng = np.random.default_rng(2)
    caps = [shoot(three_materials(), rng, noise=1.5) for _ in range(5)]
    model = AnomalyModel.fit(caps, [AnomalyZone(name="all", defect_type="print", min_area_mm2=0.5)], scale_mm_per_px=SCALE)
    return model, rng.bit_generator.state


@pytest.mark.parametrize("gain", [(0.6, 1.0, 1.0), (1.0, 1.0, 0.6), (0.6, 0.6, 0.6)])
def test_recoloured_material_passes_at_its_borders_but_a_local_blot_does_not(gain, three_materials_model):
    # Issue 6: a strongly recoloured leather (gain 0.6) must not score at its corners with the
    # other materials (the min/max band there mixes neighbours of different gains).
    model, state = three_materials_model
    rng = _after(state)
    light = (0.9, 0.95, 1.0)
    unit = three_materials(gain)
    assert model.score(shoot(unit, rng, gain=light, noise=1.5)).score < 0.8
    blot = unit.copy()
    colour = tuple(float(0.8 * c * g) for c, g in zip((150, 90, 50), gain))  # 20 % darker, 1.1 mm²
    cv2.circle(blot, (60, 60), 6, colour, -1)
    res = model.score(shoot(blot, rng, gain=light, noise=1.5))
    assert res.score >= 1.5 and overlaps(res.defects[0].bbox, (54, 54, 67, 67))


# ---------------------------------------------------------------- add_good: cross-fitted calibration
def _grain_print(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    """A printed block on a unit-specific grain (the grain differs from unit to unit)."""
    img = texture(h, w, seed)
    cv2.rectangle(img, (40, 30), (90, 60), (30, 40, 120), -1)
    return img


@needs_backbone
def test_add_good_cross_fits_feature_scores_against_the_other_units():
    from goldenvision.anomaly import features as F

    rng = np.random.default_rng(1)
    cfg = AnomalyConfig(feature_scale=1.0, bank_per_cell=16)
    one = _grain_print(1)
    model = AnomalyModel.fit([shoot(one, rng) for _ in range(3)], [AnomalyZone(name="z", method="patchcore")], config=cfg)
    units = [shoot(_grain_print(100 + i), rng) for i in range(6)]
    ok = np.ones((96, 128), bool)
    feats = [ZF.unit_features(model, ZF.gain_corrected(model, u, ok)) for u in units]
    bank0 = model.pc_bank_.copy()
    nm = model.feat_norms_["method:patchcore"]  # the golden's good-map normaliser (kept by add_good)
    null = model.feat_nulls_["method:patchcore"]  # and its shape nulls (kept by add_good)
    assert nm.shape == feats[0].shape[:2] and (nm > 0).all() and null.shape == (2,)
    # against the golden alone (one grain) every new grain is far
    alone = [float(ZF.cells_to_px(model, F.local_nn_score(f, bank0, radius=cfg.radius) / nm, null).max()) for f in feats]
    model.add_good(units)
    z = model.zones_[0]
    assert len(z.unit_scores) == 6 and len(z.good_scores) == 3 + 6
    # 5 folds: units 0 and 5 are one fold; known answer for unit 0 = NN in golden + units 1..4
    bank = np.concatenate([bank0, np.stack(feats[1:5]).astype(np.float16)]).astype(np.float32)
    expect = float(ZF.cells_to_px(model, F.local_nn_score(feats[0], bank, radius=cfg.radius) / nm, null).max())
    assert z.unit_scores[0] == pytest.approx(expect, rel=1e-4)
    # a bank that holds the golden bank can only be nearer (all kept: bank_per_cell >= 9)
    assert all(s <= a + 1e-4 for s, a in zip(z.unit_scores, alone))
    assert max(z.unit_scores) < max(alone)
    # the threshold comes from the units' held-out scores, not the golden's leave-one-out
    assert z.threshold == pytest.approx(
        good_score_threshold(z.unit_scores, alpha=cfg.alpha, sensitivity=1.0, floor=cfg.feat_floor))
    again = AnomalyModel.from_state(model.to_state())
    assert again.zones_[0].unit_scores == z.unit_scores and again.zones_[0].threshold == z.threshold
    st = model.to_state()
    for zs in st["zones"]:
        del zs["unit_scores"]  # a state written before unit_scores existed still loads
    assert AnomalyModel.from_state(st).zones_[0].unit_scores == []


def test_add_good_cross_fits_variation_scores_against_the_other_units():
    """A variation zone's held-out scores of accepted units are cross-fitted as the feature
    zones' are (each against the golden's statistics plus the batch's other folds), and the
    threshold comes from them: scored against the golden alone, every unit of another grain
    looked far, and 40 accepted zoo pendants loosened the plating face's threshold 3.1x."""
    from goldenvision.anomaly.variation import combine_stats

    rng = np.random.default_rng(2)
    zones = [AnomalyZone(name="leather", defect_type="other")]
    model = AnomalyModel.fit([shoot(grain_unit(11), rng, noise=1.5) for _ in range(3)], zones, scale_mm_per_px=SCALE)
    units = [shoot(grain_unit(20 + i), rng, noise=1.5) for i in range(6)]
    alone = [model.score(u).zone_scores["leather"] * model.thresholds_["leather"] for u in units]
    # known answer for unit 0 (fold 0 = units 0 and 5): the golden's statistics merged with units 1..4
    ref = AnomalyModel.from_state(model.to_state())
    ref.n_good_units_ += 6  # as add_good counts the batch before scoring it (the structure term)
    ok = np.ones(units[0].shape[:2], bool)
    ref.ref_gain_mean_ = ref.mean_
    preps, ws, envs = ref._prep_captures(units, [ok] * 6)
    ref.ref_gain_mean_ = None
    assert envs is not None and ref.env_lo_ is not None and ref.env_hi_ is not None
    s_lo, s_hi = ref._env_sums(envs[1:5], ws[1:5])
    sums = (ref.env_lo_ * ref.n_[..., None] + s_lo, ref.env_hi_ * ref.n_[..., None] + s_hi)
    ref.n_, ref.mean_, ref.var_ = combine_stats(ref.n_, ref.mean_, ref.var_, preps[1:5], ws[1:5])
    ref._set_env(sums, ref.n_)
    ref._derive()
    expect = float(ref._raw_maps(units[0], ok, zones="variation")["leather"].max())
    model.add_good(units)
    z = model.zones_[0]
    assert len(z.unit_scores) == 6 and len(z.good_scores) == 3 + 6
    assert max(z.unit_scores) < max(alone)  # the other units' grains are learnt, not held against them
    assert z.threshold == pytest.approx(
        good_score_threshold(z.unit_scores, alpha=model.config.alpha, sensitivity=1.0, floor=model.config.var_floor,
                             tail=model.config.tail_threshold))
    assert z.unit_scores[0] == pytest.approx(expect, rel=1e-4) and expect < alone[0]


@needs_backbone
def test_feature_map_is_computed_once_per_unit_for_all_patchcore_zones(monkeypatch):
    rng = np.random.default_rng(3)
    g = printed(96, 128)
    zones = [AnomalyZone(name="a", method="patchcore", region=[[0, 0], [70, 0], [70, 96], [0, 96]]),
             AnomalyZone(name="b", method="patchcore", region=[[50, 0], [128, 0], [128, 96], [50, 96]])]
    model = AnomalyModel.fit([shoot(g, rng) for _ in range(3)], zones, config=AnomalyConfig(feature_scale=1.0))
    unit = g.copy()
    cv2.rectangle(unit, (56, 40), (66, 50), (20, 160, 20), -1)  # in the overlap of both zones
    unit = shoot(unit, rng)
    ok = np.ones((96, 128), bool)
    feat = ZF.unit_features(model, ZF.gain_corrected(model, unit, ok))
    calls = []
    real = ZF.feature_raw

    def counting(m, z, f, cache=None):
        calls.append(cache is not None and z.method in cache)
        return real(m, z, f, cache)

    maps = {z.spec.name: np.where(z.mask, real(model, z, feat), 0) for z in model.zones_}
    monkeypatch.setattr(ZF, "feature_raw", counting)
    raw = model._raw_maps(unit, ok, feat)
    for name in ("a", "b"):
        np.testing.assert_array_equal(raw[name], maps[name])
    assert calls.count(False) == 2 and calls.count(True) == 1  # 2nd zone reads the first's map
    res = model.score(unit)
    assert res.zone_scores["a"] >= 1.0 and res.zone_scores["b"] >= 1.0


# ---------------------------------------------------------------------- registry, streaming fit, aggregation
def test_registry_dispatches_by_name_and_names_the_known_methods():
    from goldenvision.anomaly.registry import METHODS, REGISTRY, get_method
    from goldenvision.errors import SpecError

    assert METHODS == ("auto", "variation", "texture_variation", "patchcore", "padim", "texture")
    assert get_method("padim") is REGISTRY["padim"] and get_method("texture_variation").low_pass
    assert not get_method("variation").uses_features and get_method("patchcore").uses_features
    with pytest.raises(SpecError, match="expected one of"):
        get_method("knn")


def test_fold_statistics_merge_to_the_statistics_of_all_images():
    from goldenvision.anomaly.model import _merge_stats
    from goldenvision.anomaly.variation import combine_stats

    rng = np.random.default_rng(0)
    imgs = [rng.uniform(0, 255, (8, 9, 3)).astype(np.float32) for _ in range(7)]
    ws = [(rng.random((8, 9)) > 0.2).astype(np.float32) for _ in range(7)]
    z = (np.zeros((8, 9), np.float32), np.zeros((8, 9, 3), np.float32), np.zeros((8, 9, 3), np.float32))
    a = combine_stats(*z, imgs[:3], ws[:3])
    b = combine_stats(*z, imgs[3:], ws[3:])
    whole = combine_stats(*z, imgs, ws)
    for got, want in zip(_merge_stats(a, b), whole):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_weighted_mean_is_the_mean_combine_stats_gives_from_no_statistics():
    """The leave-one-out fit takes the scene envelope's steps against this mean (_env_steps_of)
    and then fits with combine_stats: the two means must be the same float32 numbers."""
    from goldenvision.anomaly.variation import combine_stats, weighted_mean

    rng = np.random.default_rng(2)
    imgs = [rng.uniform(0, 255, (8, 9, 3)).astype(np.float32) for _ in range(5)]
    ws = [(rng.random((8, 9)) > 0.3).astype(np.float32) for _ in range(5)]
    ws[0][:2] = ws[1][:2] = ws[2][:2] = ws[3][:2] = ws[4][:2] = 0  # pixels without a sample
    z = (np.zeros((8, 9), np.float32), np.zeros((8, 9, 3), np.float32), np.zeros((8, 9, 3), np.float32))
    n, mean, _ = combine_stats(*z, imgs, ws)
    n2, mean2 = weighted_mean(imgs, ws, shape_hw=(8, 9))
    np.testing.assert_array_equal(n2, n)
    np.testing.assert_array_equal(mean2, mean)
    assert (mean2[:2] == 0).all() and mean2.dtype == np.float32


def test_fold_merge_in_place_gives_the_float32_numbers_of_chans_formula():
    from goldenvision.anomaly.model import _merge_stats

    rng = np.random.default_rng(1)
    n_a, n_b = (rng.integers(0, 9, (6, 7)).astype(np.float32) for _ in range(2))
    m_a, m_b = (rng.uniform(0, 255, (6, 7, 3)).astype(np.float32) for _ in range(2))
    v_a, v_b = (rng.uniform(0, 50, (6, 7, 3)).astype(np.float32) for _ in range(2))
    n = n_a + n_b
    nn = np.maximum(n, 1)[..., None]
    d = m_b - m_a
    want = (n, m_a + d * (n_b[..., None] / nn),
            (v_a * n_a[..., None] + v_b * n_b[..., None] + d * d * (n_a * n_b)[..., None] / nn) / nn)
    for got, ref in zip(_merge_stats((n_a, m_a, v_a), (n_b, m_b, v_b)), want):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, ref)


def test_held_statistics_derive_the_same_model_as_the_statistics_they_were_taken_from():
    """The streamed fit keeps each leave-one-fold-out merge compact (float16 moments, the scene
    envelope's steps): deriving from those must give the model the float32 merge gives."""
    import copy

    rng = np.random.default_rng(5)
    g = printed(96, 128)
    model = AnomalyModel.fit([shoot(g, rng) for _ in range(3)], [AnomalyZone(name="z")], scale_mm_per_px=SCALE)
    assert model.config.scene_shift_px > 0
    h, w = model.shape_
    n = rng.integers(0, 40, (h, w)).astype(np.float32)
    n[:5] = 0  # pixels without a sample
    mean = (model.mean_ + rng.normal(0, 0.3, model.mean_.shape)).astype(np.float32)  # not float16 values
    var = rng.uniform(0, 30, mean.shape).astype(np.float32)
    lo = mean - rng.uniform(0, 150, mean.shape).astype(np.float32)  # past 255 steps too (clipped)
    hi = mean + rng.exponential(2.0, mean.shape).astype(np.float32)
    models = []
    for compact in (False, True):
        m = copy.deepcopy(model)
        m.n_, m.mean_, m.var_ = n.copy(), mean.copy(), var.copy()
        m._set_env((lo * n[..., None], hi * n[..., None]), n)
        if compact:
            st = m._held_stats()
            assert (st.n.dtype, st.mean.dtype, st.std.dtype) == (np.uint16, np.float16, np.float16)
            m.n_ = m.mean_ = m.var_ = m.env_lo_ = m.env_hi_ = None
            m._load_held(st)
        m._derive()
        models.append(m)
    a, b = models
    for name in ("n_", "mean_", "var_", "inv_spread_", "mid_", "half_", "env_lo_", "env_hi_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for x, y in zip(a.band_env_, b.band_env_):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.env_steps_(), b.env_steps_()):
        np.testing.assert_array_equal(x, y)
    assert (a.env_steps_()[0] == 255).any() and (a.env_steps_()[1] > 0).any()
    unit = shoot(g, rng)
    np.testing.assert_array_equal(a.score(unit).map, b.score(unit).map)


class _Lazy:
    """Images made on access; counts how often each is read (the fit must not hold them)."""

    def __init__(self, n, make):
        self.n, self.make, self.reads = n, make, [0] * n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        self.reads[i] += 1
        return self.make(i)


def test_many_captures_stream_with_cross_fitted_scores_and_still_flag_a_defect():
    g = printed(96, 128)
    lazy = _Lazy(20, lambda i: shoot(g, np.random.default_rng(100 + i)))
    model = AnomalyModel.fit(lazy, [AnomalyZone(name="z")], scale_mm_per_px=SCALE)
    z = model.zones_[0]
    assert len(z.good_scores) == 20 and all(np.isfinite(z.good_scores))
    assert sum(lazy.reads) <= 2 * 20 + 1  # shape check, one pass for the moments, one to score its fold
    assert model.n_.max() == 20
    fresh = shoot(g, np.random.default_rng(7))
    assert model.score(fresh).score < 1.0
    bad = fresh.copy()
    cv2.circle(bad, (60, 50), 4, (250, 20, 20), -1)
    res = model.score(bad)
    assert res.score > 1.0 and any(d.bbox[0] <= 60 <= d.bbox[2] and d.bbox[1] <= 50 <= d.bbox[3] for d in res.defects)


def test_min_area_aggregates_evidence_drops_specks_and_frames_the_defect():
    rng = np.random.default_rng(3)
    g = printed(96, 128)
    caps = [shoot(g, rng) for _ in range(3)]
    zone = AnomalyZone(name="z", min_area_mm2=1.0)  # 10 x 10 px at 0.1 mm/px
    model = AnomalyModel.fit(caps, [zone], scale_mm_per_px=SCALE)
    assert model.aggregate_sigma_px(model.zones_[0]) == pytest.approx(2.5)
    unit = shoot(g, rng)
    speck = unit.copy()
    speck[20, 100] = (0, 0, 0)  # one dark pixel on paper: far below 1 mm²
    assert not model.score(speck).defects
    blob = unit.copy()
    cv2.rectangle(blob, (95, 15), (104, 24), (40, 40, 40), -1)  # 10 x 10 px = 1 mm²
    d = model.score(blob).defects
    assert len(d) == 1
    x1, y1, x2, y2 = d[0].bbox
    # the box frames the blob with the evidence's support (2 sigma = 5 px each side)
    assert x1 <= 95 - 3 and y1 <= 15 - 3 and x2 >= 105 + 3 and y2 >= 25 + 3
    assert x2 - x1 <= 10 + 2 * 5 + 8


def test_residual_shift_is_measured_and_undone():
    rng = np.random.default_rng(4)
    g = printed(96, 128)
    model = AnomalyModel.fit([shoot(g, rng, jitter=0) for _ in range(3)], [AnomalyZone(name="z")], scale_mm_per_px=SCALE)
    m = np.float32([[1, 0, 1.6], [0, 1, -1.2]])
    moved = cv2.warpAffine(g, m, (128, 96), borderMode=cv2.BORDER_REFLECT)
    dx, dy = model.residual_shift_px(moved, np.ones((96, 128), bool))
    assert dx == pytest.approx(1.6, abs=0.15) and dy == pytest.approx(-1.2, abs=0.15)
    assert model.score(moved).score < 1.0
    off = AnomalyModel.fit([shoot(g, rng, jitter=0) for _ in range(3)], [AnomalyZone(name="z")], scale_mm_per_px=SCALE,
                           config=AnomalyConfig(max_residual_shift_px=0, local_shift_px=0, scene_shift_px=0))
    # without the correction the shifted print is flagged (the scene envelope, which lets thin strokes
    # move by 0.75 px against each other, brings it to 0.78 of the threshold: off here too)
    assert off.score(moved).score > 1.0


def test_min_contrast_dl_ignores_fainter_deviations_and_keeps_stronger_ones():
    from goldenvision.anomaly.zone_variation import contrast_dl

    # known answer: sRGB grey 119 is L* 50.0 (CIE 15), white 255 is L* 100
    lo = np.full((1, 1, 3), 119.0, np.float32)
    assert float(contrast_dl(np.full((1, 1, 3), 255.0, np.float32), lo, lo)[0, 0]) == pytest.approx(50.0, abs=0.3)
    rng = np.random.default_rng(5)
    g = np.full((96, 128, 3), 150, np.uint8)
    caps = [shoot(g, rng, noise=0.5) for _ in range(3)]
    faint, strong = shoot(g, rng, noise=0.5), None
    cv2.rectangle(faint, (20, 20), (35, 35), (128, 128, 128), -1)  # about ΔL* 8
    strong = faint.copy()
    cv2.rectangle(strong, (80, 50), (95, 65), (90, 90, 90), -1)  # about ΔL* 22
    plain = AnomalyModel.fit(caps, [AnomalyZone(name="z")], scale_mm_per_px=SCALE)
    gated = AnomalyModel.fit(caps, [AnomalyZone(name="z", min_contrast_dl=15.0)], scale_mm_per_px=SCALE)
    at = lambda res, x, y: [d for d in res.defects if d.bbox[0] <= x <= d.bbox[2] and d.bbox[1] <= y <= d.bbox[3]]  # noqa: E731
    r_plain, r_gated = plain.score(strong), gated.score(strong)
    assert at(r_plain, 27, 27) and at(r_plain, 87, 57)  # the statistics alone flag both
    assert not at(r_gated, 27, 27) and at(r_gated, 87, 57)


def _plate_on_grain(seed: int, *, dark: int = 0) -> np.ndarray:
    """A dark grained plate (grain sd 6 levels) with a round hole on a light backdrop, 0.1 mm/px."""
    img = grain_unit(seed, leather=(70, 80, 100), patch=(70, 80, 100)).astype(np.int16)
    img[:, :20] = 200  # light backdrop left of the plate's edge
    cv2.circle(img, (120, 80), 14, (200, 200, 200), -1)
    if dark:
        img[70:90, 20:34] -= dark  # a blot touching the plate's outline
    return np.clip(img, 0, 255).astype(np.uint8)


def test_texture_spread_is_not_inflated_by_the_products_own_edges():
    rng = np.random.default_rng(11)
    g = _plate_on_grain(7)
    caps = [shoot(g, rng, noise=1.5) for _ in range(3)]
    model = AnomalyModel.fit(caps, [AnomalyZone(name="plate", defect_type="finish", min_area_mm2=0.5)],
                             scale_mm_per_px=SCALE)
    assert model.methods_ == {"plate": "texture_variation"}
    # the texture's variance is the grain's, not the outline's or the hole's (200 vs ~80 levels)
    assert model.tex_sd_["plate"] < 6.0
    sp = 1.0 / model.inv_spread_.mean(axis=2)
    assert np.median(sp[75:85, 22:28]) < 2.0 * np.median(sp[120:150, 60:100])
    # another unit's grain passes, a 1.4 x 2 mm blot at the outline (-40 levels) is found
    assert model.score(shoot(_plate_on_grain(99), rng, noise=1.5)).score < 1.0
    res = model.score(shoot(_plate_on_grain(99, dark=40), rng, noise=1.5))
    assert res.score >= 1.0 and any(overlaps(d.bbox, (20, 70, 34, 90)) for d in res.defects)


def _stitched_weave(seed: int, *, skip: bool = False) -> np.ndarray:
    """A woven band (unit-specific weave, sd 6 levels) with a row of dark stitches 1.2 x 0.6 mm."""
    img = grain_unit(seed, h=80, w=200, leather=(70, 130, 190), patch=(70, 130, 190))
    for i, x in enumerate(range(10, 190, 20)):
        if not (skip and i == 4):
            cv2.rectangle(img, (x, 37), (x + 11, 42), (40, 40, 50), -1)
    return img


def test_stitching_zone_tolerates_another_weave_but_not_a_missing_stitch():
    rng = np.random.default_rng(12)
    caps = [shoot(_stitched_weave(7), rng, noise=1.5) for _ in range(3)]
    zone = AnomalyZone(name="hem", defect_type="stitching", min_area_mm2=0.3,
                       region=[[6, 6], [194, 6], [194, 74], [6, 74]])
    model = AnomalyModel.fit(caps, [zone], scale_mm_per_px=SCALE)
    assert model.methods_ == {"hem": "variation"} and model.tex_sd_["hem"] > 0.5
    assert model.score(shoot(_stitched_weave(99), rng, noise=1.5)).score < 1.0
    res = model.score(shoot(_stitched_weave(99, skip=True), rng, noise=1.5))
    assert res.score >= 1.0 and any(overlaps(d.bbox, (90, 37, 102, 43)) for d in res.defects)


def _varying_strip(seed: int) -> np.ndarray:
    """The printed label with a 24 px strip whose content differs on every unit (a loose edge, a glint)."""
    img = printed(96, 160)
    n = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 1, (96, 24)).astype(np.float32), (0, 0), 1.2)
    img[:, :24] = np.clip(150 + 60 * n[..., None] / n.std(), 0, 255).astype(np.uint8)
    return img


@needs_backbone
def test_feature_distances_are_normalised_by_the_held_out_good_distance_of_their_cell():
    rng = np.random.default_rng(0)
    caps = [shoot(_varying_strip(s), rng) for s in range(8)]
    unit = _varying_strip(200)
    cv2.line(unit, (90, 40), (120, 44), (60, 60, 60), 2)  # a thin crack in the quiet print
    zone = [AnomalyZone(name="z", method="patchcore")]
    model = AnomalyModel.fit(caps, zone, config=AnomalyConfig(feature_scale=1.0))
    nm = model.feat_norms_["method:patchcore"]
    assert nm.shape == model.pc_bank_.shape[1:3]
    assert nm[:, :2].mean() > 1.5 * np.median(nm)  # the strip's cells vary among the goods
    np.testing.assert_allclose(nm.min(), np.median(nm), rtol=0.02)  # never sharpened below the median
    goods = [model.score(shoot(_varying_strip(100 + s), rng)).score for s in range(3)]
    res = model.score(shoot(unit, rng))
    assert max(goods) < 1.0 <= res.score
    y, x = np.unravel_index(np.argmax(res.map), res.map.shape)
    assert 80 <= x <= 130 and 30 <= y <= 55  # the maximum is on the crack, not in the strip
    # raw distances (no normaliser): the strip decides the maximum and the crack passes
    raw = AnomalyModel.fit(caps, zone, config=AnomalyConfig(feature_scale=1.0, norm_prior=-1))
    assert raw.feat_norms_ == {} and raw.score(shoot(unit, rng)).score < 1.0
    again = AnomalyModel.from_state(model.to_state())
    assert again.feat_norms_.keys() == model.feat_norms_.keys() == again.feat_nulls_.keys()
    np.testing.assert_array_equal(again.feat_nulls_["method:patchcore"], model.feat_nulls_["method:patchcore"])
    np.testing.assert_array_equal(again.score(unit).map, model.score(unit).map)


def test_the_floors_shrink_once_accepted_units_outnumber_their_prior():
    """The spread's floors stand for what captures of one unit cannot show; once more production
    units than ``floor_prior_n`` were accepted, their variance speaks and the floors weigh
    ``floor_prior_n / (n - 1)``: a faint mark on a quiet surface is found after many accepted
    units that the golden alone does not resolve, and no accepted-like good unit is flagged."""
    from goldenvision.anomaly.variation import spread

    mean = np.full((4, 4, 3), 150.0, np.float32)
    var = np.full((4, 4, 3), 1.0, np.float32)
    half = spread(mean, var, abs_floor=3.0, rel_floor=0.03, grad_px=0.5, floor_weight=0.25)
    assert np.allclose(half, math.sqrt(1.0 + 0.25 * (9.0 + (0.03 * 150.0) ** 2)), rtol=1e-4)
    m0 = AnomalyModel.fit([np.full((32, 32, 3), 150, np.uint8)] * 3, [AnomalyZone(name="z")], scale_mm_per_px=SCALE)
    assert m0.floor_weight_ == 1.0  # the golden's captures, however many, keep the floors whole
    for n, w in ((0, 1.0), (11, 1.0), (41, 0.25)):
        m0.n_good_units_ = n
        assert m0.floor_weight_ == pytest.approx(w)

    rng = np.random.default_rng(8)
    plate = np.full((96, 128, 3), 150, np.uint8)
    cv2.rectangle(plate, (20, 20), (108, 76), (90, 90, 90), 2)
    zones = [AnomalyZone(name="z", min_area_mm2=0.5)]
    mark = plate.copy()
    cv2.circle(mark, (64, 48), 4, (138, 138, 138), -1)  # 12 grey levels darker, 1.6 mm across
    models = {}
    for prior in (0.0, 10.0):
        cfg = AnomalyConfig(floor_prior_n=prior)
        m = AnomalyModel.fit([shoot(plate, rng, noise=1.0) for _ in range(3)], zones, scale_mm_per_px=SCALE, config=cfg)
        assert m.score(shoot(mark, rng, noise=1.0)).score < 1.0  # the golden alone: under the floors
        m.add_good([shoot(plate, rng, noise=1.0) for _ in range(40)])
        models[prior] = m
    fresh = [shoot(plate, rng, noise=1.0) for _ in range(10)]
    assert max(models[10.0].score(u).score for u in fresh) < 1.0
    found = models[10.0].score(shoot(mark, rng, noise=1.0))
    assert found.score >= 1.0 and any(d.bbox[0] <= 64 <= d.bbox[2] and d.bbox[1] <= 48 <= d.bbox[3] for d in found.defects)
    assert models[0.0].score(shoot(mark, rng, noise=1.0)).score < 1.0  # floors kept whole: still under them
    st = models[10.0].to_state()
    again = AnomalyModel.from_state(st)  # the accepted units' count comes back with the state, and the weight
    assert again.floor_weight_ == pytest.approx(10.0 / 39.0) and again.score(shoot(mark, rng, noise=1.0)).score >= 1.0
    st["config"].pop("floor_prior_n")
    assert AnomalyModel.from_state(st).config.floor_prior_n == 0.0
