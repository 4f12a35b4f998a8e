"""Outline check (:mod:`goldenvision.anomaly.outline`): burrs and chips on a product's silhouette."""

from __future__ import annotations

import numpy as np
import pytest

from goldenvision.anomaly import AnomalyModel
from goldenvision.anomaly._zone import _bbox, _Zone, _zone_mask
from goldenvision.anomaly.outline import OutlineModel, fit_outline
from goldenvision.spec import AnomalyZone

H, W = 180, 260
SCALE = 0.2  # mm per golden px
PLATE = (60.0, 45.0, 200.0, 135.0)  # x0, y0, x1, y1 golden px
ZONE = AnomalyZone(name="body", region=[(45, 30), (215, 30), (215, 150), (45, 150)], min_area_mm2=0.5)


def plate_sdf(xx, yy, *, dx=0.0, dy=0.0, scale=1.0, r=12.0, longer=0.0):
    """Signed distance (px, < 0 inside) to a rounded plate (``longer``: px added to its right end)."""
    x0, y0, x1, y1 = PLATE
    x1 += longer
    cx, cy = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy
    hx, hy = (x1 - x0) / 2 * scale - r, (y1 - y0) / 2 * scale - r
    qx, qy = np.abs(xx - cx) - hx, np.abs(yy - cy) - hy
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - r


def shoot(seed: int, *, dx=0.0, dy=0.0, scale=1.0, burr=None, chip=None, gain=1.0, noise=1.5, longer=0.0,
          teeth=False) -> np.ndarray:
    """A photo of the plate (dark grey on a light backdrop, anti-aliased), with a burr
    ``(x_center, length_px, height_px)`` on the top edge or a chip ``(x_center, y_center, radius)``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    sdf = plate_sdf(xx, yy, dx=dx, dy=dy, scale=scale, longer=longer)
    if burr is not None:
        xc, ln, hgt = burr
        u = (xx - xc) / (ln / 2)
        top = (PLATE[1] + PLATE[3]) / 2 + dy - (PLATE[3] - PLATE[1]) / 2 * scale
        bump = np.where(np.abs(u) < 1, hgt * np.sqrt(np.clip(1 - u * u, 0, 1)), -1.0)
        sdf = np.minimum(sdf, np.where(np.abs(u) < 1, np.maximum(top - bump - yy, yy - top - 2), 1e3))
    if chip is not None:
        xc, yc, rad = chip
        sdf = np.maximum(sdf, rad - np.hypot(xx - xc, yy - yc))
    cov = np.clip(0.5 - sdf, 0, 1)[..., None]
    bg, fg = np.array([200.0, 198.0, 195.0]), np.array([60.0, 70.0, 90.0])
    img = bg * (1 - cov) + fg * cov
    if teeth:  # a row of light teeth on the plate that stays where it is when the end moves
        t = ((np.abs(yy - 90) < 8) & (xx > 70) & (xx < PLATE[2] - 8) & (np.mod(xx, 8) < 5))[..., None]
        img = np.where(t, np.array([200.0, 170.0, 110.0]), img)
    img = img * gain + rng.normal(0, noise, (H, W, 3))
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def zones_of(*zs: AnomalyZone) -> list[_Zone]:
    return [_Zone(spec=z, method="variation", mask=(m := _zone_mask(z, (H, W))), bbox=_bbox(m)) for z in zs]


@pytest.fixture(scope="module")
def outline():
    caps = [shoot(i, dx=d, dy=-d) for i, d in enumerate((0.0, 0.3, -0.25))]
    zones = zones_of(ZONE)
    return fit_outline(caps, None, zones, scale_mm_per_px=SCALE), zones


def test_fit_finds_the_plate_outline_with_outward_normals(outline):
    m, _ = outline
    assert m.active, m.reason_
    # every point lies on the plate's boundary, and its normal points away from the centre
    yy, xx = m.points_[:, 1].astype(np.float64), m.points_[:, 0].astype(np.float64)
    assert np.abs(plate_sdf(xx, yy)).max() < 1.5  # pixel centres of the silhouette's border
    centre = np.array([(PLATE[0] + PLATE[2]) / 2, (PLATE[1] + PLATE[3]) / 2])
    assert ((m.points_ - centre) * m.normals_).sum(axis=1).min() > 0
    perimeter = 2 * (140 + 90) - (8 - 2 * np.pi) * 12
    assert m.ds_.sum() == pytest.approx(perimeter, rel=0.05)


def test_offsets_measure_a_known_edge_displacement(outline):
    m, _ = outline
    # a 2.5 px high, 24 px long burr on the top edge of a plate grown by 1 % (0.7 px per edge, absorbed
    # by the affine detrending) is measured to a fraction of a pixel
    r = m.offsets_px(shoot(10, scale=1.01, burr=(130.0, 24.0, 2.5)))
    on = (np.abs(m.points_[:, 0] - 130) < 3) & (np.abs(m.points_[:, 1] - PLATE[1]) < 2)
    assert r[on].max() == pytest.approx(2.5, abs=0.35)
    off = np.abs(m.points_[:, 0] - 130) > 20
    assert np.abs(r[off]).max() < 0.3


@pytest.mark.parametrize("kw", [dict(dx=0.45, dy=-0.3), dict(scale=1.01), dict(gain=0.8), dict(dx=-0.2, noise=2.5)])
def test_good_units_are_not_flagged(outline, kw):
    m, zones = outline
    res = m.score(shoot(20, **kw), None, zones)
    assert res is not None and res.defects == ()
    assert res.map.max() == 0.0


def test_burr_and_chip_are_found_at_their_place(outline):
    m, zones = outline
    res = m.score(shoot(30, dx=0.2, burr=(100.0, 20.0, 2.0)), None, zones)
    assert len(res.defects) == 1
    d = res.defects[0]
    assert d.zone == "body" and d.score >= 1.0
    x0, y0, x1, y1 = d.bbox
    assert x0 < 100 < x1 and y0 <= PLATE[1] - 1.5 and y1 >= PLATE[1]
    assert x1 - x0 < 30 and y1 - y0 < 8
    # the area is the burr's (2/3 height x length), in mm²
    assert d.area_mm2 == pytest.approx(np.pi / 4 * 2.0 * 20 * SCALE**2, rel=0.3)
    assert res.map[int(PLATE[1]) - 1, 100] >= 1.0
    chip = m.score(shoot(31, chip=(PLATE[2], 90.0, 5.0)), None, zones)
    assert len(chip.defects) == 1 and chip.defects[0].bbox[0] < PLATE[2] < chip.defects[0].bbox[2]


def test_a_burr_below_the_minimum_area_is_not_reported(outline):
    m, zones = outline
    res = m.score(shoot(32, burr=(100.0, 8.0, 1.5)), None, zones)  # 0.38 mm² < 0.5 mm²
    assert res.defects == ()
    assert 0 < res.zone_scores["body"] < 1.0


def test_no_outline_on_a_textured_frame():
    rng = np.random.default_rng(3)
    tex = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    m = fit_outline([tex, tex, tex], None, zones_of(AnomalyZone(name="full")), scale_mm_per_px=SCALE)
    assert not m.active and m.reason_


def test_add_good_widens_the_allowance_where_units_vary(outline):
    m0, zones = outline
    m = OutlineModel.from_state(m0.to_state())
    before = m.allowance_px().copy()
    # soft goods: the right edge of accepted units bulges by up to 1.2 px, differently per unit
    m.add_good([_bulge_right(shoot(40 + i), a) for i, a in enumerate((1.2, -1.0, 0.8, -1.1))])
    after = m.allowance_px()
    right = m.points_[:, 0] > PLATE[2] - 1
    assert after[right].mean() > 2 * before[right].mean()
    assert after[~right].mean() < 1.5 * before[~right].mean()


def _bulge_right(img: np.ndarray, amp: float) -> np.ndarray:
    """Shift the plate's right edge by ``amp * bell(y)`` px (a soft bulge) by resampling."""
    import cv2

    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    bell = np.exp(-0.5 * ((yy - 90.0) / 15.0) ** 2)
    w = np.clip((xx - 170.0) / 20.0, 0, 1)
    return cv2.remap(img, xx - amp * bell * w, yy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def test_model_reports_outline_defects_and_round_trips():
    caps = [shoot(i, dx=d) for i, d in enumerate((0.0, 0.3, -0.25))]
    model = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE, method="variation")
    assert model.outline_ is not None and model.outline_.active
    unit = shoot(50, burr=(150.0, 22.0, 1.8))
    res = model.score(unit)
    burrs = [d for d in res.defects if d.bbox[0] < 150 < d.bbox[2] and d.bbox[1] <= PLATE[1] <= d.bbox[3]]
    assert burrs and res.zone_scores["body"] >= 1.0
    assert res.map[int(PLATE[1]) - 1, 150] >= 1.0
    again = AnomalyModel.from_state(model.to_state()).score(unit)
    assert [d.bbox for d in again.defects] == [d.bbox for d in res.defects]
    assert model.score(shoot(51, dx=0.3)).defects == ()


