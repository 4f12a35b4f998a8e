"""Round products: the centre's image from two concentric circles (rim and band), and a print
moved inside the same outline is not reported as aligned."""

from __future__ import annotations

import numpy as np

from goldenvision.registration.concentric import common_centre, fit_conic
from goldenvision.transform import apply_homography


def _circle(r: float, n: int = 360) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.c_[r * np.cos(t), r * np.sin(t)]


def _tilted() -> np.ndarray:
    """Dish plane (mm, centre at 0) -> photo px: 4 px/mm, strong perspective (a hand-held shot)."""
    return np.array([[4.0, 0.3, 320.0], [-0.2, 3.8, 240.0], [2.5e-3, -1.5e-3, 1.0]])


def test_centre_of_concentric_circles_survives_perspective():
    h = _tilted()
    rng = np.random.default_rng(0)
    rim = apply_homography(_circle(35.0), h) + rng.normal(0, 0.1, (360, 2))
    band = apply_homography(_circle(30.5), h) + rng.normal(0, 0.1, (360, 2))
    (c_rim, par_rim), (c_band, _) = fit_conic(rim), fit_conic(band)
    truth = apply_homography(np.zeros((1, 2)), h)[0]
    # the outline's own ellipse centre is not the centre's image under this perspective ...
    assert np.hypot(par_rim[0] - truth[0], par_rim[1] - truth[1]) > 2.0
    # ... the pencil of the two concentric conics is
    got = common_centre(c_rim, c_band)
    assert got is not None and np.hypot(*(got - truth)) < 0.3


def test_no_centre_from_circles_that_are_not_concentric():
    h = _tilted()
    c_a, _ = fit_conic(apply_homography(_circle(35.0), h))
    c_b, _ = fit_conic(apply_homography(_circle(20.0) + (6.0, 0.0), h))
    got = common_centre(c_a, c_b)
    truth = apply_homography(np.zeros((1, 2)), h)[0]
    assert got is None or np.hypot(*(got - truth)) > 5.0
