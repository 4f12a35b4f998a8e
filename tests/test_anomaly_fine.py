"""The full-resolution channel of texture zones (issue 13): a thin scratch, which the texture
zone's low-pass averages away, is found at its place; other units' grain is not flagged; the
channel's threshold is its own and leaves the zone's calibration as it was."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.anomaly import fine as F
from goldenvision.spec import AnomalyZone
from synthetic import shoot

SCALE = 0.1  # mm per golden px
SCRATCH = ((90, 120), (230, 200))  # a 16 mm line, 2 px (0.2 mm) wide
ZONE = AnomalyZone(name="panel", defect_type="finish", min_area_mm2=1.0)


def grain(seed: int, *, scratch: float = 0.0, h: int = 320, w: int = 320) -> np.ndarray:
    """Tan leather with a unit-specific fine grain (about 0.3 mm, sd 6 levels) and a fixed
    stitched border (the same on every unit), optionally a thin scratch ``scratch`` levels darker."""
    rng = np.random.default_rng(seed)
    n = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5)
    img = np.empty((h, w, 3), np.float32)
    img[:] = (150.0, 110.0, 80.0)
    img += 6 * (n / n.std())[..., None]
    for x in range(20, w - 20, 12):  # the border's stitches: the product's own fine structure
        cv2.line(img, (x, 18), (x + 6, 18), (70.0, 50.0, 40.0), 2)
    if scratch:
        mask = np.zeros((h, w), np.uint8)
        cv2.line(mask, SCRATCH[0], SCRATCH[1], 1, 2)
        img[mask > 0] -= scratch
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(3)
    caps = [shoot(grain(7), rng) for _ in range(3)]  # one physical unit: one grain
    on = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE)
    off = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE, config=AnomalyConfig(tex_fine=False))
    return on, off


def _at_scratch(bbox) -> bool:
    """The region lies on the scratch: its centre within 6 px of the line, its size at most the line's."""
    (xa, ya), (xb, yb) = SCRATCH
    x1, y1, x2, y2 = bbox
    p, a, b = np.array([(x1 + x2) / 2, (y1 + y2) / 2]), np.array([xa, ya], float), np.array([xb, yb], float)
    t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0.0, 1.0)
    return float(np.linalg.norm(p - (a + t * (b - a)))) <= 6.0 and x2 - x1 <= abs(xb - xa) + 20


def _all_on_scratch(res) -> bool:
    return bool(res.defects) and all(_at_scratch(d.bbox) for d in res.defects)


def test_the_channel_has_its_own_floor_and_leaves_the_zone_calibration_alone(models):
    on, off = models
    assert on.methods_ == {"panel": "texture_variation"}
    z = on.zones_[0]
    # one golden unit, no taught units: the expected largest |z| over the zone's samples
    assert on.fine_d_["panel"].floor == pytest.approx(F.fine_bound(on, z))
    assert z.fine_scores == []
    # the zone's own (low-passed) calibration is the same with the channel as without it
    assert on.thresholds_ == pytest.approx(off.thresholds_)
    assert not off.fine_d_ and not off.fine_


def test_a_thin_scratch_is_found_at_its_place_only_at_full_resolution(models):
    on, off = models
    rng = np.random.default_rng(5)
    for seed in (99, 11):
        unit = shoot(grain(seed, scratch=60), rng)
        assert off.score(unit).score < 1.0  # the low-pass leaves a 0.2 mm line a fraction of its contrast
        res = on.score(unit)
        assert res.score >= 1.0
        assert _all_on_scratch(res)


def test_other_units_grain_passes(models):
    on, _ = models
    rng = np.random.default_rng(6)
    scores = [on.score(shoot(grain(seed), rng)).score for seed in (11, 12, 13, 14)]
    assert max(scores) < 1.0


