"""A width whose outline edge is weak beside a strong highlight: the golden's own width picks the pair."""

from __future__ import annotations

import numpy as np

from goldenvision.measure.dimensions import measure_dimension
from goldenvision.results import RegistrationResult
from goldenvision.spec import DimensionSpec


def _plate(left: float, right: float) -> np.ndarray:
    """Dark ground 60; a plate whose rim (grey 78, a weak outline) holds a bright face (200) 15 px in."""
    x = np.arange(480, dtype=np.float64)
    prof = np.full_like(x, 60.0)
    prof[(x >= left) & (x < right)] = 78.0
    prof[(x >= left + 15) & (x < right - 15)] = 200.0
    img = np.tile(prof, (120, 1))
    img += np.random.default_rng(0).normal(0, 0.5, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


DIM = DimensionSpec(name="plate_width", measure="width", nominal_mm=28.0, tolerance_mm=(-0.2, 0.2),
                    caliper={"center": (240.0, 60.0), "angle_deg": 0.0, "length_px": 400.0, "width_px": 20.0})
IDENTITY = RegistrationResult(np.eye(3), ok=True, rms_px=0.0, method="identity", confidence=1.0,
                              reference_shape_hw=(120, 480))


def test_the_golden_width_picks_the_weak_outline_over_the_highlight():
    img = _plate(100.0, 380.0)  # outline 280 px wide, face 250 px
    plain = measure_dimension(img, DIM, IDENTITY, 0.1, reference="golden_frame")
    assert abs(plain.measured_mm - 25.0) < 0.1  # the 25 % rule keeps only the face's strong edges
    guided = measure_dimension(img, DIM, IDENTITY, 0.1, reference="golden_frame", golden_px=280.0)
    assert abs(guided.measured_mm - 28.0) < 0.1
    # a unit 3 px wider still measures its own width, not the golden's
    wide = measure_dimension(_plate(98.0, 381.0), DIM, IDENTITY, 0.1, reference="golden_frame", golden_px=280.0)
    assert abs(wide.measured_mm - 28.3) < 0.1
    # within the slack of the golden's width, the first/last pair stands (no search)
    same = measure_dimension(img, DIM, IDENTITY, 0.1, reference="golden_frame", golden_px=251.0)
    assert abs(same.measured_mm - 25.0) < 0.1
