"""Colour without a chart: each zone judged relative to the golden, the light difference removed.

A hand-held photo with no trusted chart and no station profile has no colour reference: its
camera RGB is only *assumed* to be sRGB, and its light (exposure, white balance, a ramp,
vignetting) differs from the golden captures'. This module removes that difference using the
registered product itself:

1. the unit and the golden reference (both in golden px) are decoded to linear RGB and reduced
   (area average, ``_STEP`` px cells) so that grain, weave and JPEG noise average out;
2. per channel, the log ratio ``log(unit / golden)`` is fitted by a low-order polynomial field
   in golden px (gain, ramp, vignetting: ``1, x, y, x², xy, y²``), with Tukey biweights on the
   largest channel residual, so a defect or a recoloured part does not pull the field;
3. the fit for a zone leaves that zone (and a margin around it) out: a dye-lot shift of one
   panel or a print colour shift is then not absorbed into the light, and is judged as the
   difference between the unit, brought into the golden reference's light, and the golden;
4. the uncertainty of that difference is measured, not assumed: the field is refitted with
   each of a 3x3 grid of blocks of the product also held out, the held-out block's mean log
   ratio is predicted, and the prediction errors are expressed in ΔE00 at the zone's colour
   (their RMS). The decision uses ``tolerance + uncertainty`` (see
   :class:`goldenvision.results.ColorResult`).

What it cannot do: a colour change of the *whole* product (every zone and the rest of the
product shifted alike) is indistinguishable from a change of light without a reference in the
frame. Every result made here says so in its ``note``; a chart in the photo or a station
profile is the remedy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import weakref

import cv2
import numpy as np

from ..calibration.color import _LUT_DECODE32, linear_srgb_to_lab_d65
from ..errors import ImageError
from ..results import ColorResult
from ..spec import ColorZone
from .adaptation import target_lab_d65
from .difference import delta_e_2000
from .zones import ZoneColorModel, measure_zone_colors, zone_color_result

__all__ = ["IlluminationFit", "fit_relative_illumination", "relative_zone_colors", "judge_colors",
           "color_reference", "RELATIVE_METHOD", "RELATIVE_NOTE"]

#: ``ColorResult.reference`` of a zone judged relative to the golden with a fitted light field.
RELATIVE_METHOD = "relative-to-golden"
#: What a relative result can and cannot tell (recorded in every such result).
RELATIVE_NOTE = (
    "no chart or station profile: judged relative to the golden after removing a smooth light field "
    "(gain, white balance, ramp, vignetting) fitted on the rest of the product; a colour shift of the "
    "whole product cannot be told from a change of light and is not detected"
)

_STEP = 4  # golden px per fitting cell (area average)
_LO, _HI = 0.004, 0.92  # usable linear values (under-exposed / near clipping are left out)
_TUKEY_C = 4.685
_RIDGE = 1e-3  # small ridge on the non-constant terms (fits on few, clustered cells stay tame)
_MIN_CELLS = 60  # fitting cells needed outside a zone
_MATERIALS = 6  # k-means clusters of the golden's cells that vote alike on the light
_SAME_MATERIAL_DE = 10.0  # golden cells within this ΔE*ab of a zone's colour count as its material
_MARGIN_PX = 8  # golden px left out around a zone, on top of the zone


@dataclass(frozen=True, slots=True)
class IlluminationFit:
    """Light field of a unit photo relative to the golden reference (log gain per channel).

    Attributes
    ----------
    coef : ndarray, shape (3, 6)
        Coefficients of ``1, x, y, x², xy, y²`` (x, y in [-1, 1] over the golden frame) of the
        per-channel log gain ``log(unit / golden)``.
    n_cells : int
        Fitting cells that entered the fit.
    residual_scale : float
        Robust scale (1.4826 MAD) of the log-ratio residual of the kept cells.
    """

    coef: np.ndarray
    n_cells: int
    residual_scale: float

    def log_gain(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Log gain (..., 3) at normalised coordinates x, y."""
        return _design(x, y) @ self.coef.T


