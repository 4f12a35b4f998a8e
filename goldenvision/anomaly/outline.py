"""Outline (silhouette) comparison: extra or missing material on the product's boundary.

Pixel statistics tolerate about a pixel of misregistration at every edge (the min/max band
of :mod:`.variation`, ``grad_px``), so a thin burr standing 1-4 px proud of an outline, or a
shallow chip, hides inside that tolerance. This check measures the outline itself, to a
fraction of a pixel, and judges it against how much the golden captures' outlines differ.

Method (all coordinates golden px, x right, y down):

1. **Foreground.** The region watched is the bounding box of the anomaly zones grown by a
   margin; its border ring gives the background colour. The product is what differs from it by
   more than the ring's own spread allows; ``fg = clip(|rgb - bg| / C, 0, 1)`` with ``C`` the
   product's median contrast just inside its outline, so ``fg`` is 0 on the background, about
   0.5 at the boundary and 1 on the product's edge, whatever its print or interior. A unit's
   image is first scaled per channel by its own ring's median (light gain). The check is off,
   with the reason in ``reason_``, where the ring is not a uniform background distinct from the
   product (textured surfaces filling the frame, no outline).
2. **Outline.** The outer contours of ``mean fg > 0.5`` over the golden captures (holes are
   not outline), smoothed, with outward normals; points outside every anomaly zone or too near
   the region's border are dropped.
3. **Offset per contour point** ``o = sum_t (fg_unit(p + t n) - G(t)) dt`` over ``t`` in
   ``[-L, L]``: the material (px) the unit has beyond (``o > 0``) or short of (``o < 0``) the
   golden mean profile ``G`` along the normal. A whole edge moved by ``d`` gives ``o = d``.
4. **Detrending.** A robust (Tukey biweight) fit of the offsets by a residual motion
   ``n . (A p + b)`` plus the two perspective terms of a linearised homography (registration
   error, size within tolerance) is subtracted, then a local
   baseline along the contour (a running median over ``±detrend_mm`` that leaves out the points
   standing out: a soft outline's slow bends, shading drift); a local bump (burr, short shot,
   chip) remains.
5. **Allowance per point** ``a = reg_px + k sigma``, ``sigma`` the RMS of the captures'
   detrended leave-one-out offsets at that point (pooled over a few px of contour, floored),
   so the allowance is wide where the golden captures' outlines disagree. Accepted good units
   (:meth:`OutlineModel.add_good`) add their own residuals: unit-to-unit variation widens it.
6. **Defects**: runs of consecutive points beyond the allowance on the same side (grown to
   the neighbours beyond half of it); their area
   ``sum |o| ds`` (extra or missing material, mm² with a scale) must reach the zone's
   ``min_area_mm2``. The score is area / minimum area (>= 1).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..results import Defect
from ._zone import _Zone

__all__ = ["OutlineConfig", "OutlineFit", "OutlineModel", "OutlineResult", "fit_outline"]

STATE_VERSION = 1
END_PX = 2.0  # px beyond each end of a profile that give its local levels
MIN_SPAN = 0.3  # least fg difference between a profile's ends for it to be rescaled
MOVED_MIN_PX = 0.5  # an edge displaced less than this is left to the pixel statistics' own band
MOVED_MARGIN_PX = 1.5  # the explained strip reaches this far beyond the old and the new edge
MOVED_SMOOTH_PX = 0.35  # an unjudged point's offset counts where it agrees with its neighbours' this closely
MAX_LOO = 64  # golden captures whose leave-one-out offsets give the spread (the mean uses all)


@dataclass(frozen=True)
class OutlineConfig:
    """Tuning of the outline check (stored in the state).

    Attributes
    ----------
    margin_frac : float
        The watched region is the anomaly zones' bounding box grown by this fraction of its
        diagonal (at least ``ring_px + profile_px``).
    ring_px : int
        Width of the border ring that gives the background colour, px.
    min_contrast : float
        Smallest colour distance (RGB, 0-255) between the product just inside its outline and
        the background for an outline to exist.
    bg_k : float
        A pixel is product where its distance from the background colour exceeds ``bg_k`` times
        the ring's 90th-percentile distance (and half ``min_contrast``); the product's contrast
        must be twice that.
    profile_mm, profile_px : float
        Half-length ``L`` of the normal profiles: ``profile_mm`` with a scale, clipped to
        [3, 12] px, else ``profile_px``.
    smooth_px : float
        Gaussian smoothing of the contour before normals, px of arc.
    reg_px : float
        Registration and edge-location uncertainty in every allowance, px.
    k_sigma : float
        Allowance multiple of the captures' per-point spread.
    sigma_floor_px : float
        Smallest per-point spread, px.
    pool_px : float
        The per-point spread is pooled over this Gaussian sigma of arc length, px.
    detrend_mm, detrend_px : float
        Reach of the local baseline along the contour (mm with a scale, else px); 0 = the
        projective detrending only.
    min_area_px : float
        Smallest reported area (px²) where the zone has no ``min_area_mm2`` or no scale.
    region_low : float
        Hysteresis: a run beyond the allowance extends to its neighbours beyond this fraction
        of it (as the pixel methods' ``region_low``), so the area is the bump's extent.
    """

    margin_frac: float = 0.04
    ring_px: int = 4
    min_contrast: float = 12.0
    bg_k: float = 3.0
    profile_mm: float = 1.2
    profile_px: float = 6.0
    smooth_px: float = 2.0
    reg_px: float = 0.3
    k_sigma: float = 4.0
    sigma_floor_px: float = 0.08
    pool_px: float = 4.0
    detrend_mm: float = 12.0
    detrend_px: float = 60.0
    min_area_px: float = 12.0
    region_low: float = 0.5


@dataclass(frozen=True)
class OutlineResult:
    """Outline check of one unit: defects, per-zone score (1.0 = smallest reported defect), map."""

    defects: tuple[Defect, ...]
    zone_scores: dict[str, float]
    map: np.ndarray  # float32 (H, W) golden px, 0 off the reported regions
    #: bool (H, W) golden px: the strip a judged edge swept by its smooth displacement (a whole
    #: edge moved: a cut length, registration left over), pixel evidence there is explained
    moved: np.ndarray | None = None


# ---------------------------------------------------------------------------------- helpers
def _foreground(img: np.ndarray, box: tuple[int, int, int, int], bg: np.ndarray, t: float) -> np.ndarray:
    """fg in [0, 1] on the box (float32 (h, w)): colour distance from ``bg`` / ``t``."""
    x0, y0, x1, y1 = box
    a = img[y0:y1, x0:x1].astype(np.float32) - bg.astype(np.float32)
    d = np.sqrt((a * a).sum(axis=2))
    return np.clip(d * np.float32(1.0 / t), 0.0, 1.0).astype(np.float32)


def _filled(mask: np.ndarray) -> np.ndarray:
    """Outer silhouettes of a bool mask (opened 3x3), holes filled."""
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(out, contours, -1, 1, thickness=-1)
    return out.astype(bool)


def _ring(box: tuple[int, int, int, int], width: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    m = np.zeros((y1 - y0, x1 - x0), bool)
    m[:width], m[-width:], m[:, :width], m[:, -width:] = True, True, True, True
    return m


def _ring_median(img: np.ndarray, box: tuple[int, int, int, int], ring: np.ndarray, valid: np.ndarray | None) -> np.ndarray | None:
    x0, y0, x1, y1 = box
    m = ring if valid is None else ring & valid[y0:y1, x0:x1]
    if m.sum() < 0.5 * ring.sum():
        return None
    return np.median(img[y0:y1, x0:x1][m].astype(np.float32), axis=0)


def _gauss_circ(v: np.ndarray, sigma: float, closed: bool) -> np.ndarray:
    """Gaussian smoothing of a 1-D (or (N, k)) sequence along axis 0, circular if closed."""
    if sigma <= 0 or len(v) < 3:
        return v.astype(np.float64)
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    a = np.asarray(v, np.float64)
    a2 = a.reshape(len(a), -1)
    pad = np.pad(a2, ((r, r), (0, 0)), mode="wrap") if closed else np.pad(a2, ((r, r), (0, 0)), mode="edge")
    out = np.stack([np.convolve(pad[:, j], k, mode="valid") for j in range(a2.shape[1])], axis=1)
    return out.reshape(a.shape)


def _window_median(v: np.ndarray, seg: np.ndarray, half: int, open_: np.ndarray) -> np.ndarray:
    """Running median (NaN ignored) of ``v`` over ``±half`` points along each contour segment
    (circular where the segment is a whole closed contour, mirrored at the ends where ``open_``)."""
    out = np.zeros_like(v)
    for s in np.unique(seg):
        idx = np.nonzero(seg == s)[0]
        x = v[idx]
        h = min(half, (len(x) - 1) // 2)
        if h <= 0:
            out[idx] = np.nanmedian(x) if np.isfinite(x).any() else 0.0
            continue
        padded = np.pad(x, h, mode="reflect") if open_[idx[0]] else np.concatenate([x[-h:], x, x[:h]])
        win = np.lib.stride_tricks.sliding_window_view(padded, 2 * h + 1)
        if np.isfinite(x).all():
            med = np.median(win, axis=1)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(win, axis=1)
        out[idx] = np.nan_to_num(med)
    return out


def _local_baseline(v: np.ndarray, seg: np.ndarray, half: int, open_: np.ndarray) -> np.ndarray:
    """Local baseline of ``v`` along the contour: a running median over ``±half`` points, then
    again without the points that stand out of the first (> 3 robust sigma, at least 0.25 px),
    so a bump, however long within the window, does not lift its own baseline."""
    if half <= 0:
        return np.zeros_like(v)
    base = _window_median(v, seg, half, open_)
    res = v - base
    fin = np.isfinite(res)
    mad = 1.4826 * float(np.median(np.abs(res[fin]))) if fin.any() else 0.0
    out = ~fin | (np.abs(res) > max(3.0 * mad, 0.25))
    return _window_median(np.where(out, np.nan, v), seg, half, open_)


# ---------------------------------------------------------------------------------- model
class OutlineModel:
    """Outline model of one golden sample; build with :meth:`fit` or :meth:`from_state`."""

    def __init__(self, *, config: OutlineConfig, shape: tuple[int, int], scale_mm_per_px: float | None) -> None:
        self.config = config
        self.shape_ = shape
        self.scale_mm_per_px = scale_mm_per_px
        self.reason_: str | None = None  # why the check is off (None = on)
        self.box_: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.bg_ = np.zeros(3, np.float32)
        self.thresh_ = 0.0
        self.points_ = np.zeros((0, 2), np.float32)
        self.normals_ = np.zeros((0, 2), np.float32)
        self.ds_ = np.zeros(0, np.float32)
        self.segment_ = np.zeros(0, np.int32)
        self.zone_ = np.zeros(0, np.int32)
        self.profile_ = np.zeros((0, 0), np.float32)  # golden mean profile G (N, T)
        self.ss_ = np.zeros(0, np.float64)  # sum of squared detrended held-out offsets per point
        self.n_ = 0  # number of held-out offset sets in ss_
        self.n_profile_ = 0  # number of profiles averaged in profile_
        #: points judged: the outline is locally smooth (radius > L) and the golden profile one clean step
        self.ok_ = np.zeros(0, bool)
        self.open_ = np.zeros(0, bool)  # per point: its stretch is not a whole closed contour
        self.explains_ = False  # a moved outline explains pixel evidence (the ring lies outside the zones)

    # -------------------------------------------------------------- derived
    @property
    def active(self) -> bool:
        return self.reason_ is None and len(self.points_) > 0

    @property
    def half_len_px(self) -> float:
        c = self.config
        if self.scale_mm_per_px:
            return float(np.clip(c.profile_mm / self.scale_mm_per_px, 3.0, 12.0))
        return c.profile_px

    def _ts(self) -> np.ndarray:
        half = self.half_len_px
        return np.arange(-half, half + 1e-6, 0.5, dtype=np.float32)

    def _detrend_half(self) -> int:
        c = self.config
        w = c.detrend_mm / self.scale_mm_per_px if self.scale_mm_per_px else c.detrend_px
        return int(round(w))

    def sigma_px(self) -> np.ndarray:
        """Per-point spread of the detrended held-out offsets (px), pooled along the contour."""
        c = self.config
        var = self.ss_ / max(self.n_, 1)
        out = np.zeros_like(var)
        for s in np.unique(self.segment_):
            idx = np.nonzero(self.segment_ == s)[0]
            out[idx] = _gauss_circ(var[idx], c.pool_px, not self.open_[idx[0]])
        return np.maximum(np.sqrt(out), c.sigma_floor_px)

    def allowance_px(self, sensitivity: np.ndarray | None = None) -> np.ndarray:
        c = self.config
        a = c.reg_px + c.k_sigma * self.sigma_px()
        if sensitivity is not None:
            a = a / np.maximum(sensitivity, 1e-3)
        return a

    # -------------------------------------------------------------- fitting
    @classmethod
    def setup(cls, images: Sequence[np.ndarray], valid_masks: Sequence[np.ndarray | None], zones: list[_Zone], *,
              scale_mm_per_px: float | None, config: OutlineConfig | None = None) -> "OutlineModel":
        """Background, threshold and golden outline from the first golden captures (``images``,
        each (H, W, 3) uint8 RGB, golden px; the first gives the background); profiles and
        spread come from :class:`OutlineFit`. ``reason_`` says why the check is off, if it is."""
        cfg = config or OutlineConfig()
        first = np.asarray(images[0])
        h, w = first.shape[:2]
        m = cls(config=cfg, shape=(h, w), scale_mm_per_px=scale_mm_per_px)
        zmask = np.zeros((h, w), bool)
        for z in zones:
            zmask |= z.mask
        ys, xs = np.nonzero(zmask)
        bx0, by0, bx1, by1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        grow = max(int(round(cfg.margin_frac * np.hypot(bx1 - bx0, by1 - by0))), cfg.ring_px + int(np.ceil(m.half_len_px + END_PX)) + 2)
        box = (max(bx0 - grow, 0), max(by0 - grow, 0), min(bx1 + grow, w), min(by1 + grow, h))
        m.box_ = box
        ring = _ring(box, cfg.ring_px)
        # the ring is known background only where the zones were drawn inside it (not a "full" zone,
        # whose border may be the product's own paper or cloth): only then does a moved outline
        # explain pixel evidence
        m.explains_ = float(zmask[box[1]:box[3], box[0]:box[2]][ring].mean()) < 0.05
        bg = _ring_median(first, box, ring, valid_masks[0])
        if bg is None:
            m.reason_ = "the background ring around the anomaly zones is mostly outside the image"
            return m
        x0, y0, x1, y1 = box
        d = np.sqrt(((first[y0:y1, x0:x1].astype(np.float32) - bg) ** 2).sum(axis=2))
        # not background: farther from its colour than the ring's own spread allows
        t_bg = max(0.5 * cfg.min_contrast, cfg.bg_k * float(np.percentile(d[ring], 90)))
        sil = _filled(d >= t_bg)
        band = sil & ~cv2.erode(sil.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        band &= cv2.erode(sil.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if band.sum() < 20:
            m.reason_ = "no product outline found against the background around the anomaly zones"
            return m
        d_in = float(np.median(d[band]))  # the product's contrast just inside its outline
        if d_in < max(cfg.min_contrast, 2.0 * t_bg):
            m.reason_ = (f"no distinct outline: the product differs from the background by {d_in:.1f} (RGB) where "
                         f"{max(cfg.min_contrast, 2.0 * t_bg):.1f} is needed (the background varies by {t_bg / cfg.bg_k:.1f})")
            return m
        m.bg_, m.thresh_ = bg.astype(np.float32), d_in
        fgs = [f for f in (m._fg_of(np.asarray(im), v) for im, v in zip(images, valid_masks)) if f is not None]
        if not fgs:
            m.reason_ = "the golden captures' backgrounds cannot be read"
            return m
        if m._set_contour(np.mean(fgs, axis=0), zmask):
            m.assign_zones(zones)
        return m

    def _fg_of(self, img: np.ndarray, valid: np.ndarray | None) -> np.ndarray | None:
        ring = _ring(self.box_, self.config.ring_px)
        bg = _ring_median(img, self.box_, ring, valid)
        if bg is None:
            return None
        gain = self.bg_ / np.maximum(bg, 1.0)
        x0, y0, x1, y1 = self.box_
        sub = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
        sub[:] = img[y0:y1, x0:x1].astype(np.float32) * gain.astype(np.float32)
        fg = _foreground(sub, (0, 0, x1 - x0, y1 - y0), self.bg_, self.thresh_)
        if valid is not None:
            fg = np.where(valid[y0:y1, x0:x1], fg, np.nan).astype(np.float32)
        return fg

    def _set_contour(self, fg_mean: np.ndarray, zmask: np.ndarray) -> bool:
        c = self.config
        x0, y0, x1, y1 = self.box_
        sil = np.nan_to_num(fg_mean, nan=0.0) > 0.5
        sil = cv2.morphologyEx(sil.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        contours, _ = cv2.findContours(sil, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        half = self.half_len_px
        min_len = max(8.0 * half, 40.0)
        pts, nrm, dss, seg, straight = [], [], [], [], []
        for ci, cnt in enumerate(contours):
            p = cnt[:, 0, :].astype(np.float64)
            if len(p) < min_len:
                continue
            ps = _gauss_circ(p, c.smooth_px, True)
            tan = np.roll(ps, -1, axis=0) - np.roll(ps, 1, axis=0)
            tl = np.linalg.norm(tan, axis=1, keepdims=True)
            tan = tan / np.maximum(tl, 1e-9)
            nv = np.stack([tan[:, 1], -tan[:, 0]], axis=1)
            # outward = towards the background: lower fg at +2 n than at -2 n on average
            fplus = _sample(np.nan_to_num(fg_mean), ps + 2 * nv)
            fminus = _sample(np.nan_to_num(fg_mean), ps - 2 * nv)
            if np.mean(fplus - fminus) > 0:
                nv = -nv
            ds = 0.5 * tl[:, 0]
            # local radius of curvature: arc over the turn of the tangent 3 points either side
            turn = np.arccos(np.clip((np.roll(tan, -3, axis=0) * np.roll(tan, 3, axis=0)).sum(axis=1), -1, 1))
            arc = sum(np.roll(ds, j) for j in range(-3, 4))
            straight.append(arc > half * turn)  # radius > L: the normal profile crosses one edge
            pts.append(ps + np.array([x0, y0]))
            nrm.append(nv)
            dss.append(ds)
            seg.append(np.full(len(ps), ci))
        if not pts:
            self.reason_ = "no product outline found inside the anomaly zones"
            return False
        p = np.concatenate(pts)
        nv = np.concatenate(nrm)
        ds = np.concatenate(dss)
        sg = np.concatenate(seg)
        # keep points inside an anomaly zone and with their whole profile inside the box
        h, w = zmask.shape
        xi = np.clip(np.round(p[:, 0]).astype(int), 0, w - 1)
        yi = np.clip(np.round(p[:, 1]).astype(int), 0, h - 1)
        keep = zmask[yi, xi]
        m = half + END_PX + c.ring_px + 1
        keep &= (p[:, 0] >= x0 + m) & (p[:, 0] <= x1 - 1 - m) & (p[:, 1] >= y0 + m) & (p[:, 1] <= y1 - 1 - m)
        if keep.sum() < min_len:
            self.reason_ = "no product outline found inside the anomaly zones"
            return False
        # a contour cut by the filter falls into open stretches (no wrap-around between them; a
        # stretch across the contour's start is split in two)
        new = np.zeros(len(p), bool)
        new[1:] = (sg[1:] != sg[:-1]) | (keep[1:] != keep[:-1])
        stretch = np.cumsum(new)
        whole_ids = {int(k) for k in np.unique(sg) if keep[sg == k].all()}
        whole = np.isin(sg, list(whole_ids))
        self.open_ = ~whole[keep]
        self.points_ = p[keep].astype(np.float32)
        self.normals_ = nv[keep].astype(np.float32)
        self.ds_ = ds[keep].astype(np.float32)
        self.segment_ = stretch[keep].astype(np.int32)
        self.zone_ = np.full(int(keep.sum()), -1, np.int32)  # filled by the caller's zones order
        self.ok_ = np.concatenate(straight)[keep]
        return True

    def assign_zones(self, zones: list[_Zone]) -> None:
        """Index (into ``zones``) of the first zone holding each contour point."""
        h, w = self.shape_
        xi = np.clip(np.round(self.points_[:, 0]).astype(int), 0, w - 1)
        yi = np.clip(np.round(self.points_[:, 1]).astype(int), 0, h - 1)
        zi = np.full(len(self.points_), -1, np.int32)
        for k in range(len(zones) - 1, -1, -1):
            zi = np.where(zones[k].mask[yi, xi], k, zi)
        self.zone_ = zi

    def _profiles(self, img: np.ndarray, valid: np.ndarray | None) -> np.ndarray | None:
        """fg profiles (N, T) along the normals of the golden outline, NaN off the valid pixels.

        Each profile is rescaled between its own ends (the medians of ``END_PX`` px beyond
        ``±L``: the local background outside, the product inside), so uneven light and shading
        near the outline do not read as material; profiles whose ends differ by less than
        ``MIN_SPAN`` (a thin part, background on both sides) are kept as they are."""
        ring = _ring(self.box_, self.config.ring_px)
        bg = _ring_median(img, self.box_, ring, valid)
        if bg is None:
            return None
        ts = self._ts()
        half = float(ts[-1])
        ext = np.concatenate([np.arange(-half - END_PX, -half, 0.5), ts, np.arange(half + 0.5, half + END_PX + 0.25, 0.5)]).astype(np.float32)
        n_end = (len(ext) - len(ts)) // 2
        x0, y0 = self.box_[0], self.box_[1]
        base = self.points_ - np.array([x0, y0], np.float32)
        xy = base[:, None, :] + ext[None, :, None] * self.normals_[:, None, :]
        # sample the unit's colours along the normals (not the whole region: fewer pixels), then fg
        x1, y1 = self.box_[2], self.box_[3]
        mx, my = xy[..., 0].astype(np.float32), xy[..., 1].astype(np.float32)
        rgb = cv2.remap(np.ascontiguousarray(img[y0:y1, x0:x1]).astype(np.float32), mx, my, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        a = rgb * (self.bg_ / np.maximum(bg, 1.0)).astype(np.float32) - self.bg_
        prof = np.clip(np.sqrt((a * a).sum(axis=2)) * np.float32(1.0 / self.thresh_), 0.0, 1.0)
        if valid is not None:
            vin = cv2.remap(valid[y0:y1, x0:x1].astype(np.float32), mx, my, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
            prof = np.where(vin > 0.999, prof, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            f_in = np.nanmedian(prof[:, :n_end], axis=1)
            f_out = np.nanmedian(prof[:, -n_end:], axis=1)
        span = f_in - f_out
        ok = np.isfinite(span) & (span >= MIN_SPAN)
        core = prof[:, n_end:n_end + len(ts)]
        norm = (core - np.where(ok, f_out, 0.0)[:, None]) / np.where(ok, span, 1.0)[:, None]
        return norm.astype(np.float32)

    def _detrend(self, o: np.ndarray) -> np.ndarray:
        """Offsets minus a robust residual projective motion (linearised homography: affine plus
        the two perspective terms) and a running median along the contour."""
        ok = self.ok_ & np.isfinite(o)
        o = np.where(ok, o, 0.0).astype(np.float64)
        p = self.points_.astype(np.float64)
        nv = self.normals_.astype(np.float64)
        c = p.mean(axis=0)
        s = max(float(np.abs(p - c).max()), 1.0)
        q = (p - c) / s
        nq = nv[:, 0] * q[:, 0] + nv[:, 1] * q[:, 1]
        a = np.stack([nv[:, 0] * q[:, 0], nv[:, 0] * q[:, 1], nv[:, 0], nv[:, 1] * q[:, 0], nv[:, 1] * q[:, 1], nv[:, 1],
                      nq * q[:, 0], nq * q[:, 1]], axis=1)
        w = ok.astype(np.float64)
        r = o
        for _ in range(4):
            coef, *_ = np.linalg.lstsq(a * w[:, None], o * w, rcond=None)
            r = o - a @ coef
            mad = 1.4826 * float(np.median(np.abs(r - np.median(r)))) + 1e-3
            u = np.abs(r) / (4.685 * mad)
            w = np.where(ok & (u < 1), (1 - u * u) ** 2, 0.0)  # Tukey biweight
        r = np.where(ok, r, np.nan)
        return np.nan_to_num(r - _local_baseline(r, self.segment_, self._detrend_half(), self.open_))

    # -------------------------------------------------------------- production
    def _edge_px(self, prof: np.ndarray, near: np.ndarray | None = None) -> np.ndarray:
        """Sub-pixel position ``t`` (px along the normal) where each profile falls through 0.5
        (inside to outside; linear interpolation), the crossing nearest ``near`` (default 0);
        NaN where it never does."""
        ts = self._ts()
        a, b = prof[:, :-1] - 0.5, prof[:, 1:] - 0.5
        with np.errstate(all="ignore"):
            cross = (a >= 0) & (b < 0)
            t = ts[:-1][None, :] + 0.5 * a / (a - b)
        t = np.where(cross, t, np.nan)
        ref = np.zeros(len(prof)) if near is None else np.nan_to_num(near)
        dist = np.where(cross, np.abs(t - ref[:, None]), np.inf)
        j = np.argmin(dist, axis=1)
        out = t[np.arange(len(prof)), j]
        return np.where(cross.any(axis=1), out, np.nan)

    def _raw_offsets(self, prof: np.ndarray) -> np.ndarray:
        """Offsets (px, + = extra material) of profiles against the golden mean: the shift of the
        0.5 crossing; where either has none inside ``±L`` (material missing or added beyond the
        profile), the area difference ``sum (fg - G) dt``."""
        t_g = self._edge_px(self.profile_)
        t_u = self._edge_px(prof, t_g)
        d = prof - self.profile_
        area = np.where(np.isnan(d), 0.0, d).sum(axis=1) * 0.5
        return np.where(np.isfinite(t_u) & np.isfinite(t_g), t_u - t_g, area)

    def offsets_px(self, img: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray | None:
        """Detrended offsets (px, + = extra material) of a registered unit at each contour point."""
        p = self._profiles(img, valid)
        if p is None:
            return None
        return self._detrend(self._raw_offsets(p))

    def add_good(self, images: Sequence[np.ndarray], valid_masks: Sequence[np.ndarray] | None = None) -> None:
        """Accepted good units: each one's offsets (before it joins) widen the spread, then its
        profile joins the golden mean."""
        if not self.active:
            return
        for i, im in enumerate(images):
            v = None if valid_masks is None else np.asarray(valid_masks[i], bool)
            p = self._profiles(np.asarray(im), v)
            if p is None:
                continue
            r = self._detrend(self._raw_offsets(p))
            self.ss_ = self.ss_ + r * r
            self.n_ += 1
            p = np.where(np.isnan(p), self.profile_, p)
            k = self.n_profile_
            self.profile_ = ((self.profile_ * k + p) / (k + 1)).astype(np.float32)
            self.n_profile_ = k + 1

    def score(self, img: np.ndarray, valid: np.ndarray | None, zones: list[_Zone]) -> OutlineResult | None:
        """Judge a registered unit's outline (None when the check is off or the unit's background
        cannot be read)."""
        if not self.active:
            return None
        p = self._profiles(img, valid)
        if p is None:
            return None
        raw = self._raw_offsets(p)
        r = self._detrend(raw)
        sens = np.array([zones[k].spec.sensitivity if k >= 0 else 1.0 for k in self.zone_], np.float64)
        allow = self.allowance_px(sens)
        seed = self.ok_ & (np.abs(r) > allow)
        out = self.ok_ & (np.abs(r) > self.config.region_low * allow)
        sign = np.sign(r)
        amap = np.zeros(self.shape_, np.float32)
        defects: list[Defect] = []
        zone_scores: dict[str, float] = {}
        sc = self.scale_mm_per_px
        for s in np.unique(self.segment_):
            idx = np.nonzero(self.segment_ == s)[0]
            closed = not self.open_[idx[0]]
            runs = _runs(out[idx] & (sign[idx] > 0), closed) + _runs(out[idx] & (sign[idx] < 0), closed)
            for run in runs:
                ii = idx[run]
                if not seed[ii].any():
                    continue
                zi = self.zone_[ii]
                zi = zi[zi >= 0]
                if not len(zi):
                    continue
                z = zones[int(np.bincount(zi).argmax())]
                area_px = float((np.abs(r[ii]) * self.ds_[ii]).sum())
                if sc and z.spec.min_area_mm2 > 0:
                    ratio = area_px * sc * sc / z.spec.min_area_mm2
                else:
                    ratio = area_px / self.config.min_area_px
                score = float(ratio)
                zone_scores[z.spec.name] = max(zone_scores.get(z.spec.name, 0.0), min(score, 0.999))
                if ratio < 1.0:
                    continue
                zone_scores[z.spec.name] = max(zone_scores[z.spec.name], score)
                # from where the edge should be (the golden outline moved by the smooth displacement)
                # to where it is
                base = self.points_[ii] + (np.nan_to_num(raw[ii]) - r[ii])[:, None] * self.normals_[ii]
                tip = base + r[ii, None] * self.normals_[ii]
                ends = np.concatenate([base, tip])
                bx0, by0 = np.floor(ends.min(axis=0) - 1).astype(int)
                bx1, by1 = np.ceil(ends.max(axis=0) + 2).astype(int)
                h, w = self.shape_
                bbox = (max(int(bx0), 0), max(int(by0), 0), min(int(bx1), w), min(int(by1), h))
                poly = np.round(np.concatenate([base, tip[::-1]])).astype(np.int32)
                cv2.fillPoly(amap, [poly], score)
                cv2.polylines(amap, [poly], True, score)
                defects.append(Defect(bbox=bbox, score=score, zone=z.spec.name, defect_type=z.spec.defect_type,
                                      severity=z.spec.severity, area_px=int(round(area_px)),
                                      area_mm2=None if not sc else area_px * sc * sc))
        return OutlineResult(defects=tuple(defects), zone_scores=zone_scores, map=amap,
                             moved=self._moved_strip(raw, r) if self.explains_ else None)

    def _moved_strip(self, raw: np.ndarray, r: np.ndarray) -> np.ndarray | None:
        """Pixels between the golden outline and where its smooth displacement put it, grown by
        ``MOVED_MARGIN_PX``, where it moved over ``MOVED_MIN_PX``; None where it did not.

        The smooth displacement is ``raw - r`` (what the detrending removed) at judged points, and
        the raw offset at the others (a junction, an uneven profile) where it agrees within
        ``MOVED_SMOOTH_PX`` with its neighbours' (4 points either side): a whole edge that moved,
        not the jumps of a tangle of parts."""
        half = self.half_len_px
        fin = np.isfinite(raw)
        near = _window_median(np.where(fin, raw, np.nan), self.segment_, 4, self.open_)
        smooth = fin & (np.abs(raw - near) < MOVED_SMOOTH_PX) & (np.abs(raw) <= half)
        b = np.where(self.ok_, np.nan_to_num(raw) - r, np.nan_to_num(raw))
        sel = (self.ok_ | smooth) & (np.abs(b) > MOVED_MIN_PX)
        if not sel.any():
            return None
        bb = np.clip(b[sel], -half, half)
        lo = np.minimum(bb, 0) - MOVED_MARGIN_PX
        hi = np.maximum(bb, 0) + MOVED_MARGIN_PX
        steps = np.arange(0.0, 2 * half + 2 * MOVED_MARGIN_PX + 0.5, 0.5)
        t = lo[:, None] + steps[None, :]
        inside = t <= hi[:, None]
        xy = self.points_[sel][:, None, :] + t[..., None] * self.normals_[sel][:, None, :]
        h, w = self.shape_
        xi = np.clip(np.round(xy[..., 0][inside]).astype(int), 0, w - 1)
        yi = np.clip(np.round(xy[..., 1][inside]).astype(int), 0, h - 1)
        mask = np.zeros((h, w), np.uint8)
        mask[yi, xi] = 1
        return cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool)

    # -------------------------------------------------------------- persistence
    def to_state(self) -> dict[str, Any]:
        if not self.active:  # the check is off: the reason and the frame are all there is to keep
            off = OutlineModel(config=self.config, shape=self.shape_, scale_mm_per_px=self.scale_mm_per_px)
            off.reason_ = self.reason_ or "no product outline found inside the anomaly zones"
            return off._state()
        return self._state()

    def _state(self) -> dict[str, Any]:
        c = self.config
        return {
            "version": STATE_VERSION,
            "config": {k: getattr(c, k) for k in c.__dataclass_fields__},
            "shape": list(self.shape_),
            "scale_mm_per_px": self.scale_mm_per_px,
            "reason": self.reason_,
            "box": list(self.box_),
            "bg": [float(v) for v in self.bg_],
            "thresh": float(self.thresh_),
            "points": self.points_.astype(np.float32),
            "normals": self.normals_.astype(np.float32),
            "ds": self.ds_.astype(np.float32),
            "segment": self.segment_.astype(np.int32),
            "zone": self.zone_.astype(np.int32),
            "profile": self.profile_.astype(np.float32),
            "ss": self.ss_.astype(np.float64),
            "n": int(self.n_),
            "n_profile": int(self.n_profile_),
            "ok": self.ok_.astype(bool),
            "open": self.open_.astype(bool),
            "explains": bool(self.explains_),
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> "OutlineModel":
        if st["version"] != STATE_VERSION:
            raise ValueError(f"outline state: expected version {STATE_VERSION}, got {st['version']}")
        h, w = (int(v) for v in st["shape"])
        m = cls(config=OutlineConfig(**st["config"]), shape=(h, w), scale_mm_per_px=st["scale_mm_per_px"])
        m.reason_ = st["reason"]
        b = [int(v) for v in st["box"]]
        m.box_ = (b[0], b[1], b[2], b[3])
        m.bg_ = np.asarray(st["bg"], np.float32)
        m.thresh_ = float(st["thresh"])
        m.points_ = np.asarray(st["points"], np.float32).reshape(-1, 2)
        m.normals_ = np.asarray(st["normals"], np.float32).reshape(-1, 2)
        m.ds_ = np.asarray(st["ds"], np.float32)
        m.segment_ = np.asarray(st["segment"], np.int32)
        m.zone_ = np.asarray(st["zone"], np.int32)
        m.profile_ = np.asarray(st["profile"], np.float32)
        m.ss_ = np.asarray(st["ss"], np.float64)
        m.n_ = int(st["n"])
        m.n_profile_ = int(st["n_profile"])
        m.ok_ = np.asarray(st["ok"], bool)
        m.open_ = np.asarray(st["open"], bool)
        m.explains_ = bool(st["explains"])
        n = len(m.points_)
        if not (len(m.normals_) == len(m.ds_) == len(m.segment_) == len(m.zone_) == len(m.ss_) == len(m.ok_) == len(m.open_) == n) or (n and m.profile_.shape[0] != n):
            raise ValueError("outline state: per-point arrays differ in length")
        return m


def _sample(img: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return cv2.remap(img.astype(np.float32), xy[:, 0:1].astype(np.float32), xy[:, 1:2].astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[:, 0]


def _runs(flags: np.ndarray, closed: bool = True) -> list[np.ndarray]:
    """Index arrays of the runs of True in a sequence (circular if ``closed``)."""
    n = len(flags)
    if n == 0 or not flags.any():
        return []
    if flags.all():
        return [np.arange(n)]
    start = int(np.argmin(flags)) if closed else 0  # closed: start at a False, runs do not wrap past it
    order = (np.arange(n) + start) % n
    f = flags[order]
    out = []
    i = 0
    while i < n:
        if f[i]:
            j = i
            while j < n and f[j]:
                j += 1
            out.append(order[i:j])
            i = j
        else:
            i += 1
    return out


class OutlineFit:
    """Fits an :class:`OutlineModel` from golden captures streamed one at a time (each read once).

    The outline comes from ``contour_images`` if given, else from the first capture added.
    Per capture only its per-point profile integral is kept (N floats), so the cost grows with
    the outline's length, not with the images. Errors reading the outline leave the check off
    with the reason in ``reason_`` (sealing goes on).
    """

    def __init__(self, zones: list[_Zone], *, scale_mm_per_px: float | None, config: OutlineConfig | None = None,
                 contour_images: Sequence[np.ndarray] | None = None,
                 contour_masks: Sequence[np.ndarray | None] | None = None) -> None:
        self.zones, self.scale, self.config = zones, scale_mm_per_px, config
        self.model: OutlineModel | None = None
        self._sum: np.ndarray | None = None
        self._cnt: np.ndarray | None = None
        self._profs: list[np.ndarray] = []
        if contour_images is not None and len(contour_images):
            masks = list(contour_masks) if contour_masks is not None else [None] * len(contour_images)
            self._setup(contour_images, masks)

    def _off(self, shape: tuple[int, ...], why: str) -> None:
        self.model = OutlineModel(config=self.config or OutlineConfig(), shape=(int(shape[0]), int(shape[1])),
                                  scale_mm_per_px=self.scale)
        self.model.reason_ = why

    def _setup(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]) -> None:
        try:
            self.model = OutlineModel.setup(images, masks, self.zones, scale_mm_per_px=self.scale, config=self.config)
        except (cv2.error, ValueError, FloatingPointError) as exc:
            self._off(np.asarray(images[0]).shape, f"the outline could not be read ({exc})")

    def add(self, img: np.ndarray, valid: np.ndarray | None = None) -> None:
        """One golden capture ((H, W, 3) uint8 RGB, golden px; ``valid`` (H, W) bool or None)."""
        if self.model is None:
            self._setup([img], [valid])
        m = self.model
        if m is None or not m.active:
            return
        try:
            p = m._profiles(np.asarray(img), valid)
        except (cv2.error, ValueError) as exc:
            m.reason_ = f"the outline could not be read ({exc})"
            return
        if p is None:
            return
        ok = ~np.isnan(p)
        if self._sum is None or self._cnt is None:
            self._sum, self._cnt = np.zeros(p.shape, np.float64), np.zeros(p.shape, np.float64)
        self._sum += np.where(ok, p, 0.0)
        self._cnt += ok
        if len(self._profs) < MAX_LOO:  # N x T float16 per capture (a few 10 kB)
            self._profs.append(p.astype(np.float16))

    def result(self) -> OutlineModel:
        """The fitted model: mean profile and the spread of the leave-one-out offsets."""
        m = self.model
        if m is None:
            raise ValueError("OutlineFit.result: no capture was added")
        if not m.active:
            return m
        k = len(self._profs)
        if k == 0 or self._cnt is None or self._sum is None or not (self._cnt > 0).all():
            m.reason_ = "the golden captures do not show the whole outline"
            return m
        m.profile_ = (self._sum / self._cnt).astype(np.float32)
        m.n_profile_ = k
        g = m.profile_
        falls = ((g[:, :-1] >= 0.5) & (g[:, 1:] < 0.5)).sum(axis=1)
        rises = ((g[:, :-1] < 0.5) & (g[:, 1:] >= 0.5)).sum(axis=1)
        # one clean step between uniform sides (not a junction of two materials or parts)
        m.ok_ &= (falls == 1) & (rises == 0) & (g[:, 0] >= 0.8) & (g[:, -1] <= 0.2)
        m.ok_ &= (g.max(axis=1) <= 1.25) & (g.min(axis=1) >= -0.25)
        if m.ok_.sum() < 20:
            m.reason_ = "the golden outline has no smooth stretch to compare (too jagged, or parts too close together)"
            return m
        ss = np.zeros(len(m.points_), np.float64)
        n_loo = len(self._profs)
        if k >= 2:
            g_all = m.profile_.astype(np.float64)
            for pc in self._profs:
                p = np.where(np.isnan(pc), g_all, pc.astype(np.float64))
                m.profile_ = ((k * g_all - p) / (k - 1)).astype(np.float32)  # leave-one-out golden mean
                r = m._detrend(m._raw_offsets(p.astype(np.float32)))
                ss += r * r
            m.profile_ = g_all.astype(np.float32)
        m.ss_, m.n_ = ss, n_loo if k >= 2 else 0
        return m


def fit_outline(captures: Sequence[np.ndarray], valid_masks: Sequence[np.ndarray] | None, zones: list[_Zone], *,
                scale_mm_per_px: float | None, config: OutlineConfig | None = None) -> OutlineModel:
    """Fit an :class:`OutlineModel` on aligned golden captures (the outline from the first five)."""
    masks: list[np.ndarray | None] = [None if valid_masks is None else np.asarray(valid_masks[i], bool)
                                      for i in range(len(captures))]
    fit = OutlineFit(zones, scale_mm_per_px=scale_mm_per_px, config=config,
                     contour_images=[np.asarray(c) for c in captures[:5]], contour_masks=masks[:5])
    for c, v in zip(captures, masks):
        fit.add(np.asarray(c), v)
    return fit.result()
