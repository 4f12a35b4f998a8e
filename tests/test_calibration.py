"""Tests of goldenvision.calibration.geometry and .color with synthetic known answers."""

from __future__ import annotations

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


def _encode(lin: np.ndarray, noise: float, seed: int) -> np.ndarray:
    enc = srgb_encode(np.clip(lin, 0, 1)) * 255.0
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
    xs, ys = np.meshgrid(np.arange(1600, dtype=np.float64), np.arange(1200, dtype=np.float64))
    raw = np.column_stack([xs.ravel(), ys.ravel()]).reshape(-1, 1, 2)
    und = cv2.undistortPoints(raw, k, dist, R=None, P=k, criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 12, 1e-7))
    rect = apply_homography(und.reshape(-1, 2), np.linalg.inv(h_true)).reshape(1200, 1600, 2).astype(np.float32)
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
    truth = _encode(_station_linear(), 0, 0)
    m = np.zeros((H, W), bool)
    m[900:1150, 150:520] = True  # the chart area
    assert np.abs(r.image[m].astype(int) - truth[m].astype(int)).mean() < 6


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
