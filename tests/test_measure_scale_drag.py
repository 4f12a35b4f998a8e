"""How far the measured features drag a unit's registration, and the stated covariance of the strain
when the fit's prior is not the registration's actual error (``strain_error_cov``): a direction the
reference does not pin is stated at the registration's own error, not at the prior's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from goldenvision.measure.dimensions import edge_band_mask, feature_strains
from goldenvision.measure.scale_reference import (_misspecified_prior_cov, _strain_precision,
                                                  refine_on_reference, registration_drag_cov)
from goldenvision.results import RegistrationResult
from goldenvision.spec import DimensionSpec

SHAPE = (240, 320)


def _plate(texture: bool) -> np.ndarray:
    """A bright plate (x 80..240, y 60..180) on a dark ground; with ``texture``, many small squares
    of uneven pitch over the whole image (their edges pin the registration's scale as well)."""
    img = np.full(SHAPE, 50.0, np.float32)
    img[60:180, 80:240] = 180.0
    if texture:
        rng = np.random.default_rng(4)
        for _ in range(400):
            x, y = rng.integers(4, SHAPE[1] - 12), rng.integers(4, SHAPE[0] - 12)
            img[y:y + 6, x:x + 6] += rng.choice([-35.0, 35.0])
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def _plate_sides() -> np.ndarray:
    """The golden px that move with the plate's width: its left and right sides, 3 px either way."""
    band = np.zeros(SHAPE, bool)
    band[57:183, 77:84] = True
    band[57:183, 236:243] = True
    return band


def test_a_feature_that_is_the_whole_product_drags_the_registration_by_its_own_strain():
    strain = np.diag([0.01, 0.0])  # the plate 1 % wider
    cov = registration_drag_cov(_plate(False), None, [(_plate_sides(), np.array([160.0, 120.0]), strain)])
    assert cov.shape == (3, 3)
    # nothing else in the photo fixes the x scale: the registration follows the plate all the way
    assert np.sqrt(cov[0, 0]) == pytest.approx(0.01, rel=0.15)
    # a width along x does not stretch y
    assert np.sqrt(cov[2, 2]) < 0.001


def test_a_feature_among_much_other_structure_hardly_drags_the_registration():
    strain = np.diag([0.01, 0.0])
    alone = registration_drag_cov(_plate(False), None, [(_plate_sides(), np.array([160.0, 120.0]), strain)])
    among = registration_drag_cov(_plate(True), None, [(_plate_sides(), np.array([160.0, 120.0]), strain)])
    # the squares' edges carry most of the x scale's evidence: the plate's sides move it much less
    assert np.sqrt(among[0, 0]) < 0.5 * np.sqrt(alone[0, 0])
    # and the drag scales with the feature's strain (first order)
    half = registration_drag_cov(_plate(True), None, [(_plate_sides(), np.array([160.0, 120.0]), 0.5 * strain)])
    assert np.sqrt(half[0, 0]) == pytest.approx(0.5 * np.sqrt(among[0, 0]), rel=1e-6)
    # the registration's mask: outside it nothing drags
    nowhere = np.zeros(SHAPE, bool)
    nowhere[:20, :20] = True
    assert np.allclose(registration_drag_cov(_plate(True), nowhere,
                                             [(_plate_sides(), np.array([160.0, 120.0]), strain)]), 0.0)


def test_the_feature_strain_is_its_half_band_over_nominal_along_the_caliper():
    img = _plate(False).astype(np.uint8)
    dim = DimensionSpec(name="plate_width", measure="width", nominal_mm=16.0, tolerance_mm=(-0.2, 0.4),
                        caliper={"center": (160.0, 120.0), "angle_deg": 0.0, "length_px": 220.0, "width_px": 20.0})
    (band, centre, tensor), = feature_strains(img, [dim])
    assert np.allclose(tensor, np.diag([0.3 / 16.0, 0.0]))
    assert abs(centre[0] - 160.0) < 1.5 and abs(centre[1] - 120.0) < 1.5
    # the plate's sides move with it; its middle does not; all of them are left out of the reference
    assert band[120, 80] and band[120, 240] and not band[120, 160]
    keep = edge_band_mask(img, [dim])
    assert keep is not None and not (band & keep).any()


def test_a_prior_that_is_the_registrations_error_leaves_the_covariance_as_it_was():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 3))
    p_data = a @ a.T * 1e5
    p0 = _strain_precision(0.004)
    post = np.linalg.inv(p_data + p0)
    assert np.allclose(_misspecified_prior_cov(post, p0, np.linalg.inv(p0)), post, rtol=1e-9, atol=1e-18)
    # a registration far better than the prior: smaller than the posterior, never below the data's share
    small = _misspecified_prior_cov(post, p0, np.eye(3) * 1e-14)
    assert np.all(np.linalg.eigvalsh(post - small) > -1e-18)
    assert np.allclose(small, post @ p_data @ post, rtol=1e-4, atol=1e-18)
    with pytest.raises(ValueError, match="strain_error_cov"):
        _misspecified_prior_cov(post, p0, np.eye(2))


