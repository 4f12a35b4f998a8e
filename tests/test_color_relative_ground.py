"""The ground a hand-held product lies on votes on the light as one material."""

from __future__ import annotations

import cv2
import numpy as np

from goldenvision.calibration.color import linear_srgb_to_lab_d65, srgb_decode, srgb_encode
from goldenvision.color import ZoneColorModel
from goldenvision.color.relative import relative_zone_colors
from goldenvision.spec import ColorZone

GH, GW = 240, 320
NAVY = (0.020, 0.030, 0.075)  # a dark navy tape (L* ~ 19)
TAN = (0.40, 0.30, 0.17)  # the product's other material
ZONE = ColorZone(name="tape", region=[[120, 104], [200, 104], [200, 116], [120, 116]], tolerance_de00=1.5)
PRODUCT = (95, 145, 110, 210)  # y0, y1, x0, x1: a small product in a large frame


def _mottle(seed: int) -> np.ndarray:
    """A beige table with sparse dark reddish blots (linear RGB), placed by ``seed``."""
    rng = np.random.default_rng(seed)
    img = np.empty((GH, GW, 3))
    img[:] = (0.30, 0.26, 0.20)
    for _ in range(40):
        y, x = int(rng.integers(0, GH)), int(rng.integers(0, GW))
        cv2.circle(img, (x, y), int(rng.integers(5, 10)), (0.16, 0.08, 0.06), -1)
    return img


def _photo(ground_seed: int) -> np.ndarray:
    img = _mottle(ground_seed)
    y0, y1, x0, x1 = PRODUCT
    img[y0:y1, x0:x1] = TAN
    img[102:118, 118:202] = NAVY
    return np.clip(np.round(srgb_encode(np.clip(img, 0, 1)) * 255), 0, 255).astype(np.uint8)


def test_a_mottled_ground_that_moved_under_the_unit_does_not_tint_the_light():
    caps = [_photo(1)] * 3  # the golden captures: the table has not moved
    model = ZoneColorModel.fit([linear_srgb_to_lab_d65(srgb_decode(c / 255.0)) for c in caps], None, [ZONE])
    unit = _photo(2)  # the same product, the same light; the table's mottle elsewhere under it
    mask = np.zeros((GH, GW), bool)
    y0, y1, x0, x1 = PRODUCT
    mask[y0 - 6 : y1 + 6, x0 - 6 : x1 + 6] = True
    with_mask = relative_zone_colors(unit, None, caps[0], model, [ZONE], captures=caps, product_mask=mask)
    without = relative_zone_colors(unit, None, caps[0], model, [ZONE], captures=caps)
    assert with_mask is not None and without is not None
    # each shade of the table voting as a material: the blots' cells (dark in the golden, plain
    # table in the unit) tilt the light, and the navy zone reads off by about half a unit
    assert without[0].delta_e_golden > 0.3
    assert with_mask[0].delta_e_golden < 0.1 and with_mask[0].ok
    assert with_mask[0].uncertainty_de00 is not None and with_mask[0].uncertainty_de00 < 0.3


def test_the_ground_is_one_material_and_the_product_keeps_its_own():
    from goldenvision.color.relative import _GoldenGrid

    g = _photo(1)
    mask = np.zeros((GH, GW), bool)
    y0, y1, x0, x1 = PRODUCT
    mask[y0:y1, x0:x1] = True
    grid = _GoldenGrid(g, [g], mask)
    assert grid.ground is not None
    cells = np.ones(grid.shape_small, bool)
    labels, k = grid.material_labels(cells)
    ground = grid.ground
    assert k >= 2 and set(labels[ground].tolist()) == {k}  # every shade of the table: one label
    assert set(labels[~ground].tolist()) <= set(range(k))  # the product's cells: its own k materials
    assert _GoldenGrid(g, [g], None).ground is None
