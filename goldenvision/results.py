"""Typed results of every stage: frozen dataclasses with ``to_dict()``.

Coordinates are ``(x, y)``; "golden px" are pixels of the golden frame, "unit px" pixels of
the (rectified) unit photo. Lab values are CIELAB D65 unless the name says otherwise.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .enums import DefectType, Severity, Verdict

if TYPE_CHECKING:
    from .measure.reference import DimensionReference
    from .registration.refusal import RefusalCode

__all__ = [
    "Verdict",
    "Severity",
    "DefectType",
    "RegistrationResult",
    "ColorResult",
    "DimensionResult",
    "Defect",
    "AnomalyResult",
    "UnitResult",
    "jsonable",
    "color_shift_words",
    "COVERAGE_K",
    "CLIPPED_FRACTION",
]

#: Coverage factor of a dimension's expanded uncertainty (``uncertainty_mm`` is one standard
#: deviation): k = 2, about 95 % for a normal error (JCGM 100:2008, GUM 6.2-6.3). A dimension
#: out of tolerance by less than k u is not proven out (ISO 14253-1:2017) and goes to review.
COVERAGE_K = 2.0


def cannot_decide(uncertainty_mm: float, tol_minus_mm: float, tol_plus_mm: float) -> bool:
    """Whether a reading of this 1-sigma uncertainty cannot decide this tolerance band: its expanded
    uncertainty (:data:`COVERAGE_K` u) reaches half the band, so no reading near a limit can be
    proven either way (a gauge should use a small part of the band)."""
    return COVERAGE_K * uncertainty_mm >= 0.5 * (tol_minus_mm + tol_plus_mm)

#: Share of a colour zone's pixels with a channel at 0 or 255 from which its colour is taken as
#: clipped (see :attr:`ColorResult.clipped`): a quarter of the zone is past the photo's gamut or
#: exposure, so its robust colour is.
CLIPPED_FRACTION = 0.25


def jsonable(value: Any) -> Any:
    """Turn numpy scalars/arrays, enums, tuples and dataclasses into JSON-serialisable values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


def color_shift_words(lab: Sequence[float], reference_lab: Sequence[float], d_l: float, d_c: float, d_h: float,
                      *, threshold: float = 0.3) -> str:
    """Plain words for how a colour differs from its reference, e.g. ``"darker, yellower"``.

    Parameters
    ----------
    lab, reference_lab : (L*, a*, b*)
        The unit's and the reference's CIELAB D65.
    d_l, d_c, d_h : float
        CIEDE2000's weighted lightness, chroma and hue terms (unit minus reference), as in
        :class:`goldenvision.results.ColorResult`; a term below ``threshold`` is not worded.
    threshold : float
        Smallest term worth a word (ΔE00 units).

    Returns
    -------
    str
        The hue word names the a*/b* axis the hue moved along most (redder/greener,
        yellower/bluer), measured perpendicular to the reference's chroma direction so a pure
        saturation change is not called a hue shift.
    """
    words = []
    if abs(d_l) >= threshold:
        words.append("lighter" if d_l > 0 else "darker")
    if abs(d_c) >= threshold:
        words.append("more saturated" if d_c > 0 else "duller (greyer)")
    if abs(d_h) >= threshold:
        a0, b0 = float(reference_lab[1]), float(reference_lab[2])
        da, db = float(lab[1]) - a0, float(lab[2]) - b0
        c0 = math.hypot(a0, b0)
        if c0 > 1e-6:
            na, nb = a0 / c0, b0 / c0
            along = da * na + db * nb
            da, db = da - along * na, db - along * nb
        if abs(da) >= abs(db):
            words.append("redder" if da > 0 else "greener")
        else:
            words.append("yellower" if db > 0 else "bluer")
    return ", ".join(words) or "no clear direction"



