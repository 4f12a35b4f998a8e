"""A ``full`` anomaly zone watches the product, not the scene round it.

A photo shows more than the product: a station's fiducials, chart and ruler, a hand-held photo's
table, ruler or marker. Registration aligns the product, so all of that moves against it from
capture to capture; with the zone over the whole image, its one threshold, learnt from the golden
captures, grew to hold the moving fixtures, and every zoo family in the station, sealed with one
``full`` zone, found 0 of its 4-6 defects (``scripts/bench.py --zones full``). Sealing now gives a
``full`` zone the product's region: the station's product area, within it the product's
silhouette on a plain ground, grown by a margin (:func:`goldenvision.sealing._full_zone_region`).
"""

from __future__ import annotations

import cv2
import numpy as np

import goldenvision as gv
from goldenvision.sealing import _full_zone_region
from tests.synthetic import panel_lab

PRODUCT_BOX = (120, 70, 330, 200)  # x1, y1, x2, y2 of the product at its golden pose (px)
CHART_BOX = (10, 220, 100, 290)
PANEL_RGB = (150, 90, 50)
# as the new user wrote it: one colour zone (a strip of the panel no print reaches), one `full` zone;
# the colour zone also tells registration where the product is (the chart does not move with it)
SPEC = {
    "product": "panel-on-table", "revision": "A", "scale_mm_per_px": 0.1, "registration": "auto",
    "colors": [{"name": "panel", "region": [[130, 72], [320, 72], [320, 77], [130, 77]],
                "target": {"lab": panel_lab(PANEL_RGB)}, "tolerance_de00": 3.0, "severity": "major"}],
    "anomaly_zones": [{"name": "full", "region": "full", "defect_type": "other", "severity": "major"}],
}


def scene(seed: int, shift: tuple[int, int] = (0, 0), stain: tuple[int, int] | None = None) -> np.ndarray:
    """A 400 x 300 photo: a plain grey table, a chart of colour patches fixed in the frame, and a
    product (a brown panel with printed blocks and discs) placed ``shift`` px off its golden pose."""
    img = np.full((300, 400, 3), 190, np.uint8)
    colours = np.random.default_rng(99).integers(20, 235, (3, 4, 3))
    x1, y1, x2, y2 = CHART_BOX
    img[y1:y2, x1:x2] = 30
    for i in range(3):
        for j in range(4):
            xa, ya = x1 + 4 + 22 * j, y1 + 4 + 22 * i
            img[ya:ya + 18, xa:xa + 18] = colours[i, j]
    panel = np.zeros((PRODUCT_BOX[3] - PRODUCT_BOX[1], PRODUCT_BOX[2] - PRODUCT_BOX[0], 3), np.uint8)
    panel[:] = PANEL_RGB
    r = np.random.default_rng(7)
    for _ in range(30):
        x, y = int(r.integers(10, panel.shape[1] - 30)), int(r.integers(10, panel.shape[0] - 30))
        c = tuple(int(v) for v in r.integers(0, 120, 3))
        if r.random() < 0.5:
            cv2.rectangle(panel, (x, y), (x + int(r.integers(6, 20)), y + int(r.integers(6, 20))), c, -1)
        else:
            cv2.circle(panel, (x + 8, y + 8), int(r.integers(4, 9)), c, -1)
    if stain is not None:
        cv2.circle(panel, (stain[0] - PRODUCT_BOX[0], stain[1] - PRODUCT_BOX[1]), 7, (95, 55, 30), -1)
    px, py = PRODUCT_BOX[0] + shift[0], PRODUCT_BOX[1] + shift[1]
    img[py:py + panel.shape[0], px:px + panel.shape[1]] = panel
    noisy = img + np.random.default_rng(seed).normal(0, 1.5, img.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def test_the_full_zone_region_is_the_product_grown_not_the_chart_beside_it():
    region = _full_zone_region(None, scene(0))
    assert region is not None
    poly = np.asarray(region, np.float32)
    inside = lambda x, y: cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0  # noqa: E731
    x1, y1, x2, y2 = PRODUCT_BOX
    assert all(inside(x, y) for x, y in [(x1, y1), (x2 - 1, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)])
    assert inside(x1 - 5, (y1 + y2) / 2) and inside(x2 + 5, (y1 + y2) / 2)  # a margin past the outline
    cx1, cy1, cx2, cy2 = CHART_BOX
    assert not any(inside(x, y) for x in range(cx1, cx2, 5) for y in range(cy1, cy2, 5))
    # a product that fills the frame keeps the whole image
    full = np.random.default_rng(3).integers(0, 255, (300, 400, 3)).astype(np.uint8)
    assert _full_zone_region(None, full) is None


def test_a_stain_on_the_product_is_found_when_the_chart_moves_against_it(tmp_path):
    golden = gv.seal([scene(0), scene(1, (9, -6)), scene(2, (-8, 7))], SPEC)
    inspector = gv.Inspector(golden)
    zone = inspector.models.anomaly.zones_[0]
    assert zone.spec.region != "full" and not zone.mask[CHART_BOX[1] + 10, CHART_BOX[0] + 10]
    good = [inspector.inspect(scene(10 + k, (int(s[0]), int(s[1]))))
            for k, s in enumerate([(6, 4), (-7, -5), (3, -8)])]
    assert all(r.verdict.value == "pass" for r in good), [r.reasons for r in good]
    bad = inspector.inspect(scene(20, (5, -4), stain=(200, 150)))
    assert bad.verdict.value == "fail"
    # the stain, at (200, 150) in golden px whatever the unit's pose
    assert any(d.zone == "full" and d.bbox[0] - 10 <= 200 <= d.bbox[2] + 10 and d.bbox[1] - 10 <= 150 <= d.bbox[3] + 10
               for d in bad.defects), bad.defects
