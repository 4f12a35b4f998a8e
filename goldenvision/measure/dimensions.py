"""Dimensions of a spec: calipers and circles placed in golden px, mapped into the unit image
through the registration, measured there and turned into mm, in the unit's metric frame or,
when the unit's frame is not metric, in the golden frame (:class:`DimensionReference`).

Uncertainty (``DimensionResult.uncertainty_mm``, one standard deviation):

* edges: each edge position's standard deviation from its erf fit (``Edge.uncertainty_px``,
  calibrated in ``scripts/bench_measure.py``), the two ends combined in quadrature (for a
  diameter, twice the radius' standard deviation);
* registration (golden frame only): the length ``L`` (golden px) is read through the
  registration, whose predicted 1-sigma corner error is ``RegistrationResult.rms_px`` at
  distance ``R`` (half the golden image's diagonal) from the centre. A length error is a
  difference of two mapping errors, of the linear part of the map, so it is taken as
  ``rms_px * L / R``: exact for a scale error about the image centre, larger than the true
  figure when part of the corner error is translation or rotation (neither changes a length). Without the golden shape (a result not from
  :func:`goldenvision.registration.register`) the whole ``rms_px`` is counted;
  With a :class:`~goldenvision.measure.scale_reference.ReferenceFit` (the registration refined
  on the parts of the product that are not measured, what the pipeline passes), the length's
  standard deviation from that fit's strain covariance instead;
* the two in quadrature, times mm per px. The scale's own uncertainty (station calibration,
  golden scale) is not included;
* zeroed on the golden (``zero``, see below): the zero's own standard error and the golden
  captures' spread (the same physical unit photographed again: the whole chain's
  reproducibility, registration included, which the fits' figures above underestimate), in
  quadrature.

Widths read along their edges
-----------------------------
The spec's width is the body's width. A caliper alone reads a burr that crosses its band as a
wider body, and a part lying askew as ``1/cos`` wider. With an :class:`EdgeLine` (from
:func:`golden_edge_lines`: how far along its edges the golden's two edges run straight), each
edge is traced on strips of the caliper's band width on both sides of its centre line and fitted
by a robust line (Theil-Sen slope, median intercept, Tukey refit); the width is the two lines'
distance at the caliper's centre line, across the edges (times ``cos`` of their angle over the
golden's own). A burr on a minority of the strips is an outlier of its edge (an outline defect
for the anomaly zones), not a change of width. Without an edge line (a tooth, a notch: edges that
end at once) the caliper alone is read.

Zeroing on the golden (a gauge mastered on its master part)
-----------------------------------------------------------
An edge is located where the grey profile steps, and a real edge's profile is not a clean step:
a lit bevel, a dark chamfer ring around a hole, the lens' blur on a small circle, a soft fabric
edge. The tool therefore reads every unit of one design a little off, by the same amount, as
long as the photos are alike. The golden captures are measured by the same tool at sealing
(``GoldenSample.meta["golden_dimensions_mm"]``); the golden is the master, its size the spec's
nominal, so :func:`golden_zero_offsets` takes ``nominal - golden mean`` as the tool's offset on
that feature and adds it to every unit's reading. Where the golden's own sizes were measured by a
reference instrument (``seal(golden_dimensions_mm=...)``, recorded per capture as
``certified_mm``: a master's certificate, or each of a golden of several units), the offset is
the mean of ``certified - reading`` over the captures instead, and its spread the tool's alone. An offset larger than
:data:`ZERO_MAX_PX` golden px is not an edge tool's error but a golden that is itself off
nominal (or a caliper on another feature): it is not applied. Which of the two it is, the golden
alone cannot tell, so such an offset is an unexplained systematic difference between the tool
and the spec on that feature (:func:`golden_unexplained_offsets`): it enters every unit's
reading of it as a rectangular ±|offset| (GUM 4.3.7, ``u = |offset| / sqrt(3)``), and a reading
within it of a limit is "not proven" (zoo wood hand-held: the tool reads a 1 mm round-over,
the golden itself 0.63 mm narrow, 2.9 golden px; good units failed on a reading that claimed
±0.26 mm).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.special import gammaincc  # the chi-square's survival (golden_readings_disagree)

from ..errors import MeasurementError, SpecError
from ..results import DimensionResult, RegistrationResult, cannot_decide
from ..spec import DimensionSpec
from ..transform import apply_homography, local_scale, map_points_to_moving, map_points_to_reference
from .calipers import Edge, _check_gray, measure_caliper_edges
from .fitting import measure_circle, tukey_weights
from .marker import MarkerFrame
from .ruler import RulerFrame
from .scale_reference import ReferenceFit, strain_diameter_std_px, strain_length_std_px
from .reference import DimensionReference, as_reference

#: a circle found further than this share of its search band from where it was looked for is read
#: again about the centre found (:func:`_measure_px`)
RECENTRE_SHARE = 0.25

__all__ = ["measure_dimension", "measure_dimensions", "golden_zero_offsets", "golden_unexplained_offsets",
           "golden_readings_disagree", "edge_band_mask", "measured_outlines",
           "golden_edge_lines", "EdgeLine", "feature_strains", "DimensionReference", "RELATIVE_THRESHOLD",
           "AMBIGUITY_RATIO", "ZERO_MAX_PX"]

#: Edges weaker than this fraction of the strongest in a caliper are ignored for dimensions.
RELATIVE_THRESHOLD = 0.25
#: For `distance`, the third strongest edge must be weaker than this fraction of the second.
AMBIGUITY_RATIO = 0.8
#: With the golden's own width known: edges down to this fraction of the strongest may form the
#: pair, and the first/last pair is replaced by the pair nearest the golden's width when the
#: first/last pair is further from it than this share (a highlight's edge taken for the outline).
GOLDEN_EDGE_FLOOR = 0.08
GOLDEN_PAIR_SLACK = 0.03
#: When the first/last rule finds no pair at all (a strong edge of the ground or a shadow in the
#: caliper leaves the product's edges under RELATIVE_THRESHOLD), the pair nearest the golden's
#: width is measured if it is within this share of it; else the unit goes to review.
GOLDEN_FALLBACK_SLACK = 0.05
#: Largest offset (golden px, times the golden's mm per px) taken as the edge tool's own error on a
#: feature when zeroing on the golden: an edge's systematic error stays within about a pixel.
ZERO_MAX_PX = 1.5


def _golden_offsets(dims: Sequence[DimensionSpec], golden_dimensions_mm: Mapping[str, object] | None,
                    scale_mm_per_px: float | None) -> list[tuple[str, float, float | None, int, bool]]:
    """Per dimension with a finite golden mean: (name, ``nominal - golden mean`` mm, or with certified
    sizes the mean of ``certified - reading`` (:func:`_certified_readings`), the mean's standard error mm
    or None with a single reading, number of readings, whether the offset is within :data:`ZERO_MAX_PX`
    golden px); empty without a record or a scale."""
    out: list[tuple[str, float, float | None, int, bool]] = []
    if not golden_dimensions_mm or not scale_mm_per_px or not (scale_mm_per_px > 0):
        return out
    for dim in dims:
        rec = golden_dimensions_mm.get(dim.name)
        if not isinstance(rec, Mapping):
            continue
        mean = rec.get("mean")
        vals = rec.get("values") or []
        if mean is None or not math.isfinite(float(mean)):
            continue
        n = max(1, len(vals))
        off = float(dim.nominal_mm) - float(mean)
        std = rec.get("std")
        certified = rec.get("certified_mm") or []
        keep = _certified_readings(rec, certified, len(vals)) if len(certified) == len(vals) and vals else []
        if keep:
            # each capture's reading against the certified size it stands for: the tool's offset alone,
            # and its spread the tool's (not the golden units' sizes, which the nominal would count)
            diffs = np.asarray([size for _, size in keep], np.float64) - np.asarray([vals[k] for k, _ in keep], np.float64)
            n = int(diffs.size)
            off = float(diffs.mean())
            std = float(diffs.std(ddof=1)) if diffs.size > 1 else None
        sem = float(std) / math.sqrt(n) if std is not None and n > 1 and math.isfinite(float(std)) else None
        out.append((dim.name, off, sem, n, abs(off) <= ZERO_MAX_PX * float(scale_mm_per_px)))
    return out


def _certified_readings(rec: Mapping[str, object], certified: Sequence[float], n: int) -> list[tuple[int, float]]:
    """(index, the size the reading stands for) of the golden readings in ``rec`` that a certified size
    can zero. A reading of its own unit's size (``rec["own_frame"]``, recorded at sealing: read in the
    capture's own metric frame, on capture 0, or without registration) stands for that unit's certified
    size. A capture of another unit read in the golden frame went through its registration onto
    capture 0, which fits its outline and takes its size for capture 0's: it stands for capture 0's
    (zoo wood hand-held, a golden of three boards: zeroed on each board's own size, the height and the
    hole read worse than zeroed on the nominal, 51 and 46 of 72 readings within the bar against 56).
    Without capture 0's reading such readings are left out; a package without the record uses every
    reading at its own size."""
    caps, own = rec.get("captures"), rec.get("own_frame")
    if not isinstance(caps, list) or not isinstance(own, list) or len(caps) != n or len(own) != n:
        return [(k, float(certified[k])) for k in range(n)]
    first = next((float(certified[k]) for k in range(n) if caps[k] == 0), None)
    return [(k, float(certified[k]) if own[k] or first is None else first) for k in range(n)
            if own[k] or first is not None]


def golden_zero_offsets(dims: Sequence[DimensionSpec], golden_dimensions_mm: Mapping[str, object] | None,
                        scale_mm_per_px: float | None) -> dict[str, tuple[float, float | None, int]]:
    """Per dimension: (offset mm added to a unit's reading, the golden mean's standard error mm
    or None with a single capture, number of golden captures), for zeroing on the golden (module
    notes). ``golden_dimensions_mm`` is ``GoldenSample.meta["golden_dimensions_mm"]`` (name ->
    ``{"mean", "std", "values"}``). A dimension without a golden record, or whose golden reads
    more than :data:`ZERO_MAX_PX` golden px from nominal, gets no offset."""
    return {name: (off, sem, n) for name, off, sem, n, small in
            _golden_offsets(dims, golden_dimensions_mm, scale_mm_per_px) if small}


def golden_unexplained_offsets(dims: Sequence[DimensionSpec], golden_dimensions_mm: Mapping[str, object] | None,
                               scale_mm_per_px: float | None) -> dict[str, float]:
    """Per dimension: ``nominal - golden mean`` (mm) where it is over :data:`ZERO_MAX_PX` golden px
    and so not zeroed (:func:`golden_zero_offsets`): the golden off nominal or the tool on
    another edge, which the golden cannot tell apart (module notes). Same inputs."""
    return {name: off for name, off, _, _, small in
            _golden_offsets(dims, golden_dimensions_mm, scale_mm_per_px) if not small}


#: The golden captures' readings of one feature disagree (:func:`golden_readings_disagree`) when the
#: probability of their chi-square about their weighted mean, under their stated uncertainties, is
#: below this, and their standard deviation is at least :data:`GOLDEN_SPREAD_SHARE` of the feature's
#: half tolerance band (a spread a gauge would not notice is not worth a warning).
GOLDEN_SPREAD_P = 1e-3
GOLDEN_SPREAD_SHARE = 0.1


def golden_readings_disagree(dims: Sequence[DimensionSpec], golden_dimensions_mm: Mapping[str, object] | None
                             ) -> dict[str, dict[str, object]]:
    """Per dimension whose golden captures read it further apart than their stated uncertainties
    allow, without certified sizes: ``{"values", "mean", "sd", "chi2_per_dof"}`` (mm).

    One unit photographed again reads alike within its readings' uncertainty; several approved units
    read their own sizes (zoo apparel at a station, a golden of three shirts: 90.00, 90.12 and
    90.30 mm). The golden is zeroed as the nominal (:func:`golden_zero_offsets`), so every unit is
    then read against the units' mean size, which may be off nominal by as much as they differ
    (every apparel reading 0.14 mm large, none within the station's 0.05 mm bar). Certified sizes
    (``seal(golden_dimensions_mm=...)``) zero each capture on its own unit, so no warning is due.
    ``golden_dimensions_mm`` is ``GoldenSample.meta["golden_dimensions_mm"]``; a record without
    ``uncertainties`` (sealed before they were kept) is not judged."""
    out: dict[str, dict[str, object]] = {}
    if not golden_dimensions_mm:
        return out
    for dim in dims:
        rec = golden_dimensions_mm.get(dim.name)
        if not isinstance(rec, Mapping) or rec.get("certified_mm"):
            continue
        vals, uncs = rec.get("values") or [], rec.get("uncertainties") or []
        if len(vals) < 2 or len(uncs) != len(vals) or any(u is None or not float(u) > 0 for u in uncs):
            continue
        v, u = np.asarray(vals, np.float64), np.asarray(uncs, np.float64)
        if not (np.all(np.isfinite(v)) and np.all(np.isfinite(u))):
            continue
        w = 1.0 / (u * u)
        mean = float((w * v).sum() / w.sum())
        chi2, dof = float((w * (v - mean) ** 2).sum()), v.size - 1
        sd = float(v.std(ddof=1))
        if float(gammaincc(0.5 * dof, 0.5 * chi2)) < GOLDEN_SPREAD_P and \
                sd >= GOLDEN_SPREAD_SHARE * 0.5 * (dim.tol_minus_mm + dim.tol_plus_mm):
            out[dim.name] = {"values": [round(float(x), 4) for x in v], "mean": round(float(v.mean()), 4),
                             "sd": round(sd, 4), "chi2_per_dof": round(chi2 / dof, 1)}
    return out


#: Half-width of the band kept out of the dimensions' registration around each golden edge:
#: this share of the feature's size in golden px, at least :data:`EDGE_BAND_MIN_PX`.
EDGE_BAND_SHARE = 0.05
EDGE_BAND_MIN_PX = 6.0


def edge_band_mask(golden_gray: np.ndarray, dims: Sequence[DimensionSpec],
                   golden_px: Mapping[str, float] | None = None) -> np.ndarray | None:
    """Golden px where the registration used for dimensions in the golden frame may look:
    False on the measured features' outlines, else True; None when no dimension can be
    measured on the golden image.

    In the golden frame the rest of the product is the ruler, but a registration fitted on the
    whole product also fits the very edges being measured: a panel cut 2 % narrow is stretched
    onto the golden's and reads nominal (measured on the zoo's hand-held apparel: panel width
    error 1.84 mm). Two parts are left out:

    * widened by ``max(EDGE_BAND_MIN_PX, EDGE_BAND_SHARE * size)``, the lines across the caliper
      through each width or distance's two golden edges, over the whole image (the whole side of the outline, not only where the caliper crosses it); a
      diameter's ring of that half-width around its circle;
    * widened by ``max(EDGE_BAND_MIN_PX, OUTLINE_BAND_SHARE * size)``, the whole outline each
      measured edge lies on (:func:`measured_outlines`): the golden's edge pixels connected to
      the measured edges. A feature that is wider moves its whole
      outline, not only the sides the caliper crosses: a plate 0.36 mm wider moves its rounded
      corners outward too, and a homography fitted on those corners stretched the unit back onto
      the golden's width (zoo jewellery hand-held: a +0.36 mm pendant read +0.01 mm). A measured
      dimension must not be the reference of itself."""
    g = _check_gray(golden_gray)
    keep = np.ones(g.shape, dtype=bool)
    found = False
    for band in _feature_bands(g, dims, golden_px):
        keep &= ~band[1]
        found = True
    return keep if found else None


def _feature_bands(g: np.ndarray, dims: Sequence[DimensionSpec], golden_px: Mapping[str, float] | None
                   ) -> list[tuple[DimensionSpec, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]:
    """Per dimension measurable on the golden grey ``g``: (dim, the golden px that may move with it
    (:func:`edge_band_mask`'s two parts), the px of its own outline (the second part; the first
    without one), its centre (x, y) golden px, the unit vector (x, y) it is measured along or None
    for a diameter)."""
    h, w = g.shape
    ident = RegistrationResult(np.eye(3), ok=True, rms_px=0.0, method="identity", confidence=1.0,
                               reference_shape_hw=(h, w))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = []
    for dim in dims:
        try:
            size_px, _, pts, _ = _measure_px(g, dim, ident, 1.0, (golden_px or {}).get(dim.name))
        except MeasurementError:
            continue
        m = max(EDGE_BAND_MIN_PX, EDGE_BAND_SHARE * size_px)
        direction = None
        if dim.measure == "diameter":
            c = np.asarray(pts[0], np.float64)
            band = np.abs(np.hypot(xx - c[0], yy - c[1]) - 0.5 * size_px) <= m
            ang = np.linspace(0.0, 2.0 * math.pi, 64, endpoint=False)
            seeds = c + 0.5 * size_px * np.stack([np.cos(ang), np.sin(ang)], axis=1)
        else:
            cal = dim.caliper
            assert cal is not None
            a = math.radians(cal.angle_deg)
            direction = np.array([math.cos(a), math.sin(a)])
            band = np.zeros((h, w), dtype=bool)
            for q in pts[:2]:
                band |= np.abs((xx - q[0]) * direction[0] + (yy - q[1]) * direction[1]) <= m
            seeds = np.asarray(pts[:2], np.float64)
            c = seeds.mean(axis=0)
        outline = measured_outlines(g, seeds)
        moving = band
        if outline.any():
            r = int(math.ceil(max(EDGE_BAND_MIN_PX, OUTLINE_BAND_SHARE * size_px)))
            moving = cv2.dilate(outline.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
            band = band | moving
        # what moves with the feature lies within its own extent (an outline connected to a longer
        # one does not carry the feature's strain beyond the feature's edges)
        if direction is None:
            moving = moving & (np.hypot(xx - c[0], yy - c[1]) <= 0.5 * size_px + m)
        else:
            moving = moving & (np.abs((xx - c[0]) * direction[0] + (yy - c[1]) * direction[1]) <= 0.5 * size_px + m)
        out.append((dim, band, moving, c, direction))
    return out


def feature_strains(golden_gray: np.ndarray, dims: Sequence[DimensionSpec],
                    golden_px: Mapping[str, float] | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """How each measured feature deforms the golden image at its tolerance limit, for
    :func:`goldenvision.measure.scale_reference.registration_drag_cov`: per dimension measurable on
    the golden, (the px of its outline, (H, W) bool: the golden's edge px connected to the measured
    edges, widened as :func:`edge_band_mask` does, which leaves them out of the reference; its centre (x, y) golden px; its strain as a 2 x 2 tensor). A feature off by half its
    tolerance band, where its verdict is decided (ISO 14253-1), is strained by ``s = (tol_minus +
    tol_plus) / 2 / nominal``: along the caliper (``s u u^T``) for a width or distance, in every
    direction (``s I``) for a diameter."""
    g = _check_gray(golden_gray)
    out = []
    for dim, _, band, c, direction in _feature_bands(g, dims, golden_px):
        if not dim.nominal_mm > 0:
            continue
        s = (dim.tol_minus_mm + dim.tol_plus_mm) / 2.0 / dim.nominal_mm
        tensor = s * (np.eye(2) if direction is None else np.outer(direction, direction))
        out.append((band, np.asarray(c, np.float64), tensor))
    return out


#: Half-width of the band kept out around a measured feature's whole outline: this share of its
#: size (a feature 5 % larger moves its outline by 2.5 % of its size), at least EDGE_BAND_MIN_PX.
OUTLINE_BAND_SHARE = 0.025
#: Edge pixels of the golden at least this share of the measured edges' own gradient belong to an
#: outline (:func:`measured_outlines`).
OUTLINE_GRADIENT_SHARE = 0.3


def measured_outlines(golden_gray: np.ndarray, seeds_px: np.ndarray, *, sigma_px: float = 1.0) -> np.ndarray:
    """The golden's outlines through the measured edge points: (H, W) bool, golden px.

    The gradient magnitude (Gaussian derivative, ``sigma_px``) is thresholded at
    :data:`OUTLINE_GRADIENT_SHARE` of the weakest seed's own gradient (the strongest within 2 px
    of each seed ``(x, y)`` golden px); the 8-connected regions of that edge map that touch a
    seed are returned. A texture or print much weaker than the measured edge is not joined to
    it; a feature that touches the outline (a bail on a pendant's top edge) is part of it."""
    g = np.asarray(golden_gray, np.float32)
    b = cv2.GaussianBlur(g, (0, 0), sigma_px)
    mag = np.hypot(cv2.Sobel(b, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(b, cv2.CV_32F, 0, 1, ksize=3)) / 8.0
    h, w = mag.shape
    seeds = np.asarray(seeds_px, np.float64).reshape(-1, 2)
    seed_mag, seed_px = [], []
    for x, y in seeds:
        xi, yi = int(round(x)), int(round(y))
        x0, x1, y0, y1 = max(0, xi - 2), min(w, xi + 3), max(0, yi - 2), min(h, yi + 3)
        if x0 >= x1 or y0 >= y1:
            continue
        win = mag[y0:y1, x0:x1]
        k = int(np.argmax(win))
        seed_mag.append(float(win.flat[k]))
        seed_px.append((y0 + k // win.shape[1], x0 + k % win.shape[1]))
    out = np.zeros((h, w), dtype=bool)
    if not seed_mag or not (min(seed_mag) > 0):
        return out
    edge = (mag >= OUTLINE_GRADIENT_SHARE * min(seed_mag)).astype(np.uint8)
    n, labels = cv2.connectedComponents(edge, connectivity=8)
    hit = {int(labels[yx]) for yx in seed_px} - {0}
    if hit:
        out = np.isin(labels, sorted(hit))
    return out


def _edge_std(e: Edge) -> float:
    return e.uncertainty_px if np.isfinite(e.uncertainty_px) else 0.1


def measure_dimension(
    gray: np.ndarray,
    dim: DimensionSpec,
    registration: RegistrationResult,
    scale_mm_per_px: float,
    *,
    sigma_px: float = 1.0,
    reference: DimensionReference | str = DimensionReference.UNIT_SCALE,
    marker: MarkerFrame | None = None,
    golden_px: float | None = None,
    zero: tuple[float, float | None, int] | None = None,
    reference_fit: ReferenceFit | None = None,
    edge_line: EdgeLine | None = None,
    ruler: RulerFrame | None = None,
    unexplained_mm: float = 0.0,
    strain_cov: np.ndarray | None = None,
) -> DimensionResult:
    """Measure one spec dimension in the unit image.

    The feature is placed in golden px by the spec and mapped into unit px with
    :func:`goldenvision.transform.map_points_to_moving` (caliper end points and centre;
    the band width scaled by :func:`goldenvision.transform.local_scale` of the inverse
    homography). The edges are always found in the unit image; ``reference`` says in which
    frame their distance is taken:

    * ``"station_profile"`` / ``"unit_scale"``: in unit px, times ``scale_mm_per_px`` (mm per
      unit px). Use ``"station_profile"`` when the unit photo is in a station's metric frame.
    * ``"golden_frame"``: the edge points mapped into golden px through ``registration``
      (:func:`goldenvision.transform.map_points_to_reference`; a diameter times the
      registration's local length factor at the centre), times ``scale_mm_per_px`` (mm per
      *golden* px). For photos without a metric frame: the camera's distance and tilt cancel.

    * ``width``: from the first edge (of ``dim.polarity``, if given) to the last edge of
      the opposite polarity along the caliper (a bar or strap seen across).
    * ``distance``: between the two strongest edges (the first of ``dim.polarity`` if
      given); ambiguous (error) when a third edge is at least 80 % as strong as the second.
    * ``diameter``: twice the radius of :func:`measure_circle`; ``dim.polarity`` is read
      along the outward radius (a dark hole in a light part is "dark_to_light"). The
      radius and search band are scaled by the registration's local (area) scale.

    Edges weaker than 25 % of the caliper's strongest are ignored.

    Parameters
    ----------
    gray : ndarray, shape (H, W) or (H, W, 3)
        The unit image in unit px (see the module notes for dtypes).
    dim : DimensionSpec
    registration : RegistrationResult
        unit px -> golden px.
    scale_mm_per_px : float
        mm per unit px (> 0).
    sigma_px : float, keyword-only
        Gaussian-derivative scale of the edge detector, px.
    reference : DimensionReference or str, keyword-only
        ``"unit_scale"`` (default, the behaviour before this parameter existed),
        ``"station_profile"``, ``"golden_frame"``, ``"marker"`` or ``"ruler"``; see above.
    marker : MarkerFrame, keyword-only
        For ``reference="marker"``: the known-size marker found in the unit photo
        (:func:`goldenvision.measure.reference.find_scale_marker`); the edge points are mapped
        through its plane into mm and ``scale_mm_per_px`` is not used.
    ruler : RulerFrame, keyword-only
        For ``reference="ruler"``: the ruler found in the unit photo
        (:func:`goldenvision.measure.ruler.find_scale_ruler`). The length is read in the golden
        frame and scaled by the ruler (:func:`_ruler_golden_length`), which needs
        ``reference_fit``; without it, when the ruler maps to nothing, or when the ruler's expanded
        uncertainty reaches half the tolerance band (the registration carried far out to the ruler:
        the reading could decide nothing, as ``goldenvision.decision`` says of such a reference), the
        length is the golden frame's and the result says ``reference="golden_frame"``.
    golden_px : float, keyword-only
        The golden captures' own measurement of this width in golden px, when known. A
        ``width`` whose first/last edge pair is more than :data:`GOLDEN_PAIR_SLACK` from it is
        measured on the pair of opposite edges (down to :data:`GOLDEN_EDGE_FLOOR` of the
        strongest) nearest it instead: the outline's weak edge beside a strong highlight.
    zero : (offset_mm, sem_mm or None, n), keyword-only
        Zeroing on the golden (module notes, :func:`golden_zero_offsets`): ``offset_mm`` is added
        to the reading; its standard error ``sem_mm`` (None: one golden capture, taken as this
        reading's own uncertainty over sqrt(n)) and the golden captures' standard deviation
        (``sem_mm * sqrt(n)``) to the uncertainty in quadrature.
    unexplained_mm : float, keyword-only
        The golden's offset from nominal that was too large to zero (:func:`golden_unexplained_offsets`):
        ``|unexplained_mm| / sqrt(3)`` joins the uncertainty in quadrature.
    reference_fit : ReferenceFit, keyword-only
        For ``reference="golden_frame"``: the unit's registration refined on the parts of the
        product that are not measured (:func:`goldenvision.measure.scale_reference.refine_on_reference`).
        Its registration replaces ``registration`` and its scale's covariance is the length's
        registration uncertainty (instead of ``rms_px`` times the length over the half-diagonal).
    strain_cov : ndarray, shape (3, 3), or None, keyword-only
        In the golden frame without ``reference_fit``: how far the registration's strain
        ``(m00 - 1, m01, m11 - 1)`` may be off because it also fitted the measured features (each at
        its tolerance limit times its share of the registration's evidence,
        :func:`goldenvision.measure.scale_reference.registration_drag_cov`, and its own noise). The
        length's share of it joins the uncertainty: a registration that absorbed part of a change
        of size says by how much it may have.

    Returns
    -------
    DimensionResult
        ``reference`` as given; ``uncertainty_mm`` is one standard deviation from the edge
        fits and, in the golden frame, the registration (see the module notes).
        ``edges_unit_px`` are the edge points used, (x, y) unit px.

    Raises
    ------
    MeasurementError
        The message starts with the dimension's name: caliper off the image, no edge, no
        edge pair, ambiguous edges.
    """
    if not (scale_mm_per_px > 0 and math.isfinite(scale_mm_per_px)):
        raise SpecError(f"scale_mm_per_px: expected a finite number > 0, got {scale_mm_per_px}")
    ref = as_reference(reference)
    if ref is DimensionReference.MARKER and marker is None:
        raise SpecError("reference='marker' needs the marker found in the unit photo (marker=MarkerFrame)")
    if ref is DimensionReference.RULER and ruler is None:
        raise SpecError("reference='ruler' needs the ruler found in the unit photo (ruler=RulerFrame)")
    g = _check_gray(gray)
    if reference_fit is not None and (ref.in_golden_frame or ref in (DimensionReference.MARKER,
                                                                      DimensionReference.RULER)):
        registration = reference_fit.registration
    try:
        size_px, unc_px, pts, to_golden = _measure_px(g, dim, registration, sigma_px, golden_px, edge_line)
        if ref is DimensionReference.MARKER:
            assert marker is not None  # checked above
            measured_mm, unc_mm = _marker_length(marker, dim, size_px, unc_px, pts)
            if reference_fit is not None:  # the marker's scale, the product's own plane (see _marker_golden_length)
                fused = _marker_golden_length(marker, dim, reference_fit, size_px * to_golden, unc_px * to_golden, pts)
                if fused is not None:
                    measured_mm, unc_mm = _consistent_pair((measured_mm, unc_mm), fused)
        elif ref.in_golden_frame or ref is DimensionReference.RULER:
            size_px, unc_px = size_px * to_golden, unc_px * to_golden
            ruled = None
            if ref is DimensionReference.RULER:
                assert ruler is not None  # checked above
                if reference_fit is not None:
                    ruled = _ruler_golden_length(ruler, dim, reference_fit, size_px, unc_px, pts)
                if ruled is not None and cannot_decide(ruled[1], dim.tol_minus_mm, dim.tol_plus_mm):
                    ruled = None  # the ruler cannot decide this band: the golden frame's reading
                if ruled is None:
                    ref = DimensionReference.GOLDEN_FRAME  # the ruler's scale needs the product's registration
            if ruled is not None:
                reg_std = 0.0
            elif reference_fit is None:
                reg_std = _registration_length_std_px(registration, size_px)
                if strain_cov is not None:  # a diameter's or a length's share of the strain error
                    if dim.measure == "diameter":
                        drag_std = strain_diameter_std_px(strain_cov, size_px)
                    else:
                        ends_g = map_points_to_reference(np.vstack([pts[0], pts[1]]), registration)
                        drag_std = strain_length_std_px(strain_cov, ends_g[0], ends_g[1])
                    reg_std = math.hypot(reg_std, drag_std)
            elif dim.measure == "diameter":
                centre_g = map_points_to_reference(np.asarray(pts[0], np.float64).reshape(1, 2), registration)[0]
                reg_std = math.hypot(reference_fit.diameter_std_px(size_px),
                                     reference_fit.perspective_diameter_std_px(centre_g, size_px))
            else:
                ends_g = map_points_to_reference(np.vstack([pts[0], pts[1]]), registration)
                reg_std = math.hypot(reference_fit.length_std_px(ends_g[0], ends_g[1]),
                                     reference_fit.perspective_length_std_px(ends_g[0], ends_g[1]))
            unc_px = math.hypot(unc_px, reg_std)
            measured_mm, unc_mm = ruled if ruled is not None else (size_px * scale_mm_per_px, unc_px * scale_mm_per_px)
        else:
            measured_mm, unc_mm = size_px * scale_mm_per_px, unc_px * scale_mm_per_px
        if zero is not None:
            off, sem, n_zero = zero
            measured_mm += off
            if sem is None:
                unc_mm = math.hypot(unc_mm, unc_mm / math.sqrt(max(1, n_zero)))
            else:
                unc_mm = math.hypot(unc_mm, sem, sem * math.sqrt(n_zero))
        if unexplained_mm:
            unc_mm = math.hypot(unc_mm, abs(float(unexplained_mm)) / math.sqrt(3.0))
    except MeasurementError as exc:
        msg = str(exc)
        raise MeasurementError(msg if msg.startswith(f"{dim.name}:") else f"{dim.name}: {msg}") from None
    return DimensionResult(
        name=dim.name,
        measured_mm=float(measured_mm),
        nominal_mm=float(dim.nominal_mm),
        tol_minus_mm=dim.tol_minus_mm,
        tol_plus_mm=dim.tol_plus_mm,
        severity=dim.severity,
        uncertainty_mm=float(unc_mm),
        edges_unit_px=tuple((float(x), float(y)) for x, y in pts),
        reference=ref,
    )


def _consistent_pair(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """Of two readings (mm, 1-sigma) of one length, the more certain, its 1-sigma scaled by their
    disagreement when it exceeds their combined uncertainty: ``max(1, |a - b| / sqrt(sa² + sb²))``
    (the Birge ratio of the pair; the Particle Data Group's scale factor). The marker's plane alone
    and the golden frame scaled by the marker read the same length through different
    extrapolations (the marker's corners to the product, the registration's tilt to the marker);
    when they disagree beyond what both state, at least one states too little (zoo part hand-held,
    seed 1: a part 70 mm from the marker, 72.84 +- 0.24 mm by the plane, 71.66 +- 0.63 in the
    golden frame, 71.97 true: the plane's reading alone failed a good part)."""
    (ma, sa), (mb, sb) = a, b
    r = abs(ma - mb) / max(math.hypot(sa, sb), 1e-12)
    m, s = (ma, sa) if sa <= sb else (mb, sb)
    return m, s * max(1.0, r)


def _marker_length(marker: MarkerFrame, dim: DimensionSpec, size_px: float, unc_px: float,
                   pts: list) -> tuple[float, float]:
    """(mm, its 1-sigma) of a length measured in the unit photo, through the marker's plane.

    The edge points (unit px) are mapped by the plane homography of the marker's four refined
    corners into mm (a diameter: its unit px times the plane's local mm per px at the centre).
    The marker lies in the product's plane, so the camera's distance and tilt cancel, and a
    unit larger than the golden as a whole reads larger.

    This plane alone, not the registration's (the unit's own registration with the marker's
    corners mapped into golden px for the golden frame's scale, as first built): that
    registration is pinned by the product and, without an uncertainty carried to the marker,
    extrapolated badly to a marker beside it. The registration refined on the product's
    unmeasured parts, with its uncertainty carried to the marker, is :func:`_marker_golden_length`,
    which the caller takes when it is the more certain. Measured on the zoo's hand-held lots (``scripts/bench.py
    --mode handheld``, 3 marker photos per lot, max error mm, registration / marker plane):
    part width 0.45 / 0.27 (a 10 deg roll, 6 deg tilt photo: the registration read the marker
    0.8 % large), apparel panel 0.12 / 0.12 and 0.93 with a registration that leaves the
    panel's edges out, label 0.07 / 0.15. The 1-sigma: the edge fits' times the local scale
    and the marker corners' error carried through :meth:`MarkerFrame.length_std_mm` (the
    extrapolation from the marker to the product), in quadrature."""
    if dim.measure == "diameter":
        c = np.asarray(pts[0], np.float64)
        mm_per_px = marker.local_mm_per_px(c)
        r = 0.5 * size_px
        ends = np.vstack([c - [r, 0.0], c + [r, 0.0]])
        return size_px * mm_per_px, math.hypot(unc_px * mm_per_px, marker.length_std_mm(ends))
    ends = np.vstack([np.asarray(pts[0], np.float64), np.asarray(pts[1], np.float64)])
    q = marker.to_mm(ends)
    mm = float(np.hypot(*(q[1] - q[0])))
    if not (mm > 0 and math.isfinite(mm)):
        raise MeasurementError("the scale marker's plane maps the edges to nothing")
    return mm, math.hypot(unc_px * mm / max(size_px, 1e-9), marker.length_std_mm(ends))


#: Draws of the marker corners and of the registration for the uncertainty of a length read
#: through both (:func:`_marker_golden_length`); a fixed seed, so the figure is reproducible.
_FUSED_DRAWS = 64


def _quad_side(q: np.ndarray) -> float:
    """Side of the square whose area is that of the quadrilateral ``q`` (4, 2): the geometric
    mean of its two axes' lengths, whatever its rotation."""
    x, y = q[:, 0], q[:, 1]
    return math.sqrt(abs(0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))))


def _marker_golden_length(marker: MarkerFrame, dim: DimensionSpec, fit: ReferenceFit, size_g: float, unc_g: float,
                          pts: list) -> tuple[float, float] | None:
    """(mm, its 1-sigma) of a length read in the golden frame and scaled by the marker, or None.

    A single marker's four corners fix its plane's scale well but its tilt poorly: the
    perspective of the plane homography, carried from a 20 mm square to the far side of a 70 mm
    part, multiplies the corners' error (measured on the zoo's hand-held lots: the marker plane
    alone read board widths up to 0.31 mm off, with an honest 1-sigma of about 0.19 mm). The
    registration onto the golden knows the plane's tilt from the whole product instead, and the
    golden frame is metric (its captures square-on: the golden frame reference's premise). So
    the edge points and the marker's corners are both mapped into golden px through the
    registration refined on the product's unmeasured parts, and the marker sets only the scale:
    its size in mm over the side of its mapped square (:func:`_quad_side`). A unit larger than
    the golden as a whole is then still seen (the registration shrinks it onto the golden, and
    the marker with it), and the camera's distance and tilt cancel as before.

    The 1-sigma, in quadrature: the edge fits' and the reference fit's strain along the length
    (as in the golden frame), and, from draws, the marker corners' error together with the
    registration's carried to the marker: its ``rms_px`` at the golden's corners (the homography
    refitted per draw) and its perspective as far off as the product's unmeasured parts allow
    (``ReferenceFit.perspective_cov``: a unit that differs from the golden tilts its registration a
    little, and the tilt grows into a scale error with the distance to the marker). None when the
    registration's uncertainty or that perspective spread is unknown, or the marker maps to nothing;
    the caller then keeps the marker plane's reading."""
    return _known_size_golden_length(marker.corners_px, marker.corner_std_px, float(marker.size_mm), _quad_side,
                                     dim, fit, size_g, unc_g, pts)


def _ruler_golden_length(ruler: RulerFrame, dim: DimensionSpec, fit: ReferenceFit, size_g: float, unc_g: float,
                         pts: list) -> tuple[float, float] | None:
    """(mm, its 1-sigma) of a length read in the golden frame and scaled by a ruler, or None.

    As :func:`_marker_golden_length`, with the ruler's first and last fitted ticks for the marker's
    corners: both are mapped into golden px through the registration refined on the product, and
    their distance there over the ticks' span in mm gives mm per golden px (the ruler sets only the
    scale, the product's registration the plane's tilt). The ends' error is the tick fit's (from its
    residuals, :class:`goldenvision.measure.ruler.RulerFrame`), drawn with the registration's."""
    return _known_size_golden_length(ruler.ends_px, ruler.end_std_px, float(ruler.span_mm), _segment_length,
                                     dim, fit, size_g, unc_g, pts)


def _segment_length(q: np.ndarray) -> float:
    """Length of the segment between the two points ``q`` (2, 2)."""
    return float(np.hypot(*(q[1] - q[0])))


def _known_size_golden_length(ref_px: np.ndarray, ref_std_px: float, ref_mm: float,
                              ref_size: Callable[[np.ndarray], float], dim: DimensionSpec, fit: ReferenceFit,
                              size_g: float, unc_g: float, pts: list) -> tuple[float, float] | None:
    """A length in golden px scaled by a known-size object in the photo (its points ``ref_px``, unit
    px, each with 1-sigma ``ref_std_px``; ``ref_size`` of them mapped into golden px is ``ref_mm``
    long): (mm, its 1-sigma) or None. The method and its uncertainty: :func:`_marker_golden_length`."""
    reg = fit.registration
    shape = reg.reference_shape_hw
    rms = float(reg.rms_px)
    if shape is None or not math.isfinite(rms) or not size_g > 0 or fit.perspective_cov is None \
            or fit.centre_px is None:
        return None
    try:
        p_chol = np.linalg.cholesky(np.asarray(fit.perspective_cov, np.float64) + 1e-30 * np.eye(2))
    except np.linalg.LinAlgError:
        return None
    to_c = np.array([[1.0, 0.0, -fit.centre_px[0]], [0.0, 1.0, -fit.centre_px[1]], [0.0, 0.0, 1.0]])
    h = np.asarray(reg.homography, np.float64)
    side = ref_size(apply_homography(ref_px, h))
    if not (side > 1.0 and math.isfinite(side)):
        return None
    k = ref_mm / side  # mm per golden px
    if dim.measure == "diameter":
        c = np.asarray(pts[0], np.float64)
        r = 0.5 * size_g / max(local_scale(h, c, np.array([1.0, 0.0])), 1e-9)
        ends = np.vstack([c - [r, 0.0], c + [r, 0.0]])
        strain = fit.diameter_std_px(size_g)
    else:
        ends = np.vstack([np.asarray(pts[0], np.float64), np.asarray(pts[1], np.float64)])
        e_g = apply_homography(ends, h)
        strain = fit.length_std_px(e_g[0], e_g[1])
    hh, ww = shape
    g_corners = np.array([[0.0, 0.0], [ww - 1.0, 0.0], [ww - 1.0, hh - 1.0], [0.0, hh - 1.0]])
    u_corners = apply_homography(g_corners, np.linalg.inv(h)).astype(np.float32)
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(_FUSED_DRAWS):
        gd = g_corners + rng.normal(0.0, rms / math.sqrt(2.0), g_corners.shape)
        hd = cv2.getPerspectiveTransform(u_corners, gd.astype(np.float32)).astype(np.float64)
        pxy = p_chol @ rng.normal(0.0, 1.0, 2)  # the perspective as far off as the reference allows
        hd = np.linalg.inv(to_c) @ np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [pxy[0], pxy[1], 1.0]]) @ to_c @ hd
        cd = ref_px + rng.normal(0.0, ref_std_px, ref_px.shape)
        ed = apply_homography(ends, hd)
        ratios.append(float(np.hypot(*(ed[1] - ed[0]))) / max(ref_size(apply_homography(cd, hd)), 1e-9))
    ratios_a = np.asarray(ratios)
    if not np.all(np.isfinite(ratios_a)):
        return None
    e0 = apply_homography(ends, h)
    r0 = float(np.hypot(*(e0[1] - e0[0]))) / side
    rel = float(np.std(ratios_a, ddof=1)) / r0 if r0 > 0 else math.inf
    mm = size_g * k
    unc = math.sqrt((unc_g * k) ** 2 + (strain * k) ** 2 + (mm * rel) ** 2)
    return (mm, unc) if math.isfinite(unc) and mm > 0 else None


def _registration_length_std_px(reg: RegistrationResult, length_golden_px: float) -> float:
    """1-sigma error (golden px) of a length read through the registration (module notes)."""
    rms = float(reg.rms_px)
    if not math.isfinite(rms):
        raise MeasurementError(f"registration uncertainty rms_px={rms}: the unit is not aligned to the golden")
    shape = reg.reference_shape_hw
    if shape is None:
        return rms
    half_diag = 0.5 * math.hypot(shape[0] - 1, shape[1] - 1)
    return rms * min(1.0, length_golden_px / max(half_diag, 1.0))


def _measure_px(g: np.ndarray, dim: DimensionSpec, reg: RegistrationResult, sigma_px: float,
                golden_px: float | None = None, edge_line: EdgeLine | None = None):
    hinv = np.linalg.inv(reg.homography)
    if dim.measure == "diameter":
        circ = dim.circle
        assert circ is not None  # DimensionSpec requires a circle for a diameter
        cg = np.array(circ.center, dtype=np.float64)
        cu = map_points_to_moving(cg[None], reg)[0]
        sc = math.sqrt(local_scale(hinv, cg, np.array([1.0, 0.0])) * local_scale(hinv, cg, np.array([0.0, 1.0])))
        pol = dim.polarity
        search = min(circ.search_px * sc, 0.9 * circ.radius_px * sc)
        fit = measure_circle(g, cu, circ.radius_px * sc, search, sigma_px=sigma_px, polarity=pol)
        moved = float(np.hypot(fit.center_px[0] - cu[0], fit.center_px[1] - cu[1]))
        if moved > RECENTRE_SHARE * search:
            # the circle lies well off where the registration put it (a hole drilled off position, or
            # a registration refined on another unit's grain): the radial calipers then reach its edge
            # on one side only, and an arc read from one side is biased; read it again about the
            # centre found (zoo wood hand-held: 12 px off, 12 of 22 calipers on the edge, the hole
            # read 0.45 mm small)
            try:
                again = measure_circle(g, (float(fit.center_px[0]), float(fit.center_px[1])), circ.radius_px * sc, search,
                                       sigma_px=sigma_px, polarity=pol)
            except MeasurementError:
                again = None
            if again is not None and again.inliers.sum() >= fit.inliers.sum():
                fit = again
        if fit.inliers.sum() < 0.5 * len(fit.inliers):
            raise MeasurementError(
                f"circle fit kept only {int(fit.inliers.sum())} of {len(fit.inliers)} edge points (no clear circle)"
            )
        # unit -> golden length factor at the centre: 1 / (golden -> unit area factor)^(1/2)
        return 2.0 * fit.radius_px, 2.0 * fit.radius_uncertainty_px, [fit.center_px], 1.0 / sc
    cal = dim.caliper
    assert cal is not None  # DimensionSpec requires a caliper for every other measure
    a = math.radians(cal.angle_deg)
    d = np.array([math.cos(a), math.sin(a)])
    cg = np.array(cal.center, dtype=np.float64)
    ends = map_points_to_moving(np.vstack([cg - 0.5 * cal.length_px * d, cg, cg + 0.5 * cal.length_px * d]), reg)
    du = ends[2] - ends[0]
    length_u = float(np.hypot(*du))
    du = du / length_u
    # centre on the straight unit-px segment nearest the mapped centre (they differ only under flow)
    cu = ends[0] + float(np.dot(ends[1] - ends[0], du)) * du
    width_u = cal.width_px * local_scale(hinv, cg, np.array([-d[1], d[0]]))
    angle_u = math.degrees(math.atan2(du[1], du[0]))
    edges, pts = measure_caliper_edges(g, cu, angle_u, length_u, max(1.0, width_u), sigma_px=sigma_px)
    all_edges, all_pts = list(edges), pts
    if edges:
        top = max(e.strength for e in edges)
        keep = [i for i, e in enumerate(edges) if e.strength >= RELATIVE_THRESHOLD * top]
        edges = [edges[i] for i in keep]
        pts = pts[keep]
    if not edges:
        raise MeasurementError("no edge found along the caliper (flat or featureless profile)")
    if dim.measure == "width":
        first = next((i for i, e in enumerate(edges) if dim.polarity == "any" or e.polarity == dim.polarity), None)
        last: int | None = None
        if first is None:
            problem = f"no {dim.polarity} edge along the caliper"
        else:
            opp = "light_to_dark" if edges[first].polarity == "dark_to_light" else "dark_to_light"
            last = next((i for i in range(len(edges) - 1, first, -1) if edges[i].polarity == opp), None)
            problem = "" if last is not None else (
                f"no {opp} edge after the first {edges[first].polarity} edge at "
                f"{edges[first].position_px:+.1f} px: the caliper does not span both sides")
        g_px = golden_px if golden_px is not None and golden_px > 0 else None
        if first is None or last is None:
            # A strong edge of something else in the caliper (the ground, a shadow, a fixture) can
            # put the product's own edges under RELATIVE_THRESHOLD: pair the edges nearest the
            # golden's width instead, when one pair is near enough to be that width.
            found = None if g_px is None else _pair_near_golden(all_edges, all_pts, reg, dim.polarity, g_px, None)
            if found is None:
                raise MeasurementError(problem)
            edges, pts, i, j = found
        else:
            i, j = first, last
            if g_px is not None:
                found = _pair_near_golden(all_edges, all_pts, reg, dim.polarity, g_px, (pts[i], pts[j]))
                if found is not None:
                    edges, pts, i, j = found
    else:  # distance
        order = sorted(range(len(edges)), key=lambda k: -edges[k].strength)
        if dim.polarity != "any":
            cand = [k for k in order if edges[k].polarity == dim.polarity]
            if not cand:
                raise MeasurementError(f"no {dim.polarity} edge along the caliper")
            i = cand[0]
            rest = [k for k in order if k != i]
        else:
            i, rest = order[0], order[1:]
        if not rest:
            raise MeasurementError("only one edge found along the caliper, need two for a distance")
        j = rest[0]
        if len(rest) > 1 and edges[rest[1]].strength >= AMBIGUITY_RATIO * edges[j].strength:
            raise MeasurementError(
                f"ambiguous edges: the second and third strongest ({edges[j].strength:.3g} and "
                f"{edges[rest[1]].strength:.3g} grey/px) are too alike"
            )
    size = abs(edges[j].position_px - edges[i].position_px)
    unc = math.hypot(_edge_std(edges[i]), _edge_std(edges[j]))
    if dim.measure == "width" and edge_line is not None and edge_line.strips_each_side > 0:
        lo, hi = (i, j) if edges[i].position_px < edges[j].position_px else (j, i)
        traced = _strip_width(g, cu, du, edges[lo], edges[hi], max(1.0, width_u), edge_line, sigma_px)
        if traced is not None:
            size, unc, p_lo, p_hi = traced
            pts = np.vstack([pts, p_lo, p_hi])
            i, j = len(pts) - 2, len(pts) - 1
    # unit -> golden length factor of this very segment (its two edge points mapped back)
    ends_g = map_points_to_reference(np.vstack([pts[i], pts[j]]), reg)
    to_golden = float(np.hypot(*(ends_g[1] - ends_g[0]))) / size if size > 0 else 1.0
    return size, unc, [pts[min(i, j)], pts[max(i, j)]], to_golden


@dataclass(frozen=True)
class EdgeLine:
    """How a width is read along its edges (:func:`golden_edge_lines`): ``strips_each_side`` strips
    of the caliper's band width on each side of its centre line (0: the caliper alone), and the
    golden's own edge slope (px along the caliper per px across it) the obliquity is taken from."""

    strips_each_side: int
    golden_slope: float = 0.0


#: A width is read on strips along its two edges (:func:`golden_edge_lines`): at most this many
#: strips on each side of the caliper's centre line, over at most this share of the width.
STRIP_MAX_EACH_SIDE = 6
STRIP_MAX_SHARE = 0.25
#: The golden's edges must hold to a straight line within this many px for a strip to be used.
STRIP_STRAIGHT_PX = 0.35


def _theil_sen(t: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """Robust line ``p = a + b t``: Theil-Sen slope, median intercept, and a Tukey-biweight
    refit (4.685 robust sigmas); returns (a, b, residual robust sigma)."""
    k = len(t)
    if k < 2:
        return float(p[0]), 0.0, 0.0
    ii, jj = np.triu_indices(k, 1)
    b = float(np.median((p[jj] - p[ii]) / (t[jj] - t[ii])))
    a = float(np.median(p - b * t))
    for _ in range(5):
        w = tukey_weights(p - a - b * t, min_sigma=0.05)
        if w.sum() < 2 or np.count_nonzero(w) < 2:
            break
        x = np.stack([np.ones(k), t], axis=1)
        xw = x * w[:, None]
        try:
            a, b = (float(v) for v in np.linalg.solve(xw.T @ x, xw.T @ p))
        except np.linalg.LinAlgError:
            break
    r = p - a - b * t
    return a, b, 1.4826 * float(np.median(np.abs(r)))


def _trace_edge(g: np.ndarray, centre: np.ndarray, d: np.ndarray, n: np.ndarray, edge: Edge, offsets: np.ndarray,
                band_px: float, half_window_px: float, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions (px along ``d`` from ``centre``) and 1-sigma of the edge like ``edge`` (same
    polarity, at least half its strength) nearest ``edge.position_px`` on each strip at
    ``offsets`` (px along ``n``); NaN where a strip has none."""
    angle = math.degrees(math.atan2(d[1], d[0]))
    pos = np.full(len(offsets), np.nan)
    std = np.full(len(offsets), np.nan)
    for k, t in enumerate(offsets):
        c = centre + n * t + d * edge.position_px
        try:
            found, _ = measure_caliper_edges(g, (float(c[0]), float(c[1])), angle, 2.0 * half_window_px, band_px,
                                             sigma_px=sigma_px, min_strength=0.5 * edge.strength,
                                             polarity="light_to_dark" if edge.polarity == "light_to_dark" else "dark_to_light")
        except MeasurementError:
            continue
        cand = [e for e in found if abs(e.position_px) <= half_window_px - 2.0 * sigma_px]
        if cand:
            best = min(cand, key=lambda e: abs(e.position_px))
            pos[k] = edge.position_px + best.position_px
            std[k] = _edge_std(best)
    return pos, std


def _strip_width(g: np.ndarray, centre: np.ndarray, d: np.ndarray, e_lo: Edge, e_hi: Edge, band_px: float,
                 line: EdgeLine, sigma_px: float) -> tuple[float, float, np.ndarray, np.ndarray] | None:
    """A width read on strips along its two edges: (width px, 1-sigma px, lower and upper edge
    points (x, y) px), or None when too few strips hold both edges.

    Each edge's positions on the strips are fitted by a robust line (:func:`_theil_sen`): a burr
    or a notch on a few strips is an outlier of its edge, not a change of the body's width. The
    width is the two lines' distance at the caliper's centre line, taken across the edges (times
    the cosine of their mean angle to the caliper's normal, over the golden's own: a part lying
    askew is not read wider)."""
    n = np.array([-d[1], d[0]])
    k = int(line.strips_each_side)
    offsets = np.arange(-k, k + 1, dtype=np.float64) * band_px
    size0 = abs(e_hi.position_px - e_lo.position_px)
    half_win = min(0.45 * size0, max(8.0, 6.0 * sigma_px) + 0.15 * float(np.abs(offsets).max()))
    p_lo, s_lo = _trace_edge(g, centre, d, n, e_lo, offsets, band_px, half_win, sigma_px)
    p_hi, s_hi = _trace_edge(g, centre, d, n, e_hi, offsets, band_px, half_win, sigma_px)
    p_lo[k], s_lo[k] = e_lo.position_px, _edge_std(e_lo)  # the caliper's own band is the centre strip
    p_hi[k], s_hi[k] = e_hi.position_px, _edge_std(e_hi)
    fits = []
    for p, sd in ((p_lo, s_lo), (p_hi, s_hi)):
        ok = np.isfinite(p)
        if ok.sum() < max(3, k + 1):  # fewer than half the strips (and at least 3) hold this edge
            return None
        a, b, sig = _theil_sen(offsets[ok], p[ok])
        m = int(ok.sum())
        # the intercept's 1-sigma: the strips' scatter about the line (a median's efficiency) or
        # their edge fits', whichever is larger, over the number of strips
        fits.append((a, b, max(1.2533 * sig, float(np.median(sd[ok]))) / math.sqrt(m)))
    (a_lo, b_lo, u_lo), (a_hi, b_hi, u_hi) = fits
    slope = 0.5 * (b_lo + b_hi)
    gs = line.golden_slope
    cos_ratio = math.sqrt((1.0 + gs * gs) / (1.0 + slope * slope))
    width = (a_hi - a_lo) * cos_ratio
    if not width > 0:
        return None
    q_lo = centre + d * a_lo
    across = d - slope * n
    across /= float(np.hypot(*across))
    q_hi = q_lo + width * across
    return width, math.hypot(u_lo, u_hi) * cos_ratio, q_lo, q_hi


def golden_edge_lines(golden_gray: np.ndarray, dims: Sequence[DimensionSpec],
                      golden_px: Mapping[str, float] | None = None, *, sigma_px: float = 1.0) -> dict[str, EdgeLine]:
    """Per width: how far along its edges the golden's two edges run straight (module notes on
    widths read on strips), measured on the golden reference (golden px, identity registration).

    From the caliper's centre line outwards, strips of the caliper's band width are added in
    pairs (one each side) while both edges of the golden are found on every strip and hold to
    their robust line within :data:`STRIP_STRAIGHT_PX`, up to :data:`STRIP_MAX_EACH_SIDE` a side
    and :data:`STRIP_MAX_SHARE` of the width; a width whose edges end at once (a zipper tooth,
    a notch) keeps the caliper alone (0 strips)."""
    g = _check_gray(golden_gray)
    h, w = g.shape
    ident = RegistrationResult(np.eye(3), ok=True, rms_px=0.0, method="identity", confidence=1.0,
                               reference_shape_hw=(h, w))
    out: dict[str, EdgeLine] = {}
    for dim in dims:
        if dim.measure != "width" or dim.caliper is None:
            continue
        try:
            size, _, pts, _ = _measure_px(g, dim, ident, sigma_px, (golden_px or {}).get(dim.name))
        except MeasurementError:
            continue
        cal = dim.caliper
        a = math.radians(cal.angle_deg)
        d = np.array([math.cos(a), math.sin(a)])
        n = np.array([-d[1], d[0]])
        centre = np.asarray(cal.center, np.float64)
        band = max(1.0, float(cal.width_px))
        kmax = int(min(STRIP_MAX_EACH_SIDE, math.floor(STRIP_MAX_SHARE * size / band)))
        if kmax < 1:
            out[dim.name] = EdgeLine(0, 0.0)
            continue
        edges, _ = measure_caliper_edges(g, cal.center, cal.angle_deg, cal.length_px, band, sigma_px=sigma_px)
        e_pts = [(float(np.dot(np.asarray(q) - centre, d))) for q in pts]
        lo = min(edges, key=lambda e: abs(e.position_px - min(e_pts)))
        hi = min(edges, key=lambda e: abs(e.position_px - max(e_pts)))
        offsets = np.arange(-kmax, kmax + 1, dtype=np.float64) * band
        half_win = min(0.45 * size, max(8.0, 6.0 * sigma_px) + 0.15 * float(np.abs(offsets).max()))
        p_lo, _ = _trace_edge(g, centre, d, n, lo, offsets, band, half_win, sigma_px)
        p_hi, _ = _trace_edge(g, centre, d, n, hi, offsets, band, half_win, sigma_px)
        k_ok, slope = 0, 0.0
        for k in range(1, kmax + 1):
            sel = slice(kmax - k, kmax + k + 1)
            t = offsets[sel]
            good = True
            slopes = []
            for p in (p_lo[sel], p_hi[sel]):
                if not np.all(np.isfinite(p)):
                    good = False
                    break
                a0, b0, _ = _theil_sen(t, p)
                if np.abs(p - a0 - b0 * t).max() > STRIP_STRAIGHT_PX:
                    good = False
                    break
                slopes.append(b0)
            if not good:
                break
            k_ok, slope = k, 0.5 * (slopes[0] + slopes[1])
        out[dim.name] = EdgeLine(k_ok, slope)
    return out


def _pair_near_golden(edges: list, pts: np.ndarray, reg: RegistrationResult, polarity: str, golden_px: float,
                      chosen: tuple[np.ndarray, np.ndarray] | None) -> tuple[list, np.ndarray, int, int] | None:
    """The opposite-edge pair (strength >= GOLDEN_EDGE_FLOOR of the strongest) whose length in
    golden px is nearest ``golden_px``, when the ``chosen`` pair is off by more than
    GOLDEN_PAIR_SLACK and that pair is closer; else None (keep the chosen pair). Without a
    ``chosen`` pair (the first/last rule found none), the nearest pair if it lies within
    :data:`GOLDEN_FALLBACK_SLACK` of ``golden_px``, else None."""
    def golden_len(a: np.ndarray, b: np.ndarray) -> float:
        e = map_points_to_reference(np.vstack([a, b]), reg)
        return float(np.hypot(*(e[1] - e[0])))

    if len(edges) < 2:
        return None
    if chosen is None:
        limit = GOLDEN_FALLBACK_SLACK * golden_px
    else:
        limit = abs(golden_len(*chosen) - golden_px)
        if limit <= GOLDEN_PAIR_SLACK * golden_px:
            return None
    top = max(e.strength for e in edges)
    keep = [k for k, e in enumerate(edges) if e.strength >= GOLDEN_EDGE_FLOOR * top]
    best: tuple[float, int, int] | None = None
    for a in keep:
        if polarity != "any" and edges[a].polarity != polarity:
            continue
        for b in keep:
            if b <= a or edges[b].polarity == edges[a].polarity:
                continue
            d = abs(golden_len(pts[a], pts[b]) - golden_px)
            if best is None or d < best[0]:
                best = (d, a, b)
    if best is None or best[0] >= limit:
        return None
    return edges, pts, best[1], best[2]


def measure_dimensions(
    gray: np.ndarray,
    dims: Sequence[DimensionSpec],
    registration: RegistrationResult,
    scale_mm_per_px: float,
    *,
    sigma_px: float = 1.0,
    reference: DimensionReference | str = DimensionReference.UNIT_SCALE,
    marker: MarkerFrame | None = None,
    golden_px: Mapping[str, float] | None = None,
    zero: Mapping[str, tuple[float, float | None, int]] | None = None,
    reference_fits: Mapping[str, ReferenceFit] | None = None,
    edge_lines: Mapping[str, EdgeLine] | None = None,
    ruler: RulerFrame | None = None,
    unexplained: Mapping[str, float] | None = None,
    strain_cov: np.ndarray | None = None,
) -> list[DimensionResult | MeasurementError]:
    """Measure every dimension; a feature that cannot be measured yields its MeasurementError.

    ``scale_mm_per_px`` and ``reference`` as in :func:`measure_dimension`: with a station
    profile, ``reference="station_profile"`` and the profile's mm per unit px; without a
    metric frame of the unit, ``reference="golden_frame"`` and the golden's mm per golden px.
    ``zero``: per dimension name, the zeroing on the golden (:func:`golden_zero_offsets`);
    ``unexplained``: per name, the golden's offsets too large to zero (:func:`golden_unexplained_offsets`).
    ``reference_fits``: in the golden frame, per dimension name, the registration refined on the
    parts of the product that are not that dimension's feature (see :func:`measure_dimension`).
    ``edge_lines``: per width, how far along its edges it is read (:func:`golden_edge_lines`).
    ``ruler``: for ``reference="ruler"``, the ruler found in the photo (see :func:`measure_dimension`).
    ``strain_cov``: in the golden frame without a reference fit, how far the registration's strain
    may be off (see :func:`measure_dimension`).
    The grey conversion (for RGB input) is done once. Bad input for the whole call (image,
    scale, reference) still raises.
    """
    g = _check_gray(gray)
    if not (scale_mm_per_px > 0 and math.isfinite(scale_mm_per_px)):
        raise SpecError(f"scale_mm_per_px: expected a finite number > 0, got {scale_mm_per_px}")
    ref = as_reference(reference)
    out: list[DimensionResult | MeasurementError] = []
    for dim in dims:
        try:
            out.append(measure_dimension(g, dim, registration, scale_mm_per_px, sigma_px=sigma_px, reference=ref,
                                         marker=marker, golden_px=(golden_px or {}).get(dim.name),
                                         zero=(zero or {}).get(dim.name),
                                         reference_fit=(reference_fits or {}).get(dim.name),
                                         edge_line=(edge_lines or {}).get(dim.name), ruler=ruler,
                                         unexplained_mm=(unexplained or {}).get(dim.name, 0.0),
                                         strain_cov=strain_cov))
        except MeasurementError as exc:
            out.append(exc)
    return out
