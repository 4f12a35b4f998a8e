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

The edge's mix (:meth:`GroundModel.unmix`, ``edge_mix``): where a zone runs past the product's
outline or round a hole, the lens mixes the product's edge px with the ground, and a unit on
another table (another light) mixes them with that one. For the pixel statistics (the outline
model reads the photo as it is), the px that hold ground in the golden (the see-through mask,
the product px within ``2 edge_px`` of it, the px outside every zone within ``3 edge_px`` of it)
have their ground's share brought to the golden's local ground, where their colour is a mix of
the product and the ground in both the golden and the unit. Packages sealed before it have
``edge_mix`` off (their ground state lacks the key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ._zone import _Zone

__all__ = ["GroundConfig", "GroundFit", "GroundModel", "ground_band", "ground_stats", "ground_z"]

MAD_TO_SIGMA = 1.4826  # normal consistency of the median absolute deviation
#: half-side (px) of the window over which the ground beside the product's edge is averaged
MIX_WINDOW_PX = 8
#: a px is a mix of the product and the ground when its colour lies within this share of their
#: distance (plus the noise) of the line between them
MIX_OFF_LINE = 0.15


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
    edge_mix: bool = True


def ground_band(zones: list[_Zone], shape: tuple[int, int], cfg: GroundConfig) -> np.ndarray:
    """Border band of the golden frame outside every zone grown by ``zone_margin_px``, (H, W) bool."""
    h, w = shape
    b = max(cfg.band_min_px, int(round(cfg.band_frac * min(h, w))))
    band = np.ones(shape, bool)
    band[b:h - b, b:w - b] = False
    return band & ~_grown_zones(_zone_union(zones, shape), cfg.zone_margin_px)


def _grown_zones(union: np.ndarray, r: int) -> np.ndarray:
    """The zones' union (H, W) bool grown by ``r`` px (a square), the band's inner edge."""
    return cv2.dilate(union.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0 if r > 0 else union


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
        self.near_idx_: np.ndarray = np.zeros(0, np.intp)  # the ground round the zones (derived, subsampled)
        self.product_idx_: np.ndarray = np.zeros(0, np.intp)
        self.mix_idx_: np.ndarray = np.zeros(0, np.intp)  # px where the product's edge meets the ground (derived)
        self.mix_src_: np.ndarray = np.zeros(0, np.intp)  # the nearest product px clear of the ground, each
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
        # the ground round the product: px outside every zone (grown by zone_margin_px) within a band's
        # width of them, for a photo that leaves the frame's border band mostly empty (_unit_ground)
        c = self.config
        h, w = self.shape_
        width = max(c.band_min_px, int(round(c.band_frac * min(h, w))))
        rr = c.zone_margin_px + width
        outer = cv2.dilate(union.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rr + 1, 2 * rr + 1)))
        ring = np.flatnonzero((outer > 0) & ~_grown_zones(union, c.zone_margin_px))
        self.near_idx_ = ring[::max(1, len(ring) // 20_000)]
        p = np.flatnonzero(self.product_)
        self.product_idx_ = p[::max(1, len(p) // 20_000)]
        if self.config.edge_mix:
            self.mix_idx_, self.mix_src_ = _mix_band(self.mask_, self.product_, r, ~union)

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
        stats = self._unit_ground(flat, vf)
        if stats is None:
            return img, None
        med, s = stats
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

    def unmix(self, img: np.ndarray, valid: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """``img`` (the warped unit, uint8 RGB, golden px) with the ground's share of the px that
        hold ground in the golden brought to the golden's ground (:meth:`_unmix`); ``img`` itself
        when off or when the unit's border band cannot be read as a ground (as :meth:`paint`).
        For the pixel statistics only: the outline model reads the photo as it is."""
        if not self.active or not len(self.mix_idx_):
            return img
        vf = valid.ravel()
        stats = self._unit_ground(img.reshape(-1, 3), vf)
        return img if stats is None else self._unmix(img, vf, mean, *stats)

    def _unit_ground(self, flat: np.ndarray, vf: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """This photo's ground statistics (median, spread) from its border band (a regular
        subsample, <= ~20 000 px), or, when the photo leaves that band mostly empty (a hand-held
        photo framed closer or turned: zoo wallet hand-held, 14 of 24 units with under half of it),
        from the ground round the zones (``near_idx_``: a band's width outside them); None when
        that is mostly invalid too, or far less uniform than the golden's band (a shadow or an
        object in it: not read as ground)."""
        c = self.config
        idx = self.band_idx_
        ok = vf[idx]
        if ok.mean() < c.min_band_valid_frac and len(self.near_idx_):
            idx = self.near_idx_
            ok = vf[idx]
        if ok.mean() < c.min_band_valid_frac:
            return None
        med, s = ground_stats(flat[idx[ok]], np.ones(int(ok.sum()), bool), c.spread_floor)
        if (s > c.max_spread_ratio * self.spread_).any():
            return None
        return med, s

    def _unmix(self, img: np.ndarray, vf: np.ndarray, mean: np.ndarray, med: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``img`` with the ground's share of the px where the product's edge meets the ground
        (``mix_idx_``) brought to the golden's ground (``edge_mix``; ``img`` itself when none).

        The lens blurs the edge, so a px there is a mix ``(1 - a) P + a G`` of the product and the
        ground, and the ground is whatever table this photo lies on: another table or another
        light changes the mix, and the zone read the edge as a defect (zoo ceramic hand-held, seed
        3: 4 of 14 good dishes flagged 1.0-1.2x threshold along their rim, on a table 20 grey
        levels darker than the golden's there). ``G`` is the ground beside the px: the mean over
        :data:`MIX_WINDOW_PX` of the px at least ``edge_px`` from the zones' product that read as
        the golden's ground (in the unit, those that read as its own too), else the photo's border
        band median. The ground's share ``a`` is read off the unit itself, on the line from the
        nearest product px clear of the ground (``mix_src_``) to its ground there (its own: the
        unit's edge may lie a px off the golden's), and ``a (G_golden - G_unit)`` is added: the
        unit's product seen against the golden's ground. A px whose colour, in the golden or in
        the unit, lies off that line (by more than :data:`MIX_OFF_LINE` of the two colours'
        distance plus 2 spreads: a chamfer's own shade, a defect) is left, and so is one where the
        product's colour is near the ground's (within 2 spreads)."""
        if not len(self.mix_idx_):
            return img
        ok = vf[self.mix_idx_] & vf[self.mix_src_]
        idx, src = self.mix_idx_[ok], self.mix_src_[ok]
        if not len(idx):
            return img
        h, w = self.shape_
        ys, xs = np.divmod(idx, w)
        r = MIX_WINDOW_PX
        y0, y1 = max(0, int(ys.min()) - r), min(h, int(ys.max()) + r + 1)
        x0, x1 = max(0, int(xs.min()) - r), min(w, int(xs.max()) + r + 1)
        crop = (slice(y0, y1), slice(x0, x1))
        valid = vf.reshape(h, w)[crop]
        k = self.config.edge_px
        clear = cv2.dilate(self.product_[crop].astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)) == 0
        gold = mean[crop].astype(np.float32)
        sup_g = clear & valid & (ground_z(gold, self.median_, self.spread_) <= self.config.k_sigma)
        unit = img[crop].astype(np.float32)
        sup_u = sup_g & (ground_z(unit, med, s) <= self.config.k_sigma)
        local = (ys - y0, xs - x0)
        g_gold = _local_mean(gold, sup_g, r, local, self.median_)
        g_unit = _local_mean(unit, sup_u, r, local, med)
        noise = 2.0 * float(max(self.spread_.max(), s.max()))
        _, on_g = _mix_share(mean.reshape(-1, 3)[idx].astype(np.float32), mean.reshape(-1, 3)[src].astype(np.float32),
                               g_gold, noise)
        u = img.reshape(-1, 3)
        a, on_u = _mix_share(u[idx].astype(np.float32), u[src].astype(np.float32), g_unit, noise)
        # only a mix of the two, in the golden and in the unit: a bevel's or a rim's own shade at the
        # edge (zoo jewellery hand-held: the pendant's dark chamfer) is neither, nor is a defect there
        a = np.where(on_g & on_u, a, 0.0)
        out = img.copy()
        flat = out.reshape(-1, 3)
        flat[idx] = np.clip(np.rint(flat[idx].astype(np.float32) + a[:, None] * (g_gold - g_unit)), 0, 255).astype(np.uint8)
        return out

    # ------------------------------------------------------------------ persistence
    def to_state(self) -> dict[str, Any]:
        st: dict[str, Any] = {"reason": self.reason_, "shape": list(self.shape_), "edge_mix": self.config.edge_mix}
        if self.active:
            st.update({"mask": np.packbits(self.mask_), "median": self.median_.astype(np.float32),
                       "spread": self.spread_.astype(np.float32), "contrast": float(self.contrast_)})
        return st

    @classmethod
    def from_state(cls, st: dict[str, Any], zones: list[_Zone]) -> "GroundModel":
        shape = (int(st["shape"][0]), int(st["shape"][1]))
        # a package sealed before the edge's mix with the ground was corrected keeps it uncorrected
        m = cls(shape=shape, config=GroundConfig(edge_mix=bool(st.get("edge_mix", False))))
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


def _mix_share(x: np.ndarray, prod: np.ndarray, ground: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """The ground's share ``a`` (N,) of colours ``x`` (N, 3) on the line from ``prod`` to ``ground``
    (N, 3 each), clipped to [0, 1], and whether ``x`` lies on that line: its distance from the line
    at most ``MIX_OFF_LINE`` of the two colours' distance plus ``noise``, the two colours at least
    ``noise`` apart (else ``a`` is 0 and the px is not on it)."""
    v = ground - prod
    den = (v * v).sum(axis=1)
    far = den > noise * noise
    t = ((x - prod) * v).sum(axis=1) / np.maximum(den, 1e-6)
    off = np.linalg.norm(x - prod - t[:, None] * v, axis=1)
    on = far & (off <= MIX_OFF_LINE * np.sqrt(den) + noise)
    return np.where(far, np.clip(t, 0.0, 1.0), 0.0), on


def _local_mean(img: np.ndarray, support: np.ndarray, r: int, at: tuple[np.ndarray, np.ndarray],
                fallback: np.ndarray) -> np.ndarray:
    """Mean colour (N, 3) of ``img`` (h, w, 3) over the ``support`` px in the (2 r + 1)² window about
    each point ``at`` (rows, cols); ``fallback`` (3,) where the window holds fewer than r support px."""
    wgt = cv2.boxFilter(support.astype(np.float32), -1, (2 * r + 1, 2 * r + 1), normalize=False,
                        borderType=cv2.BORDER_CONSTANT)[at]
    tot = cv2.boxFilter(img * support[..., None], -1, (2 * r + 1, 2 * r + 1), normalize=False,
                        borderType=cv2.BORDER_CONSTANT)[at]
    have = wgt >= r
    out = np.repeat(np.asarray(fallback, np.float32)[None, :], len(wgt), axis=0)
    out[have] = tot[have] / wgt[have, None]
    return out


def _mix_band(mask: np.ndarray, product: np.ndarray, r: int, outside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the px that hold ground in the golden: the see-through ``mask``, the
    ``product`` px within ``2 r`` of it (the edge's mix) and the px ``outside`` every zone within
    ``3 r`` of it; and for each the flat index of the nearest product px more than ``2 r + 1`` from
    the mask (within ``8 r + 2``; px without one are left out)."""
    empty = (np.zeros(0, np.intp), np.zeros(0, np.intp))
    if r < 1 or not mask.any() or not product.any():
        return empty
    # the see-through mask ends where the golden captures' px stop reading as ground, itself some
    # way into the blur: the product side of the mix is taken twice as deep
    disc = lambda n: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * n + 1, 2 * n + 1))  # noqa: E731
    near_mask = cv2.dilate(mask.astype(np.uint8), disc(2 * r)) > 0
    # and the px outside every zone within 3 r of the mask: the comparison's blur reaches into a
    # zone from them (a zone's border drawn across the table)
    band = (product & near_mask) | mask | (outside & (cv2.dilate(mask.astype(np.uint8), disc(3 * r)) > 0))
    far = product & ~(cv2.dilate(mask.astype(np.uint8), disc(2 * r + 1)) > 0)
    if not band.any() or not far.any():
        return empty
    dist, labels = cv2.distanceTransformWithLabels((~far).astype(np.uint8), cv2.DIST_L2, 5,
                                                   labelType=cv2.DIST_LABEL_PIXEL)
    zero = np.flatnonzero(far)
    lab2idx = np.zeros(int(labels.max()) + 1, np.intp)
    lab2idx[labels.ravel()[zero]] = zero
    idx = np.flatnonzero(band)
    idx = idx[dist.ravel()[idx] <= 8 * r + 2]
    return idx, lab2idx[labels.ravel()[idx]]


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

