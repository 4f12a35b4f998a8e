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
* the two in quadrature, times mm per px. The scale's own uncertainty (station calibration,
  golden scale) is not included;
* zeroed on the golden (``zero``, see below): the zero's own standard error and the golden
  captures' spread (the same physical unit photographed again: the whole chain's
  reproducibility, registration included, which the fits' figures above underestimate), in
  quadrature.

Zeroing on the golden (a gauge mastered on its master part)
-----------------------------------------------------------
An edge is located where the grey profile steps, and a real edge's profile is not a clean step:
a lit bevel, a dark chamfer ring around a hole, the lens' blur on a small circle, a soft fabric
edge. The tool therefore reads every unit of one design a little off, by the same amount, as
long as the photos are alike. The golden captures are measured by the same tool at sealing
(``GoldenSample.meta["golden_dimensions_mm"]``); the golden is the master, its size the spec's
nominal, so :func:`golden_zero_offsets` takes ``nominal - golden mean`` as the tool's offset on
that feature and adds it to every unit's reading. An offset larger than
:data:`ZERO_MAX_PX` golden px is not an edge tool's error but a golden that is itself off
nominal (or a caliper on another feature): it is not applied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import MeasurementError, SpecError
from ..results import DimensionResult, RegistrationResult
from ..spec import DimensionSpec
from ..transform import local_scale, map_points_to_moving, map_points_to_reference
from .calipers import Edge, _check_gray, measure_caliper_edges
from .fitting import measure_circle
from .marker import MarkerFrame
from .reference import DimensionReference, as_reference

