"""Texture zones judged at several scales (issue 13): a faint stain much larger than the smallest
defect, lost in a strong grain at the small scale, is found at its own; another grain is not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.anomaly import zone_variation as ZV
from goldenvision.spec import AnomalyZone
from synthetic import shoot

SCALE = 0.1  # mm per golden px
STAIN = (160, 160, 40)  # centre x, y and radius px: an 8 mm stain, 64 times the smallest defect's area
ZONE = AnomalyZone(name="panel", defect_type="finish", min_area_mm2=1.0)


def strong_grain(seed: int, *, stain: float = 0.0, h: int = 320, w: int = 320) -> np.ndarray:
    """Grey leather with a unit-specific coarse grain (0.2 mm, sd 40 levels; 18 at the zone's
    low-pass), optionally a round stain ``stain`` levels darker (:data:`STAIN`)."""
    rng = np.random.default_rng(seed)
    n = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2.0)
    img = np.full((h, w, 3), 128.0, np.float32) + 40 * (n / n.std())[..., None]
    if stain:
        mask = np.zeros((h, w), np.uint8)
        cv2.circle(mask, STAIN[:2], STAIN[2], 1, -1)
        img[mask > 0] -= stain
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(3)
    caps = [shoot(strong_grain(7), rng) for _ in range(3)]  # one physical unit: one grain
    # one material: k-means would split a grey grain this strong into bands of its own tones
    multi = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE, config=AnomalyConfig(n_materials=1))
    single = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE,
                              config=AnomalyConfig(n_materials=1, tex_scale_max=1.0))
    return multi, single


def _at_stain(bbox) -> bool:
    cx, cy, r = STAIN
    x1, y1, x2, y2 = bbox
    return x1 <= cx <= x2 and y1 <= cy <= y2 and max(x2 - x1, y2 - y1) <= 4 * r


def test_larger_scales_have_less_texture_spread_and_a_lower_threshold_floor(models):
    multi, single = models
    z = multi.zones_[0]
    assert multi.methods_ == {"panel": "texture_variation"}
    s0 = ZV.tex_sigma_px(multi, z)
    assert ZV.tex_scales_px(multi, z) == pytest.approx([2 * s0, 4 * s0])
    assert ZV.tex_scales_px(single, single.zones_[0]) == [] and "panel" not in single.tex_scales_
    sds = [float(np.median(np.sqrt(sp2.astype(np.float32)))) for _, sp2 in multi.tex_scales_["panel"]]
    base = float(np.median(1.0 / multi.inv_spread_))
    assert base > sds[0] > sds[1]  # the grain averages out as the scale grows
    assert ZV.texture_floor(multi, z) > ZV.texture_floor(multi, z, 2 * s0) > ZV.texture_floor(multi, z, 4 * s0)


def test_a_faint_large_stain_is_found_at_its_place_only_with_the_larger_scales(models):
    multi, single = models
    rng = np.random.default_rng(5)
    for seed in (99, 11):
        unit = shoot(strong_grain(seed, stain=35), rng)
        assert single.score(unit).score < 1.0  # one scale: lost in the grain
        res = multi.score(unit)
        assert res.score >= 1.0
        assert res.defects and _at_stain(res.defects[0].bbox)


def test_another_grain_without_a_stain_passes_at_every_scale(models):
    multi, _ = models
    rng = np.random.default_rng(6)
    for seed in (11, 12, 13):
        assert multi.score(shoot(strong_grain(seed), rng)).score < 1.0


def test_a_state_from_before_the_scales_judges_at_one_scale(models):
    multi, single = models
    st = multi.to_state()
    st["config"] = {k: v for k, v in st["config"].items() if k != "tex_scale_max"}
    old = AnomalyModel.from_state(st)
    assert old.config.tex_scale_max == 1.0 and not old.tex_scales_
    new = AnomalyModel.from_state(multi.to_state())
    assert new.config.tex_scale_max == multi.config.tex_scale_max and "panel" in new.tex_scales_
    unit = shoot(strong_grain(99, stain=35), np.random.default_rng(5))
    assert new.score(unit).score == pytest.approx(multi.score(unit).score, rel=1e-5)
    # the old state's map is the single-scale model's (same statistics, thresholds as stored)
    single_st = single.to_state()
    single_st["zones"] = st["zones"]
    ref = AnomalyModel.from_state(single_st)
    assert old.score(unit).score == pytest.approx(ref.score(unit).score, rel=1e-5)
