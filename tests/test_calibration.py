"""Tests of goldenvision.calibration.geometry and .color with synthetic known answers."""

from __future__ import annotations

import functools

import colour
import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goldenvision.calibration.color import (
    FIT_METHODS,
    M_SRGB_TO_XYZ,
    WHITEPOINT_D65_XY,
    ColorCorrection,
    fit_chart_correction,
    lab_d65_to_linear_srgb,
    sample_chart,
    srgb_decode,
    srgb_encode,
)
from goldenvision.calibration.geometry import (
    CameraCalibration,
    Rectification,
    calibrate_camera,
    detect_markers,
    rectify,
)
from goldenvision.calibration.profile import load_profile
from goldenvision.errors import CalibrationError, ImageError
from goldenvision.transform import apply_homography

PROFILE = load_profile("lightbox-demo")
W, H = PROFILE.frame_px
BG_LIN = 0.75  # platen background, linear
INK_LIN = 0.02  # marker black, linear


# --------------------------------------------------------------------------- renderers


def _station_linear(*, with_chart: bool = True, hide: tuple[int, ...] = ()) -> np.ndarray:
    """The rectified station frame in linear RGB: background, fiducials and chart patches."""
    img = np.full((H, W, 3), BG_LIN, np.float32)
    d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    side = int(round(PROFILE.marker_size_mm / PROFILE.scale_mm_per_px))
    for i, c in PROFILE.marker_corners_mm.items():
        if i in hide:
            continue
        x0, y0 = np.rint(c[0] / PROFILE.scale_mm_per_px).astype(int)  # pixel x0 spans [x0-0.5, x0+0.5]
        m = cv2.aruco.generateImageMarker(d, i, side) > 0
        img[y0: y0 + side, x0: x0 + side] = np.where(m[..., None], BG_LIN, INK_LIN)
    if with_chart:
        half = PROFILE.chart.patch_mm / PROFILE.scale_mm_per_px / 2
        for (cx, cy), v in zip(PROFILE.mm_to_px(PROFILE.chart.centers_mm), _chart_linear()):
            img[int(round(cy - half + 0.5)): int(round(cy + half + 0.5)),
                int(round(cx - half + 0.5)): int(round(cx + half + 0.5))] = v
    return img


def _chart_linear() -> np.ndarray:
    return np.clip(lab_d65_to_linear_srgb(PROFILE.chart.lab_ref), 0, 1)


_ENCODE_LUT_N = 1 << 20


@functools.lru_cache(maxsize=1)
def _encode_lut() -> np.ndarray:
    """srgb_encode sampled at 2^20 linear levels: a linear value is off by at most 5e-7 (0.002 of
    an 8-bit level once encoded), and a 1600 x 1200 photo encodes in 0.1 s instead of 1.2 s."""
    return srgb_encode(np.linspace(0.0, 1.0, _ENCODE_LUT_N))


def _encode(lin: np.ndarray, noise: float, seed: int) -> np.ndarray:
    idx = np.rint(np.clip(lin, 0, 1) * (_ENCODE_LUT_N - 1)).astype(np.int64)
    enc = _encode_lut()[idx] * 255.0
    if noise:
        enc = enc + np.random.default_rng(seed).normal(0, noise, enc.shape)
    return np.clip(np.rint(enc), 0, 255).astype(np.uint8)


def _camera_homography(seed: int = 0, scale: float = 0.975) -> np.ndarray:
    """A mild perspective: rectified px -> camera px (about 7.8 px/mm in a 1600x1200 camera)."""
    rng = np.random.default_rng(seed)
    src = np.array([[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]], np.float32)
    dst = src * scale + np.float32([18, 14]) + rng.uniform(-12, 12, (4, 2)).astype(np.float32)
    return cv2.getPerspectiveTransform(src, dst).astype(np.float64)


def _camera_image(h_true: np.ndarray, *, gain=(1.0, 1.0, 1.0), noise: float = 0.0, seed: int = 0, hide=()) -> np.ndarray:
    lin = _station_linear(hide=hide) * np.asarray(gain, np.float32)
    warped = cv2.warpPerspective(lin, h_true, (1600, 1200), flags=cv2.INTER_LINEAR, borderValue=(BG_LIN,) * 3)
    return _encode(warped, noise, seed)


def _grid_points() -> np.ndarray:
    xs, ys = np.meshgrid(np.linspace(0, W - 1, 9), np.linspace(0, H - 1, 7))
    return np.column_stack([xs.ravel(), ys.ravel()])


# --------------------------------------------------------------------------- geometry


@pytest.fixture(scope="module")
def camera_shot():
    h_true = _camera_homography(seed=3)
    return h_true, _camera_image(h_true, gain=(0.9, 1.0, 1.2), noise=2.0, seed=1)


def test_detect_markers_subpixel_corners(camera_shot):
    h_true, img = camera_shot
    found = detect_markers(img, PROFILE)
    assert sorted(found) == [0, 1, 2, 3]
    for i, corners in found.items():
        true = apply_homography(PROFILE.mm_to_px(PROFILE.marker_corners_mm[i]), h_true)
        assert corners.shape == (4, 2)
        assert np.abs(corners - true).max() < 0.1, (i, corners - true)


