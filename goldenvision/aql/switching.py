"""ISO 2859-1 switching rules (clause 9): normal, tightened, reduced, discontinued, per supplier and product."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError
from .plans import Decision, tighter_accept_number
from .verdicts import LotVerdict


@dataclass(frozen=True, slots=True)
class LotOutcome:
    """What the switching rules need to know about one lot on original inspection.

    Attributes
    ----------
    accepted : bool
        Lot accepted on original inspection (resubmitted lots do not count).
    nonconforming : int, optional
        Count in the sample (single sampling); needed for the switching score when Ac >= 2.
    accept_number : int, optional
        Ac of the plan used; with ``nonconforming`` decides "+3 or reset" (clause 9.3.3.2).
    double_accepted_on_first : bool, optional
        Double sampling: lot accepted after the first sample (+3, else reset).
    score_points : int, optional
        Switching-score points already worked out (0 = reset, 2 or 3); overrides the
        three fields above. :meth:`from_verdict` fills it for multi-class lots.
    reinstate_normal : bool
        Reduced inspection gap (Ac < d < Re): accepted, but normal is reinstated.
    production_irregular : bool
        Production irregular or delayed (reduced -> normal, clause 9.3.4 b).
    other_conditions : bool
        Other conditions warrant normal inspection (clause 9.3.4 c).
    lot_id : str, optional
    """

    accepted: bool
    nonconforming: int | None = None
    accept_number: int | None = None
    double_accepted_on_first: bool | None = None
    score_points: int | None = None
    reinstate_normal: bool = False
    production_irregular: bool = False
    other_conditions: bool = False
    lot_id: str | None = None

    @classmethod
    def from_verdict(cls, verdict: LotVerdict, *, lot_id: str | None = None, **flags: bool) -> LotOutcome:
        """Outcome of a judged lot, with the switching-score points of all its classes.

        Each AQL class earns points as in clause 9.3.3.2 (Ac >= 2: 3 if the count would
        have been accepted one AQL step tighter; Ac 0/1: 2 if the class accepted); the
        lot earns the smallest of them, and 0 (reset) if the lot is not accepted or any
        class earns 0. Zero-tolerance classes (AQL 0) only act through acceptance.
        """
        if verdict.decision is Decision.pending:
            raise SpecError("verdict: decision is 'pending'; resolve units under review before recording the lot")
        points = []
        for c in verdict.classes:
            if c.plan.aql == 0:
                continue
            if c.plan.accept >= 2:
                points.append(3 if c.nonconforming <= tighter_accept_number(c.plan.accept) else 0)
            else:
                points.append(2 if c.decision.accepted else 0)
        score = min(points) if (points and verdict.accepted) else 0
        return cls(verdict.accepted, score_points=score, reinstate_normal=verdict.reinstate_normal,
                   lot_id=lot_id, **flags)


@dataclass(frozen=True, slots=True)
class Transition:
    """Result of recording one lot: severity before and after, and why it changed."""

    lot_index: int
    before: str
    after: str
    reason: str = ""
    switching_score: int | None = None

    @property
    def switched(self) -> bool:
        return self.before != self.after

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_STATES = ("normal", "tightened", "reduced", "discontinued")


@dataclass
class SwitchingState:
    """ISO 2859-1:1999 clause 9 switching rules for one supplier and product.

    States: ``normal`` (start), ``tightened``, ``reduced``, ``discontinued``.

    * normal -> tightened: 2 lots not accepted among 5 or fewer consecutive lots on
      original inspection (9.3.1).
    * tightened -> normal: 5 consecutive lots accepted (9.3.2).
    * tightened -> discontinued: the lots not accepted while on tightened inspection
      (since the switch to tightened) reach 5 (9.4). :meth:`resume` restarts with
      tightened inspection once the supplier has acted.
    * normal -> reduced: switching score >= 30 (9.3.3) AND ``production_steady`` AND
      ``authority_approves_reduced`` (flags, default True). Score: 0 at the start of normal
      inspection; for single sampling with Ac >= 2, +3 if the lot would have been
      accepted with the AQL one step tighter, else reset to 0; with Ac 0 or 1, +2 if
      accepted, else reset to 0; for double sampling +3 if accepted after the first
      sample, else reset to 0.
    * reduced -> normal: a lot not accepted, a lot accepted in the Table 2-C gap,
      production irregular or delayed, or other conditions (9.3.4).

    Use ``state.severity`` for the next lot's plan, then :meth:`record` its outcome.
    """

    supplier: str = ""
    product: str = ""
    severity: str = "normal"
    switching_score: int = 0
    production_steady: bool = True
    authority_approves_reduced: bool = True
    recent_normal: list[bool] = field(default_factory=list)
    tightened_accept_run: int = 0
    tightened_not_accepted: int = 0
    lots_recorded: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.severity not in _STATES:
            raise SpecError(f"severity={self.severity!r}; expected one of {list(_STATES)}")

    def _score_increment(self, o: LotOutcome) -> int | None:
        """Points for the switching score, or None for "reset to 0"."""
        if o.score_points is not None:
            if o.score_points not in (0, 2, 3):
                raise SpecError(f"lot_result.score_points={o.score_points!r}; expected 0 (reset), 2 or 3")
            return o.score_points or None
        if o.double_accepted_on_first is not None:
            return 3 if o.double_accepted_on_first else None
        if not o.accepted:
            return None
        ac = o.accept_number
        if ac is None:
            raise SpecError("lot_result.accept_number: expected the plan's Ac (needed for the switching score on normal inspection), got None")
        if ac <= 1:
            return 2
        if o.nonconforming is None:
            raise SpecError("lot_result.nonconforming: expected the count in the sample (Ac >= 2 needs it for the switching score), got None")
        return 3 if o.nonconforming <= tighter_accept_number(ac) else None

    def record(self, lot_result: LotOutcome | LotVerdict) -> Transition:
        """Record one lot inspected at ``self.severity``; return the transition.

        Parameters
        ----------
        lot_result : LotOutcome or LotVerdict
            A :class:`LotVerdict` is turned into a :class:`LotOutcome` with
            :meth:`LotOutcome.from_verdict`.
        """
        if isinstance(lot_result, LotVerdict):
            lot_result = LotOutcome.from_verdict(lot_result)
        if not isinstance(lot_result, LotOutcome):
            raise SpecError(f"lot_result: expected a LotOutcome or LotVerdict, got {type(lot_result).__name__}")
        if self.severity == "discontinued":
            raise SpecError("severity='discontinued'; acceptance inspection is discontinued (ISO 2859-1 9.4): call resume() after corrective action")
        o = lot_result
        self.lots_recorded += 1
        before = self.severity
        reason = ""
        score: int | None = None
        if before == "normal":
            inc = self._score_increment(o)
            self.switching_score = 0 if inc is None else self.switching_score + inc
            score = self.switching_score
            self.recent_normal = (self.recent_normal + [o.accepted])[-5:]
            if self.recent_normal.count(False) >= 2:
                self._enter("tightened")
                reason = "2 lots not accepted within 5 or fewer consecutive lots (9.3.1)"
            elif self.switching_score >= 30 and self.production_steady and self.authority_approves_reduced:
                self._enter("reduced")
                reason = "switching score reached 30, production steady, reduced approved (9.3.3)"
        elif before == "tightened":
            if o.accepted:
                self.tightened_accept_run += 1
            else:
                self.tightened_accept_run = 0
                self.tightened_not_accepted += 1
            if self.tightened_not_accepted >= 5:
                self._enter("discontinued")
                reason = "5 lots not accepted while on tightened inspection (9.4)"
            elif self.tightened_accept_run >= 5:
                self._enter("normal")
                reason = "5 consecutive lots accepted on tightened inspection (9.3.2)"
        else:  # reduced
            causes = []
            if not o.accepted:
                causes.append("a lot was not accepted")
            if o.reinstate_normal:
                causes.append("Ac exceeded without reaching Re")
            if o.production_irregular:
                causes.append("production irregular or delayed")
            if o.other_conditions:
                causes.append("other conditions warrant normal inspection")
            if causes:
                self._enter("normal")
                reason = "; ".join(causes) + " (9.3.4)"
        if score is None and self.severity == "normal":
            score = self.switching_score
        t = Transition(self.lots_recorded, before, self.severity, reason, score)
        self.log.append({"lot_id": o.lot_id, "accepted": o.accepted, **t.to_dict()})
        return t

    def _enter(self, severity: str) -> None:
        self.severity = severity
        self.switching_score = 0
        self.recent_normal = []
        self.tightened_accept_run = 0
        if severity == "tightened":
            self.tightened_not_accepted = 0

    def resume(self, reason: str = "supplier corrective action accepted") -> Transition:
        """Resume inspection after discontinuation, on tightened inspection (9.4)."""
        if self.severity != "discontinued":
            raise SpecError(f"severity={self.severity!r}; resume() expects 'discontinued'")
        self._enter("tightened")
        t = Transition(self.lots_recorded, "discontinued", "tightened", reason)
        self.log.append({"lot_id": None, "accepted": None, **t.to_dict()})
        return t

    def to_dict(self) -> dict[str, Any]:
        return {
            "supplier": self.supplier,
            "product": self.product,
            "severity": self.severity,
            "switching_score": self.switching_score,
            "production_steady": self.production_steady,
            "authority_approves_reduced": self.authority_approves_reduced,
            "recent_normal": list(self.recent_normal),
            "tightened_accept_run": self.tightened_accept_run,
            "tightened_not_accepted": self.tightened_not_accepted,
            "lots_recorded": self.lots_recorded,
            "log": [dict(e) for e in self.log],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SwitchingState:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise SpecError(f"SwitchingState: unknown keys {unknown}; expected among {sorted(cls.__dataclass_fields__)}")
        kwargs: dict[str, Any] = {k: (list(v) if isinstance(v, list) else v) for k, v in d.items()}
        return cls(**kwargs)