def test_state_round_trip_and_a_state_from_before_the_channel(models):
    on, off = models
    unit = shoot(grain(99, scratch=60), np.random.default_rng(5))
    st = on.to_state()
    assert "fine_mean_0" in st and st["fine_mean_0"].dtype == np.float16
    again = AnomalyModel.from_state(st)
    assert again.fine_d_["panel"].floor == pytest.approx(on.fine_d_["panel"].floor)
    assert again.score(unit).score == pytest.approx(on.score(unit).score, rel=1e-5)
    old = {k: v for k, v in st.items() if not k.startswith("fine_")}
    old["config"] = {k: v for k, v in st["config"].items() if k != "tex_fine"}
    before = AnomalyModel.from_state(old)
    assert before.config.tex_fine is False and not before.fine_d_
    assert before.score(unit).score == pytest.approx(off.score(unit).score, rel=1e-5)


def test_taught_units_calibrate_the_channel(models):
    on, _ = models
    rng = np.random.default_rng(8)
    faint = shoot(grain(31, scratch=36), rng)
    assert on.score(faint).score < 1.0  # at the analytic floor a fainter scratch passes
    m = AnomalyModel.from_state(on.to_state())
    m.add_good([shoot(grain(s), rng) for s in (21, 22, 23, 24, 25)])
    z = m.zones_[0]
    assert len(z.fine_scores) == 5 and all(np.isfinite(z.fine_scores))
    d = m.fine_d_["panel"]
    assert d.floor == pytest.approx(F.good_score_threshold(z.fine_scores, alpha=m.config.alpha,
                                                           floor=m.config.var_floor, tail=True))
    assert d.floor < on.fine_d_["panel"].floor  # other units' grain reaches far less than the bound
    res = m.score(faint)
    assert res.score >= 1.0 and _all_on_scratch(res)
    assert max(m.score(shoot(grain(s), rng)).score for s in (41, 42, 43)) < 1.0
    again = AnomalyModel.from_state(m.to_state())  # the units' scores are kept
    assert again.zones_[0].fine_scores == pytest.approx(z.fine_scores)
    assert again.fine_d_["panel"].floor == pytest.approx(d.floor)


def test_fit_reads_the_same_full_resolution_crop_as_scoring(models):
    """The fit prepares each capture's zone bbox alone (one crop at a time, not one per capture);
    it is the crop scoring reads from the whole prepared frame, to the bit."""
    from goldenvision.anomaly import zone_variation as ZV

    img = grain(5)
    zone = AnomalyZone(name="inset", defect_type="finish", min_area_mm2=1.0,
                       region=[[40, 50], [250, 50], [250, 260], [40, 260]])
    m = AnomalyModel.fit([img, img], [zone], scale_mm_per_px=SCALE)
    whole: dict[str, np.ndarray] = {}
    ZV.prep(m, img, whole)
    alone = F.fine_crops(m, img)
    assert set(alone) == {"inset"} and alone["inset"].shape == whole["inset"].shape
    assert np.array_equal(alone["inset"], whole["inset"])


def test_captures_of_several_units_calibrate_the_channel_by_leave_one_out():
    """A golden of three units (three grains): the zone's captures vary as other units' textures do,
    and their leave-one-out scores in the channel set its threshold, as they set the zone's."""
    rng = np.random.default_rng(4)
    caps = [shoot(grain(s), rng) for s in (7, 8, 9)]
    m = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE)
    z = m.zones_[0]
    assert z.captures_vary and len(z.fine_loo) == 3 and all(np.isfinite(z.fine_loo))
    d = m.fine_d_["panel"]
    assert d.floor == pytest.approx(F.good_score_threshold(z.fine_loo, alpha=m.config.alpha, floor=m.config.var_floor,
                                                           tail=True))
    # each capture scored against the other two: another unit's grain, not its own
    one = AnomalyModel.fit([caps[0]] * 3, [ZONE], scale_mm_per_px=SCALE)
    assert not one.zones_[0].captures_vary and one.zones_[0].fine_loo == []
    assert max(m.score(shoot(grain(s), rng)).score for s in (41, 42)) < 1.0
    res = m.score(shoot(grain(43, scratch=60), rng))
    assert res.score >= 1.0 and _all_on_scratch(res)
    again = AnomalyModel.from_state(m.to_state())
    assert again.zones_[0].fine_loo == pytest.approx(z.fine_loo) and again.fine_d_["panel"].floor == pytest.approx(d.floor)
