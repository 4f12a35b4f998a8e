"""The full-resolution channel's spread capped by the unit's own residual (issue 13,
``AnomalyConfig.fine_unit_texture``): on a moulded product whose thin relief is the same on every
unit, the golden's texture variance and the floors are several times what a good unit differs by,
and a blister (a dark centre in a light rim, nearly zero mean) stayed under the threshold."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.anomaly import fine as F
from goldenvision.spec import AnomalyZone
from synthetic import shoot

SCALE = 0.1  # mm per golden px
ZONE = AnomalyZone(name="face", defect_type="finish", min_area_mm2=1.0)
HOLE = (250, 70, 18)  # x, y, radius px: the table shows through it
BUBBLE = (144, 180)  # centre px of a blister 1.6 mm across, on a lug


def rubber(seed: int, *, table: float = 200.0, bubble: bool = False, h: int = 320, w: int = 320) -> np.ndarray:
    """Black rubber with a fixed tread (lug walls 2 px wide, +-8 levels, the same on every unit),
    a fine stipple new on every unit (sd 1 level), a hole showing the table (``table`` levels),
    and optionally a blister: a dark centre (-14 levels, r 5 px) in a light rim (+8, 3 px)."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 62.0, np.float32)
    img += cv2.GaussianBlur(rng.normal(0, 1.6, (h, w)).astype(np.float32), (0, 0), 0.6)[..., None]
    for x0 in range(24, w - 40, 36):  # the tread: raised lugs, lit from the top left
        for y0 in range(24, h - 40, 36):
            cv2.rectangle(img, (x0, y0), (x0 + 24, y0 + 24), (70.0, 70.0, 72.0), 2)
            cv2.line(img, (x0 + 2, y0 + 26), (x0 + 26, y0 + 26), (54.0, 54.0, 55.0), 2)
    cv2.circle(img, HOLE[:2], HOLE[2], (table, table, table - 3), -1, lineType=cv2.LINE_AA)
    if bubble:
        yy, xx = np.mgrid[:h, :w]
        r = np.hypot(xx - BUBBLE[0], yy - BUBBLE[1])
        img += np.where(r <= 5, -14.0, np.where(r <= 8, 8.0, 0.0)).astype(np.float32)[..., None]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(3)
    caps = [shoot(rubber(7), rng, noise=1.2) for _ in range(3)]  # one physical unit
    on = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE)
    off = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE, config=AnomalyConfig(fine_unit_texture=False))
    return on, off


def _at_bubble(res) -> bool:
    return bool(res.defects) and all(abs((d.bbox[0] + d.bbox[2]) / 2 - BUBBLE[0]) <= 8
                                     and abs((d.bbox[1] + d.bbox[3]) / 2 - BUBBLE[1]) <= 8 for d in res.defects)


def test_a_blister_on_fixed_relief_is_found_with_the_unit_scale_only(models):
    on, off = models
    assert on.config.fine_unit_texture and on.methods_ == {"face": "texture_variation"}
    rng = np.random.default_rng(5)
    for seed in (11, 12):
        unit = shoot(rubber(seed, bubble=True), rng, noise=1.2)
        assert off.score(unit).score < 1.0
        res = on.score(unit)
        assert res.score >= 1.0 and _at_bubble(res)


def test_good_units_pass_with_another_table_under_the_hole(models):
    """The table seen through the hole is no material of the zone (:func:`.fine._representative`):
    its spread stays whole, so another table, 8 levels darker, is not a defect."""
    on, _ = models
    rep = on.fine_d_["face"].rep
    x0, y0 = on.zones_[0].bbox[:2]
    assert rep is not None and not rep[HOLE[1] - y0, HOLE[0] - x0]
    rng = np.random.default_rng(6)
    scores = [on.score(shoot(rubber(seed, table=192.0 + 4 * k), rng, noise=1.2)).score
              for k, seed in enumerate((21, 22, 23, 24))]
    assert max(scores) < 1.0


def test_the_cap_only_tightens(models):
    """Per pixel and channel, the capped spread is at most the golden's, whatever the unit."""
    on, _ = models
    z = on.zones_[0]
    x0, y0, x1, y1 = z.bbox
    m = z.mask[y0:y1, x0:x1]
    rng = np.random.default_rng(8)
    s2 = rng.uniform(4.0, 60.0, (y1 - y0, x1 - x0, 3)).astype(np.float32)
    soft2 = (s2 * rng.uniform(0.0, 1.0, s2.shape)).astype(np.float32)
    mid = np.full(s2.shape, 60.0, np.float32)
    for sd in (0.5, 3.0, 30.0):  # a unit closer to the golden than its spread, about as close, far wider
        uf = (mid + rng.normal(0, sd, s2.shape)).astype(np.float32)
        inv = F.unit_texture_spread(on, z, uf, mid, m, s2, soft2)
        assert (inv >= 1.0 / np.sqrt(s2) - 1e-6).all()
        assert (inv <= 1.0 / np.sqrt(s2 - soft2 + 1e-6) + 1e-4).all()  # the captures' share stays
    off_m = ~m
    assert np.allclose(inv[off_m], 1.0 / np.sqrt(s2[off_m]), rtol=1e-5)


