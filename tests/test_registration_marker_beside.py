"""The spec's scale marker lies beside the product, at a place of its own in every photo, and the
golden's reference photo need not hold it: every alignment (the units' and sealing's) sees the
photo with the marker painted over (:func:`goldenvision.sealing._without_marker`). Zoo part
hand-held, seed 1, unit 18: a plain plate with 13 keypoint inliers (15 needed) and the 20 mm
marker 70 mm to its left, which took Fourier-Mellin's correlation: every start diverged (review);
with the marker painted over it aligned (``scripts/bench.py --family part --mode handheld --seed 1``)."""

from __future__ import annotations

import numpy as np

import goldenvision.pipeline as P
from goldenvision.demo.zoo import FAMILIES
from goldenvision.demo.zoo.camera import photograph_unit
from goldenvision.demo.zoo.lot import make_zoo_unit
from goldenvision.measure.marker import find_scale_marker
from goldenvision.results import RegistrationResult
from goldenvision.spec import ScaleMarker


def test_the_unit_is_aligned_on_the_photo_without_its_marker(monkeypatch):
    fam = FAMILIES["part"]
    unit = photograph_unit(fam, make_zoo_unit(fam, 18, "none", 1, "handheld"), 0.6)
    marker = ScaleMarker(dictionary="DICT_4X4_50", id=7, size_mm=20.0)
    assert find_scale_marker(unit, marker) is not None  # the photo holds it
    seen: list[np.ndarray] = []

    def fake_register(reference, frame, **kw):
        seen.append(frame)
        return RegistrationResult(np.eye(3), ok=True, rms_px=0.05, method="test")

    monkeypatch.setattr(P, "register", fake_register)
    monkeypatch.setattr(P, "find_round_body", lambda image: "not round")

    class _Models:
        registration_method = "auto"
        registration = type("M", (), {"has_mask_": False, "gray_weights_": None})()
        product_mask = None
        profile = None
        spec = type("S", (), {"scale_marker": marker})()

    def inspector(reference: np.ndarray) -> P.Inspector:
        ins = P.Inspector.__new__(P.Inspector)  # the stage models are not needed to register
        ins.models = _Models()  # type: ignore[assignment]
        ins.golden = type("G", (), {"reference": reference, "meta": {}})()  # type: ignore[assignment]
        ins._round_body, ins._has_reference_marker = None, None
        return ins

    golden_photo = P._without_marker(unit, find_scale_marker(unit, marker))  # the golden shows no marker
    reg = P.Inspector._register(inspector(golden_photo), unit)
    assert reg.ok and len(seen) == 1
    assert find_scale_marker(seen[0], marker) is None  # painted over
    changed = np.any(seen[0] != unit, axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.mean() < 0.05 and xs.max() - xs.min() < 0.2 * unit.shape[1]  # only round the marker
    # a golden whose reference photo shows the marker too: it is part of the scene, and stays
    seen.clear()
    assert P.Inspector._register(inspector(unit), unit).ok and np.array_equal(seen[0], unit)
