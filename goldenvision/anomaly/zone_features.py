"""The feature zone methods on the ONNX backbone: ``patchcore``, ``padim`` and ``texture``.

``patchcore``
    Nearest good patch feature at the same cell ± ``radius`` cells (:mod:`.features`),
    bank = golden captures + accepted units, per-cell greedy coreset of ``bank_per_cell``.
``padim``
    Per-cell Gaussian over a seeded random subset of ``padim_dims`` feature channels.
``texture``
    Position-free nearest neighbour in the zone's whole feature bank (leather, fabric).

PatchCore and PaDiM share one per-cell bank for the image (``model.pc_bank_``); ``texture``
keeps one coreset per zone (``model.tex_banks_``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import cv2
import numpy as np

from . import features as F
from ._zone import _Zone
from .variation import prepare, robust_gain

if TYPE_CHECKING:
    from .model import AnomalyModel

__all__ = ["PatchCoreMethod", "PadimMethod", "TextureMethod", "unit_features", "input_features", "clipped_cells",
           "has_fine_level", "fine_level",
           "fit_features", "fit_norms",
           "fit_evidence", "shape_maps", "feature_raw", "merged_banks", "norm_key", "norms_state", "load_norms"]


class _FeatureMethod:
    uses_features = True
    low_pass = False
    #: one score map for the whole image (same for every zone of the method)
    image_wide = True

    def floor(self, model: AnomalyModel, z: _Zone) -> float:
        """Smallest threshold of the zone (feature units)."""
        return model.config.feat_floor

    def raw_cells(self, model: AnomalyModel, z: _Zone, feat: np.ndarray) -> np.ndarray:
        """Feature distance per cell (h, w) float32, before the good-map normalisation."""
        raise NotImplementedError

    def cells(self, model: AnomalyModel, z: _Zone, feat: np.ndarray) -> np.ndarray:
        """Cell score (h, w) float32: :meth:`raw_cells` divided by the cell's typical held-out good
        distance (:func:`fit_norms`) when the model has one."""
        d = self.raw_cells(model, z, feat)
        nm = model.feat_norms_.get(norm_key(z))
        return d if nm is None or nm.shape != d.shape else (d * (1.0 / nm)).astype(np.float32)


def norm_key(z: _Zone) -> str:
    """Key of the zone's good-map normaliser: one per image-wide method, one per texture zone."""
    from .registry import get_method

    return f"method:{z.method}" if get_method(z.method).image_wide else f"zone:{z.spec.name}"


class PatchCoreMethod(_FeatureMethod):
    """``patchcore``: nearest good feature at the same cell ± ``radius`` cells."""

    name = "patchcore"

    def raw_cells(self, model: AnomalyModel, z: _Zone, feat: np.ndarray) -> np.ndarray:
        assert model.pc_bank_ is not None  # fitted for every patchcore zone
        return F.local_nn_score(feat, model.pc_bank_, radius=model.config.radius)


class PadimMethod(_FeatureMethod):
    """``padim``: Mahalanobis distance to the cell's Gaussian."""

    name = "padim"

    def raw_cells(self, model: AnomalyModel, z: _Zone, feat: np.ndarray) -> np.ndarray:
        p = model.padim_
        assert p is not None  # fitted for every padim zone
        return F.padim_score(feat, p["mean"], p["inv_cov"], p["channels"])


class TextureMethod(_FeatureMethod):
    """``texture``: position-free nearest neighbour in the zone's bank."""

    name = "texture"
    image_wide = False

    def raw_cells(self, model: AnomalyModel, z: _Zone, feat: np.ndarray) -> np.ndarray:
        return F.global_nn_score(feat, model.tex_banks_[z.spec.name])


#: The texture coreset is chosen from at most this many times its size of candidate rows
#: (seeded uniform subsample): greedy k-centre costs rows x size, and with hundreds of good
#: images the rows run to millions (PatchCore subsamples the same way before its coreset).
_POOL_FACTOR = 20