def test_a_slow_shade_is_left_to_the_low_pass(models, monkeypatch):
    """A good unit's slow shade (+14 levels over about 8 mm, what a highlight the shading field leaves
    looks like) is the low-passed channel's: the full-resolution channel judges the residual about
    its own smooth part (:func:`.fine.smooth_residual`), so it is not read as a line of many z."""
    on, _ = models
    yy, xx = np.mgrid[:320, :320]
    shade = 14.0 * np.exp(-((xx - 160) ** 2 + (yy - 150) ** 2) / (2 * 40.0**2))
    img = np.clip(rubber(51).astype(np.float32) + shade[..., None], 0, 255).astype(np.uint8)
    unit = shoot(img, np.random.default_rng(10), noise=1.2)
    assert on.score(unit).score < 1.0
    monkeypatch.setattr(F, "smooth_residual", lambda uf, mid, m, sigma, **kw: np.zeros_like(uf))
    assert on.score(unit).score >= 1.0


def test_a_state_from_before_the_cap_scores_as_before(models):
    on, off = models
    unit = shoot(rubber(41, bubble=True), np.random.default_rng(9), noise=1.2)
    st = on.to_state()
    assert AnomalyModel.from_state(st).score(unit).score == pytest.approx(on.score(unit).score, rel=1e-5)
    old = dict(st)
    old["config"] = {k: v for k, v in st["config"].items() if k != "fine_unit_texture"}
    before = AnomalyModel.from_state(old)
    assert before.config.fine_unit_texture is False
    assert before.score(unit).score == pytest.approx(off.score(unit).score, rel=1e-5)


FABRIC = AnomalyZone(name="fabric", defect_type="finish", min_area_mm2=0.5,
                     region=[(10, 10), (310, 10), (310, 310), (10, 310)])
LOGO = AnomalyZone(name="logo", defect_type="print", min_area_mm2=0.5,
                   region=[(100, 100), (220, 100), (220, 220), (100, 220)])


def shirt(seed: int, *, dx: int = 0) -> np.ndarray:
    """Blue cotton with a fine weave new on every shirt (sd 1.5 levels) and a red printed disc
    (r 45 px) placed ``dx`` px off: the print's placement varies a little in production."""
    rng = np.random.default_rng(seed)
    img = np.empty((320, 320, 3), np.float32)
    img[:] = (70.0, 120.0, 170.0)
    img += cv2.GaussianBlur(rng.normal(0, 2.0, (320, 320)).astype(np.float32), (0, 0), 0.7)[..., None]
    cv2.circle(img, (160 + dx, 160), 45, (200.0, 50.0, 50.0), -1, lineType=cv2.LINE_AA)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def test_a_print_nested_on_the_texture_keeps_its_spread():
    """Where a print or a seam nested on the texture lies on a unit is its own zone's business,
    not the texture's residual: its pixels keep the golden's spread (:func:`.fine._representative`),
    and a print placed 3 px off on a good shirt is not read as a line along its edge (here its
    strong outline alone would also keep it: :func:`.fine._near_strong_edges`)."""
    rng = np.random.default_rng(4)
    caps = [shoot(shirt(7), rng) for _ in range(3)]
    m = AnomalyModel.fit(caps, [FABRIC, LOGO], scale_mm_per_px=SCALE)
    d = m.fine_d_["fabric"]
    x0, y0 = m.zones_[0].bbox[:2]
    assert d.rep is not None and not d.rep[160 - y0, 205 - x0] and d.rep[40 - y0, 40 - x0]
    assert not (d.rep & m.zones_[1].mask[y0:y0 + d.rep.shape[0], x0:x0 + d.rep.shape[1]]).any()
    units = [shoot(shirt(seed, dx=dx), rng) for seed, dx in ((21, 3), (22, -3))]
    assert max(m.score(u).zone_scores["fabric"] for u in units) < 1.0
    # a print of low contrast has no strong edge: only its zone keeps it out of the cap
    faint = F._representative(d.mean, m.materials_["fabric"], d.valid, float(m.config.abs_floor))
    assert faint.sum() > d.rep.sum()


