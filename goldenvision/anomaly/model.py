"""The anomaly stage facade: fit on aligned golden captures, score registered units.

Methods per zone (``AnomalyZone.method``), one module per family behind a registry
(:mod:`.registry`, dispatched by name):

* ``variation``, ``texture_variation``: pixel statistics (:mod:`.zone_variation`);
* ``patchcore``, ``padim``, ``texture``: patch features of the ONNX backbone (:mod:`.zone_features`);
* ``auto``: ``texture_variation`` for zones whose ``defect_type`` is in ``TEXTURE_DEFECT_TYPES``
  (``finish``), ``variation`` for every other zone. On registered units it resolves smaller
  defects than stride-8 features, needs no backbone and runs well inside the time budget; on
  the demo lot it finds the stain on the leather panel (3.3 x threshold) and the skipped stitch
  that ``texture`` scored below threshold (0.78 and 0.52). Choose ``texture`` explicitly for
  surfaces whose pattern differs from unit to unit (natural leather grain, fabric),
  ``patchcore``/``padim`` for registered parts where pixel statistics are too brittle.

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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np

from ..errors import ImageError, ModelError, SpecError
from ..results import AnomalyResult, Defect
from ..spec import AnomalyZone
from . import zone_features as ZF
from . import zone_variation as ZV
from ._zone import _bbox, _check_image, _check_mask, _f16, _pseudo_captures, _Zone, _zone_mask
from .config import AnomalyConfig
from .envelope import combine_band, scene_envelope
from .fine import FineAccumulator, derive_fine, fine_crops, fine_raw, fine_state, load_fine, set_fine
from .ground import GroundFit, GroundModel
from .local_shift import apply_shift_field, local_shift_field
from .outline import OutlineFit, OutlineModel, fit_outline
from .registry import METHODS, TEXTURE_DEFECT_TYPES, get_method, resolve
from .regions import find_defects, most_specific, support_map
from .rotation import ROTATING_DEFECT_TYPES, RoundElement, find_round_elements, rotation_field
from .threshold import good_score_threshold
from .unit_noise import unit_extra_var
from .variation import combine_stats, prepare, robust_gain, spread, tolerance_band, weighted_mean

__all__ = ["AnomalyModel", "AnomalyConfig", "METHODS", "TEXTURE_DEFECT_TYPES"]

STATE_VERSION = 1
#: The scene envelope is kept (and stored) as whole steps of this many grey levels below / above the
#: mean (uint8, at most 255 steps), rounded outwards: it compresses to a fraction of a float array.
ENV_STEP = 0.5


def _downscale_to(limit_px: int, *planes: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Planes halved (area) until their larger side is at most ``limit_px``; returns the factor."""
    f = 1.0
    while max(planes[0].shape) * f > limit_px:
        f *= 0.5
    if f < 1.0:
        return f, [cv2.resize(p, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) for p in planes]
    return f, list(planes)