def test_rectify_recovers_known_homography(camera_shot):
    h_true, img = camera_shot
    r = rectify(img, PROFILE)
    assert isinstance(r, Rectification)
    assert r.image.shape == (H, W, 3) and r.image.dtype == np.uint8
    assert r.markers == (0, 1, 2, 3)
    pts = np.vstack([_grid_points()] + [PROFILE.mm_to_px(c) for c in PROFILE.marker_corners_mm.values()])
    err = np.linalg.norm(apply_homography(apply_homography(pts, h_true), r.homography) - pts, axis=1)
    assert err.max() < 0.1, err.max()
    assert 0 <= r.rms_px < 0.1
    # the rectified image shows the station frame: a marker's black border where the profile says
    x0, y0 = np.rint(PROFILE.mm_to_px(PROFILE.marker_corners_mm[2][0])).astype(int)
    assert r.image[y0 + 3: y0 + 7, x0 + 3: x0 + 7].mean() < 40
    assert r.image[y0 - 8: y0 - 4, x0 + 3: x0 + 7].mean() > 200
    assert r.to_dict()["markers"] == [0, 1, 2, 3]


def test_rectify_with_three_markers_and_refusal_with_two():
    h_true = _camera_homography(seed=5)
    r = rectify(_camera_image(h_true, hide=(1,), noise=1.0), PROFILE)
    assert r.markers == (0, 2, 3)
    err = np.linalg.norm(apply_homography(apply_homography(_grid_points(), h_true), r.homography) - _grid_points(), axis=1)
    assert err.max() < 0.2
    with pytest.raises(CalibrationError, match=r"found markers \[0, 2\].*at least 3"):
        rectify(_camera_image(h_true, hide=(1, 3)), PROFILE)


def test_rectify_refuses_wrong_profile_geometry(camera_shot):
    _h, img = camera_shot
    raw = dict(PROFILE.raw)
    raw["markers"] = dict(raw["markers"], centers_mm={0: [8.0, 8.0], 1: [192.0, 8.0], 2: [192.0, 142.0], 3: [40.0, 142.0]})
    with pytest.raises(CalibrationError, match=r"residual .* exceeds 2.0 px .*markers found \[0, 1, 2, 3\]"):
        rectify(img, load_profile(raw))


def test_rectify_refuses_bad_input():
    with pytest.raises(ImageError, match="float64"):
        rectify(np.zeros((10, 10, 3)), PROFILE)
    with pytest.raises(CalibrationError, match="found markers \\[\\]"):
        rectify(np.full((200, 300, 3), 128, np.uint8), PROFILE)


def test_rectify_undistorts_with_camera_matrix():
    """A camera with barrel distortion: rectification folds the lens model in."""
    k = np.array([[1500.0, 0, 800], [0, 1500.0, 600], [0, 0, 1]])
    dist = np.array([-0.12, 0.05, 0.0, 0.0, 0.0])
    h_true = _camera_homography(seed=7)  # rectified px -> undistorted camera px
    # render: raw camera px -> undistorted px (iterative inverse of the lens) -> rectified px
    # the map is smooth: computed every 4 px (the lens' iterative inverse is the test's cost) and
    # interpolated, it is off by well under 0.01 px
    step = 4
    xs, ys = np.meshgrid(np.arange(0, 1600 + step, step, dtype=np.float64), np.arange(0, 1200 + step, step, dtype=np.float64))
    raw = np.column_stack([xs.ravel(), ys.ravel()]).reshape(-1, 1, 2)
    und = cv2.undistortPoints(raw, k, dist, R=None, P=k, criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 12, 1e-7))
    coarse = apply_homography(und.reshape(-1, 2), np.linalg.inv(h_true)).reshape(xs.shape + (2,))
    gx, gy = np.meshgrid(np.arange(1600, dtype=np.float32) / step, np.arange(1200, dtype=np.float32) / step)
    rect = np.stack([cv2.remap(coarse[..., c].astype(np.float32), gx, gy, cv2.INTER_CUBIC) for c in range(2)], axis=-1)
    lin = cv2.remap(_station_linear(), rect[..., 0], rect[..., 1], cv2.INTER_LINEAR, borderValue=(BG_LIN,) * 3)
    img = _encode(lin, 1.0, 0)
    raw_profile = dict(PROFILE.raw, camera={"matrix": k.tolist(), "dist": dist.tolist()})
    prof = load_profile(raw_profile)
    r = rectify(img, prof)
    err = np.linalg.norm(apply_homography(apply_homography(_grid_points(), h_true), r.homography) - _grid_points(), axis=1)
    assert err.max() < 0.15, err.max()
    # without the lens model the straight-line fit is visibly worse
    r0 = rectify(img, PROFILE)
    assert r0.rms_px > 3 * r.rms_px
    # the resampled frame lines up with the truth: compare with the station render
    chart_area = np.s_[900:1150, 150:520]
    truth = _encode(_station_linear()[chart_area], 0, 0)  # per px, no noise: the render's chart area alone
    assert np.abs(r.image[chart_area].astype(int) - truth.astype(int)).mean() < 6


