"""Local residual misalignment: undone where the map is hot, never at a real defect's cost."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.anomaly.local_shift import apply_shift_field, local_shift_field
from goldenvision.spec import AnomalyZone

H, W = 240, 320
SCALE = 1 / 48  # mm per px, a PCB scan


def board() -> np.ndarray:
    """A binarised board: black traces and pads on white."""
    img = np.full((H, W, 3), 250, np.uint8)
    rng = np.random.default_rng(3)
    for _ in range(14):
        y = int(rng.integers(10, H - 10))
        cv2.line(img, (5, y), (W - 5, y + int(rng.integers(-40, 40))), (5, 5, 5), int(rng.integers(3, 8)))
    for _ in range(10):
        cv2.circle(img, (int(rng.integers(10, W - 10)), int(rng.integers(10, H - 10))), int(rng.integers(4, 10)),
                   (5, 5, 5), -1)
    return img


def warp_right_half(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The right half moved by (dx, dy) px, blending smoothly over 40 px (a scanner's distortion)."""
    gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    t = np.clip((gx - W / 2 + 20) / 40, 0, 1)
    return cv2.remap(img, gx - dx * t, gy - dy * t, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@functools.cache  # one fit per configuration for the module's tests, which only score the models
def model(cfg: AnomalyConfig | None = None) -> AnomalyModel:
    zone = AnomalyZone(name="board", min_area_mm2=0.02)
    return AnomalyModel.fit([board()], [zone], scale_mm_per_px=SCALE, config=cfg)


def test_the_field_recovers_a_local_shift_and_stays_zero_elsewhere():
    g = cv2.cvtColor(board(), cv2.COLOR_RGB2GRAY).astype(np.float32)
    u = cv2.cvtColor(warp_right_half(board(), 3.0, -3.0), cv2.COLOR_RGB2GRAY).astype(np.float32)
    hot = np.abs(u - g) > 100
    field = local_shift_field(g, u, hot, radius=3, block_px=48, trunc=32.0)
    assert field is not None
    fx, fy = field
    # u(x + d) = g(x): the right half moved by +3, -3 -> d = (+3, -3) there, 0 on the left
    assert np.median(fx[:, W - 80:]) == 3.0 and np.median(fy[:, W - 80:]) == -3.0
    assert np.abs(fx[:, :80]).max() == 0 and np.abs(fy[:, :80]).max() == 0
    back, valid = apply_shift_field(u, np.ones((H, W), bool), field)
    assert valid[4:, : W - 4].all() and not valid[0, W - 10 :].any()  # moved in from outside the frame: invalid
    assert (np.abs(back - g)[:, W - 80 : W - 10] > 100).mean() < 0.2 * (hot[:, W - 80 : W - 10]).mean()


def test_a_misaligned_unit_keeps_its_thin_defect_and_loses_its_doubled_edges():
    m = model()
    unit = warp_right_half(board(), 3.0, -3.0)
    # a thin cut (3 px x 14 px) across a region of copper on the left half
    cut = board()
    ys, xs = np.nonzero(cut[:, : W // 2 - 40, 0] < 100)
    y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
    unit[y - 7 : y + 7, x - 1 : x + 2] = 250
    r = m.score(unit)
    assert any(d.bbox[0] - 4 <= x <= d.bbox[2] + 4 and d.bbox[1] - 4 <= y <= d.bbox[3] + 4 for d in r.defects)
    # no defect reported on the misaligned right half
    assert not [d for d in r.defects if (d.bbox[0] + d.bbox[2]) / 2 > W / 2 + 20], [d.bbox for d in r.defects]
    # without the local alignment (nor the global affine, which absorbs part of a half-board
    # distortion), the doubled edges are reported there
    off = model(AnomalyConfig(local_shift_px=0, max_residual_strain=0.0)).score(unit)
    assert [d for d in off.defects if (d.bbox[0] + d.bbox[2]) / 2 > W / 2 + 20]


def test_a_good_unit_is_left_alone():
    m = model()
    r = m.score(board())
    assert r.score < 1.0 and not r.defects
    assert m._local_shift(board(), np.ones((H, W), bool), {"board": np.zeros((H, W), np.float32)}) is None


def scanned_at_another_scale(img: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """The board scanned with a scale error of (sx, sy) about the top-left corner (a scanner's
    calibration): the displacement grows across the frame, (sx W, sy H) px at the far corner."""
    m = np.float32([[1 + sx, 0, 0], [0, 1 + sy, 0]])
    return cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_a_residual_scale_is_undone_and_a_real_defect_kept():
    """A 2.8 % x -1.2 % scale error moves the far side by 9 px: neither the global shift (the mean
    displacement) nor the local alignment (3 px) undoes it, and edges away from the centre are
    reported as defects; the residual affine (ECC) removes them and keeps a thin cut."""
    m = model(AnomalyConfig(max_residual_strain=0.03))  # what seal sets for `registration: none`
    unit = scanned_at_another_scale(board(), 0.028, -0.012)
    aff = m.residual_affine(unit, np.ones((H, W), bool), m.residual_shift_px(unit, np.ones((H, W), bool)))
    assert aff is not None
    # golden px -> unit px: the scan's own scale, recovered within 0.3 %
    assert aff[0, 0] == pytest.approx(1.028, abs=0.003) and aff[1, 1] == pytest.approx(0.988, abs=0.003)
    assert abs(aff[0, 1]) < 0.003 and abs(aff[1, 0]) < 0.003
    assert np.hypot(*(aff[:, :2] @ [W - 1, H - 1] + aff[:, 2] - 1.0 * np.array([(W - 1) * 1.028, (H - 1) * 0.988]))) < 0.5
    good = m.score(unit)
    assert good.score < 1.0 and not good.defects
    off = model().score(unit)  # the default: a registration has fitted scale and rotation
    assert off.score > 1.0 and off.defects  # translation + local alignment alone: the misplaced copper is reported
    # a thin cut across copper near the far corner, where the misalignment is largest
    cut = board()
    ys, xs = np.nonzero(cut[H // 2 :, W - 90 : W - 30, 0] < 100)
    y, x = int(ys[len(ys) // 2]) + H // 2, int(xs[len(xs) // 2]) + W - 90
    damaged = cut.copy()
    damaged[y - 7 : y + 7, x - 1 : x + 2] = 250
    unit = scanned_at_another_scale(damaged, 0.028, -0.012)
    ux, uy = x * 1.028, y * 0.988  # where the cut lies in the scan
    r = m.score(unit)
    assert len(r.defects) == 1, [d.bbox for d in r.defects]
    x1, y1, x2, y2 = r.defects[0].bbox  # golden px: the cut's place on the golden
    assert x1 - 4 <= x <= x2 + 4 and y1 - 4 <= y <= y2 + 4, (r.defects[0].bbox, (x, y), (ux, uy))


def test_no_residual_affine_on_an_aligned_unit():
    m = model(AnomalyConfig(max_residual_strain=0.03))
    assert m.residual_affine(board(), np.ones((H, W), bool)) is None
    unit = scanned_at_another_scale(board(), 0.028, -0.012)
    assert model().residual_affine(unit, np.ones((H, W), bool)) is None  # off by default


def test_seal_undoes_a_residual_scale_only_without_registration():
    """Through the public API: ``registration: none`` seals a model that undoes a scanner's scale
    error; with a registration the linear residual is left to it (the product's own otherwise)."""
    import goldenvision as gv

    spec = {"product": "pcb", "scale_mm_per_px": SCALE, "registration": "none",
            "anomaly_zones": [{"name": "board", "region": "full", "min_area_mm2": 0.02}]}
    golden = gv.seal([board()], spec)
    assert golden.states["anomaly"]["config"]["max_residual_strain"] == pytest.approx(0.03)
    res = gv.inspect(scanned_at_another_scale(board(), 0.028, -0.012), golden)
    assert not res.defects and res.anomaly_score < 1.0
    registered = gv.seal([board()], {**spec, "registration": "affine"})
    assert registered.states["anomaly"]["config"]["max_residual_strain"] == 0.0
