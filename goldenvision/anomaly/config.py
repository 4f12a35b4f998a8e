"""Tuning of the anomaly stage (:class:`AnomalyConfig`, stored in the model state)."""

from __future__ import annotations

from dataclasses import dataclass

from .threshold import DEFAULT_ALPHA
from .variation import BLUR_SIGMA_PX

__all__ = ["AnomalyConfig"]


@dataclass(frozen=True)
class AnomalyConfig:
    """Tuning of the anomaly stage (all stored in the model state).

    Attributes
    ----------
    abs_floor : float
        Absolute spread floor, grey levels (0-255).
    rel_floor : float
        Spread floor as a fraction of the golden mean.
    floor_prior_n : float
        The two floors weigh as this many accepted units (``AnomalyModel.floor_weight_``): after
        more production units than that were accepted (``add_good``), their own variance shows
        the unit-to-unit variation and the floors shrink as ``floor_prior_n / (n - 1)``. Golden
        captures do not count (they may be one unit photographed again). States saved without
        the key: 0 (whole).
    grad_px : float
        Sub-pixel misregistration tolerated at edges through the spread, px.
    shift_px : int
        Whole-pixel misregistration tolerated by the min/max tolerance band, px.
    scene_shift_px : float
        The tolerance band also holds the golden captures' *scene envelope* (:mod:`.envelope`):
        each capture eroded / dilated by this many px before the comparison's blur, so the two
        edges of a gap or ridge thinner than the blur may each move by that much (parts that
        move against each other from unit to unit: a chain's teeth beside the slider); 0 = off.
        Texture zones keep the band of their low-passed mean. A state saved without this key has
        no envelope and is scored as it was fitted (``AnomalyModel.from_state``).
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
    max_residual_shift_px : float
        Largest global shift (px) left by registration that ``score`` measures and undoes
        (phase correlation); 0 = off. Larger shifts are registration's job. 10 px: "pre-aligned"
        scans (``registration: none``) are off by up to ~9 px (DeepPCB: 10 % of pairs over 4 px,
        phase-correlation peak 0.2-0.9), while spurious peaks of periodic content lie far out.
    min_residual_shift_px : float
        Residual shifts below this (px) are left alone (no resampling blur on registered units).
    feature_min_shift_px : float
        Feature zones (``patchcore``, ``padim``, ``texture``) read the unit as registered, without
        the residual corrections of ``score``, unless its residual shift is at least this (px). The
        golden captures' held-out scores that set their thresholds are read without a resampling,
        and a sub-pixel resampling blurs the unit the backbone sees: PaDiM from 5 captures of a
        printed label read new captures at 0.92 unshifted and 1.56 after a 0.5 px resampling, so 7
        of 24 good captures were flagged, none with this rule. The backbone runs once per unit
        then, not once per pass. States saved without the key: 0 (every unit resampled).
    max_residual_strain : float
        Largest linear part of a global residual misalignment (scale, shear, rotation: each entry
        of ``A - I`` of an affine, dimensionless) that ``score`` measures (ECC, Evangelidis &
        Psarakis 2008) and undoes where the first pass reaches the threshold; 0 = translation
        only (the default: a registration has fitted scale and rotation, so a linear residual
        is the product's own). ``seal`` sets 0.03 when the spec has ``registration: none``:
        two "pre-aligned" scans differ by a scanner's scale calibration of 1-3 % per axis
        (DeepPCB: up to 2.4 % x 0.8 %, +-8 px at the corners of 640 px once the translation is
        removed), far more than the local alignment's ``local_shift_px``.
    local_shift_px : int
        Largest local residual misalignment (px) that ``score`` measures block by block and
        undoes where the first pass reaches the threshold (:mod:`.local_shift`); 0 = off.
    local_shift_from_golden : bool
        Fit the local alignment's radius on the golden captures (with at least three real
        captures): their leave-one-out local misalignment's 99th percentile, rounded up, plus
        1 px, at most ``local_shift_px``. A rigid part in a station whose captures agree to a
        tenth of a px gets 1 px, so a hole 4 px out of position is not realigned away; soft goods
        or hand-held photos whose captures move keep more. States saved without the key: off
        (``local_shift_px`` as before).
    ground_see_through : bool
        Judge the ground seen through the product's holes as the golden saw it (:mod:`.ground`):
        zone pixels that show the surface around the product in every golden capture, and that
        show a unit's own surface (its border band's colour) in the unit, are scored as the
        golden's mean there. The surface under a hand-held photo is not the product. Off by itself,
        with the reason kept, where the ground is not a uniform surface distinct from the product.
        States saved without the key: off (scored as before).
    local_block_px : int
        Smallest block side of that local alignment, px (grown to 4 sides of the zone's
        smallest defect, at most ``4 * local_block_px``).
    local_trunc : float
        Truncation of the grey difference in the block cost (grey levels, 0-255).
    structure_window_px : float
        Smallest Gaussian window (sigma, px) sharing one local change (displacement, focus,
        contrast) in the structure residual of ``variation`` zones (:mod:`.structure`), judged
        once ``add_good`` has taught the model production units; 0 = off.
    structure_context : float
        The structure residual's focus and contrast changes are estimated from the surroundings of
        each pixel outside its window (a ring out to this many window sigmas), the displacement
        from the window itself, so a small part gone is not read as its window's contrast halved (:func:`.structure._fit_with_context`); <= 1 = all from the window (what
        states saved without this key load with).
    structure_from_golden : bool
        ``variation`` zones of a type whose structure every unit shares (print, stitching, other:
        ``structure.GOLDEN_STRUCTURE_TYPES``) judge that structure residual from the golden
        captures alone, counted where it exceeds the expected largest ``|z|`` over the zone's
        independent samples (the captures of one unit cannot show the next unit's). A part or a
        stitch thinner than the misregistration band is otherwise "explained" as misregistration.
        False (packages sealed before it) = the residual waits for taught units in every zone.
    nested_texture_floor : bool
        A ``variation`` zone lying on a ``texture_variation`` zone (at least
        ``zone_variation.ON_TEXTURE_SHARE`` of its pixels inside it: an engraving on grain, a print
        on a fabric) has the texture's threshold floor, the expected largest ``|z|`` over its own
        samples, as a seam on its weave has (:func:`.zone_variation.on_texture`): its spread holds
        the texture's term, but the golden captures, one unit, share one realisation of the texture
        and cannot calibrate its threshold. False (packages sealed before it) = ``var_floor``.
    exact_loo_max : int
        With up to this many captures the thresholds come from exact leave-one-out; with more,
        the fit streams the images and cross-fits the held-out scores over ``n_folds`` folds.
    n_folds : int
        Folds of that cross-fitting.
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
    norm_prior : float
        Each feature cell's distance is divided by its RMS over held-out good images
        (``zone_features.fit_norms``), shrunk towards the zone's median cell by this many
        pseudo-images; < 0 = no normalisation (raw distances).
    feature_flips : bool
        Test-time flip averaging of the backbone features of models whose feature zones are all
        position-free ``texture`` zones (``zone_features.uses_flips``): each cell's feature is the
        mean of the image's and its left-right mirror's (mirrored back), on the golden captures and
        on every unit alike; twice the backbone time. A state saved
        without this key was fitted without it and is scored without it (``AnomalyModel.from_state``).
    fine_features : bool
        The features of every feature zone carry a finer level beside the backbone's two
        (``zone_features.fine_level``): the stride-8 block of the image at twice ``feature_scale``
        (the photo itself at the default 0.5), each 2 x 2 of its cells max-pooled onto one feature
        cell, so that a defect thinner than a cell (a 1-3 px crack) is not averaged away among the
        texture around it. Only while ``feature_scale <= 0.5`` (the photo holds the finer image).
        About 5x the backbone time of a unit. A state saved without this key was fitted without it
        and is scored without it (``AnomalyModel.from_state``).
    tail_threshold : bool
        With between ``1 / (2 alpha)`` and ``1 / alpha - 1`` held-out good scores (50-98 at alpha
        0.01: a lot of accepted units, too few for the conformal rank), a zone's threshold is the
        ``1 - alpha`` quantile of a Gumbel law fitted to them, at most ``2 alpha`` of them above it
        (``threshold.good_score_threshold(tail=True)``), instead of 1.07-1.14x their maximum. A state
        saved without this key recalibrates (``add_good``) with the margin rule it was sealed with.
    proj_dim : int
        Backbone features (152 channels, 192 with ``fine_features``) are projected to this many
        dimensions by a fixed seeded Gaussian random projection (Johnson-Lindenstrauss; PatchCore
        §3.3) before every feature model (0 = keep them all): 2.4x faster distances, smaller banks.
    tex_sigma_mm : float
        Low-pass sigma of ``texture_variation`` zones, mm (total, including ``blur_sigma_px``);
        the largest one: see ``tex_sigma_matched``.
    tex_sigma_matched : bool
        A zone's low-pass is at most matched to its smallest defect: a disc of ``min_area_mm2``
        (radius ``r``) keeps 63 % of its contrast under a Gaussian of sigma ``r / sqrt(2)``, and
        the texture the low-pass no longer averages out is in the spread (``texture_spread``
        measures it at the zone's own sigma). False (packages sealed before it) = ``tex_sigma_mm``
        for every zone.
    tex_window_mm : float
        Window (Gaussian sigma, mm) of the local texture variance of ``texture_variation`` zones.
    tex_sigma_px : float
        Low-pass sigma in px when the model has no ``scale_mm_per_px``.
    tex_scale_max : float
        ``texture_variation`` zones are also judged at larger scales, their low-pass sigma times
        2, 4, ... up to this factor (bounded by the zone), each with its own texture spread and
        threshold floor; a zone's evidence is the most significant scale
        (:func:`.zone_variation.multiscale_raw`). 1 = one scale (packages sealed before it).
    tex_prior_weighted : bool
        The grain prior in a texture zone's spread (``2 var_tex``, :func:`.zone_variation.texture_spread`)
        weighs as the spread floors (``AnomalyModel.floor_weight_``): accepted units show their grain
        in the variance itself. States saved without the key: False (whole).
    captures_texture_ratio : float
        A texture zone whose golden captures differ per pixel (median variance over the zone) by at
        least this share of the texture's own variance (``tex_sd_**2``) is calibrated by their
        leave-one-out scores, floored by ``var_floor``, instead of the texture floor
        (:func:`.zone_variation.captures_vary`): captures of several units show other grains, and where
        the captures' noise already exceeds the grain another unit's grain adds less than they show.
        0 = never (the floor stays until accepted units are taught); sealing without a station sets
        0: careful golden photos taken by hand do not stand for production's.
    tex_fine : bool
        ``texture_variation`` zones are also judged at full resolution (:mod:`.fine`): the golden
        captures' full-resolution mean, a spread that holds the texture's realisation-to-realisation
        difference at that resolution, and a threshold of its own (the expected largest ``|z|`` over
        the zone's samples), so that a scratch, a fibre, a crack or a bubble, thin enough to vanish in
        the low-pass, is judged at its full contrast. States saved without the key: off.
    tex_structure_materials : bool
        In a ``texture_variation`` zone, a material lying in the zone's nested print, stitching or
        ``other`` zones (an engraving's char, a print's ink) takes the texture variance of the
        zone's other materials, not its own strokes' residual
        (:func:`.zone_variation.structure_pixels`). States saved without the key: off.
    fine_unit_texture : bool
        In the full-resolution channel of a texture zone (:mod:`.fine`), the floors' and the
        texture's share of a pixel's spread is at most what the unit itself differs from the golden
        by in that material (:func:`.fine.unit_texture_spread`): a texture variance read on the golden
        alone also holds the product's fixed thin structure (a tread's walls), which every unit
        shares. States saved without the key: off.
    n_materials : int
        Most golden colour clusters (materials) per zone for the colour normalisation.
    material_min_frac : float
        A material needs at least this fraction of the zone's pixels ...
    material_min_px : int
        ... and at least this many px, else it is merged into the others.
    material_gain_limit : float
        A material's gain stays within ``[1/limit, limit]`` times the zone's overall gain.
    shading_sigma_mm : float
        Sigma (mm, golden scale) of a smooth per-channel shading field of ``variation`` zones:
        the unit's ratio to the recoloured golden, clipped to ``1 +- shading_clip``, averaged
        over the zone with this Gaussian, multiplies the golden before comparison, so a soft
        highlight or shade that moves with the light (glaze, plating, under a hand-held photo's
        light) is not a defect while a spot much smaller than the sigma keeps its contrast;
        0 = off (the default, and what states saved without it load with).
    shading_clip : float
        Largest shading ratio change a pixel contributes (a defect's strong contrast is bounded).
    shading_offset : bool
        The shading field also has a smooth offset (:func:`.zone_variation.shading_field`): a
        highlight adds the lamp's light, the same grey levels on a dark material as on a light
        one. States saved without the key: off (the ratio alone, as before).
    """

    abs_floor: float = 3.0
    rel_floor: float = 0.03
    floor_prior_n: float = 10.0
    grad_px: float = 0.5
    shift_px: int = 1
    scene_shift_px: float = 0.75
    blur_sigma_px: float = BLUR_SIGMA_PX
    alpha: float = DEFAULT_ALPHA
    var_floor: float = 3.0
    feat_floor: float = 1.0
    valid_erode_px: int = 2
    max_residual_shift_px: float = 10.0
    min_residual_shift_px: float = 0.3
    feature_min_shift_px: float = 1.0
    max_residual_strain: float = 0.0
    local_shift_px: int = 3
    local_shift_from_golden: bool = True
    ground_see_through: bool = True
    local_block_px: int = 48
    local_trunc: float = 32.0
    structure_window_px: float = 2.0
    structure_context: float = 4.0
    structure_from_golden: bool = True
    nested_texture_floor: bool = True
    exact_loo_max: int = 12
    n_folds: int = 5
    merge_px: int = 0
    region_low: float = 0.5
    feature_scale: float = 0.5
    tile_px: int = 1024
    radius: int = 1
    bank_per_cell: int = 8
    padim_dims: int = 48
    texture_bank: int = 2000
    proj_dim: int = 64
    feature_flips: bool = True
    fine_features: bool = True
    tail_threshold: bool = True
    norm_prior: float = 2.0
    tex_sigma_mm: float = 0.5
    tex_sigma_matched: bool = True
    tex_window_mm: float = 2.0
    tex_sigma_px: float = 5.0
    tex_scale_max: float = 4.0
    tex_prior_weighted: bool = True
    captures_texture_ratio: float = 0.6
    tex_fine: bool = True
    tex_structure_materials: bool = True
    fine_unit_texture: bool = True
    n_materials: int = 6
    material_min_frac: float = 0.01
    material_min_px: int = 200
    material_gain_limit: float = 3.0
    shading_sigma_mm: float = 0.0
    shading_clip: float = 0.15
    shading_offset: bool = True