def _board_views(n_views: int = 5):
    """Chessboard (9x7 squares -> 8x6 inner corners) seen by a known camera from several poses."""
    k = np.array([[700.0, 0, 320], [0, 700.0, 240], [0, 0, 1]])
    sq = 40  # board image px per square
    board = np.kron((np.indices((7, 9)).sum(axis=0) % 2) * 255, np.ones((sq, sq))).astype(np.uint8)
    board = cv2.copyMakeBorder(board, sq, sq, sq, sq, cv2.BORDER_CONSTANT, value=255)
    poses = [((0.2, -0.3, 0.05), (-4.5, -3.5, 14)), ((-0.35, 0.1, -0.1), (-4.0, -3.0, 13)),
             ((0.1, 0.4, 0.2), (-5.0, -3.5, 15)), ((-0.2, -0.35, 0.0), (-4.5, -4.0, 16)),
             ((0.4, 0.0, -0.2), (-4.0, -3.0, 14))][:n_views]
    views = []
    for rvec, tvec in poses:
        r, _ = cv2.Rodrigues(np.array(rvec))
        # board px -> board units (1 unit = 1 square, origin at the first inner corner)
        b2u = np.array([[1 / sq, 0, -2.0], [0, 1 / sq, -2.0], [0, 0, 1]])
        h = k @ np.column_stack([r[:, 0], r[:, 1], np.array(tvec)]) @ b2u
        views.append(cv2.warpPerspective(board, h, (640, 480), flags=cv2.INTER_AREA, borderValue=128))
    return k, views


def test_calibrate_camera_recovers_intrinsics():
    k, views = _board_views()
    cal = calibrate_camera(views, pattern_size=(8, 6), square_mm=1.0)
    assert isinstance(cal, CameraCalibration)
    assert cal.n_used == 5 and cal.image_size == (640, 480)
    assert cal.rms_px < 0.3
    np.testing.assert_allclose(cal.camera_matrix[[0, 1, 0, 1], [0, 1, 2, 2]], k[[0, 1, 0, 1], [0, 1, 2, 2]], rtol=0.02)
    assert np.abs(cal.dist_coeffs[:2]).max() < 0.1
    assert cal.to_dict()["n_used"] == 5


def test_calibrate_camera_refuses_too_few_views():
    _k, views = _board_views(2)
    with pytest.raises(CalibrationError, match="found in 2 of 3 views"):
        calibrate_camera(views + [np.full((480, 640), 128, np.uint8)])


# --------------------------------------------------------------------------- colour


def _chart_frame(gain, noise: float = 1.5, seed: int = 0) -> np.ndarray:
    """Rectified frame with the chart under a per-channel gain, sRGB encoded, with noise."""
    lin = _station_linear(with_chart=True) * np.asarray(gain, np.float32)
    return _encode(lin, noise, seed)


def _reference_lab(rgb_u8: np.ndarray) -> np.ndarray:
    lin = colour.models.eotf_sRGB(rgb_u8 / 255.0)
    return colour.XYZ_to_Lab(lin @ M_SRGB_TO_XYZ.T, WHITEPOINT_D65_XY)


