"""Photographs of zoo units: in the station light box, or hand-held on a table without fiducials.

Station mode reuses the wallet's light box and camera (:func:`goldenvision.demo.photograph._photograph`):
the product lies on the platen at ``zoo_pose`` (product mm -> station mm) and the demo camera
looks at it through :func:`goldenvision.demo.camera_homography` with the unit's jitter.

Hand-held mode: the product lies on a table (table mm, origin at the product's golden place);
an inspector's phone looks at it through

    ``H = K R(tilt_x, tilt_y) K^-1 A(roll, scale, shift)``  (table mm -> camera px)

with ``A`` the fronto-parallel view (7.8 px/mm x ``size`` x ``scale``, rotated by ``roll``
about the image centre), ``K`` a pinhole of focal length 1.2 image widths and ``R`` the
phone's tilt (a rotation about the camera centre, so the plane is seen in perspective; the
view is then re-aimed so that the table origin stays where the untilted view puts it). The
light is uneven (a gain ramp and vignetting, applied in linear light), the sensor adds noise,
and the photo is JPEG-compressed. Some frames carry a known-size marker on the table: an ArUco
square (DICT_4X4_50 id 7, 20 mm) or a 100 mm ruler with 1 mm ticks.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from ..photograph import _photograph, _srgb_lut
from ..render import _box_coverage_1d, _Canvas, _noise_field
from ..scene import (
    _CAM_PX_PER_MM,
    _SS,
    _apply_h,
    _camera_size,
    camera_homography,
    lab_to_linear_srgb,
)
from .base import Family, ZooUnit

__all__ = ["zoo_pose", "handheld_homography", "camera_of", "pose_of", "photograph_unit", "product_texture",
           "MARKER_SIZE_MM", "RULER_LENGTH_MM"]

#: Side of the hand-held ArUco marker's black square (DICT_4X4_50, id 7).
MARKER_SIZE_MM = 20.0
MARKER_ID = 7
#: The ruler's numbered span (0 to 100 mm ticks).
RULER_LENGTH_MM = 100.0
_FOCAL_WIDTHS = 1.2
_LAB_TABLE = (52.0, 3.0, 9.0)
_LAB_PAPER_WHITE = (95.0, 0.0, 0.0)
_LAB_BLACK = (12.0, 0.0, 0.0)
_LAB_RULER = (90.0, 0.0, 5.0)
_STATION_CENTER_MM = (100.0, 61.5)


def zoo_pose(angle_deg: float = 0.0, dx_mm: float = 0.0, dy_mm: float = 0.0, *, mode: str = "station") -> np.ndarray:
    """Product mm -> station mm (station) or table mm (hand-held): rotation about the product's
    origin, then the golden place plus ``(dx, dy)``."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    ox, oy = _STATION_CENTER_MM if mode == "station" else (0.0, 0.0)
    return np.array([[c, -s, ox + dx_mm], [s, c, oy + dy_mm], [0.0, 0.0, 1.0]])


def handheld_homography(size: float, camera: tuple[float, ...]) -> np.ndarray:
    """Table mm -> camera px of the hand-held phone (see the module docstring).

    ``camera = (roll_deg, tilt_x_deg, tilt_y_deg, scale, shift_x, shift_y)``; shifts in image widths."""
    w, h = _camera_size(size)
    roll, tx, ty, sc, sx, sy = (float(v) for v in camera)
    f = _CAM_PX_PER_MM * size * sc
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    c, s = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    a = np.array([[f * c, -f * s, cx + sx * w], [f * s, f * c, cy + sy * w], [0.0, 0.0, 1.0]])
    big_f = _FOCAL_WIDTHS * w
    k = np.array([[big_f, 0.0, cx], [0.0, big_f, cy], [0.0, 0.0, 1.0]])
    ax, ay = math.radians(tx), math.radians(ty)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(ax), -math.sin(ax)], [0.0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0.0, math.sin(ay)], [0.0, 1.0, 0.0], [-math.sin(ay), 0.0, math.cos(ay)]])
    hmat = k @ ry @ rx @ np.linalg.inv(k) @ a
    # the inspector aims at the product: the table origin stays where the untilted view puts it
    o = hmat @ np.array([0.0, 0.0, 1.0])
    shift = np.array([[1.0, 0.0, cx + sx * w - o[0] / o[2]], [0.0, 1.0, cy + sy * w - o[1] / o[2]], [0.0, 0.0, 1.0]])
    hmat = shift @ hmat
    return hmat / hmat[2, 2]


def camera_of(unit: ZooUnit, size: float) -> np.ndarray:
    """Station mm (station) or table mm (hand-held) -> camera px of the unit's photo."""
    if unit.mode == "station":
        return camera_homography(size, unit.camera)
    return handheld_homography(size, unit.camera)


def pose_of(unit: ZooUnit) -> np.ndarray:
    return zoo_pose(*unit.pose, mode=unit.mode)


