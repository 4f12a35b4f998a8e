"""The ground seen through a product's holes: not a defect (internal to :mod:`.model`).

A product lying on a surface (a hand-held photo on whatever table is at hand, a light box's
floor) shows that surface through its through-holes, slots, the gaps between chain links and
round corners inside an anomaly zone. The surface is not the product: its brightness and tint
change from photo to photo (another table, another light), and pixel statistics fitted on the
golden captures' table read a different table under a unit's hole as a defect (zoo pcba
hand-held: a good board flagged 1.1x threshold at a mounting hole whose table was a little
pinker than in the golden captures).

Fit (:class:`GroundFit`, at sealing):

* the *ground band*: the image border band (``band_frac`` of the shorter side, at least
  ``band_min_px``) outside every anomaly zone grown by ``zone_margin_px``; its colour in each
  capture gives that capture's ground statistics: per-channel median and robust spread
  ``s = max(1.4826 MAD, spread_floor)`` (Hampel 1974, doi:10.1080/01621459.1974.10482962) of the
  8-bit sRGB values. Per channel because a photo's light and white balance act per channel
  (a gain each), so one photo's own band absorbs them; robust because the band holds the table's
  grain, the light's fall-off and the odd stray object;
* a pixel is *ground-like* in a photo when ``max_c |x_c - median_c| / s_c <= k`` (``k_sigma``);
* the *see-through* mask: zone pixels ground-like in every golden capture, opened (3 x 3, no
  single-pixel coincidences) and kept as connected regions of at least ``min_region_px``.

The check is off, with the reason in ``reason_``, when there is no band (a ``full`` zone or zones
to the frame's edge), when the band is not uniform (fewer than ``min_ground_frac`` of its pixels
ground-like in some capture: part of the product or a second surface lies in it), when the
product is not distinct from the ground (the median ``max_c`` z-distance of the zones' product
pixels below ``min_contrast``: the product's own colour would read as ground), or when the
see-through share of a zone exceeds ``max_share`` (the product looks like the ground there and
painting would blind the check).

Score (:meth:`GroundModel.paint`, first thing in ``AnomalyModel.score`` and ``add_good``): the
unit's own ground statistics from the same band (the table under this photo); in the see-through
mask, a unit pixel that is ground-like under them (within ``k_sigma``; inside a region that is
mostly ground-like and ``edge_px`` from the golden's product, within :meth:`GroundModel.k_open`,
which takes in the JPEG chroma ringing of the surrounding colour inside a small opening) is
replaced by the golden mean, and its evidence is dropped where it lies ``edge_px`` from the
product (beside the edge a burr's blurred evidence spreads onto ground-like pixels and stays). A
pixel that is not ground-like (material filling the hole, a short shot, a hole out of position)
is left and judged as before. Pixels where the golden shows product are never touched: a hole
that moved shows ground where the golden has product and is found there. The unit is left alone
when its band cannot be read (mostly invalid), is far less uniform than the golden's (spread over
``max_spread_ratio`` x the golden's: a shadow or an object in it would make everything look like
ground), or when its ground is not distinct from its product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ._zone import _Zone

__all__ = ["GroundConfig", "GroundFit", "GroundModel", "ground_band", "ground_stats", "ground_z"]

MAD_TO_SIGMA = 1.4826  # normal consistency of the median absolute deviation


@dataclass(frozen=True)
class GroundConfig:
    """Tuning of the see-through check (see the module docstring)."""

    band_frac: float = 0.04
    band_min_px: int = 4
    zone_margin_px: int = 4
    min_band_px: int = 400
    spread_floor: float = 2.0
    k_sigma: float = 4.0
    min_ground_frac: float = 0.9
    min_contrast: float = 8.0
    max_share: float = 0.2
    min_region_px: int = 6
    max_spread_ratio: float = 2.0
    open_frac: float = 0.5
    edge_px: int = 3
    min_band_valid_frac: float = 0.5


def ground_band(zones: list[_Zone], shape: tuple[int, int], cfg: GroundConfig) -> np.ndarray:
    """Border band of the golden frame outside every zone grown by ``zone_margin_px``, (H, W) bool."""
    h, w = shape
    b = max(cfg.band_min_px, int(round(cfg.band_frac * min(h, w))))
    band = np.ones(shape, bool)
    band[b:h - b, b:w - b] = False
    zm: np.ndarray = np.zeros(shape, np.uint8)
    for z in zones:
        zm |= z.mask.astype(np.uint8)
    r = cfg.zone_margin_px
    if r > 0:
        zm = cv2.dilate(zm, np.ones((2 * r + 1, 2 * r + 1), np.uint8))
    return band & (zm == 0)


def ground_stats(img: np.ndarray, sel: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel median and robust spread (1.4826 MAD, at least ``floor``) of ``img[sel]``,
    (3,) float32 each, in 8-bit sRGB levels."""
    px = img[sel].astype(np.float32)
    med = np.median(px, axis=0)
    s = MAD_TO_SIGMA * np.median(np.abs(px - med), axis=0)
    return med.astype(np.float32), np.maximum(s, floor).astype(np.float32)


