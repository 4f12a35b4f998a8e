"""Sealing tells the user what to change instead of failing without a hint (issue 13, item 4)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import goldenvision as gv
from goldenvision.errors import RegistrationError

from synthetic import SPEC, product


def _spec_with(dims: list[dict]) -> dict:
    spec = copy.deepcopy(SPEC)
    spec["dimensions"] = dims
    return spec


# a caliper across flat background (no edge at all) and one across the part's left border
_FLAT = {"name": "flat_spot", "measure": "width", "nominal_mm": 2.0, "tolerance_mm": [-0.5, 0.5],
         "caliper": {"center": [5.0, 5.0], "angle_deg": 0.0, "length_px": 6.0, "width_px": 3.0}}


def test_a_dimension_the_golden_cannot_measure_is_reported_not_a_refusal():
    goldens = [product(s) for s in (1, 2, 3)]
    golden = gv.seal(goldens, _spec_with([_FLAT]))
    why = golden.meta["dimensions_not_measurable"]["flat_spot"]
    assert "not measurable on 3 of 3 golden captures" in why
    assert "caliper" in why and "not judged" in why  # what to change, and what it means
    assert "flat_spot" not in golden.meta["golden_dimensions_mm"]
    r = gv.Inspector(golden).inspect(product(9))
    assert r.verdict.value == "pass", r.reasons
    assert r.dimensions == ()
    assert r.provenance["dimensions_not_measurable"]["flat_spot"] == why


def test_a_critical_dimension_the_golden_cannot_measure_stops_the_seal():
    dim = dict(_FLAT, severity="critical")
    with pytest.raises(RegistrationError, match="flat_spot .critical. cannot be measured.*place the caliper"):
        gv.seal([product(1), product(2)], _spec_with([dim]))


def test_fourier_mellin_takes_the_clear_winner_of_a_symmetric_outline(monkeypatch):
    """A plate whose outline and most content repeat under a 180-degree turn, with one
    asymmetric detail, aligned without keypoints (Fourier-Mellin, as on woven or repeating
    content): its turned twin also passes verification but fits clearly worse (edge
    correlation 0.80 against 1.00), which is a wrong alignment, not an ambiguity."""
    import cv2

    import goldenvision.registration.align as align
    from goldenvision.registration import register

    monkeypatch.setattr(align, "_features_candidate", lambda *a, **k: (None, 0, "features off", None, None))

    base = np.full((300, 400), 60, np.uint8)
    cv2.rectangle(base, (60, 50), (340, 250), 190, -1)
    for x in (100, 300):
        for y in (100, 200):
            cv2.circle(base, (x, y), 18, 70, -1)
    cv2.rectangle(base, (150, 130), (250, 170), 120, -1)  # central block, symmetric
    asym = base.copy()
    cv2.putText(asym, "GV7", (80, 240), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 30, 2, cv2.LINE_AA)
    m = cv2.getRotationMatrix2D((200.0, 150.0), 4.0, 1.0)
    m[:, 2] += (5.0, -3.0)
    moving = cv2.warpAffine(asym, m, (400, 300), flags=cv2.INTER_LINEAR, borderValue=60)
    moving = np.clip(moving + np.random.default_rng(0).normal(0, 2, moving.shape), 0, 255).astype(np.uint8)
    r = register(asym, moving)
    assert r.ok, r.reason
    truth = np.vstack([m, [0, 0, 1]])
    pts = np.array([[60.0, 50.0], [340.0, 250.0]])
    back = cv2.perspectiveTransform(cv2.perspectiveTransform(pts[None], truth), r.homography)[0]
    assert np.abs(back - pts).max() < 0.5


def test_a_capture_that_cannot_be_aligned_says_what_to_change():
    """An unrelated photo among the golden captures: the refusal names it and says what to do."""
    other = product(1, layout=7)
    with pytest.raises(RegistrationError, match=r"golden capture 1 .*cannot be aligned.*To seal: photograph the same "
                                                 r"product whole.*registration: none"):
        gv.seal([product(1), other], copy.deepcopy(SPEC))
