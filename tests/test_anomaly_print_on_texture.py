"""A print on a texture that differs from unit to unit: an engraving on wood grain.

Synthetic board at 4.8 px/mm (0.208 mm/px, the zoo's size 0.6): a grain of smoothed noise, a new
realisation per unit (the golden captures are one board and share one), with dark "letters"
(bars 3 px wide) inside a ``print`` zone nested in the board's ``finish`` zone. The print zone's
spread holds the grain's term (one full-frame spread, ``texture_spread``), but its leave-one-out
threshold comes from captures that share one grain: without the texture's threshold floor
(``AnomalyConfig.nested_texture_floor``) good boards' own grain reaches it.
"""

from __future__ import annotations

import cv2
import pytest
import numpy as np

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.anomaly.structure import expected_max_z, on_texture
from goldenvision.spec import AnomalyZone

H, W = 120, 240
SCALE_MM_PER_PX = 0.208
WOOD = (190, 140, 90)
INK = (70, 45, 30)
LETTERS = [(66 + 17 * i, 48) for i in range(7)]  # (x, y) of each letter's top left, 14 x 24 px


def render(grain_seed: int, *, missing: tuple[int, ...] = (), noise_seed: int = 0, grain: float = 11.0) -> np.ndarray:
    rng = np.random.default_rng(grain_seed)
    g = rng.normal(0, 1, (H // 4, W // 2)).astype(np.float32)  # grain: streaks along x
    g = cv2.resize(g, (W, H), interpolation=cv2.INTER_CUBIC)
    g = cv2.GaussianBlur(g, (0, 0), 3.0, 1.0)
    g *= grain / max(float(g.std()), 1e-6)
    img = np.empty((H, W, 3), np.float32)
    img[:] = WOOD
    img *= (1.0 + g / 190.0)[..., None]
    for k, (x, y) in enumerate(LETTERS):
        if k in missing:
            continue
        img[y:y + 24, x:x + 5] = INK  # an "H"-like letter (strokes 1 mm): two uprights and a bar
        img[y:y + 24, x + 9:x + 14] = INK
        img[y + 10:y + 15, x:x + 14] = INK
    img += np.random.default_rng(1000 + noise_seed).normal(0, 1.2, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


SURFACE = AnomalyZone(name="surface", defect_type="finish", min_area_mm2=1.0,
                      region=[(10, 10), (230, 10), (230, 110), (10, 110)])
PRINT = AnomalyZone(name="engraving", defect_type="print", min_area_mm2=0.5,
                    region=[(60, 40), (190, 40), (190, 80), (60, 80)])


def _fit(config: AnomalyConfig | None = None) -> AnomalyModel:
    caps = [render(7, noise_seed=i) for i in range(3)]  # one board, photographed three times
    return AnomalyModel.fit(caps, [SURFACE, PRINT], scale_mm_per_px=SCALE_MM_PER_PX,
                            **({} if config is None else {"config": config}))


def test_a_print_on_a_texture_has_the_textures_threshold_floor():
    m, off = _fit(), _fit(AnomalyConfig(nested_texture_floor=False))
    surface, engraving = m.zones_
    assert on_texture(m, engraving) and not on_texture(m, surface) and not on_texture(off, off.zones_[1])
    assert engraving.threshold >= expected_max_z(m, engraving) > 4.0
    assert off.zones_[1].threshold < 3.5  # the captures share one grain: leave-one-out stays at var_floor
    # a print zone that does not lie on the texture keeps var_floor
    alone = AnomalyModel.fit([render(7, noise_seed=i) for i in range(3)], [PRINT], scale_mm_per_px=SCALE_MM_PER_PX)
    assert not on_texture(alone, alone.zones_[0])


def test_good_boards_pass_on_their_own_grain_and_a_missing_letter_is_found():
    m, off = _fit(), _fit(AnomalyConfig(nested_texture_floor=False))
    goods = [render(100 + i, noise_seed=50 + i) for i in range(6)]
    on = [m.score(u).zone_scores["engraving"] for u in goods]
    before = [off.score(u).zone_scores["engraving"] for u in goods]
    assert max(on) < 1.0, on
    assert max(before) >= 1.0, before  # what the floor is for: the grain alone failed a good board
    bad = m.score(render(200, missing=(2, 3), noise_seed=99))
    assert bad.zone_scores["engraving"] >= 1.0, bad.zone_scores
    assert any(d.zone == "engraving" and d.bbox[0] <= 110 and d.bbox[2] >= 110 for d in bad.defects), bad.defects


def render_thin(grain_seed: int, *, faded: tuple[int, ...] = (), fade: float = 0.7, noise_seed: int = 0) -> np.ndarray:
    """The board with thin letters (strokes 2 px, 0.4 mm: an engraving's char), letters in
    ``faded`` with ``fade`` of their ink gone (the grain shows through)."""
    rng = np.random.default_rng(grain_seed)
    g = rng.normal(0, 1, (H // 4, W // 2)).astype(np.float32)
    g = cv2.resize(g, (W, H), interpolation=cv2.INTER_CUBIC)
    g = cv2.GaussianBlur(g, (0, 0), 3.0, 1.0)
    g *= 11.0 / max(float(g.std()), 1e-6)
    img = np.empty((H, W, 3), np.float32)
    img[:] = WOOD
    img *= (1.0 + g / 190.0)[..., None]
    ink = np.asarray(INK, np.float32)
    for k, (x, y) in enumerate(LETTERS):
        a = fade if k in faded else 0.0
        for sl in ((slice(y, y + 24), slice(x, x + 2)), (slice(y, y + 24), slice(x + 12, x + 14)),
                   (slice(y + 11, y + 13), slice(x, x + 14))):
            img[sl] = (1.0 - a) * ink + a * img[sl]
    img += np.random.default_rng(1000 + noise_seed).normal(0, 1.2, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_the_char_is_structure_not_texture():
    """Thin char strokes are removed by the texture estimator's median, so the char's material read
    its own strokes as texture (a texture sd several times the grain's) and a letter 70 % burnt
    away passed the finish zone. With ``tex_structure_materials`` the char, a material inside
    the nested print zone, takes the grain's pooled variance: the faded letter is found by the
    finish zone too, good boards score no higher than before, and a state saved before it loads
    with it off."""
    caps = [render_thin(7, noise_seed=i) for i in range(3)]
    on = AnomalyModel.fit(caps, [SURFACE, PRINT], scale_mm_per_px=SCALE_MM_PER_PX)
    off = AnomalyModel.fit(caps, [SURFACE, PRINT], scale_mm_per_px=SCALE_MM_PER_PX,
                           config=AnomalyConfig(tex_structure_materials=False))
    assert on.ink_var_ and not off.ink_var_
    box, extra, ink = on.ink_var_["surface"]
    assert box == on.zones_[0].bbox and float(extra.max()) > 0 and ink.any() and not (extra[~ink] > 0).any()
    # only pixels inside the print zone changed their spread
    changed = np.abs(on.inv_spread_ - off.inv_spread_).max(axis=-1) > 1e-6
    assert changed.any() and not (changed & ~on.zones_[1].mask).any()
    for i in range(6):
        good = render_thin(100 + i, noise_seed=50 + i)
        a, b = on.score(good).zone_scores, off.score(good).zone_scores
        # the finish zone as before; the print zone's structure residual no longer judges the grain
        # between the strokes (nothing there is shared), so it scores no higher
        assert max(a.values()) < 1.0 and a["surface"] == pytest.approx(b["surface"], rel=1e-5), (a, b)
        assert a["engraving"] <= b["engraving"] + 1e-4, (a, b)
    bad = render_thin(200, faded=(3,), noise_seed=99)
    assert on.score(bad).zone_scores["surface"] >= 1.0 > off.score(bad).zone_scores["surface"]
    st = on.to_state()
    st["config"] = {k: v for k, v in st["config"].items() if k != "tex_structure_materials"}
    before = AnomalyModel.from_state(st)
    assert before.config.tex_structure_materials is False and not before.ink_var_
    assert before.score(bad).zone_scores == pytest.approx(off.score(bad).zone_scores, rel=1e-5)
