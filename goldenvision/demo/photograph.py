"""The camera and the light box: station texture (fiducials, chart, ruler), photo model, render_unit."""

from __future__ import annotations

import functools
import math
from typing import Any

import cv2
import numpy as np

from ..calibration.profile import StationProfile, load_profile
from ..errors import SpecError
from .fields import _bend_bound_mm, _unbend, bend_displacement_mm
from .render import _box_coverage_1d, _Canvas, _coaster_texture, _product_texture
from .scene import (
    _CAM_PX_PER_MM,
    _LAB_CHART_CARD,
    _LAB_MARKER_BLACK,
    _LAB_OUTSIDE,
    _LAB_PLATEN,
    _LAB_QUIET,
    _LAB_RULER,
    _LAB_RULER_INK,
    _SS,
    PROFILE_NAME,
    UnitParams,
    _apply_h,
    _camera_size,
    _mm_to_golden_px,
    camera_homography,
    demo_profile,
    lab_to_linear_srgb,
    product_pose,
)
from .truth import _unit_truth


# --------------------------------------------------------------------------------------
# Station texture
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def _station_texture(size: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear-RGB texture of the platen (station mm) and its texel -> station mm matrix."""
    prof = load_profile(PROFILE_NAME)
    fw, fh = prof.frame_mm
    cv = _Canvas((0.0, 0.0, fw, fh), _SS * _CAM_PX_PER_MM * size, lab_to_linear_srgb(_LAB_PLATEN), alpha=False)
    white = lab_to_linear_srgb(_LAB_QUIET)
    black = lab_to_linear_srgb(_LAB_MARKER_BLACK)
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, prof.marker_dictionary or "DICT_4X4_50"))
    for mid, corners in sorted(prof.marker_corners_mm.items()):
        x1, y1 = corners.min(axis=0)
        x2, y2 = corners.max(axis=0)
        quiet = 2.0
        cv.paint_rect((x1 - quiet, y1 - quiet, x2 + quiet, y2 + quiet), white)
        cells = cv2.aruco.generateImageMarker(dictionary, int(mid), 6, borderBits=1).astype(np.float32) / 255.0
        # Exact area sampling of the 6x6 cell bitmap: value = My @ bits @ Mx^T.
        rs, cs, _, _ = cv.roi((x1, y1, x2, y2))
        ex = cv.x0 + np.arange(cs.start, cs.stop + 1) * cv.t
        ey = cv.y0 + np.arange(rs.start, rs.stop + 1) * cv.t
        step = (x2 - x1) / 6.0
        mx = np.stack([_box_coverage_1d(x1 + j * step, x1 + (j + 1) * step, ex) for j in range(6)], axis=1)
        my = np.stack([_box_coverage_1d(y1 + i * step, y1 + (i + 1) * step, ey) for i in range(6)], axis=1)
        white_frac = (my @ cells @ mx.T).astype(np.float32)
        inside = np.outer(my.sum(axis=1), mx.sum(axis=1)).astype(np.float32)
        black_frac = inside - white_frac
        cv.rgb[rs, cs] = (
            cv.rgb[rs, cs] * (1.0 - inside[..., None]) + white * white_frac[..., None] + black * black_frac[..., None]
        ).astype(np.float32)
    if prof.chart is not None:
        ch = prof.chart
        half = ch.patch_mm / 2.0
        lo = ch.centers_mm.min(axis=0) - half - 1.5
        hi = ch.centers_mm.max(axis=0) + half + 1.5
        cv.paint_rect((lo[0], lo[1], hi[0], hi[1]), lab_to_linear_srgb(_LAB_CHART_CARD))
        patch_rgb = lab_to_linear_srgb(ch.lab_ref)
        for (cx, cy), rgb in zip(ch.centers_mm, patch_rgb):
            cv.paint_rect((cx - half, cy - half, cx + half, cy + half), rgb)
    # Ruler along the bottom right (visual only): 1 mm ticks, longer every 5 and 10 mm.
    rx1, rx2, ry1, ry2 = 72.0, 182.0, 136.0, 146.0
    cv.paint_rect((rx1, ry1, rx2, ry2), lab_to_linear_srgb(_LAB_RULER))
    ink = lab_to_linear_srgb(_LAB_RULER_INK)
    for k in range(0, 101):
        x = rx1 + 5.0 + k
        ln = 4.0 if k % 10 == 0 else (2.6 if k % 5 == 0 else 1.6)
        cv.paint_rect((x - 0.1, ry1, x + 0.1, ry1 + ln), ink)
    px_per_mm = 1.0 / cv.t
    img8 = np.zeros((cv.h, cv.w), np.uint8)
    for k in range(0, 101, 10):
        org = (int((rx1 + 5.0 + k - 1.2) * px_per_mm), int((ry2 - 1.2) * px_per_mm))
        cv2.putText(img8, str(k // 10), org, cv2.FONT_HERSHEY_SIMPLEX, 0.085 * px_per_mm, 255,
                    max(1, int(0.25 * px_per_mm)), cv2.LINE_AA)
    m = (img8.astype(np.float32) / 255.0)[..., None]
    cv.rgb[:] = cv.rgb * (1.0 - m) + ink.astype(np.float32) * m
    cv.rgb.setflags(write=False)  # cached and shared between photos
    return cv.rgb, cv.texel_to_mm


# --------------------------------------------------------------------------------------
# Camera
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _srgb_lut() -> np.ndarray:
    v = np.arange(65536, dtype=np.float64) / 65535.0
    enc = np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)
    lut = (255.0 * enc).astype(np.float32)
    lut.setflags(write=False)
    return lut


def _photograph(
    layers: list[tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, tuple[Any, np.ndarray, np.ndarray]]],
    h_cam: np.ndarray,
    gains: tuple[float, float, float],
    noise_seed: int,
    noise_sigma: float,
    size: float,
) -> np.ndarray:
    """Render the station plus premultiplied RGBA layers ``(texture, texel -> station mm)``."""
    w, h = _camera_size(size)
    wss, hss = w * _SS, h * _SS
    # camera px -> supersampled px (pixel centres at integers in both)
    to_ss = np.array([[_SS, 0.0, (_SS - 1) / 2.0], [0.0, _SS, (_SS - 1) / 2.0], [0.0, 0.0, 1.0]])
    hs = to_ss @ h_cam
    st_tex, st_a = _station_texture(float(size))
    outside = [float(v) for v in lab_to_linear_srgb(_LAB_OUTSIDE)]
    img: np.ndarray = cv2.warpPerspective(st_tex, hs @ st_a, (wss, hss), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=outside)
    for layer in layers:
        tex, a = layer[0], layer[1]
        bend = layer[2] if len(layer) > 2 else None
        m = hs @ a
        th, tw = tex.shape[:2]
        corners = _apply_h(m, np.array([[-1, -1], [tw, -1], [tw, th], [-1, th]], np.float64))
        pad = 2 if bend is None else 2 + int(math.ceil(_bend_bound_mm(bend[0]) * _SS * _CAM_PX_PER_MM * size * 1.1))
        x0 = max(int(math.floor(corners[:, 0].min())) - pad, 0)
        y0 = max(int(math.floor(corners[:, 1].min())) - pad, 0)
        x1 = min(int(math.ceil(corners[:, 0].max())) + pad + 1, wss)
        y1 = min(int(math.ceil(corners[:, 1].max())) + pad + 1, hss)
        if x1 <= x0 or y1 <= y0:
            continue
        if bend is None:
            shift = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]])
            warped: np.ndarray = cv2.warpPerspective(tex, shift @ m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        else:
            warped = _warp_bent(tex, hs, bend, (x0, y0, x1, y1))
        roi = img[y0:y1, x0:x1]
        roi *= 1.0 - warped[..., 3:4]
        roi += warped[..., :3]
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    small *= np.asarray(gains, np.float32)  # lighting gains commute with the (linear) box filter
    idx = np.clip(small * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    enc = _srgb_lut()[idx]
    if noise_sigma > 0:
        rng = np.random.default_rng([int(noise_seed), 5])
        enc += rng.standard_normal(enc.shape, dtype=np.float32) * np.float32(noise_sigma)
    return np.clip(np.rint(enc), 0, 255).astype(np.uint8)


def _camera_jitter(rng: np.random.Generator) -> tuple[float, float, float, float, float, float]:
    return (
        float(rng.uniform(-0.4, 0.4)),
        float(rng.uniform(-0.002, 0.002)),
        float(rng.uniform(-0.002, 0.002)),
        float(rng.uniform(0.996, 1.004)),
        float(rng.uniform(-0.008, 0.008)),
        float(rng.uniform(-0.008, 0.008)),
    )


def _gains(rng: np.random.Generator, lo: float, hi: float, tint: float) -> tuple[float, float, float]:
    b = rng.uniform(lo, hi)
    t = np.clip(1.0 + rng.normal(0.0, tint / 2, 3), 1 - tint, 1 + tint)
    return float(b * t[0]), float(b * t[1]), float(b * t[2])


def render_unit(params: UnitParams, profile: "StationProfile | str | None" = None, *, size: float = 1.0) -> tuple[np.ndarray, dict[str, Any]]:
    """Render one photo of one unit and its ground truth.

    Parameters
    ----------
    params : UnitParams
        The unit (colours, dimensions, defects) and the photo (pose, camera jitter, lighting, noise).
    profile : StationProfile or str or None
        The profile golden px refer to (default: :func:`demo_profile` of ``size``). Its layout must
        be the demo light box; only ``scale_mm_per_px`` is read.
    size : float, keyword-only
        Camera resolution factor (1.0 = 1600 x 1200 px).

    Returns
    -------
    rgb : ndarray, shape (H, W, 3), uint8
        The photo (sRGB).
    truth : dict
        JSON-able ground truth (see the module docstring and docs/DESIGN.md).
    """
    if not isinstance(params, UnitParams):
        raise SpecError(f"render_unit params: expected a UnitParams, got {type(params).__name__}")
    prof = demo_profile(size) if profile is None else load_profile(profile)
    tex = _product_texture(params, size)
    return _render_with_texture(params, tex, size), _unit_truth(params, prof, size)


def _render_with_texture(p: UnitParams, tex: tuple[np.ndarray, np.ndarray], size: float) -> np.ndarray:
    rgba, a = tex
    h_cam = camera_homography(size, p.camera_jitter)
    if any(v != 0.0 for v in p.bend):
        pose = product_pose(*p.pose)
        return _photograph([(rgba, pose @ a, (p.bend, pose, a))], h_cam, p.gains, p.noise_seed, p.noise_sigma, size)
    return _photograph([(rgba, product_pose(*p.pose) @ a)], h_cam, p.gains, p.noise_seed, p.noise_sigma, size)


def golden_params() -> UnitParams:
    """The golden unit as photographed for golden_00 (nominal camera, golden pose, gains 1)."""
    return UnitParams()


def wrong_product_image(seed: int = 0, size: float = 1.0) -> np.ndarray:
    """A round cork coaster in the light box (not the product), for registration-refusal tests.

    Returns ``(H, W, 3)`` uint8 RGB."""
    rng = np.random.default_rng([int(seed), 31])
    tex, a = _coaster_texture(seed, size)
    place = np.array([[1.0, 0, 100.0 + rng.uniform(-5, 5)], [0, 1.0, 61.5 + rng.uniform(-3, 3)], [0, 0, 1.0]])
    jitter = _camera_jitter(rng)
    g = float(rng.uniform(0.9, 1.05))
    gains = (g, g, g)
    return _photograph([(tex, place @ a)], camera_homography(size, jitter), gains, int(seed) + 1000, 1.2, size)


def empty_lightbox_image(seed: int = 0, size: float = 1.0, *, gains: tuple[float, float, float] = (1.0, 1.0, 1.0),
                         noise_sigma: float = 1.2, camera_jitter: tuple[float, ...] | None = None) -> np.ndarray:
    """The light box with nothing on the platen. Returns ``(H, W, 3)`` uint8 RGB.

    ``camera_jitter`` None draws one from ``seed`` (``seed`` 0 with None: the nominal camera)."""
    if camera_jitter is None:
        camera_jitter = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0) if seed == 0 else _camera_jitter(np.random.default_rng([int(seed), 41]))
    return _photograph([], camera_homography(size, camera_jitter), gains, int(seed) + 2000, noise_sigma, size)


def _warp_bent(tex: np.ndarray, hs: np.ndarray, bend_info: tuple[Any, np.ndarray, np.ndarray],
               box: tuple[int, int, int, int]) -> np.ndarray:
    """Warp a product texture into supersampled camera px through pose, bend and camera.

    Each output pixel centre goes back to station mm (inverse camera), to bent product mm
    (inverse pose), to the material point (inverse bend) and to texel px, then ``cv2.remap``
    (bilinear, as the rigid path's ``warpPerspective``) samples the texture there."""
    bend, pose, t2mm = bend_info
    x0, y0, x1, y1 = box
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
    pts = np.stack([xs, ys], axis=-1).reshape(-1, 2)
    q = _apply_h(np.linalg.inv(pose) @ np.linalg.inv(hs), pts)
    tp = _apply_h(np.linalg.inv(t2mm), _unbend(bend, q))
    mx = tp[:, 0].reshape(xs.shape).astype(np.float32)
    my = tp[:, 1].reshape(xs.shape).astype(np.float32)
    return cv2.remap(tex, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))


def product_mm_to_camera_px(params: UnitParams, points_product_mm: Any, *, size: float = 1.0) -> np.ndarray:
    """Where material points of the product appear in the unit's photo (camera px).

    Applies the unit's bend (:func:`bend_displacement_mm`), pose and camera homography.

    Parameters
    ----------
    params : UnitParams
    points_product_mm : array_like, shape (N, 2)
        Material points in product mm (the flat product's frame).
    size : float, keyword-only
        Camera resolution factor.

    Returns
    -------
    ndarray, shape (N, 2), float64
        Camera px (pixel centres at integers).
    """
    pts = np.asarray(points_product_mm, np.float64).reshape(-1, 2)
    bent = pts + bend_displacement_mm(params.bend, pts)
    h = camera_homography(size, params.camera_jitter) @ product_pose(*params.pose)
    return _apply_h(h, bent)


def product_mm_to_golden_px(points_product_mm: Any, *, size: float = 1.0) -> np.ndarray:
    """True golden px of material points (the golden reference is flat and in :data:`GOLDEN_POSE`).

    Returns ``(N, 2)`` float64 golden px of the demo profile of ``size``."""
    return _mm_to_golden_px(demo_profile(size), np.asarray(points_product_mm, np.float64).reshape(-1, 2))
