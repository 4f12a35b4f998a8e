"""The full-resolution channel of ``texture_variation`` zones (``AnomalyConfig.tex_fine``).

A texture zone is compared low-passed (:mod:`.zone_variation`): a grain of about 1 mm, new on
every unit, averages out, and a faint stain several mm across stands out. What is thin loses most
of its contrast in that low-pass: a scratch 0.2-0.3 mm wide, a lint fibre, a crack, a bubble
(a dark centre in a light rim: nearly zero mean). Zoo, one ``finish`` zone over a moulded sole:
a 0.33 mm fibre at +15-30 L* reached 0.45-0.83 of the threshold, a wood crack and the wallet's
scratches no more (docs/DESIGN.md, session 23).

This channel compares the unit at the comparison's own resolution (``blur_sigma_px``) with the
golden captures' full-resolution mean, as a ``variation`` zone does, with a spread that holds the
texture's realisation-to-realisation difference at that resolution: ``2 var_tex``, ``var_tex`` the
robust variance (1.4826 MAD, per material) of the full-resolution golden mean around its median
over ``tex_window_mm`` (what the median keeps is the product's fixed structure, which every unit
shares and registration aligns). A thin defect then reads at its full contrast against the grain's
full-resolution spread (a 0.3 mm scratch at -30 L* on a grain of 1.3 L*: z about 16).

Its threshold is its own (:func:`fine_floor`): the expected largest ``|z|`` over the zone's
independent samples at the evidence's aggregation (:func:`.structure.expected_max_z`), until taught
production units calibrate it, divided by the zone's sensitivity. The golden captures, one unit,
share one grain and cannot calibrate it; the channel is therefore left out of the held-out scores
that calibrate the zone's own threshold (the zone's low-passed evidence is calibrated as before)
and is brought into the zone's score units at score time: ``z_fine * threshold * sensitivity /
floor``, so that the zone's map reaches 1.0 where either channel reaches its own threshold. The
statistics are the golden captures' (``fit``); accepted units (``add_good``) do not change them,
so each taught unit's score against them is held out as it stands (``_Zone.fine_scores``).

The floors' and the texture's share of the spread is a prior; the unit measures it. With
``AnomalyConfig.fine_unit_texture`` that share is capped, per material, by the unit's own residual
against the golden (:func:`unit_texture_spread`), about its smooth part (:func:`smooth_residual`),
on the pixels that are their material's, away from strong edges and nested structure
(:func:`_representative`); elsewhere the channel reads the unit as before.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .._stats import mad_normal, robust_sd
from ._zone import _Zone
from .structure import MIN_GOOD_UNITS
from .threshold import good_score_threshold
from .unit_noise import extra_floor2
from .variation import combine_stats, deviation_map, prepare, spread, tolerance_band

if TYPE_CHECKING:
    from .model import AnomalyModel

__all__ = ["FineStats", "FineAccumulator", "fine_zones", "fine_crops", "set_fine", "derive_fine", "fine_floor", "fine_raw", "fine_state",
           "load_fine"]


@dataclass(frozen=True, slots=True)
class FineStats:
    """Full-resolution statistics of one texture zone's bbox, as stored: mean and standard
    deviation (h, w, 3) float16 of the golden captures prepared at ``blur_sigma_px``."""

    mean: np.ndarray
    std: np.ndarray


@dataclass(frozen=True, slots=True)
class _FineDerived:
    """What scoring reads: the golden band ``lo``, ``hi`` and the squared spread ``s2`` (h, w, 3)
    float32 in golden colours, the golden mean ``mean`` (for a per-pixel gain's band) and the
    channel's threshold floor in z."""

    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    s2: np.ndarray
    floor: float
    #: the zone's valid pixels (bbox-sized) and the line normalisers over them (:func:`_line_dens`)
    valid: np.ndarray | None = None
    dens: tuple[np.ndarray, ...] | None = None
    #: the share of ``s2`` the unit's own residual cannot replace (h, w, 3): the captures' variance
    #: and the misregistration's (:func:`unit_texture_spread`)
    keep2: np.ndarray | None = None
    #: the pixels whose golden colour is their material's (:func:`_representative`)
    rep: np.ndarray | None = None


def fine_zones(model: AnomalyModel) -> list[_Zone]:
    """The zones that carry the channel: ``texture_variation`` zones, when ``tex_fine`` is on, with
    a smallest defect to aggregate over (``min_area_mm2`` and a scale: :func:`along_sigma_px` over
    1 px). Without it the channel would judge single pixels of a texture that is new on every unit;
    the zone's low-passed evidence alone judges it, as before the channel."""
    if not getattr(model.config, "tex_fine", False):
        return []
    return [z for z in model.zones_ if z.method == "texture_variation" and along_sigma_px(model, z) > 1.0]


class FineAccumulator:
    """Running per-pixel statistics of the texture zones' full-resolution crops (streamed over
    the captures: one bbox-sized set per zone, not one per capture). Each capture's gain
    normalisation is kept (``invs``), so that statistics without one capture can be made again
    from the images (``AnomalyModel._fine_loo``)."""

    def __init__(self, model: AnomalyModel) -> None:
        self._zones = fine_zones(model)
        self._acc: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.invs: list[np.ndarray] = []

    def __bool__(self) -> bool:
        return bool(self._zones)

    def add(self, crops: dict[str, np.ndarray], valid: np.ndarray, inv_gain: np.ndarray) -> None:
        """One capture: its full-resolution prepared crops (:func:`.zone_variation.prep`'s
        ``fine``), its valid pixels (full frame, float or bool) and its gain normalisation."""
        self.invs.append(np.asarray(inv_gain, np.float32))
        for z in self._zones:
            c = crops.get(z.spec.name)
            if c is None:
                continue
            x0, y0, x1, y1 = z.bbox
            w = valid[y0:y1, x0:x1].astype(np.float32)
            acc = self._acc.get(z.spec.name) or _zero(c.shape[:2])
            self._acc[z.spec.name] = combine_stats(*acc, [c * inv_gain], [w])

    def result(self) -> dict[str, FineStats]:
        """The statistics (float16, as stored)."""
        return {name: FineStats(mean=mean.astype(np.float16), std=np.sqrt(np.maximum(var, 0)).astype(np.float16))
                for name, (_, mean, var) in self._acc.items()}


def _zero(hw: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = int(hw[0]), int(hw[1])
    return np.zeros((h, w), np.float32), np.zeros((h, w, 3), np.float32), np.zeros((h, w, 3), np.float32)


def fine_crops(model: AnomalyModel, img: np.ndarray) -> dict[str, np.ndarray]:
    """Each channel zone's bbox of ``img`` prepared as :func:`.zone_variation.prep` prepares the
    whole frame before its low-pass (``blur_sigma_px``), blurred on the bbox and a margin only: a
    fit holds one such crop at a time, not one per capture beside the prepared frames."""
    sigma = float(model.config.blur_sigma_px)
    pad = int(np.ceil(4 * sigma)) + 2
    h, w = img.shape[:2]
    out = {}
    for z in fine_zones(model):
        x0, y0, x1, y1 = z.bbox
        X0, Y0, X1, Y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
        p = prepare(np.ascontiguousarray(img[Y0:Y1, X0:X1]), sigma_px=sigma)
        out[z.spec.name] = p[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0]
    return out


def set_fine(model: AnomalyModel, stats: dict[str, FineStats]) -> None:
    """Keep the statistics and derive what scoring reads (:func:`derive_fine`)."""
    model.fine_ = dict(stats)
    derive_fine(model)


def derive_fine(model: AnomalyModel) -> None:
    """The band, spread and floor of each zone's channel from ``model.fine_`` (after the model's
    own derivation: the texture's variance is pooled per material, ``model.materials_``)."""
    from .zone_variation import _material_variance, structure_pixels  # the low-passed zone's, at full resolution

    c = model.config
    model.fine_d_ = {}
    for z in fine_zones(model):
        st = model.fine_.get(z.spec.name)
        x0, y0, x1, y1 = z.bbox
        if st is None or st.mean.shape != (y1 - y0, x1 - x0, 3):
            continue
        mean = st.mean.astype(np.float32)
        var = np.square(st.std.astype(np.float32))
        zm = z.mask[y0:y1, x0:x1] & (model.n_[y0:y1, x0:x1] > 0)
        if int(zm.sum()) < 64:
            continue
        sw = c.tex_window_mm / model.scale_mm_per_px if model.scale_mm_per_px else 4 * c.tex_sigma_px
        k = int(min(max(2 * round(sw) + 1, 3), 99))
        m8 = np.clip(np.rint(mean), 0, 255).astype(np.uint8)
        med = np.stack([cv2.medianBlur(np.ascontiguousarray(m8[..., ch]), k) for ch in range(3)], axis=-1)
        tv = _material_variance(mean - med.astype(np.float32), model.materials_.get(z.spec.name), zm)
        sp = spread(mean, var, abs_floor=c.abs_floor, rel_floor=c.rel_floor, grad_px=c.grad_px,
                    floor_weight=model.floor_weight_)
        s2 = (sp * sp + 2.0 * tv[..., None]).astype(np.float32)
        lo, hi = tolerance_band(mean, shift_px=c.shift_px)
        model.fine_d_[z.spec.name] = _FineDerived(mean=mean, lo=lo, hi=hi, s2=s2, floor=fine_floor(model, z),
                                                  valid=zm, dens=_line_dens(zm, along_sigma_px(model, z)),
                                                  keep2=_kept_spread2(mean, var, c.grad_px, model.floor_weight_),
                                                  rep=_representative(mean, model.materials_.get(z.spec.name), zm,
                                                                      float(c.abs_floor), structure_pixels(model, z)))


def fine_floor(model: AnomalyModel, z: _Zone) -> float:
    """The channel's threshold (z, before the zone's sensitivity): from the held-out scores of at
    least :data:`.structure.MIN_GOOD_UNITS` taught production units (``z.fine_scores``, by the
    zone's own rule, :func:`.threshold.good_score_threshold`, at least ``var_floor``), else the
    expected largest ``|z|`` over the zone's independent samples (:func:`.structure.expected_max_z`).
    Golden captures of several units (the zone's ``captures_vary``) calibrate it as they calibrate
    the zone, by their leave-one-out scores (``z.fine_loo``, at least 3; exact leave-one-out fits).

    The golden captures cannot calibrate it: they are one unit, one realisation of the texture.
    Nor could the golden's own texture moved about the zone (tried, as a null of other units'
    texture): a texture's heavy tail is indistinguishable, on one unit, from the product's fixed
    thin structure (a slub in a weave from a stitch), and with the tail taken out the moved
    texture set the threshold below what good units reach (zoo apparel, one ``full`` ``finish``
    zone: 4 and 7 of 14 good shirts flagged, station and hand-held; ceramic hand-held 3 of 14,
    where a highlight, not a texture, moves from photo to photo). A taught unit's score is another
    unit's, with everything that varies in production in it; it never joins the channel's
    statistics, so it is held out as it stands."""
    c = model.config
    scores = list(getattr(z, "fine_scores", []) or [])
    if len(scores) >= MIN_GOOD_UNITS:
        return good_score_threshold(scores, alpha=c.alpha, floor=float(c.var_floor), tail=bool(c.tail_threshold))
    loo = list(getattr(z, "fine_loo", []) or [])
    if z.captures_vary and len(loo) >= 3:
        return good_score_threshold(loo, alpha=c.alpha, floor=float(c.var_floor), tail=bool(c.tail_threshold))
    return fine_bound(model, z)


def fine_raw(model: AnomalyModel, z: _Zone, uf: np.ndarray, m: np.ndarray, *, scaled: bool = False) -> np.ndarray | None:
    """The channel's evidence of zone ``z`` in the zone's score units (bbox-sized (h, w) float32),
    or None when the zone has none (off, a state saved without it, no threshold yet).
    ``scaled=False``: in the channel's own z (the held-out scores of :func:`fine_floor`).

    ``uf`` (h, w, 3): the unit's full-resolution prepared crop; ``m`` the valid pixels. The
    comparison runs in the unit's colours, as :func:`.zone_variation.variation_raw`'s, with the
    materials' gains and the shading taken against the channel's own golden (the captures'
    full-resolution mean): after accepted units joined the model's mean (``add_good``), a gain or a
    highlight's offset fitted against that mean is not the golden's (zoo ceramic hand-held, 10
    taught units: good units' glaze 0.76-1.32 of the threshold at the golden's highlight, the
    taught units' own scores 0.25-0.68 of it)."""
    from .zone_variation import contrast_dl, gain_field, shading_field

    d = getattr(model, "fine_d_", {}).get(z.spec.name)
    if d is None or uf.shape != d.s2.shape or (scaled and not (np.isfinite(z.threshold) and z.threshold > 0)):
        return None
    c = model.config
    g, g_lo, g_hi = gain_field(model, z, uf, m, mean=d.mean)
    offset = None
    shading = shading_field(model, z, uf, m, g, mean=d.mean)
    if shading is not None:
        shade, offset = shading
        g, g_lo, g_hi = g * shade, g_lo * shade, g_hi * shade
    gg = np.asarray(g, np.float32) ** 2
    a2 = np.float32(c.abs_floor**2)
    x0, y0, x1, y1 = z.bbox
    ex = extra_floor2((slice(y0, y1), slice(x0, x1)), m.shape)  # the photo's own extra noise (:mod:`.unit_noise`)
    s2 = np.maximum(d.s2 - a2, 0.0) * gg + np.maximum(gg, np.float32(1.0)) * (a2 if ex is None else a2 + ex)
    inv = (1.0 / np.sqrt(s2)).astype(np.float32)
    if np.ndim(g_lo) == 1:
        lo, hi = d.lo * g_lo, d.hi * g_hi
    else:
        lo, _ = tolerance_band(d.mean * g_lo, shift_px=c.shift_px)
        _, hi = tolerance_band(d.mean * g_hi, shift_px=c.shift_px)
    mid, half = (lo + hi) * np.float32(0.5), (hi - lo) * np.float32(0.5)
    if offset is not None:
        mid = mid + offset
    if getattr(c, "fine_unit_texture", False) and d.keep2 is not None and d.rep is not None:
        rep = m & d.rep  # elsewhere the channel reads the unit as it did without the cap
        clip = SMOOTH_CLIP_FLOORS * float(c.abs_floor)
        mid = mid + smooth_residual(uf, mid, rep, 8.0 * along_sigma_px(model, z), clip=clip) * rep[..., None]
        inv = unit_texture_spread(model, z, uf, mid, rep, s2, s2 - d.keep2 * gg)
    zf = deviation_map(uf, mid, half, inv, np.ones(3, np.float32))
    min_dl = float(getattr(z.spec, "min_contrast_dl", 0.0) or 0.0)
    if min_dl > 0:
        zf *= np.clip(contrast_dl(uf, mid - half, mid + half) * np.float32(1.0 / min_dl), 0.0, 1.0)
    zf = oriented_mean(np.where(m, zf, 0.0).astype(np.float32), m, along_sigma_px(model, z),
                       dens=d.dens if np.array_equal(m, d.valid) else None)
    if scaled:
        sens = float(getattr(z.spec, "sensitivity", 1.0) or 1.0)
        zf *= np.float32(z.threshold * sens / d.floor)
    return np.where(m, zf, 0.0).astype(np.float32)


#: The unit's own residual scale lowers the spread at most to this share of ``abs_floor``
#: (:func:`unit_texture_spread`): a JPEG flattens a plain material to a few levels (its pooled
#: residual a fraction of a level) and keeps its blocks' steps of 2-3 levels, which no pooled
#: residual holds (zoo pcba hand-held: a good board's solder mask at 0.99 of the threshold,
#: against 0.59 before the cap).
UNIT_FLOOR_SHARE = 0.5

#: The unit's residual is clipped to this many ``abs_floor`` before its smooth part is taken
#: (:func:`smooth_residual`).
SMOOTH_CLIP_FLOORS = 2.0

#: Fewest valid pixels of a material, and fewest independent samples of its residual (its pixels over
#: :func:`residual_correlation`), for its own residual scale (:func:`unit_texture_spread`).
MIN_MATERIAL_PX = 400


#: Under the unit's cap, the misregistration a golden gradient is given, px (:func:`_kept_spread2`).
CAP_SHIFT_PX = 1.0


def _kept_spread2(mean: np.ndarray, var: np.ndarray, grad_px: float, floor_weight: float) -> np.ndarray:
    """The share of a pixel's squared spread the unit's own residual does not replace (h, w, 3):
    the captures' variance and a misregistration's, the latter of :data:`CAP_SHIFT_PX` over the
    largest gradient within 2 px. The floors it replaces also held a weak edge's residual where a
    good unit's size or a hand-held photo's perspective moves the edge by a pixel or two, beyond the
    band's ``shift_px`` and the spread's ``grad_px`` (zoo wood hand-held: a good board's rounded
    edge, 1 mm of shading, read 1.26 of the threshold, against 0.64 with the floors)."""
    base = np.square(spread(mean, var, abs_floor=0.0, rel_floor=0.0, grad_px=grad_px, floor_weight=floor_weight))
    g2 = cv2.dilate(_grad2(mean), _disc(2))
    return (base + np.float32(max(CAP_SHIFT_PX**2 - grad_px**2, 0.0)) * g2).astype(np.float32)


def _grad2(mean: np.ndarray) -> np.ndarray:
    """Squared gradient (grey levels per px, Sobel / 8 as :func:`.variation.spread` reads it) of
    each channel of ``mean`` (h, w, 3) float32."""
    gx = cv2.Sobel(mean, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(mean, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    return gx * gx + gy * gy


def _disc(r: int) -> np.ndarray:
    """A disc of radius ``r`` px (a structuring element)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _representative(mean: np.ndarray, labels: np.ndarray | None, zm: np.ndarray, floor: float,
                    structure: np.ndarray | None = None) -> np.ndarray:
    """The zone's pixels whose golden colour (``mean``, full resolution) is their material's: within
    4 robust sd (per channel, at least ``floor``) of the material's median. A pixel of a cluster too
    small to be a material (the table seen through a hole, a blend at an edge) is not, nor one within
    :data:`STRONG_EDGE_REACH_PX` of the zone's border (where a zone meets the product's outline, a
    good unit's size within tolerance and a hand-held photo's perspective move that outline by more
    than the band's pixel: zoo part hand-held, a table of nearly the part's grey at the corner read
    1.3 of the threshold), of a strong edge (:func:`_near_strong_edges`), or of
    ``structure`` (:func:`.zone_variation.structure_pixels`: a print or a seam nested on the texture,
    which its own zone judges; where it lies on a unit is no texture's residual: zoo apparel, a print
    placed a pixel or two off on good shirts read 1.2-1.4 of the threshold along its edge)."""
    if labels is None or labels.shape != zm.shape:
        labels = np.zeros(zm.shape, np.int8)
    if structure is not None and structure.shape == zm.shape:
        zm = zm & ~structure
    out = np.zeros(zm.shape, bool)
    for k in np.unique(labels[zm]):
        sel = zm & (labels == k)
        x = mean[sel]
        med = np.median(x, axis=0)
        sd = np.maximum(1.4826 * np.median(np.abs(x - med), axis=0), floor)
        out[sel] = (np.abs(x - med) <= 4.0 * sd).all(axis=1)
    inner = cv2.erode(zm.astype(np.uint8), _disc(STRONG_EDGE_REACH_PX), borderType=cv2.BORDER_CONSTANT,
                      borderValue=0) > 0
    return out & inner & ~_near_strong_edges(mean, floor)


#: A golden edge steeper than this many ``abs_floor`` per px is strong (:func:`_near_strong_edges`) ...
STRONG_EDGE_FLOORS = 4.0
#: ... and the pixels within this many px of it keep their whole spread.
STRONG_EDGE_REACH_PX = 8


def _near_strong_edges(mean: np.ndarray, floor: float) -> np.ndarray:
    """Pixels within :data:`STRONG_EDGE_REACH_PX` of a strong golden edge (any channel's gradient,
    Sobel / 8, at least :data:`STRONG_EDGE_FLOORS` x ``floor`` per px: a pad on a board, a print's
    outline; not a tread's low relief nor a grain). Beside such an edge a unit's residual is its
    own blur, ringing and misregistration, which a material's pooled residual does not hold: zoo
    pcba hand-held, the JPEG ringing round a via's pad on good boards read 1.3 of the threshold."""
    strong = np.asarray((_grad2(mean) >= (STRONG_EDGE_FLOORS * floor) ** 2).any(axis=-1), np.uint8)
    return cv2.dilate(strong, _disc(STRONG_EDGE_REACH_PX)) > 0


def smooth_residual(uf: np.ndarray, mid: np.ndarray, m: np.ndarray, sigma: float, *,
                    clip: float = np.inf, iterations: int = 3) -> np.ndarray:
    """The smooth part of the unit's residual against the golden ``uf - mid`` over the pixels ``m``,
    (h, w, 3) float32: what differs slowly (a highlight or a shade the shading field left, a glaze's
    tone drifting over the plate). The channel judges the rest, at the scale of a thin defect; what
    is wider is the low-passed channel's.

    A local Huber location: a normalised Gaussian of ``sigma`` px of the residual about the current
    estimate clipped to ``+-clip``, ``iterations`` times. A slow shade of any height is followed,
    while a defect's strong contrast moves its surroundings' estimate by at most its share of the
    window times ``clip`` (zoo wood hand-held: a plain mean gave an edge chip's table, 30-60 levels
    off the wood, a quarter of the chip's evidence)."""
    h, wd = m.shape
    f = max(1, int(sigma // 4))  # a field this smooth is as well made on a grid f times coarser
    small = (max(1, round(wd / f)), max(1, round(h / f)))
    s = sigma / f

    def blur(a: np.ndarray) -> np.ndarray:
        a = cv2.resize(a, small, interpolation=cv2.INTER_AREA) if f > 1 else a
        return cv2.GaussianBlur(a, (0, 0), s, borderType=cv2.BORDER_CONSTANT)

    w = m.astype(np.float32)
    den = np.maximum(blur(w), np.float32(1e-3))
    den = den[..., None] if den.ndim == 2 else den
    r = (uf - mid).astype(np.float32)
    est = np.zeros_like(r)
    for _ in range(max(1, iterations) if np.isfinite(clip) else 1):
        d = np.clip(r - est, -clip, clip) if np.isfinite(clip) else r - est
        step = blur(d * w[..., None]) / den
        est += cv2.resize(step, (wd, h), interpolation=cv2.INTER_LINEAR) if f > 1 else step
    return est.astype(np.float32)


def unit_texture_spread(model: AnomalyModel, z: _Zone, uf: np.ndarray, mid: np.ndarray, m: np.ndarray,
                        s2: np.ndarray, soft2: np.ndarray) -> np.ndarray:
    """1 / spread of the channel with the share ``soft2`` of the squared spread ``s2`` (the floors
    and the texture's ``2 var_tex``, in the unit's colours) capped, per material and channel, by
    the unit's own residual variance against the golden: ``(1.4826 MAD)²`` of ``uf - mid`` over the
    material's pixels in ``m`` (the valid pixels whose golden colour is their material's,
    :func:`_representative`). The rest of ``s2``, the captures' variance and a misregistration's,
    stays whole, and so does the whole spread off ``m`` and in materials of fewer than
    :data:`MIN_MATERIAL_PX` independent samples of their residual at the channel's aggregation
    (:func:`residual_correlation`: the table seen through a part's bore, grained at 1.5 mm, new
    under every unit, is 806 pixels but about 100 samples, and one grain blotch read a good part at
    1.18 of the threshold against its own pixels' spread).

    ``var_tex`` is read on the golden mean around its median: what the median removes. On a
    texture new on every unit (a grain, a weave) that is the texture. On a product whose thin
    structure is fixed (a tread's lug walls, moulded lettering) it is that structure too, which
    every unit shares and registration aligns; and the floors (``abs_floor``, ``rel_floor``) are a
    prior for a few captures' variance, not a measurement. Zoo sole, station: the spread was then
    several times what a good unit differs by, good units' channel reached 0.6-1.3 z against its
    bound of 5.4 and a bubble's dark centre 3.1. The unit's own residual against the golden holds
    what does differ, its texture, its noise and its light; a defect, a small part of a material,
    does not move a median. Where that residual is wider (a grain new on the unit) the golden's
    spread stays: the cap only tightens."""
    labels = model.materials_.get(z.spec.name)
    if labels is None or labels.shape != m.shape:
        labels = np.zeros(m.shape, np.int8)
    cap = soft2.copy()
    r = (uf - mid).reshape(-1, 3)
    flat = cap.reshape(-1, 3)
    soft = soft2.reshape(-1, 3)
    idx = np.flatnonzero(m)
    lab = labels.ravel()[idx]
    sigma = along_sigma_px(model, z)
    for k in np.unique(lab):
        ii = idx[lab == k]
        if len(ii) < MIN_MATERIAL_PX:
            continue
        x = r[ii[:: max(1, len(ii) // 5000)]]  # a robust scale of 5 000 samples is within 2 % of all's
        own = np.maximum(robust_sd(x), UNIT_FLOOR_SHARE * float(model.config.abs_floor))
        if len(ii) / residual_correlation(r, m & (labels == k), ii, own, sigma) < MIN_MATERIAL_PX:
            continue
        flat[ii] = np.minimum(soft[ii], np.square(own).astype(np.float32))
    return (1.0 / np.sqrt(np.maximum(s2 - soft2 + cap, np.float32(1e-6)))).astype(np.float32)


def residual_correlation(r: np.ndarray, sel: np.ndarray, ii: np.ndarray, sd: np.ndarray, sigma: float) -> float:
    """How many of a material's pixels make one independent sample of its residual, at the
    channel's aggregation: the variance of the residual's mean along a row and along a column (a
    Gaussian of ``sigma`` px, at most 2 000 pixels of each whose line lies in the material) over
    what independent pixels of the scale ``sd`` (the cap's, per channel) would give, the larger of
    the two and of the three channels, at least 1. ``r`` (h*w, 3) the residual, ``sel`` (h, w) the
    material's pixels, ``ii`` their flat indices.

    The line means' scale is their MAD alone: a defect on a small material moves a share of them
    (zoo wallet, one ``full`` zone: a scratch down a 2 552-pixel buckle moved 12 % of its row means,
    which a 10-90 % range took for correlation, 81 times white noise's variance against 3 on good
    buckles, and took the cap, and the scratch, away)."""
    if sigma <= 0.5:
        return 1.0
    h, w = sel.shape
    rad = int(np.ceil(2.5 * sigma))
    t = np.arange(-rad, rad + 1)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).astype(np.float32)
    white = np.maximum(sd.astype(np.float64), 1e-3) ** 2 * float((k * k).sum())
    ys, xs = np.divmod(ii[:: max(1, len(ii) // 2000)], w)
    worst = 1.0
    for dy, dx in ((0, 1), (1, 0)):
        yy, xx = ys[:, None] + dy * t[None], xs[:, None] + dx * t[None]
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        yy, xx = np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)
        ok = (inside & sel[yy, xx]).all(axis=1)
        if ok.sum() < 50:
            continue
        lm = np.einsum("nt,ntc->nc", np.broadcast_to(k, (int(ok.sum()), len(k))), r[(yy * w + xx)[ok]])
        worst = max(worst, float(np.max(np.square(mad_normal(lm)) / white)))
    return worst


#: Orientations of the channel's line aggregation (:func:`oriented_mean`), every 180 / N degrees.
N_ORIENTATIONS = 8


def along_sigma_px(model: AnomalyModel, z: _Zone) -> float:
    """Sigma (px) of the channel's aggregation along a line: half the side of the zone's smallest
    defect (twice the zone's isotropic aggregation, :meth:`.model.AnomalyModel.aggregate_sigma_px`);
    0 without ``min_area_mm2`` or a scale (no aggregation)."""
    return 2.0 * model.aggregate_sigma_px(z)


@functools.lru_cache(maxsize=32)
def _line_kernels(sigma: float, n: int) -> tuple[np.ndarray, ...]:
    """``n`` line kernels (a Gaussian of ``sigma`` px along the line, one px across: bilinear
    splats of points half a px apart), each summing to 1."""
    r = int(np.ceil(2.5 * sigma))
    size = 2 * r + 1
    out = []
    ts = np.arange(-r, r + 0.25, 0.5)
    wt = np.exp(-0.5 * (ts / sigma) ** 2)
    for k in range(n):
        th = np.pi * k / n
        kern = np.zeros((size, size), np.float64)
        xs, ys = r + ts * np.cos(th), r + ts * np.sin(th)
        x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
        fx, fy = xs - x0, ys - y0
        for dx, dy, f in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            xx, yy = np.clip(x0 + dx, 0, size - 1), np.clip(y0 + dy, 0, size - 1)
            np.add.at(kern, (yy, xx), wt * f)
        out.append((kern / kern.sum()).astype(np.float32))
    return tuple(out)


def _line_dens(m: np.ndarray, sigma: float) -> tuple[np.ndarray, ...]:
    """Each line kernel's sum over the valid pixels ``m`` (:func:`oriented_mean`'s normaliser)."""
    if sigma <= 0.5:
        return ()
    w = m.astype(np.float32)
    return tuple(np.maximum(cv2.filter2D(w, cv2.CV_32F, k, borderType=cv2.BORDER_CONSTANT), np.float32(0.5))
                 for k in _line_kernels(round(float(sigma), 2), N_ORIENTATIONS))


def oriented_mean(zf: np.ndarray, m: np.ndarray, sigma: float, dens: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    """The largest mean of ``zf`` along a line through each pixel, over :data:`N_ORIENTATIONS`
    orientations (a Gaussian of ``sigma`` px along it, one px across), over the valid pixels ``m``.

    An isotropic aggregation over the smallest defect's extent (:meth:`.model.AnomalyModel.aggregate_sigma_px`)
    averages a line much thinner than that side down by about its width over the side: a 0.3 mm
    scratch, a lint fibre, a crack kept a third of their evidence or less at a 1 mm defect side. A
    mean along the line keeps it whole, and still averages single pixels (grain, noise, JPEG
    ringing) down by the line's length. ``sigma`` 0: ``zf`` as it is. ``dens``: the normalisers
    of ``m`` (:func:`_line_dens`) when known (the zone's own valid pixels, kept with the model)."""
    if sigma <= 0.5:
        return zf
    if dens is None:
        dens = _line_dens(m, sigma)
    best = np.zeros_like(zf)
    for kern, den in zip(_line_kernels(round(float(sigma), 2), N_ORIENTATIONS), dens):
        np.maximum(best, cv2.filter2D(zf, cv2.CV_32F, kern, borderType=cv2.BORDER_CONSTANT) / den, out=best)
    return best


def fine_bound(model: AnomalyModel, z: _Zone) -> float:
    """The expected largest ``|z|`` over the channel's independent samples, ``sqrt(2 ln N) + 1``
    (as :func:`.structure.expected_max_z`): ``N`` the zone's area over a line aggregation's support
    (``4 pi sigma_along * 1 px``) times the orientations, at least ``var_floor``."""
    s = max(along_sigma_px(model, z), 0.5)
    n = max(float(z.mask.sum()) * N_ORIENTATIONS / (4 * np.pi * s * 1.0), 2.0)
    return max(float(model.config.var_floor), float(np.sqrt(2 * np.log(n))) + 1.0)


def fine_state(model: AnomalyModel) -> dict[str, np.ndarray]:
    """The stored arrays (``fine_mean_{i}``, ``fine_std_{i}`` by zone index)."""
    out: dict[str, np.ndarray] = {}
    for i, z in enumerate(model.zones_):
        st = getattr(model, "fine_", {}).get(z.spec.name)
        if st is not None:
            out[f"fine_mean_{i}"], out[f"fine_std_{i}"] = st.mean, st.std
    return out


def load_fine(model: AnomalyModel, state: dict) -> None:
    """The channel from a state (none in a state saved before it: scored as it was fitted)."""
    stats = {z.spec.name: FineStats(mean=np.asarray(state[f"fine_mean_{i}"], np.float16),
                                    std=np.asarray(state[f"fine_std_{i}"], np.float16))
             for i, z in enumerate(model.zones_) if f"fine_mean_{i}" in state and f"fine_std_{i}" in state}
    set_fine(model, stats)