def test_identity_to_lab_white_black_and_reference():
    cc = ColorCorrection.identity()
    white = cc.to_lab(np.array([255, 255, 255], np.uint8))
    np.testing.assert_allclose(white, [100.0, 0.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(cc.to_lab(np.zeros(3, np.uint8)), [0.0, 0.0, 0.0], atol=1e-4)
    rgb = np.random.default_rng(0).integers(0, 256, (4000, 3), dtype=np.uint8)
    lab = cc.to_lab(rgb)
    assert lab.dtype == np.float32 and lab.shape == (4000, 3)
    np.testing.assert_allclose(lab, _reference_lab(rgb), atol=2e-3)
    # the 18 % grey of an sRGB display: L* = 50 at Y = 0.1842 (CIE 15)
    grey = np.rint(srgb_encode(np.array([0.18418651])) * 255)[0]
    assert cc.to_lab(np.array([grey] * 3, np.uint8))[0] == pytest.approx(50.0, abs=0.3)
    assert np.isnan(cc.residual_de00_mean)


def test_to_lab_shapes_and_refusals():
    cc = ColorCorrection.identity()
    img = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    lab = cc.to_lab(img)
    assert lab.shape == (5, 7, 3)
    np.testing.assert_array_equal(lab.reshape(-1, 3), cc.to_lab(img.reshape(-1, 3)))
    with pytest.raises(ImageError, match="float64"):
        cc.to_lab(img.astype(np.float64))
    with pytest.raises(ImageError, match=r"\(5, 7, 4\)"):
        cc.to_lab(np.zeros((5, 7, 4), np.uint8))


@pytest.mark.parametrize("method", FIT_METHODS)
def test_fit_recovers_known_lighting(method):
    gain = np.array([0.8 * 1.08, 0.8, 0.8 * 0.85])  # dimmer light with a warm tint
    frame = _chart_frame(gain, noise=1.5, seed=2)
    cc = fit_chart_correction(frame, PROFILE, method=method)
    assert cc.method == method
    assert cc.residual_de00_mean < 0.3 and cc.residual_de00_max < 1.0
    np.testing.assert_allclose(cc.matrix, np.diag(1 / gain), atol=0.03)
    # other known colours, not on the chart, through the fitted correction
    lab_true = np.array([[60.0, 20.0, -30.0], [45.0, -25.0, 15.0], [75.0, 5.0, 40.0], [30.0, 10.0, 5.0],
                         [85.0, -3.0, 2.0], [55.0, 40.0, 30.0]])
    cam_lin = lab_d65_to_linear_srgb(lab_true) * gain
    assert cam_lin.min() > 0 and cam_lin.max() < 1
    de_float = colour.delta_E(cc.linear_camera_to_lab(cam_lin), lab_true, method="CIE 2000")
    assert de_float.max() < 0.3, de_float
    codes = np.rint(srgb_encode(cam_lin) * 255).astype(np.uint8)  # what an 8-bit camera records
    lab_codes = cc.to_lab(codes)
    # 8-bit quantisation adds up to ~0.3 dE00 here: compare with the exact decode of those codes
    exact = cc.linear_camera_to_lab(srgb_decode(codes / 255.0))
    np.testing.assert_allclose(lab_codes, exact, atol=2e-3)
    assert colour.delta_E(lab_codes, lab_true, method="CIE 2000").max() < 0.6


def test_white_preserving_maps_white_exactly():
    gain = np.array([1.1, 0.9, 0.75])
    frame = _chart_frame(gain, noise=1.0, seed=4)
    cc = fit_chart_correction(frame, PROFILE, method="white-preserving")
    white = int(np.argmax(PROFILE.chart.lab_ref[:, 0]))
    cam = sample_chart(frame, PROFILE)[white]  # nothing clips under this light
    np.testing.assert_allclose(cc.to_linear_srgb(cam), lab_d65_to_linear_srgb(PROFILE.chart.lab_ref[white]), atol=1e-9)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gain=st.tuples(*[st.floats(0.7, 1.3)] * 3), seed=st.integers(0, 2**16))
def test_fit_any_demo_lighting_property(gain, seed):
    """Any per-channel gain in the demo's range: fit within 0.5 dE00 (clipped patches left out)."""
    frame = _chart_frame(np.array(gain), noise=2.0, seed=seed)
    cc = fit_chart_correction(frame, PROFILE, method="cheung2004")
    assert cc.residual_de00_mean < 0.5
    np.testing.assert_allclose(np.diag(cc.matrix), 1 / np.array(gain), rtol=0.03)
    for name in cc.excluded:
        assert name in PROFILE.chart.names


def test_sample_chart_values_clipping_and_uniformity():
    gain = np.array([0.9, 0.9, 0.9])
    frame = _chart_frame(gain, noise=2.0, seed=5)
    from goldenvision.calibration.color import _measure_patches

    st_ = _measure_patches(frame, PROFILE, 0.6)
    ok = ~st_.clipped
    np.testing.assert_allclose(st_.linear[ok], _chart_linear()[ok] * 0.9, atol=4e-3)
    # clipped: a strong light burns out the white patch
    with pytest.raises(CalibrationError, match="clipped.*white 9.5"):
        sample_chart(_chart_frame(np.array([1.6, 1.6, 1.6]), noise=0.0), PROFILE)
    # non-uniform: something covers half of patch 8
    bad = frame.copy()
    cx, cy = np.rint(PROFILE.mm_to_px(PROFILE.chart.centers_mm[7])).astype(int)
    bad[cy - 20: cy + 20, cx: cx + 20] = 250
    with pytest.raises(CalibrationError, match="not uniform.*8 'purplish blue'"):
        sample_chart(bad, PROFILE)
    with pytest.raises(CalibrationError, match="outside"):
        sample_chart(frame[:500], PROFILE)
    with pytest.raises(CalibrationError, match="only .* patches unclipped"):
        fit_chart_correction(_chart_frame(np.array([3.0, 3.0, 3.0]), noise=0.0), PROFILE)


def test_state_roundtrip():
    cc = fit_chart_correction(_chart_frame(np.array([0.9, 1.0, 1.1])), PROFILE, method="cheung2004")
    state = cc.to_state()
    assert isinstance(state["matrix"], np.ndarray)
    back = ColorCorrection.from_state(state)
    np.testing.assert_array_equal(back.matrix, cc.matrix)
    assert back.residual_de00 == cc.residual_de00 and back.method == cc.method and back.excluded == cc.excluded
    rgb = np.random.default_rng(3).integers(0, 256, (100, 3), dtype=np.uint8)
    np.testing.assert_array_equal(back.to_lab(rgb), cc.to_lab(rgb))
    ident = ColorCorrection.from_state(ColorCorrection.identity().to_state())
    assert ident.method == "identity" and np.isnan(ident.residual_de00_max)
    with pytest.raises(CalibrationError, match="missing key 'matrix'"):
        ColorCorrection.from_state({"method": "x"})
    with pytest.raises(CalibrationError, match=r"\(3, 3\)"):
        ColorCorrection(matrix=np.eye(2), residual_de00_mean=0.0, residual_de00_max=0.0, method="x")


def test_demo_like_station_end_to_end():
    """Camera photo as the demo renders it: perspective, lighting gain, noise -> rectify -> fit."""
    h_true = _camera_homography(seed=11)
    gain = (1.25, 0.95, 0.72)
    img = _camera_image(h_true, gain=gain, noise=2.0, seed=9)
    r = rectify(img, PROFILE)
    err = np.linalg.norm(apply_homography(apply_homography(_grid_points(), h_true), r.homography) - _grid_points(), axis=1)
    assert err.max() < 0.1
    cc = fit_chart_correction(r.image, PROFILE)
    assert cc.residual_de00_mean < 0.5, cc.residual_de00
    # the platen background (neutral, linear 0.75) reads as neutral grey after correction
    x0, y0 = np.rint(PROFILE.mm_to_px([100.0, 60.0])).astype(int)
    lab = cc.to_lab(r.image[y0 - 20: y0 + 20, x0 - 20: x0 + 20]).reshape(-1, 3).mean(axis=0)
    expected = colour.XYZ_to_Lab(np.full(3, BG_LIN) @ M_SRGB_TO_XYZ.T, WHITEPOINT_D65_XY)
    assert colour.delta_E(lab, expected, method="CIE 2000") < 0.5


def test_demo_lightbox_photo_if_available():
    """The demo renderer's own light box (goldenvision.demo): rectify < 0.1 px, chart < 0.5 dE00."""
    demo = pytest.importorskip("goldenvision.demo")
    if not all(hasattr(demo, n) for n in ("empty_lightbox_image", "camera_homography")):
        pytest.skip("goldenvision.demo has no empty_lightbox_image/camera_homography")
    jitter = (0.3, 0.0015, -0.001, 1.003, 0.006, -0.005)
    img = demo.empty_lightbox_image(seed=3, gains=(1.2, 0.95, 0.75), camera_jitter=jitter)
    h_cam = demo.camera_homography(1.0, jitter)  # station mm -> camera px
    r = rectify(img, PROFILE)
    pts = _grid_points()
    err = np.linalg.norm(apply_homography(apply_homography(PROFILE.px_to_mm(pts), h_cam), r.homography) - pts, axis=1)
    assert err.max() < 0.1, err.max()
    cc = fit_chart_correction(r.image, PROFILE)
    assert cc.residual_de00_mean < 0.5


# =========================================================================== fitted calibration (issue 18)

import json  # noqa: E402

from typer.testing import CliRunner  # noqa: E402

from goldenvision.calibration.characterisation import (  # noqa: E402
    PLAIN_CANDIDATES,
    Candidate,
    ColorModel,
    FlatField,
    colorchecker_reference,
    fit_characterisation,
    loo_de00,
    nested_loo_de00,
)
from goldenvision.calibration.chart import find_colorchecker  # noqa: E402
from goldenvision.calibration.fitted import CalibrationProfile, load_calibration, sha256_of  # noqa: E402
from goldenvision.calibration.lens import BoardSpec, LensModel, calibrate_geometry, detect_board  # noqa: E402
from goldenvision.calibration.trust import chart_trust_check  # noqa: E402
from goldenvision.color import delta_e_2000  # noqa: E402

CC_NAMES, CC_XYZ, CC_LAB = colorchecker_reference()
K_TRUE = np.array([[520.0, 0, 322.0], [0, 520.0, 236.0], [0, 0, 1]])
D_TRUE = np.array([-0.28, 0.09, 0.0, 0.0, -0.012])
SQUARE_MM = 20.0


def _board_texture(px_per_mm: float = 8.0, inner=(8, 6)) -> tuple[np.ndarray, float]:
    cols, rows = inner[0] + 1, inner[1] + 1
    s = int(SQUARE_MM * px_per_mm)
    img = np.full(((rows + 2) * s, (cols + 2) * s), 235, np.uint8)
    for r in range(rows):
        for c in range(cols):
            if (r + c) % 2 == 0:
                img[(r + 1) * s:(r + 2) * s, (c + 1) * s:(c + 2) * s] = 20
    return img, s / SQUARE_MM


@functools.cache
def _true_camera_rays(size: tuple[int, int]) -> np.ndarray:
    """(h * w, 2) float64: every px of the true distorting camera undistorted to normalised
    coordinates (the lens alone, the same for every pose: computed once, read-only)."""
    w, h = size
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    norm = cv2.undistortPoints(np.stack([xs.ravel(), ys.ravel()], 1).reshape(-1, 1, 2), K_TRUE, D_TRUE,
                               criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10)).reshape(-1, 2)
    norm.setflags(write=False)
    return norm


