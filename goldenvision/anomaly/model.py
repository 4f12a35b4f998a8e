"""The anomaly stage facade: fit on aligned golden captures, score registered units.

Methods per zone (``AnomalyZone.method``):

``variation``
    Per-pixel mean/spread model (:mod:`.variation`), full resolution. Fast (the default).
``texture_variation``
    The variation model at a coarser scale for textured surfaces with no fixed geometry
    (leather grain, fabric), where every physical unit has its own pattern: inside the zone the
    images are low-passed (Gaussian ``tex_sigma_mm``, 0.5 mm: a 1 mm grain averages out, a
    stain of several mm does not) and the spread is floored by the texture's own
    realisation-to-realisation difference, ``sqrt(2) *`` the local sd of the low-passed golden
    around its local mean (window ``tex_window_mm``). The golden captures share one grain, so
    their leave-one-out scores cannot calibrate this; the threshold is floored by the expected
    maximum of ``|z|`` over the zone's independent samples (:meth:`AnomalyModel._texture_floor`).
    Known limit: pixels shared with another zone are low-passed for that zone too.
``patchcore``
    Nearest good patch feature at the same cell ± ``radius`` cells (:mod:`.features`),
    bank = golden captures + accepted units, per-cell greedy coreset of ``bank_per_cell``.
``padim``
    Per-cell Gaussian over a seeded random subset of ``padim_dims`` feature channels.
``texture``
    Position-free nearest neighbour in the zone's whole feature bank (leather, fabric).
``auto``
    ``texture_variation`` for zones whose ``defect_type`` is in ``TEXTURE_DEFECT_TYPES``
    (``finish``), ``variation`` for every other zone. On registered units it resolves smaller defects than
    stride-8 features, needs no backbone and runs well inside the time budget; on the demo
    lot it finds the stain on the leather panel (3.3 x threshold) and the skipped stitch
    that ``texture`` scored below threshold (0.78 and 0.52). Choose ``texture`` explicitly
    for surfaces whose pattern differs from unit to unit (natural leather grain, fabric),
    ``patchcore``/``padim`` for registered parts where pixel statistics are too brittle.

Colour normalisation (variation methods): a zone's golden mean colours are clustered into
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

Thresholds come from good images only (:mod:`.threshold`): leave-one-out over the golden
captures, then each accepted unit's score *before* it joins the model (variation zones) or
its cross-fitted score against the model plus the other accepted units (feature zones, which
then calibrate on accepted units only; see :meth:`AnomalyModel.add_good`). The golden captures
are one physical unit, so without accepted units the feature zones' thresholds know nothing
of unit-to-unit variation (leather grain inside the backbone's receptive field, print and
plating tone): on the demo lot every good unit scored 1.5-3x threshold in every zone until
``add_good``. The returned map is divided by each zone's threshold, so 1.0 = threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..errors import ImageError, ModelError, SpecError
from ..results import AnomalyResult, Defect
from ..spec import AnomalyZone
from ..zones import zone_mask
from . import features as F
from .threshold import DEFAULT_ALPHA, find_defects, good_score_threshold
from .variation import BLUR_SIGMA_PX, combine_stats, deviation_map, prepare, robust_gain, spread, tolerance_band

__all__ = ["AnomalyModel", "AnomalyConfig", "METHODS"]

METHODS = ("auto", "variation", "texture_variation", "patchcore", "padim", "texture")
_FEATURE_METHODS = ("patchcore", "padim", "texture")
_VARIATION_METHODS = ("variation", "texture_variation")
#: Zone defect types whose surface is a texture with no fixed geometry (``auto`` ->
#: ``texture_variation``): every physical unit has its own leather grain / weave.
TEXTURE_DEFECT_TYPES = ("finish",)
STATE_VERSION = 1
#: Regulariser (grey levels) of the per-pixel material gain mix (no division by ~0).
_MIX_EPS = 1.0
#: Smallest weight of a material in a pixel's golden colour for its pure gain to be tolerated too.
_MIX_MIN = 0.25


@dataclass(frozen=True)
class AnomalyConfig:
    """Tuning of the anomaly stage (all stored in the model state).

    Attributes
    ----------
    abs_floor : float
        Absolute spread floor, grey levels (0-255).
    rel_floor : float
        Spread floor as a fraction of the golden mean.
    grad_px : float
        Sub-pixel misregistration tolerated at edges through the spread, px.
    shift_px : int
        Whole-pixel misregistration tolerated by the min/max tolerance band, px.
    blur_sigma_px : float
        Gaussian pre-blur of the variation model, px.
    alpha : float
        Target false-reject rate of the threshold rule.
    var_floor : float
        Smallest variation threshold in spread units (z).
    feat_floor : float
        Smallest feature-distance threshold (feature units).
    valid_erode_px : int
        Invalid borders of warped images are grown by this many px.
    merge_px : int
        Defect regions closer than about this many px are reported as one.
    region_low : float
        Hysteresis level of defect regions (map units): a region is the connected area
        >= ``region_low`` around pixels >= 1.0, so ``min_area_mm2`` sees the defect's extent.
    feature_scale : float
        Images are resized by this factor before the backbone (<= 1).
    tile_px : int
        Backbone tile side, px of the resized image.
    radius : int
        PatchCore/PaDiM neighbourhood, cells.
    bank_per_cell : int
        PatchCore coreset size per cell.
    padim_dims : int
        PaDiM channel subset size.
    texture_bank : int
        Texture coreset size per zone.
    proj_dim : int
        Backbone features (152 channels) are projected to this many dimensions by a fixed
        seeded Gaussian random projection (Johnson-Lindenstrauss; PatchCore §3.3) before
        every feature model (0 = keep all 152): 2.4x faster distances, smaller banks.
    tex_sigma_mm : float
        Low-pass sigma of ``texture_variation`` zones, mm (total, including ``blur_sigma_px``).
    tex_window_mm : float
        Window (Gaussian sigma, mm) of the local texture variance of ``texture_variation`` zones.
    tex_sigma_px : float
        Low-pass sigma in px when the model has no ``scale_mm_per_px``.
    n_materials : int
        Most golden colour clusters (materials) per zone for the colour normalisation.
    material_min_frac : float
        A material needs at least this fraction of the zone's pixels ...
    material_min_px : int
        ... and at least this many px, else it is merged into the others.
    material_gain_limit : float
        A material's gain stays within ``[1/limit, limit]`` times the zone's overall gain.
    """

    abs_floor: float = 3.0
    rel_floor: float = 0.03
    grad_px: float = 0.5
    shift_px: int = 1
    blur_sigma_px: float = BLUR_SIGMA_PX
    alpha: float = DEFAULT_ALPHA
    var_floor: float = 3.0
    feat_floor: float = 1.0
    valid_erode_px: int = 2
    merge_px: int = 0
    region_low: float = 0.5
    feature_scale: float = 0.5
    tile_px: int = 1024
    radius: int = 1
    bank_per_cell: int = 8
    padim_dims: int = 48
    texture_bank: int = 2000
    proj_dim: int = 64
    tex_sigma_mm: float = 0.5
    tex_window_mm: float = 2.0
    tex_sigma_px: float = 5.0
    n_materials: int = 6
    material_min_frac: float = 0.01
    material_min_px: int = 200
    material_gain_limit: float = 3.0


@dataclass
class _Zone:
    spec: AnomalyZone
    method: str
    mask: np.ndarray  # (H, W) bool
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 exclusive
    good_scores: list[float] = field(default_factory=list)
    #: held-out scores of accepted production units (feature zones; see ``add_good``)
    unit_scores: list[float] = field(default_factory=list)
    threshold: float = 1.0


def _check_image(img: Any, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ImageError(f"{name}: expected (H, W, 3) uint8 RGB in golden px, got {a.shape} {a.dtype}")
    if shape is not None and a.shape[:2] != shape:
        raise ImageError(f"{name}: expected the golden frame size {shape} (H, W), got {a.shape[:2]}")
    return a


def _check_mask(m: Any, name: str, shape: tuple[int, int]) -> np.ndarray:
    if m is None:
        return np.ones(shape, bool)
    a = np.asarray(m)
    if a.shape != shape:
        raise ImageError(f"{name}: expected a bool mask of shape {shape}, got {a.shape} {a.dtype}")
    return a.astype(bool)


def _zone_mask(zone: AnomalyZone, shape: tuple[int, int]) -> np.ndarray:
    mask = zone_mask("full" if zone.region is None else zone.region, shape)
    if not mask.any():
        raise SpecError(f"anomaly_zones[{zone.name}].region: polygon lies outside the golden frame {shape[::-1]} (W, H)")
    return mask


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _f16(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)


def _pseudo_captures(img: np.ndarray, valid: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sub-pixel shifted copies standing in for repeat captures when only one exists."""
    out = []
    h, w = img.shape[:2]
    for dx, dy in ((0.35, 0.0), (-0.35, 0.0), (0.0, 0.35), (0.0, -0.35)):
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        out.append(
            (
                cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
                cv2.warpAffine(valid.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST).astype(bool) & valid,
            )
        )
    return out