def _texture_px_per_mm(mode: str, size: float) -> float:
    # hand-held photos come up to 10 % closer: texels stay no bigger than a supersampled pixel
    return _SS * _CAM_PX_PER_MM * size * (1.0 if mode == "station" else 1.15)


def product_texture(fam: Family, unit: ZooUnit, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied linear RGBA texture of the unit (float32, (h, w, 4)) and texel -> product mm."""
    if hasattr(fam, "texture"):  # a family with its own painter (the wallet)
        return fam.texture(unit, size)
    cv = _Canvas(fam.box_mm, _texture_px_per_mm(unit.mode, size), None, alpha=True)
    fam.paint(unit, cv)
    assert cv.alpha is not None  # made with alpha=True
    rgba = np.concatenate([cv.rgb, cv.alpha[..., None]], axis=-1)
    return rgba.astype(np.float32), cv.texel_to_mm


# --------------------------------------------------------------------------------------
# Hand-held scene: table, markers, uneven light, JPEG
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def _table_texture(size: float) -> tuple[np.ndarray, np.ndarray]:
    """A laminate table top (linear RGB, table mm) with a soft grain, and texel -> table mm."""
    ppm = max(2.0, 4.0 * size)
    cv = _Canvas((-190.0, -150.0, 190.0, 150.0), ppm, lab_to_linear_srgb(_LAB_TABLE), alpha=False)
    rng = np.random.default_rng(20260)
    grain = 1.5 * _noise_field(rng, (cv.h, cv.w), 6.0 * ppm) + 0.8 * _noise_field(rng, (cv.h, cv.w), 1.5 * ppm)
    lab = np.empty((cv.h, cv.w, 3))
    lab[..., 0] = _LAB_TABLE[0] + grain
    lab[..., 1] = _LAB_TABLE[1]
    lab[..., 2] = _LAB_TABLE[2] + 0.5 * grain
    cv.rgb[:] = lab_to_linear_srgb(lab).astype(np.float32)
    cv.rgb.setflags(write=False)
    return cv.rgb, cv.texel_to_mm


@functools.lru_cache(maxsize=4)
def _marker_texture(kind: str, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied RGBA of the marker in its own mm frame (origin at its centre)."""
    ppm = _texture_px_per_mm("handheld", size)
    white = lab_to_linear_srgb(_LAB_PAPER_WHITE)
    black = lab_to_linear_srgb(_LAB_BLACK)
    if kind == "aruco":
        half = MARKER_SIZE_MM / 2
        q = half + 4.0
        cv = _Canvas((-q - 0.5, -q - 0.5, q + 0.5, q + 0.5), ppm, None, alpha=True)
        cv.paint_rect((-q, -q, q, q), white)
        dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
        cells = cv2.aruco.generateImageMarker(dictionary, MARKER_ID, 6, borderBits=1).astype(np.float32) / 255.0
        rs, cs, _, _ = cv.roi((-half, -half, half, half))
        ex = cv.x0 + np.arange(cs.start, cs.stop + 1) * cv.t
        ey = cv.y0 + np.arange(rs.start, rs.stop + 1) * cv.t
        step = MARKER_SIZE_MM / 6.0
        mx = np.stack([_box_coverage_1d(-half + j * step, -half + (j + 1) * step, ex) for j in range(6)], axis=1)
        my = np.stack([_box_coverage_1d(-half + i * step, -half + (i + 1) * step, ey) for i in range(6)], axis=1)
        white_frac = (my @ cells @ mx.T).astype(np.float32)
        inside = np.outer(my.sum(axis=1), mx.sum(axis=1)).astype(np.float32)
        cv.rgb[rs, cs] = (cv.rgb[rs, cs] * (1.0 - inside[..., None]) + white * white_frac[..., None]
                          + black * (inside - white_frac)[..., None]).astype(np.float32)
    else:  # ruler: 0..100 mm ticks, strip 112 x 14 mm
        cv = _Canvas((-57.0, -7.5, 57.0, 7.5), ppm, None, alpha=True)
        cv.paint_rect((-56.0, -7.0, 56.0, 7.0), lab_to_linear_srgb(_LAB_RULER))
        for k in range(0, 101):
            x = -50.0 + k
            ln = 5.0 if k % 10 == 0 else (3.5 if k % 5 == 0 else 2.2)
            cv.paint_rect((x - 0.1, -7.0, x + 0.1, -7.0 + ln), black)
        img8 = np.zeros((cv.h, cv.w), np.uint8)
        for k in range(0, 101, 10):
            org = (int((-50.0 + k - 1.2 - cv.x0) / cv.t), int((5.5 - cv.y0) / cv.t))
            cv2.putText(img8, str(k // 10), org, cv2.FONT_HERSHEY_SIMPLEX, 0.09 / cv.t, 255, max(1, int(0.25 / cv.t)),
                        cv2.LINE_AA)
        assert cv.alpha is not None  # made with alpha=True
        m = (img8.astype(np.float32) / 255.0)[..., None] * cv.alpha[..., None]
        cv.rgb[:] = cv.rgb * (1.0 - m) + black.astype(np.float32) * m
    assert cv.alpha is not None  # every marker canvas is made with alpha=True
    rgba = np.concatenate([cv.rgb, cv.alpha[..., None]], axis=-1).astype(np.float32)
    rgba.setflags(write=False)
    return rgba, cv.texel_to_mm


def marker_points_mm(unit: ZooUnit) -> np.ndarray:
    """Table mm of the marker's reference points: the ArUco black square's 4 corners (TL, TR,
    BR, BL) or the ruler's 0 mm and 100 mm tick tops."""
    x, y, ang = unit.marker_pose
    m = zoo_pose(ang, x, y, mode="handheld")
    if unit.marker == "aruco":
        h = MARKER_SIZE_MM / 2
        local = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    else:
        local = np.array([[-50.0, -7.0], [50.0, -7.0]])
    return _apply_h(m, local)


def _composite(img: np.ndarray, tex: np.ndarray, m: np.ndarray) -> None:
    """Over-composite a premultiplied RGBA texture through ``m`` (texel -> supersampled px)."""
    hss, wss = img.shape[:2]
    th, tw = tex.shape[:2]
    corners = _apply_h(m, np.array([[-1, -1], [tw, -1], [tw, th], [-1, th]], np.float64))
    x0 = max(int(math.floor(corners[:, 0].min())) - 2, 0)
    y0 = max(int(math.floor(corners[:, 1].min())) - 2, 0)
    x1 = min(int(math.ceil(corners[:, 0].max())) + 3, wss)
    y1 = min(int(math.ceil(corners[:, 1].max())) + 3, hss)
    if x1 <= x0 or y1 <= y0:
        return
    shift = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]])
    warped = cv2.warpPerspective(tex, shift @ m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    roi = img[y0:y1, x0:x1]
    roi *= 1.0 - warped[..., 3:4]
    roi += warped[..., :3]


def light_field(unit: ZooUnit, size: float) -> np.ndarray:
    """Per-pixel lighting gain (H, W) float32 of a hand-held photo (1 everywhere in the station)."""
    w, h = _camera_size(size)
    gx, gy, vig = (float(v) for v in unit.light)
    u = (np.arange(w, dtype=np.float32) - (w - 1) / 2.0) / w
    v = (np.arange(h, dtype=np.float32) - (h - 1) / 2.0) / w
    return (1.0 + gx * u[None, :] + gy * v[:, None] - vig * (u[None, :] ** 2 + v[:, None] ** 2)).astype(np.float32)


def _photograph_handheld(layers: list[tuple[np.ndarray, np.ndarray]], unit: ZooUnit, size: float) -> np.ndarray:
    w, h = _camera_size(size)
    wss, hss = w * _SS, h * _SS
    to_ss = np.array([[_SS, 0.0, (_SS - 1) / 2.0], [0.0, _SS, (_SS - 1) / 2.0], [0.0, 0.0, 1.0]])
    hs = to_ss @ handheld_homography(size, unit.camera)
    bg, bg_a = _table_texture(float(size))
    img = cv2.warpPerspective(bg, hs @ bg_a, (wss, hss), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    for tex, a in layers:
        _composite(img, tex, hs @ a)
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    small *= light_field(unit, size)[..., None]
    small *= np.asarray(unit.gains, np.float32)
    idx = np.clip(small * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    enc = _srgb_lut()[idx]
    if unit.noise_sigma > 0:
        rng = np.random.default_rng([int(unit.noise_seed), 5])
        enc += rng.standard_normal(enc.shape, dtype=np.float32) * np.float32(unit.noise_sigma)
    rgb = np.clip(np.rint(enc), 0, 255).astype(np.uint8)
    if unit.jpeg_quality:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(unit.jpeg_quality)])
        if not ok:  # pragma: no cover
            raise RuntimeError("JPEG encoding failed")
        dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if dec is None:  # pragma: no cover
            raise RuntimeError("JPEG decoding failed")
        rgb = cv2.cvtColor(dec, cv2.COLOR_BGR2RGB)
    return rgb


def photograph_unit(fam: Family, unit: ZooUnit, size: float,
                    texture: "tuple[np.ndarray, np.ndarray] | None" = None) -> np.ndarray:
    """The unit's photo, ``(H, W, 3)`` uint8 sRGB (hand-held: as decoded from its JPEG).

    ``texture`` reuses a product texture (the golden captures photograph one physical unit)."""
    rgba, a = product_texture(fam, unit, size) if texture is None else texture
    pose = pose_of(unit)
    if unit.mode == "station":
        return _photograph([(rgba, pose @ a)], camera_of(unit, size), unit.gains, unit.noise_seed, unit.noise_sigma, size)
    layers = []
    if unit.marker != "none":
        mtex, ma = _marker_texture(unit.marker, float(size))
        x, y, ang = unit.marker_pose
        layers.append((mtex, zoo_pose(ang, x, y, mode="handheld") @ ma))
    layers.append((rgba, pose @ a))
    return _photograph_handheld(layers, unit, size)