def test_an_end_cut_longer_is_explained_by_the_outline_not_flagged_by_pixel_statistics():
    """Parts that move relative to each other (a tape cut 4 px longer, beside teeth that did not move): the whole right end moved,
    the outline check sees a smooth displacement (no defect) and the pixel statistics' evidence
    along the swept strip is explained; a burr on that moved end is still found."""
    caps = [shoot(i, dx=d, teeth=True) for i, d in enumerate((0.0, 0.3, -0.25))]
    model = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE, method="variation")
    longer = shoot(60, longer=4.0, teeth=True)
    res = model.score(longer)
    assert res.defects == ()
    saved, model.outline_ = model.outline_, None
    try:
        assert model.score(longer).defects  # without the outline the moved end is a defect
    finally:
        model.outline_ = saved
    chipped = model.score(shoot(61, longer=4.0, teeth=True, chip=(PLATE[2] + 4.0, 60.0, 5.0)))
    assert any(d.bbox[0] <= PLATE[2] + 4 <= d.bbox[2] and d.bbox[1] <= 60 <= d.bbox[3] for d in chipped.defects)


def test_a_check_switched_off_after_its_outline_was_found_saves_and_loads():
    # three captures whose outline is only teeth-like jags: found, then no smooth stretch -> off
    rng = np.random.default_rng(5)
    img = np.full((H, W, 3), 200, np.uint8)
    for x in range(70, 190, 6):
        img[60:120, x:x + 3] = (40, 50, 60)
    caps = [np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8) for _ in range(3)]
    model = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE, method="variation")
    assert model.outline_ is not None and not model.outline_.active and model.outline_.reason_
    again = AnomalyModel.from_state(model.to_state())
    assert again.outline_ is not None and again.outline_.reason_ == model.outline_.reason_
    assert again.score(caps[0]).defects == ()