def _pool(x: np.ndarray, k: int) -> np.ndarray:
    """At most ``_POOL_FACTOR * k`` rows of ``x`` (seeded, order kept)."""
    cap = _POOL_FACTOR * k
    if len(x) <= cap:
        return x
    idx = np.sort(np.random.default_rng(0).choice(len(x), cap, replace=False))
    return x[idx]


@functools.lru_cache(maxsize=4)
def projection(c_in: int, c_out: int) -> np.ndarray:
    """Seeded Gaussian random projection (c_in, c_out) float32 (Johnson-Lindenstrauss; PatchCore §3.3)."""
    rng = np.random.default_rng(0)
    p = (rng.standard_normal((c_in, c_out)) / np.sqrt(c_out)).astype(np.float32)
    p.setflags(write=False)
    return p


#: Local neighbourhood aggregation of the patch features (PatchCore §3.1, Roth et al. 2022): each
#: cell's feature is the mean over (2 r + 1)^2 cells, so a patch is described with its context
#: and a one-cell jitter of the backbone's response averages out. r = 1 as in the paper.
FEATURE_POOL_CELLS = 1
#: The cell score map is averaged by a Gaussian of this sigma (cells) before it is read: the
#: evidence of a defect that spans a few cells adds up, a single cell's outlier (a pore, a glint,
#: a feature that fell between two good ones) is averaged down. One cell: the backbone's stride,
#: the finest scale the features resolve.
EVIDENCE_SIGMA_CELLS = 1.0


def pool_features(f: np.ndarray, r: int = FEATURE_POOL_CELLS) -> np.ndarray:
    """Mean of ``f`` (h, w, C) over (2r+1)^2 cells (reflected borders), float32."""
    if r <= 0:
        return f
    f = np.ascontiguousarray(f, np.float32)
    out = np.empty_like(f)
    for c0 in range(0, f.shape[-1], 4):  # cv2.blur takes at most 4 channels at a time
        out[..., c0 : c0 + 4] = cv2.blur(np.ascontiguousarray(f[..., c0 : c0 + 4]), (2 * r + 1, 2 * r + 1),
                                         borderType=cv2.BORDER_REFLECT).reshape(f.shape[:2] + (-1,))
    return out


