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
   :class:`goldenvision.results.ColorResult`). Each refit is the fit's weighted normal
   equations with the block's share taken out (its robust weights kept), not a new robust fit.

Speed: what depends on the golden alone (its reduced grid and CIELAB, the registered cells, the
design matrix, each zone's material and golden colour, and the k-means materials of every set
of golden cells a fit may use) is computed once per golden (:func:`prepare_relative_colors`,
called when an Inspector loads); a unit then costs one robust fit per zone (and per culprit
hypothesis) and nine 6x6 solves for its uncertainty.

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
from .robust import RobustZoneColor, _robust_color
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
_MIN_SHARE = 0.03  # a material with fewer cells than this share of an even split votes less (by its cells)
_PREPARE_CULPRITS_UP_TO = 4  # zones: up to this many, each pair's materials are found at load too
_IRLS_ITERS = 12  # reweighting steps at most
_IRLS_TOL = 1e-6  # ... stopped early once no coefficient (log gain) moves by more than this


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


def _irls(a: np.ndarray, r: np.ndarray, prior: np.ndarray | None = None, iters: int = _IRLS_ITERS,
          start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Tukey-weighted least squares of r (n, 3) on a (n, k); weights from the largest channel residual.

    ``prior`` (n,) multiplies the robust weights (the material balance). The first solve uses
    the prior alone, or, given ``start`` (3, k) coefficients (a fit of nearly the same cells),
    the robust weights of its residuals. Stops once no coefficient moves by more than
    ``_IRLS_TOL``."""
    # (k, n), (3, n): rows contiguous for the products
    return _irls_t(np.ascontiguousarray(a.T), np.ascontiguousarray(r.T), prior, iters, start)


def _irls_t(at: np.ndarray, rt: np.ndarray, prior: np.ndarray | None = None, iters: int = _IRLS_ITERS,
            start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`_irls` on the transposed design ``at`` (k, n) and log ratios ``rt`` (3, n)."""
    k = at.shape[0]
    p = np.ones(at.shape[1]) if prior is None else prior
    coef = np.zeros((3, k))
    scale = 0.0
    if start is None:
        w = p.copy()
    else:
        coef = np.asarray(start, np.float64)
        w, scale = _tukey(_max_abs(rt - coef @ at), p, p > 0)
    for _ in range(iters):
        aw = at * w
        new = _solve(aw @ at.T, aw @ rt.T, float(w.sum()))
        w, scale = _tukey(_max_abs(rt - new @ at), p, w > 0)
        moved = float(np.abs(new - coef).max())
        coef = new
        if moved < _IRLS_TOL:
            break
    return coef, w, scale


def _solve(lhs: np.ndarray, rhs: np.ndarray, w_sum: float) -> np.ndarray:
    """Coefficients (3, k) of the weighted normal equations ``lhs`` (k, k), ``rhs`` (k, 3), with
    the small ridge on the non-constant terms (scaled by the weights' sum)."""
    k = lhs.shape[0]
    ridge = np.full(k, _RIDGE)
    ridge[0] = 0.0
    lhs = lhs.copy()
    lhs[np.diag_indices(k)] += ridge * max(w_sum, 1.0)
    return np.linalg.solve(lhs, rhs).T


def _max_abs(d: np.ndarray) -> np.ndarray:
    """max over rows of |d| (3, n) -> (n,) (the largest channel residual)."""
    out = np.abs(d[0])
    for row in d[1:]:
        np.maximum(out, np.abs(row), out=out)
    return out


def _tukey(res: np.ndarray, p: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, float]:
    """Tukey biweights (times ``p``) of residuals ``res``, scaled by the MAD of the ``kept`` ones."""
    scale = max(1.4826 * float(np.median(res[kept])) if kept.any() else 0.0, 0.004)
    u = np.minimum(res * (1.0 / (_TUKEY_C * scale)), 1.0)
    u *= u
    np.subtract(1.0, u, out=u)
    u *= u  # (1 - u²)², 0 from u = 1 on
    u *= p
    return u, scale


def _kmeans_labels(golden_cells: np.ndarray, k: int) -> np.ndarray:
    """k-means labels (n,) of the golden's cells in log linear RGB (fixed seed)."""
    data = np.log(golden_cells.astype(np.float32))
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 1e-3)
    cv2.setRNGSeed(0)
    _, labels, _ = cv2.kmeans(data, k, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    return labels.ravel()


def _n_materials(n: int) -> int:
    return int(min(_MATERIALS, max(n // 40, 1)))


def _material_balance(golden_cells: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Prior weight per cell: 1 / (cells of its material), materials = k-means clusters of the
    golden's log linear RGB, so every material of the product votes alike on the light and
    the largest one (that may be the one whose colour changed) does not decide alone.

    A cluster of a handful of cells (a highlight, a speck: fewer than ``_MIN_SHARE`` of an even
    split) is no material: it is counted as that many cells, so it cannot outvote the product.

    ``labels`` (n,): the cells' materials found once on a superset of them (clustered with as
    many materials as these cells call for); None clusters these cells."""
    n = golden_cells.shape[0]
    k = _n_materials(n)
    if k < 2:
        return np.ones(n)
    if labels is None:
        labels = _kmeans_labels(golden_cells, k)
    counts = np.bincount(labels).astype(np.float64)
    present = int(np.count_nonzero(counts))
    counts = np.maximum(counts, _MIN_SHARE * n / present)
    return n / (present * counts[labels])


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


def _decode(rgb: np.ndarray) -> np.ndarray:
    """8-bit sRGB codes -> linear float32 (the same table as ``_LUT_DECODE32[rgb]``, by OpenCV)."""
    return cv2.LUT(rgb, _LUT_DECODE32)


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
    g_small, _ = _reduce(_decode(golden_rgb), None)
    ok = _usable(g_small)
    lab_g = linear_srgb_to_lab_d65(g_small.astype(np.float64))
    h, w = ok.shape
    for cap in captures:
        if cap is golden_rgb or cap.shape != golden_rgb.shape:
            continue
        c_small, _ = _reduce(_decode(cap), None)
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


@dataclass(frozen=True, slots=True)
class _ZoneGolden:
    """What the relative judgement of one zone needs from the golden alone."""

    zcells: np.ndarray  # (h, w) cells of the zone and its margin
    same: np.ndarray  # (h, w) cells of the zone's material (and next to it)
    zone_lin: np.ndarray  # (3,) the zone's median linear RGB in the golden reference
    golden: RobustZoneColor  # the zone's robust colour in the golden reference


class _GoldenGrid:
    """Everything of the relative colour judgement that depends only on the golden (cached).

    The reference decoded to linear RGB, its reduced grid and CIELAB, the registered cells, the
    design matrix of the light field over the grid, each zone's cells / material / colour, and
    the k-means materials of each set of golden cells a light fit may use (a zone's, with or
    without its material, and with another zone's material out): a unit then only gathers
    its own cells, and the cross-validation folds reuse the materials of their zone's set.
    """

    def __init__(self, golden_rgb: np.ndarray, captures: Sequence[np.ndarray],
                 product_mask: np.ndarray | None = None) -> None:
        self.ref = weakref.ref(golden_rgb)
        self.g_small, _ = _reduce(_decode(golden_rgb), None)
        self.shape_small: tuple[int, int] = self.g_small.shape[:2]  # type: ignore[assignment]
        h, w = self.shape_small
        # cells of the ground the product lies on (flat; None: no product area known)
        self.ground = _ground_cells(product_mask, self.shape_small)
        self.ground_key = _mask_key(product_mask)
        self.lab_small = linear_srgb_to_lab_d65(self.g_small.astype(np.float64))
        self.usable = _usable(self.g_small)
        self.registered = registered_cells(golden_rgb, captures)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.log_g = np.log(self.g_small.astype(np.float64)).reshape(-1, 3)
        yy, xx = np.mgrid[0:h, 0:w]
        self.design_t = np.ascontiguousarray(_design(_norm(xx, w), _norm(yy, h)).reshape(-1, 6).T)  # (6, cells)
        by = np.minimum(np.searchsorted([h // 3, 2 * h // 3], np.arange(h), side="right"), 2)
        bx = np.minimum(np.searchsorted([w // 3, 2 * w // 3], np.arange(w), side="right"), 2)
        self.block = (3 * by[:, None] + bx[None, :]).ravel()  # 3x3 block of each cell
        self.zones: dict[tuple[int, str, tuple[float, ...]], tuple[weakref.ref[ZoneColorModel], _ZoneGolden]] = {}
        self.materials: dict[bytes, tuple[np.ndarray, int]] = {}

    def zone(self, golden_rgb: np.ndarray, model: ZoneColorModel, zone: ColorZone) -> _ZoneGolden:
        """The zone's cells, material and golden colour (``golden_rgb``: the reference of this grid)."""
        key = (id(model), zone.name, tuple(float(x) for x in zone.weights))
        hit = self.zones.get(key)
        if hit is not None and hit[0]() is model:
            return hit[1]
        zcells = _zone_cells(model.mask(zone.name), self.shape_small)
        # leave the zone's material out, not only its region: a dye lot or a paper stock
        # changes the whole material, and must not be read as light where it shows elsewhere
        use = zcells & self.usable
        zone_lab = np.median(self.lab_small[use], axis=0) if use.any() else np.full(3, np.nan)
        same = (np.linalg.norm(self.lab_small - zone_lab, axis=2) < _SAME_MATERIAL_DE).astype(np.uint8)
        # cells next to the material hold some of it (text on paper, a print's edge): out too
        same_b = cv2.dilate(same, np.ones((3, 3), np.uint8)).astype(bool)
        g = model._geoms[model.index(zone.name)]
        box = _decode(np.ascontiguousarray(golden_rgb[g.y0 : g.y1, g.x0 : g.x1]))
        zone_lin = np.nanmedian(box[g.mask], axis=0)
        kl, kc, kh = (float(x) for x in zone.weights)
        golden = _robust_color(linear_srgb_to_lab_d65(box).astype(np.float32), g.mask, g, model.cell_px, (kl, kc, kh))
        out = _ZoneGolden(zcells, same_b, zone_lin, golden)
        self.zones[key] = (weakref.ref(model), out)
        return out

    def material_labels(self, cells: np.ndarray) -> tuple[np.ndarray, int]:
        """(labels over the grid, -1 outside ``cells``; the number of the product's materials) of
        golden ``cells``. The product's cells are clustered (k-means of their colours); the
        ground's cells (:func:`_ground_cells`), when ``cells`` hold any, are one more material,
        label ``k``, whatever their shades (see :func:`_ground_cells`)."""
        key = np.packbits(cells).tobytes()
        hit = self.materials.get(key)
        if hit is not None:
            return hit
        labels = np.full(cells.size, -1, np.int32)
        flat = cells.ravel()
        prod = flat if self.ground is None else flat & ~self.ground
        k = _n_materials(int(prod.sum()))
        if k >= 2:
            labels[prod] = _kmeans_labels(self.g_small.reshape(-1, 3)[prod], k)
            if self.ground is not None:
                labels[flat & self.ground] = k
        if len(self.materials) >= 64:
            self.materials.clear()
        self.materials[key] = (labels, k)
        return labels, k


# reference array id -> its golden grid; a few goldens at a time
_golden_cache: dict[int, _GoldenGrid] = {}


def _mask_key(mask: np.ndarray | None) -> bytes | None:
    return None if mask is None else np.packbits(np.asarray(mask, bool)).tobytes()


def _ground_cells(product_mask: np.ndarray | None, shape_small: tuple[int, int]) -> np.ndarray | None:
    """Flat bool over the reduced grid: cells mostly outside ``product_mask`` (golden px), i.e. the
    table, cloth or tray the product lies on; None without a product area.

    In a hand-held photo the product moves on its ground from unit to unit, while the golden
    captures, taken with care, hardly move: a mottled table then passes the captures' agreement
    test (:func:`registered_cells`) but, under a unit, shows its mottle elsewhere. Clustered by
    the golden's colour, the ground's light cells then read darker in the unit and its dark cells
    lighter (regression to the mean), by different amounts per channel, and with each shade voting
    as a material they tilt the light (zoo hardware hand-held: the table's shades at -8 % and +8 %,
    the field 2.6 % bluer at a navy tape, which read 0.7 ΔE00 too far from the golden). As one
    material, its shades average out as the ground itself does."""
    if product_mask is None:
        return None
    m = np.asarray(product_mask, bool)
    hs, ws = shape_small
    small = cv2.resize(m[: hs * _STEP, : ws * _STEP].astype(np.float32), (ws, hs), interpolation=cv2.INTER_AREA)
    ground = (small < 0.5).ravel()
    return ground if ground.any() and not ground.all() else None


def _golden_grid(golden_rgb: np.ndarray, captures: Sequence[np.ndarray],
                 product_mask: np.ndarray | None = None) -> _GoldenGrid:
    hit = _golden_cache.get(id(golden_rgb))
    if hit is not None and hit.ref() is golden_rgb and hit.ground_key == _mask_key(product_mask):
        return hit
    if len(_golden_cache) >= 4:
        _golden_cache.clear()
    grid = _GoldenGrid(golden_rgb, captures, product_mask)
    _golden_cache[id(golden_rgb)] = grid
    return grid


@dataclass(frozen=True, slots=True)
class _Fit:
    """A light fit of a unit and what its cross-validation reuses."""

    fit: IlluminationFit
    idx: np.ndarray  # flat grid indices of its cells
    weights: np.ndarray  # final weights (robust x material prior) of those cells


class _UnitFits:
    """Light fits of one unit on subsets of its cells (the golden side shared, see :class:`_GoldenGrid`)."""

    def __init__(self, grid: _GoldenGrid, u_small: np.ndarray, ok_small: np.ndarray) -> None:
        self.grid = grid
        self.fit_ok = (ok_small & grid.registered & grid.usable & _usable(u_small)).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            self.r_t = np.ascontiguousarray((np.log(u_small.astype(np.float64)).reshape(-1, 3) - grid.log_g).T)

    def fit(self, base: np.ndarray, golden_cells: np.ndarray) -> _Fit | None:
        """Fit on the unit's usable cells of ``base`` (flat); their materials are those of
        ``golden_cells`` (the golden side of ``base``). None with fewer than ``_MIN_CELLS``."""
        idx = np.flatnonzero(base & self.fit_ok)
        if idx.size < _MIN_CELLS:
            return None
        g = self.grid
        labels, k = g.material_labels(golden_cells)
        gold = g.g_small.reshape(-1, 3)[idx]
        n_prod = idx.size if g.ground is None else int(np.count_nonzero(~g.ground[idx]))
        if k >= 2 and _n_materials(n_prod) == k:
            prior = _material_balance(gold, labels[idx])
        else:  # fewer cells than the set's materials call for: cluster these cells themselves
            prior = _material_balance(gold)
        coef, wts, scale = _irls_t(g.design_t[:, idx], self.r_t[:, idx], prior)
        fit = IlluminationFit(coef=coef, n_cells=int((wts > 0).sum()), residual_scale=float(scale))
        return _Fit(fit, idx, wts)


def _cv_uncertainty(fits: _UnitFits, full: _Fit, ref_lin: np.ndarray, weights: tuple[float, float, float]
                    ) -> float | None:
    """RMS ΔE00, at colour ``ref_lin``, of held-out-block predictions of the light field (3x3 blocks).

    The fit without a block is the fit on all cells (``full``) with that block's share taken out
    of its weighted normal equations (its final robust and material weights kept): one pass over
    the cells and nine 6x6 solves instead of nine robust refits."""
    g = fits.grid
    blocks = g.block[full.idx]
    order = np.argsort(blocks, kind="stable")  # the cells block by block: each block one slice
    bounds = np.searchsorted(blocks[order], np.arange(10))
    idx = full.idx[order]
    at = g.design_t[:, idx]
    r = fits.r_t[:, idx].T
    wt = full.weights[order]
    aw = at * wt
    lhs_all = aw @ at.T
    rhs_all = aw @ r
    w_all = float(wt.sum())
    errs: list[np.ndarray] = []
    for b in range(9):
        s, e = int(bounds[b]), int(bounds[b + 1])
        if e - s < 8 or idx.size - (e - s) < _MIN_CELLS:
            continue
        awb = aw[:, s:e]
        coef = _solve(lhs_all - awb @ at[:, s:e].T, rhs_all - awb @ r[s:e], w_all - float(wt[s:e].sum()))
        pred = coef @ at[:, s:e]
        errs.append(np.median(r[s:e] - pred.T, axis=0))  # the block's own light, robust to its texture
    if len(errs) < 3:
        return None
    ref = np.asarray(ref_lin, np.float64)
    ref_lab = linear_srgb_to_lab_d65(ref[None])[0]
    lab = linear_srgb_to_lab_d65(ref * np.exp(np.asarray(errs)))
    de = np.asarray(delta_e_2000(lab, ref_lab, *weights), np.float64).reshape(-1)
    return float(np.sqrt(np.mean(np.square(de))))


def prepare_relative_colors(golden_rgb: np.ndarray, captures: Sequence[np.ndarray], model: ZoneColorModel,
                            zones: Sequence[ColorZone], product_mask: np.ndarray | None = None) -> None:
    """Compute (and cache) what :func:`relative_zone_colors` needs from the golden alone.

    An :class:`~goldenvision.pipeline.Inspector` calls this once at load so that no unit pays
    for it: the golden grid, its registered cells, each zone's material and golden colour, and
    the materials (k-means) of each zone's fitting cells, and of those cells without another
    zone's material (a culprit, see :func:`relative_zone_colors`). Optional: the first unit
    that needs any of it computes what is missing. ``product_mask``: as
    :func:`relative_zone_colors`."""
    model._check_fitted()
    grid = _golden_grid(golden_rgb, captures, product_mask)
    per_zone = [grid.zone(golden_rgb, model, z) for z in zones]
    golden_ok = grid.registered & grid.usable
    for zg in per_zone:
        out = zg.zcells | zg.same
        grid.material_labels(golden_ok & ~out)
        for zc in per_zone if len(per_zone) <= _PREPARE_CULPRITS_UP_TO else ():
            if zc is not zg:
                grid.material_labels(golden_ok & ~(out | zc.zcells | zc.same))


def relative_zone_colors(
    unit_rgb: np.ndarray,
    valid: np.ndarray | None,
    golden_rgb: np.ndarray,
    model: ZoneColorModel,
    zones: Sequence[ColorZone],
    *,
    target_labs: Mapping[str, Sequence[float]] | None = None,
    captures: Sequence[np.ndarray] = (),
    product_mask: np.ndarray | None = None,
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
    product_mask : ndarray (H, W) bool, optional
        The product's area in golden px (the registration's, from the spec's zones); the cells
        outside it, the ground the product lies on, vote on the light as one material
        (:func:`_ground_cells`). None: every cell's colour decides its material.

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
    grid = _golden_grid(golden_rgb, captures, product_mask)
    u_lin = _decode(unit_rgb)
    v = None if valid is None else np.asarray(valid, bool)
    u_small, ok_small = _reduce(u_lin, v)
    fits = _UnitFits(grid, u_small, ok_small)
    golden_ok = grid.registered & grid.usable
    nothing = np.zeros(grid.shape_small, bool)
    # (zone index, cells left out of its light fit) -> (result, its note's parts): a culprit's
    # material may leave out nothing new, and the same cells give the same judgement
    done: dict[tuple[int, int, bytes], tuple[ColorResult, str, str] | None] = {}
    material_notes = (
        "; light fitted on the product's other materials (the zone's material left out)",
        "; the zone's material covers nearly all the product: light fitted on the rest of that material, so a "
        "change of the whole material is not detected",
    )

    def judge(j: int, extra: np.ndarray, extra_note: str) -> ColorResult | None:
        zone = zones[j]
        zg = grid.zone(golden_rgb, model, zone)
        # first the zone's material left out; when that leaves too little, only the zone itself
        for stage, out_cells in enumerate((zg.zcells | zg.same | extra, zg.zcells | extra)):
            material_note = material_notes[stage]
            key = (j, stage, np.packbits(out_cells).tobytes())
            if key not in done:
                done[key] = judge_on(j, zg, golden_ok & ~out_cells, material_note)
            hit = done[key]
            if hit is not None:
                res, m_note, unc_note = hit
                return replace(res, note=RELATIVE_NOTE + m_note + extra_note + unc_note)
        return None

    def judge_on(j: int, zg: _ZoneGolden, cells: np.ndarray, material_note: str
                 ) -> tuple[ColorResult, str, str] | None:
        zone = zones[j]
        got = fits.fit(cells.ravel(), cells)
        if got is None:
            return None
        fit = got.fit
        kl, kc, kh = (float(x) for x in zone.weights)
        wts = (kl, kc, kh)
        mj = model.index(zone.name)
        g = model._geoms[mj]
        gain = _gain_map(fit, g.y0, g.y1, g.x0, g.x1, shape)
        u_corr = u_lin[g.y0 : g.y1, g.x0 : g.x1] / gain
        ok = g.mask if v is None else g.mask & v[g.y0 : g.y1, g.x0 : g.x1]
        lab_u = linear_srgb_to_lab_d65(np.clip(u_corr, 0.0, None)).astype(np.float32)
        ru = _robust_color(lab_u, ok, g, model.cell_px, wts)
        rg = zg.golden
        golden = model.golden_lab_[mj]
        lab = golden + (np.asarray(ru.lab, np.float64) - np.asarray(rg.lab, np.float64))
        de_golden = float(delta_e_2000(ru.lab, rg.lab, *wts))
        target = target_lab_d65(zone, target_labs)
        unc = _cv_uncertainty(fits, got, zg.zone_lin, wts)
        unc_note = ""
        if unc is None:
            unc_note = "; uncertainty not measurable (too little product outside the zone), residual-based"
            zl = np.asarray(zg.zone_lin, np.float64)
            moved = linear_srgb_to_lab_d65((zl * np.exp(fit.residual_scale))[None])[0]
            unc = float(delta_e_2000(moved, linear_srgb_to_lab_d65(zl[None])[0], *wts))
        res = zone_color_result(zone, lab, golden, target, wts, de_golden, ru.uniformity_de00, ru.valid_fraction,
                                reference=RELATIVE_METHOD, uncertainty_de00=float(unc), note=None)
        return res, material_note, unc_note

    first = [judge(j, nothing, "") for j in range(len(zones))]
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
        zc = grid.zone(golden_rgb, model, zones[c])
        extra = zc.zcells | zc.same
        trial = list(out)
        for i in range(len(zones)):
            if i != c:
                again = judge(i, extra, f"; zone {zones[c].name} found off-colour, its material left out of the light fit")
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
    product_mask: np.ndarray | None = None,
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
                                   captures=captures, product_mask=product_mask)
        if rel is not None:
            return _with_clipping(rel, unit_rgb, valid, golden_rgb, model)
        note = ("no chart or station profile, and too little product outside a zone to fit the light: "
                "camera RGB assumed sRGB; light and white balance differences read as colour differences")
    else:
        note = None
    res = measure_zone_colors(lab_of(), valid, model, zones, target_labs=target_labs)
    return _with_clipping([replace(r, reference=ref, note=note) for r in res], unit_rgb, valid, golden_rgb, model)


#: A pixel is clipped when a channel is at most ``_CLIP_LO`` or at least ``_CLIP_HI`` (8-bit).
_CLIP_LO, _CLIP_HI = 1, 254


def clipped_fraction(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Share of the ``mask`` pixels of an 8-bit RGB image with a channel at its limit (0 or 255).

    Such a pixel's colour is outside what the photo recorded: a saturated colour outside the
    camera's encoding gamut (sRGB cannot hold a deep green's negative red) or an over- or
    under-exposure. Its Lab is pulled to the gamut's boundary, so a difference from an
    unclipped golden is under-read."""
    m = np.asarray(mask, bool)
    n = int(m.sum())
    if n == 0 or rgb.dtype != np.uint8:
        return 0.0
    px = rgb[m]
    return float(((px <= _CLIP_LO) | (px >= _CLIP_HI)).any(axis=-1).mean())


def _with_clipping(results: Sequence[ColorResult], unit_rgb: np.ndarray, valid: np.ndarray | None,
                   golden_rgb: np.ndarray, model: ZoneColorModel) -> list[ColorResult]:
    """Each result with its zone's clipped share of pixels, against the golden's own."""
    out = []
    for r in results:
        try:
            zm = model.mask(r.name)
        except (KeyError, ValueError):
            out.append(r)
            continue
        if zm.shape != unit_rgb.shape[:2] or zm.shape != golden_rgb.shape[:2]:
            out.append(r)
            continue
        m = zm & valid if valid is not None else zm
        out.append(replace(r, clipped_fraction=clipped_fraction(unit_rgb, m),
                           golden_clipped_fraction=clipped_fraction(golden_rgb, zm)))
    return out
