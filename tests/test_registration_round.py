"""A round product on a table (issue 13, item 4): the alignment's uncertainty is predicted where
the product is (the hull of its edge points), not at the mask's bounding-box corners, which for
a disc lie 0.41 r outside it; a plain disc, whose rotation nothing pins, is still refused."""

from __future__ import annotations

import cv2
import numpy as np

from goldenvision.registration import RegistrationModel, register
from goldenvision.registration.refine import _extent_corners
from goldenvision.transform import apply_homography

H, W = 360, 480
C = np.array([240.0, 180.0])
R = 120


def _dish(decal: bool, seed: int = 0) -> np.ndarray:
    """A glazed disc with a darker band near the rim on a plain table; with ``decal``, a printed
    pattern in the centre whose shape fixes the rotation."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W), 70, np.float32)
    cx, cy = int(C[0]), int(C[1])
    cv2.circle(img, (cx, cy), R, 200, -1, cv2.LINE_AA)
    cv2.circle(img, (cx, cy), R - 10, 150, 4, cv2.LINE_AA)
    if decal:
        for _ in range(40):
            p = C + rng.uniform(-40, 40, 2)
            q = p + rng.uniform(-15, 15, 2)
            cv2.line(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), float(rng.integers(20, 120)), 2, cv2.LINE_AA)
    return np.clip(cv2.GaussianBlur(img, (0, 0), 0.8), 0, 255).astype(np.uint8)


def _mask() -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (int(C[0]), int(C[1])), R + 12, 1, -1)
    return m > 0


def _pose(angle_deg: float, scale: float, seed: int) -> np.ndarray:
    """Reference -> unit homography: turned about the dish, scaled, shifted, slight perspective."""
    rng = np.random.default_rng(seed)
    th = np.radians(angle_deg)
    a = scale * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    h = np.eye(3)
    h[:2, :2] = a
    h[:2, 2] = C - a @ C + rng.uniform(-15, 15, 2)
    h[2, :2] = rng.uniform(-1e-4, 1e-4, 2)
    return h


def _photo(ref: np.ndarray, h_rm: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mov = cv2.warpPerspective(ref, h_rm, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=70)
    return np.clip(mov + rng.normal(0, 2, mov.shape), 0, 255).astype(np.uint8)


def test_uncertainty_is_predicted_on_the_product_not_the_bounding_box():
    model = RegistrationModel.fit(_dish(True), mask=_mask())
    for lvl in range(len(model.levels_)):
        pts = _extent_corners(model, lvl) * 2.0**lvl
        assert len(pts) >= 4
        # every point lies on the masked product (bounding-box corners would be 1.41 r out)
        assert np.max(np.linalg.norm(pts - C, axis=1)) <= (R + 12) + 2.0**lvl
    unmasked = RegistrationModel.fit(_dish(True), mask=None)
    assert np.allclose(_extent_corners(unmasked, 0), [[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]])


def test_dish_with_decal_is_aligned_accurately_on_the_dish():
    ref = _dish(True)
    h_rm = _pose(9.0, 1.06, seed=3)
    r = register(ref, _photo(ref, h_rm, seed=3), mask=_mask())
    assert r.ok, r.reason
    # true error on the dish's rim and centre (unit -> reference)
    ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    on_dish = np.vstack([C, C + R * np.c_[np.cos(ang), np.sin(ang)]])
    est = apply_homography(apply_homography(on_dish, h_rm), r.homography)
    assert np.max(np.linalg.norm(est - on_dish, axis=1)) < 0.5
    assert r.rms_px <= 0.2


def test_plain_disc_is_still_refused():
    """Nothing on a plain disc pins its rotation: refused, not aligned at a guessed angle."""
    ref = _dish(False)
    r = register(ref, _photo(ref, _pose(9.0, 1.06, seed=4), seed=4), mask=_mask())
    assert r.ok is False
