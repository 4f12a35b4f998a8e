"""The anomaly map a user reads: evidence on thin dark structures and its spatial support."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from goldenvision.anomaly import AnomalyModel
from goldenvision.anomaly import zone_variation as ZV
from goldenvision.anomaly.regions import support_map
from goldenvision.spec import AnomalyZone

SCALE = 1 / 48.0  # mm per px, a scanned board
MIN_AREA = 0.05  # mm²: smallest defect side sqrt(0.05) * 48 = 10.7 px


def jpeg(img: np.ndarray, q: int = 75) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def board() -> np.ndarray:
    """A binarised board: white substrate, thin near-black traces (4-5 px, anti-aliased)."""
    img = np.full((160, 220, 3), 250, np.uint8)
    for i in range(6):
        cv2.line(img, (10, 12 + 25 * i), (210, 22 + 25 * i), (4, 4, 4), 5, cv2.LINE_AA)
    for i in range(6):
        cv2.line(img, (15 + 35 * i, 5), (35 + 35 * i, 155), (4, 4, 4), 4, cv2.LINE_AA)
    return img


def shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, img.shape[1::-1], borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def pcb():
    g = board()
    model = AnomalyModel.fit([jpeg(g)], [AnomalyZone(name="board", min_area_mm2=MIN_AREA)], scale_mm_per_px=SCALE)
    return g, model


def test_support_map_spreads_evidence_over_a_smallest_defect():
    m = np.zeros((60, 80), np.float32)
    m[30, 40] = 2.0
    m[10, 10] = 0.5
    zone = np.ones_like(m, bool)
    zone[:, 70:] = False
    out = support_map(m, zone, 5.0)
    assert out.max() == pytest.approx(2.0)
    assert np.all(out[25:36, 35:46] == 2.0)  # every 5-px square holding the evidence
    assert out[30, 46] < 2.0 and out[24, 40] < 2.0
    assert out[5, 5] == pytest.approx(0.5) and out[40, 60] == 0.0
    far = support_map(np.pad(np.full((1, 1), 3.0, np.float32), ((30, 29), (68, 11))), zone, 5.0)
    assert np.all(far[:, 70:] == 0) and far[30, 69] == pytest.approx(3.0)  # never outside the zone
    np.testing.assert_array_equal(support_map(m, zone, 0.4), m)  # no smallest defect: unchanged


def test_the_whole_extent_of_a_defect_ranks_above_good_pixels(pcb):
    g, model = pcb
    unit = g.copy()
    cv2.rectangle(unit, (95, 40), (118, 63), (4, 4, 4), 2)  # a 24 px copper frame: its inside is unchanged
    res = model.score(jpeg(shift(unit, 0.3, -0.2)))
    assert res.defects and res.score == pytest.approx(float(res.map.max()), rel=1e-5)
    inside = res.map[40:64, 95:119]
    near = np.zeros(res.map.shape, np.uint8)
    near[40:64, 95:119] = 1
    far = cv2.dilate(near, np.ones((45, 45), np.uint8)) == 0  # 22 px (2 sides) away from the defect
    assert inside.min() > np.percentile(res.map[far], 99.9)
    assert inside.min() > 0.1  # without the support: about 0.004 at the centre, 12 px from the frame


def test_near_black_material_keeps_the_zone_gain(pcb):
    """A material at the black level carries no gain information: its ratio is noise and edge
    misregistration (on DeepPCB it read 2.7 and inflated the spread of every trace 2.7x)."""
    g, model = pcb
    z = model.zones_[0]
    u = ZV.prep(model, jpeg(shift(g, -0.6, 0.7)))
    gain, g_lo, g_hi = ZV.gain_field(model, z, u, np.ones(u.shape[:2], bool))
    zone_gain = ZV.robust_gain(u, model.mean_, None)
    dark = model.mean_.mean(axis=2) < 8
    assert dark.sum() > 500
    for a in (gain, g_lo, g_hi):
        a = np.broadcast_to(a, u.shape)
        np.testing.assert_allclose(a[dark], np.broadcast_to(zone_gain, a[dark].shape), rtol=0.02)


def test_an_open_in_a_thin_trace_scores_well_above_its_threshold(pcb):
    g, model = pcb
    unit = g.copy()
    cv2.rectangle(unit, (96, 55), (110, 75), (250, 250, 250), -1)  # a 15 px gap across a trace
    res = model.score(jpeg(shift(unit, 0.4, -0.3)))
    good = model.score(jpeg(shift(g, -0.3, 0.4)))
    assert res.score >= 2.0 and good.score < 0.5
    assert any(d.bbox[0] <= 110 and d.bbox[2] >= 96 and d.bbox[1] <= 75 and d.bbox[3] >= 55 for d in res.defects)


def test_map_stays_zero_where_the_unit_has_no_data(pcb):
    g, model = pcb
    unit = g.copy()
    cv2.circle(unit, (42, 88), 7, (250, 250, 250), -1)  # a bite out of a trace
    valid = np.ones(g.shape[:2], bool)
    valid[:, :30] = False
    res = model.score(jpeg(unit), valid)
    assert res.score >= 1.0 and np.all(res.map[:, :30] == 0)
