"""The pixel-statistics zone methods: ``variation`` and ``texture_variation``.

``variation``
    Per-pixel mean/spread model (:mod:`.variation`), full resolution. Fast (the default).
``texture_variation``
    The variation model at a coarser scale for textured surfaces with no fixed geometry
    (leather grain, fabric), where every physical unit has its own pattern: inside the zone the
    images are low-passed (Gaussian ``tex_sigma_mm``, 0.5 mm: a 1 mm grain averages out, a
    stain of several mm does not; at most matched to the zone's smallest defect, see
    :func:`tex_sigma_px`) and the spread is floored by the texture's own
    realisation-to-realisation difference, ``sqrt(2) *`` the local sd of the low-passed golden
    around its local mean (window ``tex_window_mm``). The golden captures share one grain, so
    their leave-one-out scores cannot calibrate this; the threshold is floored by the expected
    maximum of ``|z|`` over the zone's independent samples (:func:`texture_floor`). The zone is
    also judged at 2x and 4x its low-pass (``tex_scale_max``), each scale with its own spread and
    threshold floor, and its evidence is the most significant scale (:func:`multiscale_raw`).
    Known limit: pixels shared with another zone are low-passed for that zone too.

Colour normalisation (both methods): a zone's golden mean colours are clustered into
materials (k-means, ``n_materials``; clusters under ``material_min_frac`` / ``material_min_px``,
mostly edge blends, are dropped). Each material gets its own robust per-channel gain (median
of ratios) against the golden, bounded to ``material_gain_limit`` times the zone's overall gain,
and a pixel between two materials gets the same convex mix of their gains. A uniformly
re-coloured material or a lighting change is thus not anomalous (colour is the colour stage's
job), while a local defect (a minority of its material) is not absorbed. The comparison runs in
the unit's colours: the golden is recoloured by the gain field before the misregistration
min/max band (each neighbour with its own gain), a pixel whose golden colour may be a blend of
two materials or a shade of one tolerates either reading, and the spread's absolute floor
(sensor noise, unit-to-unit texture) does not shrink with a darker material (issue 6).

The functions take the :class:`~goldenvision.anomaly.model.AnomalyModel` whose shared
statistics (``n_``, ``mean_``, ``var_``, ``inv_spread_``, ``mid_``, ``half_``) they read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ._zone import _Zone
from .envelope import combine_band
from .fine import fine_raw
from .structure import (GOLDEN_STRUCTURE_TYPES, MIN_GOOD_UNITS, ON_TEXTURE_SHARE, TEXTILE_DEFECT_TYPES, expected_max_z, on_texture,
                        structure_zone_raw)
from .unit_noise import extra_floor2
from .variation import deviation_map, prepare, robust_gain, spread, tolerance_band

if TYPE_CHECKING:
    from .model import AnomalyModel

__all__ = ["VariationMethod", "TextureVariationMethod", "prep", "captures_vary", "fit_materials", "texture_spread", "texture_floor",
           "on_texture", "ON_TEXTURE_SHARE", "TEXTILE_DEFECT_TYPES", "variation_raw", "contrast_dl", "multiscale_raw", "tex_scales_px"]

#: Regulariser (grey levels) of the per-pixel material gain mix (no division by ~0).
_MIX_EPS = 1.0
#: Smallest weight of a material in a pixel's golden colour for its pure gain to be tolerated too.
_MIX_MIN = 0.25
#: Golden level (grey, 0-255) at or below which a material's channel carries no gain information
#: (``robust_gain``'s ``min_level``): the ratio of two near-black levels is noise and misregistration.
_GAIN_MIN_LEVEL = 12.0


class VariationMethod:
    """``variation``: per-pixel mean/spread with a misregistration tolerance band."""

    name = "variation"
    uses_features = False
    #: low-passed inside the zone (``texture_variation``)
    low_pass = False

    def floor(self, model: AnomalyModel, z: _Zone) -> float:
        """Smallest threshold of the zone in spread units (z): ``var_floor``; for a zone on a
        texture (:func:`on_texture`: a seam on its weave, a print on grain) the expected largest
        ``|z|`` over its independent samples, as a texture zone's (:func:`texture_floor`): its
        spread holds the texture's term, which the golden captures, one unit, cannot calibrate.
        Taught production units calibrate it (:func:`units_calibrate`): ``var_floor`` then."""
        if on_texture(model, z) and not units_calibrate(z):
            return max(model.config.var_floor, expected_max_z(model, z))
        return model.config.var_floor

    def raw(self, model: AnomalyModel, z: _Zone, u: np.ndarray, m: np.ndarray,
            fine: np.ndarray | None = None, fine_out: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Raw score of the zone's prepared bbox crop ``u`` where ``m`` (bbox-sized, z units);
        ``fine``: the crop at full resolution, for a texture zone's full-resolution channel, whose
        evidence (aggregated already) goes to ``fine_out``."""
        return variation_raw(model, z, u, m, fine=fine, fine_out=fine_out)


class TextureVariationMethod(VariationMethod):
    """``texture_variation``: the variation model on the low-passed texture (see the module doc)."""

    name = "texture_variation"
    low_pass = True

    def floor(self, model: AnomalyModel, z: _Zone) -> float:
        if units_calibrate(z) or z.captures_vary:
            return model.config.var_floor
        return max(model.config.var_floor, texture_floor(model, z))


def units_calibrate(z: _Zone) -> bool:
    """True when the zone's threshold is learnt from at least :data:`.structure.MIN_GOOD_UNITS`
    held-out scores of taught production units (``AnomalyModel.add_good``): each is another
    realisation of the texture, which the golden captures (one unit) never show, so their largest
    scores calibrate what the texture floor (:func:`texture_floor`, :func:`.structure.expected_max_z`)
    only bounds from the sample count. The floor assumes every independent sample is a standard
    normal z; where the spread's other terms (the absolute floor, the misregistration band) dominate
    the texture's, good units stay far below it (zoo wallet hand-held, one ``full`` ``finish``
    zone: good units at most 2.3 z, the floor 5.26) and a scratch or a skipped stitch at 4.1-4.4 z
    passed however many good units were taught."""
    return len(z.unit_scores) >= MIN_GOOD_UNITS