def _columns(seed: int) -> np.ndarray:
    """Vertical bars of uneven pitch, the same down every column (noise too), and one faint thin stripe
    across the middle: the x scale is pinned, the y shift just so, the y scale hardly at all."""
    x = np.arange(SHAPE[1] * 4) / 4.0
    edges = np.cumsum(np.random.default_rng(7).uniform(6.0, 14.0, 60))
    prof = (np.searchsorted(edges, x) % 2).astype(np.float32) * 120 + 60
    prof = cv2.resize(prof[None, :], (SHAPE[1], 1), interpolation=cv2.INTER_AREA)[0]
    prof = cv2.GaussianBlur(prof[None, :], (0, 0), 1.0)[0]
    prof = prof + np.random.default_rng(seed).normal(0.0, 1.0, SHAPE[1]).astype(np.float32)
    img = np.tile(prof, (SHAPE[0], 1))
    img[119:121, :] += 8.0
    return cv2.GaussianBlur(img, (0, 0), 0.7)


def test_a_direction_the_reference_does_not_pin_is_stated_at_the_registrations_error():
    golden, unit = _columns(0), _columns(1)
    reg = RegistrationResult(np.eye(3), ok=True, rms_px=0.05, method="test", confidence=1.0, reference_shape_hw=SHAPE)
    ref = np.zeros(SHAPE, bool)
    ref[30:-30, 30:-30] = True
    prior_only = refine_on_reference(golden, unit, reg, ref, prior_strain_std=0.004)
    honest = refine_on_reference(golden, unit, reg, ref, prior_strain_std=0.004,
                                 strain_error_cov=np.diag([1e-4, 1e-4, 1e-4]) ** 2)
    assert prior_only is not None and honest is not None
    # the estimate is the same (the prior still regularises the fit) ...
    assert np.allclose(honest.registration.homography, prior_only.registration.homography)

    def sd(fit, d):
        return fit.length_std_px(np.zeros(2), 100.0 * np.asarray(d, float)) / 100.0

    # ... y, which the columns hardly say anything about, was stated at the prior (sqrt(2) x 0.004) ...
    assert sd(prior_only, (0, 1)) == pytest.approx(np.sqrt(2.0) * 0.004, rel=0.1)
    # ... and is now what the registration's error and the faint stripe leave: far smaller
    assert 1e-4 < sd(honest, (0, 1)) < 0.2 * sd(prior_only, (0, 1))
    # x, pinned by the columns, is the data's either way
    assert sd(honest, (1, 0)) == pytest.approx(sd(prior_only, (1, 0)), rel=0.05)


def test_the_registrations_own_strain_noise_is_its_corner_error_over_the_half_diagonal():
    from goldenvision.pipeline import _registration_strain_var

    def reg(rms, shape):
        return RegistrationResult(np.eye(3), ok=True, rms_px=rms, method="test", confidence=1.0,
                                  reference_shape_hw=shape)

    assert _registration_strain_var(reg(0.6, (601, 801))) == pytest.approx((0.6 / 500.0) ** 2)
    assert _registration_strain_var(reg(float("inf"), (601, 801))) == 0.0
    assert _registration_strain_var(reg(0.6, None)) == 0.0