@dataclass(frozen=True, slots=True)
class RegistrationResult:
    """Alignment of a moving (unit) image onto the reference (golden) frame.

    Attributes
    ----------
    homography : ndarray, shape (3, 3), float64
        Maps moving px -> reference px (homogeneous, ``H @ [x, y, 1]``).
    ok : bool
        True only when the alignment passed every quality check.
    rms_px : float
        Predicted 1-sigma alignment uncertainty in golden (reference) px: the RMS position error
        ``sqrt(sigma_x^2 + sigma_y^2)`` of the worst of the four golden-image corners, from the
        fine alignment's residual and Gauss-Newton covariance (non-rigid: of the worst edge point
        of the deformation). Not a residual of intensities. Points inside the image are typically
        known better. Measured with ``scripts/bench_registration.py --warps 60`` (47 accepted
        DeepPCB warps): true worst-corner error / ``rms_px`` median 1.18, p90 2.8. ``register``
        refuses above 0.2 px; 0.0 for ``method="none"`` and the identity; ``inf`` when refused.
    inliers : int
        Number of inlier correspondences (0 for intensity-only methods).
    confidence : float
        In [0, 1].
    method : str
        Which estimator produced the result (e.g. "features+ecc", "fourier-mellin+ecc").
    reason : str or None
        Why ``ok`` is False, in words (None when ok).
    flow : ndarray or None, shape (H, W, 2), float32
        Non-rigid residual displacement in reference px, applied after the homography:
        a reference pixel ``p`` samples the moving image at ``H^-1(p + flow[p])``. None if rigid.
    refusal : goldenvision.registration.refusal.RefusalCode or None
        The typed reason of a refusal (test this, never the text of ``reason``); None when ok
        or when the caller gave no code. ``to_dict`` writes its value (e.g. ``"undetermined"``).
    reference_shape_hw : (int, int) or None
        (H, W) of the reference (golden) frame, px, whose corners ``rms_px`` refers to (set by
        :func:`goldenvision.registration.register`; None when unknown).
    estimate : ndarray, shape (3, 3), float64, or None
        On a refusal (``ok`` False) whose only fault was its predicted uncertainty (every other
        check passed, :attr:`RefusalCode.UNDETERMINED <goldenvision.registration.refusal.RefusalCode>`
        from the corner-uncertainty test, not the basin check, a rival or features that disagree):
        the best such alignment (moving px -> reference px), when its predicted uncertainty is at
        most ``goldenvision.registration.align.MAX_ESTIMATE_STD_PX`` and no distinct alignment
        fits about as well. Too loose for pixelwise comparison, close enough to place the colour
        boxes and the calipers' search windows (the pipeline reads colours and dimensions through
        it; see docs/DESIGN.md). ``homography`` stays the identity and ``rms_px`` inf, as for
        every refusal. None otherwise (always None when ``ok``).
    estimate_std_px : float or None
        The estimate's predicted 1-sigma worst-corner uncertainty, golden px (as ``rms_px``
        would be); None without an estimate.
    note : str or None
        On an accepted alignment, what it was accepted despite, in words: keypoint inliers that
        the dense alignment does not explain, held by a minor part of the product (that part
        moved on it, a label or a print off position? the anomaly stage judges it there). None
        otherwise.
    """

    homography: np.ndarray
    ok: bool
    rms_px: float
    inliers: int = 0
    confidence: float = 0.0
    method: str = ""
    reason: str | None = None
    flow: np.ndarray | None = None
    refusal: RefusalCode | None = None
    reference_shape_hw: tuple[int, int] | None = None
    estimate: np.ndarray | None = None
    estimate_std_px: float | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        from .registration.refusal import RefusalCode  # here, not at the top: registration imports this module

        if self.refusal is not None and not isinstance(self.refusal, RefusalCode):
            raise ValueError(f"RegistrationResult.refusal: expected a RefusalCode or None, got {self.refusal!r}")
        if self.reference_shape_hw is not None:
            hw = tuple(int(v) for v in self.reference_shape_hw)
            if len(hw) != 2 or min(hw) < 1:
                raise ValueError(f"RegistrationResult.reference_shape_hw: expected (H, W) >= 1, got {self.reference_shape_hw!r}")
            object.__setattr__(self, "reference_shape_hw", hw)
        h = np.asarray(self.homography, dtype=np.float64)
        if h.shape != (3, 3):
            raise ValueError(f"RegistrationResult.homography: expected shape (3, 3), got {h.shape}")
        object.__setattr__(self, "homography", h)
        if self.flow is not None and (self.flow.ndim != 3 or self.flow.shape[2] != 2):
            raise ValueError(f"RegistrationResult.flow: expected shape (H, W, 2), got {self.flow.shape}")
        if self.estimate is not None:
            if self.ok:
                raise ValueError("RegistrationResult.estimate: only a refusal (ok False) carries an estimate")
            e = np.asarray(self.estimate, dtype=np.float64)
            if e.shape != (3, 3) or not np.all(np.isfinite(e)):
                raise ValueError(f"RegistrationResult.estimate: expected a finite (3, 3) array, got shape {e.shape}")
            std = self.estimate_std_px
            if std is None or not (math.isfinite(std) and std >= 0):
                raise ValueError(f"RegistrationResult.estimate_std_px: expected a finite value >= 0 with an estimate, "
                                 f"got {std!r}")
            object.__setattr__(self, "estimate", e)
            object.__setattr__(self, "estimate_std_px", float(std))
        elif self.estimate_std_px is not None:
            raise ValueError("RegistrationResult.estimate_std_px: given without an estimate")

    def to_dict(self) -> dict[str, Any]:
        return {
            "homography": self.homography.tolist(),
            "ok": bool(self.ok),
            "rms_px": jsonable(float(self.rms_px)),
            "inliers": int(self.inliers),
            "confidence": float(self.confidence),
            "method": self.method,
            "reason": self.reason,
            "refusal": None if self.refusal is None else self.refusal.value,
            "reference_shape_hw": None if self.reference_shape_hw is None else list(self.reference_shape_hw),
            "nonrigid": self.flow is not None,
            "max_flow_px": None if self.flow is None else float(np.abs(self.flow).max(initial=0.0)),
            "estimate": None if self.estimate is None else self.estimate.tolist(),
            "estimate_std_px": None if self.estimate_std_px is None else float(self.estimate_std_px),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class ColorResult:
    """Colour of one zone against the spec target and the golden.

    ``lab`` is the zone's robust mean CIELAB (D65). Deltas (``d_l``, ``d_c``, ``d_h``) are
    CIEDE2000's weighted components ΔL'/(kL SL), ΔC'/(kC SC), ΔH'/(kH SH) of the unit
    *relative to the reference* (target if any, else golden): ``d_l < 0`` reads "darker".

    ``reference`` says what judged the colour ("chart", "station profile", "relative-to-golden"
    with a fitted light field, "srgb-assumption"), ``uncertainty_de00`` its measured
    uncertainty (None = not estimated) and ``note`` what it cannot tell. A zone passes when its
    ΔE00 is within tolerance; it fails when it exceeds ``tolerance + uncertainty_de00``; in
    between the excess is not proven and the decision says ``review`` (same rule for target
    and golden; see :attr:`within_uncertainty`).
    """

    name: str
    lab: tuple[float, float, float]
    delta_e_target: float | None
    delta_e_golden: float
    tolerance: float
    golden_tolerance: float
    severity: Severity
    golden_lab: tuple[float, float, float] | None = None
    target_lab: tuple[float, float, float] | None = None
    d_l: float = 0.0
    d_c: float = 0.0
    d_h: float = 0.0
    uniformity_de00: float | None = None
    uniformity_tolerance: float | None = None
    valid_fraction: float = 1.0
    reference: str | None = None
    uncertainty_de00: float | None = None
    note: str | None = None
    clipped_fraction: float | None = None
    golden_clipped_fraction: float | None = None

    @property
    def clipped(self) -> bool:
        """The unit's zone is clipped (a channel at 0 or 255 on :data:`CLIPPED_FRACTION` of its
        pixels or more) where the golden's is not: outside the photo's gamut or exposure, so its
        Lab sits on the gamut boundary and a difference from the golden is under-read."""
        return (self.clipped_fraction is not None and self.clipped_fraction >= CLIPPED_FRACTION
                and (self.golden_clipped_fraction or 0.0) < CLIPPED_FRACTION / 2)

    @property
    def ok_target(self) -> bool:
        return self.delta_e_target is None or self.delta_e_target <= self.tolerance

    @property
    def ok_golden(self) -> bool:
        return self.delta_e_golden <= self.golden_tolerance

    @property
    def within_uncertainty(self) -> bool:
        """Out of tolerance, but by no more than ``uncertainty_de00`` on every failing
        criterion: the excess is not proven (the decision says ``review``, not ``fail``)."""
        u = self.uncertainty_de00
        if self.ok or u is None or not u == u or not self.ok_uniformity:
            return False
        return ((self.ok_target or self.delta_e_target is None or self.delta_e_target <= self.tolerance + u)
                and (self.ok_golden or self.delta_e_golden <= self.golden_tolerance + u))

    @property
    def ok_uniformity(self) -> bool:
        return (
            self.uniformity_tolerance is None
            or self.uniformity_de00 is None
            or self.uniformity_de00 <= self.uniformity_tolerance
        )

    @property
    def ok(self) -> bool:
        return self.ok_target and self.ok_golden and self.ok_uniformity

    def describe(self) -> str:
        """Plain words for the direction of the difference, e.g. 'darker, yellower'."""
        ref = self.target_lab if self.target_lab is not None else self.golden_lab
        if ref is None:
            ref = self.lab
        return color_shift_words(self.lab, ref, self.d_l, self.d_c, self.d_h)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lab": jsonable(self.lab),
            "delta_e_target": jsonable(self.delta_e_target),
            "delta_e_golden": jsonable(self.delta_e_golden),
            "tolerance": self.tolerance,
            "golden_tolerance": self.golden_tolerance,
            "severity": self.severity.value,
            "golden_lab": jsonable(self.golden_lab),
            "target_lab": jsonable(self.target_lab),
            "d_l": jsonable(self.d_l),
            "d_c": jsonable(self.d_c),
            "d_h": jsonable(self.d_h),
            "uniformity_de00": jsonable(self.uniformity_de00),
            "uniformity_tolerance": self.uniformity_tolerance,
            "valid_fraction": jsonable(self.valid_fraction),
            "reference": self.reference,
            "uncertainty_de00": jsonable(self.uncertainty_de00),
            "note": self.note,
            "clipped_fraction": jsonable(self.clipped_fraction),
            "golden_clipped_fraction": jsonable(self.golden_clipped_fraction),
            "ok": self.ok,
            "within_uncertainty": self.within_uncertainty,
        }