def captures_vary(model: AnomalyModel, z: _Zone) -> bool:
    """True when the golden captures of ``texture_variation`` zone ``z`` differ
    from one another, per pixel, by at least ``captures_texture_ratio`` times the texture's own
    variance ``tex_sd_**2`` (medians over the zone's px seen by at least 3 captures): their
    leave-one-out scores then calibrate the zone as taught units do (:func:`units_calibrate`).

    The texture floor stands for another unit's grain, which captures of one unit never show:
    they differ by noise alone, a small share of a real grain's variance (zoo, one golden unit, one
    ``full`` ``finish`` zone: 0.01-0.19 on wood, wallet and apparel). Captures of several units differ
    by their grains (the same zones: 1.9-8.2), and their leave-one-out scores are other units'. On a
    surface whose grain is weaker than the captures' noise the ratio is high with one unit too,
    and there another unit's grain adds less than the noise the leave-one-out scores already hold.
    Sealing without a station sets the ratio to 0 (careful golden photos taken by hand do not
    stand for a line's: see ``goldenvision.sealing``)."""
    ratio = float(getattr(model.config, "captures_texture_ratio", 0.0) or 0.0)
    tsd = float(getattr(model, "tex_sd_", {}).get(z.spec.name, 0.0) or 0.0)
    if ratio <= 0 or not tsd > 0:
        return False
    x0, y0, x1, y1 = z.bbox
    zm = z.mask[y0:y1, x0:x1] & (model.n_[y0:y1, x0:x1] >= 3)
    if int(zm.sum()) < 64:
        return False
    v = model.var_[y0:y1, x0:x1][zm].mean(axis=1)
    return float(np.median(v)) >= ratio * tsd * tsd


def tex_sigma_px(model: AnomalyModel, z: _Zone | None = None) -> float:
    """Low-pass sigma (px) of ``texture_variation`` zone ``z``: ``tex_sigma_mm`` at the golden
    scale, or less when the zone's smallest defect is smaller (``tex_sigma_matched``): a disc of
    ``min_area_mm2`` (radius ``r``) keeps 63 % of its contrast at sigma ``r / sqrt(2)``, where a
    0.5 mm low-pass leaves a 0.8 mm spot a quarter of it. Never below the comparison's own blur."""
    c = model.config
    if not model.scale_mm_per_px:
        return c.tex_sigma_px
    s = c.tex_sigma_mm
    area = float(getattr(z.spec, "min_area_mm2", 0.0) or 0.0) if z is not None else 0.0
    if c.tex_sigma_matched and area > 0:
        s = min(s, math.sqrt(area / math.pi) / math.sqrt(2.0))
    return max(s / model.scale_mm_per_px, c.blur_sigma_px)


def tex_zones(model: AnomalyModel) -> list[_Zone]:
    return [z for z in model.zones_ if z.method == "texture_variation"]


def _defect_type(z: _Zone) -> str:
    return str(getattr(z.spec.defect_type, "value", z.spec.defect_type))


def floored_zones(model: AnomalyModel) -> list[_Zone]:
    """Zones whose spread is floored by the unit-to-unit texture variance (:func:`texture_spread`):
    ``texture_variation`` zones, and ``variation`` zones of a ``TEXTILE_DEFECT_TYPES`` type."""
    return [z for z in model.zones_ if z.method == "texture_variation" or (
        z.method == "variation" and getattr(z.spec.defect_type, "value", z.spec.defect_type) in TEXTILE_DEFECT_TYPES)]


def tex_slices(model: AnomalyModel, z: _Zone, margin: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """(outer, inner) slices: the zone bbox grown by ``margin`` px, and the bbox inside it."""
    h, w = model.shape_
    x0, y0, x1, y1 = z.bbox
    X0, Y0, X1, Y1 = max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)
    return (slice(Y0, Y1), slice(X0, X1)), (slice(y0 - Y0, y1 - Y0), slice(x0 - X0, x1 - X0))


