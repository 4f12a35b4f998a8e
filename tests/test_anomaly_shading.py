"""A soft highlight that moves with the light (a glaze's reflection under a hand-held photo's
light) is not a defect when the model has a smooth shading field (``shading_sigma_mm``); a small
spot under it still is, and states saved without the key keep the old comparison."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.spec import AnomalyZone

H, W = 240, 320
C = (160, 120)
SCALE = 0.2  # mm/px
SPOT = (190, 100)


def _dish(highlight: float = 0.0, spot: bool = False) -> np.ndarray:
    """A pale glazed dish on a plain ground; a white highlight (sigma 10 mm, ``highlight`` x the
    glaze at its peak) at the lower left; a dark spot (r 0.8 mm) at ``SPOT``."""
    img = np.full((H, W, 3), 150.0, np.float32)
    cv2.circle(img, C, 100, (170, 175, 165), -1, cv2.LINE_AA)
    cv2.circle(img, C, 88, (160, 165, 150), 3, cv2.LINE_AA)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    g = np.exp(-((xx - 120) ** 2 + (yy - 150) ** 2) / (2 * 50.0**2))
    dish = (np.hypot(xx - C[0], yy - C[1]) < 100).astype(np.float32)
    img = img * (1 + highlight * g * dish)[..., None]
    if spot:
        cv2.circle(img, SPOT, 4, (110, 115, 105), -1, cv2.LINE_AA)
    return img


def _shoot(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img + rng.normal(0, 1.5, (H, W, 3)) + 0.5, 0, 255).astype(np.uint8)


@functools.cache  # each model is fitted once for the module's tests, which only score it and read its state
def _fit(sigma_mm: float) -> AnomalyModel:
    rng = np.random.default_rng(0)
    caps = [_shoot(_dish(), rng) for _ in range(3)]
    return AnomalyModel.fit(caps, [AnomalyZone(name="dish", defect_type="finish")], scale_mm_per_px=SCALE,
                            config=AnomalyConfig(shading_sigma_mm=sigma_mm))


def test_a_moving_highlight_is_not_a_defect_with_the_shading_field():
    rng = np.random.default_rng(1)
    lit = _shoot(_dish(highlight=0.3), rng)
    assert _fit(0.0).score(lit).score >= 1.0  # without the field: the highlight is flagged
    on = _fit(6.0)
    assert on.score(lit).score < 1.0
    assert on.score(_shoot(_dish(), rng)).score < 1.0
    # a small spot under the highlight is still found, at its place
    res = on.score(_shoot(_dish(highlight=0.3, spot=True), rng))
    assert res.score >= 1.0
    assert any(d.bbox[0] - 3 <= SPOT[0] <= d.bbox[2] + 3 and d.bbox[1] - 3 <= SPOT[1] <= d.bbox[3] + 3
               for d in res.defects), [d.bbox for d in res.defects]


def test_states_saved_without_the_key_load_with_the_field_off():
    st = _fit(6.0).to_state()
    assert AnomalyModel.from_state(st).config.shading_sigma_mm == 6.0
    st["config"].pop("shading_sigma_mm")
    assert AnomalyModel.from_state(st).config.shading_sigma_mm == 0.0


def test_seal_turns_the_field_on_without_a_station():
    import goldenvision as gv
    from goldenvision.sealing import HANDHELD_SHADING_SIGMA_MM

    from synthetic import SPEC, product

    # the synthetic spec names no station; three captures, not two: below three the anomaly fit adds
    # four shifted copies of each (10 images)
    g = gv.seal([product(1), product(2), product(3)], SPEC)
    cfg = gv.Inspector(g).models.anomaly.config
    assert cfg.shading_sigma_mm == HANDHELD_SHADING_SIGMA_MM > 0


BUD = (150, 110)


def _decal(highlight: float = 0.0, spot: bool = False) -> np.ndarray:
    """The dish with a dark red decal (r 2 mm) at ``BUD``; a highlight (sigma 9 mm, its centre
    8 mm right of the decal) *adds* ``highlight`` grey levels at its peak, on the decal as on the
    glaze (a lamp's white light; a ratio would brighten the dark decal far less)."""
    img = _dish()
    cv2.circle(img, BUD, 10, (150, 40, 35), -1, cv2.LINE_AA)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    img = img + (highlight * np.exp(-((xx - BUD[0] - 40) ** 2 + (yy - BUD[1]) ** 2) / (2 * 45.0**2)))[..., None]
    if spot:
        cv2.circle(img, (BUD[0] + 40, BUD[1] + 30), 4, (110, 115, 105), -1, cv2.LINE_AA)
    return img


@functools.cache  # as _fit
def _fit_decal(offset: bool) -> AnomalyModel:
    rng = np.random.default_rng(0)
    caps = [_shoot(_decal(highlight=20.0), rng) for _ in range(3)]  # the golden's highlight lies by the decal
    return AnomalyModel.fit(caps, [AnomalyZone(name="dish", defect_type="print", min_area_mm2=0.5)],
                            scale_mm_per_px=SCALE, config=AnomalyConfig(shading_sigma_mm=6.0, shading_offset=offset))


def test_a_highlight_off_a_dark_decal_is_not_read_as_a_darker_decal():
    rng = np.random.default_rng(2)
    unlit = _shoot(_decal(), rng)  # the unit's highlight is elsewhere: the decal is its own dark red
    assert _fit_decal(False).score(unlit).score >= 1.0  # the ratio alone reads the decal darker
    with_offset = _fit_decal(True)
    assert with_offset.score(unlit).score < 1.0
    assert with_offset.score(_shoot(_decal(highlight=20.0), rng)).score < 1.0
    res = with_offset.score(_shoot(_decal(spot=True), rng))  # a small spot by the decal is still found
    assert res.score >= 1.0
    spot = (BUD[0] + 40, BUD[1] + 30)
    assert any(d.bbox[0] - 3 <= spot[0] <= d.bbox[2] + 3 and d.bbox[1] - 3 <= spot[1] <= d.bbox[3] + 3
               for d in res.defects), [d.bbox for d in res.defects]


def test_states_saved_without_the_offset_read_the_ratio_alone():
    st = _fit_decal(True).to_state()
    assert AnomalyModel.from_state(st).config.shading_offset is True
    st["config"].pop("shading_offset")
    assert AnomalyModel.from_state(st).config.shading_offset is False