def _render_view(rvec, tvec, size=(640, 480)) -> np.ndarray:
    """Render the board through the true distorting camera (board mm origin at the first inner corner)."""
    tex, ppm = _board_texture()
    w, h = size
    norm = _true_camera_rays(tuple(size))
    r, _ = cv2.Rodrigues(np.asarray(rvec, np.float64))
    hmat = np.column_stack([r[:, 0], r[:, 1], np.asarray(tvec, np.float64)])
    b = np.column_stack([norm, np.ones(len(norm))]) @ np.linalg.inv(hmat).T
    bmm = b[:, :2] / b[:, 2:3]
    off = SQUARE_MM * 2  # the first inner corner sits 2 squares into the texture
    mx = ((bmm[:, 0] + off) * ppm - 0.5).reshape(h, w).astype(np.float32)
    my = ((bmm[:, 1] + off) * ppm - 0.5).reshape(h, w).astype(np.float32)
    return cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderValue=128)


POSES = [((0.25, -0.2, 0.05), (-110, -80, 260)), ((-0.3, 0.25, -0.1), (-30, -60, 250)), ((0.1, 0.4, 0.0), (-90, -20, 280)),
         ((-0.35, -0.3, 0.2), (-40, -30, 270)), ((0.0, 0.0, 0.1), (-70, -50, 210)), ((0.4, 0.1, -0.2), (-100, -55, 300)),
         ((-0.15, 0.35, 0.3), (-45, -75, 240)), ((0.3, 0.3, 0.0), (-85, -25, 260))]


@pytest.fixture(scope="module")
def distorted_views():
    return [_render_view(r, t) for r, t in POSES]