def ground_z(px: np.ndarray, med: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Distance of colours ``px`` (..., 3) from the ground, max over channels of ``|x - med| / s``."""
    return (np.abs(px.astype(np.float32) - med) / s).max(axis=-1)


class GroundModel:
    """The fitted see-through mask and ground statistics (``reason_`` None = on)."""

    def __init__(self, *, shape: tuple[int, int], config: GroundConfig | None = None) -> None:
        self.config = config or GroundConfig()
        self.shape_ = shape
        self.reason_: str | None = None
        self.mask_ = np.zeros(shape, bool)  # see-through pixels (golden px)
        self.band_ = np.zeros(shape, bool)  # ground band (golden px)
        self.median_ = np.zeros(3, np.float32)  # golden ground colour (first capture), 8-bit sRGB
        self.spread_ = np.ones(3, np.float32)  # its largest robust spread over the captures
        self.contrast_ = 0.0  # the golden product's median distance from the ground (spreads)
        self.product_ = np.zeros(shape, bool)  # zone pixels that are not see-through (derived)
        self.labels_ = np.zeros(shape, np.int32)  # see-through regions 1.. (derived)
        self.interior_ = np.zeros(shape, bool)  # (derived, see _derive)
        self.mask_idx_: np.ndarray = np.zeros(0, np.intp)
        self.mask_lab_: np.ndarray = np.zeros(0, np.int32)
        self.mask_inner_: np.ndarray = np.zeros(0, bool)
        self.band_idx_: np.ndarray = np.zeros(0, np.intp)
        self.product_idx_: np.ndarray = np.zeros(0, np.intp)
        self.n_regions_ = 0

    def k_open(self) -> float:
        """Bound (spreads) for pixels of an open hole: up to 3 ``k_sigma``, at most half the
        golden product's distance from the ground (material filling part of the hole stays out)."""
        c = self.config
        return max(c.k_sigma, min(3.0 * c.k_sigma, 0.5 * self.contrast_))

    def _derive(self, union: np.ndarray) -> None:
        self.product_ = union & ~self.mask_
        n, lab = cv2.connectedComponents(self.mask_.astype(np.uint8), connectivity=8)
        self.labels_, self.n_regions_ = lab.astype(np.int32), int(n - 1)
        r = self.config.edge_px
        near = cv2.dilate(self.product_.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
        self.interior_ = self.mask_ & ~near  # see-through px at least edge_px from the golden's product
        # flat indices for scoring: the mask (with region and interior), subsamples of band and product
        self.mask_idx_ = np.flatnonzero(self.mask_)
        self.mask_lab_ = self.labels_.ravel()[self.mask_idx_]
        self.mask_inner_ = self.interior_.ravel()[self.mask_idx_]
        b = np.flatnonzero(self.band_)
        self.band_idx_ = b[::max(1, len(b) // 20_000)]
        p = np.flatnonzero(self.product_)
        self.product_idx_ = p[::max(1, len(p) // 20_000)]

    @property
    def active(self) -> bool:
        return self.reason_ is None and bool(self.mask_.any())

    def off(self, why: str) -> "GroundModel":
        self.reason_ = why
        self.mask_ = np.zeros(self.shape_, bool)
        return self

    def paint(self, img: np.ndarray, valid: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The unit with its ground-like see-through pixels replaced by the golden's expected colour.

        Parameters
        ----------
        img : ndarray (H, W, 3) uint8 RGB, golden px
            The warped unit.
        valid : ndarray (H, W) bool
            Its pixels that hold data.
        mean : ndarray (H, W, 3) float32, 0-255
            The golden mean (the anomaly model's ``mean_``, gain-normalised to the first capture).

        Returns
        -------
        painted_img : ndarray (H, W, 3) uint8
            ``img`` itself when nothing is painted, else a painted copy.
        painted : ndarray (H, W) bool or None
            The painted pixels (None when none).
        """
        if not self.active:
            return img, None
        c = self.config
        vf = valid.ravel()
        flat = img.reshape(-1, 3)
        ok = vf[self.band_idx_]  # the band's statistics from a regular subsample (<= ~20 000 px)
        if ok.mean() < c.min_band_valid_frac:
            return img, None
        med, s = ground_stats(flat[self.band_idx_[ok]], np.ones(int(ok.sum()), bool), c.spread_floor)
        if (s > c.max_spread_ratio * self.spread_).any():
            return img, None  # the unit's band is far less uniform than the golden's: not read as ground
        # the unit's ground must stand apart from its product as the golden's did
        pp = flat[self.product_idx_[vf[self.product_idx_]]]
        if len(pp) == 0 or float(np.median(ground_z(pp, med, s))) < c.min_contrast:
            return img, None
        sel = vf[self.mask_idx_]
        idx = self.mask_idx_[sel]
        if len(idx) == 0:
            return img, None
        z = ground_z(flat[idx], med, s)
        hit = z <= c.k_sigma
        if not hit.any():
            return img, None
        # an open hole: most of its see-through region reads as this photo's ground; there the
        # looser bound takes in what the photo adds to the ground inside a small opening (JPEG
        # chroma ringing of the surrounding colour: zoo pcba, a pink spot 9 spreads off in blue)
        lab = self.mask_lab_[sel]
        open_ = np.bincount(lab, weights=hit, minlength=self.n_regions_ + 1) >= \
            c.open_frac * np.maximum(np.bincount(lab, minlength=self.n_regions_ + 1), 1)
        inner = self.mask_inner_[sel]
        hit |= open_[lab] & inner & (z <= self.k_open())
        idx, inner = idx[hit], inner[hit]
        out = img.copy()
        out.reshape(-1, 3)[idx] = np.clip(np.rint(mean.reshape(-1, 3)[idx]), 0, 255).astype(np.uint8)  # the golden's
        # evidence is dropped only away from the product's edge: there a burr's blurred evidence
        # spreads onto ground-like px beside it (zoo part hand-held: a burr 1.07 -> 0.92 x threshold)
        painted = np.zeros(self.shape_, bool)
        painted.ravel()[idx[inner]] = True
        return out, painted

    # ------------------------------------------------------------------ persistence
    def to_state(self) -> dict[str, Any]:
        st: dict[str, Any] = {"reason": self.reason_, "shape": list(self.shape_)}
        if self.active:
            st.update({"mask": np.packbits(self.mask_), "median": self.median_.astype(np.float32),
                       "spread": self.spread_.astype(np.float32), "contrast": float(self.contrast_)})
        return st

    @classmethod
    def from_state(cls, st: dict[str, Any], zones: list[_Zone]) -> "GroundModel":
        shape = (int(st["shape"][0]), int(st["shape"][1]))
        m = cls(shape=shape)
        m.reason_ = st["reason"]
        if "mask" in st:
            n = shape[0] * shape[1]
            m.mask_ = np.unpackbits(np.asarray(st["mask"], np.uint8), count=n).reshape(shape).astype(bool)
            m.median_ = np.asarray(st["median"], np.float32).reshape(3)
            m.spread_ = np.asarray(st["spread"], np.float32).reshape(3)
            m.contrast_ = float(st["contrast"])
        m.band_ = ground_band(zones, shape, m.config)
        m._derive(_zone_union(zones, shape))
        return m


def _zone_union(zones: list[_Zone], shape: tuple[int, int]) -> np.ndarray:
    u = np.zeros(shape, bool)
    for z in zones:
        u |= z.mask
    return u


class GroundFit:
    """Accumulates golden captures one at a time (streaming, as ``_fit_folds`` reads them)."""

    def __init__(self, zones: list[_Zone], shape: tuple[int, int], config: GroundConfig | None = None) -> None:
        self.model = GroundModel(shape=shape, config=config)
        self.zones = zones
        self.union = _zone_union(zones, shape)
        self.model.band_ = ground_band(zones, shape, self.model.config)
        self.seen = np.ones(shape, bool)  # zone pixels ground-like (and valid) in every capture so far
        self.first: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None  # img, valid, med, s
        self.spread = np.zeros(3, np.float32)
        self.n = 0

    def add(self, img: np.ndarray, valid: np.ndarray) -> None:
        m, c = self.model, self.model.config
        if m.reason_ is not None:
            return
        band = m.band_ & valid
        if band.sum() < c.min_band_px:
            m.off("no ground band: the anomaly zones (or the image's invalid borders) cover the frame's border")
            return
        med, s = ground_stats(img, band, c.spread_floor)
        frac = float((ground_z(img[band], med, s) <= c.k_sigma).mean())
        if frac < c.min_ground_frac:
            m.off(f"the ground around the product is not uniform: {100 * frac:.0f} % of the border band lies "
                  f"within {c.k_sigma:g} spreads of its median colour (at least {100 * c.min_ground_frac:.0f} % needed)")
            return
        self.seen &= valid & (ground_z(img, med, s) <= c.k_sigma)
        self.spread = np.maximum(self.spread, s)
        if self.first is None:
            self.first = (img, valid, med, s)
        self.n += 1

    def result(self) -> GroundModel:
        m, c = self.model, self.model.config
        if m.reason_ is not None:
            return m
        if m.band_.sum() < c.min_band_px or self.first is None:
            return m.off("no ground band: the anomaly zones cover the frame's border")
        img, valid, med, s = self.first
        sel = self.seen & self.union
        sel = cv2.morphologyEx(sel.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
        n_lab, lab, stats, _ = cv2.connectedComponentsWithStats(sel.astype(np.uint8), connectivity=8)
        keep = np.zeros(n_lab, bool)
        keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= c.min_region_px
        mask = keep[lab]
        prod = self.union & ~mask & valid
        d = float(np.median(ground_z(img[prod], med, s))) if prod.any() else 0.0
        if d < c.min_contrast:
            return m.off(f"the product is not distinct from the ground: its median distance from the ground colour "
                         f"is {d:.1f} spreads ({c.min_contrast:g} needed)")
        for z in self.zones:
            share = float(mask[z.mask].mean())
            if share > c.max_share:
                return m.off(f"zone {z.spec.name!r} is {100 * share:.0f} % ground-coloured (at most "
                             f"{100 * c.max_share:.0f} %): the product looks like the ground there")
        m.mask_ = mask
        m.median_ = med
        m.spread_ = self.spread
        m.contrast_ = d
        m._derive(self.union)
        if not mask.any():
            m.reason_ = "no ground seen through the product inside the anomaly zones"
        return m