def prep(model: AnomalyModel, img: np.ndarray, fine: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Prepared float image; inside ``texture_variation`` zones further low-passed so that the
    unit-specific grain averages out (sigma :func:`tex_sigma_px` of the zone in total).
    ``fine``: filled with each texture zone's bbox crop before its low-pass (:mod:`.fine`)."""
    p = prepare(img, sigma_px=model.config.blur_sigma_px)
    b0 = model.config.blur_sigma_px
    for z in tex_zones(model):
        if fine is not None:
            x0, y0, x1, y1 = z.bbox
            fine[z.spec.name] = p[y0:y1, x0:x1].copy()
        s_full = _extra_sigma(tex_sigma_px(model), b0)
        s = _extra_sigma(tex_sigma_px(model, z), b0)
        if max(s, s_full) <= 0:
            continue
        outer, inner = tex_slices(model, z, int(np.ceil(3 * max(s, s_full))))
        x0, y0, x1, y1 = z.bbox
        zm = z.mask[y0:y1, x0:x1]
        b = _blur_or_copy(p[outer], s)[inner]
        if s != s_full:
            # pixels another zone also judges keep the full low-pass (what that zone was fitted to):
            # a print inside a fabric zone is not compared sharper for the fabric's small defects
            shared = _shared_with_other_zones(model, z)[y0:y1, x0:x1] & zm
            if shared.any():
                b = np.where(shared[..., None], _blur_or_copy(p[outer], s_full)[inner], b)
        p[y0:y1, x0:x1] = np.where(zm[..., None], b, p[y0:y1, x0:x1])
    return p


def _extra_sigma(total: float, base: float) -> float:
    """Gaussian sigma that takes an image blurred by ``base`` to ``total`` (0 when none is needed)."""
    return float(np.sqrt(max(total**2 - base**2, 0.0)))


def _blur_or_copy(a: np.ndarray, s: float) -> np.ndarray:
    return cv2.GaussianBlur(a, (0, 0), s, borderType=cv2.BORDER_REFLECT) if s > 0 else a


def _shared_with_other_zones(model: AnomalyModel, z: _Zone) -> np.ndarray:
    """Full-frame bool mask of ``z``'s pixels that another zone also covers (cached on the model)."""
    cache = model.__dict__.setdefault("_tex_shared", {})
    key = z.spec.name
    if key not in cache:
        other = np.zeros(model.shape_, bool)
        for o in model.zones_:
            if o is not z:
                other |= o.mask
        cache[key] = other & z.mask
    return cache[key]


def texture_spread(model: AnomalyModel, sp: np.ndarray) -> None:
    """Floor the spread of texture zones by the expected grain difference between two units.

    The golden captures are one physical unit, so their per-pixel variance never sees another
    grain. Two independent realisations of the (low-passed) texture differ by a variance of
    ``2 var_tex``; it is added to the spread in place. ``var_tex`` is estimated per material
    (:func:`fit_materials`) from the residual of the low-passed golden mean against its
    median filter (side about ``2 tex_window_mm``): a median filter keeps the product's
    fixed structure (outlines, holes, print edges, which every unit shares and registration
    aligns) and removes the random texture, and the robust scale (1.4826 MAD) of the residual
    over a material's pixels ignores the few pixels of thin structure it leaves. A local
    variance around a Gaussian mean, as before, read every edge as texture: near a moulded
    part's outline the spread grew to 27 grey levels and a burr scored 0.03 of the threshold.
    """
    c = model.config
    model.tex_sd_ = {}
    model.ink_var_ = {}
    model.tex_scales_ = {}
    for z in floored_zones(model):
        if z.method == "texture_variation":
            sw = c.tex_window_mm / model.scale_mm_per_px if model.scale_mm_per_px else 4 * c.tex_sigma_px
        else:  # full resolution: a 5 px median keeps structure >= 3 px wide (stitches, print strokes)
            sw = 2.0
        k = int(min(max(2 * round(sw) + 1, 3), 99))
        outer, inner = tex_slices(model, z, k)
        m = model.mean_[outer]
        m8 = np.clip(np.rint(m), 0, 255).astype(np.uint8)
        med = np.stack([cv2.medianBlur(np.ascontiguousarray(m8[..., ch]), k) for ch in range(3)], axis=-1)
        r = (m - med.astype(np.float32))[inner]
        x0, y0, x1, y1 = z.bbox
        zm = z.mask[y0:y1, x0:x1] & (model.n_[y0:y1, x0:x1] > 0)
        # full resolution: one pool for the zone (the substrate's weave dominates it); per material
        # the median also reads thin structure (a stitch's blurred sides) as its material's texture
        labels = model.materials_.get(z.spec.name) if z.method == "texture_variation" else None
        ink = _ink_pixels(labels, zm, structure_pixels(model, z))
        own = _material_variance(r, labels, zm)
        tv = _pooled_ink(own, zm, ink)
        if tv is not own:  # what the nested zones' structure residual keeps (structure.py)
            model.ink_var_[z.spec.name] = (z.bbox, (2.0 * _tex_prior_weight(model) * np.maximum(own - tv, 0.0)).astype(np.float32),
                                           ink)
        del own
        sl = sp[y0:y1, x0:x1]
        # a prior for the grain of units the golden never showed: accepted units show it in the
        # variance itself, so it weighs as the spread floors do (floor_weight_, 1 up to 11 units)
        sl[zm] = np.sqrt(sl[zm] ** 2 + 2.0 * _tex_prior_weight(model) * tv[zm][:, None])
        model.tex_sd_[z.spec.name] = float(np.sqrt(np.median(tv[zm]))) if zm.any() else 0.0
        if z.method == "texture_variation" and zm.any():
            scales = tex_scales_px(model, z)
            if scales:
                model.tex_scales_[z.spec.name] = [
                    (s_k, _scaled_spread2(model, z, s_k, sw * s_k / tex_sigma_px(model, z), labels, zm, ink))
                    for s_k in scales]


def tex_scales_px(model: AnomalyModel, z: _Zone) -> list[float]:
    """The larger low-pass sigmas (px) at which ``texture_variation`` zone ``z`` is also judged
    (:func:`multiscale_raw`): its own sigma (:func:`tex_sigma_px`) times 2, 4, ... up to
    ``tex_scale_max``, each while the zone holds the Gaussian's +-3 sigma across its narrower side
    and at least 8 independent samples (``area / (4 pi sigma^2)``) at it."""
    f_max = float(getattr(model.config, "tex_scale_max", 1.0) or 1.0)
    s0 = tex_sigma_px(model, z)
    x0, y0, x1, y1 = z.bbox
    side = min(x1 - x0, y1 - y0)
    area = float(z.mask.sum())
    out = []
    f = 2.0
    while f <= f_max + 1e-9:
        s = s0 * f
        if 6 * s > side or area / (4 * np.pi * s * s) < 8:
            break
        out.append(float(s))
        f *= 2.0
    return out


def _scaled_spread2(model: AnomalyModel, z: _Zone, sigma_px: float, window_px: float,
                    labels: np.ndarray | None, zm: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Squared spread (bbox-sized, (h, w, 3) float16, golden colours) of zone ``z`` low-passed to
    ``sigma_px`` in total: :func:`.variation.spread` of the golden mean blurred to that sigma (its
    misregistration term from the blurred mean's gradient; the captures' variance averaged as a
    variance, an upper bound of the blurred captures' variance; the floors kept whole) plus the
    texture's realisation-to-realisation difference ``2 var_tex`` at that sigma: the estimator of
    :func:`texture_spread` on the blurred mean, its median window (half-side ``window_px``) grown
    in proportion to the sigma. The grain averages out as the scale grows, and its term with it.
    ``ink``: the zone's structure material's pixels (:func:`_pooled_ink`)."""
    c = model.config
    x = _extra_sigma(sigma_px, tex_sigma_px(model, z))
    k = int(min(max(2 * round(window_px) + 1, 3), 255))
    outer, inner = tex_slices(model, z, max(k, int(np.ceil(3 * x))))
    m = _blur_or_copy(np.ascontiguousarray(model.mean_[outer]), x)
    v = _blur_or_copy(np.ascontiguousarray(model.var_[outer]), x)
    m8 = np.clip(np.rint(m), 0, 255).astype(np.uint8)
    med = np.stack([cv2.medianBlur(np.ascontiguousarray(m8[..., ch]), k) for ch in range(3)], axis=-1)
    tv = _pooled_ink(_material_variance((m - med.astype(np.float32))[inner], labels, zm), zm, ink)
    sp = spread(m, v, abs_floor=c.abs_floor, rel_floor=c.rel_floor, grad_px=c.grad_px,
                floor_weight=model.floor_weight_)[inner]
    return (sp * sp + 2.0 * _tex_prior_weight(model) * tv[..., None]).astype(np.float16)


def _tex_prior_weight(model: AnomalyModel) -> float:
    """Weight of the grain prior ``2 var_tex`` in a texture zone's spread: the floors' weight
    (``AnomalyConfig.tex_prior_weighted``), else 1."""
    return model.floor_weight_ if getattr(model.config, "tex_prior_weighted", False) else 1.0


#: Share of a texture zone's material lying in the zone's nested structure zones
#: (:func:`structure_pixels`) from which the material is that structure (a print's ink, an
#: engraving's char), not the texture (:func:`_pooled_ink`).
STRUCTURE_MATERIAL_SHARE = 0.8


def structure_pixels(model: AnomalyModel, z: _Zone) -> np.ndarray | None:
    """Bbox-sized bool mask of texture zone ``z``'s pixels that lie in a ``variation`` zone nested
    on it (:func:`.structure.on_texture`) of a type whose structure every unit shares
    (:data:`.structure.GOLDEN_STRUCTURE_TYPES`: print, stitching, other): what the spec says is
    fixed structure on the texture, an engraving on grain, a print on a fabric. None when there is
    none, or with ``AnomalyConfig.tex_structure_materials`` off (states saved before it)."""
    if z.method != "texture_variation" or not getattr(model.config, "tex_structure_materials", False):
        return None
    x0, y0, x1, y1 = z.bbox
    out = np.zeros((y1 - y0, x1 - x0), bool)
    for o in model.zones_:
        if o is z or o.method != "variation" or _defect_type(o) not in GOLDEN_STRUCTURE_TYPES:
            continue
        n = max(int(np.count_nonzero(o.mask)), 1)
        if int(np.count_nonzero(o.mask & z.mask)) >= ON_TEXTURE_SHARE * n:
            out |= o.mask[y0:y1, x0:x1]
    return out if out.any() else None


def _ink_pixels(labels: np.ndarray | None, zm: np.ndarray, structure: np.ndarray | None) -> np.ndarray:
    """Bbox-sized bool: the pixels of ``structure`` (:func:`structure_pixels`) whose material has at
    least :data:`STRUCTURE_MATERIAL_SHARE` of its pixels there (a print's ink, an engraving's char)."""
    ink = np.zeros(zm.shape, bool)
    if structure is None or labels is None or labels.shape != zm.shape:
        return ink
    for k in np.unique(labels[zm]):
        sel = zm & (labels == k)
        if np.count_nonzero(sel & structure) >= STRUCTURE_MATERIAL_SHARE * np.count_nonzero(sel):
            ink |= sel & structure  # its few pixels elsewhere (dark grain of its colour) keep their own
    return ink


def _material_variance(r: np.ndarray, labels: np.ndarray | None, zm: np.ndarray) -> np.ndarray:
    """Per-pixel texture variance (h, w): ``(1.4826 MAD)²`` of the residual ``r`` (h, w, 3) over
    the pixels of each material (mean over channels); one material when ``labels`` is None."""
    out = np.zeros(zm.shape, np.float32)
    if labels is None or labels.shape != zm.shape:
        labels = np.zeros(zm.shape, np.int8)
    for k in np.unique(labels[zm]):
        sel = zm & (labels == k)
        x = r[sel]
        mad = np.median(np.abs(x - np.median(x, axis=0)), axis=0)
        out[sel] = float(np.mean((1.4826 * mad) ** 2))
    return out


def _pooled_ink(tv: np.ndarray, zm: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """The texture variance ``tv`` (:func:`_material_variance`) with the structure material's
    pixels ``ink`` (:func:`_ink_pixels`) at the pooled variance of the zone's other pixels (their
    median); ``tv`` itself when there is none. The structure's residual against the median is its
    own strokes, which the median removes (thin structure, fixed on every unit), not another
    unit's texture; the texture shows through it. Zoo wood: the char's own strokes gave it a
    texture sd of 9 grey levels against the grain's 2.6-3.5 (darker latewood 6.9), and a line of
    engraving 98 % burnt away scored 0.85 of the threshold."""
    rest = zm & ~ink
    if not (ink.any() and rest.any()):
        return tv
    out = tv.copy()
    out[ink] = float(np.median(tv[rest]))
    return out


def texture_floor(model: AnomalyModel, z: _Zone, sigma_px: float | None = None) -> float:
    """Smallest threshold (z units) of a texture zone: the expected maximum of |z| over the zone's
    independent low-passed samples, ``sqrt(2 ln N)``, ``N = area / (4 pi sigma^2)``, plus 1 (the
    golden cannot calibrate it: its captures share one grain). ``sigma_px``: the low-pass (px) of
    the scale judged (default the zone's own, :func:`tex_sigma_px`); fewer samples at a larger one."""
    s = tex_sigma_px(model, z) if sigma_px is None else sigma_px
    n = max(float(z.mask.sum()) / (4 * np.pi * s**2), 2.0)
    return float(np.sqrt(2 * np.log(n))) + 1.0


def multiscale_raw(model: AnomalyModel, z: _Zone, u: np.ndarray, mid: np.ndarray, half: np.ndarray,
                   gg: np.ndarray, m: np.ndarray) -> np.ndarray | None:
    """Evidence of ``texture_variation`` zone ``z`` at its larger scales (:func:`tex_scales_px`), in
    units of its own scale's threshold floor times the zone's (so that it reads as the zone's z), the
    largest over the scales; (h, w) float32 bbox-sized, or None when the zone has no larger scale.

    The excess of the unit over the golden band, signed, ``sign(u - mid) max(|u - mid| - half, 0)``
    per channel, is averaged over the zone's valid pixels ``m`` by a Gaussian that takes the zone's
    low-pass to the scale's sigma, and divided by the zone's spread at that scale
    (:func:`_scaled_spread2`, fitted with the statistics): the texture's realisation-to-realisation
    difference in it falls as the grain averages out. The threshold floor falls too, with the fewer
    independent samples (:func:`texture_floor` at that sigma). A faint stain several times the
    smallest defect, lost in the grain at the small scale, may then stand out at its own (issue 13).

    ``u``, ``mid``, ``half`` (h, w, 3): prepared unit crop and the golden band in the unit's colours;
    ``gg`` (3,) or (h, w, 3): the squared gain, which scales the spread's statistical terms."""
    scales = getattr(model, "tex_scales_", {}).get(z.spec.name)
    if not scales or scales[0][1].shape[:2] != m.shape:
        return None
    x0, y0, x1, y1 = z.bbox
    sl = (slice(y0, y1), slice(x0, x1))
    s0 = tex_sigma_px(model, z)
    f0 = max(model.config.var_floor, texture_floor(model, z))
    a2 = np.float32(model.config.abs_floor**2)
    d = u - mid
    e = np.sign(d) * np.maximum(np.abs(d) - half, 0.0)
    w = m.astype(np.float32)
    e *= w[..., None]
    min_dl = float(getattr(z.spec, "min_contrast_dl", 0.0) or 0.0)
    best: np.ndarray | None = None
    for s_k, sp2_k in scales:
        ws, es = smooth_all([w, e], _extra_sigma(s_k, s0))
        inv = np.where(ws > 1e-3, 1.0 / np.maximum(ws, 1e-3), 0.0).astype(np.float32)
        e_k = es * inv[..., None]
        # in the unit's colours as variation_raw: the statistical terms scale with the gain, the floor not
        # the photo's extra noise (:mod:`.unit_noise`), correlated over a JPEG block (8 px): averaged
        # over the scale's Gaussian it falls as the block's area over the Gaussian's, 64 / (4 pi s²)
        ex = extra_floor2(sl, m.shape, min(1.0, 64.0 / (4.0 * np.pi * s_k * s_k)))
        s2 = np.maximum(sp2_k.astype(np.float32) - a2, 0.0) * gg + np.maximum(gg, np.float32(1.0)) * (a2 if ex is None else a2 + ex)
        zk = (np.abs(e_k) / np.sqrt(s2)).max(axis=2)
        if min_dl > 0:
            zk *= np.clip(contrast_dl(mid + e_k, mid, mid) * np.float32(1.0 / min_dl), 0.0, 1.0)
        zk *= np.float32(f0 / max(model.config.var_floor, texture_floor(model, z, s_k)))
        zk = np.where(m, zk, 0.0).astype(np.float32)
        best = zk if best is None else np.maximum(best, zk)
    return best


def fit_materials(model: AnomalyModel) -> None:
    """Cluster each variation zone's golden mean colours into up to ``n_materials`` materials
    (k-means, seeded, on a subsample) -> ``model.materials_[name]``: (bbox-sized int8 label map,
    centres)."""
    from .registry import get_method

    c = model.config
    model.materials_ = {}
    model.mix_ = {}
    if not model.n_.any():
        return
    for z in model.zones_:
        if get_method(z.method).uses_features:
            continue
        x0, y0, x1, y1 = z.bbox
        m = z.mask[y0:y1, x0:x1] & (model.n_[y0:y1, x0:x1] > 0)
        mean = model.mean_[y0:y1, x0:x1]
        x = mean[m]
        k = int(min(c.n_materials, len(x)))
        if k <= 1:
            model.materials_[z.spec.name] = np.where(m, 0, -1).astype(np.int8)
            continue
        step = max(1, len(x) // 20000)
        cv2.setRNGSeed(0)
        _, _, centres = cv2.kmeans(np.ascontiguousarray(x[::step]), k, None,
                                   (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5), 2, cv2.KMEANS_PP_CENTERS)
        # clusters too small to give a robust gain at score time (mostly edge blends) are
        # dropped: their pixels are then mixes of the remaining materials
        d = ((x[::step, None, :] - centres[None]) ** 2).sum(-1)
        cnt = np.bincount(np.argmin(d, axis=1), minlength=k) * step
        big = cnt >= max(c.material_min_frac * len(x), c.material_min_px)
        if big.sum() >= 1:
            centres = centres[big]
        k = len(centres)
        if k == 1:
            model.materials_[z.spec.name] = np.where(m, 0, -1).astype(np.int8)
            continue
        d = ((mean[..., None, :] - centres[None, None]) ** 2).sum(-1)
        order = np.argsort(d, axis=-1)
        k1, k2 = order[..., 0], order[..., 1]
        # A pixel between two materials (an edge, a blend) is the convex mix
        # a c1 + (1 - a) c2 of its two nearest centres: its gain is the same mix.
        c1, c2 = centres[k1], centres[k2]
        e = c1 - c2
        a = np.clip(((mean - c2) * e).sum(-1) / np.maximum((e * e).sum(-1), 1e-6), 0.0, 1.0)
        model.materials_[z.spec.name] = np.where(m, k1, -1).astype(np.int8)
        w: np.ndarray = np.zeros(mean.shape[:2] + (k,), np.float32)
        np.put_along_axis(w, k1[..., None], a[..., None], axis=-1)
        np.put_along_axis(w, k2[..., None], (1 - a)[..., None], axis=-1)
        w = w.reshape(-1, k)
        # + _MIX_EPS levels in numerator and denominator only guard against division by ~0
        # (a material's channel darker than robust_gain's min_level already carries the zone
        # gain). A larger term pulls real gains towards the zone gain: with 12 levels a
        # 48-level channel kept 25 % of the zone gain (issue 6: darker leather flagged).
        den = w @ centres.astype(np.float32) + _MIX_EPS
        # the materials whose pure gain a pixel may also carry (see _gain_field)
        k1f, k2f = k1.ravel().astype(np.intp), k2.ravel().astype(np.intp)
        af = a.ravel()
        alt1 = np.where(af >= _MIX_MIN, k1f, k)  # k = none
        alt2 = np.where(1.0 - af >= _MIX_MIN, k2f, k)
        pair = (alt1 * (k + 1) + alt2).astype(np.intp)  # index into a (k+1)² table
        model.mix_[z.spec.name] = (w, (1.0 / den).astype(np.float32), centres.astype(np.float32), pair)


def gain_field(model: AnomalyModel, z: _Zone, u: np.ndarray, m: np.ndarray,
               mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel, per-channel gain of the unit crop against the golden mean, (h, w, 3) or (3,).

    One robust gain (median of ratios) over the zone removes the lighting; each material
    (golden colour cluster) holding >= ``material_min_frac`` of the zone then gets its own
    gain, bounded to ``[1 / material_gain_limit, material_gain_limit]`` times the zone gain,
    so a uniformly re-coloured material (the colour stage's job) is not anomalous while a
    local defect, being a minority of its material, is not absorbed. A pixel that the golden
    shows as a mix of two materials (an edge, at the comparison's blur) gets the same mix
    of their gains. Returns ``(g, g_lo, g_hi)``: the gain and its per-pixel lower/upper bound
    over the materials a pixel may carry; each is the zone gain, shape (3,), when the zone has
    one material. ``mean``: the golden the unit is compared with (bbox-sized; default the model's
    mean, ``mean_``), the materials' map being the model's.
    """
    c = model.config
    x0, y0, x1, y1 = z.bbox
    if mean is None:
        mean = model.mean_[y0:y1, x0:x1]
    g0 = robust_gain(u, mean, m)
    lab = model.materials_.get(z.spec.name)
    if lab is None or z.spec.name not in model.mix_:
        return g0, g0, g0
    w, inv_den, centres, pair = model.mix_[z.spec.name]
    # one subsample (about 20 000 px, as robust_gain) shared by all materials
    step = max(1, int(np.sqrt(u.shape[0] * u.shape[1] / 20_000)))
    us = u[::step, ::step].reshape(-1, 3)
    ms = mean[::step, ::step].reshape(-1, 3)
    ls = np.where(m[::step, ::step], lab[::step, ::step], -1).ravel()
    n_all = max(int((ls >= 0).sum()), 1)
    ok = ms > _GAIN_MIN_LEVEL
    ratio = us / np.maximum(ms, 1e-3)
    gains = np.tile(g0, (len(centres), 1))
    min_n = max(c.material_min_frac * n_all, c.material_min_px / step**2)
    for k in range(len(centres)):
        sel = ls == k
        if sel.sum() < min_n:
            continue
        for ch in range(3):
            if centres[k, ch] <= _GAIN_MIN_LEVEL:
                continue  # no signal above the black level: the zone gain (see the docstring)
            r = ratio[sel & ok[:, ch], ch]
            if r.size >= 16:
                gains[k, ch] = np.median(r)
        gains[k] = np.clip(gains[k], g0 / c.material_gain_limit, g0 * c.material_gain_limit)
    if np.all(np.abs(gains / g0 - 1.0) < 1e-3):
        return g0, g0, g0
    # per-pixel gain = (sum_k w_k g_k c_k) / (sum_k w_k c_k)
    g = (w @ (gains * centres).astype(np.float32) + _MIX_EPS * g0) * inv_den
    # Colour alone cannot tell a blend of two materials from a shade of one of them (a
    # shadowed leather, the dark end of a plating gradient): a pixel whose golden colour has
    # weight >= _MIX_MIN on a material may also carry that material's pure gain.
    t_lo = np.vstack([gains, np.full((1, 3), np.inf)]).astype(np.float32)
    t_hi = np.vstack([gains, np.full((1, 3), -np.inf)]).astype(np.float32)
    t_lo = np.minimum(t_lo[:, None], t_lo[None, :]).reshape(-1, 3)  # (k+1)² material pairs
    t_hi = np.maximum(t_hi[:, None], t_hi[None, :]).reshape(-1, 3)
    g_lo, g_hi = np.minimum(g, t_lo[pair]), np.maximum(g, t_hi[pair])
    return g.reshape(u.shape), g_lo.reshape(u.shape), g_hi.reshape(u.shape)


def shading_field(model: AnomalyModel, z: _Zone, u: np.ndarray, m: np.ndarray,
                  g: np.ndarray, mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Smooth per-channel shading of the unit crop against the recoloured golden: ``(shade,
    offset)``, each (h, w, 3) float32 (``offset`` None when ``shading_offset`` is off), so that
    ``u ≈ shade * g * mean + offset``; None when ``shading_sigma_mm`` is off or the model has no scale.

    A specular highlight or a shade that moves with the light is smooth over the product
    (a glaze's reflection of a light box: sigma of several mm) and differs between photos
    under another light; a defect is small against it. Each unit px, clipped to ``1 +-
    shading_clip`` times the recoloured golden ``e = g * mean`` (a strong defect's contrast is
    bounded), enters a fit weighted by a Gaussian of ``shading_sigma_mm`` over the zone's valid
    pixels (normalised over them, so the zone's border is not pulled to 1).

    Without the offset ``shade`` is the window's mean of the clipped ratios ``u / e``: a change
    of the light's strength. A highlight, though, *adds* the lamp's white light: a dark material
    under it brightens by more than its ratio to a light one says (zoo ceramic hand-held, 24
    units: an iron-red bud by the golden's highlight was read darker on units whose highlight
    lay elsewhere, 1.08-1.20 times the threshold on three units with no defect). With
    ``shading_offset`` the fit is the least-squares line ``u = shade * e + offset`` in each
    window, the offset held towards 0 by a ridge ``SHADING_OFFSET_RIDGE * offset^2``: where the
    window holds one material (levels spread by much less than ``sqrt(SHADING_OFFSET_RIDGE)`` of
    their RMS, no leverage to tell a gain from an offset) it is a ratio as before, and where it
    holds a light and a dark material both are read (the three units: 0.91-0.99). It is a line in
    grey levels, not the sRGB-decoded light, and the offset is the window's: by a highlight's
    peak, where the added light bends within the window, part of its effect on a dark material
    is left (a fit in linear light with the gain taken from the materials' edges left less of it
    on a synthetic decal, but flagged 5 of 14 good units of the zoo's hand-held zipper, whose
    edges are soft in some photos and sharp in others).
    """
    c = model.config
    sig_mm = float(getattr(c, "shading_sigma_mm", 0.0) or 0.0)
    if sig_mm <= 0 or not model.scale_mm_per_px:
        return None
    sigma = sig_mm / float(model.scale_mm_per_px)
    x0, y0, x1, y1 = z.bbox
    e = (model.mean_[y0:y1, x0:x1] if mean is None else mean) * np.asarray(g, np.float32)
    w = (m[..., None] & (e > _GAIN_MIN_LEVEL)).astype(np.float32)
    ee = np.maximum(e, np.float32(1e-3))
    uc = np.clip(u, ee * (1.0 - c.shading_clip), ee * (1.0 + c.shading_clip)).astype(np.float32)
    if not c.shading_offset:
        num, den = smooth_all([(uc / ee) * w, w], sigma)
        return np.where(den > 1e-3, num / np.maximum(den, np.float32(1e-3)), np.float32(1.0)).astype(np.float32), None
    # the line is solved per cell of the coarse grid and brought to full size (smooth_coarse)
    (sw, se, su, see, seu), up = smooth_coarse([w, e * w, uc * w, e * e * w, e * uc * w], sigma)
    ok = sw > 1e-3
    inv = np.float32(1.0) / np.maximum(sw, np.float32(1e-3))
    me, mu, mee, meu = se * inv, su * inv, see * inv, seu * inv  # window means
    lam = np.float32(SHADING_OFFSET_RIDGE)
    # normal equations of min E[(u - a e - b)^2] + lam b^2 (per window, per channel); the
    # determinant is var(e) + lam E[e^2]: the offset is read where var(e) outweighs lam E[e^2]
    det = mee * (1.0 + lam) - me * me
    det = np.maximum(det, np.float32(1e-6) * np.maximum(mee, np.float32(1.0)))
    a = (meu * (1.0 + lam) - me * mu) / det
    b = (mee * mu - me * meu) / det
    a = np.where(ok, a, np.float32(1.0)).astype(np.float32)
    b = np.where(ok, b, np.float32(0.0)).astype(np.float32)
    return up(a), up(b)


#: Ridge on the shading fit's offset (``shading_field``): the offset is read only where the
#: window's levels spread by more than about a tenth of their RMS (two materials), not from the
#: noise around one level.
SHADING_OFFSET_RIDGE = 0.01

#: A smooth field's Gaussian is run on a grid this many of its sigmas coarser (at most): the box
#: average of the downscale and the bilinear upscale then change it by well under 1 %.
_SMOOTH_PX_PER_SIGMA = 4.0


def smooth_all(arrays: list[np.ndarray], sigma: float) -> list[np.ndarray]:
    """Each array blurred by a Gaussian of ``sigma`` px (zero outside the image), on a grid
    coarse enough that the Gaussian spans about ``_SMOOTH_PX_PER_SIGMA`` cells per sigma
    (:func:`smooth_coarse`), back at full size.

    The shading field's sigma is several mm: at a fine scale (DeepPCB's 0.02 mm/px) that is a
    kernel of 1700 px, whose direct convolution took seconds per zone. The result is the same
    smooth field to within the bilinear interpolation of a function that hardly bends over a cell.
    """
    lows, up = smooth_coarse(arrays, sigma)
    return [up(x) for x in lows]


def smooth_coarse(arrays: list[np.ndarray], sigma: float
                  ) -> tuple[list[np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """The arrays blurred by a Gaussian of ``sigma`` px on the coarse grid of :func:`smooth_all`,
    and the function that brings a coarse array (any smooth field computed from them) to full
    size: a field derived from several blurred arrays is computed once per cell, not per px."""
    h, w = arrays[0].shape[:2]
    f = int(sigma // _SMOOTH_PX_PER_SIGMA)
    f = min(f, max(1, min(h, w) // 8))
    if f <= 1:
        return [cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT) for x in arrays], lambda x: x
    size = (-(-w // f), -(-h // f))
    # The box average of the downscale is itself a blur of variance (f^2 - 1) / 12 px^2.
    s = math.sqrt(max(sigma * sigma - (f * f - 1) / 12.0, 0.25)) / f
    lows = [cv2.GaussianBlur(cv2.resize(x, size, interpolation=cv2.INTER_AREA), (0, 0), s,
                             borderType=cv2.BORDER_CONSTANT) for x in arrays]
    return lows, lambda x: cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR)


def variation_raw(model: AnomalyModel, z: _Zone, u: np.ndarray, m: np.ndarray, *,
                  fine: np.ndarray | None = None, fine_out: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Raw variation score of a zone's prepared unit crop ``u`` (bbox-sized, z units).

    The comparison runs in the unit's colours: the *golden* is recoloured by the gain field
    ``g`` (:meth:`_gain_field`), ``E = g * mean``, and the tolerance band is the min/max of
    ``E`` over the misregistration window, so a neighbour ``q`` of a material border carries
    its own gain ``g_q`` (dividing the unit by the gain of the pixel compared would put the
    band of a strongly recoloured neighbour off by ``g_q / g_p``). The spread's statistical
    terms (variance, relative and edge terms) scale with ``g``; its absolute floor (sensor
    noise, quantisation, unit-to-unit surface texture, all in unit grey levels) does not
    shrink with a darker material: ``sqrt(g² (s² - abs²) + (abs · max(g, 1))²)``.

    ``fine``: the unit's crop at full resolution; a texture zone with the full-resolution channel
    (:mod:`.fine`) also judges it, in the same colours; its evidence, aggregated along lines, goes
    to ``fine_out[zone name]``.
    """
    x0, y0, x1, y1 = z.bbox
    sl = (slice(y0, y1), slice(x0, x1))
    g, g_lo, g_hi = gain_field(model, z, u, m)
    shading = shading_field(model, z, u, m, g)
    offset = None
    if shading is not None:
        shade, offset = shading
        g, g_lo, g_hi = g * shade, g_lo * shade, g_hi * shade
        del shade
    inv = model.inv_spread_[sl]
    a2 = np.float32(model.config.abs_floor**2)
    gg = np.asarray(g, np.float32) ** 2
    with np.errstate(divide="ignore"):
        s2 = np.reciprocal(inv * inv)  # inf where the golden has no sample -> inv_u = 0
    s2 -= a2
    np.maximum(s2, 0.0, out=s2)
    s2 *= gg
    ex = extra_floor2(sl, m.shape)  # the photo's own extra noise (a coarse JPEG's, :mod:`.unit_noise`)
    s2 += np.maximum(gg, np.float32(1.0)) * (a2 if ex is None else a2 + ex)
    np.sqrt(s2, out=s2)
    inv_u = np.reciprocal(s2, out=s2)
    if g_lo.ndim == 1:
        mid, half = model.mid_[sl] * g_lo, model.half_[sl] * g_lo
    else:
        lo, _ = tolerance_band(model.mean_[sl] * g_lo, shift_px=model.config.shift_px)
        _, hi = tolerance_band(model.mean_[sl] * g_hi, shift_px=model.config.shift_px)
        e_lo, e_hi = model.band_env_  # the scene envelope (:mod:`.envelope`), recoloured alike
        mid, half = combine_band(lo, hi, None if e_lo is None else e_lo[sl] * g_lo,
                                 None if e_hi is None else e_hi[sl] * g_hi)
        del lo, hi, _
    if offset is not None:  # the light a highlight adds (shading_field)
        mid = mid + offset
    zmap = deviation_map(u, mid, half, inv_u, np.ones(3, np.float32))
    if fine is not None and fine_out is not None:
        f = fine_raw(model, z, fine, m, scaled=True)
        if f is not None:
            fine_out[z.spec.name] = f
    del g_lo, g_hi, shading, offset, s2, inv_u  # full-frame planes: freed before the structure residual's
    st = structure_zone_raw(model, z, u, g, m)  # what no small local displacement explains (:mod:`.structure`)
    if st is not None:
        np.maximum(zmap, st, out=zmap)
    min_dl = float(getattr(z.spec, "min_contrast_dl", 0.0) or 0.0)
    if min_dl > 0:
        zmap *= np.clip(contrast_dl(u, mid - half, mid + half) * np.float32(1.0 / min_dl), 0.0, 1.0)
    if z.spec.name in getattr(model, "tex_scales_", {}):  # a texture zone judged at larger scales too
        big = multiscale_raw(model, z, u, mid, half, gg, m)
        if big is not None:
            np.maximum(zmap, big, out=zmap)
    return zmap


def _lstar_lut() -> np.ndarray:
    """CIE L* (D65) of an sRGB grey level 0..255 (IEC 61966-2-1, CIE 15:2004), (256,) float32."""
    v = np.arange(256, dtype=np.float64) / 255.0
    y = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    f = np.where(y > (6 / 29) ** 3, np.cbrt(y), y / (3 * (6 / 29) ** 2) + 4 / 29)
    return (116 * f - 16).astype(np.float32)


_LSTAR = _lstar_lut()


def contrast_dl(u: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Lightness difference ΔL* (>= 0) of the unit outside the golden band, per pixel.

    The grey level is the mean of the three channels, read as sRGB (D65): the difference a
    buyer's "smallest contrast ΔL*" speaks of, before the statistics (which speak of noise).

    Parameters
    ----------
    u, lo, hi : ndarray, shape (h, w, 3), float32, 0-255
        Prepared unit and the golden tolerance band in the unit's colours.

    Returns
    -------
    ndarray, shape (h, w), float32
    """
    xs = np.arange(256, dtype=np.float32)

    def lstar(a: np.ndarray) -> np.ndarray:
        return np.interp(np.clip(a.mean(axis=2), 0, 255), xs, _LSTAR).astype(np.float32)

    lu = lstar(u)
    return np.maximum(np.maximum(lu - lstar(hi), lstar(lo) - lu), 0.0).astype(np.float32)