def test_calibrate_geometry_recovers_distorting_camera(distorted_views):
    board = BoardSpec("chessboard", (8, 6), SQUARE_MM)
    plane = _render_view((0.0, 0.0, 0.0), (-70, -50, 400))  # fronto-parallel at 400 mm: 400/520 mm per px
    cal = calibrate_geometry(distorted_views + [np.full((480, 640), 128, np.uint8)], board,
                             plane_image=plane, models=("pinhole", "rational"))
    assert len(cal.images_used) == len(POSES)
    assert cal.images_rejected == (("images[8]", "chessboard with 8x6 inner corners not found"),)
    assert cal.rms_px < 0.2
    np.testing.assert_allclose(np.diag(cal.lens.camera_matrix)[:2], [520, 520], rtol=0.01)
    assert set(cal.held_out_rms_px) == {"pinhole", "rational"}
    assert cal.held_out_rms_px[cal.model] == min(cal.held_out_rms_px.values())
    # straight lines after undistortion, against strongly curved ones before
    from goldenvision.calibration.lens import line_straightness_px

    raw = np.concatenate([line_straightness_px(None, *detect_board(v, board)[::2], board.inner_corners)
                          for v in distorted_views])
    assert np.sqrt(np.mean(raw ** 2)) > 0.4 and cal.straightness_px < 0.2 * np.sqrt(np.mean(raw ** 2))
    pts = detect_board(distorted_views[0], board)[0]
    # the product plane scale: 400 mm / 520 px at the centre of a fronto-parallel board
    assert cal.mm_per_px == pytest.approx(400 / 520, rel=0.01)
    # a dimension on the product plane measured through the fitted profile: 140 mm between the
    # first and last corner of the plane image's top row (undistorted px x mm_per_px)
    ppts = cal.lens.undistort_points(detect_board(plane, board)[0])
    measured_mm = float(np.linalg.norm(ppts[7] - ppts[0])) * cal.mm_per_px_xy[0]
    assert abs(measured_mm - 7 * SQUARE_MM) < 0.5 * cal.mm_per_px  # within half a pixel over 182 px
    # undistortion keeps the size and maps a distorted corner onto the pinhole projection
    und = cal.lens.undistort_points(pts[:1])
    r, t = POSES[0]
    ideal, _ = cv2.projectPoints(np.array([[0.0, 0, 0]]), np.array(r), np.array(t, float), K_TRUE, None)
    assert np.linalg.norm(und[0] - ideal.ravel()) < 0.5
    assert cal.lens.undistort_image(distorted_views[0]).shape == (480, 640)


def test_calibrate_geometry_too_few_views_lists_failures(distorted_views):
    blank = np.full((480, 640), 128, np.uint8)
    with pytest.raises(CalibrationError, match=r"2 usable views of 4.*b1: chessboard with 8x6 inner corners not found; b2"):
        calibrate_geometry(distorted_views[:2] + [blank, blank], BoardSpec("chessboard", (8, 6), SQUARE_MM),
                           names=["v1", "v2", "b1", "b2"])


def test_board_spec_validation_and_charuco_detection():
    with pytest.raises(CalibrationError, match="kind"):
        BoardSpec("circles", (4, 4), 10)
    with pytest.raises(CalibrationError, match="marker_mm"):
        BoardSpec("charuco", (9, 6), 25, marker_mm=30)
    spec = BoardSpec.from_dict({"kind": "charuco", "inner_corners": "9x6", "square_mm": 25, "marker_mm": 18,
                                "dictionary": "DICT_5X5_100"})
    img = spec._charuco().generateImage((1000, 700), marginSize=20)
    found = detect_board(img, spec)
    assert found is not None and len(found[2]) == 54
    # the 10 x 7 board fitted into 960 x 660 px (margins 20 px): min(960 / 10, 660 / 7) px per square
    step = np.median(np.diff(found[0][:9, 0]))
    assert step == pytest.approx(660 / 7, abs=1.0)