@dataclass(frozen=True, slots=True)
class DimensionResult:
    """One measured dimension against nominal ± tolerance (mm).

    Attributes
    ----------
    uncertainty_mm : float or None
        One standard deviation of ``measured_mm``: the edge fits and, when ``reference`` is
        ``"golden_frame"``, the registration (:mod:`goldenvision.measure.dimensions`).
    edges_unit_px : tuple of (x, y)
        The edge points used, unit px.
    reference : goldenvision.measure.reference.DimensionReference
        What turned px into mm: ``"station_profile"`` (the unit's metric frame),
        ``"golden_frame"`` (unit px mapped into golden px through the registration, times
        the golden's scale), ``"marker"`` (a known-size marker in the photo), ``"ruler"`` (the
        golden frame scaled by a ruler in the photo) or ``"unit_scale"`` (unit px times a given
        scale, the unit's frame unknown). A str is accepted and converted; ``to_dict`` writes the value.
    """

    name: str
    measured_mm: float
    nominal_mm: float
    tol_minus_mm: float
    tol_plus_mm: float
    severity: Severity = Severity.major
    uncertainty_mm: float | None = None
    edges_unit_px: tuple[tuple[float, float], ...] = ()
    reference: DimensionReference | str = "unit_scale"

    def __post_init__(self) -> None:
        from .measure.reference import as_reference  # here, not at the top: measure imports this module

        object.__setattr__(self, "reference", as_reference(self.reference, "DimensionResult.reference"))

    @property
    def ok(self) -> bool:
        return self.nominal_mm - self.tol_minus_mm <= self.measured_mm <= self.nominal_mm + self.tol_plus_mm

    @property
    def within_uncertainty(self) -> bool:
        """Out of tolerance, but by no more than the expanded uncertainty ``COVERAGE_K *
        uncertainty_mm``: the non-conformance is not proven (ISO 14253-1 decision rule), so
        the decision says ``review``, not ``fail`` (as for colour, see
        :attr:`ColorResult.within_uncertainty`)."""
        u = self.uncertainty_mm
        if self.ok or u is None or not u == u or not math.isfinite(self.measured_mm):
            return False
        lo, hi = self.nominal_mm - self.tol_minus_mm, self.nominal_mm + self.tol_plus_mm
        excess = lo - self.measured_mm if self.measured_mm < lo else self.measured_mm - hi
        return excess <= COVERAGE_K * u

    @property
    def deviation_mm(self) -> float:
        return self.measured_mm - self.nominal_mm

    def describe(self) -> str:
        return (
            f"{self.name} {self.measured_mm:.2f} mm, nominal {self.nominal_mm:.2f} "
            f"\u2212{self.tol_minus_mm:.2f}/+{self.tol_plus_mm:.2f}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured_mm": jsonable(self.measured_mm),
            "nominal_mm": self.nominal_mm,
            "tol_minus_mm": self.tol_minus_mm,
            "tol_plus_mm": self.tol_plus_mm,
            "deviation_mm": jsonable(self.deviation_mm),
            "severity": self.severity.value,
            "uncertainty_mm": jsonable(self.uncertainty_mm),
            "edges_unit_px": jsonable(self.edges_unit_px),
            "reference": cast("DimensionReference", self.reference).value,  # converted in __post_init__
            "ok": self.ok,
            "within_uncertainty": self.within_uncertainty,
        }


