"""Structure residual: a small part gone or moved is not misregistration; a sub-pixel shift is.

Synthetic board at 5 px/mm: tinned pads with a dark chip body between them (5 x 6 px) on a
textured green mask, rendered 8x super-sampled so sub-pixel shifts and edges are real.
"""

from __future__ import annotations

import cv2
import numpy as np

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.anomaly.structure import MIN_GOOD_UNITS, structure_residual
from goldenvision.anomaly.variation import prepare, spread
from goldenvision.spec import AnomalyZone

SS = 8  # super-sampling
H, W = 96, 128
PX_PER_MM = 5.0
MASK = (40, 110, 60)
TIN = (200, 200, 195)
BODY = (25, 25, 28)
# chip centres (px), a 2 x 3 grid of 0805 parts
PARTS = [(28 + 36 * i, 30 + 36 * j) for j in range(2) for i in range(3)]


def _texture(seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.normal(0, 1, ((H * SS) // 16 + 1, (W * SS) // 16 + 1)).astype(np.float32)
    return cv2.resize(t, (W * SS, H * SS), interpolation=cv2.INTER_CUBIC)


def render(dx: float = 0.0, dy: float = 0.0, *, missing: int | None = None, moved: int | None = None,
           tone: float = 1.0, noise: float = 0.0, seed: int = 0, body: tuple[int, int, int] = BODY) -> np.ndarray:
    """The board shifted by (dx, dy) px; part ``missing`` gone (mask shows), part ``moved`` shifted
    2 px right and turned 10 degrees; a global tone gain and sensor noise; ``body`` the parts' colour."""
    big = np.empty((H * SS, W * SS, 3), np.float32)
    big[:] = MASK
    big += 8.0 * _texture()[..., None]
    for k, (cx, cy) in enumerate(PARTS):
        sx, sy = (cx + dx) * SS, (cy + dy) * SS
        if k == moved:
            sx += 2 * SS
        ang = 10.0 if k == moved else 0.0
        # pads stay where the board has them (copper), the part sits on them
        px, py = (cx + dx) * SS, (cy + dy) * SS
        for side in (-1, 1):
            c = (px + side * 4.0 * SS, py)
            cv2.rectangle(big, (int(c[0] - 1.5 * SS), int(c[1] - 3.5 * SS)), (int(c[0] + 1.5 * SS), int(c[1] + 3.5 * SS)),
                          TIN, -1)
        if k == missing:
            continue
        box = cv2.boxPoints(((sx, sy), (6.0 * SS, 5.0 * SS), ang)).astype(np.int32)
        cv2.fillPoly(big, [box], body)
        for side in (-1, 1):  # the part's own tinned terminations
            tx = sx + side * 3.0 * SS * np.cos(np.radians(ang))
            ty = sy + side * 3.0 * SS * np.sin(np.radians(ang))
            tb = cv2.boxPoints(((tx, ty), (1.2 * SS, 5.0 * SS), ang)).astype(np.int32)
            cv2.fillPoly(big, [tb], TIN)
    img = cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA) * tone
    if noise > 0:
        img += np.random.default_rng(seed).normal(0, noise, img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _stat_inv_spread(mean: np.ndarray) -> np.ndarray:
    s = spread(mean, np.zeros_like(mean), abs_floor=3.0, rel_floor=0.03, grad_px=0.0)
    return (1.0 / s).astype(np.float32)


def _score(unit: np.ndarray, golden: np.ndarray, context_sigma_px: float = 0.0) -> np.ndarray:
    g = prepare(golden)
    u = prepare(unit)
    gain = np.median(u.reshape(-1, 3) / np.maximum(g.reshape(-1, 3), 1.0), axis=0).astype(np.float32)
    return structure_residual(g * gain, u, _stat_inv_spread(g * gain), window_sigma_px=2.0, max_shift_px=1.0,
                              context_sigma_px=context_sigma_px)


def _part_peak(zmap: np.ndarray, k: int) -> float:
    cx, cy = PARTS[k]
    return float(zmap[cy - 6: cy + 7, cx - 8: cx + 9].max())


def test_sub_pixel_shifts_noise_and_tone_stay_low():
    golden = render()
    for dx, dy, tone, noise in [(0.5, 0.0, 1.0, 0.0), (-0.375, 0.5, 1.0, 0.0), (0.75, -0.25, 1.0, 0.0),
                                (0.25, 0.25, 0.8, 2.0), (0.0, 0.0, 1.15, 2.0)]:
        z = _score(render(dx, dy, tone=tone, noise=noise, seed=int(10 * dx + 3)), golden)
        assert z[4:-4, 4:-4].max() < 3.0, (dx, dy, tone, noise, float(z.max()))


def test_a_missing_or_moved_small_part_stands_out():
    golden = render()
    for kw in ({"missing": 1}, {"moved": 4}):
        unit = render(0.25, -0.25, noise=2.0, seed=1, **kw)
        z = _score(unit, golden)
        k = kw.get("missing", kw.get("moved"))
        assert _part_peak(z, k) > 10.0, (kw, _part_peak(z, k))
        others = [_part_peak(z, j) for j in range(len(PARTS)) if j != k]
        assert max(others) < 3.0, (kw, others)


def test_focus_and_contrast_changes_stay_low(context: float = 0.0):
    golden = render()
    soft = cv2.GaussianBlur(render(0.25, 0.0), (0, 0), 0.7)
    z = _score(soft, golden, context)
    assert z[4:-4, 4:-4].max() < 3.0, float(z.max())
    sharp_golden = cv2.GaussianBlur(golden, (0, 0), 0.7)  # a soft golden mean, a sharp unit
    z = _score(render(-0.25, 0.25), sharp_golden, context)
    assert z[4:-4, 4:-4].max() < 3.0, float(z.max())
    # gloss: the contrast of the board's structure around its mean is 1.5x
    img = render(0.0, 0.25).astype(np.float32)
    loc = cv2.GaussianBlur(img, (0, 0), 3.0)
    glossy = np.clip(loc + 1.5 * (img - loc), 0, 255).astype(np.uint8)
    z = _score(glossy, golden, context)
    assert z[4:-4, 4:-4].max() < 3.0, float(z.max())


def test_a_part_whose_own_contrast_fades_is_not_a_focus_or_gloss_change():
    """One part's body fading halfway to its surroundings (a part gone whose place is darker than
    its pads, the zoo's hand-held pcba) is what a contrast change of -0.5 fitted over the part's
    own window explains; estimated from the surroundings (``context_sigma_px``), it is not, while
    the whole board's contrast halved (gloss) still is."""
    golden = render()
    img = render(0.25, -0.25, noise=2.0, seed=1).astype(np.float32)
    loc = cv2.GaussianBlur(img, (0, 0), 2.0)
    faded = loc + 0.5 * (img - loc)
    cx, cy = PARTS[1]
    w = np.zeros(img.shape[:2], np.float32)
    w[cy - 2:cy + 3, cx - 3:cx + 4] = 1.0  # the body, inside the terminations
    w = cv2.GaussianBlur(w, (0, 0), 0.7)[..., None]
    part = np.clip(img + w * (faded - img), 0, 255).astype(np.uint8)
    board = np.clip(faded, 0, 255).astype(np.uint8)
    z_old, z_new = _score(part, golden), _score(part, golden, 8.0)
    assert _part_peak(z_old, 1) < 3.0, _part_peak(z_old, 1)  # read as the part's window's gloss
    assert _part_peak(z_new, 1) > 4.5, _part_peak(z_new, 1)
    assert max(_part_peak(z_new, j) for j in range(len(PARTS)) if j != 1) < 3.0
    assert _score(board, golden, 8.0)[4:-4, 4:-4].max() < 3.0
    # focus either way stays low with the context too
    assert _score(cv2.GaussianBlur(render(0.25, 0.0), (0, 0), 0.7), golden, 8.0)[4:-4, 4:-4].max() < 3.0
    assert _score(render(-0.25, 0.25), cv2.GaussianBlur(golden, (0, 0), 0.7), 8.0)[4:-4, 4:-4].max() < 3.0


def _lot(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [render(*rng.uniform(-0.4, 0.4, 2), tone=float(rng.uniform(0.9, 1.1)), noise=1.5, seed=seed * 100 + i)
            for i in range(n)]


def test_a_missing_part_is_found_from_the_golden_captures_alone():
    """A zone of a type whose structure every unit shares (``other``, the default) judges the
    residual from the golden captures, counted above the expected largest |z| of its samples."""
    zone = AnomalyZone(name="board", min_area_mm2=0.5)
    caps = _lot(3, 1)
    m = AnomalyModel.fit(caps, [zone], scale_mm_per_px=1 / PX_PER_MM)
    off = AnomalyModel.fit(caps, [zone], scale_mm_per_px=1 / PX_PER_MM,
                           config=AnomalyConfig(structure_from_golden=False))
    missing = render(0.2, 0.1, noise=1.5, seed=9, missing=1)
    r = m.score(missing)
    assert r.score >= 1.0 and off.score(missing).score < 1.0, (r.score, off.score(missing).score)
    cx, cy = PARTS[1]
    assert any(d.bbox[0] - 4 <= cx <= d.bbox[2] + 4 and d.bbox[1] - 4 <= cy <= d.bbox[3] + 4 for d in r.defects)
    for good in _lot(4, 3):
        assert m.score(good).score < 1.0
    # a plating zone (highlights, plated assemblies move) waits for taught units
    plated = AnomalyModel.fit(caps, [AnomalyZone(name="board", min_area_mm2=0.5, defect_type="plating")],
                              scale_mm_per_px=1 / PX_PER_MM)
    assert plated.score(missing).score == off.score(missing).score


def test_the_model_judges_structure_once_production_units_are_taught():
    zone = AnomalyZone(name="board", min_area_mm2=0.5)
    caps = _lot(3, 1)
    # without the golden-only residual (as a package sealed before it, or a plating zone)
    m = AnomalyModel.fit(caps, [zone], scale_mm_per_px=1 / PX_PER_MM, config=AnomalyConfig(structure_from_golden=False))
    off = AnomalyModel.fit(caps, [zone], scale_mm_per_px=1 / PX_PER_MM, config=AnomalyConfig(structure_window_px=0.0))
    missing = render(0.2, 0.1, noise=1.5, seed=9, missing=1)
    # golden captures only (one physical unit): the variation model as it was
    assert m.score(missing).score == off.score(missing).score
    teach = _lot(MIN_GOOD_UNITS + 1, 2)
    m.add_good(teach)
    off.add_good(teach)
    assert m.n_good_units_ == MIN_GOOD_UNITS + 1
    r = m.score(missing)
    assert r.score >= 1.0 and r.score > 1.5 * off.score(missing).score, (r.score, off.score(missing).score)
    cx, cy = PARTS[1]
    assert any(d.bbox[0] - 4 <= cx <= d.bbox[2] + 4 and d.bbox[1] - 4 <= cy <= d.bbox[3] + 4 for d in r.defects)
    for good in _lot(4, 3):
        assert m.score(good).score < 1.0
    back = AnomalyModel.from_state(m.to_state())
    assert back.n_good_units_ == m.n_good_units_ and back.score(missing).score == r.score


def test_a_state_saved_before_the_context_fits_focus_and_contrast_in_the_window():
    zone = AnomalyZone(name="board", min_area_mm2=0.5)
    caps = _lot(3, 1)
    m = AnomalyModel.fit(caps, [zone], scale_mm_per_px=1 / PX_PER_MM)
    assert m.config.structure_context > 1.0
    state = m.to_state()
    del state["config"]["structure_context"]  # a package sealed before the option
    old = AnomalyModel.from_state(state)
    assert old.config.structure_context == 0.0
    ref = AnomalyModel.fit(caps, [zone], scale_mm_per_px=1 / PX_PER_MM, config=AnomalyConfig(structure_context=0.0))
    unit = render(0.2, 0.1, noise=1.5, seed=9, missing=1)
    assert old.score(unit).score == AnomalyModel.from_state(ref.to_state()).score(unit).score
    assert AnomalyModel.from_state(m.to_state()).score(unit).score == m.score(unit).score
