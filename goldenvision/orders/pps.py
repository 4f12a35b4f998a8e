"""Pre-production sample (PPS) review: characteristic by characteristic, one proposed outcome.

A PPS is made on the real line with the real materials; the buyer approves it before mass
production. Each characteristic of the spec is judged across the PPS units by the share of
its tolerance it uses (1.0 = at the limit):

* colour zone: the larger of ΔE00 against the spec target / the zone's tolerance and ΔE00
  against the golden / the golden tolerance, with the direction of the shift in words;
* dimension: |measured − nominal| / the tolerance on that side;
* anomaly zone: the zone's anomaly score (1.0 = the zone's threshold).

Proposed outcome: ``resubmit`` when any unit fails or any characteristic is beyond its
tolerance; ``approve_with_comments`` when all pass but a characteristic uses more than
:data:`COMMENT_SHARE` of its tolerance, or a unit could not be judged (``review``);
``approve`` otherwise. The buyer decides; the proposal says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COMMENT_SHARE", "OUTCOMES", "Characteristic", "PpsProposal", "propose"]

#: A characteristic using more than this share of its tolerance is worth a comment.
COMMENT_SHARE = 0.7
OUTCOMES = ("approve", "approve_with_comments", "resubmit")


@dataclass(frozen=True)
class Characteristic:
    """One characteristic over the PPS units: its worst unit and the share of tolerance used."""

    kind: str  # color | dimension | anomaly
    name: str
    worst_share: float  # of the tolerance (1.0 = at the limit)
    worst_unit: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "worst_share": round(self.worst_share, 4),
                "worst_unit": self.worst_unit, "detail": self.detail}


@dataclass(frozen=True)
class PpsProposal:
    """The proposed outcome, its reasons and every characteristic's figures."""

    outcome: str
    reasons: tuple[str, ...]
    characteristics: tuple[Characteristic, ...]
    units: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reasons": list(self.reasons),
                "characteristics": [c.to_dict() for c in self.characteristics], "units": list(self.units)}


def _unit_name(r: Any, i: int) -> str:
    return str(r.unit_id or f"unit {i + 1}")


def propose(results: Sequence[Any]) -> PpsProposal:
    """Propose a PPS outcome from the units' :class:`~goldenvision.results.UnitResult`."""
    if not results:
        raise ValueError("pps: expected at least one PPS unit, got none")
    worst: dict[tuple[str, str], Characteristic] = {}

    def keep(c: Characteristic) -> None:
        k = (c.kind, c.name)
        if k not in worst or c.worst_share > worst[k].worst_share:
            worst[k] = c

    for i, r in enumerate(results):
        unit = _unit_name(r, i)
        for c in r.color:
            shares = [(c.delta_e_golden / c.golden_tolerance, c.delta_e_golden, "golden", c.golden_tolerance)]
            if c.delta_e_target is not None:
                shares.append((c.delta_e_target / c.tolerance, c.delta_e_target, "target", c.tolerance))
            share, de, ref, tol = max(shares)
            keep(Characteristic("color", c.name, share, unit,
                                f"ΔE00 {de:.2f} against the {ref} (tolerance {tol:.2f}), {c.describe()}"))
        for d in r.dimensions:
            dev = d.measured_mm - d.nominal_mm
            tol = d.tol_plus_mm if dev >= 0 else d.tol_minus_mm
            share = abs(dev) / tol if tol > 0 else float("inf")
            keep(Characteristic("dimension", d.name, share, unit,
                                f"{d.measured_mm:.3f} mm, nominal {d.nominal_mm:.3f} "
                                f"(−{d.tol_minus_mm:.2f}/+{d.tol_plus_mm:.2f}); "
                                f"{abs(dev):.3f} mm {'over' if dev >= 0 else 'under'} nominal"))
        for zone, score in (r.zone_scores or {}).items():
            keep(Characteristic("anomaly", zone, float(score), unit, f"anomaly score {score:.2f} of the threshold"))
    chars = tuple(sorted(worst.values(), key=lambda c: (-c.worst_share, c.kind, c.name)))
    verdicts = [str(getattr(r.verdict, "value", r.verdict)) for r in results]
    reasons: list[str] = []
    failed = [(_unit_name(r, i), r) for i, r in enumerate(results) if verdicts[i] == "fail"]
    review = [(_unit_name(r, i), r) for i, r in enumerate(results) if verdicts[i] == "review"]
    beyond = [c for c in chars if c.worst_share > 1.0]
    close = [c for c in chars if COMMENT_SHARE < c.worst_share <= 1.0]
    for name, r in failed:
        reasons.append(f"{name} fails: " + "; ".join(r.reasons))
    for c in beyond:
        reasons.append(f"{c.kind} {c.name} beyond its tolerance on {c.worst_unit}: {c.detail}")
    if failed or beyond:
        outcome = "resubmit"
    else:
        for name, r in review:
            reasons.append(f"{name} could not be judged: " + "; ".join(r.reasons))
        for c in close:
            reasons.append(f"{c.kind} {c.name} uses {c.worst_share:.0%} of its tolerance on {c.worst_unit}: {c.detail}")
        outcome = "approve_with_comments" if (review or close) else "approve"
    if outcome == "approve":
        reasons.append(f"all {len(results)} PPS units pass; every characteristic within "
                       f"{COMMENT_SHARE:.0%} of its tolerance")
    units = tuple({"unit": _unit_name(r, i), "verdict": verdicts[i], "reasons": list(r.reasons),
                   "image_sha256": (r.provenance or {}).get("image_sha256")} for i, r in enumerate(results))
    return PpsProposal(outcome, tuple(reasons), chars, units)