@dataclass(frozen=True, slots=True)
class Defect:
    """An anomalous region in golden px."""

    bbox: tuple[int, int, int, int]  # x1, y1, x2, y2 golden px (x2, y2 exclusive)
    score: float  # peak normalised anomaly score (1.0 = zone threshold)
    zone: str
    defect_type: DefectType
    severity: Severity
    area_px: int = 0
    area_mm2: float | None = None
    defect_class: str | None = None  # class name when a trained detector found it (spec `detector`)

    def __post_init__(self) -> None:
        if len(self.bbox) != 4:
            raise ValueError(f"Defect.bbox: expected (x1, y1, x2, y2), got {self.bbox!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "bbox": [int(v) for v in self.bbox],
            "score": jsonable(float(self.score)),
            "zone": self.zone,
            "defect_type": self.defect_type.value,
            "severity": self.severity.value,
            "area_px": int(self.area_px),
            "area_mm2": jsonable(self.area_mm2),
            "defect_class": self.defect_class,
        }


@dataclass(frozen=True, slots=True)
class AnomalyResult:
    """Anomaly stage output: normalised map (1.0 = threshold) in golden px, zone scores, regions."""

    score: float
    map: np.ndarray  # float32 (H, W), golden px
    zone_scores: dict[str, float]
    defects: tuple[Defect, ...]

    def __post_init__(self) -> None:
        if self.map.ndim != 2:
            raise ValueError(f"AnomalyResult.map: expected shape (H, W), got {self.map.shape}")


