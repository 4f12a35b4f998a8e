"""Painting in mm: exact-coverage canvas, signed distances, noise, the wallet texture and its defects."""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from .fields import _blotch_direction, _plating_l, blotch_field
from .scene import (
    _BUCKLE_CENTER_MM,
    _BUCKLE_R_MM,
    _BUCKLE_SLOT_MM,
    _BUCKLE_W_X_MM,
    _CAM_PX_PER_MM,
    _HOLE_R_MM,
    _LAB_HOLE,
    _LAB_INK,
    _LAB_METAL,
    _LAB_THREAD,
    _LOGO_CENTER_MM,
    _LOGO_INK_BOX_MM,
    _LOGO_SIZE_MM,
    _PANEL_H_MM,
    _PANEL_R_MM,
    _RIVET_CENTER_MM,
    _SEAM_N,
    _SEAM_PITCH_MM,
    _SEAM_Y_MM,
    _SS,
    _STITCH_LEN_MM,
    _STITCH_W_MM,
    _STRAP_X_MM,
    _TEX_BOX_MM,
    DefectParams,
    UnitParams,
    lab_to_linear_srgb,
)


def _box_coverage_1d(lo: float, hi: float, edges: np.ndarray) -> np.ndarray:
    """Overlap of [lo, hi] with each cell [edges[i], edges[i+1]], as a fraction of the cell."""
    left = np.maximum(edges[:-1], lo)
    right = np.minimum(edges[1:], hi)
    return np.clip(right - left, 0.0, None) / (edges[1:] - edges[:-1])


class _Canvas:
    """A linear-RGB texture over a box in some mm frame, with exact-coverage painters."""

    def __init__(self, box_mm: tuple[float, float, float, float], px_per_mm: float, fill: np.ndarray | None, alpha: bool):
        x1, y1, x2, y2 = box_mm
        self.t = 1.0 / px_per_mm
        self.x0, self.y0 = x1, y1
        self.w = int(math.ceil((x2 - x1) * px_per_mm))
        self.h = int(math.ceil((y2 - y1) * px_per_mm))
        self.rgb = np.zeros((self.h, self.w, 3), np.float32)
        if fill is not None:
            self.rgb[:] = np.asarray(fill, np.float32)
        self.alpha = np.zeros((self.h, self.w), np.float32) if alpha else None

    @property
    def texel_to_mm(self) -> np.ndarray:
        """Texel px (centres at integers) -> mm of the canvas frame."""
        t = self.t
        return np.array([[t, 0.0, self.x0 + 0.5 * t], [0.0, t, self.y0 + 0.5 * t], [0.0, 0.0, 1.0]])

    def _range(self, lo: float, hi: float, origin: float, n: int) -> tuple[int, int]:
        a = max(int(math.floor((lo - origin) / self.t)) - 1, 0)
        b = min(int(math.ceil((hi - origin) / self.t)) + 1, n)
        return a, max(a, b)

    def roi(self, box_mm: tuple[float, float, float, float]) -> tuple[slice, slice, np.ndarray, np.ndarray]:
        """Slices of the texels touching ``box_mm`` and the mm grids (X, Y) of their centres."""
        c0, c1 = self._range(box_mm[0], box_mm[2], self.x0, self.w)
        r0, r1 = self._range(box_mm[1], box_mm[3], self.y0, self.h)
        xs = (self.x0 + (np.arange(c0, c1) + 0.5) * self.t).astype(np.float32)
        ys = (self.y0 + (np.arange(r0, r1) + 0.5) * self.t).astype(np.float32)
        return slice(r0, r1), slice(c0, c1), xs[None, :], ys[:, None]

    def coverage_from_sdf(self, d: np.ndarray) -> np.ndarray:
        """Signed distance (mm, < 0 inside) -> coverage with a one-texel linear ramp."""
        return np.clip(0.5 - d / self.t, 0.0, 1.0).astype(np.float32)

    def rect_coverage(self, box_mm: tuple[float, float, float, float]) -> tuple[slice, slice, np.ndarray]:
        """Exact area coverage of an axis-aligned rectangle."""
        rs, cs, _, _ = self.roi(box_mm)
        ex = self.x0 + np.arange(cs.start, cs.stop + 1) * self.t
        ey = self.y0 + np.arange(rs.start, rs.stop + 1) * self.t
        cov = np.outer(_box_coverage_1d(box_mm[1], box_mm[3], ey), _box_coverage_1d(box_mm[0], box_mm[2], ex))
        return rs, cs, cov.astype(np.float32)

    def paint(self, rs: slice, cs: slice, cov: np.ndarray, rgb: np.ndarray) -> None:
        """Over-composite a colour (3,) or a field (h, w, 3) with coverage ``cov``."""
        c = cov[..., None]
        self.rgb[rs, cs] = self.rgb[rs, cs] * (1.0 - c) + np.asarray(rgb, np.float32) * c
        if self.alpha is not None:
            self.alpha[rs, cs] = self.alpha[rs, cs] * (1.0 - cov) + cov

    def paint_rect(self, box_mm: tuple[float, float, float, float], rgb: np.ndarray) -> None:
        rs, cs, cov = self.rect_coverage(box_mm)
        self.paint(rs, cs, cov, rgb)