class AnomalyModel:
    """Anomaly model of one golden sample (see the module docstring for the methods).

    Build with :meth:`fit` or :meth:`from_state`; the constructor is internal.
    Fitted attributes end in ``_``.
    """

    def __init__(self, *, zones: list[AnomalyZone], shape: tuple[int, int], scale_mm_per_px: float | None,
                 config: AnomalyConfig, methods: list[str]) -> None:
        self.config = config
        self.shape_ = shape
        self.scale_mm_per_px = scale_mm_per_px
        self.zones_ = [
            _Zone(spec=z, method=m, mask=(mk := _zone_mask(z, shape)), bbox=_bbox(mk)) for z, m in zip(zones, methods)
        ]
        h, w = shape
        self.n_ = np.zeros((h, w), np.float32)
        self.mean_ = np.zeros((h, w, 3), np.float32)
        self.var_ = np.zeros((h, w, 3), np.float32)
        self.ref_gain_mean_: np.ndarray | None = None  # golden mean used to normalise feature inputs
        self.pc_bank_: np.ndarray | None = None  # (K, h8, w8, C) float16
        self.padim_: dict[str, np.ndarray] | None = None
        self.tex_banks_: dict[str, np.ndarray] = {}
        self._derive()

    # ------------------------------------------------------------------ construction
    @classmethod
    def fit(
        cls,
        captures: list[np.ndarray],
        zones: list[AnomalyZone],
        *,
        scale_mm_per_px: float | None = None,
        valid_masks: list[np.ndarray] | None = None,
        method: str = "auto",
        config: AnomalyConfig | None = None,
    ) -> "AnomalyModel":
        """Fit on aligned golden captures and calibrate thresholds by leave-one-out.

        Parameters
        ----------
        captures : list of ndarray, each (H, W, 3) uint8 RGB
            Golden captures registered into golden px (the reference first). With fewer than
            three, sub-pixel shifted copies (±0.35 px) stand in for repeat captures.
        zones : list of AnomalyZone
            Zones to watch (regions in golden px). Empty = one "full" zone.
        scale_mm_per_px : float or None, keyword-only
            mm per golden px (for ``min_area_mm2`` and ``area_mm2``).
        valid_masks : list of ndarray (H, W) bool or None, keyword-only
            Pixels of each capture that hold image data (warp borders are False).
        method : str, keyword-only
            Overrides every zone whose own method is "auto" (one of ``METHODS``).
        config : AnomalyConfig or None, keyword-only

        Returns
        -------
        AnomalyModel

        Raises
        ------
        ImageError, SpecError, ModelError
        """
        if not captures:
            raise ImageError("captures: expected at least one aligned golden capture, got none")
        if method not in METHODS:
            raise SpecError(f"method={method!r}; expected one of {list(METHODS)}")
        cfg = config or AnomalyConfig()
        ref = _check_image(captures[0], "captures[0]")
        shape = ref.shape[:2]
        imgs = [_check_image(c, f"captures[{i}]", shape) for i, c in enumerate(captures)]
        if valid_masks is not None and len(valid_masks) != len(imgs):
            raise ImageError(f"valid_masks: expected {len(imgs)} masks (one per capture), got {len(valid_masks)}")
        masks = [_check_mask(None if valid_masks is None else valid_masks[i], f"valid_masks[{i}]", shape) for i in range(len(imgs))]
        if len(imgs) < 3:
            extra = [p for im, m in zip(list(imgs), list(masks)) for p in _pseudo_captures(im, m)]
            imgs += [e[0] for e in extra]
            masks += [e[1] for e in extra]
        zones = list(zones) or [AnomalyZone(name="full")]
        methods = [cls._resolve(z.method if z.method != "auto" else method, z) for z in zones]
        model = cls(zones=zones, shape=shape, scale_mm_per_px=scale_mm_per_px, config=cfg, methods=methods)
        model._fit_all(imgs, masks)
        return model

    @staticmethod
    def _resolve(method: str, zone: AnomalyZone) -> str:
        from .backbone import backbone_available

        if method == "auto":
            dt = getattr(zone.defect_type, "value", zone.defect_type)
            return "texture_variation" if dt in TEXTURE_DEFECT_TYPES else "variation"
        if method in _FEATURE_METHODS and not backbone_available():
            raise ModelError(f"anomaly_zones[{zone.name}].method={method!r} needs the ONNX backbone, which is missing")
        return method

    @property
    def uses_features(self) -> bool:
        return any(z.method in _FEATURE_METHODS for z in self.zones_)

    # ------------------------------------------------------------------ internals: statistics
    def _prep_captures(self, imgs: list[np.ndarray], masks: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Prepared, gain-normalised (to the first image) float images and float weights."""
        preps = [self._prep(im) for im in imgs]
        valids = [self._erode(m) for m in masks]
        base = preps[0] if self.ref_gain_mean_ is None else self.ref_gain_mean_
        out = []
        for p, v in zip(preps, valids):
            g = robust_gain(p, base, v)
            out.append(p * (1.0 / g).astype(np.float32))
        return out, [v.astype(np.float32) for v in valids]

    def _erode(self, m: np.ndarray) -> np.ndarray:
        r = self.config.valid_erode_px
        if r <= 0 or m.all():
            return m
        return cv2.erode(m.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)

    def _derive(self) -> None:
        """Canonicalise statistics (float16 precision, as stored) and derive 1 / spread."""
        c = self.config
        self.mean_ = _f16(self.mean_)
        std = _f16(np.sqrt(np.maximum(self.var_, 0)))
        self.var_ = std * std
        sp = spread(self.mean_, self.var_, abs_floor=c.abs_floor, rel_floor=c.rel_floor, grad_px=c.grad_px)
        self._texture_spread(sp)
        self._fit_materials()
        self.inv_spread_ = np.where(self.n_[..., None] > 0, 1.0 / sp, 0).astype(np.float32)
        lo, hi = tolerance_band(self.mean_, shift_px=c.shift_px)
        self.mid_, self.half_ = (lo + hi) * np.float32(0.5), (hi - lo) * np.float32(0.5)

    # ------------------------------------------------------------------ internals: texture zones
    @property
    def tex_sigma_px_(self) -> float:
        """Low-pass sigma (px) of ``texture_variation`` zones (``tex_sigma_mm`` at the golden scale)."""
        c = self.config
        return c.tex_sigma_mm / self.scale_mm_per_px if self.scale_mm_per_px else c.tex_sigma_px

    def _tex_zones(self) -> list[_Zone]:
        return [z for z in self.zones_ if z.method == "texture_variation"]

    def _tex_slices(self, z: _Zone, margin: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        """(outer, inner) slices: the zone bbox grown by ``margin`` px, and the bbox inside it."""
        h, w = self.shape_
        x0, y0, x1, y1 = z.bbox
        X0, Y0, X1, Y1 = max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)
        return (slice(Y0, Y1), slice(X0, X1)), (slice(y0 - Y0, y1 - Y0), slice(x0 - X0, x1 - X0))

    def _prep(self, img: np.ndarray) -> np.ndarray:
        """Prepared float image; inside ``texture_variation`` zones further low-passed so that the
        unit-specific grain averages out (sigma ``tex_sigma_px_`` in total)."""
        p = prepare(img, sigma_px=self.config.blur_sigma_px)
        zs = self._tex_zones()
        if zs:
            s = float(np.sqrt(max(self.tex_sigma_px_**2 - self.config.blur_sigma_px**2, 0.0)))
            if s > 0:
                for z in zs:
                    outer, inner = self._tex_slices(z, int(np.ceil(3 * s)))
                    b = cv2.GaussianBlur(p[outer], (0, 0), s, borderType=cv2.BORDER_REFLECT)
                    x0, y0, x1, y1 = z.bbox
                    zm = z.mask[y0:y1, x0:x1, None]
                    p[y0:y1, x0:x1] = np.where(zm, b[inner], p[y0:y1, x0:x1])
        return p

    def _texture_spread(self, sp: np.ndarray) -> None:
        """Floor the spread of texture zones by the expected grain difference between two units.

        The golden captures are one physical unit, so their per-pixel variance never sees another
        grain. Two independent realisations of the (low-passed) texture differ by a variance of
        ``2 var_tex``, where ``var_tex`` is the local variance of the low-passed golden mean around
        its local mean (Gaussian window ``tex_window_mm``); it is added to the spread in place.
        """
        c = self.config
        self.tex_sd_: dict[str, float] = {}
        for z in self._tex_zones():
            sw = c.tex_window_mm / self.scale_mm_per_px if self.scale_mm_per_px else 4 * c.tex_sigma_px
            outer, inner = self._tex_slices(z, int(np.ceil(3 * sw)))
            m = self.mean_[outer]
            r = m - cv2.GaussianBlur(m, (0, 0), sw, borderType=cv2.BORDER_REFLECT)
            tv = cv2.GaussianBlur(r * r, (0, 0), sw, borderType=cv2.BORDER_REFLECT)[inner]
            x0, y0, x1, y1 = z.bbox
            zm = z.mask[y0:y1, x0:x1]
            sl = sp[y0:y1, x0:x1]
            sl[zm] = np.sqrt(sl[zm] ** 2 + 2.0 * tv[zm])
            self.tex_sd_[z.spec.name] = float(np.sqrt(np.median(tv[zm]))) if zm.any() else 0.0

    def _texture_floor(self, z: _Zone) -> float:
        """Smallest threshold (z units) of a texture zone: the expected maximum of |z| over the zone's
        independent low-passed samples, ``sqrt(2 ln N)``, ``N = area / (4 pi sigma^2)``, plus 1 (the
        golden cannot calibrate it: its captures share one grain)."""
        n = max(float(z.mask.sum()) / (4 * np.pi * self.tex_sigma_px_**2), 2.0)
        return float(np.sqrt(2 * np.log(n))) + 1.0

    # ------------------------------------------------------------------ internals: colour normalisation
    def _fit_materials(self) -> None:
        """Cluster each variation zone's golden mean colours into up to ``n_materials`` materials
        (k-means, seeded, on a subsample) -> ``self.materials_[name]``: (bbox-sized int8 label map,
        centres)."""
        c = self.config
        self.materials_: dict[str, np.ndarray] = {}
        self.mix_: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if not self.n_.any():
            return
        for z in self.zones_:
            if z.method not in _VARIATION_METHODS:
                continue
            x0, y0, x1, y1 = z.bbox
            m = z.mask[y0:y1, x0:x1] & (self.n_[y0:y1, x0:x1] > 0)
            mean = self.mean_[y0:y1, x0:x1]
            x = mean[m]
            k = int(min(c.n_materials, len(x)))
            if k <= 1:
                self.materials_[z.spec.name] = np.where(m, 0, -1).astype(np.int8)
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
                self.materials_[z.spec.name] = np.where(m, 0, -1).astype(np.int8)
                continue
            d = ((mean[..., None, :] - centres[None, None]) ** 2).sum(-1)
            order = np.argsort(d, axis=-1)
            k1, k2 = order[..., 0], order[..., 1]
            # A pixel between two materials (an edge, a blend) is the convex mix
            # a c1 + (1 - a) c2 of its two nearest centres: its gain is the same mix.
            c1, c2 = centres[k1], centres[k2]
            e = c1 - c2
            a = np.clip(((mean - c2) * e).sum(-1) / np.maximum((e * e).sum(-1), 1e-6), 0.0, 1.0)
            self.materials_[z.spec.name] = np.where(m, k1, -1).astype(np.int8)
            w = np.zeros(mean.shape[:2] + (k,), np.float32)
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
            self.mix_[z.spec.name] = (w, (1.0 / den).astype(np.float32), centres.astype(np.float32), pair)

    def _gain_field(self, z: _Zone, u: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Per-pixel, per-channel gain of the unit crop against the golden mean, (h, w, 3) or (3,).

        One robust gain (median of ratios) over the zone removes the lighting; each material
        (golden colour cluster) holding >= ``material_min_frac`` of the zone then gets its own
        gain, bounded to ``[1 / material_gain_limit, material_gain_limit]`` times the zone gain,
        so a uniformly re-coloured material (the colour stage's job) is not anomalous while a
        local defect, being a minority of its material, is not absorbed. A pixel that the golden
        shows as a mix of two materials (an edge, at the comparison's blur) gets the same mix
        of their gains. Returns the zone gain, shape (3,), when the zone has one material.
        """
        c = self.config
        x0, y0, x1, y1 = z.bbox
        mean = self.mean_[y0:y1, x0:x1]
        g0 = robust_gain(u, mean, m)
        lab = self.materials_.get(z.spec.name)
        if lab is None or z.spec.name not in self.mix_:
            return g0, g0, g0
        w, inv_den, centres, pair = self.mix_[z.spec.name]
        # one subsample (about 20 000 px, as robust_gain) shared by all materials
        step = max(1, int(np.sqrt(u.shape[0] * u.shape[1] / 20_000)))
        us = u[::step, ::step].reshape(-1, 3)
        ms = mean[::step, ::step].reshape(-1, 3)
        ls = np.where(m[::step, ::step], lab[::step, ::step], -1).ravel()
        n_all = max(int((ls >= 0).sum()), 1)
        ok = ms > 12.0
        ratio = us / np.maximum(ms, 1e-3)
        gains = np.tile(g0, (len(centres), 1))
        min_n = max(c.material_min_frac * n_all, c.material_min_px / step**2)
        for k in range(len(centres)):
            sel = ls == k
            if sel.sum() < min_n:
                continue
            for ch in range(3):
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

    def _variation_raw(self, z: _Zone, u: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Raw variation score of a zone's prepared unit crop ``u`` (bbox-sized, z units).

        The comparison runs in the unit's colours: the *golden* is recoloured by the gain field
        ``g`` (:meth:`_gain_field`), ``E = g * mean``, and the tolerance band is the min/max of
        ``E`` over the misregistration window, so a neighbour ``q`` of a material border carries
        its own gain ``g_q`` (dividing the unit by the gain of the pixel compared would put the
        band of a strongly recoloured neighbour off by ``g_q / g_p``). The spread's statistical
        terms (variance, relative and edge terms) scale with ``g``; its absolute floor (sensor
        noise, quantisation, unit-to-unit surface texture, all in unit grey levels) does not
        shrink with a darker material: ``sqrt(g² (s² - abs²) + (abs · max(g, 1))²)``.
        """
        x0, y0, x1, y1 = z.bbox
        sl = (slice(y0, y1), slice(x0, x1))
        g, g_lo, g_hi = self._gain_field(z, u, m)
        inv = self.inv_spread_[sl]
        a2 = np.float32(self.config.abs_floor**2)
        gg = np.asarray(g, np.float32) ** 2
        with np.errstate(divide="ignore"):
            s2 = np.reciprocal(inv * inv)  # inf where the golden has no sample -> inv_u = 0
        s2 -= a2
        np.maximum(s2, 0.0, out=s2)
        s2 *= gg
        s2 += np.maximum(gg, np.float32(1.0)) * a2
        np.sqrt(s2, out=s2)
        inv_u = np.reciprocal(s2, out=s2)
        if g_lo.ndim == 1:
            return deviation_map(u, self.mid_[sl] * g_lo, self.half_[sl] * g_lo, inv_u, np.ones(3, np.float32))
        lo, _ = tolerance_band(self.mean_[sl] * g_lo, shift_px=self.config.shift_px)
        _, hi = tolerance_band(self.mean_[sl] * g_hi, shift_px=self.config.shift_px)
        mid, half = (lo + hi) * np.float32(0.5), (hi - lo) * np.float32(0.5)
        return deviation_map(u, mid, half, inv_u, np.ones(3, np.float32))

    def _stats_from(self, preps: list[np.ndarray], ws: list[np.ndarray]):
        h, w = self.shape_
        return combine_stats(np.zeros((h, w), np.float32), np.zeros((h, w, 3), np.float32),
                             np.zeros((h, w, 3), np.float32), preps, ws)

    def _unit_features(self, img: np.ndarray) -> np.ndarray:
        from .backbone import get_backbone

        c = self.config
        h, w = self.shape_
        if c.feature_scale != 1.0:
            img = cv2.resize(img, (max(16, round(w * c.feature_scale)), max(16, round(h * c.feature_scale))),
                             interpolation=cv2.INTER_AREA)
        f = get_backbone().features(img, tile_px=c.tile_px)
        if 0 < c.proj_dim < f.shape[-1]:
            if getattr(self, "_proj", None) is None or self._proj.shape != (f.shape[-1], c.proj_dim):
                rng = np.random.default_rng(0)
                self._proj = (rng.standard_normal((f.shape[-1], c.proj_dim)) / np.sqrt(c.proj_dim)).astype(np.float32)
            f = f @ self._proj
        return f

    def _gain_corrected(self, img: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """uint8 image with the per-channel gain against the golden mean removed (feature input)."""
        p = prepare(img, sigma_px=0)
        g = robust_gain(p, self.mean_, valid & (self.n_ > 0))
        return np.clip(p * (1.0 / g) + 0.5, 0, 255).astype(np.uint8)

    def _cells_to_px(self, cells: np.ndarray) -> np.ndarray:
        h, w = self.shape_
        hs, ws = max(16, round(h * self.config.feature_scale)), max(16, round(w * self.config.feature_scale))
        up = cv2.resize(cells, (cells.shape[1] * 8, cells.shape[0] * 8), interpolation=cv2.INTER_LINEAR)[:hs, :ws]
        return cv2.resize(up, (w, h), interpolation=cv2.INTER_LINEAR)

    def _zone_cells(self, z: _Zone, fshape: tuple[int, int]) -> np.ndarray:
        return cv2.resize(z.mask.astype(np.uint8), (fshape[1], fshape[0]), interpolation=cv2.INTER_AREA) > 0

    def _fit_features(self, feats: list[np.ndarray]) -> None:
        c = self.config
        methods = {z.method for z in self.zones_}
        bank = np.stack(feats)  # (N, h, w, C)
        if methods & {"patchcore", "padim"}:
            self.pc_bank_ = F.per_position_coreset(bank, c.bank_per_cell).astype(np.float16)
        if "padim" in methods:
            ch = np.random.default_rng(0).choice(bank.shape[-1], size=min(c.padim_dims, bank.shape[-1]), replace=False)
            ch.sort()
            mean, inv = F.fit_padim(self.pc_bank_.astype(np.float32), ch, radius=c.radius)
            self.padim_ = {"channels": ch.astype(np.int64), "mean": mean, "inv_cov": inv}
        for z in self.zones_:
            if z.method == "texture":
                zc = self._zone_cells(z, bank.shape[1:3])
                x = bank[:, zc].reshape(-1, bank.shape[-1])
                sel = F.greedy_coreset(x, c.texture_bank)
                self.tex_banks_[z.spec.name] = x[sel].astype(np.float16)

    def _feature_raw(self, z: _Zone, feat: np.ndarray, cache: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Raw feature score map (golden px) of zone ``z``. PatchCore and PaDiM maps do not depend on
        the zone (one bank for the image), so with ``cache`` they are computed once per unit."""
        if cache is not None and z.method in ("patchcore", "padim"):
            if z.method not in cache:
                cache[z.method] = self._feature_raw(z, feat)
            return cache[z.method]
        c = self.config
        if z.method == "patchcore":
            cells = F.local_nn_score(feat, self.pc_bank_, radius=c.radius)
        elif z.method == "padim":
            p = self.padim_
            cells = F.padim_score(feat, p["mean"], p["inv_cov"], p["channels"])
        else:
            cells = F.global_nn_score(feat, self.tex_banks_[z.spec.name])
        return self._cells_to_px(cells)

    def _feature_zone_raw(self, z: _Zone, feat: np.ndarray, ok: np.ndarray,
                          cache: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Raw feature score of zone ``z`` on its bbox, 0 outside the zone / valid pixels."""
        x0, y0, x1, y1 = z.bbox
        m = z.mask[y0:y1, x0:x1] & ok[y0:y1, x0:x1]
        if not m.any():
            return np.zeros((y1 - y0, x1 - x0), np.float32)
        return np.where(m, self._feature_raw(z, feat, cache)[y0:y1, x0:x1], 0).astype(np.float32)

    def _raw_maps(self, img: np.ndarray, valid: np.ndarray, feat: np.ndarray | None = None, *,
                  zones: str = "all") -> dict[str, np.ndarray]:
        """Raw (un-normalised) score map per zone, (H, W) float32, 0 outside zone/valid.
        ``zones="variation"`` computes only the variation zones (the others stay 0)."""
        ok = self._erode(valid) & (self.n_ > 0)
        prep = self._prep(img) if any(z.method in _VARIATION_METHODS for z in self.zones_) else None
        if feat is None and self.uses_features and zones == "all":
            feat = self._unit_features(self._gain_corrected(img, ok))
        out = {}
        cache: dict[str, np.ndarray] = {}
        for z in self.zones_:
            full = out[z.spec.name] = np.zeros(self.shape_, np.float32)
            x0, y0, x1, y1 = z.bbox
            if z.method not in _VARIATION_METHODS:
                if zones == "all":
                    full[y0:y1, x0:x1] = self._feature_zone_raw(z, feat, ok, cache)
                continue
            m = z.mask[y0:y1, x0:x1] & ok[y0:y1, x0:x1]
            if m.any():
                full[y0:y1, x0:x1] = np.where(m, self._variation_raw(z, prep[y0:y1, x0:x1], m), 0)
        return out

    def _fit_all(self, imgs: list[np.ndarray], masks: list[np.ndarray]) -> None:
        preps, ws = self._prep_captures(imgs, masks)
        n = len(preps)
        # Leave-one-out scores: statistics (and banks) without capture i, then score capture i.
        loo: dict[str, list[float]] = {z.spec.name: [] for z in self.zones_}
        feats = None
        if self.uses_features:
            self.n_, self.mean_, self.var_ = self._stats_from(preps, ws)
            self._derive()
            feats = [self._unit_features(self._gain_corrected(im, m)) for im, m in zip(imgs, masks)]
        for i in range(n):
            rest = [j for j in range(n) if j != i]
            self.n_, self.mean_, self.var_ = self._stats_from([preps[j] for j in rest], [ws[j] for j in rest])
            self._derive()
            if feats is not None:
                self._fit_features([feats[j] for j in rest])
            raw = self._raw_maps(imgs[i], masks[i], None if feats is None else feats[i])
            for z in self.zones_:
                loo[z.spec.name].append(float(raw[z.spec.name].max()))
        self.n_, self.mean_, self.var_ = self._stats_from(preps, ws)
        self._derive()
        if feats is not None:
            self._fit_features(feats)
        for z in self.zones_:
            z.good_scores = loo[z.spec.name]
        self._calibrate()

    def _calibrate(self) -> None:
        c = self.config
        for z in self.zones_:
            floor = c.var_floor if z.method == "variation" else c.feat_floor
            if z.method == "texture_variation":
                floor = max(c.var_floor, self._texture_floor(z))
            scores = z.unit_scores if (z.method in _FEATURE_METHODS and z.unit_scores) else z.good_scores
            z.threshold = good_score_threshold(scores, alpha=c.alpha, sensitivity=z.spec.sensitivity, floor=floor)

    # ------------------------------------------------------------------ public API
    def add_good(self, images: list[np.ndarray], valid_masks: list[np.ndarray] | None = None) -> None:
        """Extend the model with accepted good units and recalibrate the thresholds.

        Variation zones: each unit is first scored by the current model (a held-out good score
        for the threshold rule), then merged into the statistics.

        Feature zones (``patchcore``, ``padim``, ``texture``): the held-out scores are
        *cross-fitted* (``min(n, 5)`` folds): the units of a fold are scored against the banks
        of the current model plus the batch's other folds, i.e. a model close to the final one.
        Scoring each unit against the model before it joined would take the first unit's score
        against the golden alone (one physical unit, none of the unit-to-unit variation) as a
        good score and loosen the threshold about 1.5x (measured on the demo lot: skipped
        stitches missed). These scores are kept in the zone's ``unit_scores`` and, once there
        are any, a feature zone's threshold comes from them alone: the leave-one-out scores
        of the golden captures (one unit re-photographed) are not exchangeable with production
        units and would only bias the rule low. Then all units join the banks (per-cell and
        zone coresets keep them bounded).

        Parameters
        ----------
        images : list of ndarray, each (H, W, 3) uint8 RGB, golden px
        valid_masks : list of ndarray (H, W) bool, or None
        """
        if not images:
            return
        imgs = [_check_image(im, f"images[{i}]", self.shape_) for i, im in enumerate(images)]
        if valid_masks is not None and len(valid_masks) != len(imgs):
            raise ImageError(f"valid_masks: expected {len(imgs)} masks (one per image), got {len(valid_masks)}")
        masks = [_check_mask(None if valid_masks is None else valid_masks[i], f"valid_masks[{i}]", self.shape_) for i in range(len(imgs))]
        feats = [self._unit_features(self._gain_corrected(im, self._erode(m) & (self.n_ > 0))) for im, m in zip(imgs, masks)] if self.uses_features else None
        held = self._cross_fitted_scores(feats, masks) if feats is not None else {}
        for i, (im, m) in enumerate(zip(imgs, masks)):
            raw = self._raw_maps(im, m, None if feats is None else feats[i], zones="variation")
            for z in self.zones_:
                s = held[z.spec.name][i] if z.spec.name in held else float(raw[z.spec.name].max())
                z.good_scores.append(s)
                if z.spec.name in held:
                    z.unit_scores.append(s)
        self.ref_gain_mean_ = self.mean_
        preps, ws = self._prep_captures(imgs, masks)
        self.ref_gain_mean_ = None
        self.n_, self.mean_, self.var_ = combine_stats(self.n_, self.mean_, self.var_, preps, ws)
        self._derive()
        if feats is not None:
            self._set_banks(*self._merged_banks(feats))
        self._calibrate()

    def _merged_banks(self, feats: list[np.ndarray]) -> tuple[np.ndarray | None, dict | None, dict[str, np.ndarray]]:
        """Banks of the current model extended by ``feats`` (bounded by the coresets)."""
        c = self.config
        pc, padim, tex = self.pc_bank_, self.padim_, dict(self.tex_banks_)
        if not feats:
            return pc, padim, tex
        fs = np.stack(feats)
        if pc is not None:
            pc = F.per_position_coreset(np.concatenate([pc, fs.astype(np.float16)]), c.bank_per_cell).astype(np.float16)
        if padim is not None:
            # Refit from the merged per-cell coreset (bounded memory; k-centre keeps the
            # extremes, so the Gaussian errs wide, i.e. towards fewer false rejects).
            ch = padim["channels"]
            mean, inv = F.fit_padim(pc.astype(np.float32), ch, radius=c.radius)
            padim = {"channels": ch, "mean": mean, "inv_cov": inv}
        for z in self.zones_:
            if z.method == "texture":
                zc = self._zone_cells(z, fs.shape[1:3])
                x = np.concatenate([tex[z.spec.name].astype(np.float32), fs[:, zc].reshape(-1, fs.shape[-1])])
                tex[z.spec.name] = x[F.greedy_coreset(x, c.texture_bank)].astype(np.float16)
        return pc, padim, tex

    def _set_banks(self, pc: np.ndarray | None, padim: dict | None, tex: dict[str, np.ndarray]) -> None:
        self.pc_bank_, self.padim_, self.tex_banks_ = pc, padim, tex

    def _cross_fitted_scores(self, feats: list[np.ndarray], masks: list[np.ndarray], *,
                             n_folds: int = 5) -> dict[str, list[float]]:
        """Held-out max raw score of each new unit in each feature zone: unit ``i`` of fold ``f``
        is scored against the current banks plus the units of the other folds."""
        n = len(feats)
        k = min(n, n_folds)
        fold = np.arange(n) % k
        out = {z.spec.name: [0.0] * n for z in self.zones_ if z.method in _FEATURE_METHODS}
        saved = (self.pc_bank_, self.padim_, self.tex_banks_)
        try:
            for f in range(k):
                self._set_banks(*self._merged_banks([feats[j] for j in range(n) if fold[j] != f]))
                for i in np.nonzero(fold == f)[0]:
                    ok = self._erode(masks[i]) & (self.n_ > 0)
                    cache: dict[str, np.ndarray] = {}
                    for z in self.zones_:
                        if z.method in _FEATURE_METHODS:
                            out[z.spec.name][i] = float(self._feature_zone_raw(z, feats[i], ok, cache).max())
        finally:
            self._set_banks(*saved)
        return out

    def score(self, warped: np.ndarray, valid: np.ndarray | None = None) -> AnomalyResult:
        """Score a registered unit.

        Parameters
        ----------
        warped : ndarray, shape (H, W, 3), uint8 RGB
            The unit warped into golden px.
        valid : ndarray, shape (H, W), bool, or None
            Pixels that hold unit data (None = all).

        Returns
        -------
        AnomalyResult
            ``map`` float32 (H, W) golden px, each zone divided by its threshold (1.0 =
            threshold; max over overlapping zones); ``zone_scores`` the max of the map per
            zone; ``score`` the max over zones; ``defects`` connected regions >= 1.0.
        """
        img = _check_image(warped, "warped", self.shape_)
        v = _check_mask(valid, "valid", self.shape_)
        raw = self._raw_maps(img, v)
        total = np.zeros(self.shape_, np.float32)
        zone_scores: dict[str, float] = {}
        defects: list[Defect] = []
        for z in self.zones_:
            norm = raw[z.spec.name] * np.float32(1.0 / z.threshold)
            zone_scores[z.spec.name] = float(norm.max())
            np.maximum(total, norm, out=total)
            if zone_scores[z.spec.name] >= 1.0:
                defects += find_defects(norm, z.mask, z.spec, scale_mm_per_px=self.scale_mm_per_px,
                                        merge_px=self.config.merge_px, low=self.config.region_low)
        defects.sort(key=lambda d: -d.score)
        return AnomalyResult(
            score=max(zone_scores.values(), default=0.0), map=total, zone_scores=zone_scores, defects=tuple(defects)
        )

    @property
    def thresholds_(self) -> dict[str, float]:
        """Raw-score threshold per zone (after sensitivity)."""
        return {z.spec.name: z.threshold for z in self.zones_}

    @property
    def methods_(self) -> dict[str, str]:
        """Resolved method per zone."""
        return {z.spec.name: z.method for z in self.zones_}

    # ------------------------------------------------------------------ persistence
    def to_state(self) -> dict[str, Any]:
        """Compact state: float16 statistics and banks, JSON-able zones and thresholds."""
        c = self.config
        st: dict[str, Any] = {
            "version": STATE_VERSION,
            "shape": list(self.shape_),
            "scale_mm_per_px": self.scale_mm_per_px,
            "config": {k: getattr(c, k) for k in c.__dataclass_fields__},
            "zones": [
                {"spec": z.spec.model_dump(mode="json"), "method": z.method, "good_scores": list(z.good_scores),
                 "unit_scores": list(z.unit_scores), "threshold": z.threshold}
                for z in self.zones_
            ],
            "n": np.minimum(self.n_, 65535).astype(np.uint16),
            "mean": self.mean_.astype(np.float16),
            "std": np.sqrt(self.var_).astype(np.float16),
        }
        if self.pc_bank_ is not None:
            st["pc_bank"] = self.pc_bank_.astype(np.float16)
        if self.padim_ is not None:
            st["padim_channels"] = self.padim_["channels"]
            st["padim_mean"] = self.padim_["mean"].astype(np.float32)
            st["padim_inv_cov"] = self.padim_["inv_cov"].astype(np.float32)
        for i, z in enumerate(self.zones_):
            if z.spec.name in self.tex_banks_:
                st[f"tex_bank_{i}"] = self.tex_banks_[z.spec.name]
        return st

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "AnomalyModel":
        """Rebuild a model saved by :meth:`to_state` (scores are identical)."""
        try:
            if state["version"] != STATE_VERSION:
                raise ModelError(f"anomaly state: expected version {STATE_VERSION}, got {state['version']}")
            cfg = AnomalyConfig(**state["config"])
            zones = [AnomalyZone.model_validate(z["spec"]) for z in state["zones"]]
            shape = tuple(int(v) for v in state["shape"])
            m = cls(zones=zones, shape=shape, scale_mm_per_px=state["scale_mm_per_px"], config=cfg,
                    methods=[z["method"] for z in state["zones"]])
            for z, zs in zip(m.zones_, state["zones"]):
                z.good_scores = [float(s) for s in zs["good_scores"]]
                z.unit_scores = [float(s) for s in zs.get("unit_scores", [])]
                z.threshold = float(zs["threshold"])
            m.n_ = np.asarray(state["n"], np.float32)
            m.mean_ = np.asarray(state["mean"], np.float32)
            std = np.asarray(state["std"], np.float32)
            m.var_ = std * std
            if m.n_.shape != shape or m.mean_.shape != shape + (3,) or std.shape != shape + (3,):
                raise ModelError(f"anomaly state: statistics do not match the golden frame {shape}")
            m._derive()
            if "pc_bank" in state:
                m.pc_bank_ = np.asarray(state["pc_bank"], np.float16)
            if "padim_mean" in state:
                m.padim_ = {"channels": np.asarray(state["padim_channels"], np.int64),
                            "mean": np.asarray(state["padim_mean"], np.float32),
                            "inv_cov": np.asarray(state["padim_inv_cov"], np.float32)}
            for i, z in enumerate(m.zones_):
                if f"tex_bank_{i}" in state:
                    m.tex_banks_[z.spec.name] = np.asarray(state[f"tex_bank_{i}"], np.float16)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"anomaly state: missing or malformed entry ({exc!r})") from None
        return m

    def state_nbytes(self) -> int:
        """Bytes of the arrays in :meth:`to_state` (memory of the stored model)."""
        return int(sum(v.nbytes for v in self.to_state().values() if isinstance(v, np.ndarray)))