@dataclass(frozen=True)
class UnitResult:
    """Everything goldenvision concluded about one unit.

    ``provenance`` is the audit trail (golden id and manifest hash, spec revision, model and
    software versions, ``image_sha256`` of the bytes judged); ``context`` the conditions the
    caller gave (lot, shift, material batch, ...; see ``goldenvision.pipeline.validate_context``);
    ``timings_ms`` the wall-clock time of each stage and the ``total``.
    """

    verdict: Verdict
    reasons: tuple[str, ...]
    registration: RegistrationResult | None
    color: tuple[ColorResult, ...] = ()
    dimensions: tuple[DimensionResult, ...] = ()
    anomaly_score: float | None = None
    anomaly_map: np.ndarray | None = None
    zone_scores: dict[str, float] = field(default_factory=dict)
    defects: tuple[Defect, ...] = ()
    failed_severities: tuple[Severity, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    unit_id: str | None = None
    context: dict[str, str | float] = field(default_factory=dict)

    @property
    def image_sha256(self) -> str | None:
        """sha256 of the photo's bytes that were decoded and judged (``provenance["image_sha256"]``);
        None when the photo could not be read."""
        return self.provenance.get("image_sha256")

    @property
    def defect_class(self) -> Severity | None:
        """The most serious severity among failed checks (critical > major > minor), None if none."""
        return max((Severity(s) for s in self.failed_severities), key=lambda s: s.rank, default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (the anomaly map itself is left out; see ``anomaly_map``)."""
        return {
            "unit_id": self.unit_id,
            "verdict": self.verdict.value,
            "defect_class": None if self.defect_class is None else self.defect_class.value,
            "reasons": list(self.reasons),
            "registration": None if self.registration is None else self.registration.to_dict(),
            "color": [c.to_dict() for c in self.color],
            "dimensions": [d.to_dict() for d in self.dimensions],
            "anomaly_score": jsonable(self.anomaly_score),
            "zone_scores": jsonable(self.zone_scores),
            "defects": [d.to_dict() for d in self.defects],
            "failed_severities": [s.value for s in self.failed_severities],
            "provenance": jsonable(self.provenance),
            "timings_ms": jsonable(self.timings_ms),
            "context": jsonable(self.context),
        }