def _sdf_round_box(x: np.ndarray, y: np.ndarray, cx: float, cy: float, hx: float, hy: float, r: float) -> np.ndarray:
    qx = np.abs(x - cx) - (hx - r)
    qy = np.abs(y - cy) - (hy - r)
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - r


def _sdf_segment(x: np.ndarray, y: np.ndarray, p0: np.ndarray, p1: np.ndarray, half_w: float) -> np.ndarray:
    d = p1 - p0
    t = np.clip(((x - p0[0]) * d[0] + (y - p0[1]) * d[1]) / float(d @ d), 0.0, 1.0)
    return np.hypot(x - (p0[0] + t * d[0]), y - (p0[1] + t * d[1])) - half_w


@functools.lru_cache(maxsize=64)
def _l_lut(lab: tuple[float, float, float], lo: float, hi: float) -> np.ndarray:
    """Linear sRGB of (L*, a, b) for L* on a 0.01 grid from ``lo`` to ``hi``: for fields where only L* varies."""
    grid = np.arange(lo, hi + 0.02, 0.01)
    rgb = lab_to_linear_srgb(np.stack([grid, np.full_like(grid, lab[1]), np.full_like(grid, lab[2])], axis=-1)).astype(np.float32)
    rgb.setflags(write=False)
    return rgb


def _rgb_from_l(l_field: np.ndarray, lab: tuple[float, float, float], lo: float, hi: float) -> np.ndarray:
    """Linear sRGB of an L* field with fixed a*, b* (look-up at 0.01 L*: error < 0.005 L*)."""
    lut = _l_lut(tuple(float(v) for v in lab), float(lo), float(hi))
    idx = np.clip(np.rint((np.asarray(l_field, np.float32) - np.float32(lo)) * np.float32(100.0)), 0, len(lut) - 1).astype(np.intp)
    return lut[idx]


