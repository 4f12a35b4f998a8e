"""Seal a golden sample and inspect units against it: the pipeline, composed.

``seal`` (implemented in :mod:`goldenvision.sealing`, re-exported here) runs every stage's
*fit* on the golden captures, streaming them; ``inspect`` runs every stage on one unit and
decides. Neither prints; files are read only through :mod:`goldenvision.imageio`.
Bad input never raises out of :func:`inspect`: the unit gets verdict ``review`` with the reason.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ._stats import mad_normal
from ._version import __version__
from .anomaly import AnomalyModel
from .calibration.applied import StationCalibration
from .calibration.color import ColorCorrection
from .calibration.profile import StationProfile, load_profile
from .color import ZoneColorModel
from .color.relative import judge_colors, prepare_relative_colors
from .context import CONTEXT_KEYS, validate_context
from .decision import MIN_VALID_FRACTION, Decision, decide
from .enums import DefectType
from .errors import CalibrationError, GoldenVisionError, ImageError, RegistrationError, SpecError
from .golden import GoldenSample
from .imageio import ImageSource, load_image
from .jpeg_noise import GRID_PHASES, error_variance, pixel_quality, recompressed, table_of_quality
from .measure import measure_dimensions
from .measure.colour_axis import by_grey
from .measure.dimensions import (edge_band_mask, feature_strains, golden_edge_lines, golden_unexplained_offsets,
                                 golden_zero_offsets)
from .measure.reference import DimensionReference, as_reference
from .measure.marker import MarkerFrame
from .measure.ruler import RulerFrame
from .measure.scale_reference import (MIN_REFERENCE_PX, ReferenceFit, reference_mask, refine_on_reference,
                                      registration_drag_cov)
from .photo_quality import SURFACE_BLUR_PX, GoldenPhoto, assess_photo, golden_photo
from .registration import RefusalCode, RegistrationModel, register, warp_to_reference
from .registration._base import _as_gray, _project_gray
from .registration.concentric import RoundBody, body_starts, check_print_on_body, find_round_body
from .registration.outline import silhouette_model
from .results import Defect, DimensionResult, RegistrationResult, UnitResult, Verdict
from .sealing import (  # noqa: F401 - the helpers are imported from here by scripts
    BODY_PINS_ANOMALY_KEY,
    MAX_STORED_CAPTURES,
    ROUND_BODY_STARTS_KEY,
    SILHOUETTE_FIRST_KEY,
    _color_correction,
    _dimension_reference,
    _find_marker,
    _find_ruler,
    _without_marker,
    _measure_gray,
    _model_versions,
    _product_mask,
    _registration_method,
    _resolve_profile,
    _resolve_targets,
    _to_frame,
    seal,
)
from .spec import Spec
from .zones import zone_mask

__all__ = [
    "seal", "inspect", "add_good_units", "Inspector", "StageModels", "ImageSource", "validate_context",
    "CONTEXT_KEYS", "set_thread_pools",
]

def set_thread_pools(*, opencv_threads: int | None = None, blas_threads: int | None = None) -> None:
    """Size OpenCV's worker pool and the BLAS libraries' thread pools for this whole process.

    OpenCV's default pool has one thread per core. A process that runs one inspection at a
    time on free cores gains from it (warps and filters split across cores); several
    inspecting processes or workers on the same cores (a service with one worker per core)
    should each take 1, so that their pools do not oversubscribe the cores. The call is made
    only when the size changes. Measured with the demo lot at size 1.0 on the 2-core build
    machine under a load of about 14: 310-327 ms CPU per unit with 1 or 2 threads alike.

    The BLAS pools (OpenBLAS, MKL, BLIS: numpy and scipy each load their own) split even
    small matrix products across threads; the pipeline's are small (per-pixel material mixes
    of a zone, least-squares fits), and on a busy machine waking the other BLAS threads costs
    far more than the product: measured on the demo lot on the 2-core build machine under a
    load of about 15, the anomaly stage's material-gain product took 114 ms per unit with
    OpenBLAS's default of one thread per core and 9 ms with 1 (the station sets 1).

    Parameters
    ----------
    opencv_threads : int, keyword-only, optional
        Threads of OpenCV's pool (>= 1). 1 runs OpenCV's functions on the calling thread.
        None leaves it as it is.
    blas_threads : int, keyword-only, optional
        Threads of every BLAS library loaded in the process (>= 1), through threadpoolctl.
        None leaves them as they are.

    Raises
    ------
    SpecError
        A size is not an int >= 1.
    """
    for name, value in (("opencv_threads", opencv_threads), ("blas_threads", blas_threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise SpecError(f"{name}: expected an int >= 1, got {value!r}")
    if opencv_threads is not None and cv2.getNumThreads() != opencv_threads:
        cv2.setNumThreads(opencv_threads)
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=blas_threads, user_api="blas")


def _boxes(masks: Sequence[np.ndarray]) -> list[tuple[int, int, int, int]]:
    """Bounding boxes ``(y0, y1, x0, x1)`` (end exclusive) of the non-empty masks; a box inside
    another is dropped."""
    boxes = []
    for mask in masks:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size:
            boxes.append((int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1))
    return [b for i, b in enumerate(boxes)
            if not any(j != i and o[0] <= b[0] and b[1] <= o[1] and o[2] <= b[2] and b[3] <= o[3]
                       and (o != b or j < i) for j, o in enumerate(boxes))]


def _lab_in_boxes(
    rgb: np.ndarray, correction: ColorCorrection, boxes: Sequence[tuple[int, int, int, int]]
) -> np.ndarray:
    """CIELAB D65 of ``rgb`` (H, W, 3) uint8 inside ``boxes``, NaN elsewhere; float32 (H, W, 3).

    The conversion is per pixel, so a box gives exactly what converting the whole image would.
    """
    lab = np.full(rgb.shape, np.nan, dtype=np.float32)
    for y0, y1, x0, x1 in boxes:
        lab[y0:y1, x0:x1] = correction.to_lab(rgb[y0:y1, x0:x1])
    return lab


def _color_calibration_record(cc: ColorCorrection) -> dict[str, Any]:
    """Which colour correction judged the unit (recorded in the result's provenance)."""
    finite = cc.residual_de00_mean == cc.residual_de00_mean
    return {"method": cc.method, "residual_de00": round(cc.residual_de00_mean, 3) if finite else None,
            "note": cc.note}


@dataclass(frozen=True, slots=True)
class StageModels:
    """The fitted stage models of one golden, loaded once by an :class:`Inspector`.

    Attributes
    ----------
    spec : Spec
    profile : StationProfile or None
        The station profile the golden was sealed with.
    product_mask : ndarray (H, W) bool or None
        Registration mask in golden px: the profile's product area (fiducials and chart
        excluded); None = the whole frame.
    registration : RegistrationModel
    color : ZoneColorModel
    anomaly : AnomalyModel
    scale_mm_per_px : float or None
        mm per golden px (the golden's record, else the profile's, else the spec's).
    target_labs : dict of str to (L*, a*, b*)
        Colour targets resolved from the colour library at seal time, by zone name (D65).
    registration_method : str
        What ``registration: auto`` resolved to for this station.
    """

    spec: Spec
    profile: StationProfile | None
    product_mask: np.ndarray | None
    registration: RegistrationModel
    color: ZoneColorModel
    anomaly: AnomalyModel
    scale_mm_per_px: float | None
    target_labs: dict[str, tuple[float, float, float]]
    registration_method: str

    @classmethod
    def from_golden(cls, golden: GoldenSample) -> "StageModels":
        """Rebuild every stage model from the golden's stored states (no refitting)."""
        profile = None if golden.profile is None else load_profile(golden.profile)
        scale_mm_per_px = golden.meta.get("scale_mm_per_px")
        if scale_mm_per_px is None:
            scale_mm_per_px = profile.scale_mm_per_px if profile is not None else golden.spec.scale_mm_per_px
        return cls(
            spec=golden.spec,
            profile=profile,
            product_mask=_product_mask(profile, golden.shape),
            registration=RegistrationModel.from_state(golden.states["registration"]),
            color=ZoneColorModel.from_state(golden.states["color"]),
            anomaly=AnomalyModel.from_state(golden.states["anomaly"]),
            scale_mm_per_px=scale_mm_per_px,
            target_labs={k: (float(v[0]), float(v[1]), float(v[2]))
                         for k, v in golden.meta.get("target_lab", {}).items()},
            registration_method=_registration_method(golden.spec, profile),
        )


def _registration_strain_var(reg: RegistrationResult) -> float:
    """Variance of a registration's strain from its own noise: its predicted 1-sigma corner error
    ``rms_px`` at the golden's half-diagonal (the length model of
    ``goldenvision.measure.dimensions._registration_length_std_px``); 0 when either is unknown."""
    rms = float(reg.rms_px)
    shape = reg.reference_shape_hw
    if shape is None or not math.isfinite(rms):
        return 0.0
    half_diag = 0.5 * math.hypot(shape[0] - 1, shape[1] - 1)
    return (rms / max(half_diag, 1.0)) ** 2


#: The JPEG quality whose rounding the anomaly stage's absolute floor (``AnomalyConfig.abs_floor``,
#: 3 levels) holds already: a photo's steps count only by their excess over this quality's
#: (:func:`goldenvision.jpeg_noise.error_variance`). Measured, not assumed: on the zoo's hand-held
#: lots (seed 0, 10 families) units photographed at 80-94 against goldens at 92-95 were judged
#: without a false flag before the term existed; at 68-77, 4 of 140 good units were flagged on the
#: surface (docs/DESIGN.md, session 30).
JPEG_FLOOR_QUALITY = 80

#: Under this JPEG quality (as the photo's pixels show it) colour and surface are not judged: the
#: photo goes to review saying so. Measured on zoo hand-held units re-saved (wallet, label, pcba,
#: wood, two each): with the rounding in the spread, the surface stayed under its threshold down to
#: 50 and failed both boards at 40 (1.01, 1.17) and a wallet at 20; a zone's mean colour moves by up
#: to a sixteenth of the DC step per channel, 0.8-1.7 ΔE00 at 50 (docs/DESIGN.md, session 30).
MIN_JPEG_QUALITY = 50

#: A photo's JPEG quality is taken down to a multiple of this for what its rounding adds to the
#: dimensions' uncertainty (:meth:`Inspector._jpeg_dimension_uncertainty`).
JPEG_DIMENSION_QUALITY_STEP = 5


def _jpeg_extra_var(rgb: np.ndarray, quality: float | None, placed: RegistrationResult, shape_hw: tuple[int, int],
                    blur_sigma_px: float) -> np.ndarray | None:
    """The rounding of a photo JPEG-compressed at ``quality`` (what its pixels show,
    :func:`goldenvision.jpeg_noise.pixel_quality`) beyond :data:`JPEG_FLOOR_QUALITY`'s, as seen
    through the anomaly stage's blur, warped into golden px: (H, W, 3) float32 levels²; None when
    the photo shows no compression that coarse (``quality`` None or at least the floor)."""
    if quality is None or quality >= JPEG_FLOOR_QUALITY:
        return None
    h = np.asarray(placed.homography, np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(h[:2, :2] / h[2, 2])))) or 1.0  # golden px per photo px
    var = error_variance(rgb, table_of_quality(quality), sigma_px=blur_sigma_px / scale,
                         reference=table_of_quality(JPEG_FLOOR_QUALITY))
    return warp_to_reference(var, placed, shape_hw)[0]