def _either(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Union of two optional (H, W) bool masks."""
    if a is None or b is None:
        return b if a is None else a
    return a | b


def _merge_stats(a: tuple[np.ndarray, np.ndarray, np.ndarray],
                 b: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel (count, mean, population variance) of two disjoint sets (Chan et al. 1979),
    float32: ``n = n_a + n_b``, ``mean = mean_a + d n_b / n``, ``var = (var_a n_a + var_b n_b +
    d² n_a n_b / n) / n`` with ``d = mean_b - mean_a`` (``n`` at least 1), each operation in
    that order on full-frame arrays reused in place (peak memory; the same float32 numbers)."""
    n_a, m_a, v_a = a
    n_b, m_b, v_b = b
    n = np.asarray(n_a + n_b, np.float32)
    nn = np.maximum(n, 1)[..., None]
    d = m_b - m_a
    t = d * (n_b[..., None] / nn)
    mean = np.add(m_a, t, out=t).astype(np.float32, copy=False)
    m2 = v_a * n_a[..., None]
    t = v_b * n_b[..., None]
    m2 += t
    np.multiply(d, d, out=t)
    del d
    t *= (n_a * n_b)[..., None]
    t /= nn
    m2 += t
    del t
    m2 /= nn
    return n, mean, m2.astype(np.float32, copy=False)


@dataclass(frozen=True, slots=True)
class _HeldStats:
    """Pixel statistics as the model uses them (:meth:`AnomalyModel._held_stats`), kept compact:
    ``n`` (H, W) uint16 (float32 beyond 65535 samples), ``mean`` and ``std`` (H, W, 3) float16,
    ``env_steps`` the scene envelope's steps below / above the mean, (H, W, 3) uint8 each, or None."""

    n: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    env_steps: tuple[np.ndarray, np.ndarray] | None


class AnomalyModel:
    """Anomaly model of one golden sample (see the module docstring for the methods).

    Build with :meth:`fit` or :meth:`from_state`; the constructor is internal.
    Fitted attributes end in ``_``.
    """

    # fitted by zone_variation.texture_spread / fit_materials
    tex_sd_: dict[str, float]
    #: per texture zone with a structure material: (bbox, the texture variance its ink no longer
    #: carries in the shared spread, the ink's pixels), both bbox-sized (zone_variation.texture_spread)
    ink_var_: dict[str, tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]]
    tex_scales_: dict[str, list[tuple[float, np.ndarray]]]
    materials_: dict[str, np.ndarray]
    mix_: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]

    def __init__(self, *, zones: list[AnomalyZone], shape: tuple[int, int], scale_mm_per_px: float | None,
                 config: AnomalyConfig, methods: list[str], derive: bool = True) -> None:
        """``derive=False``: the derived arrays (spread, band, materials) are left unset, for a
        caller that sets the statistics and then derives (:meth:`fit`, :meth:`from_state`), so
        that they are not derived once more from the empty statistics (a full-frame pass each)."""
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
        #: mean of the captures' scene envelopes (:mod:`.envelope`), (H, W, 3) each, or None (off, old state)
        self.env_lo_: np.ndarray | None = None
        self.env_hi_: np.ndarray | None = None
        self.ref_gain_mean_: np.ndarray | None = None  # golden mean used to normalise feature inputs
        self.pc_bank_: np.ndarray | None = None  # (K, h8, w8, C) float16
        self.padim_: dict[str, np.ndarray] | None = None
        self.tex_banks_: dict[str, np.ndarray] = {}
        self.outline_: OutlineModel | None = None  # outline check (:mod:`.outline`)
        self.ground_: GroundModel | None = None  # ground seen through holes (:mod:`.ground`; None = off, old state)
        # radius of the local alignment fitted on the golden captures (None: config.local_shift_px)
        self.local_radius_px_: int | None = None
        self.feat_norms_: dict[str, np.ndarray] = {}  # (h8, w8) per feature key (ZF.fit_norms)
        self.feat_nulls_: dict[str, np.ndarray] = {}  # (shapes,) per feature key (ZF.fit_evidence)
        self.n_good_units_ = 0  # production units taught by add_good (:mod:`.structure` needs them)
        self.fine_: dict = {}  # texture zones' full-resolution statistics (:mod:`.fine`)
        self.fine_d_: dict = {}  # ... and what scoring reads of them
        self._round: dict[str, list[RoundElement]] | None = None  # see ``round_``
        if derive:
            self._derive()

    # ------------------------------------------------------------------ construction
    @classmethod
    def fit(
        cls,
        captures: Sequence[np.ndarray],
        zones: list[AnomalyZone],
        *,
        scale_mm_per_px: float | None = None,
        valid_masks: Sequence[np.ndarray] | None = None,
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
        if valid_masks is not None and len(valid_masks) != len(captures):
            raise ImageError(f"valid_masks: expected {len(captures)} masks (one per capture), got {len(valid_masks)}")
        if len(captures) > cfg.exact_loo_max:
            zones = list(zones) or [AnomalyZone(name="full")]
            methods = [resolve(z.method if z.method != "auto" else method, z) for z in zones]
            model = cls(zones=zones, shape=shape, scale_mm_per_px=scale_mm_per_px, config=cfg, methods=methods,
                        derive=False)
            model._fit_folds(captures, valid_masks)
            return model
        imgs = [_check_image(c, f"captures[{i}]", shape) for i, c in enumerate(captures)]
        if valid_masks is not None and len(valid_masks) != len(imgs):
            raise ImageError(f"valid_masks: expected {len(imgs)} masks (one per capture), got {len(valid_masks)}")
        masks = [_check_mask(None if valid_masks is None else valid_masks[i], f"valid_masks[{i}]", shape) for i in range(len(imgs))]
        if len(imgs) < 3:
            extra = [p for im, m in zip(list(imgs), list(masks)) for p in _pseudo_captures(im, m)]
            imgs += [e[0] for e in extra]
            masks += [e[1] for e in extra]
        zones = list(zones) or [AnomalyZone(name="full")]
        methods = [resolve(z.method if z.method != "auto" else method, z) for z in zones]
        model = cls(zones=zones, shape=shape, scale_mm_per_px=scale_mm_per_px, config=cfg, methods=methods,
                    derive=False)
        if cfg.local_shift_from_golden and len(captures) >= 3:
            model.local_radius_px_ = model._golden_local_radius(imgs[:len(captures)], masks[:len(captures)])
        model._fit_all(imgs, masks, n_real=len(captures))
        model.outline_ = fit_outline(imgs, masks, model.zones_, scale_mm_per_px=scale_mm_per_px)
        if cfg.ground_see_through:
            ground = GroundFit(model.zones_, shape)
            for im, m in zip(imgs[:len(captures)], masks[:len(captures)]):
                ground.add(im, m)
            model.ground_ = ground.result()
        return model

    @property
    def uses_features(self) -> bool:
        return any(get_method(z.method).uses_features for z in self.zones_)

    # ------------------------------------------------------------------ internals: statistics
    def _prep_captures(self, imgs: list[np.ndarray], masks: list[np.ndarray], fine: FineAccumulator | None = None
                       ) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[np.ndarray, np.ndarray]] | None]:
        """Prepared, gain-normalised (to the first image) float images, float weights and, with
        ``scene_shift_px``, each image's scene envelope (:mod:`.envelope`) under the same gain.
        ``fine``: gathers the texture zones' full-resolution statistics (:mod:`.fine`)."""
        preps = [ZV.prep(self, im) for im in imgs]
        valids = [self._erode(m) for m in masks]
        base = preps[0] if self.ref_gain_mean_ is None else self.ref_gain_mean_
        invs = [(1.0 / robust_gain(p, base, v)).astype(np.float32) for p, v in zip(preps, valids)]
        del base
        if fine:
            for im, v, inv in zip(imgs, valids, invs):
                fine.add(fine_crops(self, im), v, inv)
        envs: list[tuple[np.ndarray, np.ndarray]] | None = [] if self.config.scene_shift_px > 0 else None
        for im, p, inv in zip(imgs, preps, invs):
            p *= inv  # in place, once every gain is taken against the first image as prepared
            if envs is not None:
                lo, hi = self._envelope(im)
                lo *= inv
                hi *= inv
                envs.append((lo, hi))
        return preps, [v.astype(np.float32) for v in valids], envs

    def _envelope(self, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        return scene_envelope(img, shift_px=c.scene_shift_px, sigma_px=c.blur_sigma_px)

    @staticmethod
    def _env_sums(envs: list[tuple[np.ndarray, np.ndarray]], ws: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Weighted sums (sum w lo, sum w hi) of scene envelopes, (H, W, 3) float32 each."""
        s_lo = np.zeros_like(envs[0][0])
        s_hi = np.zeros_like(envs[0][1])
        for (lo, hi), w in zip(envs, ws):
            s_lo += lo * w[..., None]
            s_hi += hi * w[..., None]
        return s_lo, s_hi

    def _set_env(self, sums: tuple[np.ndarray, np.ndarray] | None, n: np.ndarray) -> None:
        """Scene envelope means from weighted sums over ``n`` samples per pixel (None = off)."""
        if sums is None:
            self.env_lo_ = self.env_hi_ = None
            return
        inv = (1.0 / np.maximum(n, 1))[..., None].astype(np.float32)
        self.env_lo_, self.env_hi_ = sums[0] * inv, sums[1] * inv

    def _erode(self, m: np.ndarray) -> np.ndarray:
        r = self.config.valid_erode_px
        if r <= 0 or m.all():
            return m
        return cv2.erode(m.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)

    def _derive(self) -> None:
        """Canonicalise statistics (float16 precision, as stored) and derive 1 / spread. The
        arrays derived before go first: none of them is read here (peak memory)."""
        for name in ("inv_spread_", "band_env_", "mid_", "half_", "materials_", "mix_"):
            self.__dict__.pop(name, None)
        c = self.config
        self.mean_ = _f16(self.mean_)
        std = _f16(np.sqrt(np.maximum(self.var_, 0)))
        self.var_ = std * std
        del std
        sp = spread(self.mean_, self.var_, abs_floor=c.abs_floor, rel_floor=c.rel_floor, grad_px=c.grad_px,
                    floor_weight=self.floor_weight_)
        ZV.fit_materials(self)  # materials first: the texture spread is pooled per material
        ZV.texture_spread(self, sp)
        self.inv_spread_ = np.where(self.n_[..., None] > 0, 1.0 / sp, 0).astype(np.float32)
        del sp
        self.band_env_ = self._env_band()
        lo, hi = tolerance_band(self.mean_, shift_px=c.shift_px)
        self.mid_, self.half_ = combine_band(lo, hi, *self.band_env_)
        self._round = None  # derived from the new mean when first needed

    @property
    def floor_weight_(self) -> float:
        """The spread floors' weight: 1 until more production units than ``config.floor_prior_n``
        were accepted (:meth:`add_good`), then ``floor_prior_n / (n - 1)`` for ``n`` of them. The
        floors stand for what captures of the one golden unit cannot show (another unit's
        surface, the light and the sensor on another day); accepted units show it in their own
        variance. Captures at sealing, however many, do not count: they may be one unit
        photographed again and again."""
        prior, n = float(self.config.floor_prior_n), int(self.n_good_units_)
        if prior <= 0 or n - 1 <= prior:
            return 1.0
        return prior / (n - 1)

    def _env_band(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The scene envelope (:mod:`.envelope`) as used in the band, (H, W, 3) float32 each, or
        (None, None): as stored (whole ``ENV_STEP`` below / above the mean, rounded outwards), and
        no wider than the band over the mean in low-passed (texture) zones, whose band is that of
        their low-passed mean, nor where the golden has no sample."""
        if self.env_lo_ is None or self.env_hi_ is None:
            return None, None
        d_lo, d_hi = self.env_steps_()
        self.env_lo_ = self.mean_ - d_lo.astype(np.float32) * np.float32(ENV_STEP)
        self.env_hi_ = self.mean_ + d_hi.astype(np.float32) * np.float32(ENV_STEP)
        off = self.n_ <= 0
        for z in self.zones_:
            if get_method(z.method).low_pass:
                off = off | z.mask
        # A thin structure may widen, not narrow away: a dark line (darker than its surroundings)
        # may get darker and wider (lower envelope), a bright one brighter and wider (upper), but
        # neither may fade (a skipped stitch, a missing thin print: the defect, not a motion).
        local = cv2.GaussianBlur(self.mean_, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)
        dark = self.mean_ <= local
        keep = ~off[..., None]
        lo = np.where(keep & dark, self.env_lo_, np.inf).astype(np.float32)
        hi = np.where(keep & ~dark, self.env_hi_, -np.inf).astype(np.float32)
        return lo, hi

    def env_steps_(self) -> tuple[np.ndarray, np.ndarray]:
        """The scene envelope as whole ``ENV_STEP`` below and above the mean, (H, W, 3) uint8 each."""
        assert self.env_lo_ is not None and self.env_hi_ is not None
        inv = np.float32(1.0 / ENV_STEP)
        d_lo = np.ceil((self.mean_ - self.env_lo_) * inv - np.float32(1e-3))
        d_hi = np.ceil((self.env_hi_ - self.mean_) * inv - np.float32(1e-3))
        return np.clip(d_lo, 0, 255).astype(np.uint8), np.clip(d_hi, 0, 255).astype(np.uint8)

    @property
    def round_(self) -> dict[str, list[RoundElement]]:
        """Round elements (stones, rivets, screw heads; (cx, cy, r) golden px) per zone whose type
        lets them turn in their seat (:mod:`.rotation`), found in the golden mean. Derived from the
        statistics on first use after each change (the leave-one-out fits never score with them)."""
        if self._round is None:
            found: dict[str, list[RoundElement]] = {}
            zs = [z for z in self.zones_ if not get_method(z.method).uses_features
                  and getattr(z.spec.defect_type, "value", z.spec.defect_type) in ROTATING_DEFECT_TYPES]
            if zs and self.n_.any():
                gray = self.mean_.mean(axis=2).astype(np.float32)
                for z in zs:
                    x0, y0, x1, y1 = z.bbox
                    found[z.spec.name] = find_round_elements(
                        gray, z.mask & (self.n_ > 0), min_radius_px=4.0, max_radius_px=min(x1 - x0, y1 - y0) / 3.0)
            self._round = found
        return self._round

    def _set_stats(self, preps: list[np.ndarray], ws: list[np.ndarray],
                   env_steps: tuple[np.ndarray, np.ndarray] | None, idx: list[int] | None = None) -> None:
        """Statistics of the prepared images ``idx`` (all when None; ``ws`` their valid pixels, 0 / 1
        or bool) and the scene envelope from its steps for those images (:meth:`_env_steps_of`;
        None = off); derived."""
        if idx is None:
            idx = list(range(len(preps)))
        h, w = self.shape_
        self.n_, self.mean_, self.var_ = combine_stats(np.zeros((h, w), np.float32), np.zeros((h, w, 3), np.float32),
                                                       np.zeros((h, w, 3), np.float32), [preps[j] for j in idx],
                                                       [ws[j].astype(np.float32) for j in idx])
        self._set_env_steps(_f16(self.mean_), env_steps)  # the mean as _derive canonicalises it
        self._derive()

    def _env_steps_of(self, preps: list[np.ndarray], ws: list[np.ndarray], envs: list[tuple[np.ndarray, np.ndarray]],
                      idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The scene envelope of the prepared images ``idx`` as :meth:`_derive` reduces it (whole
        ``ENV_STEP`` below / above the float16 mean, :meth:`env_steps_`), (H, W, 3) uint8 each: the
        mean :func:`.variation.combine_stats` gives them (:func:`.variation.weighted_mean`) and the
        weighted mean of their envelopes (:meth:`_set_env`)."""
        sel_w = [ws[j] for j in idx]
        n, mean = weighted_mean([preps[j] for j in idx], sel_w, shape_hw=self.shape_)
        self._set_env(self._env_sums([envs[j] for j in idx], sel_w), n)
        self.mean_ = _f16(mean)
        return self.env_steps_()

    def _set_env_steps(self, mean: np.ndarray, steps: tuple[np.ndarray, np.ndarray] | None) -> None:
        """The scene envelope from its steps below / above ``mean`` (float16 values; None = off)."""
        if steps is None:
            self.env_lo_ = self.env_hi_ = None
            return
        d_lo, d_hi = steps
        self.env_lo_ = mean - d_lo.astype(np.float32) * np.float32(ENV_STEP)
        self.env_hi_ = mean + d_hi.astype(np.float32) * np.float32(ENV_STEP)

    def _feature_zone_raw(self, z: _Zone, feat: np.ndarray, ok: np.ndarray,
                          cache: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Raw feature score of zone ``z`` on its bbox, 0 outside the zone / valid pixels."""
        x0, y0, x1, y1 = z.bbox
        m = z.mask[y0:y1, x0:x1] & ok[y0:y1, x0:x1]
        if not m.any():
            return np.zeros((y1 - y0, x1 - x0), np.float32)
        return np.where(m, ZF.feature_raw(self, z, feat, cache)[y0:y1, x0:x1], 0).astype(np.float32)

    def _raw_maps(self, img: np.ndarray, valid: np.ndarray, feat: np.ndarray | None = None, *,
                  zones: str = "all", explained: np.ndarray | None = None, fine: bool = True) -> dict[str, np.ndarray]:
        """Raw (un-normalised) score map per zone, (H, W) float32, 0 outside zone/valid.
        ``zones="variation"`` computes only the variation zones (the others stay 0).
        ``explained`` (H, W) bool: pixels set to 0 (before aggregation), an outline's moved edge.
        ``fine``: texture zones also judge their full-resolution channel (:mod:`.fine`; off for
        the held-out scores that calibrate the zones: the channel has its own threshold, read by
        :meth:`_fine_maxima`)."""
        ok = self._erode(valid) & (self.n_ > 0)
        crops: dict[str, np.ndarray] | None = {} if fine and getattr(self, "fine_d_", None) else None
        prep = ZV.prep(self, img, crops) if any(not get_method(z.method).uses_features for z in self.zones_) else None
        if feat is None and self.uses_features and zones == "all":
            feat = ZF.input_features(self, img, ok)
        out = {}
        cache: dict[str, np.ndarray] = {}
        for z in self.zones_:
            full = out[z.spec.name] = np.zeros(self.shape_, np.float32)
            x0, y0, x1, y1 = z.bbox
            if get_method(z.method).uses_features:
                if zones == "all":
                    assert feat is not None  # computed above: a feature zone makes self.uses_features true
                    full[y0:y1, x0:x1] = self._feature_zone_raw(z, feat, ok, cache)
                    if explained is not None:
                        full[explained] = 0
                continue
            m = z.mask[y0:y1, x0:x1] & ok[y0:y1, x0:x1]
            if m.any():
                assert prep is not None  # computed above for any variation zone
                fo: dict[str, np.ndarray] = {}
                uf = None if crops is None else crops.get(z.spec.name)
                r = np.where(m, get_method(z.method).raw(self, z, prep[y0:y1, x0:x1], m, fine=uf, fine_out=fo),
                             0).astype(np.float32)
                if explained is not None:
                    r[explained[y0:y1, x0:x1]] = 0
                sigma = self.aggregate_sigma_px(z)
                if sigma > 0:  # (the fine channel is aggregated along lines already)
                    r = np.where(m, cv2.GaussianBlur(r, (0, 0), sigma, borderType=cv2.BORDER_REFLECT), 0)
                f = fo.get(z.spec.name)
                if f is not None:  # a texture zone's full-resolution channel at its own threshold (:mod:`.fine`)
                    if explained is not None:
                        f[explained[y0:y1, x0:x1]] = 0
                    np.maximum(r, np.where(m, f, 0), out=r)
                full[y0:y1, x0:x1] = r
        return out

    def _fine_maxima(self, img: np.ndarray, valid: np.ndarray) -> dict[str, float]:
        """The largest evidence of ``img`` in each texture zone's full-resolution channel, in the
        channel's own z (:mod:`.fine`): the held-out scores that calibrate it."""
        ok = self._erode(valid) & (self.n_ > 0)
        crops = fine_crops(self, img)
        out = {}
        for z in self.zones_:
            if z.spec.name in self.fine_d_ and z.spec.name in crops:
                x0, y0, x1, y1 = z.bbox
                f = fine_raw(self, z, crops[z.spec.name], z.mask[y0:y1, x0:x1] & ok[y0:y1, x0:x1])
                out[z.spec.name] = 0.0 if f is None else float(f.max())
        return out

    def _grey_mean_and_unit(self, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Golden mean and unit ``img`` as grey float32 planes (H, W), 0-255."""
        ref = cv2.cvtColor(np.clip(self.mean_, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
        return ref, cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)

    def residual_shift_px(self, img: np.ndarray, valid: np.ndarray) -> tuple[float, float] | None:
        """Global translation (dx, dy) px of a unit against the golden mean that registration left
        (``registration: none`` on "pre-aligned" scans, a sub-pixel drift), by phase correlation
        (Kuglin & Hines 1975) with a Hann window; None when it exceeds ``max_residual_shift_px`` (a
        spurious peak, or a misalignment that is registration's job) or the peak is weak."""
        c = self.config
        if c.max_residual_shift_px <= 0 or not self.n_.any():
            return None
        ref, cur = self._grey_mean_and_unit(img)
        bad = ~(valid & (self.n_ > 0))
        if bad.any():  # no evidence outside: put the golden there (pulls towards 0 shift)
            cur[bad] = ref[bad]
        f, (ref, cur) = _downscale_to(1024, ref, cur)
        win = cv2.createHanningWindow(ref.shape[::-1], cv2.CV_32F)
        (dx, dy), resp = cv2.phaseCorrelate(ref, cur, win)
        dx, dy = dx / f, dy / f
        if resp < 0.05 or np.hypot(dx, dy) > c.max_residual_shift_px:
            return None
        return float(dx), float(dy)

    def _undo_residual_shift(self, img: np.ndarray, valid: np.ndarray,
                             sh: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
        """The unit resampled onto the golden by its residual shift ``sh`` (:meth:`residual_shift_px`)
        when that is >= ``min_residual_shift_px``."""
        if sh is None or np.hypot(*sh) < self.config.min_residual_shift_px:
            return img, valid
        return self._resample(img, valid, np.array([[1, 0, sh[0]], [0, 1, sh[1]]], np.float64))

    def _resample(self, img: np.ndarray, valid: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The unit read at ``warp @ (x, y, 1)`` for each golden pixel (x, y): warp (2, 3) maps golden
        px to unit px. Pixels that fall outside the unit, or on its invalid pixels, are invalid."""
        h, w = self.shape_
        m = np.asarray(warp, np.float64)
        out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
        v = cv2.warpAffine(valid.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                           borderValue=0) > 0
        return out, v

    def residual_affine(self, img: np.ndarray, valid: np.ndarray,
                        shift: tuple[float, float] | None = None) -> np.ndarray | None:
        """Global affine residual misalignment of a unit against the golden mean, (2, 3) float64
        mapping golden px to unit px, or None when there is none to undo.

        A "pre-aligned" scan (``registration: none``) or a registration that stopped at a
        translation can leave a small scale, shear or rotation (a scanner's scale calibration,
        a board slightly turned): a displacement that grows with the distance from the image
        centre, a few px at the frame while the centre agrees. Neither the global shift
        (:meth:`residual_shift_px`) nor the block-wise local alignment (radius ``local_shift_px``)
        undoes that, and every edge far from the centre then reads as misplaced copper. It is
        estimated by enhanced correlation coefficient maximisation (ECC; Evangelidis & Psarakis,
        IEEE TPAMI 30(10) 2008, doi:10.1109/TPAMI.2008.113), started at ``shift`` (the global
        translation, unit px = golden px + shift). Kept only when the correlation rises, the linear
        part stays within ``max_residual_strain`` per entry, the displacement at the centre within
        ``max_residual_shift_px``, and it moves some pixel of the frame by at least
        ``min_residual_shift_px`` more than the plain translation.
        """
        c = self.config
        if c.max_residual_strain <= 0 or c.max_residual_shift_px <= 0 or not self.n_.any():
            return None
        ref, cur = self._grey_mean_and_unit(img)
        ok = valid & (self.n_ > 0)
        f, (ref, cur) = _downscale_to(1024, ref, cur)
        if f < 1.0:
            ok = cv2.resize(ok.astype(np.uint8), (ref.shape[1], ref.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        if ok.mean() < 0.5:
            return None
        dx, dy = shift if shift is not None else (0.0, 0.0)
        # scaled frame: x_f = f (x + 1/2) - 1/2, so a translation d becomes f d
        w0 = np.array([[1, 0, f * dx], [0, 1, f * dy]], np.float32)
        hh, ww = ref.shape
        mask = ok.astype(np.uint8)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        try:
            rho0 = cv2.computeECC(ref, cv2.warpAffine(cur, w0, (ww, hh), flags=flags, borderMode=cv2.BORDER_REPLICATE), mask)
            rho, wf = cv2.findTransformECC(ref, cur, w0.copy(), cv2.MOTION_AFFINE,
                                           (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4), mask, 5)
        except cv2.error:  # no texture to correlate, or the iteration diverged
            return None
        if not (np.isfinite(rho) and rho > rho0):
            return None
        a = wf[:, :2].astype(np.float64)
        # back to full resolution: x = (x_f + 1/2) / f - 1/2
        t = (wf[:, 2].astype(np.float64) + 0.5 - 0.5 * a.sum(axis=1)) / f - 0.5 + 0.5 * a.sum(axis=1)
        if np.abs(a - np.eye(2)).max() > c.max_residual_strain:
            return None
        h, w = self.shape_
        corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1], [(w - 1) / 2, (h - 1) / 2]], np.float64)
        disp = corners @ a.T + t - corners
        if np.hypot(*disp[4]) > c.max_residual_shift_px:
            return None
        if np.hypot(*(disp[:4] - np.array([dx, dy])).T).max() < c.min_residual_shift_px:
            return None
        return np.hstack([a, t[:, None]])

    def _golden_local_radius(self, imgs: list[np.ndarray], masks: list[np.ndarray]) -> int:
        """Radius of the local alignment fitted on the golden captures
        (``AnomalyConfig.local_shift_from_golden``): each capture is aligned block by block onto
        the mean of the others over the zones (:func:`.local_shift.local_shift_field`, radius
        ``local_shift_px``); the 99th percentile of the field's length over all captures, rounded
        up, plus 1 px, clipped to [1, ``local_shift_px``]."""
        c = self.config
        zone = np.zeros(self.shape_, bool)
        for z in self.zones_:
            zone |= z.mask
        greys = [ZV.prep(self, im).mean(axis=2).astype(np.float32) for im in imgs]
        oks = [self._erode(m) & zone for m in masks]
        block = self._local_block_px()
        q = 0.0
        for i in range(len(greys)):
            rest = [j for j in range(len(greys)) if j != i]
            ref = np.mean([greys[j] for j in rest], axis=0).astype(np.float32)
            ok = oks[i] & np.logical_and.reduce([oks[j] for j in rest])
            if ok.sum() < 64:
                return int(c.local_shift_px)
            cur = greys[i]
            g = float(np.median(cur[ok][::7] / np.maximum(ref[ok][::7], 1.0)))
            if 0.25 < g < 4.0:
                cur = cur * np.float32(1.0 / g)
            field = local_shift_field(ref, np.where(ok, cur, ref).astype(np.float32), ok,
                                      radius=c.local_shift_px, block_px=block, trunc=c.local_trunc)
            if field is not None:
                q = max(q, float(np.percentile(np.hypot(*field)[ok], 99)))
        return int(min(max(int(np.ceil(q - 1e-6)) + 1, 1), c.local_shift_px))

    def _local_block_px(self) -> int:
        """Block side of the local alignment: ``local_block_px`` grown to 4 sides of the zones'
        largest smallest-defect, at most ``4 * local_block_px``."""
        c = self.config
        sides = [np.sqrt(z.spec.min_area_mm2) / self.scale_mm_per_px for z in self.zones_
                 if self.scale_mm_per_px and z.spec.min_area_mm2 > 0]
        return int(min(max(c.local_block_px, 4 * max(sides, default=0.0)), 4 * c.local_block_px))

    def _local_shift(self, img: np.ndarray, valid: np.ndarray,
                     raw: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
        """Local residual misalignment field near the pixels whose first-pass score reaches the
        threshold (:mod:`.local_shift`), or None (nothing hot, nothing moves, or off)."""
        c = self.config
        if c.local_shift_px <= 0 or not self.n_.any():
            return None
        hot = np.zeros(self.shape_, bool)
        for z in self.zones_:
            hot |= raw[z.spec.name] >= z.threshold
        if not hot.any():
            return None
        radius = c.local_shift_px if self.local_radius_px_ is None else self.local_radius_px_
        ref, cur = self._grey_pair(img, valid)
        return local_shift_field(ref, cur, hot, radius=radius, block_px=self._local_block_px(), trunc=c.local_trunc)

    def _grey_pair(self, img: np.ndarray, valid: np.ndarray,
                   window: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Golden mean grey and the unit's prepared grey at the golden's gain (the golden where the
        unit has no data), float32 each: the whole frame, or the ``window`` (x0, y0, x1, y1) only
        (blurred without the texture zones' low-pass)."""
        if window is None:
            ref = self.mean_.mean(axis=2)
            cur = ZV.prep(self, img).mean(axis=2)
            ok = valid & (self.n_ > 0)
        else:
            x0, y0, x1, y1 = window
            ref = self.mean_[y0:y1, x0:x1].mean(axis=2)
            cur = prepare(img[y0:y1, x0:x1], sigma_px=self.config.blur_sigma_px).mean(axis=2)
            ok = valid[y0:y1, x0:x1] & (self.n_[y0:y1, x0:x1] > 0)
        if ok.any():
            g = float(np.median(cur[ok][::7] / np.maximum(ref[ok][::7], 1.0)))
            if 0.25 < g < 4.0:
                cur *= np.float32(1.0 / g)
        return ref.astype(np.float32), np.where(ok, cur, ref).astype(np.float32)

    def _turned_elements(self, img: np.ndarray, valid: np.ndarray,
                         raw: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
        """Displacement field turning back the round elements (:mod:`.rotation`) whose disc holds a
        pixel at or above its zone's threshold, or None."""
        if not self.round_:
            return None
        hot = np.zeros(self.shape_, bool)
        elements: list[RoundElement] = []
        for z in self.zones_:
            if self.round_.get(z.spec.name):
                hot |= raw[z.spec.name] >= z.threshold
                elements += self.round_[z.spec.name]
        if not hot.any():
            return None
        h, w = self.shape_
        pad = 8  # px round each disc: its taper and the blur's support
        boxes = [(max(0, int(cx - r) - pad), max(0, int(cy - r) - pad), min(w, int(np.ceil(cx + r)) + pad + 1),
                  min(h, int(np.ceil(cy + r)) + pad + 1)) for cx, cy, r in elements]
        keep = [k for k, b in enumerate(boxes) if hot[b[1]:b[3], b[0]:b[2]].any()]
        if not keep:
            return None
        boxes = [boxes[k] for k in keep]
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        ref, cur = self._grey_pair(img, valid, (x0, y0, x1, y1))
        local = [(elements[k][0] - x0, elements[k][1] - y0, elements[k][2]) for k in keep]
        f = rotation_field(ref, cur, hot[y0:y1, x0:x1], local, trunc=self.config.local_trunc)
        if f is None:
            return None
        fx, fy = np.zeros(self.shape_, np.float32), np.zeros(self.shape_, np.float32)
        fx[y0:y1, x0:x1], fy[y0:y1, x0:x1] = f
        return fx, fy

    def aggregate_sigma_px(self, z: _Zone) -> float:
        """Gaussian sigma (px) over which a pixel-statistics zone's evidence is averaged: a quarter
        of the side of the zone's smallest defect (``min_area_mm2``), so a defect of that size keeps
        about 90 % of its peak (erf(sqrt 2)² = 0.91) while isolated pixels and lines much thinner
        than it (JPEG ringing, a misregistered edge) are averaged down by about their width over
        the side. 0 (no aggregation) without ``min_area_mm2`` or without a scale. Defect boxes are
        grown by twice this sigma (the evidence's support), i.e. half the smallest defect's side."""
        if not self.scale_mm_per_px or z.spec.min_area_mm2 <= 0:
            return 0.0
        return float(np.sqrt(z.spec.min_area_mm2) / self.scale_mm_per_px / 4.0)

    def _fit_all(self, imgs: list[np.ndarray], masks: list[np.ndarray], n_real: int | None = None) -> None:
        """Exact leave-one-out fit; ``n_real``: the captures given (the rest of ``imgs`` stand-ins)."""
        fine = FineAccumulator(self)
        preps, ws, envs = self._prep_captures(imgs, masks, fine)
        n = len(preps)
        sets = [[j for j in range(n) if j != i] for i in range(n)] + [list(range(n))]  # leave-one-out, all
        # Each fit below sees the scene envelopes (two float32 frames per capture) only as the
        # steps _derive reduces them to: those are taken for every set first and the envelopes
        # freed before any capture is scored (peak memory).
        steps = [None] * len(sets) if envs is None else [self._env_steps_of(preps, ws, envs, idx) for idx in sets]
        del envs
        ws = [w > 0 for w in ws]  # held as bool, each fit's weights made again (0 / 1: the same)
        # Leave-one-out scores: statistics (and banks) without capture i, then score capture i.
        loo: dict[str, list[float]] = {z.spec.name: [] for z in self.zones_}
        feats = None
        if self.uses_features:
            self._set_stats(preps, ws, steps[n])
            feats = [ZF.input_features(self, im, m) for im, m in zip(imgs, masks)]
        for i in range(n):
            rest = sets[i]
            self._set_stats(preps, ws, steps[i], rest)
            if feats is not None:
                ZF.fit_features(self, [feats[j] for j in rest])
            raw = self._raw_maps(imgs[i], masks[i], None if feats is None else feats[i], fine=False)
            for z in self.zones_:
                loo[z.spec.name].append(float(raw[z.spec.name].max()))
            del raw
        self._set_stats(preps, ws, steps[n])
        if feats is not None:
            ZF.fit_features(self, feats)
        for z in self.zones_:
            z.good_scores = loo[z.spec.name]
        self._mark_varied_captures()
        self._calibrate()
        set_fine(self, fine.result())
        self._fine_loo(imgs, masks, fine, n if n_real is None else n_real)

    def _fine_loo(self, imgs: list[np.ndarray], masks: list[np.ndarray], fine: FineAccumulator, n: int) -> None:
        """Leave-one-out scores of the golden captures in the full-resolution channel of the zones
        whose captures differ as other units' textures do (``captures_vary``): capture ``i`` against
        the channel's statistics without it (:mod:`.fine`), made again from the images, one crop at
        a time, with each capture's gain (``fine.invs``). At least 3 captures, none a stand-in."""
        zs = [z for z in self.zones_ if z.captures_vary and z.spec.name in self.fine_d_]
        if not zs or n < 3 or len(fine.invs) != len(imgs):
            return
        whole = dict(self.fine_)
        loo: dict[str, list[float]] = {z.spec.name: [] for z in zs}
        for i in range(n):
            rest = FineAccumulator(self)
            for j in range(len(imgs)):
                if j != i:
                    rest.add(fine_crops(self, imgs[j]), self._erode(masks[j]), fine.invs[j])
            set_fine(self, rest.result())
            got = self._fine_maxima(imgs[i], masks[i])
            for z in zs:
                loo[z.spec.name].append(got[z.spec.name])
        for z in zs:
            z.fine_loo = loo[z.spec.name]
        set_fine(self, whole)

    def _fit_folds(self, captures, valid_masks) -> None:
        """Fit on many good images, streaming: memory grows with the statistics kept (per-fold
        pixel moments, float16 feature maps bounded by the coresets), not with the images,
        which are read one at a time from ``captures`` (any sequence; twice).

        Held-out good scores are cross-fitted over ``n_folds`` folds (fold ``f`` = images
        ``i % K == f``): each image is scored by statistics and banks built from the other
        folds, as in ``add_good``. Exact leave-one-out costs n refits and is kept for
        ``n <= exact_loo_max`` captures.

        The per-fold moments (float32, K full-frame sets) are needed only until every
        leave-one-fold-out merge and the whole merge are made; each is then kept as the model
        uses it (:class:`_HeldStats`: the float16 mean and standard deviation and the scene
        envelope's steps :meth:`_derive` reduces it to, the same numbers) and the folds are freed
        before any capture is scored.
        """
        c = self.config
        n = len(captures)
        k = min(c.n_folds, n)
        h, w = self.shape_

        def get(i: int) -> tuple[np.ndarray, np.ndarray]:
            img = _check_image(captures[i], f"captures[{i}]", self.shape_)
            m = _check_mask(None if valid_masks is None else valid_masks[i], f"valid_masks[{i}]", self.shape_)
            return img, m

        def zero() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return np.zeros((h, w), np.float32), np.zeros((h, w, 3), np.float32), np.zeros((h, w, 3), np.float32)

        folds: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None] * k
        env_folds: list[tuple[np.ndarray, np.ndarray] | None] = [None] * k  # weighted sums (scene_shift_px)
        outline = OutlineFit(self.zones_, scale_mm_per_px=self.scale_mm_per_px)
        ground = GroundFit(self.zones_, self.shape_) if c.ground_see_through else None
        base: list[np.ndarray] = []  # the first capture prepared: the gain reference
        fine = FineAccumulator(self)

        def add(i: int) -> None:  # (a function: its full-frame temporaries go when it returns)
            img, m = get(i)
            outline.add(img, m)
            if ground is not None:
                ground.add(img, m)
            crops: dict[str, np.ndarray] = {}
            p = ZV.prep(self, img, crops if fine else None)
            v = self._erode(m)
            if not base:
                base.append(p)
            inv = (1.0 / robust_gain(p, base[0], v)).astype(np.float32)
            p *= inv
            if fine:
                fine.add(crops, v, inv)
            wv = v.astype(np.float32)
            folds[i % k] = combine_stats(*(folds[i % k] or zero()), [p], [wv])
            if c.scene_shift_px > 0:
                lo, hi = self._envelope(img)
                s_lo, s_hi = self._env_sums([(lo * inv, hi * inv)], [wv])
                acc_f = env_folds[i % k]
                env_folds[i % k] = (s_lo, s_hi) if acc_f is None else (acc_f[0] + s_lo, acc_f[1] + s_hi)

        for i in range(n):
            add(i)
        base.clear()
        self.outline_ = outline.result()
        self.ground_ = None if ground is None else ground.result()

        def merged(skip: int | None) -> _HeldStats:
            acc = zero()
            env: tuple[np.ndarray, np.ndarray] | None = None
            for f, st in enumerate(folds):
                if f != skip:
                    assert st is not None  # every fold holds a capture (k <= n)
                    acc = _merge_stats(acc, st)
                    e = env_folds[f]
                    if e is not None:
                        env = e if env is None else (env[0] + e[0], env[1] + e[1])
            self._set_env(env, acc[0])
            self.n_, self.mean_, self.var_ = acc
            return self._held_stats()

        held_out: list[_HeldStats | None] = [merged(f) for f in range(k)]
        whole = merged(None)
        folds.clear()
        env_folds.clear()

        feats: list[np.ndarray] | None = None
        if self.uses_features:
            self._load_held(whole)
            self._derive()
            feats = []
            for i in range(n):
                img, m = get(i)
                feats.append(ZF.input_features(self, img, m).astype(np.float16))
        held: dict[str, list[float]] = {z.spec.name: [0.0] * n for z in self.zones_}
        for f in range(k):
            st, held_out[f] = held_out[f], None
            assert st is not None
            self._load_held(st)
            del st
            self._derive()
            if feats is not None:
                ZF.fit_features(self, [feats[j] for j in range(n) if j % k != f])
            for i in range(f, n, k):
                img, m = get(i)
                raw = self._raw_maps(img, m, None if feats is None else feats[i].astype(np.float32), fine=False)
                for z in self.zones_:
                    held[z.spec.name][i] = float(raw[z.spec.name].max())
                del raw
        self._load_held(whole)
        del whole
        self._derive()
        if feats is not None:
            ZF.fit_features(self, feats)
        for z in self.zones_:
            z.good_scores = held[z.spec.name]
            if get_method(z.method).uses_features:
                z.unit_scores = list(held[z.spec.name])  # many units: exchangeable with production
        self._mark_varied_captures()
        self._calibrate()
        set_fine(self, fine.result())

    def _mark_varied_captures(self) -> None:
        """Mark the ``texture_variation`` zones whose golden captures differ as another unit's
        texture would (:func:`.zone_variation.captures_vary`): their held-out scores calibrate them.
        Not a full-resolution zone on a weave (a seam): its captures differ by the weave's phase
        and the resampling of a hand-held photo, and the ratio then says nothing of units (zoo
        apparel hand-held, one golden unit: the hem's captures at 0.6 of the weave's variance,
        its threshold 4.83 -> 3.0 z, 5 of 14 good shirts flagged)."""
        for z in self.zones_:
            z.captures_vary = z.method == "texture_variation" and ZV.captures_vary(self, z)

    def _held_stats(self) -> _HeldStats:
        """The statistics ``n_``, ``mean_``, ``var_`` and the scene envelope as :meth:`_derive`
        reduces them (float16 mean and standard deviation, the envelope in whole ``ENV_STEP``
        below / above that mean), in the compact types :meth:`to_state` stores them in."""
        mean = _f16(self.mean_)
        std = np.sqrt(np.maximum(self.var_, 0)).astype(np.float16)
        steps = None
        if self.env_lo_ is not None and self.env_hi_ is not None:
            self.mean_ = mean
            steps = self.env_steps_()
        n = self.n_.astype(np.uint16) if float(self.n_.max(initial=0.0)) <= 65535 else self.n_.copy()
        return _HeldStats(n=n, mean=mean.astype(np.float16), std=std, env_steps=steps)

    def _load_held(self, st: _HeldStats) -> None:
        """Set the statistics from :meth:`_held_stats` (:meth:`_derive` then gives the same
        model as on the statistics they were taken from: the float16 values and the envelope's
        steps are what it reduces those to)."""
        self.n_ = st.n.astype(np.float32)
        self.mean_ = st.mean.astype(np.float32)
        std = st.std.astype(np.float32)
        self.var_ = std * std
        self._set_env_steps(self.mean_, st.env_steps)

    def _calibrate(self) -> None:
        c = self.config
        for z in self.zones_:
            meth = get_method(z.method)
            floor = meth.floor(self, z)
            scores = z.unit_scores if z.unit_scores else z.good_scores
            z.threshold = good_score_threshold(scores, alpha=c.alpha, sensitivity=z.spec.sensitivity, floor=floor,
                                               tail=c.tail_threshold)

    # ------------------------------------------------------------------ public API
    def add_good(self, images: list[np.ndarray], valid_masks: list[np.ndarray] | None = None) -> None:
        """Extend the model with accepted good units and recalibrate the thresholds.

        Every zone's held-out scores are *cross-fitted* (``min(n, 5)`` folds): the units of a
        fold are scored against the current model plus the batch's other folds, i.e. a model
        close to the final one: the banks of feature zones (``patchcore``, ``padim``,
        ``texture``), the pixel statistics of variation zones. Scoring each unit against the
        model before it joined would take every unit's score against the golden alone (one
        physical unit, none of the unit-to-unit variation) as a good score and loosen the
        threshold: about 1.5x on the demo's feature zones (skipped stitches missed), and 3.1x on
        the zoo jewellery's plating face after 40 accepted units (threshold 3.0 -> 9.4 z; the
        scratch, the worn plating and one more defect passed). These scores are kept in the zone's
        ``unit_scores`` and, once there are any, the zone's threshold comes from them alone: the
        leave-one-out scores of the golden captures (one unit re-photographed) are not
        exchangeable with production units and would only bias the rule low. Then all units join
        the statistics and the banks (per-cell and zone coresets keep them bounded).

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
        views = [self._ground_views(im, m) for im, m in zip(imgs, masks)]  # as ``score`` sees them
        imgs_o, imgs = [vw[0] for vw in views], [vw[1] for vw in views]
        del views
        self.n_good_units_ += len(imgs)  # before scoring them: their held-out scores include the structure term
        self.ref_gain_mean_ = self.mean_
        preps, ws, envs = self._prep_captures(imgs, masks)
        self.ref_gain_mean_ = None
        feats = [ZF.input_features(self, im, self._erode(m) & (self.n_ > 0)) for im, m in zip(imgs, masks)] if self.uses_features else None
        held = self._cross_fitted_scores(feats, masks) if feats is not None else {}
        held.update(self._cross_fitted_variation_scores(imgs, masks, preps, ws, envs))
        for i in range(len(imgs)):
            for z in self.zones_:
                s = held[z.spec.name][i]
                z.good_scores.append(s)
                z.unit_scores.append(s)
        if self.outline_ is not None:
            self.outline_.add_good(imgs_o, masks)
        n_old = self.n_
        if envs is not None and self.env_lo_ is not None and self.env_hi_ is not None:
            s_lo, s_hi = self._env_sums(envs, ws)
            old = n_old[..., None]
            env_sums: tuple[np.ndarray, np.ndarray] | None = (self.env_lo_ * old + s_lo, self.env_hi_ * old + s_hi)
        else:  # a model fitted without the scene envelope keeps its band
            env_sums = None
        self.n_, self.mean_, self.var_ = combine_stats(self.n_, self.mean_, self.var_, preps, ws)
        self._set_env(env_sums, self.n_)
        self._derive()
        if feats is not None:
            self._set_banks(*ZF.merged_banks(self, feats))
        self._calibrate()
        # The full-resolution channel's statistics are the golden's alone, so each unit's score
        # against them is held out as it stands; it is read with the model as it now scores (the
        # materials of the new mean, the floors at their new weight): read before the merge, the
        # same units scored 1.7x lower than the lot's good units (zoo ceramic hand-held, 10 units).
        derive_fine(self)
        for name, scores in self._fine_scores(imgs, masks).items():
            next(z for z in self.zones_ if z.spec.name == name).fine_scores.extend(scores)
        derive_fine(self)

    def _cross_fitted_variation_scores(self, imgs: list[np.ndarray], masks: list[np.ndarray],
                                       preps: list[np.ndarray], ws: list[np.ndarray],
                                       envs: list[tuple[np.ndarray, np.ndarray]] | None, *,
                                       n_folds: int = 5) -> dict[str, list[float]]:
        """Held-out max raw score of each new unit in each pixel-statistics zone: unit ``i`` of
        fold ``f`` is scored against the current statistics merged with the units of the other
        folds (``preps``, ``ws``, ``envs``: the batch prepared as :meth:`add_good` merges it), as
        :meth:`_cross_fitted_scores` does for the feature zones. The statistics are left as they
        were."""
        names = [z.spec.name for z in self.zones_ if not get_method(z.method).uses_features]
        if not names:
            return {}
        n = len(imgs)
        k = min(n, n_folds)
        fold = np.arange(n) % k
        base = (self.n_, self.mean_, self.var_)
        env_base = (self.env_lo_, self.env_hi_)
        env_sums = None
        if envs is not None and self.env_lo_ is not None and self.env_hi_ is not None:
            env_sums = (self.env_lo_ * self.n_[..., None], self.env_hi_ * self.n_[..., None])
        out: dict[str, list[float]] = {name: [0.0] * n for name in names}
        try:
            for f in range(k):
                rest = [j for j in range(n) if fold[j] != f]
                self.n_, self.mean_, self.var_ = combine_stats(*base, [preps[j] for j in rest], [ws[j] for j in rest]) \
                    if rest else base
                if env_sums is not None and envs is not None and rest:
                    s_lo, s_hi = self._env_sums([envs[j] for j in rest], [ws[j] for j in rest])
                    self._set_env((env_sums[0] + s_lo, env_sums[1] + s_hi), self.n_)
                else:
                    self.env_lo_, self.env_hi_ = env_base
                self._derive()
                for i in np.nonzero(fold == f)[0]:
                    raw = self._raw_maps(imgs[i], masks[i], zones="variation", fine=False)
                    for name in names:
                        out[name][i] = float(raw[name].max())
        finally:
            (self.n_, self.mean_, self.var_), (self.env_lo_, self.env_hi_) = base, env_base
            self._derive()
        return out

    def _fine_scores(self, imgs: list[np.ndarray], masks: list[np.ndarray]) -> dict[str, list[float]]:
        """Each unit's largest evidence in each texture zone's full-resolution channel, in its own
        z (:mod:`.fine`): held out as it stands, the channel's statistics being the golden's."""
        out: dict[str, list[float]] = {name: [] for name in self.fine_d_}
        for im, m in zip(imgs, masks):
            for name, s in (self._fine_maxima(im, m) if out else {}).items():
                out[name].append(s)
        return out

    def _set_banks(self, pc: np.ndarray | None, padim: dict | None, tex: dict[str, np.ndarray]) -> None:
        self.pc_bank_, self.padim_, self.tex_banks_ = pc, padim, tex

    def _cross_fitted_scores(self, feats: list[np.ndarray], masks: list[np.ndarray], *,
                             n_folds: int = 5) -> dict[str, list[float]]:
        """Held-out max raw score of each new unit in each feature zone: unit ``i`` of fold ``f``
        is scored against the current banks plus the units of the other folds."""
        n = len(feats)
        k = min(n, n_folds)
        fold = np.arange(n) % k
        out = {z.spec.name: [0.0] * n for z in self.zones_ if get_method(z.method).uses_features}
        saved = (self.pc_bank_, self.padim_, self.tex_banks_)
        try:
            for f in range(k):
                self._set_banks(*ZF.merged_banks(self, [feats[j] for j in range(n) if fold[j] != f]))
                for i in np.nonzero(fold == f)[0]:
                    ok = self._erode(masks[i]) & (self.n_ > 0)
                    cache: dict[str, np.ndarray] = {}
                    for z in self.zones_:
                        if get_method(z.method).uses_features:
                            out[z.spec.name][i] = float(self._feature_zone_raw(z, feats[i], ok, cache).max())
        finally:
            self._set_banks(*saved)
        return out

    def score(self, warped: np.ndarray, valid: np.ndarray | None = None, *,
              residual_global: bool = True, extra_var: np.ndarray | None = None) -> AnomalyResult:
        """Score a registered unit.

        Parameters
        ----------
        warped : ndarray, shape (H, W, 3), uint8 RGB
            The unit warped into golden px.
        valid : ndarray, shape (H, W), bool, or None
            Pixels that hold unit data (None = all).
        residual_global : bool, keyword-only
            Undo a global residual misalignment first (:meth:`residual_shift_px`, then
            :meth:`residual_affine` where the first pass is hot). False when the alignment is
            pinned by something the content may contradict: a round product aligned by its body
            (``RegistrationResult.method`` ending in ``"+body"``), whose print moved on it; a
            global shift would follow the print back and leave the body off (zoo ceramic
            hand-held, decal shifted 1-2 mm: found at the decal 4.6x and 2.8x without it, flagged
            on the rim or passed with it).
        extra_var : ndarray (H, W, 3) float32, optional, keyword-only
            Variance (8-bit RGB levels²) the photo carries beyond the absolute floor, golden px:
            a coarse JPEG's rounding (:func:`goldenvision.jpeg_noise.error_variance`). The
            pixel-statistics channels add it to their spread's floor (:mod:`.unit_noise`).

        Returns
        -------
        AnomalyResult
            ``map`` float32 (H, W) golden px, each zone divided by its threshold (1.0 =
            threshold; max over overlapping zones), spread in pixel-statistics zones over the
            extent of a smallest defect (:func:`.regions.support_map`); ``zone_scores`` the
            max of the map per zone; ``score`` the max over zones; ``defects`` connected
            regions of the evidence >= 1.0, a region found in two nested zones once, in the
            inner one (:func:`.regions.most_specific`; the zone scores keep both). Where the
            first pass reaches the threshold, a local residual misalignment (:mod:`.local_shift`)
            and round elements of ``plating`` zones turned in their seat (:mod:`.rotation`) are
            undone on the unit before it is scored again.
        """
        img0 = _check_image(warped, "warped", self.shape_)
        v0 = _check_mask(valid, "valid", self.shape_)
        if extra_var is not None:
            ev = np.asarray(extra_var, np.float32)
            if ev.shape != (*self.shape_, 3) or not np.isfinite(ev).all():
                raise ImageError(f"extra_var: expected a finite {self.shape_[0]}x{self.shape_[1]}x3 array, "
                                 f"got {getattr(extra_var, 'shape', None)}")
            with unit_extra_var(np.maximum(ev, 0.0)):
                return self._score(img0, v0, residual_global)
        return self._score(img0, v0, residual_global)

    def _score(self, img0: np.ndarray, v0: np.ndarray, residual_global: bool) -> AnomalyResult:
        # see-through ground read as ground: no evidence; the outline model reads the photo's own
        # edges, the pixel statistics the edge's mix with the golden's ground (:meth:`_ground_views`)
        img0o, img0, ground = self._ground_views(img0, v0)
        shift = self.residual_shift_px(img0, v0) if residual_global else None
        img, v = self._undo_residual_shift(img0, v0, shift)
        # feature zones: the unit as registered, one backbone run, unless it is off by a pixel or more
        feat = None
        if self.uses_features and (shift is None or np.hypot(*shift) < self.config.feature_min_shift_px):
            feat = ZF.input_features(self, img0, self._erode(v0) & (self.n_ > 0))
        img_o = img if img0o is img0 else self._undo_residual_shift(img0o, v0, shift)[0]
        outline = None if self.outline_ is None else self.outline_.score(img_o, v, self.zones_)
        moved = _either(None if outline is None else outline.moved, ground)  # edges moved as a whole: the outline's
        raw = self._raw_maps(img, v, feat, explained=moved)
        if residual_global and any((raw[z.spec.name] >= z.threshold).any() for z in self.zones_):
            # only where the first pass is hot: a residual scale / rotation (residual_affine)
            aff = self.residual_affine(img0, v0, shift)
            if aff is not None:
                img, v = self._resample(img0, v0, aff)
                img_o = img if img0o is img0 else self._resample(img0o, v0, aff)[0]
                outline = None if self.outline_ is None else self.outline_.score(img_o, v, self.zones_)
                moved = _either(None if outline is None else outline.moved, ground)
                raw = self._raw_maps(img, v, feat, explained=moved)
        field = self._local_shift(img, v, raw)
        if field is not None:
            img, v = apply_shift_field(img, v, field)
            raw = self._raw_maps(img, v, feat, explained=moved)
        turn = self._turned_elements(img, v, raw)
        if turn is not None:
            img, v = apply_shift_field(img, v, turn)
            raw = self._raw_maps(img, v, feat, explained=moved)
        total = np.zeros(self.shape_, np.float32)
        ok = self._erode(v) & (self.n_ > 0)  # as in _raw_maps: the map stays 0 where no evidence exists
        zone_scores: dict[str, float] = {}
        defects: list[Defect] = []
        for z in self.zones_:
            norm = raw[z.spec.name] * np.float32(1.0 / z.threshold)
            zone_scores[z.spec.name] = float(norm.max())
            np.maximum(total, support_map(norm, z.mask & ok, 4 * self.aggregate_sigma_px(z)), out=total)
            if zone_scores[z.spec.name] >= 1.0:
                defects += find_defects(norm, z.mask, z.spec, scale_mm_per_px=self.scale_mm_per_px,
                                        merge_px=self.config.merge_px, low=self.config.region_low,
                                        margin_px=int(round(2 * self.aggregate_sigma_px(z))),
                                        blur_sigma_px=0.0 if get_method(z.method).uses_features
                                        else self.aggregate_sigma_px(z))
        if outline is not None:  # extra / missing material on the outline (:mod:`.outline`)
            np.maximum(total, outline.map, out=total)
            zone_scores.update({k: max(zone_scores[k], v) for k, v in outline.zone_scores.items()})
            defects += outline.defects
        defects = most_specific(defects, {z.spec.name: z.mask for z in self.zones_})
        defects.sort(key=lambda d: -d.score)
        return AnomalyResult(
            score=max(zone_scores.values(), default=0.0), map=total, zone_scores=zone_scores, defects=tuple(defects)
        )

    def _ground_views(self, img: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The unit as the outline model reads it (the see-through ground painted,
        :meth:`paint_ground`), as the pixel statistics read it (also the ground's share of the
        px that hold ground in the golden brought to the golden's, :meth:`unmix_ground`, read on
        the photo as taken), and the painted px whose evidence is dropped."""
        painted, ground = self.paint_ground(img, valid)
        mixed = self.unmix_ground(img, valid)
        if mixed is img:
            return painted, painted, ground
        if painted is not img:
            swap = (painted != img).any(axis=2)
            mixed[swap] = painted[swap]
        return painted, mixed, ground

    def unmix_ground(self, img: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """The unit with the ground's share of the px that hold ground in the golden brought to the
        golden's ground (:meth:`.ground.GroundModel.unmix`); ``img`` when off."""
        if self.ground_ is None:
            return img
        return self.ground_.unmix(img, valid, self.mean_)

    def paint_ground(self, img: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The unit with the ground it shows through the product's holes painted as the golden's
        (:meth:`.ground.GroundModel.paint`) and the painted pixels; ``(img, None)`` when off."""
        if self.ground_ is None:
            return img, None
        return self.ground_.paint(img, valid, self.mean_)

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
                 "unit_scores": list(z.unit_scores), "captures_vary": bool(z.captures_vary),
                 "fine_scores": list(z.fine_scores), "fine_loo": list(z.fine_loo),
                 "threshold": z.threshold}
                for z in self.zones_
            ],
            "n": np.minimum(self.n_, 65535).astype(np.uint16),
            "mean": self.mean_.astype(np.float16),
            "std": np.sqrt(self.var_).astype(np.float16),
            "n_good_units": int(self.n_good_units_),
        }
        if self.env_lo_ is not None and self.env_hi_ is not None:
            st["env_lo_steps"], st["env_hi_steps"] = self.env_steps_()
        if self.pc_bank_ is not None:
            st["pc_bank"] = self.pc_bank_.astype(np.float16)
        if self.padim_ is not None:
            st["padim_channels"] = self.padim_["channels"]
            st["padim_mean"] = self.padim_["mean"].astype(np.float32)
            st["padim_inv_cov"] = self.padim_["inv_cov"].astype(np.float32)
        for i, z in enumerate(self.zones_):
            if z.spec.name in self.tex_banks_:
                st[f"tex_bank_{i}"] = self.tex_banks_[z.spec.name]
        if self.outline_ is not None:
            st["outline"] = self.outline_.to_state()
        if self.local_radius_px_ is not None:
            st["local_radius_px"] = int(self.local_radius_px_)
        if self.ground_ is not None:
            st["ground"] = self.ground_.to_state()
        st.update(ZF.norms_state(self))
        st.update(fine_state(self))
        return st

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "AnomalyModel":
        """Rebuild a model saved by :meth:`to_state` (scores are identical)."""
        try:
            if state["version"] != STATE_VERSION:
                raise ModelError(f"anomaly state: expected version {STATE_VERSION}, got {state['version']}")
            # packages sealed before the matched texture low-pass have their statistics at tex_sigma_mm;
            # a state from before test-time flips was fitted without them (its banks are unflipped),
            # in one from before the golden-only structure residual it waited for taught units,
            # one from before the Gumbel tail rule recalibrates (add_good) with the margin rule,
            # one from before the scene envelope has none (the band over the blurred mean alone),
            # one from before the fitted local radius aligns locally by local_shift_px,
            # one from before the fine feature level has banks without it,
            # one from before the structure context fits focus and contrast in the window,
            # one from before the see-through ground has no ground model (scored as before),
            # one from before the shading offset reads a highlight as a ratio,
            # one from before the floors' prior keeps them whole however many units it learnt,
            # one from before the multi-scale texture evidence judges at one scale,
            # one from before a zone on a texture had the texture's threshold floor, one from before
            # feature zones read the unit as registered resamples it by its residual shift,
            # one from before the grain prior weighed as the floors keeps it whole, and one from
            # before captures as varied as a texture calibrated it keeps the texture floor, and one
            # from before a print's ink in a texture zone took the grain's variance keeps its own,
            # and one from before the unit's own residual capped the full-resolution spread keeps it whole
            cfg = AnomalyConfig(**{"tex_sigma_matched": False, "feature_flips": False, "fine_features": False,
                                   "feature_min_shift_px": 0.0, "tex_prior_weighted": False,
                                   "captures_texture_ratio": 0.0,
                                   "structure_from_golden": False,
                                   "tail_threshold": False, "scene_shift_px": 0.0, "structure_context": 0.0,
                                   "local_shift_from_golden": False, "ground_see_through": False,
                                   "shading_offset": False, "floor_prior_n": 0.0, "tex_scale_max": 1.0,
                                   "nested_texture_floor": False, "tex_fine": False,
                                   "tex_structure_materials": False, "fine_unit_texture": False, **state["config"]})
            zones = [AnomalyZone.model_validate(z["spec"]) for z in state["zones"]]
            shape = cast("tuple[int, int]", tuple(int(v) for v in state["shape"]))
            m = cls(zones=zones, shape=shape, scale_mm_per_px=state["scale_mm_per_px"], config=cfg,
                    methods=[z["method"] for z in state["zones"]], derive=False)
            for z, zs in zip(m.zones_, state["zones"]):
                z.good_scores = [float(s) for s in zs["good_scores"]]
                z.unit_scores = [float(s) for s in zs.get("unit_scores", [])]
                z.captures_vary = bool(zs.get("captures_vary", False))
                z.fine_scores = [float(s) for s in zs.get("fine_scores", [])]
                z.fine_loo = [float(s) for s in zs.get("fine_loo", [])]
                z.threshold = float(zs["threshold"])
            m.n_ = np.asarray(state["n"], np.float32)
            m.mean_ = np.asarray(state["mean"], np.float32)
            std = np.asarray(state["std"], np.float32)
            m.var_ = std * std
            m.n_good_units_ = int(state.get("n_good_units", 0))
            if state.get("local_radius_px") is not None:
                m.local_radius_px_ = int(state["local_radius_px"])
            if m.n_.shape != shape or m.mean_.shape != shape + (3,) or std.shape != shape + (3,):
                raise ModelError(f"anomaly state: statistics do not match the golden frame {shape}")
            if cfg.scene_shift_px > 0 and "env_lo_steps" in state:
                d_lo = np.asarray(state["env_lo_steps"], np.uint8)
                d_hi = np.asarray(state["env_hi_steps"], np.uint8)
                if d_lo.shape != shape + (3,) or d_hi.shape != shape + (3,):
                    raise ModelError(f"anomaly state: scene envelope does not match the golden frame {shape}")
                m.env_lo_ = m.mean_ - d_lo.astype(np.float32) * np.float32(ENV_STEP)
                m.env_hi_ = m.mean_ + d_hi.astype(np.float32) * np.float32(ENV_STEP)
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
            if "outline" in state:
                m.outline_ = OutlineModel.from_state(state["outline"])
            if cfg.ground_see_through and "ground" in state:
                m.ground_ = GroundModel.from_state(state["ground"], m.zones_)
            ZF.load_norms(m, state)
            load_fine(m, state)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"anomaly state: missing or malformed entry ({exc!r})") from None
        return m

    def state_nbytes(self) -> int:
        """Bytes of the arrays in :meth:`to_state` (memory of the stored model)."""
        return int(sum(v.nbytes for v in self.to_state().values() if isinstance(v, np.ndarray)))
