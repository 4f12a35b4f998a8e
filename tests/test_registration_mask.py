"""The registration mask of a product photographed on a table without a station (issue 13): the
spec's zones grown by a margin, kept within the product's own silhouette hull on a plain ground,
so that a ruler laid beside the product on a unit does not enter the alignment's evidence."""

from __future__ import annotations

import cv2
import numpy as np

from goldenvision.registration import RegistrationModel, register
from goldenvision.sealing import _spec_product_mask
from goldenvision.spec import load_spec
from goldenvision.transform import apply_homography

H, W = 360, 480
C = np.array([240.0, 180.0])
R = 80
TABLE = (150, 140, 125)


def _table(seed: int) -> np.ndarray:
    """A brown, grainy table (RGB float32)."""
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.normal(0, 5, (H, W)).astype(np.float32), (0, 0), 2.0)
    return np.array(TABLE, np.float32)[None, None] + grain[..., None]


def _dish_layer() -> tuple[np.ndarray, np.ndarray]:
    """A celadon dish with a gold band and an asymmetric decal: (RGB float32, coverage 0..1)."""
    rgb = np.zeros((H, W, 3), np.float32)
    rgb[:] = (150, 175, 150)
    cx, cy = int(C[0]), int(C[1])
    cv2.circle(rgb, (cx, cy), R - 12, (215, 180, 95), 5, cv2.LINE_AA)
    rng = np.random.default_rng(7)
    for _ in range(25):
        p = C + rng.uniform(-35, 35, 2)
        q = p + rng.uniform(-14, 14, 2)
        cv2.line(rgb, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), (60, 70, 160), 2, cv2.LINE_AA)
    cv2.ellipse(rgb, (cx + 20, cy - 22), (9, 6), 30.0, 0, 360, (190, 70, 60), -1, cv2.LINE_AA)
    alpha = np.zeros((H, W), np.float32)
    cv2.circle(alpha, (cx, cy), R, 1.0, -1, cv2.LINE_AA)
    return rgb, alpha