class Inspector:
    """Inspect units against one golden sample, with its stage models loaded once.

    This is what a station or a service worker holds, one per golden: building it rebuilds
    the registration, colour and anomaly models and the station profile from the golden's
    stored states; :meth:`inspect` then only runs them. Nothing is stored on the golden.

    Parameters
    ----------
    golden : GoldenSample
        A sealed (saved or loaded) golden; its provenance (id, manifest hash) is read once
        here and recorded on every result.
    opencv_threads : int or None, keyword-only
        Size of OpenCV's thread pool for the whole process, set once here (see
        :func:`set_thread_pools`; 1 for a service running one worker per core); None (the
        default) leaves it as it is.
    blas_threads : int or None, keyword-only
        Size of the BLAS libraries' thread pools for the whole process, set once here (see
        :func:`set_thread_pools`; a station takes 1); None (the default) leaves them as they are.

    Examples
    --------
    >>> inspector = gv.Inspector(gv.load_golden("sku.golden"))        # doctest: +SKIP
    >>> result = inspector.inspect("unit.png", context={"lot": "L7"})  # doctest: +SKIP
    """

    def __init__(self, golden: GoldenSample, *, opencv_threads: int | None = None,
                 blas_threads: int | None = None, calibration: StationCalibration | None = None) -> None:
        set_thread_pools(opencv_threads=opencv_threads, blas_threads=blas_threads)
        # colour-science (~1 s with the matplotlib it imports) is loaded where it is first used, so
        # that `import goldenvision` and the CLI start fast; a station pays it here, not on its first unit
        import colour  # noqa: F401
        self.golden = golden
        self.models = StageModels.from_golden(golden)
        self.calibration = calibration  # a fitted station profile (--station): undistort, colour, scale
        sealed_through = (golden.meta or {}).get("station_calibration")
        if sealed_through and calibration is None:
            raise CalibrationError(
                f"the golden was sealed through the fitted station profile {sealed_through.get('file')} (sha256 "
                f"{str(sealed_through.get('sha256'))[:12]}): its units must be inspected through a station profile "
                "too (--station PROFILE, or Inspector(golden, calibration=...)), else sizes and colours are compared "
                "across two frames")
        if calibration is not None and self.models.scale_mm_per_px is None and calibration.mm_per_px is not None:
            self.models = replace(self.models, scale_mm_per_px=calibration.mm_per_px)
        self.golden_provenance: dict[str, Any] = dict(golden.provenance())
        # Colour is judged inside the zones only: their boxes (golden px) are all that is converted to Lab.
        self._whole_registration: RegistrationModel | None = None  # fitted on first need (see _register)
        #: the product area whose outside, the ground, votes on a hand-held light field as one material
        self._colour_product_mask: np.ndarray | None = None
        # aligned on the gray the product's silhouette shows in (see _register); False: none such
        self._silhouette_registration: RegistrationModel | bool | None = None
        self._round_body: RoundBody | str | None = None  # the golden's round body, found on first need
        self._has_reference_marker: bool | None = None  # see _reference_marker
        self._color_boxes_px = _boxes([self.models.color.mask(z.name) for z in self.models.spec.colors])
        self._golden_photo: GoldenPhoto | None = None  # the golden's side of the photo check, on first need
        # the golden captures' own widths in golden px (guide the unit's edge pair; see measure_dimension)
        golden_mm = (golden.meta or {}).get("golden_dimensions_mm") or {}
        scale = self.models.scale_mm_per_px
        self._golden_widths_px = {k: float(v["mean"]) / scale for k, v in golden_mm.items()
                                  if scale and isinstance(v, dict) and v.get("mean")}
        # zeroing on the golden: the edge tool's own offset on each feature (see measure.dimensions)
        self._dimension_zero = golden_zero_offsets(self.models.spec.dimensions, golden_mm, scale)
        # ... on the golden's certified sizes where the seal was given them (else on the nominal)
        self._zeroed_on_certified = sorted(k for k in self._dimension_zero
                                           if isinstance(golden_mm.get(k), dict) and golden_mm[k].get("certified_mm"))
        # ... and the offsets too large to zero: a systematic uncertainty of their readings
        self._dimension_unexplained = golden_unexplained_offsets(self.models.spec.dimensions, golden_mm, scale)
        # how far along its edges each width is read (the golden's straight stretch; see measure.dimensions)
        # dimensions whose two materials share a lightness are read on the colour axis between them
        # (measure.colour_axis; packages sealed before it read every dimension on the grey)
        self._dim_weights: dict[str, list[float]] = dict((golden.meta or {}).get("dimension_gray_weights") or {})
        self._edge_lines = {}
        # per JPEG quality, what its rounding adds to each dimension's reading (_jpeg_dimension_uncertainty)
        self._jpeg_dim_u: dict[int, dict[str, float]] = {}
        if self.models.spec.dimensions:
            g_gray = _measure_gray(golden.reference, self.models.registration)
            for lines in by_grey(golden.reference, g_gray, list(self.models.spec.dimensions), self._dim_weights,
                                 lambda g, ds: [golden_edge_lines(g, ds, self._golden_widths_px)] * len(ds)):
                self._edge_lines.update(lines)
        # the registration dimensions are read through in the golden frame: fitted without the
        # measured edges (see measure.dimensions.edge_band_mask); built on the first such unit
        self._dim_reference: tuple[np.ndarray, np.ndarray, str, np.ndarray] | None | bool = None
        fallback = (golden.meta or {}).get("alignment_fallback")
        if fallback:  # sealed without a precise alignment: every result says how it was compared
            self.golden_provenance["alignment_fallback"] = {k: fallback.get(k) for k in ("registration", "compared_with", "not_judged")}
        self.detector = _load_detector(self.models.spec)
        if self.detector is not None:
            self.golden_provenance["detector"] = {k: self.detector.info.to_dict()[k] for k in ("name", "version", "bundle_sha256")}
        m = self.models
        if m.spec.colors and (m.profile is None or m.profile.chart is None) and (
                calibration is None or calibration.color_correction is None):
            # no chart to judge colour by: zones are judged relative to the golden; its side once, here
            self._colour_product_mask = _product_mask(m.profile, golden.shape, m.spec, golden.reference)
            prepare_relative_colors(golden.reference, golden.captures, m.color, m.spec.colors,
                                    self._colour_product_mask)

    def _jpeg_dimension_uncertainty(self, quality: float) -> dict[str, float]:
        """Per dimension read on the colour axis, the 1-sigma (mm) a photo JPEG-compressed at
        ``quality`` (what its pixels show) adds to its reading: the golden's reference photo is compressed at that
        quality with its content at each of :data:`~goldenvision.jpeg_noise.GRID_PHASES` against
        the block grid and read as it stands (its own frame, no registration), and the readings'
        shifts from its reading uncompressed give ``hypot(median, 1.4826 MAD)``. The quality is taken
        down to a multiple of :data:`JPEG_DIMENSION_QUALITY_STEP` (coarser: the larger shifts) and
        cached so (a station's camera writes one quality; nine readings of the golden the first
        time, 1.2 s on the zoo's oak board).

        A JPEG keeps luma at full resolution and chroma at half, each rounded to its table's steps;
        an edge whose two materials differ mostly in colour (read on the colour axis between them,
        :mod:`goldenvision.measure.colour_axis`) moves with the chroma's rounding. Zoo wood hand-held
        (an oak board's hole onto a grey table of nearly its lightness): units at quality 79-81 read
        the 6 mm hole 0.33-0.38 mm small against a stated 1-sigma of 0.06-0.09 mm, and a good board
        failed; the golden compressed at 81 reads it 0.12-0.34 mm small over the eight phases. The
        shift is not a correction: a unit's own grid phase and what the golden's captures already
        lost to their compression leave its sign and size per unit unknown (subtracting the median
        left the hole's errors as large, with the other sign); it is an uncertainty. Dimensions read
        on the grey are left as they are: luma is kept at full resolution and on finer steps, and the
        zoo's hand-held goldens at 80 moved their grey-read features by 0.002-0.026 mm (a woven
        panel's edge 0.067 mm), within what they state, for up to 8 s of readings per quality step."""
        step = JPEG_DIMENSION_QUALITY_STEP
        key = max(step, int(step * math.floor(float(quality) / step)))
        known = self._jpeg_dim_u.get(key)
        if known is not None:
            return known
        m = self.models
        unmeasurable = self.golden.meta.get("dimensions_not_measurable") or {}
        dims = [d for d in m.spec.dimensions if d.name not in unmeasurable and d.name in self._dim_weights]
        scale = m.scale_mm_per_px
        out: dict[str, float] = {}
        if dims and scale:
            identity = RegistrationResult(np.eye(3), ok=True, rms_px=0.0, method="identity", confidence=1.0,
                                          reference_shape_hw=self.golden.shape)

            def read(img: np.ndarray) -> dict[str, float]:
                res = by_grey(img, _measure_gray(img, m.registration), dims, self._dim_weights,
                              lambda g, ds: measure_dimensions(g, ds, identity, scale,
                                                               reference=DimensionReference.GOLDEN_FRAME,
                                                               golden_px=self._golden_widths_px,
                                                               edge_lines=self._edge_lines))
                return {d.name: r.measured_mm for d, r in zip(dims, res)
                        if isinstance(r, DimensionResult) and math.isfinite(r.measured_mm)}

            ref = self.golden.reference
            try:
                base = read(ref)
            except GoldenVisionError:  # the golden's own reading failed as a whole: nothing to compare with
                base = {}
            moved: dict[str, list[float]] = {k: [] for k in base}
            for phase in GRID_PHASES if base else ():
                try:
                    got = read(recompressed(ref, key, phase))
                except GoldenVisionError:  # this phase read nothing; the others count
                    continue
                for k, v in got.items():
                    if k in moved:
                        moved[k].append(v - base[k])
            for k, dd in moved.items():
                if 2 * len(dd) >= len(GRID_PHASES):  # read on at least half the phases
                    a = np.asarray(dd, np.float64)
                    out[k] = float(np.hypot(np.median(a), mad_normal(a)))
        self._jpeg_dim_u[key] = out
        return out

    def _register(self, frame: np.ndarray, marker: MarkerFrame | None | bool = True) -> RegistrationResult:
        """Align a unit to the golden. A unit the sealed model refuses is tried on the gray its
        silhouette shows in (:meth:`_silhouette_model`); when the golden's own captures, other units,
        needed that gray (``meta["registration_silhouette_first"]``), units are aligned on it first.
        A golden sealed without a station profile may carry a registration model restricted to the
        product area its spec's zones describe; when neither that area nor the silhouette's gray
        can pin this unit's pose (a flat zone under different light, say), the whole photo is tried
        once. Every retry has the same verification, and a refusal stands if the retry fails too
        (unless only the retry carries an estimate: :attr:`RegistrationResult.estimate`).
        On a round product with a ring concentric with its outline, an alignment that puts the print elsewhere on the body than the golden's is refused
        (:func:`goldenvision.registration.concentric.check_print_on_body`)."""
        m = self.models
        # The spec's scale marker is laid beside the product at a place of its own in every photo.
        # Where the golden's reference photo does not show it, it matches nothing there and can only
        # drag the coarse alignment: painted over (zoo part hand-held, seed 1: a plain plate with 13
        # keypoint inliers, where the marker took Fourier-Mellin's correlation and every start
        # diverged; without it, aligned). A marker the reference shows too is part of the scene the
        # golden was sealed on, and stays (the silhouette retry paints it over in any case).
        if marker is True:  # not found by the caller yet (``marker``: the spec's scale marker in ``frame``)
            marker = _find_marker(frame, m.spec, m.profile)
        marker = marker if isinstance(marker, MarkerFrame) else None
        bare = _without_marker(frame, marker)
        if marker is not None and not self._reference_marker():
            frame = bare
        silhouette_first = bool((self.golden.meta or {}).get(SILHOUETTE_FIRST_KEY))
        dense = m.registration_method not in ("none", "outline")
        if silhouette_first and dense:
            # the golden's own captures (other units) aligned only on the silhouette's gray: so do units
            silhouette_model = self._silhouette_model()
            if silhouette_model is not None:
                first = register(self.golden.reference, bare, method=m.registration_method, model=silhouette_model,
                                 mask=None)
                if first.ok:
                    return self._round_print_checked(frame, first)
        reg = register(self.golden.reference, frame, method=m.registration_method, model=m.registration,
                       mask=m.product_mask)
        if not reg.ok and dense and not silhouette_first:  # (tried first above when the golden says so)
            # before the whole photo: the silhouette's model is fitted once and aligns in a fraction of the
            # time a refusal takes (zoo wood hand-held, one golden board: every unit was refused by the
            # sealed model and by the whole photo, ~1 s each, then aligned on the silhouette's gray)
            silhouette_model = self._silhouette_model()
            if silhouette_model is not None:
                retry = register(self.golden.reference, bare, method=m.registration_method, model=silhouette_model,
                                 mask=None)
                if retry.ok or (reg.estimate is None and retry.estimate is not None):
                    reg = retry
        spec_area = m.registration.has_mask_ and (m.profile is None or m.profile.product_area_mm is None)
        if not reg.ok and spec_area:
            if self._whole_registration is None:
                self._whole_registration = RegistrationModel.fit(self.golden.reference, mask=None)
            retry = register(self.golden.reference, frame, method=m.registration_method,
                             model=self._whole_registration, mask=None)
            # a retry refused only for its predicted uncertainty still places colours and calipers
            reg = retry if retry.ok or (reg.estimate is None and retry.estimate is not None) else reg
        if not dense:
            return reg
        body = self._body()
        if not reg.ok and body is not None and (self.golden.meta or {}).get(ROUND_BODY_STARTS_KEY):
            reg = self._register_round(frame, body, reg)
        if not reg.ok:
            return reg
        return self._round_print_checked(frame, reg)

    def _body(self) -> RoundBody | None:
        """The golden's round body (found on first need), or None."""
        if self._round_body is None:
            self._round_body = find_round_body(self.golden.reference)
        return self._round_body if isinstance(self._round_body, RoundBody) else None

    def _round_print_checked(self, frame: np.ndarray, reg: RegistrationResult) -> RegistrationResult:
        """``reg`` (``frame`` aligned), refused when the product is round and the print the alignment follows sits
        elsewhere on the body than the golden's
        (:func:`goldenvision.registration.concentric.check_print_on_body`)."""
        return check_print_on_body(self._body(), frame, reg)

    def _reference_marker(self) -> bool:
        """Whether the golden's reference photo shows the spec's scale marker (found on first need)."""
        if self._has_reference_marker is None:
            m = self.models
            self._has_reference_marker = _find_marker(self.golden.reference, m.spec, m.profile) is not None
        return self._has_reference_marker

    def _silhouette_model(self) -> RegistrationModel | None:
        """The registration model on the gray in which the golden's product stands out of its
        ground, or None (fitted on first need, then kept).

        A product whose surface carries a texture of its own (every oak board its grain, every
        hide its leather) shows that texture in the luminance as strongly as its outline, and the
        golden's texture is not the unit's: the dense alignment then fits grain to grain and is
        refused (low correlation, predicted uncertainty). Such a texture varies mostly in lightness
        within one material; the product's colour against its ground does not. When the golden
        shows its product on a plain ground (:func:`goldenvision.registration.outline.silhouette`)
        and the RGB projection that best separates the two (Fisher's discriminant,
        :func:`goldenvision.registration._base._silhouette_gray_weights`) shows that contrast
        against the variation within each clearly better than the luminance, a unit that the
        sealed model cannot align is aligned on that gray, with the same verification (every
        check, rivals and basin included); the outline, the holes the ground shows through and a
        print of another colour pin the pose there. Units the sealed model aligns are unchanged."""
        if self._silhouette_registration is None:
            m, ref = self.models, self.golden.reference
            mask = _product_mask(m.profile, ref.shape[:2], m.spec, ref) if m.registration.has_mask_ else None
            self._silhouette_registration = silhouette_model(ref, mask, m.registration.gray_weights_) or False
        model = self._silhouette_registration
        return model if isinstance(model, RegistrationModel) else None

    def _placement(self, frame: np.ndarray, refused: RegistrationResult) -> RegistrationResult | None:
        """The alignment a refusal carries as its estimate (refused for its predicted uncertainty
        alone; see :attr:`RegistrationResult.estimate`), as an ``ok`` result that places the colour
        boxes and the calipers, or None: no estimate, a refusal of another kind, or (a round
        product) an estimate whose print sits elsewhere on the body than the golden's
        (:func:`goldenvision.registration.concentric.check_print_on_body`). Never recorded as the
        unit's registration, and never used for anomaly scoring."""
        if refused.ok or refused.estimate is None or refused.refusal is not RefusalCode.UNDETERMINED:
            return None
        assert refused.estimate_std_px is not None  # RegistrationResult checks they come together
        placed = replace(refused, homography=refused.estimate, ok=True, rms_px=refused.estimate_std_px,
                         reason=None, refusal=None, estimate=None, estimate_std_px=None,
                         method=f"{refused.method} estimate")
        body = self._round_body if isinstance(self._round_body, RoundBody) else None
        if body is not None:
            placed = check_print_on_body(body, frame, placed)
        return placed if placed.ok else None

    def _loosely_aligned(self, reg: RegistrationResult, colors: list, dims: list, problems: list[str],
                         provenance: dict[str, Any], timings: dict[str, float], t_start: float,
                         name: str | None, ctx: dict[str, str | float]) -> UnitResult:
        """The verdict of a unit whose alignment was refused for its predicted uncertainty alone:
        its colours and dimensions were read through the estimate (:meth:`_placement`), the
        anomaly and the detector not run. A colour or dimension that fails beyond its
        uncertainty fails the unit (a proven nonconformity, whatever else could not be judged);
        otherwise it is ``review`` for the registration, with a note on what was read."""
        d = decide(registration=reg, colors=colors, dimensions=dims, problems=problems)
        reg_reason = f"registration: {reg.reason or 'not aligned'}"
        skipped = [x for x, on in (("anomaly", bool(self.models.spec.anomaly_zones)),
                                   ("the defect detector", self.detector is not None)) if on]
        loose = (f"registration not pinned down (predicted uncertainty {reg.estimate_std_px:.2f} px): colours "
                 f"and dimensions read through its best estimate"
                 + (f"; {' and '.join(skipped)} not judged" if skipped else ""))
        others = [r for r in d.reasons if r != reg_reason]
        if d.verdict is Verdict.failed:
            reasons = (*others, f"{loose} ({reg_reason})")
        else:
            passed = [f"color {c.name}" for c in colors if c.ok and not c.clipped
                      and c.valid_fraction >= MIN_VALID_FRACTION] + \
                [f"dimension {x.name}" for x in dims if not isinstance(x, Exception) and x.ok]
            note = f"{loose}; within tolerance: {', '.join(passed)}" if passed else \
                f"{loose}; none proven within tolerance"
            reasons = (reg_reason, *others, note)
        provenance["loose_alignment"] = {"estimate_std_px": reg.estimate_std_px, "not_judged": skipped}
        timings["total"] = (time.perf_counter() - t_start) * 1e3
        return UnitResult(
            verdict=d.verdict, reasons=reasons, registration=reg, color=tuple(colors),
            dimensions=tuple(x for x in dims if not isinstance(x, Exception)),
            failed_severities=d.failed_severities, provenance=provenance, timings_ms=timings,
            unit_id=name, context=ctx,
        )

    def _residual_global(self, reg: RegistrationResult) -> bool:
        """Whether the anomaly stage may undo a global residual shift of this unit: not when a
        round product was aligned by its body (its print may have moved on it; see
        :meth:`goldenvision.anomaly.AnomalyModel.score`), on a golden sealed since that rule."""
        return not (reg.method.endswith("+body") and bool((self.golden.meta or {}).get(BODY_PINS_ANOMALY_KEY)))

    def _register_round(self, frame: np.ndarray, body: RoundBody, refused: RegistrationResult) -> RegistrationResult:
        """A round product that neither keypoints nor Fourier-Mellin aligned: registration again,
        started from the unit's body (outline and concentric ring) turned as its print pins it
        (:func:`goldenvision.registration.concentric.body_starts`), with the same verification;
        ``refused`` stands when the unit's body is not found."""
        m = self.models
        unit = find_round_body(frame)
        if not isinstance(unit, RoundBody):
            return refused
        weights = m.registration.gray_weights_
        gray = (lambda im: _project_gray(im, weights, "image")) if weights is not None else (
            lambda im: _as_gray(im, "image"))
        starts = [h for h, _ in body_starts(gray(self.golden.reference), body, gray(frame), unit)]
        retry = register(self.golden.reference, frame, method=m.registration_method, model=m.registration,
                         mask=m.product_mask, starts=starts)
        if not retry.ok and retry.estimate is None and refused.estimate is not None \
                and retry.refusal is RefusalCode.UNDETERMINED:
            # refused too, and again only as not pinned down, but from starts that held no estimate:
            # the first attempt's estimate (refused for its predicted uncertainty alone) still
            # places the colours and calipers (zoo ceramic station, seed 1: a band 0.37 mm narrow
            # went to review where the same fault on another unit, whose retry kept one, failed)
            retry = replace(retry, estimate=refused.estimate, estimate_std_px=refused.estimate_std_px)
        return retry  # its reason names every start tried as well

    def _dimension_references(self, gray: np.ndarray, reg: RegistrationResult,
                              dims: list) -> tuple[dict[str, ReferenceFit], str, np.ndarray | None]:
        """The registration dimensions are read through in the golden frame, per dimension name, and
        how it was made: the unit's registration refined on the parts of the product that are not
        measured (:func:`goldenvision.measure.scale_reference.refine_on_reference`; the reference
        px are the product less every measured feature's whole outline,
        :func:`goldenvision.measure.dimensions.edge_band_mask`, where the golden has structure):
        the rest of the product is the ruler, and neither a panel cut narrow nor another measured
        feature that is off size stretches the unit onto the golden. Without a fit the unit's own
        registration is used, and the result says so; when the fit was refused, the third value is
        how far that registration's strain may be off (the measured features' drag and its own
        noise), which the lengths' uncertainty then holds."""
        m = self.models
        if self._dim_reference is None:
            self._dim_reference = False
            g_gray = _measure_gray(self.golden.reference, m.registration)
            keep = edge_band_mask(g_gray, dims, self._golden_widths_px)
            base = _product_mask(m.profile, self.golden.shape, m.spec)
            # the product itself: the spec's zones where it places any (the ground a hand-held product
            # lies on moves from unit to unit and is no ruler), else the product area; a `full` anomaly
            # zone as the anomaly model watches it, the product (goldenvision.sealing._full_zone_region):
            # read as the spec wrote it, the colour zones alone were the ruler (zoo, one `full` zone,
            # hand-held: dimensions RMS 0.13-0.52 mm where the families' own zones give 0.04-0.26)
            regions = [z.region for z in m.spec.colors] + [z.spec.region for z in m.anomaly.zones_]
            placed = [zone_mask(r, self.golden.shape) for r in regions if not isinstance(r, str)]
            zones = np.logical_or.reduce(placed) if placed else None
            if keep is not None:
                areas = ([] if zones is None else [(keep & zones, "inside the spec's zones")]) + \
                    [(keep if base is None else keep & base, "in the product area")]
                for area, where in areas:
                    refm = reference_mask(g_gray, area)
                    if int(refm.sum()) >= MIN_REFERENCE_PX:
                        # how far the measured features can drag the unit's registration (its prior)
                        drag = registration_drag_cov(g_gray, m.product_mask,
                                                     feature_strains(g_gray, dims, self._golden_widths_px))
                        self._dim_reference = (g_gray, refm, where, drag)
                        break
        if self._dim_reference is False:
            return {}, ("the unit's own registration (no part of the product outside the measured features' "
                        "outlines has structure to take the scale from): a change of size is partly read as the "
                        "golden's"), None
        assert isinstance(self._dim_reference, tuple)
        g_gray, refm, where, drag = self._dim_reference
        # the unit's own registration may be stretched by what it absorbed of the measured features:
        # were it fitted on one feature alone, by that feature's deviation over its size; a capable
        # process (Cp >= 1) holds a feature within a third of its tolerance at 1 sigma. This prior lets
        # the reference correct the strain; how far the registration's strain is actually off is each
        # feature at its tolerance limit times its share of the registration's evidence
        # (measure.scale_reference.registration_drag_cov) and the registration's own noise: its
        # predicted corner error at the golden's half-diagonal (_registration_strain_var)
        prior = max(((d.tol_minus_mm + d.tol_plus_mm) / 6.0 / d.nominal_mm for d in dims if d.nominal_mm > 0),
                    default=None)
        error_cov = np.asarray(drag, np.float64) + _registration_strain_var(reg) * np.eye(3)
        fit = refine_on_reference(g_gray, gray, reg, refm, prior_strain_std=prior, strain_error_cov=error_cov)
        if fit is None:
            # the uncertainty then says how far the registration may be off
            return {}, ("the unit's own registration (refined on the product outside the measured features' "
                        "outlines it did not converge, or it slid on a texture that differs from unit to unit): "
                        "a change of size is partly read as the golden's, and the uncertainty holds how much"), error_cov
        return {d.name: fit for d in dims}, (
            f"the unit's registration with its scale refined on the product outside the outlines of "
            f"{', '.join(d.name for d in dims)} ({fit.reference_px} golden px of structure {where}; "
            f"the uncertainty is what that reference says about the scale at each feature)"), None

    def _photo_reference(self) -> GoldenPhoto:
        """The golden's side of the photo check (:func:`goldenvision.photo_quality.golden_photo`) over
        the product area and the anomaly zones, computed once."""
        if self._golden_photo is None:
            m = self.models
            # the product as the stages see it: its area and the anomaly zones the surface is judged in
            mask = _product_mask(m.profile, self.golden.shape, m.spec, self.golden.reference)
            for z in getattr(m.anomaly, "zones_", None) or []:
                zm = np.asarray(z.mask, bool)
                if zm.shape == self.golden.shape[:2]:
                    mask = zm.copy() if mask is None else (mask | zm)
            self._golden_photo = golden_photo(self.golden.reference, mask)
        return self._golden_photo

    def _surface_blur_px(self) -> float:
        """Extra blur (golden px) beyond which the surface is not judged: half the smallest defect's
        side of the spec's anomaly zones when that is larger than :data:`SURFACE_BLUR_PX`."""
        scale = self.models.scale_mm_per_px
        sides = [math.sqrt(z.min_area_mm2) / scale for z in self.models.spec.anomaly_zones
                 if z.min_area_mm2 and scale]
        return max([SURFACE_BLUR_PX] + [0.5 * v for v in sides])

    @property
    def rt(self) -> StageModels:
        """The stage models (the name :mod:`goldenvision.report` and scripts use)."""
        return self.models

    def evidence(self, image: ImageSource) -> dict[str, Any]:
        """Re-align a unit and return what a report shows.

        Returns
        -------
        dict
            ``frame`` (the unit in station px), ``warped`` and ``valid`` (golden px),
            ``registration``, ``correction`` (None when the chart cannot be read),
            ``golden`` (the reference), ``anomaly_map`` (None without anomaly zones) and
            ``image_sha256`` (of the bytes read).

        Raises
        ------
        GoldenVisionError
            The image cannot be read or the unit cannot be aligned.
        """
        m = self.models
        loaded = load_image(image)
        frame, _ = _to_frame(self._calibrated(loaded.rgb), m.profile)
        reg = self._register(frame)
        if not reg.ok:
            raise RegistrationError(f"registration: {reg.reason}")
        warped, valid = warp_to_reference(frame, reg, self.golden.shape)
        amap = None
        if m.spec.anomaly_zones:
            q = pixel_quality(loaded.rgb) if frame is loaded.rgb else None
            extra = _jpeg_extra_var(loaded.rgb, q, reg, self.golden.shape, m.anomaly.config.blur_sigma_px)
            amap = m.anomaly.score(warped, valid, residual_global=self._residual_global(reg), extra_var=extra).map
        try:
            correction: ColorCorrection | None = self._color_correction(frame)
        except CalibrationError:
            correction = None
        return {"frame": frame, "warped": warped, "valid": valid, "registration": reg, "correction": correction,
                "golden": self.golden.reference, "anomaly_map": amap, "image_sha256": loaded.sha256}

    def inspect(
        self,
        image: ImageSource,
        *,
        unit_id: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> UnitResult:
        """Inspect one unit.

        Parameters
        ----------
        image : path, bytes or ndarray (H, W, 3) uint8 RGB
            The unit's photo as taken at the station; read once (its sha256 is of the
            bytes that were decoded and judged).
        unit_id : str, optional
            Recorded in the result (default: the file path).
        context : mapping, optional
            Conditions of the inspection (lot, shift, material batch...), checked by
            :func:`validate_context` and recorded as ``UnitResult.context``.

        Returns
        -------
        UnitResult
            Never raises for bad input: an unreadable image, a failed calibration or
            registration, or any stage's refusal gives verdict ``review`` with the reason.

        Raises
        ------
        SpecError
            ``context`` is invalid (a caller's mistake, not the unit's).
        """
        ctx = validate_context(context)
        name = unit_id or (str(image) if isinstance(image, (str, os.PathLike)) else None)
        provenance = self._provenance()
        timings: dict[str, float] = {}
        try:
            return self._inspect(image, name, ctx, provenance, timings)
        except GoldenVisionError as exc:  # a stage refused the input: never crash a batch
            return UnitResult(  # the photo's sha256, when it was read, is in provenance already
                verdict=Verdict.review, reasons=(f"{type(exc).__name__}: {exc}",), registration=None,
                provenance=provenance, timings_ms=timings, unit_id=name, context=ctx,
            )

    __call__ = inspect

    def _provenance(self) -> dict[str, Any]:
        provenance = dict(self.golden_provenance)
        provenance["software_version"] = __version__
        provenance["spec_revision"] = self.models.spec.revision
        if self.calibration is not None:
            provenance["station_calibration"] = self.calibration.record()
        return provenance

    def _calibrated(self, rgb: np.ndarray, name: str | None = None) -> np.ndarray:
        """The photo through the fitted station profile (size checked, undistorted), if any."""
        return rgb if self.calibration is None else self.calibration.apply(rgb, name=name or "photo")

    def _color_correction(self, frame: np.ndarray) -> ColorCorrection:
        """The station chart's correction, else the fitted profile's colour model, else the photo's own chart."""
        m = self.models
        cal = None if self.calibration is None else self.calibration.color_correction
        if cal is not None and (m.profile is None or m.profile.chart is None):
            return cal
        return _color_correction(frame, m.profile)

    def _inspect(self, image: ImageSource, name: str | None, ctx: dict[str, str | float],
                 provenance: dict[str, Any], timings: dict[str, float]) -> UnitResult:
        """The stages in order; fills ``provenance`` and ``timings`` (in ms) as it goes."""
        m = self.models
        spec = m.spec
        problems: list[str] = []
        t_start = time.perf_counter()

        def review(reason: str, registration: RegistrationResult | None = None) -> UnitResult:
            timings["total"] = (time.perf_counter() - t_start) * 1e3
            return UnitResult(
                verdict=Verdict.review, reasons=(reason,), registration=registration,
                provenance=provenance, timings_ms=timings, unit_id=name, context=ctx,
            )

        try:
            loaded = load_image(image, name=name)
        except ImageError as exc:
            return review(f"image: {exc}")
        provenance["image_sha256"] = loaded.sha256
        provenance["image_nbytes"] = loaded.nbytes
        timings["read"] = (time.perf_counter() - t_start) * 1e3

        t = time.perf_counter()
        try:
            frame, info = _to_frame(self._calibrated(loaded.rgb, name), m.profile)
        except CalibrationError as exc:
            return review(f"calibration: {exc}")
        correction: ColorCorrection | None
        try:
            correction = self._color_correction(frame)
            info["color_calibration"] = _color_calibration_record(correction)
        except CalibrationError as exc:
            correction = None
            info["color_calibration"] = {"method": None, "note": f"colours not judged: {exc}"}
            if spec.colors:
                problems.append(f"colour calibration: {exc}; colours not judged")
        timings["calibration"] = (time.perf_counter() - t) * 1e3
        provenance.update(info)

        t = time.perf_counter()
        marker = _find_marker(frame, spec, m.profile)  # found once: the alignment paints it over, dimensions read it
        reg = self._register(frame, marker)
        timings["registration"] = (time.perf_counter() - t) * 1e3
        placed = reg if reg.ok else self._placement(frame, reg)
        if placed is None:
            return review(f"registration: {reg.reason or 'not aligned'}", reg)
        loose = not reg.ok  # aligned only roughly: colours and dimensions judged, nothing pixelwise
        t = time.perf_counter()
        warped, valid = warp_to_reference(frame, placed, self.golden.shape)
        timings["warp"] = (time.perf_counter() - t) * 1e3

        # the photo itself: in colour, exposed and sharp as the golden's (goldenvision.photo_quality)
        photo: set[str] = set()  # the stages the photo keeps from being judged
        jpeg_q: float | None = None  # the JPEG quality the photo's pixels show (goldenvision.jpeg_noise)
        if not loose:  # a rough alignment puts the golden's edges beside the unit's: no focus read
            t = time.perf_counter()
            q = assess_photo(warped, valid, self._photo_reference())
            provenance["photo_quality"] = q.to_dict()
            present = {"colour": bool(spec.colors), "surface": bool(spec.anomaly_zones),
                       "dimensions": bool(spec.dimensions)}
            said_of = list(q.problems(relative_colour=self._colour_product_mask is not None,
                                      surface_blur_px=self._surface_blur_px()))
            if frame is loaded.rgb:  # the block grid of a JPEG, in the photo as decoded (not a rectified frame)
                jpeg_q = pixel_quality(loaded.rgb)
                provenance["jpeg"] = {"pixel_quality": jpeg_q, "floor_quality": JPEG_FLOOR_QUALITY, "extra_noise_rms": 0.0}
                if jpeg_q is not None and jpeg_q < MIN_JPEG_QUALITY:
                    said_of.append((f"JPEG-compressed at about quality {jpeg_q:.0f} (under {MIN_JPEG_QUALITY})",
                                    ("colour", "surface"), f"send the photo as taken, or saved at quality {JPEG_FLOOR_QUALITY} or more"))
            for what, stages, change in said_of:
                blocked = [st for st in stages if present[st] and st not in photo]
                if blocked:
                    photo.update(blocked)
                    said = blocked[0] if len(blocked) == 1 else ", ".join(blocked[:-1]) + " and " + blocked[-1]
                    problems.append(f"photo: {what}: {said} not judged ({change})")
            timings["photo_check"] = (time.perf_counter() - t) * 1e3

        colors = []
        if correction is not None and spec.colors and "colour" not in photo:
            t = time.perf_counter()
            cc = correction
            colors = judge_colors(warped, valid, self.golden.reference, cc.method,
                                  lambda: _lab_in_boxes(warped, cc, self._color_boxes_px),
                                  m.color, spec.colors, target_labs=m.target_labs or None,
                                  captures=self.golden.captures, product_mask=self._colour_product_mask)
            timings["color"] = (time.perf_counter() - t) * 1e3

        dims = []
        # dimensions the golden could not measure are not judged (sealing says why and what to change)
        unmeasurable = self.golden.meta.get("dimensions_not_measurable") or {}
        if unmeasurable:
            provenance["dimensions_not_measurable"] = dict(unmeasurable)
        dim_specs = [d for d in spec.dimensions if d.name not in unmeasurable and "dimensions" not in photo]
        golden_warnings = self.golden.meta.get("golden_dimension_warnings") or []
        if golden_warnings and dim_specs:  # the golden's readings disagree (sealing.golden_dimension_warnings)
            provenance["golden_dimension_warnings"] = list(golden_warnings)
        if dim_specs and m.scale_mm_per_px is None:
            problems.append("dimensions: no mm per px from a station profile or the spec; dimensions not judged")
        elif dim_specs and m.scale_mm_per_px is not None:
            t = time.perf_counter()
            gray = _measure_gray(frame, m.registration)
            # a ruler only sets the scale: without a pinned registration it is not used (golden frame)
            ruler = None if marker is not None or loose else _find_ruler(frame, spec, m.profile, placed,
                                                                          m.scale_mm_per_px)
            dim_ref = _dimension_reference(m.profile, marker, ruler)
            ref_fits: dict[str, ReferenceFit] = {}
            strain_cov = None  # without a reference fit: how far the registration's strain may be off
            if dim_ref == "golden_frame" and loose:
                # their scale would come from the registration itself, which is not pinned down
                problems.append(f"dimensions {', '.join(d.name for d in dim_specs)}: not judged (measured in the "
                                "golden frame, whose scale comes from the registration, which is not pinned down)")
                dim_specs = []
            elif dim_ref in ("golden_frame", "marker", "ruler") and not loose:
                # a marker's reading also goes through the golden frame when that is the more certain
                # (measure.dimensions._marker_golden_length): the same refined registration
                ref_fits, how, strain_cov = self._dimension_references(gray, reg, dim_specs)
                provenance["dimension_registration"] = how
            scale = m.scale_mm_per_px
            dims = [] if not dim_specs else by_grey(
                frame, gray, dim_specs, self._dim_weights,
                lambda g, ds: measure_dimensions(g, ds, placed, scale, reference=dim_ref, marker=marker, ruler=ruler,
                                                 golden_px=self._golden_widths_px, zero=self._dimension_zero,
                                                 reference_fits=ref_fits, edge_lines=self._edge_lines,
                                                 unexplained=self._dimension_unexplained,
                                                 strain_cov=strain_cov))
            if jpeg_q is not None and dims and self._dim_weights:  # what the JPEG's chroma rounding may move readings by
                ju = self._jpeg_dimension_uncertainty(jpeg_q)
                dims = [replace(d, uncertainty_mm=float(np.hypot(d.uncertainty_mm, ju[d.name])))
                        if isinstance(d, DimensionResult) and d.uncertainty_mm is not None and d.name in ju else d
                        for d in dims]
                if ju:
                    provenance["jpeg"]["dimension_uncertainty_mm"] = {k: round(v, 4) for k, v in sorted(ju.items())}
            on_axis = sorted(d.name for d in dim_specs if d.name in self._dim_weights)
            if on_axis:  # read on the colour axis between their two materials (measure.colour_axis)
                provenance["dimensions_on_colour_axis"] = on_axis
            if self._dimension_zero:
                provenance["dimensions_zeroed_on_golden_mm"] = {k: round(v[0], 4) for k, v in self._dimension_zero.items()}
                if self._zeroed_on_certified:
                    provenance["dimensions_zeroed_on_certified_sizes"] = self._zeroed_on_certified
            if self._dimension_unexplained:
                provenance["dimensions_golden_off_nominal_mm"] = {
                    k: round(v, 4) for k, v in self._dimension_unexplained.items()}
            if spec.scale_ruler is not None and dim_specs:
                provenance["scale_ruler"] = _ruler_record(ruler, marker is not None, loose, dims)
            timings["measure"] = (time.perf_counter() - t) * 1e3

        if loose:
            return self._loosely_aligned(reg, colors, dims, problems, provenance, timings, t_start, name, ctx)

        anomaly = None
        if spec.anomaly_zones and "surface" not in photo:
            t = time.perf_counter()
            extra = _jpeg_extra_var(loaded.rgb, jpeg_q, placed, self.golden.shape, m.anomaly.config.blur_sigma_px)
            if extra is not None:  # a coarse JPEG's rounding, into golden px
                provenance["jpeg"]["extra_noise_rms"] = round(float(np.sqrt(extra[valid].mean())) if valid.any() else 0.0, 3)
            anomaly = m.anomaly.score(warped, valid, residual_global=self._residual_global(reg), extra_var=extra)
            timings["anomaly"] = (time.perf_counter() - t) * 1e3

        found: tuple[Defect, ...] = ()
        if self.detector is not None and "surface" not in photo:  # nor a trained detector on such a photo
            t = time.perf_counter()
            found = _detect(self.detector, warped, valid, self.golden.reference, m.scale_mm_per_px, spec)
            timings["detector"] = (time.perf_counter() - t) * 1e3

        d = decide(
            registration=reg, colors=colors, dimensions=dims, anomaly=anomaly,
            anomaly_severity={z.name: z.severity for z in spec.anomaly_zones}, problems=problems,
        )
        if found and spec.detector is not None and spec.detector.fail:
            d = _with_detections(d, found, spec.detector.severity)
        timings["total"] = (time.perf_counter() - t_start) * 1e3
        return UnitResult(
            verdict=d.verdict,
            reasons=d.reasons,
            registration=reg,
            color=tuple(colors),
            dimensions=tuple(x for x in dims if not isinstance(x, Exception)),
            anomaly_score=None if anomaly is None else float(anomaly.score),
            anomaly_map=None if anomaly is None else anomaly.map,
            zone_scores={} if anomaly is None else dict(anomaly.zone_scores),
            defects=(() if anomaly is None else tuple(anomaly.defects)) + found,
            failed_severities=d.failed_severities,
            provenance=provenance,
            timings_ms=timings,
            unit_id=name,
            context=ctx,
        )


# --------------------------------------------------------------------------------------
# Trained defect detector (spec `detector`; goldenvision.detect, onnxruntime only)
# --------------------------------------------------------------------------------------
def _ruler_record(ruler: RulerFrame | None, marker: bool, loose: bool, dims: Sequence[Any]) -> dict[str, Any]:
    """What became of the spec's ruler in one photo (``UnitResult.provenance["scale_ruler"]``):
    whether it was looked for and found, its tick pitch, the dimensions read through it and those
    it could not decide (their expanded uncertainty through the ruler reached half their band,
    :func:`goldenvision.results.cannot_decide`), which were read in the golden frame instead."""
    if marker:
        return {"searched": False, "why": "a known-size marker was found: the marker is the reference"}
    if loose:
        return {"searched": False, "why": "the registration is not pinned down: a ruler only sets the scale of "
                                          "lengths read through it"}
    if ruler is None:
        return {"searched": True, "found": False}
    read = [d for d in dims if not isinstance(d, Exception)]
    used = sorted(d.name for d in read if as_reference(d.reference) is DimensionReference.RULER)
    return {"searched": True, "found": True, "tick_mm": ruler.tick_mm, "pitch_px": round(float(ruler.pitch_px), 4),
            "ticks": int(len(ruler.indices)), "span_mm": round(float(ruler.span_mm), 3),
            "used_for": used, "not_decided_by_it": sorted(d.name for d in read if d.name not in used)}


def _load_detector(spec: Spec) -> Any:
    """The spec's detector bundle, verified against its pinned sha256 (and version), or None."""
    ref = spec.detector
    if ref is None:
        return None
    from .detect.runtime import DefectDetector

    det = DefectDetector(ref.bundle, expected_sha256=ref.sha256)
    if ref.version is not None and det.info.version != ref.version:
        raise SpecError(f"detector {ref.bundle}: bundle version {det.info.version!r}, the spec names {ref.version!r}")
    return det


def _detect(detector: Any, warped: np.ndarray, valid: np.ndarray, reference: np.ndarray,
            scale_mm_per_px: float | None, spec: Spec) -> tuple[Defect, ...]:
    """Detections on the unit warped into golden px, with the golden reference as template.

    A detection whose centre lies outside the valid (imaged) part of the frame is dropped.
    ``score`` is the detector's score over the bundle's threshold (1.0 = threshold), as for the
    anomaly regions.
    """
    assert spec.detector is not None
    dets = detector.detect(warped, reference)
    h, w = warped.shape[:2]
    out = []
    for (x1, y1, x2, y2), score, label in zip(dets.boxes, dets.scores, dets.labels, strict=True):
        cx, cy = int(min(max((x1 + x2) / 2, 0), w - 1)), int(min(max((y1 + y2) / 2, 0), h - 1))
        if not valid[cy, cx]:
            continue
        box = (max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0), min(int(np.ceil(x2)), w), min(int(np.ceil(y2)), h))
        area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
        out.append(Defect(
            bbox=box, score=float(score) / max(detector.score_threshold, 1e-6), zone=f"detector {detector.info.name}",
            defect_type=DefectType.other, severity=spec.detector.severity, area_px=area,
            area_mm2=None if scale_mm_per_px is None else area * scale_mm_per_px**2, defect_class=detector.classes[int(label)],
        ))
    return tuple(out)


