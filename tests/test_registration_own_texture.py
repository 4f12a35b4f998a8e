"""A product whose surface texture is its own (every board its grain): aligned on the gray in
which it stands out of its ground (goldenvision.registration._base._silhouette_gray_weights,
used by the Inspector when the sealed model refuses a unit)."""

from __future__ import annotations

import cv2
import numpy as np

from goldenvision.registration import RegistrationModel, register
from goldenvision.registration._base import _silhouette_gray_weights
from goldenvision.registration.refusal import RefusalCode
from goldenvision.transform import apply_homography

H, W = 360, 480
BOARD = (120, 90, 360, 250)  # x0, y0, x1, y1 (golden px)
TAN, GROUND = np.array([190.0, 150.0, 100.0]), np.array([120.0, 125.0, 135.0])


MARK = np.array([70.0, 50.0, 40.0])


def board(grain_seed: int, h_unit_to_golden: np.ndarray | None = None, *, tan: np.ndarray = TAN,
          plain: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 RGB: a tan board with a hole and two dark marks on a gray-blue ground,
    its surface crossed by strong lightness grain drawn from ``grain_seed`` (a new board: new
    grain); the board placed by ``h_unit_to_golden`` (unit px -> golden px; None: identity).
    ``plain``: no hole and no marks (only the rectangle pins the pose, up to a half turn).

    Drawn at 4 x 4 samples per px; each sample is one of five colours (ground, mark, the grain's
    dark, mid and light tan), so a sample is labelled and coloured through a table, and in the
    golden's own frame (no homography) a sample's grain phase depends on its column alone."""
    rng = np.random.default_rng(grain_seed)
    ss = 4  # drawn at 4 x 4 samples per px (sample centres at px centres), then averaged: no jaggies
    ys = (np.arange(H * ss, dtype=np.float32) + 0.5) / ss - 0.5
    xs = (np.arange(W * ss, dtype=np.float32) + 0.5) / ss - 0.5
    if h_unit_to_golden is None:
        xx, yy = xs[None, :], ys[:, None]  # broadcast to the full sample grid below
    else:  # sample the golden-frame board at each unit px's golden position
        h = np.asarray(h_unit_to_golden, np.float64)
        ux, uy = np.meshgrid(xs.astype(np.float64), ys.astype(np.float64))
        w = ux * h[2, 0] + uy * h[2, 1] + h[2, 2]
        xx = ((ux * h[0, 0] + uy * h[0, 1] + h[0, 2]) / w).astype(np.float32)
        yy = ((ux * h[1, 0] + uy * h[1, 1] + h[1, 2]) / w).astype(np.float32)
    # grain: rings along x, 6-12 px apart, wandering, +-45 gray of lightness
    phase = np.zeros(xx.shape, np.float32)
    for _ in range(3):
        k, a, p = rng.uniform(0.01, 0.04), rng.uniform(4, 12), rng.uniform(0, 2 * np.pi)
        phase = phase + a * np.sin(k * xx + p)
    period = rng.uniform(6, 12)
    grain_sign = np.sign(np.sin(2 * np.pi * (yy + phase) / period + rng.uniform(0, 2 * np.pi)))  # -1, 0, 1
    x0, y0, x1, y1 = BOARD
    inside = (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)
    label = np.where(inside, (grain_sign + 3).astype(np.uint8), np.uint8(0))  # 0 ground, 1 mark, 2-4 grain
    if not plain:
        hole = (xx - 330) ** 2 + (yy - 170) ** 2 <= 12**2
        marks = ((xx >= 160) & (xx <= 230) & (yy >= 140) & (yy <= 152)) | ((xx >= 160) & (xx <= 200) & (yy >= 170)
                                                                          & (yy <= 200))
        label = np.where(inside & marks, np.uint8(1), label)
        label = np.where(inside & hole, np.uint8(0), label)
    grain = np.array([-1.0, 0.0, 1.0], np.float32) * np.float32(45.0)
    surface = tan[None, :] + grain[:, None] * (tan / tan.mean())[None, :]
    colours = np.vstack([GROUND[None, :], MARK[None, :], surface]).astype(np.float32)
    img = cv2.resize(colours[label], (W, H), interpolation=cv2.INTER_AREA)
    img += np.random.default_rng(grain_seed + 1000).normal(0, 2.0, img.shape)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.7)
    return np.clip(img, 0, 255).astype(np.uint8)


def _masks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = BOARD
    product = np.zeros((H, W), bool)
    product[y0 + 6:y1 - 5, x0 + 6:x1 - 5] = True
    ground = np.ones((H, W), bool)
    ground[y0 - 6:y1 + 7, x0 - 6:x1 + 7] = False
    mask = np.zeros((H, W), bool)
    mask[y0 - 15:y1 + 16, x0 - 15:x1 + 16] = True
    return product, ground, mask


def _error_on_board(h_est: np.ndarray, h_true: np.ndarray) -> float:
    x0, y0, x1, y1 = BOARD
    c = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    back = apply_homography(c, np.linalg.inv(h_true))
    return float(np.linalg.norm(apply_homography(back, h_est) - c, axis=1).max())


def test_own_grain_aligns_on_the_silhouette_gray_not_on_the_luminance():
    a = np.deg2rad(4.0)
    h_true = np.array([[np.cos(a), -np.sin(a), 9.0], [np.sin(a), np.cos(a), -6.0], [0, 0, 1.0]])  # unit -> golden
    golden, unit = board(1), board(2, h_true)
    product, ground, mask = _masks()
    weights = _silhouette_gray_weights(golden, product, ground)
    assert weights is not None
    assert abs(sum(abs(v) for v in weights) - 1.0) < 1e-9 and sum(weights) > 0
    # the luminance shows the golden's grain, which is not the unit's: no alignment near the truth
    plain = register(golden, unit, model=RegistrationModel.fit(golden, mask=mask))
    assert not (plain.ok and _error_on_board(plain.homography, h_true) < 1.0)
    res = register(golden, unit, model=RegistrationModel.fit(golden, mask=mask, gray_weights=weights))
    assert res.ok, res.reason
    assert _error_on_board(res.homography, h_true) < 0.1


def test_a_plain_board_with_its_own_grain_stays_ambiguous_on_the_silhouette_gray():
    # the outline alone fits as well turned by 180 degrees, and the grain is no evidence: refused
    a = np.deg2rad(4.0)
    h_true = np.array([[np.cos(a), -np.sin(a), 9.0], [np.sin(a), np.cos(a), -6.0], [0, 0, 1.0]])
    golden, unit = board(1, plain=True), board(5, h_true, plain=True)
    product, ground, mask = _masks()
    weights = _silhouette_gray_weights(golden, product, ground)
    assert weights is not None
    res = register(golden, unit, model=RegistrationModel.fit(golden, mask=mask, gray_weights=weights))
    assert not res.ok
    assert res.refusal is RefusalCode.AMBIGUOUS


def test_no_silhouette_gray_when_the_colour_adds_nothing():
    # a board of the ground's own hue, lighter: the luminance already shows it as well as any colour
    golden = board(1, tan=GROUND * 1.5)
    product, ground, _ = _masks()
    assert _silhouette_gray_weights(golden, product, ground) is None
    # too few samples: None, not a guess
    assert _silhouette_gray_weights(golden, np.zeros((H, W), bool), ground) is None


def test_inspector_aligns_a_unit_with_its_own_grain():
    import goldenvision as gv
    from goldenvision.pipeline import Inspector

    x0, y0, x1, y1 = BOARD
    spec = {"product": "grain-board", "revision": "A", "scale_mm_per_px": 0.2, "registration": "auto",
            "anomaly_zones": [{"name": "surface", "region": [[x0 - 3, y0 - 3], [x1 + 3, y0 - 3], [x1 + 3, y1 + 3],
                                                            [x0 - 3, y1 + 3]],
                               "defect_type": "finish", "severity": "major"}]}
    # one golden board: one grain (one capture: the registration models are fitted on the reference
    # alone, and a second capture of the same board only adds to the anomaly model's fit)
    golden = gv.seal([board(1)], gv.load_spec(spec))
    a = np.deg2rad(-3.0)
    h_true = np.array([[np.cos(a), -np.sin(a), -7.0], [np.sin(a), np.cos(a), 5.0], [0, 0, 1.0]])
    inspector = Inspector(golden)
    reg = inspector.inspect(board(7, h_true)).registration  # another board: its own grain
    assert reg.ok, reg.reason
    assert _error_on_board(reg.homography, h_true) < 0.1
    # aligned by the retry on the silhouette gray, the sealed (luminance) model having refused it
    assert isinstance(inspector._silhouette_registration, RegistrationModel)
    # before the whole photo was tried (a refusal costs several times the silhouette's alignment)
    assert inspector._whole_registration is None


def test_the_scale_marker_is_painted_out_of_the_silhouette_retry():
    from goldenvision.measure.marker import MarkerFrame
    from goldenvision.pipeline import _without_marker

    frame = board(3)
    cells = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), 7, 48,
                                          borderBits=1)
    frame[268:336, 28:96] = 245  # the white paper round it
    frame[278:326, 38:86] = np.repeat(cells[..., None], 3, axis=2)
    corners = np.array([[38, 278], [85, 278], [85, 325], [38, 325]], np.float64)
    out = _without_marker(frame, MarkerFrame(corners_px=corners, size_mm=20.0, homography=np.eye(3)))
    assert out is not frame and np.array_equal(frame[:, 120:], out[:, 120:])  # the board untouched
    assert float(out[268:336, 28:96].reshape(-1, 3).astype(np.float64).std(axis=0).max()) < 5.0  # marker, paper gone
    assert np.allclose(out[300, 60], GROUND, atol=8)  # in the ground's colour
    assert _without_marker(frame, None) is frame


def test_a_golden_of_several_boards_aligns_on_the_silhouette_gray_and_units_start_there():
    """Golden captures of several boards (each its own grain) align on the silhouette's gray at
    sealing, precisely and without the outline fallback; the package says so, and a unit is then
    aligned on that gray first."""
    import goldenvision as gv
    from goldenvision.pipeline import Inspector
    from goldenvision.sealing import SILHOUETTE_FIRST_KEY

    x0, y0, x1, y1 = BOARD
    spec = {"product": "grain-board", "revision": "A", "scale_mm_per_px": 0.2, "registration": "auto",
            "anomaly_zones": [{"name": "surface", "region": [[x0 - 3, y0 - 3], [x1 + 3, y0 - 3], [x1 + 3, y1 + 3],
                                                            [x0 - 3, y1 + 3]],
                               "defect_type": "finish", "severity": "major"}]}
    poses = [np.eye(3)]
    for ang, dx, dy in ((2.0, 4.0, -3.0), (-2.5, -5.0, 2.0)):
        a = np.deg2rad(ang)
        poses.append(np.array([[np.cos(a), -np.sin(a), dx], [np.sin(a), np.cos(a), dy], [0, 0, 1.0]]))
    captures = [board(11 + k, None if k == 0 else h) for k, h in enumerate(poses)]
    golden = gv.seal(captures, gv.load_spec(spec))
    assert "alignment_fallback" not in golden.meta and golden.meta[SILHOUETTE_FIRST_KEY] is True
    # photos without a station: their held-out scores never replace the texture's floor
    from goldenvision.pipeline import StageModels

    anomaly = StageModels.from_golden(golden).anomaly
    assert anomaly.config.captures_texture_ratio == 0.0 and not anomaly.zones_[0].captures_vary
    # the captures were aligned precisely: their recorded registrations predict well under a px
    assert all(c["registration_rms_px"] < 0.2 for c in golden.meta["captures"][1:])
    # a golden of one board (its grain in every capture) aligns on the luminance as before
    same = [board(11, None if k == 0 else h) for k, h in enumerate(poses)]
    assert gv.seal(same, gv.load_spec(spec)).meta[SILHOUETTE_FIRST_KEY] is False
    a = np.deg2rad(3.0)
    h_true = np.array([[np.cos(a), -np.sin(a), 6.0], [np.sin(a), np.cos(a), -4.0], [0, 0, 1.0]])
    inspector = Inspector(golden)
    reg = inspector.inspect(board(29, h_true)).registration
    assert reg.ok, reg.reason
    assert _error_on_board(reg.homography, h_true) < 0.1
    assert isinstance(inspector._silhouette_registration, RegistrationModel)
    assert inspector._whole_registration is None  # the sealed model's refusal and retry never needed