def _design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _irls(a: np.ndarray, r: np.ndarray, prior: np.ndarray | None = None,
          iters: int = 12) -> tuple[np.ndarray, np.ndarray, float]:
    """Tukey-weighted least squares of r (n, 3) on a (n, k); weights from the largest channel residual.

    ``prior`` (n,) multiplies the robust weights (the material balance)."""
    k = a.shape[1]
    ridge = np.full(k, _RIDGE)
    ridge[0] = 0.0
    p = np.ones(a.shape[0]) if prior is None else prior
    w = p.copy()
    coef = np.zeros((3, k))
    scale = 0.0
    for _ in range(iters):
        aw = a * w[:, None]
        lhs = a.T @ aw + np.diag(ridge) * max(float(w.sum()), 1.0)
        coef = np.linalg.solve(lhs, aw.T @ r).T
        res = np.abs(r - a @ coef.T).max(axis=1)
        scale = max(1.4826 * float(np.median(res[w > 0])) if (w > 0).any() else 0.0, 0.004)
        u = res / (_TUKEY_C * scale)
        w = p * np.where(u < 1.0, (1.0 - u * u) ** 2, 0.0)
    return coef, w, scale


def _material_balance(golden_cells: np.ndarray) -> np.ndarray:
    """Prior weight per cell: 1 / (cells of its material), materials = k-means clusters of the
    golden's log linear RGB, so every material of the product votes alike on the light and
    the largest one (that may be the one whose colour changed) does not decide alone."""
    n = golden_cells.shape[0]
    k = int(min(_MATERIALS, max(n // 40, 1)))
    if k < 2:
        return np.ones(n)
    data = np.log(golden_cells.astype(np.float32))
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 1e-3)
    cv2.setRNGSeed(0)
    _, labels, _ = cv2.kmeans(data, k, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    labels = labels.ravel()
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    return n / (k * counts[labels])


def fit_relative_illumination(
    unit_linear: np.ndarray, golden_linear: np.ndarray, fit_mask: np.ndarray
) -> IlluminationFit | None:
    """Fit the unit/golden log-gain field on the cells of ``fit_mask`` (reduced grids).

    Parameters
    ----------
    unit_linear, golden_linear : ndarray, shape (h, w, 3), float
        Reduced linear RGB of the unit (in golden px) and of the golden reference.
    fit_mask : ndarray, shape (h, w), bool
        Cells allowed in the fit.

    Returns
    -------
    IlluminationFit or None
        None when fewer than ``_MIN_CELLS`` usable cells remain.
    """
    h, w = fit_mask.shape
    ok = fit_mask & _usable(unit_linear) & _usable(golden_linear)
    if int(ok.sum()) < _MIN_CELLS:
        return None
    yy, xx = np.nonzero(ok)
    x, y = _norm(xx, w), _norm(yy, h)
    r = np.log(unit_linear[ok].astype(np.float64)) - np.log(golden_linear[ok].astype(np.float64))
    coef, wts, scale = _irls(_design(x, y), r, _material_balance(golden_linear[ok]))
    return IlluminationFit(coef=coef, n_cells=int((wts > 0).sum()), residual_scale=float(scale))


def _usable(lin: np.ndarray) -> np.ndarray:
    return np.isfinite(lin).all(axis=2) & (lin > _LO).all(axis=2) & (lin < _HI).all(axis=2)


def _norm(i: np.ndarray, n: int) -> np.ndarray:
    return 2.0 * (np.asarray(i, np.float64) + 0.5) / max(n, 1) - 1.0


def _reduce(lin: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Area-average ``lin`` over _STEP cells; a cell counts only when all its pixels are valid."""
    h, w = lin.shape[:2]
    hs, ws = max(h // _STEP, 1), max(w // _STEP, 1)
    small = cv2.resize(lin, (ws, hs), interpolation=cv2.INTER_AREA)
    if valid is None:
        ok = np.ones((hs, ws), bool)
    else:
        ok = cv2.resize(valid.astype(np.float32), (ws, hs), interpolation=cv2.INTER_AREA) > 0.999
    return small, ok


_STABLE_DE = 2.0  # a cell whose light-corrected colour differs by more (ΔE*ab) between golden captures is not registered
# reference array id -> (weak reference to it, its registered cells); a few goldens at a time
_stable_cache: dict[int, tuple["weakref.ref[np.ndarray]", np.ndarray]] = {}


def registered_cells(golden_rgb: np.ndarray, captures: Sequence[np.ndarray]) -> np.ndarray:
    """Reduced-grid cells (bool) where every golden capture agrees with the reference.

    Each capture's light field relative to the reference is fitted and removed; a cell
    whose colour, so corrected, differs by more than ``_STABLE_DE`` (ΔE*ab) in any capture is not registered
    product (a background that moved under the product, an edge that does not align, a
    specular highlight that wanders) and does not enter the unit's light fit. With a single
    capture every usable cell counts. Cached per reference array.
    """
    hit = _stable_cache.get(id(golden_rgb))
    if hit is not None and hit[0]() is golden_rgb:
        return hit[1]
    g_small, _ = _reduce(_LUT_DECODE32[golden_rgb], None)
    ok = _usable(g_small)
    lab_g = linear_srgb_to_lab_d65(g_small.astype(np.float64))
    h, w = ok.shape
    for cap in captures:
        if cap is golden_rgb or cap.shape != golden_rgb.shape:
            continue
        c_small, _ = _reduce(_LUT_DECODE32[cap], None)
        use = ok & _usable(c_small)
        fit = fit_relative_illumination(c_small, g_small, use)
        if fit is None:
            continue
        yy, xx = np.mgrid[0:h, 0:w]
        pred = fit.log_gain(_norm(xx, w), _norm(yy, h))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            res = np.log(c_small.astype(np.float64)) - np.log(g_small.astype(np.float64)) - pred
            moved = g_small.astype(np.float64) * np.exp(np.where(use[..., None], res, 0.0))
        de = np.linalg.norm(linear_srgb_to_lab_d65(moved) - lab_g, axis=2)
        ok &= use & (de < _STABLE_DE)
    if len(_stable_cache) >= 8:
        _stable_cache.clear()
    _stable_cache[id(golden_rgb)] = (weakref.ref(golden_rgb), ok)
    return ok


def _zone_cells(mask_full: np.ndarray, shape_small: tuple[int, int]) -> np.ndarray:
    k = 2 * _MARGIN_PX + 1
    grown = cv2.dilate(mask_full.astype(np.uint8), np.ones((k, k), np.uint8))
    small = cv2.resize(grown.astype(np.float32), (shape_small[1], shape_small[0]), interpolation=cv2.INTER_AREA)
    return small > 0.0


def _gain_map(fit: IlluminationFit, y0: int, y1: int, x0: int, x1: int, shape_hw: tuple[int, int]) -> np.ndarray:
    """Gain (y1-y0, x1-x0, 3) float32 of ``fit`` over a box of the full golden frame."""
    h, w = shape_hw
    # a cell centre of the reduced grid is at full px (i + 0.5) * _STEP - 0.5; map full px to that scale
    hs, ws = max(h // _STEP, 1), max(w // _STEP, 1)
    ys = (np.arange(y0, y1) + 0.5) * hs / h - 0.5
    xs = (np.arange(x0, x1) + 0.5) * ws / w - 0.5
    xx, yy = np.meshgrid(_norm(xs, ws), _norm(ys, hs))
    return np.exp(fit.log_gain(xx, yy)).astype(np.float32)


def _cv_uncertainty(
    u_small: np.ndarray, g_small: np.ndarray, base_mask: np.ndarray, ref_lin: np.ndarray,
    weights: tuple[float, float, float],
) -> float | None:
    """RMS ΔE00, at colour ``ref_lin``, of held-out-block predictions of the light field (3x3 blocks)."""
    h, w = base_mask.shape
    usable = base_mask & _usable(u_small) & _usable(g_small)
    ref_lab = linear_srgb_to_lab_d65(np.asarray(ref_lin, np.float64)[None])[0]
    errs: list[float] = []
    for by in range(3):
        for bx in range(3):
            blk = np.zeros_like(base_mask)
            blk[by * h // 3 : (by + 1) * h // 3, bx * w // 3 : (bx + 1) * w // 3] = True
            held = usable & blk
            if int(held.sum()) < 8:
                continue
            fit = fit_relative_illumination(u_small, g_small, base_mask & ~blk)
            if fit is None:
                continue
            yy, xx = np.nonzero(held)
            pred = fit.log_gain(_norm(xx, w), _norm(yy, h))
            obs = np.log(u_small[held].astype(np.float64)) - np.log(g_small[held].astype(np.float64))
            err = np.median(obs - pred, axis=0)  # the block's own light, robust to its texture
            lab = linear_srgb_to_lab_d65((np.asarray(ref_lin, np.float64) * np.exp(err))[None])[0]
            errs.append(float(delta_e_2000(lab, ref_lab, *weights)))
    if len(errs) < 3:
        return None
    return float(np.sqrt(np.mean(np.square(errs))))


def relative_zone_colors(
    unit_rgb: np.ndarray,
    valid: np.ndarray | None,
    golden_rgb: np.ndarray,
    model: ZoneColorModel,
    zones: Sequence[ColorZone],
    *,
    target_labs: Mapping[str, Sequence[float]] | None = None,
    captures: Sequence[np.ndarray] = (),
) -> list[ColorResult] | None:
    """Judge every colour zone relative to the golden reference, the light difference removed.

    Parameters
    ----------
    unit_rgb : ndarray, shape (H, W, 3), uint8
        The unit photo warped into golden px (camera RGB, assumed sRGB-encoded).
    valid : ndarray, shape (H, W), bool, or None
        Pixels holding unit data.
    golden_rgb : ndarray, shape (H, W, 3), uint8
        The golden reference image (golden px).
    model : ZoneColorModel
        The golden's colour model (zone pixels, golden robust colours).
    zones : sequence of ColorZone
    target_labs : mapping, optional
        As :func:`goldenvision.color.measure_zone_colors`.
    captures : sequence of ndarray (H, W, 3) uint8, optional
        The golden captures in golden px: only cells where they agree with the reference
        (:func:`registered_cells`) enter the light fit.

    Returns
    -------
    list of ColorResult or None
        One result per zone with ``reference`` :data:`RELATIVE_METHOD`, the measured
        ``uncertainty_de00`` and :data:`RELATIVE_NOTE`. ``lab`` is the golden's robust colour
        moved by the unit's difference from the golden reference (so ``delta_e_target`` rests
        on the golden's colour). None when the product gives too few usable cells outside some
        zone to fit a light field (the caller falls back to the sRGB assumption and says so).
    """
    model._check_fitted()
    shape = model.shape_hw_
    for name, a in (("unit_rgb", unit_rgb), ("golden_rgb", golden_rgb)):
        if not (isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.shape == (*shape, 3)):
            raise ImageError(f"{name}: expected a {shape[0]}x{shape[1]} uint8 RGB image in golden px, "
                             f"got {getattr(a, 'shape', None)} {getattr(a, 'dtype', None)}")
    u_lin = _LUT_DECODE32[unit_rgb]
    g_lin = _LUT_DECODE32[golden_rgb]
    v = None if valid is None else np.asarray(valid, bool)
    u_small, ok_small = _reduce(u_lin, v)
    g_small, _ = _reduce(g_lin, None)
    ok_small = ok_small & registered_cells(golden_rgb, captures)
    lab_small = linear_srgb_to_lab_d65(g_small.astype(np.float64))
    nothing = np.zeros_like(ok_small)

    def material(zone: ColorZone) -> tuple[np.ndarray, np.ndarray]:
        """Cells of the zone (with its margin) and of its material (golden colour near the zone's)."""
        zcells = _zone_cells(model.mask(zone.name), ok_small.shape)
        # leave the zone's material out, not only its region: a dye lot or a paper stock
        # changes the whole material, and must not be read as light where it shows elsewhere
        use = zcells & _usable(g_small)
        zone_lab = np.median(lab_small[use], axis=0) if use.any() else np.full(3, np.nan)
        same = (np.linalg.norm(lab_small - zone_lab, axis=2) < _SAME_MATERIAL_DE).astype(np.uint8)
        # cells next to the material hold some of it (text on paper, a print's edge): out too
        return zcells, cv2.dilate(same, np.ones((3, 3), np.uint8)).astype(bool)

    def judge(zone: ColorZone, extra: np.ndarray, extra_note: str) -> ColorResult | None:
        j = model.index(zone.name)
        kl, kc, kh = (float(x) for x in zone.weights)
        wts = (kl, kc, kh)
        zcells, same = material(zone)
        base = ok_small & ~zcells & ~same & ~extra
        fit = fit_relative_illumination(u_small, g_small, base)
        material_note = "; light fitted on the product's other materials (the zone's material left out)"
        if fit is None:  # the zone's material is (nearly) all there is: leave out only the zone
            base = ok_small & ~zcells & ~extra
            fit = fit_relative_illumination(u_small, g_small, base)
            material_note = ("; the zone's material covers nearly all the product: light fitted on the rest of "
                             "that material, so a change of the whole material is not detected")
        if fit is None:
            return None
        g = model._geoms[j]
        box = (g.y0, g.y1, g.x0, g.x1)
        gain = _gain_map(fit, *box, shape)
        u_corr = u_lin[g.y0 : g.y1, g.x0 : g.x1] / gain
        sub_v = None if v is None else v[g.y0 : g.y1, g.x0 : g.x1]
        lab_u = np.full((*shape, 3), np.nan, np.float32)
        lab_g = np.full((*shape, 3), np.nan, np.float32)
        lab_u[g.y0 : g.y1, g.x0 : g.x1] = linear_srgb_to_lab_d65(np.clip(u_corr, 0.0, None))
        lab_g[g.y0 : g.y1, g.x0 : g.x1] = linear_srgb_to_lab_d65(g_lin[g.y0 : g.y1, g.x0 : g.x1])
        full_v = None
        if sub_v is not None:
            full_v = np.zeros(shape, bool)
            full_v[g.y0 : g.y1, g.x0 : g.x1] = sub_v
        ru = model._measure(lab_u, full_v, j, wts)
        rg = model._measure(lab_g, None, j, wts)
        golden = model.golden_lab_[j]
        lab = golden + (np.asarray(ru.lab, np.float64) - np.asarray(rg.lab, np.float64))
        de_golden = float(delta_e_2000(ru.lab, rg.lab, *wts))
        target = target_lab_d65(zone, target_labs)
        zone_lin = np.nanmedian(g_lin[g.y0 : g.y1, g.x0 : g.x1][g.mask], axis=0)
        unc = _cv_uncertainty(u_small, g_small, base, zone_lin, wts)
        note = RELATIVE_NOTE + material_note + extra_note
        if unc is None:
            note += "; uncertainty not measurable (too little product outside the zone), residual-based"
            zl = np.asarray(zone_lin, np.float64)
            moved = linear_srgb_to_lab_d65((zl * np.exp(fit.residual_scale))[None])[0]
            unc = float(delta_e_2000(moved, linear_srgb_to_lab_d65(zl[None])[0], *wts))
        return (
            zone_color_result(zone, lab, golden, target, wts, de_golden, ru.uniformity_de00, ru.valid_fraction,
                              reference=RELATIVE_METHOD, uncertainty_de00=float(unc), note=note)
        )

    first = [judge(z, nothing, "") for z in zones]
    if any(r is None for r in first):
        return None
    out = [r for r in first if r is not None]
    # a zone found off-colour beyond its uncertainty is no reference for the light of the
    # others; but a shifted material can also make a sound zone look off. Each off zone in
    # turn is taken as the culprit: its material is left out and the others judged again;
    # the hypothesis that leaves the fewest zones off (then the least excess) is kept.
    off = [i for i, r in enumerate(out) if not r.ok and not r.within_uncertainty]
    best: tuple[int, float, list[ColorResult]] | None = None
    for c in off[:4]:
        zc, same = material(zones[c])
        extra = zc | same
        trial = list(out)
        for i, z in enumerate(zones):
            if i != c:
                again = judge(z, extra, f"; zone {zones[c].name} found off-colour, its material left out of the light fit")
                if again is not None:
                    trial[i] = again
        n_off = sum(1 for r in trial if not r.ok and not r.within_uncertainty)
        excess = sum(max(r.delta_e_golden - r.golden_tolerance - (r.uncertainty_de00 or 0.0), 0.0) for r in trial)
        if best is None or (n_off, excess) < best[:2]:
            best = (n_off, excess, trial)
    if best is not None:
        out = best[2]
    return out


def color_reference(method: str) -> str:
    """What judges colours given a :class:`~goldenvision.calibration.color.ColorCorrection` method."""
    if method == "identity":
        return "srgb-assumption"
    if method.startswith("photo "):
        return f"chart ({method[6:]})"
    return f"station profile ({method})"


def judge_colors(
    unit_rgb: np.ndarray,
    valid: np.ndarray | None,
    golden_rgb: np.ndarray,
    correction_method: str,
    lab_of: Callable[[], np.ndarray],
    model: ZoneColorModel,
    zones: Sequence[ColorZone],
    *,
    target_labs: Mapping[str, Sequence[float]] | None = None,
    captures: Sequence[np.ndarray] = (),
) -> list[ColorResult]:
    """Colour results of a unit, each recording which reference judged it.

    With a chart (in the photo or the station's) or a station colour model, zones are measured
    on ``lab_of()`` (CIELAB D65 through that correction) and compared as usual. With neither
    (``correction_method == "identity"``), zones are judged :func:`relative_zone_colors`; when
    the product leaves too little outside a zone to fit the light, the sRGB assumption is used
    and the results say so (uncertainty not estimated).
    """
    ref = color_reference(correction_method)
    if ref == "srgb-assumption":
        rel = relative_zone_colors(unit_rgb, valid, golden_rgb, model, zones, target_labs=target_labs,
                                   captures=captures)
        if rel is not None:
            return rel
        note = ("no chart or station profile, and too little product outside a zone to fit the light: "
                "camera RGB assumed sRGB; light and white balance differences read as colour differences")
    else:
        note = None
    res = measure_zone_colors(lab_of(), valid, model, zones, target_labs=target_labs)
    return [replace(r, reference=ref, note=note) for r in res]