def test_beside_a_strong_edge_and_below_half_the_floor_the_unit_does_not_decide(models):
    """A pad's edge is strong, a tread's low relief is not (:func:`.fine._near_strong_edges`); the
    zone's border is left alone like a strong edge; and a
    residual flattened by compression lowers the spread at most to half the absolute floor."""
    on, _ = models
    img = np.full((60, 60, 3), 62.0, np.float32)
    img[20:40, 20:40] = 190.0  # a pad: a step of 128 levels
    img[5:7, :] = 70.0  # low relief: a step of 8 levels
    near = F._near_strong_edges(cv2.GaussianBlur(img, (0, 0), 1.0), float(on.config.abs_floor))
    assert near[30, 20 - F.STRONG_EDGE_REACH_PX] and near[30, 30] and not near[30, 6] and not near[6, 50]
    rep = on.fine_d_["face"].rep  # nor within that reach of the zone's border
    r = F.STRONG_EDGE_REACH_PX
    assert rep is not None and not rep[:r].any() and not rep[:, -r:].any() and rep[r + 20:r + 40, r + 2].any()
    z = on.zones_[0]
    x0, y0, x1, y1 = z.bbox
    m = z.mask[y0:y1, x0:x1]
    s2 = np.full((y1 - y0, x1 - x0, 3), 40.0, np.float32)
    mid = np.full(s2.shape, 60.0, np.float32)
    uf = mid + np.random.default_rng(2).integers(-1, 2, s2.shape).astype(np.float32) * 0.1  # nearly flat
    inv = F.unit_texture_spread(on, z, uf, mid, m, s2, s2)
    assert inv[m].max() <= 1.0 / (F.UNIT_FLOOR_SHARE * on.config.abs_floor) + 1e-5


def _residual(field: np.ndarray) -> np.ndarray:
    return np.repeat(field.reshape(-1, 1), 3, axis=1).astype(np.float32)


def test_a_correlated_residual_counts_fewer_independent_samples():
    """:func:`.fine.residual_correlation`: about 1 for a white residual, about the pixels a line's
    mean spans for one correlated over that length (a table's grain seen through a bore)."""
    rng = np.random.default_rng(0)
    h = w = 120
    sel = np.ones((h, w), bool)
    ii = np.flatnonzero(sel)
    white = rng.normal(0, 2.0, (h, w))
    grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 6.0)
    grain *= 2.0 / grain.std()
    sd = np.full(3, 2.0)
    r_white = F.residual_correlation(_residual(white), sel, ii, sd, 2.4)
    r_grain = F.residual_correlation(_residual(grain), sel, ii, sd, 2.4)
    assert 0.7 < r_white < 1.6
    assert r_grain > 5.0
    assert F.residual_correlation(_residual(grain), sel, ii, sd, 0.4) == 1.0  # no aggregation, no gate


def test_a_scratch_on_a_small_material_does_not_read_as_correlation():
    """A line defect moves the row means it crosses (here 15 % of them): their MAD does not follow
    it, so the material keeps its cap and the scratch is judged at the unit's scale (zoo wallet, a
    buckle's scratch: 81 times white noise's variance with a 10-90 % range, 3 without)."""
    rng = np.random.default_rng(1)
    h, w = 60, 80
    sel = np.ones((h, w), bool)
    ii = np.flatnonzero(sel)
    res = rng.normal(0, 1.0, (h, w))
    res[:, 38:41] -= 25.0  # a dark scratch down the material
    r = F.residual_correlation(_residual(res), sel, ii, np.full(3, 1.0), 2.4)
    assert r < 2.0


def test_a_small_material_of_correlated_residual_keeps_its_whole_spread(models):
    """In :func:`.fine.unit_texture_spread` a material whose pixels over their correlation are fewer
    than :data:`.fine.MIN_MATERIAL_PX` keeps the golden's spread; a white one of the same size is
    capped."""
    on, _ = models
    z = on.zones_[0]
    x0, y0, x1, y1 = z.bbox
    hh, ww = y1 - y0, x1 - x0
    m = np.zeros((hh, ww), bool)
    m[40:80, 40:80] = True  # 1 600 px of one material
    labels = on.materials_.get(z.spec.name)
    saved = labels.copy()
    try:
        labels[...] = -1
        labels[40:80, 40:80] = 0
        rng = np.random.default_rng(4)
        s2 = np.full((hh, ww, 3), 36.0, np.float32)  # the golden's spread: 6 levels, all of it soft
        mid = np.full((hh, ww, 3), 100.0, np.float32)
        white = rng.normal(0, 1.5, (hh, ww)).astype(np.float32)
        grain = cv2.GaussianBlur(rng.normal(0, 1, (hh, ww)).astype(np.float32), (0, 0), 6.0)
        grain *= 1.5 / grain[m].std()
        capped = F.unit_texture_spread(on, z, mid + white[..., None], mid, m, s2, s2)
        whole = F.unit_texture_spread(on, z, mid + grain[..., None], mid, m, s2, s2)
        assert float(np.median(1.0 / capped[m])) < 3.0  # the white material: its own ~1.5 levels
        assert np.allclose(1.0 / whole[m], 6.0, rtol=1e-4)  # the grained one: the golden's 6
    finally:
        labels[...] = saved