def _with_detections(d: Decision, found: Sequence[Defect], severity: Any) -> Decision:
    """The decision with the detector's findings as failures (one reason per class)."""
    by_class: dict[str, list[Defect]] = {}
    for x in found:
        by_class.setdefault(str(x.defect_class), []).append(x)
    fails = []
    for cls, xs in by_class.items():
        worst = max(xs, key=lambda x: x.score)
        x1, y1, x2, y2 = worst.bbox
        fails.append(f"detector: {len(xs)} {cls}, worst {worst.score:.1f}\u00d7 threshold at golden px ({x1}, {y1})\u2013({x2}, {y2})")
    order = {"critical": 0, "major": 1, "minor": 2}
    sev = tuple(sorted({*d.failed_severities, severity}, key=lambda s: order[s.value]))
    return Decision(verdict=Verdict.failed, reasons=tuple(fails) + d.reasons, failed_severities=sev)


def add_good_units(
    golden: GoldenSample,
    images: Sequence[ImageSource],
    *,
    progress: Callable[[int, int], None] | None = None,
    calibration: Any = None,
) -> GoldenSample:
    """A new golden revision whose anomaly model has also learnt accepted good units.

    The golden captures are one physical unit; accepted production units teach the anomaly
    model the unit-to-unit variation (leather grain, print registration, plating tone) and
    recalibrate its thresholds (``AnomalyModel.add_good``). Each unit is aligned exactly as
    in :func:`inspect`; a unit that cannot be read or aligned stops the call with its name
    (a golden is only extended with good evidence). Save the result with
    ``predecessor=golden`` so the revision chain records it.

    Parameters
    ----------
    golden : GoldenSample
    images : sequence of path, bytes or ndarray (H, W, 3) uint8 RGB
        Photos of units a person accepted as good.
    calibration : StationCalibration, optional
        The fitted station profile the units were photographed through (needed when the
        golden was sealed through one).

    Returns
    -------
    GoldenSample
        Same spec, reference and captures; updated anomaly state; ``meta["good_units"]``
        lists the added photos' sha256.
    """
    if not images:
        raise ImageError("add_good_units: expected at least one good unit photo, got none")
    inspector = Inspector(golden, calibration=calibration)
    warped_list, valids, added = [], [], []
    for i, src in enumerate(images):
        name = str(src) if isinstance(src, (str, Path)) else f"good unit {i}"
        try:
            ev = inspector.evidence(src)
        except GoldenVisionError as exc:
            raise RegistrationError(f"good unit {name}: {exc}") from None
        warped_list.append(ev["warped"])
        valids.append(ev["valid"])
        added.append({"image": name, "sha256": ev["image_sha256"]})
        if progress:
            progress(i + 1, len(images) + 1)
    model = AnomalyModel.from_state(golden.states["anomaly"])
    model.add_good(warped_list, valids)
    states = dict(golden.states)
    states["anomaly"] = model.to_state()
    meta = {k: v for k, v in golden.meta.items() if k != "package"}
    meta["good_units"] = list(golden.meta.get("good_units", [])) + added
    meta["model_versions"] = _model_versions(model)
    if progress:
        progress(len(images) + 1, len(images) + 1)
    return GoldenSample(
        spec=golden.spec, reference=golden.reference, captures=tuple(golden.captures), states=states, meta=meta,
        profile=golden.profile,
    )


def inspect(
    image: ImageSource,
    golden: GoldenSample,
    *,
    unit_id: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> UnitResult:
    """Inspect one unit against a sealed golden sample: ``Inspector(golden).inspect(...)``.

    Builds the golden's stage models for this one call; a caller inspecting many units
    holds one :class:`Inspector` instead.

    Parameters
    ----------
    image : path, bytes or ndarray (H, W, 3) uint8 RGB
        The unit's photo, as taken at the station.
    golden : GoldenSample
    unit_id : str, optional
        Recorded in the result (default: the file name).
    context : mapping, optional
        See :meth:`Inspector.inspect`.

    Returns
    -------
    UnitResult
        Never raises for bad input: unreadable images, failed calibration or registration
        give verdict ``review`` with the reason.
    """
    return Inspector(golden).inspect(image, unit_id=unit_id, context=context)