def _render_chart_in_clutter(w=3000, h=2000, chart_w=200, angle=12.0, centre=(2600, 1700), seed=0,
                             rgb_of=None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = cv2.resize(rng.uniform(0, 255, (h // 50, w // 50, 3)).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    for _ in range(300):
        x, y, s = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(10, 120))
        cv2.rectangle(frame, (x, y), (x + s, int(y + s * rng.uniform(0.5, 2))), rng.integers(0, 255, 3).tolist(), -1)
    srgb = np.clip(colour.XYZ_to_sRGB(CC_XYZ), 0, 1) if rgb_of is None else rgb_of
    pitch = chart_w / 6.3
    chart = np.full((int(pitch * 4.3), chart_w, 3), 30, np.uint8)
    for i in range(24):
        r, c = divmod(i, 6)
        x0, y0 = int(pitch * (0.23 + c)), int(pitch * (0.23 + r))
        chart[y0: y0 + int(pitch * 0.84), x0: x0 + int(pitch * 0.84)] = np.round(srgb[i] * 255)
    m = cv2.getRotationMatrix2D((chart_w / 2, chart.shape[0] / 2), angle, 1.0)
    m[:, 2] += [centre[0] - chart_w / 2, centre[1] - chart.shape[0] / 2]
    mask = cv2.warpAffine(np.ones(chart.shape[:2], np.uint8), m, (w, h))
    frame[mask > 0] = cv2.warpAffine(chart, m, (w, h))[mask > 0]
    return np.clip(frame + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def cluttered_chart():
    return _render_chart_in_clutter()


@pytest.fixture(scope="module")
def cluttered_detection(cluttered_chart):
    """The grid search's detection in the cluttered frame (read, never changed, by the tests)."""
    return find_colorchecker(cluttered_chart, methods=("grid",))


def test_small_chart_in_large_cluttered_frame_is_found(cluttered_detection):
    det = cluttered_detection
    assert det.found and det.method == "grid"
    srgb = np.clip(colour.XYZ_to_sRGB(CC_XYZ), 0, 1)
    assert np.abs(det.patch_rgb01 - np.round(srgb * 255) / 255).max() < 4 / 255  # noise sigma 2 codes
    # the quad sits around the pasted chart (centre 2600, 1700; ~190 px wide grid)
    assert np.allclose(det.quad_px.mean(axis=0), [2600, 1700], atol=6)
    assert 170 < np.linalg.norm(det.quad_px[1] - det.quad_px[0]) < 200


def test_chart_manual_corners_and_absent_chart(cluttered_chart, cluttered_detection):
    auto = cluttered_detection
    rot = auto.quad_px[[2, 3, 0, 1]]  # given upside down: the colours set the orientation
    man = find_colorchecker(cluttered_chart, corners_px=rot.ravel())
    assert man.method == "manual" and np.allclose(man.quad_px, auto.quad_px)
    none = find_colorchecker(np.full((300, 400, 3), 128, np.uint8), methods=("grid",))
    assert not none.found and "no ColorChecker" in none.reason
    with pytest.raises(CalibrationError, match="8 numbers"):
        find_colorchecker(cluttered_chart, corners_px=[1, 2, 3])


def _camera_patches(gamma: float = 1.0, seed: int = 0) -> np.ndarray:
    """A linear camera (non-negative sensitivities, so nothing clips), optionally with a power law, in [0, 1]."""
    a = np.array([[0.8, 0.3, 0.0], [0.1, 0.9, 0.1], [0.0, 0.1, 0.9]])
    lin = CC_XYZ @ a.T * 0.8
    rng = np.random.default_rng(seed)
    return np.clip(lin, 0, 1) ** gamma + rng.normal(0, 0.0001, lin.shape)


def test_characterisation_recovers_linear_camera_and_reports_honest_loo():
    rgb = _camera_patches()
    model = fit_characterisation(rgb)
    assert np.mean(model.loo_de00) < 0.2  # noise only: the camera is exactly a 3x3 of XYZ
    assert set(model.scores) >= {c.name for c in PLAIN_CANDIDATES}
    # the nested choice among the plain corrections (the one chosen above among all is one of them;
    # every fold's choice is a whole leave-one-out per candidate: 24 x 23 fits each)
    assert model.candidate in PLAIN_CANDIDATES
    nested, chosen = nested_loo_de00(rgb, CC_XYZ, CC_LAB, candidates=PLAIN_CANDIDATES)
    assert nested.shape == (24,) and len(chosen) == 24
    assert nested.mean() >= np.mean(model.loo_de00) - 1e-9  # the choice inside the folds can only cost
    back = ColorModel.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_allclose(back.to_lab(np.array([[40, 120, 200]], np.uint8)),
                               model.to_lab(np.array([[40, 120, 200]], np.uint8)), atol=1e-5)


def test_lab_solver_beats_xyz_least_squares_on_nonlinear_camera():
    rgb = _camera_patches(gamma=1.3)
    ls = loo_de00(Candidate("Cheung 2004", 3, "ls", "linear"), rgb, CC_XYZ, CC_LAB).mean()
    lab = loo_de00(Candidate("Cheung 2004", 3, "lab", "linear"), rgb, CC_XYZ, CC_LAB).mean()
    assert lab < ls


def test_flat_field_removes_vignetting():
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w]
    vign = (1 - 0.4 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2) * 4)[..., None]
    card = _encode(np.full((h, w, 3), 0.7) * vign, 0, 0)
    scene = _encode(np.full((h, w, 3), 0.3) * vign, 0, 0)
    ff = FlatField.from_image(card, sigma_px=3)
    flat = ff.apply(scene)
    raw_spread = np.ptp(scene[..., 1])
    assert raw_spread > 30 and np.ptp(flat[5:-5, 5:-5, 1] * 255) < 3
    with pytest.raises(CalibrationError, match="flat field"):
        ff.apply(scene[:-1])


def test_profile_roundtrip_corrupt_and_wrong_camera(tmp_path):
    lens = LensModel("rational", K_TRUE, np.r_[D_TRUE, 0.01, 0.0, 0.0], (640, 480))
    model = fit_characterisation(_camera_patches(), candidates=PLAIN_CANDIDATES[:2])
    prof = CalibrationProfile(image_size=(640, 480), lens=lens, mm_per_px=0.77,
                              images=({"name": "a.png", "sha256": sha256_of(b"a"), "role": "geometry"},),
                              color=model.to_dict())
    p = prof.save(tmp_path / "p.json")
    back = load_calibration(p)
    assert back.image_size == (640, 480) and back.mm_per_px == 0.77 and back.images == prof.images
    np.testing.assert_array_equal(back.lens.dist_coeffs, lens.dist_coeffs)
    assert back.color_model().method == model.method
    assert json.loads(p.read_text())["schema_version"] == 1
    with pytest.raises(CalibrationError, match="exists"):
        prof.save(p)
    back.check_image(np.zeros((480, 640, 3), np.uint8))
    with pytest.raises(CalibrationError, match="1280x960 px, but the calibration profile was fitted on 640x480"):
        back.check_image(np.zeros((960, 1280, 3), np.uint8))
    (tmp_path / "c.json").write_text(p.read_text()[:200])
    with pytest.raises(CalibrationError, match="not valid JSON"):
        load_calibration(tmp_path / "c.json")
    d = json.loads(p.read_text())
    d["schema_version"] = 99
    (tmp_path / "v.json").write_text(json.dumps(d))
    with pytest.raises(CalibrationError, match="schema_version 99"):
        load_calibration(tmp_path / "v.json")
    d["schema_version"] = 1
    d["geometry"]["lens"]["dist_coeffs"] = [0.1, 0.2]
    (tmp_path / "d.json").write_text(json.dumps(d))
    with pytest.raises(CalibrationError, match="expects"):
        load_calibration(tmp_path / "d.json")


def _demo_panel_lab(rgb, truth, to_lab):
    hmat = np.array(truth["camera_homography"]) @ np.array(truth["product_pose"])
    xs, ys = np.meshgrid(np.linspace(-31, -19, 40), np.linspace(9, 21, 40))  # clear leather, product mm
    pts = cv2.perspectiveTransform(np.stack([xs.ravel(), ys.ravel()], 1).reshape(-1, 1, 2), hmat).reshape(-1, 2)
    px = rgb[np.rint(pts[:, 1]).astype(int), np.rint(pts[:, 0]).astype(int)]
    return np.median(to_lab(px), axis=0)


@pytest.mark.parametrize("gains", [(1.0, 1.0, 1.0), (0.8, 0.95, 1.1), (1.05, 0.9, 0.75)])
def test_trust_check_on_demo_render_meets_half_a_delta_e(gains):
    from dataclasses import replace

    from goldenvision import demo

    rgb, truth = demo.render_unit(replace(demo.golden_params(), gains=gains, noise_sigma=1.5))
    check = chart_trust_check(rgb, reference_lab=PROFILE.chart.lab_ref)
    assert check.found and check.trusted and check.reason == ""
    assert check.residual_de00 <= 0.5
    panel = _demo_panel_lab(rgb, truth, check.correction.to_lab)
    assert float(delta_e_2000(panel, truth["colors"]["panel"]["lab"])) <= 0.5
    cc = check.color_correction  # the pipeline's ColorCorrection gives the same Lab
    np.testing.assert_allclose(_demo_panel_lab(rgb, truth, cc.to_lab), panel, atol=0.02)


def test_trust_check_abstains_on_a_bad_chart_and_says_when_none():
    from goldenvision import demo

    rgb, _truth = demo.render_unit(demo.golden_params())
    good = chart_trust_check(rgb, reference_lab=PROFILE.chart.lab_ref)
    # a chart of another edition/make: the reference no longer describes the patches
    wrong_ref = PROFILE.chart.lab_ref[np.r_[1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12:24]]
    bad = chart_trust_check(rgb, reference_lab=wrong_ref, corners_px=good.detection.quad_px.ravel())
    assert bad.found and not bad.trusted and bad.residual_de00 > 2.0
    assert "exceeds 2.00; colours not judged" in bad.reason
    none = chart_trust_check(np.full((400, 600, 3), 90, np.uint8))
    assert not none.found and not none.trusted and none.reason.startswith("no colour chart in the photo")


def test_cli_calibrate_geometry_and_color(tmp_path, distorted_views, cluttered_chart):
    from goldenvision.cli import app

    runner = CliRunner()
    paths = []
    for i, v in enumerate(distorted_views[:2] + [np.full((480, 640), 128, np.uint8)]):
        p = tmp_path / f"v{i}.png"
        cv2.imwrite(str(p), v)
        paths.append(str(p))
    res = runner.invoke(app, ["calibrate", "geometry", "--board", "chessboard", "--inner-corners", "8x6",
                              "--square-mm", "20", "--out", str(tmp_path / "g.json"), *paths])
    assert res.exit_code == 65 and "v2.png: chessboard with 8x6 inner corners not found" in res.output
    img = tmp_path / "chart.png"
    cv2.imwrite(str(img), cluttered_chart[1400:2000, 2200:3000, ::-1])
    out = tmp_path / "c.json"
    res = runner.invoke(app, ["calibrate", "color", "--out", str(out), str(img)])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output.strip().splitlines()[-1])
    assert d["chart_found"] and d["patch_delta_e_mean"] < 1.0 and d["patch_delta_e_max"] < 4.0 and d["method"]
    prof = load_calibration(out)
    assert prof.image_size == (800, 600) and prof.images[0]["sha256"] == sha256_of(img)
    res = runner.invoke(app, ["calibrate", "color", "--out", str(out), str(img)])
    assert res.exit_code == 73


def test_written_out_colour_constants_are_colour_sciences_to_the_bit():
    """calibration.color, .characterisation and the demo scene write colour-science's D65 white
    and sRGB matrix out (importing colour-science imports matplotlib.pyplot, ~1 s): the same bits."""
    from goldenvision.calibration import characterisation, color
    from goldenvision.demo import scene

    d65 = np.asarray(colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"], dtype=np.float64)
    srgb = colour.models.RGB_COLOURSPACE_sRGB
    for mod in (color, characterisation):
        assert mod.WHITEPOINT_D65_XY.dtype == np.float64 and mod.WHITEPOINT_D65_XYZ.dtype == np.float64
        assert np.array_equal(mod.WHITEPOINT_D65_XY, d65)
        assert np.array_equal(mod.WHITEPOINT_D65_XYZ, np.asarray(colour.xy_to_XYZ(d65), dtype=np.float64))
    assert np.array_equal(color.WHITEPOINT_D65_XY, np.asarray(srgb.whitepoint, dtype=np.float64))
    assert np.array_equal(color.M_SRGB_TO_XYZ, colour.normalised_primary_matrix(srgb.primaries, srgb.whitepoint))
    assert np.array_equal(color.M_XYZ_TO_SRGB, np.linalg.inv(colour.normalised_primary_matrix(srgb.primaries, srgb.whitepoint)))
    assert np.array_equal(scene._D65_2, d65)