def _scene(seed: int, h_rm: np.ndarray | None = None, ruler_at: float | None = None) -> np.ndarray:
    """The dish on the table (moved by ``h_rm``, golden -> unit px), with a white ruler whose near
    edge lies ``ruler_at`` px (golden) below the dish's centre when given; noisy uint8 RGB."""
    rgb, alpha = _dish_layer()
    h = np.eye(3) if h_rm is None else h_rm
    rgb = cv2.warpPerspective(rgb, h, (W, H), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(alpha, h, (W, H), flags=cv2.INTER_LINEAR)
    img = _table(seed) * (1 - alpha[..., None]) + rgb * alpha[..., None]
    if ruler_at is not None:
        # the ruler lies on the table beside the dish: drawn in golden px, moved with the dish's pose
        ruler = np.zeros((H, W), np.float32)
        y0 = int(C[1] + ruler_at)
        cv2.rectangle(ruler, (int(C[0]) - 150, y0), (int(C[0]) + 150, y0 + 60), 1.0, -1)
        for x in range(int(C[0]) - 145, int(C[0]) + 146, 8):
            cv2.line(ruler, (x, y0 + 2), (x, y0 + 12), 0.0, 1)
        ruler = cv2.warpPerspective(ruler, h, (W, H), flags=cv2.INTER_LINEAR)
        img = img * (1 - ruler[..., None]) + np.float32(240) * ruler[..., None]
    img += np.random.default_rng(seed + 100).normal(0, 2, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _spec() -> object:
    """Zones as a buyer draws them on a round product: a disc over the dish and its edge, reaching
    onto the table (the edge and a chip in it are judged), golden px."""
    ang = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    poly = (C + (R + 15) * np.c_[np.cos(ang), np.sin(ang)]).round(2).tolist()
    return load_spec({"product": "dish", "revision": "A", "scale_mm_per_px": 0.2, "registration": "auto",
                      "anomaly_zones": [{"name": "dish", "region": poly, "defect_type": "other"}]})


def _radius_kept(mask: np.ndarray) -> float:
    """Farthest px of ``mask`` from the dish's centre."""
    ys, xs = np.nonzero(mask)
    return float(np.hypot(xs - C[0], ys - C[1]).max())


def test_mask_is_kept_within_the_products_silhouette_on_a_plain_ground():
    golden = _scene(1)
    spec = _spec()
    grown = _spec_product_mask(spec, (H, W))
    tight = _spec_product_mask(spec, (H, W), golden)
    assert grown is not None and tight is not None
    assert np.all(tight <= grown)
    # the spec's hull grown by 4 % of the diagonal (24 px) reaches 119 px from the centre; the
    # silhouette's hull grown by 2 % (12 px) about 92 px: the outline (80 px) and the table just
    # beyond it stay, the table farther out goes
    assert _radius_kept(grown) > R + 15 + 20
    assert R + 8 <= _radius_kept(tight) <= R + 15
    yy, xx = np.mgrid[:H, :W]
    disc = np.hypot(xx - C[0], yy - C[1]) <= R + 8
    assert np.all(tight[disc])


def test_mask_is_the_specs_when_no_product_stands_out_of_a_plain_ground():
    spec = _spec()
    grown = _spec_product_mask(spec, (H, W))
    # a textured scene filling the frame: no ground to tell the product from
    rng = np.random.default_rng(3)
    busy = cv2.resize(rng.integers(0, 255, (H // 8, W // 8, 3), dtype=np.uint8), (W, H),
                      interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(_spec_product_mask(spec, (H, W), busy), grown)
    # the dish the table's colour, only its decal standing out: the silhouette is a part of the
    # product, far short of the spec's zones, so the spec's area stands
    rgb, alpha = _dish_layer()
    decal_only = _table(1)
    ink = np.abs(rgb - np.array((150, 175, 150), np.float32)).sum(-1) > 60
    decal_only[ink & (alpha > 0.5)] = rgb[ink & (alpha > 0.5)]
    assert np.array_equal(_spec_product_mask(spec, (H, W), np.clip(decal_only, 0, 255).astype(np.uint8)), grown)


def test_a_ruler_beside_the_dish_does_not_take_the_alignment(monkeypatch):
    """Known answer: the unit is the dish turned 12 degrees, 6 % larger, slightly in perspective,
    with a white ruler on the table 13 px (golden) beyond its rim, inside the spec's grown area.
    Keypoints are turned off, as on a dish whose sparse decal gives too few of them (the zoo's
    ceramic): the correlation checks then decide. Within the spec's grown area the ruler drags the
    correlation over the mask under its bound and the unit is refused; within the dish's
    silhouette it is aligned to a few hundredths of a px."""
    import goldenvision.registration.align as align

    monkeypatch.setattr(align, "_features_candidate", lambda *a, **k: (None, 0, "features off", None, None))
    golden = _scene(1)
    th = np.radians(12.0)
    a = 1.06 * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    h_rm = np.eye(3)
    h_rm[:2, :2] = a
    h_rm[:2, 2] = C - a @ C + (9.0, -6.0)
    h_rm[2, :2] = (6e-5, -4e-5)
    unit = _scene(2, h_rm, ruler_at=R + 13)
    ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    on_dish = np.vstack([C, C + R * np.c_[np.cos(ang), np.sin(ang)]])

    def error_px(mask: np.ndarray) -> float:
        r = register(golden, unit, model=RegistrationModel.fit(golden, mask=mask))
        if not r.ok:
            return np.inf
        est = apply_homography(apply_homography(on_dish, h_rm), r.homography)
        return float(np.max(np.linalg.norm(est - on_dish, axis=1)))

    assert error_px(_spec_product_mask(_spec(), (H, W), golden)) < 0.1
    assert not error_px(_spec_product_mask(_spec(), (H, W))) < 0.5