def flip_averaged_features(img: np.ndarray, *, tile_px: int) -> np.ndarray:
    """Backbone features (ceil(H / 8), ceil(W / 8), 152) float32 of ``img`` (H, W, 3) uint8 RGB,
    averaged with those of its left-right mirror, mirrored back (test-time flip augmentation).

    The image is first padded (reflect) on the right to a width that is a multiple of the
    backbone's alignment (16 px), so that the mirror's cells fall exactly on the image's cells;
    the padding's cells are cropped again. A cell's feature thus no longer depends on the
    direction in which the backbone's learnt filters read the surface (its response to a line
    or an edge is not mirror-symmetric), only on what lies there (test-time augmentation by
    flips; the features are mirror-equivariant). Costs a second backbone pass (docs/DESIGN.md
    gives the KolektorSDD figures). The price: a pattern and its own mirror image at the same
    place give the same feature, so a mirrored print is left to the pixel methods.
    """
    from .backbone import _ALIGN, FEATURE_STRIDE, get_backbone

    bb = get_backbone()
    w = img.shape[1]
    wp = -(-w // _ALIGN) * _ALIGN
    if wp != w:
        img = np.pad(img, ((0, 0), (0, wp - w), (0, 0)), mode="reflect")
    f = bb.features(img, tile_px=tile_px) + bb.features(np.ascontiguousarray(img[:, ::-1]), tile_px=tile_px)[:, ::-1]
    return np.ascontiguousarray(f[:, : -(-w // FEATURE_STRIDE)] * np.float32(0.5))


def uses_flips(model: AnomalyModel) -> bool:
    """Whether the model's features are flip-averaged (:func:`flip_averaged_features`): with
    ``feature_flips`` and only position-free ``texture`` feature zones. A texture (leather grain,
    fabric, a ground surface) has no fixed geometry, so its mirror image is as good as it is; a
    registered part judged at the same place (``patchcore``, ``padim``) keeps features that tell
    a pattern from its mirror image."""
    from .registry import get_method

    feat = [z.method for z in model.zones_ if get_method(z.method).uses_features]
    return bool(model.config.feature_flips and feat and all(m == "texture" for m in feat))


#: Channels of the backbone's stride-8 block (the first of its 152; the other 112 are the stride-16
#: block upsampled): the finest level the backbone has, and the one a thin defect reaches first.
FINE_CHANNELS = 40


def has_fine_level(model: AnomalyModel) -> bool:
    """Whether the model's features carry the fine level (:func:`fine_level`): with
    ``fine_features`` and a ``feature_scale`` of at most 0.5, so that the photo holds the twice finer
    image (at a larger scale the finer level would only read an upsampled photo)."""
    c = model.config
    return bool(c.fine_features and 2.0 * c.feature_scale <= 1.0)


def fine_level(model: AnomalyModel, img: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The stride-8 block (:data:`FINE_CHANNELS`) of the golden-frame image ``img`` (H, W, 3) uint8
    resized by twice ``feature_scale``, its cells half the size of the feature grid's, each 2 x 2 of
    them max-pooled onto one cell of ``grid`` (h, w): (h, w, FINE_CHANNELS) float32.

    A crack or a scratch 1-3 px wide covers a small part of a feature cell (16 px of the photo at
    the default half scale), and the cell's mean response (the backbone's own 3 x 3 average) dilutes
    it among the texture around it; a cell of the finer level is a quarter of the area, and the
    largest of the four keeps the strongest response to such a line wherever it falls in the cell.
    The maximum, not the mean: a mean of the four is the coarse cell again. (The hypercolumn of a
    feature pyramid, Hariharan et al. 2015, doi:10.1109/CVPR.2015.7298642; max-pooling as the
    spatial pooling of SPADE/PatchCore-style local features.) Flip-averaged when :func:`uses_flips`.
    """
    from .backbone import get_backbone

    c = model.config
    h, w = model.shape_
    s = 2.0 * c.feature_scale
    if s != 1.0:
        img = cv2.resize(img, (max(16, round(w * s)), max(16, round(h * s))), interpolation=cv2.INTER_AREA)
    g = (flip_averaged_features(img, tile_px=c.tile_px) if uses_flips(model)
         else get_backbone().features(img, tile_px=c.tile_px))[..., :FINE_CHANNELS]
    gh, gw = grid
    g = np.pad(g, ((0, max(0, 2 * gh - g.shape[0])), (0, max(0, 2 * gw - g.shape[1])), (0, 0)),
               mode="edge")[: 2 * gh, : 2 * gw]
    return np.ascontiguousarray(g.reshape(gh, 2, gw, 2, -1).max(axis=(1, 3)), np.float32)


def unit_features(model: AnomalyModel, img: np.ndarray) -> np.ndarray:
    """Backbone features (h, w, proj_dim) float32 of a golden-frame image, resized by ``feature_scale``,
    averaged with its mirror's when :func:`uses_flips` (:func:`flip_averaged_features`), with the
    fine level appended when :func:`has_fine_level` (:func:`fine_level`), and averaged over the
    cell's neighbourhood (:data:`FEATURE_POOL_CELLS`)."""
    from .backbone import get_backbone

    c = model.config
    h, w = model.shape_
    full = img
    if c.feature_scale != 1.0:
        img = cv2.resize(img, (max(16, round(w * c.feature_scale)), max(16, round(h * c.feature_scale))),
                         interpolation=cv2.INTER_AREA)
    raw = (flip_averaged_features(img, tile_px=c.tile_px) if uses_flips(model)
           else get_backbone().features(img, tile_px=c.tile_px))
    if has_fine_level(model):
        raw = np.concatenate([raw, fine_level(model, full, raw.shape[:2])], axis=-1)
    f = pool_features(raw, FEATURE_POOL_CELLS)
    if 0 < c.proj_dim < f.shape[-1]:
        f = f @ projection(f.shape[-1], c.proj_dim)
    return f


#: A pixel at or above this 8-bit level in any channel of the unit's photo is clipped: a specular
#: highlight (a glint on plating, a light box's reflection on a polished surface) drives the
#: sensor to its top level, and what the surface looks like there is not recorded. 250, not 255:
#: JPEG ringing spreads a clipped region's edge a few levels below the top.
CLIP_LEVEL = 250
#: Clipped cells are no evidence only while they are a minority of the image: a photo that is
#: mostly clipped (overexposed) is scored as it is, so it fails rather than passes unseen.
CLIP_MAX_FRACTION = 0.5


def clipped_cells(model: AnomalyModel, img: np.ndarray, fshape: tuple[int, int]) -> np.ndarray:
    """Cells (h, w) bool of the feature grid ``fshape`` holding a clipped pixel of ``img``
    (:data:`CLIP_LEVEL`); none when more than :data:`CLIP_MAX_FRACTION` of the cells would be."""
    h8, w8 = fshape
    if img.dtype != np.uint8 or img.ndim != 3:
        return np.zeros(fshape, bool)
    if int(img.max()) < CLIP_LEVEL:
        return np.zeros(fshape, bool)
    flat = np.ascontiguousarray(img).reshape(-1, img.shape[2])  # any channel clipped (cv2: 5x faster than numpy)
    clip: np.ndarray = cv2.reduce(cv2.compare(flat, np.full((1, 1), CLIP_LEVEL - 1, np.float64), cv2.CMP_GT), 1, cv2.REDUCE_MAX).reshape(img.shape[:2]) > 0
    c = model.config
    h, w = clip.shape
    if c.feature_scale != 1.0:
        hs, ws = max(16, round(h * c.feature_scale)), max(16, round(w * c.feature_scale))
        clip = np.asarray(cv2.resize(clip.astype(np.uint8), (ws, hs), interpolation=cv2.INTER_AREA) > 0)
    cell = max(1, int(np.ceil(max(clip.shape[0] / h8, clip.shape[1] / w8))))
    pad = np.zeros((h8 * cell, w8 * cell), bool)
    hh, ww = min(clip.shape[0], pad.shape[0]), min(clip.shape[1], pad.shape[1])
    pad[:hh, :ww] = clip[:hh, :ww]
    out: np.ndarray = np.asarray(pad.reshape(h8, cell, w8, cell).any(axis=(1, 3)))
    return out if out.mean() <= CLIP_MAX_FRACTION else np.zeros(fshape, bool)


def input_features(model: AnomalyModel, img: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Features (h, w, proj_dim) float32 of a golden-frame unit image (uint8 RGB) with its valid
    pixels: :func:`unit_features` of :func:`gain_corrected`, with NaN in the cells that hold a
    clipped pixel (:func:`clipped_cells`). Such a cell carries no evidence: it is left out of the
    banks and the normalisers, and scores 0 on a unit (:func:`cells_to_px`)."""
    f = unit_features(model, gain_corrected(model, img, valid))
    nod = clipped_cells(model, img, f.shape[:2])
    if nod.any():
        f[nod] = np.nan
    return f


def _nan_free(bank: np.ndarray) -> np.ndarray:
    """Per-cell bank (N, h, w, C) with each no-data (NaN) sample replaced by a sample with data at
    the same cell (the bank's mean feature where no image has data there). In place (the banks
    are built from a fresh stack of the images' maps; a copy would double the largest array of a
    seal), returned for convenience."""
    bad = np.isnan(bank).any(axis=-1)  # (N, h, w)
    if not bad.any():
        return bank
    ok = ~bad
    first = np.argmax(ok, axis=0)  # first image with data per cell
    h, w = bad.shape[1:]
    ii, jj = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    donor = bank[first, ii, jj]  # (h, w, C), a copy (fancy indexing)
    none = ~ok.any(axis=0)
    if none.any():
        donor[none] = bank[ok].astype(np.float32).mean(axis=0) if ok.any() else 0.0
    for i in range(bank.shape[0]):
        bank[i][bad[i]] = donor[bad[i]]
    return bank


def gain_corrected(model: AnomalyModel, img: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """uint8 image with the per-channel gain against the golden mean removed (feature input).

    Pixels without unit data (``~valid``: a warp's fill, blended with black within a pixel of
    the frame) are filled with the golden mean where the golden has data: the backbone's
    receptive field would otherwise read the fill as content, in the unit's cells next to it and
    in the banks (a registration-``none`` golden frame resized from photos of slightly different
    heights has a dark first or last row on some photos and not on others)."""
    p = prepare(img, sigma_px=0)
    g = robust_gain(p, model.mean_, valid & (model.n_ > 0))
    p = p * (1.0 / g)
    fill = ~valid & (model.n_ > 0)
    if fill.any():
        p[fill] = model.mean_[fill]
    return np.clip(p + 0.5, 0, 255).astype(np.uint8)


#: Thin, long defects (a crack, a scratch, a seam slip) are a second evidence shape beside the
#: isotropic one: the cell map is averaged along lines, an anisotropic Gaussian of sigma
#: ``(along, across)`` cells at :data:`LINE_ORIENTATIONS` orientations, and the largest of the
#: orientations is kept (a bank of oriented matched filters; the steerable-filter idea of Freeman
#: & Adelson 1991, doi:10.1109/34.93808). A line of cells each a little above the goods adds up
#: along its length, while the noise of a good map (and a round glint) is averaged down.
#: sigma_along 4 cells = a line about 10 cells long (160 px at the default half-scale stride);
#: across 0.5 cell: the line is one cell wide. 16 orientations (11.25 degrees apart): a line
#: between two of them is at most 5.6 degrees off, 0.4 cell at one sigma along (< sigma across).
LINE_SIGMA_CELLS = (4.0, 0.5)
LINE_ORIENTATIONS = 16


@functools.lru_cache(maxsize=4)
def _line_kernels(along: float, across: float, n: int) -> tuple[np.ndarray, ...]:
    """Unit-sum anisotropic Gaussian kernels (float32), one per orientation k pi / n."""
    r = int(np.ceil(3 * max(along, across)))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    out = []
    for t in np.arange(n) * np.pi / n:
        u = xx * np.cos(t) + yy * np.sin(t)
        v = -xx * np.sin(t) + yy * np.cos(t)
        k = np.exp(-0.5 * (u / along) ** 2 - 0.5 * (v / across) ** 2)
        out.append((k / k.sum()).astype(np.float32))
    return tuple(out)


def shape_maps(cells: np.ndarray) -> np.ndarray:
    """The cell evidence averaged at each defect shape, (2, h, w) float32: [0] isotropic (Gaussian
    of :data:`EVIDENCE_SIGMA_CELLS`), [1] along lines (:data:`LINE_SIGMA_CELLS`, the largest of
    :data:`LINE_ORIENTATIONS` orientations). Borders reflected."""
    c = np.ascontiguousarray(cells, np.float32)
    iso = c if EVIDENCE_SIGMA_CELLS <= 0 else cv2.GaussianBlur(c, (0, 0), EVIDENCE_SIGMA_CELLS,
                                                                borderType=cv2.BORDER_REFLECT)
    line = np.full(c.shape, -np.inf, np.float32)
    for k in _line_kernels(*LINE_SIGMA_CELLS, LINE_ORIENTATIONS):
        np.maximum(line, cv2.filter2D(c, -1, k, borderType=cv2.BORDER_REFLECT), out=line)
    return np.stack([iso, line])


def aggregate_cells(cells: np.ndarray, null: np.ndarray | None = None) -> np.ndarray:
    """Cell evidence at the defect's shape, (h, w) float32.

    Without ``null`` (a model fitted before the shapes, or from one image): the isotropic
    average alone. With ``null`` (one value per shape of :func:`shape_maps`: the median over
    held-out good images of the shape's image maximum, :func:`fit_evidence`): each shape's map
    in units of its own typical good maximum, and the larger of the shapes. A shape whose
    average is noisier on good images (the isotropic one, where round glints count) thus counts
    no more than a quieter one, and neither shape is lost: a round stain is still found by the
    first, a crack by the second.
    """
    m = shape_maps(cells)
    if null is None or len(null) != len(m):
        return m[0]
    return np.max(m * (1.0 / np.maximum(np.asarray(null, np.float32), 1e-6))[:, None, None], axis=0)


def cells_to_px(model: AnomalyModel, cells: np.ndarray, null: np.ndarray | None = None) -> np.ndarray:
    """Cell score map -> golden px, after aggregating the evidence at the defect's shape
    (:func:`aggregate_cells`; ``null`` as there)."""
    cells = aggregate_cells(np.nan_to_num(cells, nan=0.0), null)
    h, w = model.shape_
    hs, ws = max(16, round(h * model.config.feature_scale)), max(16, round(w * model.config.feature_scale))
    up = cv2.resize(cells, (cells.shape[1] * 8, cells.shape[0] * 8), interpolation=cv2.INTER_LINEAR)[:hs, :ws]
    return cv2.resize(up, (w, h), interpolation=cv2.INTER_LINEAR)


def zone_cells(model: AnomalyModel, z: _Zone, fshape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(z.mask.astype(np.uint8), (fshape[1], fshape[0]), interpolation=cv2.INTER_AREA) > 0


def _banks(model: AnomalyModel, feats: list[np.ndarray], *, cheap: bool = False
           ) -> tuple[np.ndarray | None, dict | None, dict[str, np.ndarray]]:
    """(per-cell bank, PaDiM, texture banks) of ``feats``; ``cheap`` takes a seeded random texture
    bank instead of the greedy coreset (the normaliser's inner folds)."""
    c = model.config
    methods = {z.method for z in model.zones_}
    bank = _nan_free(np.stack(feats))  # (N, h, w, C)
    nod = np.stack([np.isnan(f[..., 0]) for f in feats])  # (N, h, w) no-data cells
    pc: np.ndarray | None = None
    padim: dict | None = None
    tex: dict[str, np.ndarray] = {}
    if methods & {"patchcore", "padim"}:
        pc = F.per_position_coreset(bank, c.bank_per_cell).astype(np.float16)
    if "padim" in methods:
        ch = np.random.default_rng(0).choice(bank.shape[-1], size=min(c.padim_dims, bank.shape[-1]), replace=False)
        ch.sort()
        assert pc is not None  # set just above ("padim" in methods)
        mean, inv = F.fit_padim(pc.astype(np.float32), ch, radius=c.radius)
        padim = {"channels": ch.astype(np.int64), "mean": mean, "inv_cov": inv}
    for z in model.zones_:
        if z.method == "texture":
            zc = zone_cells(model, z, bank.shape[1:3])
            x = _pool(bank[zc[None] & ~nod], c.texture_bank)
            if cheap:
                sel = np.sort(np.random.default_rng(0).choice(len(x), min(len(x), c.texture_bank), replace=False))
            else:
                sel = F.greedy_coreset(x, c.texture_bank)
            tex[z.spec.name] = x[sel].astype(np.float16)
    return pc, padim, tex


def fit_norms(model: AnomalyModel, feats: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Typical held-out good distance per cell, one map (h, w) float32 per :func:`norm_key`
    (the first part of :func:`fit_evidence`)."""
    return fit_evidence(model, feats)[0]


def fit_evidence(model: AnomalyModel, feats: list[np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Good-map normalisers and shape nulls, each a dict by :func:`norm_key`.

    Normalisers (h, w) float32: a nearest-neighbour distance is not equally large everywhere on
    good images: cells at the image border (the backbone's zero padding), at an edge that moves a
    little, at a glint or at a part of the product that varies from unit to unit are always far
    from the bank, and the image maximum of the raw map is read there rather than at a defect
    (KolektorSDD: the maximum of 81 of 87 good photos lay on the border). Each cell's distance is
    therefore divided by its root-mean-square over *held-out* good images (cross-fitted over
    ``min(n_folds, n)`` folds of ``feats``, each scored against banks of the other folds), shrunk
    towards the zone's median cell by ``norm_prior`` pseudo-images so that a few golden captures
    give a stable map, and never below that median: cells where the goods agree more than usual
    (flat print, a noise-free synthetic) are not sharpened, since a unit's resampling or lighting
    differs from the captures' there more than among them. Distances are thus only ever scaled
    down where the goods vary, and 1.0 = the typical good distance of the zone.

    Shape nulls (S,) float32, S = the shapes of :func:`shape_maps`: the median over the same
    held-out good images of each shape's image maximum (inside the zone) of the normalised map,
    so that :func:`aggregate_cells` reads every shape in units of its own typical good maximum.

    The thresholds are learnt on the aggregated scale as before. Both empty with fewer than 2
    images or ``norm_prior < 0``.
    """
    from .registry import get_method

    c = model.config
    n = len(feats)
    if n < 2 or c.norm_prior < 0:
        return {}, {}
    k = min(c.n_folds, n)
    zones = {norm_key(z): z for z in model.zones_ if get_method(z.method).uses_features}
    held: dict[str, list[np.ndarray]] = {key: [] for key in zones}  # float16: n maps of (h, w) are kept
    saved = (model.pc_bank_, model.padim_, model.tex_banks_)
    try:
        for f in range(k):
            model.pc_bank_, model.padim_, model.tex_banks_ = _banks(
                model, [feats[j] for j in range(n) if j % k != f], cheap=True)
            for i in range(f, n, k):
                for key, z in zones.items():
                    held[key].append(get_method(z.method).raw_cells(model, z, feats[i]).astype(np.float16))
    finally:
        model.pc_bank_, model.padim_, model.tex_banks_ = saved
    norms, nulls = {}, {}
    for key, maps in held.items():
        hw = (int(maps[0].shape[0]), int(maps[0].shape[1]))
        ms = np.zeros(hw, np.float64)
        cnt = np.zeros(hw, np.float64)
        for d in maps:
            d64 = d.astype(np.float64)
            ok = ~np.isnan(d64)
            ms[ok] += d64[ok] ** 2
            cnt += ok
        ms /= np.maximum(cnt, 1)
        z = zones[key]
        zc = zone_cells(model, z, hw) if not get_method(z.method).image_wide else np.ones(hw, bool)
        if not zc.any():
            zc = np.ones(hw, bool)
        seen = zc & (cnt > 0)
        g = float(np.median(ms[seen])) if seen.any() else 1.0
        shrunk = (cnt * ms + c.norm_prior * g) / (cnt + c.norm_prior)
        nm = norms[key] = np.sqrt(np.maximum(shrunk, max(g, 1e-12))).astype(np.float32)
        peaks = np.array([[s[zc].max() for s in shape_maps(np.nan_to_num(d.astype(np.float32) / nm, nan=0.0))]
                          for d in maps])  # (n, S)
        nulls[key] = np.maximum(np.median(peaks, axis=0), 1e-6).astype(np.float32)
    return norms, nulls


def fit_features(model: AnomalyModel, feats: list[np.ndarray]) -> None:
    """Banks of ``feats``, their good-map normalisers and shape nulls (:func:`fit_evidence`) into ``model``."""
    model.pc_bank_, model.padim_, model.tex_banks_ = _banks(model, feats)
    model.feat_norms_, model.feat_nulls_ = fit_evidence(model, feats)


def norms_state(model: AnomalyModel) -> dict:
    """State entries of the good-map normalisers and shape nulls (for ``AnomalyModel.to_state``)."""
    if not model.feat_norms_:
        return {}
    keys = sorted(model.feat_norms_)
    st = {"feat_norm_keys": keys, "feat_norm": np.stack([model.feat_norms_[k] for k in keys]).astype(np.float32)}
    if model.feat_nulls_ and sorted(model.feat_nulls_) == keys:
        st["feat_null"] = np.stack([model.feat_nulls_[k] for k in keys]).astype(np.float32)
    return st


def load_norms(model: AnomalyModel, state: dict) -> None:
    """Restore :func:`norms_state` entries (a state without them scores unnormalised distances;
    one without shape nulls aggregates isotropically, as before the line shape)."""
    if "feat_norm" in state:
        arr = np.asarray(state["feat_norm"], np.float32)
        keys = [str(k) for k in state["feat_norm_keys"]]
        if arr.ndim != 3 or len(keys) != arr.shape[0]:
            raise ValueError(f"feat_norm: expected one (h, w) map per key, got {arr.shape} for {len(keys)} keys")
        model.feat_norms_ = {k: arr[i] for i, k in enumerate(keys)}
        if "feat_null" in state:
            nul = np.asarray(state["feat_null"], np.float32)
            if nul.ndim != 2 or nul.shape[0] != len(keys):
                raise ValueError(f"feat_null: expected one row of shape nulls per key, got {nul.shape} for {len(keys)} keys")
            model.feat_nulls_ = {k: nul[i] for i, k in enumerate(keys)}


def feature_raw(model: AnomalyModel, z: _Zone, feat: np.ndarray, cache: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Raw feature score map (golden px) of zone ``z``. PatchCore and PaDiM maps do not depend on
    the zone (one bank for the image), so with ``cache`` they are computed once per unit."""
    from .registry import get_method

    if cache is not None and get_method(z.method).image_wide:
        if z.method not in cache:
            cache[z.method] = feature_raw(model, z, feat)
        return cache[z.method]
    from .registry import get_method

    return cells_to_px(model, get_method(z.method).cells(model, z, feat), model.feat_nulls_.get(norm_key(z)))


def merged_banks(model: AnomalyModel, feats: list[np.ndarray]) -> tuple[np.ndarray | None, dict | None, dict[str, np.ndarray]]:
    """Banks of the current model extended by ``feats`` (bounded by the coresets)."""
    c = model.config
    pc, padim, tex = model.pc_bank_, model.padim_, dict(model.tex_banks_)
    if not feats:
        return pc, padim, tex
    nod = np.stack([np.isnan(f[..., 0]) for f in feats])  # (N, h, w) no-data cells
    fs = np.stack(feats)
    if pc is not None:
        pc = F.per_position_coreset(_nan_free(np.concatenate([pc, fs.astype(np.float16)])),
                                    c.bank_per_cell).astype(np.float16)
    if padim is not None:
        # Refit from the merged per-cell coreset (bounded memory; k-centre keeps the
        # extremes, so the Gaussian errs wide, i.e. towards fewer false rejects).
        ch = padim["channels"]
        assert pc is not None  # a padim model always has the per-cell bank
        mean, inv = F.fit_padim(pc.astype(np.float32), ch, radius=c.radius)
        padim = {"channels": ch, "mean": mean, "inv_cov": inv}
    for z in model.zones_:
        if z.method == "texture":
            zc = zone_cells(model, z, fs.shape[1:3])
            x = np.concatenate([tex[z.spec.name].astype(np.float32), _pool(fs[zc[None] & ~nod], c.texture_bank)])
            tex[z.spec.name] = x[F.greedy_coreset(x, c.texture_bank)].astype(np.float16)
    return pc, padim, tex
