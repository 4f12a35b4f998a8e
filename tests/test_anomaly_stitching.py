"""Stitching zones: a skipped stitch is found from the golden captures alone.

Synthetic hem at 4.8 px/mm (0.208 mm/px, the zoo's size 0.6): a woven blue cloth (fine random
weave, a new realisation per unit) with a dashed seam of dark thread 2 px wide, 8 px dashes at a
14 px pitch, rendered 8x super-sampled so sub-pixel shifts and thread edges are real. A stitch is
thinner than the variation model's misregistration band, so without the golden-only structure
residual (``AnomalyConfig.structure_stitching``) two missing stitches read as misregistration.
"""

from __future__ import annotations

import cv2
import numpy as np

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.anomaly.structure import MIN_GOOD_UNITS, stitching_structure, structure_floor
from goldenvision.spec import AnomalyZone

SS = 8
H, W = 40, 240
SCALE_MM_PER_PX = 0.208
CLOTH = (70, 130, 185)
THREAD = (60, 60, 70)
PITCH_PX, DASH_PX, ROW_PX, START_PX = 14.0, 8.0, 20.0, 12.0
GAP = (6, 8)  # stitches skipped in the defective unit (indices)


def render(dx: float = 0.0, dy: float = 0.0, *, skip: tuple[int, ...] = (), tone: float = 1.0,
           noise: float = 1.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    big = np.empty((H * SS, W * SS, 3), np.float32)
    big[:] = CLOTH
    weave = cv2.resize(rng.normal(0, 1, (H * SS // 4, W * SS // 4)).astype(np.float32), (W * SS, H * SS),
                       interpolation=cv2.INTER_CUBIC)
    big += 4.0 * weave[..., None]
    y0, y1 = int((ROW_PX - 1 + dy) * SS), int((ROW_PX + 1 + dy) * SS)
    k = 0
    x = START_PX
    while x + DASH_PX < W - 10:
        if k not in skip:
            big[y0:y1, int((x + dx) * SS):int((x + DASH_PX + dx) * SS)] = THREAD
        x += PITCH_PX
        k += 1
    img = cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA) * tone
    img += rng.normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _lot(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [render(*rng.uniform(-0.4, 0.4, 2), tone=float(rng.uniform(0.95, 1.05)), seed=seed * 100 + i)
            for i in range(n)]


ZONE = AnomalyZone(name="hem", defect_type="stitching", min_area_mm2=0.5)


def _gap_found(r) -> bool:
    gx = START_PX + PITCH_PX * (GAP[0] + GAP[1] + 1) / 2
    return any(d.bbox[0] - 4 <= gx <= d.bbox[2] + 4 and d.bbox[1] - 4 <= ROW_PX <= d.bbox[3] + 4 for d in r.defects)


def test_two_skipped_stitches_are_found_from_the_golden_alone():
    caps = _lot(3, 1)
    m = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE_MM_PER_PX)
    off = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE_MM_PER_PX,
                           config=AnomalyConfig(structure_stitching=False))
    assert stitching_structure(m, m.zones_[0]) and not stitching_structure(off, off.zones_[0])
    # the threshold is floored by the expected largest |z| over the zone's independent samples
    assert m.zones_[0].threshold >= structure_floor(m, m.zones_[0]) > 3.0
    skipped = render(0.2, -0.1, skip=tuple(range(GAP[0], GAP[1] + 1)), seed=77)
    r = m.score(skipped)
    assert r.score >= 1.0 and _gap_found(r), (r.score, [d.bbox for d in r.defects])
    # the variation model alone reads the bare cloth as the thread's misregistration band
    assert off.score(skipped).score < 1.0, off.score(skipped).score
    for good in _lot(6, 3):
        assert m.score(good).score < 1.0, m.score(good).score


def test_old_packages_and_other_zones_keep_the_taught_units_rule():
    caps = _lot(3, 1)
    m = AnomalyModel.fit(caps, [ZONE], scale_mm_per_px=SCALE_MM_PER_PX)
    state = m.to_state()
    del state["config"]["structure_stitching"]  # a package sealed before the option
    old = AnomalyModel.from_state(state)
    assert not stitching_structure(old, old.zones_[0])
    finish = AnomalyModel.fit(caps, [AnomalyZone(name="hem", defect_type="finish", min_area_mm2=0.5, method="variation")],
                              scale_mm_per_px=SCALE_MM_PER_PX)
    assert not stitching_structure(finish, finish.zones_[0]) and structure_floor(finish, finish.zones_[0]) == 0.0
    # once production units are taught their held-out scores calibrate the zone: no floor
    m.add_good(_lot(MIN_GOOD_UNITS, 2))
    assert structure_floor(m, m.zones_[0]) == 0.0
    skipped = render(0.1, 0.1, skip=tuple(range(GAP[0], GAP[1] + 1)), seed=78)
    r = m.score(skipped)
    assert r.score >= 1.0 and _gap_found(r)