def _noise_field(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """Band-limited zero-mean noise: white noise on a grid of ``cell_px`` texels, cubic upsampled."""
    gh = max(int(math.ceil(shape[0] / cell_px)) + 3, 4)
    gw = max(int(math.ceil(shape[1] / cell_px)) + 3, 4)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    up = cv2.resize(coarse, (int(round(gw * cell_px)), int(round(gh * cell_px))), interpolation=cv2.INTER_CUBIC)
    return up[: shape[0], : shape[1]]


# --------------------------------------------------------------------------------------
# Product texture
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _logo_mask_hr() -> tuple[np.ndarray, float]:
    """The "GV" ink mask at 20 px/mm over the ink box (resolution-independent truth)."""
    ppm = 20.0
    x1, y1, x2, y2 = _LOGO_INK_BOX_MM
    w, h = int(round((x2 - x1) * ppm)), int(round((y2 - y1) * ppm))
    ss = 4
    big = np.zeros((h * ss, w * ss), np.uint8)
    scale = 1.0
    (tw, th), _ = cv2.getTextSize("GV", cv2.FONT_HERSHEY_DUPLEX, scale, 2)
    scale = 0.62 * h * ss / th
    thick = max(1, int(round(0.09 * h * ss)))
    (tw, th), _ = cv2.getTextSize("GV", cv2.FONT_HERSHEY_DUPLEX, scale, thick)
    org = (int((w * ss - tw) / 2), int(0.66 * h * ss + th / 2 - th * 0.2))
    cv2.putText(big, "GV", org, cv2.FONT_HERSHEY_DUPLEX, scale, 255, thick, cv2.LINE_8)
    # underline bar
    cv2.rectangle(big, (int(0.08 * w * ss), int(0.86 * h * ss)), (int(0.92 * w * ss), int(0.95 * h * ss)), 255, -1)
    mask = cv2.resize(big.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)
    mask.setflags(write=False)
    return mask, ppm


def _missing_print_box(d: DefectParams) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = _LOGO_INK_BOX_MM
    frac = float(np.clip(d.length_mm, 0.2, 0.9))
    return (x2 - frac * (x2 - x1), y1, x2, y2)


def _stain_circles(d: DefectParams) -> np.ndarray:
    rng = np.random.default_rng([d.seed, 77])
    n = 4
    ang = rng.uniform(0, 2 * np.pi, n)
    rad = d.length_mm * rng.uniform(0.25, 0.5, n)
    r = d.length_mm * rng.uniform(0.45, 0.7, n)
    c = np.stack([d.center_mm[0] + rad * np.cos(ang), d.center_mm[1] + rad * np.sin(ang), r], axis=1)
    return np.vstack([[d.center_mm[0], d.center_mm[1], 0.7 * d.length_mm], c])


def _stain_sdf(x: np.ndarray, y: np.ndarray, circles: np.ndarray) -> np.ndarray:
    d: np.ndarray | None = None
    for cx, cy, r in circles:
        di = np.hypot(x - cx, y - cy) - r
        d = di if d is None else np.minimum(d, di)
    assert d is not None, "circles: expected at least one (cx, cy, r) row"
    return d


def _defect_footprint(d: DefectParams) -> tuple[tuple[float, float, float, float], float]:
    """Bounding box (product mm) and area (mm²) of a defect."""
    if d.kind == "scratch":
        p0, p1 = _scratch_ends(d)
        hw = d.width_mm / 2.0
        box = (min(p0[0], p1[0]) - hw, min(p0[1], p1[1]) - hw, max(p0[0], p1[0]) + hw, max(p0[1], p1[1]) + hw)
        return box, d.length_mm * d.width_mm + math.pi * hw * hw
    if d.kind == "skipped_stitch":
        boxes = [_stitch_box(i) for i in d.stitches]
        box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        return box, len(d.stitches) * _STITCH_LEN_MM * _STITCH_W_MM
    if d.kind == "stain":
        circles = _stain_circles(d)
        box = (
            float((circles[:, 0] - circles[:, 2]).min()), float((circles[:, 1] - circles[:, 2]).min()),
            float((circles[:, 0] + circles[:, 2]).max()), float((circles[:, 1] + circles[:, 2]).max()),
        )
        step = 0.05
        xs = np.arange(box[0], box[2], step) + step / 2
        ys = np.arange(box[1], box[3], step) + step / 2
        area = float((_stain_sdf(xs[None, :], ys[:, None], circles) < 0).sum() * step * step)
        return box, area
    # missing print: the removed part of the ink
    mask, ppm = _logo_mask_hr()
    x1, y1, x2, y2 = _LOGO_INK_BOX_MM
    mb = _missing_print_box(d)
    c0 = int(round((mb[0] - x1) * ppm))
    removed = mask[:, c0:]
    rows = np.nonzero(removed.max(axis=1) > 0.02)[0]
    cols = np.nonzero(removed.max(axis=0) > 0.02)[0]
    box = (mb[0] + cols.min() / ppm, y1 + rows.min() / ppm, mb[0] + (cols.max() + 1) / ppm, y1 + (rows.max() + 1) / ppm)
    return box, float(removed.sum() / ppm / ppm)


def _scratch_ends(d: DefectParams) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(d.center_mm, np.float64)
    u = np.array([math.cos(math.radians(d.angle_deg)), math.sin(math.radians(d.angle_deg))])
    return c - u * d.length_mm / 2, c + u * d.length_mm / 2


def _stitch_x(i: int) -> float:
    return (i - (_SEAM_N - 1) / 2.0) * _SEAM_PITCH_MM


def _stitch_box(i: int) -> tuple[float, float, float, float]:
    x = _stitch_x(i)
    return (x - _STITCH_LEN_MM / 2, _SEAM_Y_MM - _STITCH_W_MM / 2, x + _STITCH_LEN_MM / 2, _SEAM_Y_MM + _STITCH_W_MM / 2)


def _product_texture(p: UnitParams, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied linear RGBA texture of the product (float32, (h, w, 4)) and texel -> product mm."""
    cv = _Canvas(_TEX_BOX_MM, _SS * _CAM_PX_PER_MM * size, None, alpha=True)
    rng = np.random.default_rng([int(p.grain_seed), 11])
    px_per_mm = 1.0 / cv.t
    # leather grain: zero-mean band-limited noise in L* (1 mm and 0.3 mm octaves)
    grain = 0.8 * _noise_field(rng, (cv.h, cv.w), 1.0 * px_per_mm) + 0.6 * _noise_field(rng, (cv.h, cv.w), 0.3 * px_per_mm)
    grain2 = _noise_field(rng, (cv.h, cv.w), 0.6 * px_per_mm)
    defects = {d.kind: d for d in p.defects}

    # panel
    hw = p.panel_width_mm / 2.0
    rs, cs, X, Y = cv.roi((-hw, -_PANEL_H_MM / 2, hw, _PANEL_H_MM / 2))
    cov = cv.coverage_from_sdf(_sdf_round_box(X, Y, 0.0, 0.0, hw, _PANEL_H_MM / 2, _PANEL_R_MM))
    g = grain[rs, cs]
    inside = cov > 0.5
    g = (g - g[inside].mean()) / max(float(g[inside].std()), 1e-6) * p.grain_sd
    l_field = p.panel_lab[0] + g
    if "stain" in defects:
        d = defects["stain"]
        circles = _stain_circles(d)
        sc = np.clip(0.5 - _stain_sdf(X, Y, circles) / 0.25, 0.0, 1.0)  # 0.25 mm soft rim
        l_field = l_field + d.strength * sc
    if p.blotch[0] > 0:
        # blotchy dye lot: a zero-mean (over the panel colour zone) chroma field added to (a*, b*)
        lab_f = np.empty(l_field.shape + (3,), np.float64)
        lab_f[..., 0] = l_field
        lab_f[..., 1:] = np.asarray(p.panel_lab[1:], np.float64)
        lab_f[..., 1:] += blotch_field(p, X, Y)[..., None] * _blotch_direction(p)[1:]
        cv.paint(rs, cs, cov, lab_to_linear_srgb(lab_f).astype(np.float32))
    else:
        cv.paint(rs, cs, cov, _rgb_from_l(l_field, p.panel_lab, p.panel_lab[0] - 25, p.panel_lab[0] + 8))

    # seam: stitch holes, then thread dashes
    hole = lab_to_linear_srgb(_LAB_HOLE)
    thread = lab_to_linear_srgb(_LAB_THREAD)
    missing = set(defects["skipped_stitch"].stitches) if "skipped_stitch" in defects else set()
    for i in range(_SEAM_N):
        x = _stitch_x(i)
        for hx in (x - _STITCH_LEN_MM / 2 - 0.15, x + _STITCH_LEN_MM / 2 + 0.15):
            rs, cs, X, Y = cv.roi((hx - 0.5, _SEAM_Y_MM - 0.5, hx + 0.5, _SEAM_Y_MM + 0.5))
            cv.paint(rs, cs, cv.coverage_from_sdf(np.hypot(X - hx, Y - _SEAM_Y_MM) - _HOLE_R_MM), hole)
    for i in range(_SEAM_N):
        if i in missing:
            continue
        b = _stitch_box(i)
        rs, cs, X, Y = cv.roi(b)
        x = _stitch_x(i)
        sdf = _sdf_round_box(X, Y, x, _SEAM_Y_MM, _STITCH_LEN_MM / 2, _STITCH_W_MM / 2, _STITCH_W_MM / 2)
        # slight twist shading along the thread
        shade = (1.0 - 0.12 * np.abs(Y - _SEAM_Y_MM) / (_STITCH_W_MM / 2))[..., None]
        cv.paint(rs, cs, cv.coverage_from_sdf(sdf), thread[None, None, :] * shade)

    # logo patch + ink
    lx, ly = _LOGO_CENTER_MM
    lw, lh = _LOGO_SIZE_MM
    rs, cs, X, Y = cv.roi((lx - lw / 2, ly - lh / 2, lx + lw / 2, ly + lh / 2))
    cov = cv.coverage_from_sdf(_sdf_round_box(X, Y, lx, ly, lw / 2, lh / 2, 1.5))
    cv.paint(rs, cs, cov, lab_to_linear_srgb(p.logo_lab))
    mask, ppm = _logo_mask_hr()
    ix1, iy1, ix2, iy2 = _LOGO_INK_BOX_MM
    if "missing_print" in defects:
        mb = _missing_print_box(defects["missing_print"])
        mask = mask.copy()
        mask[:, int(round((mb[0] - ix1) * ppm)):] = 0.0
    rs, cs, X, Y = cv.roi(_LOGO_INK_BOX_MM)
    # resample the 20 px/mm mask onto the texels (area for downsampling, linear otherwise)
    to_hr = np.array([[ppm, 0, -ix1 * ppm - 0.5], [0, ppm, -iy1 * ppm - 0.5], [0, 0, 1.0]])
    tex = np.array([[cv.t, 0, cv.x0 + (cs.start + 0.5) * cv.t], [0, cv.t, cv.y0 + (rs.start + 0.5) * cv.t], [0, 0, 1.0]])
    m = to_hr @ tex
    src = mask
    if cv.t * ppm > 1.0:  # texel bigger than a mask pixel: box-filter first
        k = int(round(cv.t * ppm))
        src = cv2.blur(mask, (k, k), borderType=cv2.BORDER_CONSTANT)
    ink_cov = cv2.warpAffine(src, m[:2], (cs.stop - cs.start, rs.stop - rs.start), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    cv.paint(rs, cs, np.clip(ink_cov, 0, 1), lab_to_linear_srgb(_LAB_INK))

    # rivet: radial metallic gradient
    rx, ry = _RIVET_CENTER_MM
    rr = p.rivet_diameter_mm / 2.0
    rs, cs, X, Y = cv.roi((rx - rr, ry - rr, rx + rr, ry + rr))
    rho = np.hypot(X - rx, Y - ry)
    # domed head: flat plated rim (a clean edge for the diameter) and a highlight off centre
    l_r = 64.0 + 14.0 * np.exp(-((np.hypot(X - rx + 0.3 * rr, Y - ry + 0.3 * rr) / (0.3 * rr)) ** 2))
    cv.paint(rs, cs, cv.coverage_from_sdf(rho - rr), _rgb_from_l(l_r, p.metal_lab, 40, 85))

    # strap (leather, own grain)
    sw = p.strap_width_mm / 2.0
    sx1, sx2 = _STRAP_X_MM
    rs, cs, X, Y = cv.roi((sx1, -sw, sx2, sw))
    cov = cv.coverage_from_sdf(_sdf_round_box(X, Y, (sx1 + sx2) / 2, 0.0, (sx2 - sx1) / 2, sw, 0.8))
    g = grain2[rs, cs]
    g = (g - g.mean()) / max(float(g.std()), 1e-6) * p.grain_sd
    cv.paint(rs, cs, cov, _rgb_from_l(p.strap_lab[0] + g, p.strap_lab, p.strap_lab[0] - 6, p.strap_lab[0] + 6))

    # buckle: plated plate with a cylindrical gradient, a specular band and a slot
    bx, by = _BUCKLE_CENTER_MM
    bh = p.buckle_width_mm / 2.0
    bw = _BUCKLE_W_X_MM / 2.0
    rs, cs, X, Y = cv.roi((bx - bw, by - bh, bx + bw, by + bh))
    cov = cv.coverage_from_sdf(_sdf_round_box(X, Y, bx, by, bw, bh, _BUCKLE_R_MM))
    u = (X - bx) / bw + 0.0 * Y
    l_b = _plating_l(u) + (p.metal_lab[0] - _LAB_METAL[0])
    if "scratch" in defects:
        d = defects["scratch"]
        p0, p1 = _scratch_ends(d)
        sc = cv.coverage_from_sdf(_sdf_segment(X, Y, p0, p1, d.width_mm / 2.0))
        l_b = l_b + d.strength * sc
    rgb_b = _rgb_from_l(np.clip(l_b, 30, 95), p.metal_lab, 30, 95)
    spec = np.exp(-0.5 * ((X - (bx - 0.35 * bw)) / 0.6) ** 2) + 0.0 * Y
    rgb_b = rgb_b + (0.7 * spec)[..., None].astype(np.float32)
    cv.paint(rs, cs, cov, rgb_b)
    slx, sly = _BUCKLE_SLOT_MM[0] / 2, _BUCKLE_SLOT_MM[1] / 2
    rs, cs, X, Y = cv.roi((bx - slx, by - sly, bx + slx, by + sly))
    slot = cv.coverage_from_sdf(_sdf_round_box(X, Y, bx, by, slx, sly, slx))
    cv.paint(rs, cs, slot, lab_to_linear_srgb((22.0, 10.0, 12.0)))

    assert cv.alpha is not None  # the canvas was made with alpha=True
    rgba = np.concatenate([cv.rgb, cv.alpha[..., None]], axis=-1)  # painted over 0: already premultiplied
    return rgba, cv.texel_to_mm


def _coaster_texture(seed: int, size: float) -> tuple[np.ndarray, np.ndarray]:
    """A round cork coaster (the wrong product), premultiplied RGBA in its own mm frame."""
    r = 45.0
    cv = _Canvas((-r - 1, -r - 1, r + 1, r + 1), _SS * _CAM_PX_PER_MM * size, None, alpha=True)
    rng = np.random.default_rng([int(seed), 23])
    rs, cs, X, Y = cv.roi((-r, -r, r, r))
    rho = np.hypot(X, Y)
    g = 2.5 * _noise_field(rng, (cv.h, cv.w), 0.5 / cv.t)[rs, cs]
    cork = (62.0, 8.0, 24.0)
    cv.paint(rs, cs, cv.coverage_from_sdf(rho - r), _rgb_from_l(cork[0] + g, cork, 40, 80))
    ring = cv.coverage_from_sdf(np.abs(rho - 30.0) - 1.5)
    cv.paint(rs, cs, ring, lab_to_linear_srgb((35.0, -25.0, 10.0)))
    star = cv.coverage_from_sdf(np.abs(np.hypot(X, Y) - 12.0 - 4.0 * np.cos(5 * np.arctan2(Y, X))) - 1.0)
    cv.paint(rs, cs, star, lab_to_linear_srgb((35.0, -25.0, 10.0)))
    assert cv.alpha is not None  # the canvas was made with alpha=True
    rgba = np.concatenate([cv.rgb, cv.alpha[..., None]], axis=-1)  # painted over 0: already premultiplied
    return rgba, cv.texel_to_mm
