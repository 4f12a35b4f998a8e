"""A texture zone's threshold from taught production units (issue 13: thresholds "tighten as
accepted units are added"): the golden captures are one unit, one grain, so the threshold of a
``finish`` zone is floored by the expected largest |z| over its samples; held-out scores of at
least MIN_GOOD_UNITS taught units, each another grain, calibrate it instead."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.anomaly import zone_variation as ZV
from goldenvision.anomaly.structure import MIN_GOOD_UNITS
from goldenvision.spec import AnomalyZone

SCALE = 0.1  # mm per px
ZONE = AnomalyZone(name="panel", defect_type="finish", min_area_mm2=1.0)
SPOT = (150, 90, 6)  # centre x, y, radius px: a 1.2 mm spot


def panel(seed: int, spot: float = 0.0, h: int = 240, w: int = 240) -> np.ndarray:
    """Tan leather with a faint unit-specific grain (sd 4 levels), ``spot`` levels darker at SPOT."""
    rng = np.random.default_rng(seed)
    n = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.0)
    img = np.full((h, w, 3), (150, 110, 80), np.float32) + 4 * (n / n.std())[..., None]
    if spot:
        m = np.zeros((h, w), np.uint8)
        cv2.circle(m, SPOT[:2], SPOT[2], 1, -1)
        img[m > 0] -= spot
    return img


def shoot(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img + rng.normal(0, 1.5, img.shape) + 0.5, 0, 255).astype(np.uint8)


def _at_spot(bbox) -> bool:
    x1, y1, x2, y2 = bbox
    return x1 <= SPOT[0] <= x2 and y1 <= SPOT[1] <= y2


@pytest.fixture(scope="module")
def golden_only():
    rng = np.random.default_rng(0)
    caps = [shoot(panel(1), rng) for _ in range(3)]  # one physical unit: one grain
    return AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE, config=AnomalyConfig(n_materials=1)), rng


def test_taught_units_replace_the_texture_floor_and_a_spot_under_it_is_found(golden_only):
    model, rng = golden_only
    z = model.zones_[0]
    floor = ZV.texture_floor(model, z)
    assert z.threshold == pytest.approx(floor) and floor > model.config.var_floor + 1  # the floor sets it
    spot = shoot(panel(50, spot=30.0), rng)
    assert model.score(spot).score < 1.0  # under the floor (0.84 of it)
    taught = AnomalyModel.from_state(model.to_state())
    taught.add_good([shoot(panel(10 + i), rng) for i in range(6)])  # six other grains
    tz = taught.zones_[0]
    assert len(tz.unit_scores) == 6 >= MIN_GOOD_UNITS
    assert tz.threshold < 0.8 * floor  # their held-out scores set it (here var_floor, 3.0 against 4.37)
    res = taught.score(spot)
    assert res.score >= 1.0 and _at_spot(res.defects[0].bbox)
    # other grains pass (0.42-0.56; 0.54-0.66 with the full-resolution channel capped by each
    # unit's own residual, fine_unit_texture, which also reads the spot higher: 1.30 -> 1.42)
    assert max(taught.score(shoot(panel(60 + i), rng)).score for i in range(6)) < 0.75


def test_fewer_taught_units_than_that_keep_the_floor(golden_only):
    model, rng = golden_only
    few = AnomalyModel.from_state(model.to_state())
    few.add_good([shoot(panel(30 + i), rng) for i in range(MIN_GOOD_UNITS - 1)])
    z = few.zones_[0]
    assert len(z.unit_scores) == MIN_GOOD_UNITS - 1
    assert z.threshold >= ZV.texture_floor(few, z) - 1e-6


def test_the_grain_prior_in_the_spread_weighs_as_the_floors_once_units_show_the_grain(golden_only):
    model, rng = golden_only
    many = AnomalyModel.from_state(model.to_state())
    many.add_good([shoot(panel(100 + i), rng) for i in range(16)])
    for m, w in ((model, 1.0), (many, 10 / 15)):  # floor_prior_n 10: w = 10 / (n - 1) past 11 units
        assert m.floor_weight_ == pytest.approx(w)
        sp = np.full(m.shape_ + (3,), 0.2, np.float32)  # small: the grain term dominates
        ZV.texture_spread(m, sp)
        zm = m.zones_[0].mask & (m.n_ > 0)
        tex = m.tex_sd_["panel"]  # one material: one grain variance over the zone
        assert tex > 0.1 and np.median(sp[zm] ** 2) == pytest.approx(0.04 + 2.0 * w * tex**2, rel=1e-3)


def test_a_state_saved_before_keeps_the_grain_prior_whole_and_resamples_feature_units(golden_only):
    model, _ = golden_only
    state = model.to_state()
    assert AnomalyModel.from_state(state).config.tex_prior_weighted is True
    old_cfg = {k: v for k, v in state["config"].items() if k not in ("tex_prior_weighted", "feature_min_shift_px")}
    old = AnomalyModel.from_state({**state, "config": old_cfg})
    assert old.config.tex_prior_weighted is False and old.config.feature_min_shift_px == 0.0
    assert ZV._tex_prior_weight(old) == 1.0


def test_golden_captures_of_several_units_calibrate_the_texture_themselves():
    """Captures of three units (three grains) differ as another unit's grain would: the zone is
    calibrated by their leave-one-out scores, not the texture floor, and a spot under the floor is
    found at its place while other grains pass; captures of one unit keep the floor."""
    rng = np.random.default_rng(5)
    several = [shoot(panel(200 + i), rng) for i in range(3)]
    model = AnomalyModel.fit(several, [ZONE], scale_mm_per_px=SCALE, config=AnomalyConfig(n_materials=1))
    z = model.zones_[0]
    floor = ZV.texture_floor(model, z)
    assert z.captures_vary and ZV.captures_vary(model, z)
    assert z.threshold < 0.8 * floor  # from the held-out scores (var_floor at least)
    spot = shoot(panel(250, spot=30.0), rng)
    res = model.score(spot)
    assert res.score >= 1.0 and _at_spot(res.defects[0].bbox)
    assert max(model.score(shoot(panel(260 + i), rng)).score for i in range(6)) < 0.8  # other grains pass
    # kept in the state; a state without it (sealed before) keeps the floor
    again = AnomalyModel.from_state(model.to_state())
    assert again.zones_[0].captures_vary and again.zones_[0].threshold == pytest.approx(z.threshold)
    st = model.to_state()
    for zs in st["zones"]:
        zs.pop("captures_vary")
    st["config"].pop("captures_texture_ratio")
    old = AnomalyModel.from_state(st)
    assert not old.zones_[0].captures_vary and old.config.captures_texture_ratio == 0.0
    # one unit photographed three times: its captures differ by noise alone
    one = AnomalyModel.fit([shoot(panel(200), rng) for _ in range(3)], [ZONE], scale_mm_per_px=SCALE,
                           config=AnomalyConfig(n_materials=1))
    assert not one.zones_[0].captures_vary and one.zones_[0].threshold == pytest.approx(ZV.texture_floor(one, one.zones_[0]))
    # the option off: the floor whatever the captures
    off = AnomalyModel.fit(several, [ZONE], scale_mm_per_px=SCALE,
                           config=AnomalyConfig(n_materials=1, captures_texture_ratio=0.0))
    assert not off.zones_[0].captures_vary and off.zones_[0].threshold == pytest.approx(floor)
