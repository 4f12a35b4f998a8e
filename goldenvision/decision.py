"""Per-unit decision: pass, fail or review, with one human-readable reason per finding.

Rules (in this order of precedence):

1. ``fail`` when any check that *could be made* is out of tolerance: a colour zone beyond
   its ΔE00 tolerance (against the target, the golden, or in uniformity), a dimension outside
   nominal ± tolerance, an anomaly region in a zone. A definite nonconformity is a
   nonconformity even if another check could not be made.
2. ``review`` when no check failed but at least one could not be made (image unreadable,
   calibration impossible, registration refused, a feature not found, a zone mostly hidden).
3. ``pass`` otherwise.

The failed severities (critical/major/minor) are kept so the lot stage can count each unit
in its most serious class (ISO 2859-1 classification of nonconformities).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .enums import Severity, Verdict
from .errors import MeasurementError
from .results import COVERAGE_K, AnomalyResult, ColorResult, DimensionResult, RegistrationResult, cannot_decide

__all__ = ["Decision", "decide", "MIN_VALID_FRACTION"]

#: A colour zone whose robust statistics kept less than this share of its pixels is not judged.
MIN_VALID_FRACTION = 0.3


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reasons: tuple[str, ...]
    failed_severities: tuple[Severity, ...]


def _color_reason(c: ColorResult) -> str:
    parts = []
    if not c.ok_target and c.delta_e_target is not None:
        parts.append(f"\u0394E00 {c.delta_e_target:.2f} against the target (tolerance {c.tolerance:.2f})")
    if not c.ok_golden:
        parts.append(f"\u0394E00 {c.delta_e_golden:.2f} against the golden (tolerance {c.golden_tolerance:.2f})")
    if not c.ok_uniformity and c.uniformity_de00 is not None:
        parts.append(
            f"uneven: 95th percentile \u0394E00 {c.uniformity_de00:.2f} inside the zone "
            f"(tolerance {c.uniformity_tolerance:.2f})"
        )
    if c.clipped:
        parts.append(f"{100 * (c.clipped_fraction or 0.0):.0f} % of the zone clipped at the photo's gamut or "
                     f"exposure (the golden's {100 * (c.golden_clipped_fraction or 0.0):.0f} %): the difference "
                     f"is larger than measured")
    return f"color {c.name}: " + "; ".join(parts) + f" \u2014 {c.describe()}"


def decide(
    *,
    registration: RegistrationResult | None,
    colors: Sequence[ColorResult] = (),
    dimensions: Sequence[DimensionResult | MeasurementError] = (),
    anomaly: AnomalyResult | None = None,
    anomaly_severity: dict[str, Severity] | None = None,
    problems: Sequence[str] = (),
) -> Decision:
    """Combine the stage results into a verdict.

    Parameters
    ----------
    registration : RegistrationResult or None
        None when the pipeline stopped before registration (reason in ``problems``).
    colors, dimensions, anomaly
        Stage results; a :class:`MeasurementError` in ``dimensions`` stands for a feature
        that could not be measured.
    anomaly_severity : dict of str to Severity
        Severity of each anomaly zone by name (from the spec).
    problems : sequence of str
        Checks that could not be made, already phrased as reasons (e.g. "calibration: ...").
    """
    fails: list[str] = []
    reviews: list[str] = list(problems)
    severities: list[Severity] = []

    if registration is not None and not registration.ok:
        reviews.append(f"registration: {registration.reason or 'not aligned'}")

    for c in colors:
        if c.valid_fraction < MIN_VALID_FRACTION:
            reviews.append(
                f"color {c.name}: only {100 * c.valid_fraction:.0f} % of the zone usable "
                f"(covered, shadowed or specular); not judged"
            )
        elif c.clipped and c.ok:
            reviews.append(
                f"color {c.name}: {100 * (c.clipped_fraction or 0.0):.0f} % of the zone clipped (a channel at 0 "
                f"or 255; the golden's {100 * (c.golden_clipped_fraction or 0.0):.0f} %): the colour is outside "
                f"what the photo recorded (gamut or exposure), so \u0394E00 {c.delta_e_golden:.2f} against the "
                f"golden is a lower bound; not proven within tolerance (check the exposure)"
            )
        elif c.within_uncertainty:
            reviews.append(_color_reason(c) + f" (within the measurement uncertainty "
                           f"\u00b1{c.uncertainty_de00:.2f} of {c.reference}; not proven{_colour_incapable(c)})")
        elif not c.ok:
            fails.append(_color_reason(c))
            severities.append(c.severity)

    for d in dimensions:
        if isinstance(d, MeasurementError):
            reviews.append(f"dimension {d}")
        elif d.within_uncertainty:
            assert d.uncertainty_mm is not None  # within_uncertainty needs it
            ref = getattr(d.reference, "value", d.reference)
            expanded = COVERAGE_K * d.uncertainty_mm
            reviews.append(f"dimension {d.describe()} (out by less than the expanded measurement uncertainty "
                           f"\u00b1{expanded:.2f} mm of {ref}; not proven{_incapable(ref, d)})")
        elif not d.ok:
            fails.append(f"dimension {d.describe()}")
            severities.append(d.severity)

    if anomaly is not None:
        sev = anomaly_severity or {}
        by_zone: dict[str, list] = {}
        for defect in anomaly.defects:
            by_zone.setdefault(defect.zone, []).append(defect)
        for zone, found in by_zone.items():
            worst = max(found, key=lambda d: d.score)
            x1, y1, x2, y2 = worst.bbox
            area = f", {worst.area_mm2:.1f} mm\u00b2" if worst.area_mm2 is not None else ""
            fails.append(
                f"anomaly {zone} ({worst.defect_type.value}): {len(found)} region(s), worst "
                f"{worst.score:.1f}\u00d7 threshold at golden px ({x1}, {y1})\u2013({x2}, {y2}){area}"
            )
            severities.append(sev.get(zone, worst.severity))

    if fails:
        verdict = Verdict.failed
    elif reviews:
        verdict = Verdict.review
    else:
        verdict = Verdict.passed
    uniq = tuple(sorted({Severity(s) for s in severities}, key=lambda s: -s.rank))
    return Decision(verdict=verdict, reasons=tuple(fails + reviews), failed_severities=uniq)


#: What would decide a dimension whose reference's expanded uncertainty is as wide as half its
#: tolerance band (no reading near a limit can be proven either way), per reference.
_BETTER_REFERENCE = {
    "marker": "a larger marker laid nearer the feature, or a station, would decide it",
    "ruler": "a longer stretch of ruler in the photo, a marker, or a station would decide it",
    "golden_frame": "a known-size marker or a ruler in the photo, or a station, would decide it",
    "station_profile": "the station's resolution or calibration is too coarse for this tolerance",
    "unit_scale": "a station profile or a marker would decide it",
}


#: What would decide a colour tolerance its reference cannot (:func:`_colour_incapable`), by the
#: start of :attr:`ColorResult.reference`.
_BETTER_COLOUR_REFERENCE = (
    ("relative-to-golden", "a colour chart in the photo, or a station with its chart, would decide it"),
    ("srgb-assumption", "a colour chart in the photo, or a station with its chart, would decide it"),
    ("chart", "a station's fixed light and its profile would decide it"),
    ("station profile", "the station's colour profile is too loose for this tolerance (profile it again)"),
)


def _colour_incapable(c: ColorResult) -> str:
    """A note when a colour's reference cannot decide its tolerance: its uncertainty (the margin
    the decision rule allows either way, :attr:`ColorResult.within_uncertainty`) reaches half the
    tighter of the zone's tolerances, so many units near a limit will go to review. Zoo hand-held
    labels without a chart (seed 3): six good labels went to review on their paper, stated
    uncertainty 0.77-1.24 against a 1.5 tolerance, and each now says so; a defective label's
    paper at 0.52 does not, nor do the hardware's tape reviews at quality 68-77 (0.22-0.38)."""
    u = c.uncertainty_de00
    tol = min(c.tolerance, c.golden_tolerance)
    if u is None or not (tol > 0 and u >= 0.5 * tol):
        return ""
    ref = c.reference or ""
    hint = next((h for start, h in _BETTER_COLOUR_REFERENCE if ref.startswith(start)),
                "a more precise colour reference would decide it")
    return f"; this reference cannot decide a \u0394E00 {tol:.2f} tolerance: {hint}"


def _incapable(ref: str, d: DimensionResult) -> str:
    """A note when the reference cannot decide this tolerance: its expanded uncertainty reaches half
    the tolerance band (a gauge should use a small part of it; ISO 14253-1 only says what an
    unproven reading is, this says why there will be many)."""
    half = 0.5 * (d.tol_minus_mm + d.tol_plus_mm)
    u = d.uncertainty_mm
    if not (half > 0 and u is not None and cannot_decide(u, d.tol_minus_mm, d.tol_plus_mm)):
        return ""
    hint = _BETTER_REFERENCE.get(ref, "a more precise reference would decide it")
    return f"; this reference cannot decide a \u00b1{half:.2f} mm band: {hint}"
