"""Lots: reproducible sample draws and lot verdicts from unit results (ISO 2859-1).

A lot is judged in three steps:

1. :func:`goldenvision.aql.class_plans` gives one plan per defect class (critical, major,
   minor) from the spec's ``aql`` settings and the lot size.
2. :func:`draw_sample` picks the units to inspect: a seeded, recorded draw without
   replacement, as large as the largest class sample.
3. :func:`judge_lot` counts nonconforming units per class among the inspected units and
   applies each class's Ac/Re (:func:`goldenvision.aql.lot_verdict`).

Counting rule: we count nonconforming UNITS per class, each unit once in its most serious
class (``UnitResult.defect_class``: critical > major > minor), as ISO 2859-1 does for
"nonconforming items" (clause 3.1.6); we do not count nonconformities (defects) per unit.

Units in ``review`` are not guessed: they are counted as *unresolved*, and the lot is
``pending`` when resolving them could change the decision of any class (every count from
"none of them nonconforming" to "all of them nonconforming in that class" is tried);
otherwise the lot is decided as if they were resolved either way. A ``fail`` without a
defect class is treated the same way (a person must classify it).

Inspection types carried in the :class:`LotRecord`: DUPRO (during production inspection,
typically when about 20 % of the order is produced) and PSI (pre-shipment inspection, when
80-100 % of the order is finished and packed). Buyers hold the balance payment until a PSI
lot is accepted.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from .aql import Decision, LotVerdict, SamplingPlan, class_plans, lot_verdict
from .errors import SpecError
from .results import UnitResult, Verdict
from .spec import AqlSettings

__all__ = [
    "LOT_CONTEXT_FIELDS",
    "lot_context_rows",
    "check_lot_context",
    "InspectionType",
    "LotRecord",
    "draw_sample",
    "sample_size_for",
    "judge_lot",
    "count_by_class",
    "plan_sample",
    "judge_sampled_lot",
]


#: The lot context a buyer reads on page 1 of the report: key -> label. Keys outside this
#: list are kept and shown under their own name after these.
LOT_CONTEXT_FIELDS: dict[str, str] = {
    "supplier": "Supplier",
    "po": "Purchase order (PO)",
    "inspector": "Inspector",
    "place": "Place of inspection",
    "date": "Date of inspection",
}

#: What the report shows for a context field that nobody gave (never a guessed value).
NOT_GIVEN = "not given"


def check_lot_context(lot_context: Mapping[str, str] | None, *, name: str = "lot_context") -> dict[str, str]:
    """Validate a lot context (supplier, PO, inspector, place, date, ...) and copy it.

    Parameters
    ----------
    lot_context : mapping str -> str, optional
        Keys are field names (:data:`LOT_CONTEXT_FIELDS` gives the usual ones); values
        are the text shown. Empty values count as not given.

    Returns
    -------
    dict
        The non-empty fields, stripped, in the order given.
    """
    if lot_context is None:
        return {}
    if not isinstance(lot_context, Mapping):
        raise SpecError(f"{name}: expected a mapping of field name -> text, got {type(lot_context).__name__}")
    out: dict[str, str] = {}
    for k, v in lot_context.items():
        if not isinstance(k, str) or not k.strip():
            raise SpecError(f"{name}: expected non-empty string keys, got {k!r}")
        if v is None:
            continue
        if not isinstance(v, str):
            raise SpecError(f"{name}[{k!r}]: expected text (str), got {type(v).__name__} {v!r}")
        if v.strip():
            out[k.strip()] = v.strip()
    return out


def lot_context_rows(lot_context: Mapping[str, str] | None) -> list[tuple[str, str, bool]]:
    """The context as (label, value, given) rows: the usual fields first, each shown as
    ``"not given"`` when missing, then any other field under its own name."""
    ctx = check_lot_context(lot_context)
    rows = [(label, ctx.get(key, NOT_GIVEN), key in ctx) for key, label in LOT_CONTEXT_FIELDS.items()]
    rows += [(key, value, True) for key, value in ctx.items() if key not in LOT_CONTEXT_FIELDS]
    return rows


class InspectionType(str, enum.Enum):
    """When in the order a lot is inspected."""

    #: During production inspection: about 20 % of the order produced; finds systematic
    #: defects while they can still be corrected.
    dupro = "dupro"
    #: Pre-shipment inspection: 80-100 % of the order finished and packed; the verdict
    #: that releases the shipment (and the buyer's balance payment).
    psi = "psi"

    def __str__(self) -> str:
        return self.value


def draw_sample(unit_ids: Sequence[str], sample_size: int, *, seed: int) -> list[str]:
    """Draw ``sample_size`` distinct units at random, reproducibly.

    Algorithm: ``numpy.random.Generator(numpy.random.PCG64(seed)).choice(len(unit_ids),
    size=sample_size, replace=False)`` over the positions of ``unit_ids`` as given, then
    the ids at those positions **in draw order** (first drawn first). Same ids in the
    same order + same seed -> same sample on every platform (NumPy's documented stream
    guarantee for PCG64 and ``Generator.choice``). Record ``seed`` with the lot.

    A class whose plan needs fewer units than the largest plan uses the first units of
    this list, so one draw serves every defect class.

    Parameters
    ----------
    unit_ids : sequence of str
        Every unit of the lot, each id once.
    sample_size : int
        0 < sample_size <= len(unit_ids); equal means 100 % inspection (all ids, shuffled).
    seed : int
        Non-negative integer seed.

    Returns
    -------
    list of str
    """
    ids = list(unit_ids)
    if not ids or not all(isinstance(u, str) and u for u in ids):
        raise SpecError("unit_ids: expected a non-empty sequence of non-empty strings")
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = None
        for u in ids:  # the first id seen twice
            if u in seen:
                dup = u
                break
            seen.add(u)
        raise SpecError(f"unit_ids: expected unique ids, got {dup!r} more than once")
    if isinstance(sample_size, bool) or not isinstance(sample_size, (int, np.integer)) or not 0 < sample_size <= len(ids):
        raise SpecError(f"sample_size={sample_size!r}; expected an integer in [1, {len(ids)}] (the lot size)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SpecError(f"seed={seed!r}; expected a non-negative integer")
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    picks = rng.choice(len(ids), size=int(sample_size), replace=False)
    return [ids[int(i)] for i in picks]


def sample_size_for(plans: Mapping[str, SamplingPlan]) -> int:
    """Units to draw so every class plan is served: the largest class sample size."""
    if not plans:
        raise SpecError("plans: expected at least one class plan, got none")
    return max(p.sample_size for p in plans.values())


def count_by_class(unit_results: Sequence[UnitResult]) -> tuple[dict[str, int], int]:
    """Nonconforming units per defect class, and units still unresolved.

    ``pass`` counts nowhere; ``fail`` counts once in ``defect_class`` (its most serious
    failed severity); ``review`` (and a ``fail`` without a class) is unresolved.
    """
    counts: dict[str, int] = {}
    unresolved = 0
    for i, r in enumerate(unit_results):
        if not isinstance(r, UnitResult):
            raise SpecError(f"unit_results[{i}]: expected a UnitResult, got {type(r).__name__}")
        if r.verdict is Verdict.passed:
            continue
        cls = r.defect_class
        if r.verdict is Verdict.failed and cls is not None:
            counts[cls.value] = counts.get(cls.value, 0) + 1
        else:
            unresolved += 1
    return counts, unresolved


def judge_lot(
    unit_results: Sequence[UnitResult],
    spec_aql: AqlSettings,
    lot_size: int,
    *,
    severity: str = "normal",
) -> LotVerdict:
    """Lot verdict from the results of the sampled units.

    Parameters
    ----------
    unit_results : sequence of UnitResult
        Results of the sampled units **in draw order** (:func:`draw_sample`). At least the
        largest class sample size; a class with a smaller sample is judged on the first
        ``plan.sample_size`` results. Extra results beyond the largest sample are an error
        (they would bias the count).
    spec_aql : AqlSettings
        The spec's ``aql`` block: inspection level and AQL per class (critical AQL 0 =
        zero tolerance on the major plan's sample).
    lot_size : int
        Units in the lot.
    severity : {"normal", "tightened", "reduced"}
        Current inspection severity (from the supplier's
        :class:`goldenvision.aql.SwitchingState`).

    Returns
    -------
    LotVerdict
        ``decision`` is ``pending`` while units under review could change it; its
        ``classes`` give per-class counts against Ac/Re and the unresolved units in each
        class's sample.
    """
    if not isinstance(spec_aql, AqlSettings):
        raise SpecError(f"spec_aql: expected goldenvision.spec.AqlSettings, got {type(spec_aql).__name__}")
    plans = class_plans(lot_size, spec_aql, severity=severity)
    needed = sample_size_for(plans)
    results = list(unit_results)
    if len(results) != needed:
        raise SpecError(
            f"unit_results: expected the {needed} sampled units of the largest class plan "
            f"({', '.join(f'{k} n={p.sample_size}' for k, p in plans.items())}), got {len(results)}"
        )
    counts: dict[str, int] = {}
    unresolved: dict[str, int] = {}
    for name, p in plans.items():
        c, u = count_by_class(results[: p.sample_size])
        counts[name] = c.get(name, 0)
        unresolved[name] = u
    return lot_verdict(counts, plans, unresolved_by_class=unresolved)


@dataclass(frozen=True, slots=True)
class LotRecord:
    """One inspected lot, as stored and reported.

    Attributes
    ----------
    lot_id : str
    inspection_type : InspectionType
    lot_size : int
    seed : int
        Seed of :func:`draw_sample`.
    sample_ids : tuple of str
        Inspected unit ids in draw order.
    verdict : LotVerdict
    completion_fraction : float, optional
        Share of the order produced (DUPRO) or packed (PSI) when inspected, in [0, 1].
        PSI requires >= 0.8.
    supplier, product : str
    context : mapping str -> str
        Lot context as given by the inspector (``po``, ``inspector``, ``place``,
        ``date``, ...; see :data:`LOT_CONTEXT_FIELDS`). ``supplier`` here and the
        ``supplier`` field must not disagree.
    """

    lot_id: str
    inspection_type: InspectionType
    lot_size: int
    seed: int
    sample_ids: tuple[str, ...]
    verdict: LotVerdict
    completion_fraction: float | None = None
    supplier: str = ""
    product: str = ""
    context: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ctx = check_lot_context(self.context, name="context")
        if self.supplier and ctx.get("supplier", self.supplier) != self.supplier:
            raise SpecError(f"context['supplier']={ctx['supplier']!r} disagrees with supplier={self.supplier!r}")
        object.__setattr__(self, "context", ctx)
        if not isinstance(self.inspection_type, InspectionType):
            try:
                object.__setattr__(self, "inspection_type", InspectionType(self.inspection_type))
            except ValueError:
                raise SpecError(
                    f"inspection_type={self.inspection_type!r}; expected one of {[t.value for t in InspectionType]}"
                ) from None
        f = self.completion_fraction
        if f is not None:
            if not 0.0 <= float(f) <= 1.0:
                raise SpecError(f"completion_fraction={f!r}; expected a fraction in [0, 1]")
            if self.inspection_type is InspectionType.psi and float(f) < 0.8:
                raise SpecError(f"completion_fraction={f!r}; a PSI lot must be at least 0.8 (80 %) finished and packed")
        if len(self.sample_ids) > self.lot_size:
            raise SpecError(f"sample_ids: {len(self.sample_ids)} ids exceed lot_size={self.lot_size}")

    @property
    def decision(self) -> Decision:
        return self.verdict.decision

    @property
    def releases_payment(self) -> bool:
        """True only for an accepted pre-shipment inspection."""
        return self.inspection_type is InspectionType.psi and self.verdict.accepted

    def to_dict(self) -> dict[str, Any]:
        return {
            "lot_id": self.lot_id,
            "inspection_type": self.inspection_type.value,
            "lot_size": self.lot_size,
            "seed": self.seed,
            "sample_ids": list(self.sample_ids),
            "completion_fraction": self.completion_fraction,
            "supplier": self.supplier,
            "product": self.product,
            "context": dict(self.context),
            "verdict": self.verdict.to_dict(),
        }


def plan_sample(
    unit_ids: Sequence[str],
    spec_aql: AqlSettings,
    *,
    lot_size: int | None = None,
    seed: int,
    severity: str = "normal",
) -> tuple[dict[str, SamplingPlan], list[str]]:
    """The class plans for a lot and the seeded sample of unit ids to inspect (in draw order).

    ``lot_size`` defaults to the number of ids; the ids are the units that can be drawn
    (photographed or labelled units of the lot).
    """
    n_lot = len(unit_ids) if lot_size is None else int(lot_size)
    plans = class_plans(n_lot, spec_aql, severity=severity)
    n = sample_size_for(plans)
    if n > len(unit_ids):
        raise SpecError(
            f"unit_ids: the plan needs {n} units (lot size {n_lot}), only {len(unit_ids)} are available to draw"
        )
    return plans, draw_sample(list(unit_ids), n, seed=seed)


def judge_sampled_lot(
    results_by_id: Mapping[str, UnitResult],
    spec_aql: AqlSettings,
    *,
    lot_id: str,
    seed: int,
    lot_size: int | None = None,
    inspection_type: InspectionType | str = InspectionType.psi,
    completion_fraction: float | None = None,
    severity: str = "normal",
    supplier: str = "",
    product: str = "",
    lot_context: Mapping[str, str] | None = None,
) -> LotRecord:
    """Draw the sample from the inspected units, judge the lot on it, and record everything.

    Every unit in ``results_by_id`` may have been inspected (a station inspects each unit);
    the lot verdict uses only the seeded ISO 2859-1 sample, so it is the verdict an
    inspector drawing that sample would give. ``lot_context`` (supplier, PO, inspector,
    place, date; see :data:`LOT_CONTEXT_FIELDS`) is recorded with the lot as given.
    """
    ids = sorted(results_by_id)
    n_lot = len(ids) if lot_size is None else int(lot_size)
    _, sample = plan_sample(ids, spec_aql, lot_size=n_lot, seed=seed, severity=severity)
    verdict = judge_lot([results_by_id[i] for i in sample], spec_aql, n_lot, severity=severity)
    return LotRecord(
        # LotRecord converts a str inspection_type (and names a bad one)
        lot_id=lot_id, inspection_type=cast(InspectionType, inspection_type), lot_size=n_lot, seed=seed,
        sample_ids=tuple(sample),
        verdict=verdict, completion_fraction=completion_fraction, supplier=supplier, product=product,
        context=check_lot_context(lot_context),
    )
