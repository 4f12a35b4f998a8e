"""The local alignment's radius is fitted on the golden captures: a rigid part whose captures
agree is not realigned by 3 px, so a hole 4 px out of position is found; captures that do move
against each other (a soft product, a print that wanders) keep the radius they need."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.spec import AnomalyZone

H, W = 200, 280
SCALE = 0.2  # mm per px
HOLES = [(70, 70), (140, 70), (210, 70), (70, 130), (140, 130), (210, 130)]
ZONE = AnomalyZone(name="body", defect_type="finish", min_area_mm2=1.0)


def part(moved: tuple[int, int, float, float] | None = None,
         rng: np.random.Generator | None = None) -> np.ndarray:
    """A grey moulded plate with six dark holes (r 9 px) and a dark bar; ``moved`` = (x, y, dx,
    dy) moves the hole at (x, y)."""
    img = np.full((H, W, 3), 40.0, np.float32)
    cv2.rectangle(img, (30, 30), (250, 170), (170, 172, 168), -1)
    s = 8
    big = np.zeros((H * s, W * s), np.uint8)
    for x, y in HOLES:
        if moved is not None and (x, y) == moved[:2]:
            x, y = x + moved[2], y + moved[3]
        cv2.circle(big, (int(round(x * s)), int(round(y * s))), 9 * s, 255, -1)
    cv2.rectangle(big, (100 * s, 95 * s), (180 * s, 105 * s), 255, -1)
    cover = cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255.0
    img = img * (1 - cover) + 25.0 * cover
    rng = rng or np.random.default_rng(0)
    return np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8)


def fit(captures: list[np.ndarray], **cfg: object) -> AnomalyModel:
    return AnomalyModel.fit(captures, [ZONE], scale_mm_per_px=SCALE, config=AnomalyConfig(**cfg))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rigid() -> tuple[list[np.ndarray], AnomalyModel, dict]:
    """Three captures of the rigid part, their model (fitted once: the tests only score it and read
    its state) and the state of the generator after the captures."""
    rng = np.random.default_rng(1)
    caps = [part(rng=rng) for _ in range(3)]
    return caps, fit(caps), rng.bit_generator.state


def test_a_rigid_part_gets_a_one_px_radius_and_a_moved_hole_is_found(rigid):
    caps, m, state = rigid
    rng = np.random.default_rng()
    rng.bit_generator.state = state  # draws on as after the captures
    assert m.local_radius_px_ == 1
    moved = part((140, 130, 4.0, 1.0), rng=rng)
    res = m.score(moved)
    assert res.score >= 1.0
    assert any(d.bbox[0] - 3 <= 140 <= d.bbox[2] + 3 and d.bbox[1] - 3 <= 130 <= d.bbox[3] + 3 for d in res.defects)
    assert m.score(part(rng=rng)).score < 1.0
    # the former fixed radius realigns the moved hole away
    old = fit(caps, local_shift_from_golden=False)
    assert old.local_radius_px_ is None
    assert old.score(moved).score < 1.0


def bent(img: np.ndarray, dx: float) -> np.ndarray:
    """The right half moved by ``dx`` px, blending over 40 px (a soft or flexible product)."""
    gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    t = np.clip((gx - W / 2 + 20) / 40, 0, 1)
    return cv2.remap(img, gx - dx * t, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_captures_that_move_keep_a_wider_radius():
    rng = np.random.default_rng(2)
    caps = [bent(part(rng=rng), d) for d in (0.0, 1.5, -1.5)]
    m = fit(caps)
    assert m.local_radius_px_ is not None and m.local_radius_px_ >= 2
    # and a unit bent as much as the captures is not flagged for it
    assert m.score(bent(part(rng=rng), 1.5)).score < 1.0


def test_states_keep_the_radius_and_old_states_align_as_before(rigid):
    _, m, _ = rigid
    st = m.to_state()
    assert AnomalyModel.from_state(st).local_radius_px_ == 1
    st.pop("local_radius_px")
    st["config"].pop("local_shift_from_golden")
    old = AnomalyModel.from_state(st)
    assert old.local_radius_px_ is None and not old.config.local_shift_from_golden


def test_one_capture_keeps_the_configured_radius():
    # a single template (DeepPCB's pre-aligned scans): nothing to fit the radius on (a 120 x 160 px
    # window of the part with four of its holes: the rule is about the count of captures, not their size)
    assert fit([np.ascontiguousarray(part()[40:160, 40:200])]).local_radius_px_ is None
