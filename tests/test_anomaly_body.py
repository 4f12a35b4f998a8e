"""A round product aligned by its body whose print moved on it (issue 13, zoo ceramic decal shift):
the anomaly stage must not undo a global residual shift, which would follow the print back onto
the golden's and leave the move unseen (``AnomalyModel.score(..., residual_global=False)``)."""

from __future__ import annotations

import cv2
import numpy as np

from goldenvision.anomaly import AnomalyModel
from goldenvision.spec import AnomalyZone

H, W = 240, 320
C = (160, 120)
PRINT_BOX = (130, 90, 190, 150)  # golden px, x0 y0 x1 y1: where the print lies on the golden


def _dish(print_shift: tuple[float, float]) -> np.ndarray:
    """A pale dish with a faint band on a plain ground, a dark print at its centre moved by ``print_shift``."""
    img = np.full((H, W, 3), 150.0, np.float32)
    cv2.circle(img, C, 100, (170, 175, 165), -1, cv2.LINE_AA)
    cv2.circle(img, C, 88, (160, 165, 150), 3, cv2.LINE_AA)
    ink = np.zeros((H, W), np.float32)
    rng = np.random.default_rng(5)
    for _ in range(14):
        p = np.array(C, float) + rng.uniform(-25, 25, 2)
        q = p + rng.uniform(-10, 10, 2)
        cv2.line(ink, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), 1.0, 2, cv2.LINE_AA)
    m = np.float32([[1, 0, print_shift[0]], [0, 1, print_shift[1]]])
    ink = cv2.warpAffine(ink, m, (W, H))
    return img * (1 - ink[..., None]) + np.float32(30) * ink[..., None]


def _shoot(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    m = np.float32([[1, 0, rng.uniform(-0.3, 0.3)], [0, 1, rng.uniform(-0.3, 0.3)]])
    out = cv2.warpAffine(img, m, (W, H), borderMode=cv2.BORDER_REFLECT) + rng.normal(0, 1.5, (H, W, 3))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def test_a_print_moved_on_the_body_is_found_when_the_body_pins_the_alignment():
    rng = np.random.default_rng(0)
    caps = [_shoot(_dish((0.0, 0.0)), rng) for _ in range(6)]
    model = AnomalyModel.fit(caps, [AnomalyZone(name="dish", defect_type="print")], scale_mm_per_px=0.1)
    unit = _shoot(_dish((5.0, 0.0)), rng)
    # the global residual shift follows the print (5 px), not the body (0 px) ...
    shift = model.residual_shift_px(unit, np.ones((H, W), bool))
    assert shift is not None and abs(abs(shift[0]) - 5.0) < 1.0
    # ... so with it the moved print is not where the unit is judged to differ
    pinned = model.score(unit, residual_global=False)
    assert pinned.score >= 1.0
    x0, y0, x1, y1 = PRINT_BOX
    hits = [d for d in pinned.defects if d.bbox[0] < x1 + 5 and x0 - 5 < d.bbox[2] and d.bbox[1] < y1 and y0 < d.bbox[3]]
    assert hits, [d.bbox for d in pinned.defects]
    followed = model.score(unit)
    assert not any(d.bbox[0] < x1 and x0 < d.bbox[2] and d.bbox[1] < y1 and y0 < d.bbox[3] for d in followed.defects)
    # a good unit scores the same either way: nothing to undo
    good = _shoot(_dish((0.0, 0.0)), rng)
    assert model.score(good, residual_global=False).score < 1.0


def test_only_goldens_sealed_with_the_rule_skip_the_global_shift():
    """Old packages score as before: the rule is on only with the seal's meta key, and only for a
    unit aligned by its body."""
    from dataclasses import replace
    from types import SimpleNamespace

    import goldenvision as gv
    from goldenvision.pipeline import Inspector
    from goldenvision.results import RegistrationResult
    from goldenvision.sealing import BODY_PINS_ANOMALY_KEY, ROUND_BODY_STARTS_KEY

    from synthetic import SPEC, product

    reg = RegistrationResult(np.eye(3), ok=True, rms_px=0.1, method="orb+magsac+ic+body")
    old = SimpleNamespace(golden=SimpleNamespace(meta={}))
    new = SimpleNamespace(golden=SimpleNamespace(meta={BODY_PINS_ANOMALY_KEY: True}))
    assert Inspector._residual_global(old, reg) is True  # type: ignore[arg-type]
    assert Inspector._residual_global(new, reg) is False  # type: ignore[arg-type]
    assert Inspector._residual_global(new, replace(reg, method="orb+magsac+ic")) is True  # type: ignore[arg-type]
    # three captures, not two: below three the anomaly fit adds four shifted copies of each (10 images)
    meta = gv.seal([product(1), product(2), product(3)], SPEC).meta
    assert meta[BODY_PINS_ANOMALY_KEY] is True and meta[ROUND_BODY_STARTS_KEY] is True
