"""Lot verdicts: one plan per defect class (critical, major, minor) and the combined decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError
from .plans import Decision, SamplingPlan, _check_count


@dataclass(frozen=True, slots=True)
class ClassResult:
    """One defect class of a lot: its plan, the count found and the class decision.

    ``nonconforming`` counts nonconforming UNITS whose most serious class is this one
    (per-class counting of ISO 2859-1 clause 3.1.6: a unit with a critical and a minor
    flaw counts once, as critical). ``unresolved`` counts sampled units still under review.
    """

    defect_class: str
    plan: SamplingPlan
    nonconforming: int
    decision: Decision
    unresolved: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "defect_class": self.defect_class,
            "plan": self.plan.to_dict(),
            "nonconforming": self.nonconforming,
            "unresolved": self.unresolved,
            "decision": self.decision.value,
        }


@dataclass(frozen=True, slots=True)
class LotVerdict:
    """Lot decision over all defect classes.

    ``decision`` is ``reject`` if any class rejects; ``pending`` if units under review could
    still change it; ``accept_reinstate_normal`` if all classes accept and at least one
    fell in the reduced-inspection gap; else ``accept``.
    """

    decision: Decision
    classes: tuple[ClassResult, ...]
    unresolved: int = 0
    reasons: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.decision.accepted

    @property
    def reinstate_normal(self) -> bool:
        return self.decision is Decision.accept_reinstate_normal

    def by_class(self) -> dict[str, ClassResult]:
        return {c.defect_class: c for c in self.classes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "accepted": self.accepted,
            "unresolved": self.unresolved,
            "classes": [c.to_dict() for c in self.classes],
            "reasons": list(self.reasons),
        }


def _class_outcome(p: SamplingPlan, count: int, unresolved: int) -> Decision:
    outcomes = {p.decide(min(d, p.sample_size)) for d in range(count, count + unresolved + 1)}
    return outcomes.pop() if len(outcomes) == 1 else Decision.pending


def _combine(decisions: list[Decision]) -> Decision:
    if Decision.reject in decisions:
        return Decision.reject
    if Decision.pending in decisions:
        return Decision.pending
    if Decision.accept_reinstate_normal in decisions:
        return Decision.accept_reinstate_normal
    return Decision.accept


def lot_verdict(
    results_by_class: Mapping[str, int],
    plans: Mapping[str, SamplingPlan],
    *,
    unresolved_by_class: Mapping[str, int] | None = None,
) -> LotVerdict:
    """Judge a lot from nonconforming-unit counts per defect class.

    Parameters
    ----------
    results_by_class : mapping str -> int
        Nonconforming units found per class, each unit counted once in its most serious
        class. A class missing here counts 0.
    plans : mapping str -> SamplingPlan
        Plan per class (e.g. from :func:`class_plans`). Every key of ``results_by_class``
        must have a plan.
    unresolved_by_class : mapping str -> int, optional
        Sampled units of each class's sample still under review. A class is ``pending``
        when resolving them could change its decision (some count in
        ``[d, d + unresolved]`` gives another decision).

    Returns
    -------
    LotVerdict
    """
    if not plans:
        raise SpecError("plans: expected at least one defect class plan, got none")
    unknown = sorted(set(results_by_class) - set(plans))
    if unknown:
        raise SpecError(f"results_by_class: classes {unknown} have no plan; expected keys among {sorted(plans)}")
    unresolved_by_class = dict(unresolved_by_class or {})
    classes: list[ClassResult] = []
    reasons: list[str] = []
    for name, p in plans.items():
        if not isinstance(p, SamplingPlan):
            raise SpecError(f"plans[{name!r}]: expected a SamplingPlan, got {type(p).__name__}")
        d = _check_count(results_by_class.get(name, 0), f"results_by_class[{name!r}]", p.sample_size)
        u = _check_count(unresolved_by_class.get(name, 0), f"unresolved_by_class[{name!r}]", p.sample_size)
        if d + u > p.sample_size:
            raise SpecError(f"class {name!r}: {d} nonconforming + {u} unresolved exceed the sample of {p.sample_size}")
        decision = _class_outcome(p, d, u)
        classes.append(ClassResult(name, p, d, decision, u))
        label = "AQL 0 (zero tolerance)" if p.aql == 0 else f"AQL {p.aql:g}"
        reasons.append(
            f"{name}: {d} nonconforming in {p.sample_size} ({label}, Ac {p.accept} Re {p.reject})"
            + (f", {u} under review" if u else "")
            + f" -> {decision.value}"
        )
    return LotVerdict(
        decision=_combine([c.decision for c in classes]),
        classes=tuple(classes),
        unresolved=max((c.unresolved for c in classes), default=0),
        reasons=tuple(reasons),
    )