__all__ = ["measure_dimension", "measure_dimensions", "golden_zero_offsets", "edge_band_mask", "DimensionReference", "RELATIVE_THRESHOLD",
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
#: Largest offset (golden px, times the golden's mm per px) taken as the edge tool's own error on a
#: feature when zeroing on the golden: an edge's systematic error stays within about a pixel.
ZERO_MAX_PX = 1.5


def golden_zero_offsets(dims: Sequence[DimensionSpec], golden_dimensions_mm: Mapping[str, object] | None,
                        scale_mm_per_px: float | None) -> dict[str, tuple[float, float | None, int]]:
    """Per dimension: (offset mm added to a unit's reading, the golden mean's standard error mm
    or None with a single capture, number of golden captures), for zeroing on the golden (module
    notes). ``golden_dimensions_mm`` is ``GoldenSample.meta["golden_dimensions_mm"]`` (name ->
    ``{"mean", "std", "values"}``). A dimension without a golden record, or whose golden reads
    more than :data:`ZERO_MAX_PX` golden px from nominal, gets no offset."""
    out: dict[str, tuple[float, float | None, int]] = {}
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
        if abs(off) > ZERO_MAX_PX * float(scale_mm_per_px):
            continue
        std = rec.get("std")
        sem = float(std) / math.sqrt(n) if std is not None and n > 1 and math.isfinite(float(std)) else None
        out[dim.name] = (off, sem, n)
    return out


#: Half-width of the band kept out of the dimensions' registration around each golden edge:
#: this share of the feature's size in golden px, at least :data:`EDGE_BAND_MIN_PX`.
EDGE_BAND_SHARE = 0.05
EDGE_BAND_MIN_PX = 6.0


def edge_band_mask(golden_gray: np.ndarray, dims: Sequence[DimensionSpec],
                   golden_px: Mapping[str, float] | None = None) -> np.ndarray | None:
    """Golden px where the registration used for dimensions in the golden frame may look:
    False on a band around each measured edge of the golden, else True; None when no
    dimension can be measured on the golden image.

    In the golden frame the rest of the product is the ruler, but a registration fitted on the
    whole product also fits the very edges being measured: a panel cut 2 % narrow is stretched
    onto the golden's and reads nominal (measured on the zoo's hand-held apparel: panel width
    error 1.84 mm). Each width or distance's two golden edges lie on lines across its caliper;
    the band is every golden px within ``max(EDGE_BAND_MIN_PX, EDGE_BAND_SHARE * size)`` of
    those lines along the caliper, over the whole image (the whole side of the outline, not
    only where the caliper crosses it); a diameter's band is the ring of that half-width
    around its circle."""
    g = _check_gray(golden_gray)
    h, w = g.shape
    ident = RegistrationResult(np.eye(3), ok=True, rms_px=0.0, method="identity", confidence=1.0,
                               reference_shape_hw=(h, w))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    keep = np.ones((h, w), dtype=bool)
    found = False
    for dim in dims:
        try:
            size_px, _, pts, _ = _measure_px(g, dim, ident, 1.0, (golden_px or {}).get(dim.name))
        except MeasurementError:
            continue
        m = max(EDGE_BAND_MIN_PX, EDGE_BAND_SHARE * size_px)
        if dim.measure == "diameter":
            c = np.asarray(pts[0], np.float64)
            keep &= np.abs(np.hypot(xx - c[0], yy - c[1]) - 0.5 * size_px) > m
        else:
            cal = dim.caliper
            assert cal is not None
            a = math.radians(cal.angle_deg)
            d = (math.cos(a), math.sin(a))
            for q in pts[:2]:
                keep &= np.abs((xx - q[0]) * d[0] + (yy - q[1]) * d[1]) > m
        found = True
    return keep if found else None


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
        ``"station_profile"``, ``"golden_frame"`` or ``"marker"``; see above.
    marker : MarkerFrame, keyword-only
        For ``reference="marker"``: the known-size marker found in the unit photo
        (:func:`goldenvision.measure.reference.find_scale_marker`); the edge points are mapped
        through its plane into mm and ``scale_mm_per_px`` is not used.
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
    g = _check_gray(gray)
    try:
        size_px, unc_px, pts, to_golden = _measure_px(g, dim, registration, sigma_px, golden_px)
        if ref is DimensionReference.MARKER:
            assert marker is not None  # checked above
            measured_mm, unc_mm = _marker_length(marker, dim, size_px, unc_px, pts)
        elif ref.in_golden_frame:
            size_px, unc_px = size_px * to_golden, unc_px * to_golden
            unc_px = math.hypot(unc_px, _registration_length_std_px(registration, size_px))
            measured_mm, unc_mm = size_px * scale_mm_per_px, unc_px * scale_mm_per_px
        else:
            measured_mm, unc_mm = size_px * scale_mm_per_px, unc_px * scale_mm_per_px
        if zero is not None:
            off, sem, n_zero = zero
            measured_mm += off
            if sem is None:
                unc_mm = math.hypot(unc_mm, unc_mm / math.sqrt(max(1, n_zero)))
            else:
                unc_mm = math.hypot(unc_mm, sem, sem * math.sqrt(n_zero))
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


def _marker_length(marker: MarkerFrame, dim: DimensionSpec, size_px: float, unc_px: float,
                   pts: list) -> tuple[float, float]:
    """(mm, its 1-sigma) of a length measured in the unit photo, through the marker's plane.

    The edge points (unit px) are mapped by the plane homography of the marker's four refined
    corners into mm (a diameter: its unit px times the plane's local mm per px at the centre).
    The marker lies in the product's plane, so the camera's distance and tilt cancel, and a
    unit larger than the golden as a whole reads larger.

    Not through the registration (the marker's corners mapped into golden px for the golden
    frame's scale, as before): the registration is pinned by the product and extrapolates
    badly to a marker beside it. Measured on the zoo's hand-held lots (``scripts/bench.py
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
                golden_px: float | None = None):
    hinv = np.linalg.inv(reg.homography)
    if dim.measure == "diameter":
        circ = dim.circle
        assert circ is not None  # DimensionSpec requires a circle for a diameter
        cg = np.array(circ.center, dtype=np.float64)
        cu = map_points_to_moving(cg[None], reg)[0]
        sc = math.sqrt(local_scale(hinv, cg, np.array([1.0, 0.0])) * local_scale(hinv, cg, np.array([0.0, 1.0])))
        pol = dim.polarity
        fit = measure_circle(g, cu, circ.radius_px * sc, min(circ.search_px * sc, 0.9 * circ.radius_px * sc),
                             sigma_px=sigma_px, polarity=pol)
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
        if first is None:
            raise MeasurementError(f"no {dim.polarity} edge along the caliper")
        opp = "light_to_dark" if edges[first].polarity == "dark_to_light" else "dark_to_light"
        last = next((i for i in range(len(edges) - 1, first, -1) if edges[i].polarity == opp), None)
        if last is None:
            raise MeasurementError(
                f"no {opp} edge after the first {edges[first].polarity} edge at "
                f"{edges[first].position_px:+.1f} px: the caliper does not span both sides"
            )
        i, j = first, last
        if golden_px is not None and golden_px > 0:
            found = _pair_near_golden(all_edges, all_pts, reg, dim.polarity, golden_px, (pts[i], pts[j]))
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
    # unit -> golden length factor of this very segment (its two edge points mapped back)
    ends_g = map_points_to_reference(np.vstack([pts[i], pts[j]]), reg)
    to_golden = float(np.hypot(*(ends_g[1] - ends_g[0]))) / size if size > 0 else 1.0
    return size, unc, [pts[min(i, j)], pts[max(i, j)]], to_golden


def _pair_near_golden(edges: list, pts: np.ndarray, reg: RegistrationResult, polarity: str, golden_px: float,
                      chosen: tuple[np.ndarray, np.ndarray]) -> tuple[list, np.ndarray, int, int] | None:
    """The opposite-edge pair (strength >= GOLDEN_EDGE_FLOOR of the strongest) whose length in
    golden px is nearest ``golden_px``, when the ``chosen`` pair is off by more than
    GOLDEN_PAIR_SLACK and that pair is closer; else None (keep the chosen pair)."""
    def golden_len(a: np.ndarray, b: np.ndarray) -> float:
        e = map_points_to_reference(np.vstack([a, b]), reg)
        return float(np.hypot(*(e[1] - e[0])))

    if abs(golden_len(*chosen) - golden_px) <= GOLDEN_PAIR_SLACK * golden_px or len(edges) < 2:
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
    if best is None or best[0] >= abs(golden_len(*chosen) - golden_px):
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
) -> list[DimensionResult | MeasurementError]:
    """Measure every dimension; a feature that cannot be measured yields its MeasurementError.

    ``scale_mm_per_px`` and ``reference`` as in :func:`measure_dimension`: with a station
    profile, ``reference="station_profile"`` and the profile's mm per unit px; without a
    metric frame of the unit, ``reference="golden_frame"`` and the golden's mm per golden px.
    ``zero``: per dimension name, the zeroing on the golden (:func:`golden_zero_offsets`).
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
                                         zero=(zero or {}).get(dim.name)))
        except MeasurementError as exc:
            out.append(exc)
    return out
