"""ISO 2859-1 sampling plans: the lot decision, single and double plans looked up in the tables."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SpecError
from .tables import (
    AQL_COLUMNS,
    CODE_LETTERS,
    DOUBLE_SAMPLE_SIZES,
    REDUCED_DOUBLE_SAMPLE_SIZES,
    REDUCED_SAMPLE_SIZES,
    SAMPLE_SIZES,
    _DOUBLE,
    _DOUBLE_TABLES,
    _NORMAL_AC_SEQUENCE,
    _SINGLE,
    _SINGLE_TABLES,
    _aql_index,
    _check_level,
    _check_lot_size,
    _check_severity,
    code_letter,
)


class Decision(str, enum.Enum):
    """Outcome of a lot (or of one defect class) under a sampling plan."""

    accept = "accept"
    reject = "reject"
    #: Reduced inspection, Ac < d < Re (Table 2-C footnote): accept, reinstate normal inspection.
    accept_reinstate_normal = "accept_reinstate_normal"
    #: Double sampling, Ac1 < d1 < Re1: draw the second sample.
    second_sample = "second_sample"
    #: Units awaiting review could still change the outcome (see :func:`goldenvision.lots.judge_lot`).
    pending = "pending"

    def __str__(self) -> str:
        return self.value

    @property
    def accepted(self) -> bool:
        """True for ``accept`` and ``accept_reinstate_normal``."""
        return self in (Decision.accept, Decision.accept_reinstate_normal)


@dataclass(frozen=True, slots=True)
class SamplingPlan:
    """A single sampling plan chosen from ISO 2859-1 Tables 1 and 2.

    Unpacks as ``code_letter, sample_size, accept, reject`` (the four values of the
    ARCHITECTURE contract ``gv.aql.plan(...)``) through :meth:`__iter__`; every other
    field is available by name.

    Attributes
    ----------
    code_letter : str
        Code letter of the plan actually used, i.e. after following arrows.
    sample_size : int
        Units to inspect; equals ``lot_size`` when ``inspect_all``.
    accept, reject : int
        Acceptance number Ac and rejection number Re (nonconforming units in the sample).
    lot_size : int
    aql : float
        In percent nonconforming, or nonconformities per 100 units for AQL > 10;
        0.0 for a zero-tolerance plan (:func:`zero_tolerance_plan`).
    level, severity : str
    inspect_all : bool
        True when the table's sample size equals or exceeds the lot size: 100 % inspection
        (footnote of Tables 2-A..2-C). Ac and Re are kept from the table, so the lot is
        judged on its whole content with the same criterion.
    table_code_letter : str
        Code letter from Table 1, before arrows were followed.
    table_sample_size : int
        Sample size of the selected plan before the 100 % rule.
    table : str
        ``"2-A"``, ``"2-B"``, ``"2-C"`` or ``"zero-tolerance"``.
    """

    code_letter: str
    sample_size: int
    accept: int
    reject: int
    lot_size: int
    aql: float
    level: str
    severity: str
    inspect_all: bool
    table_code_letter: str
    table_sample_size: int
    table: str

    def __iter__(self) -> Iterator[Any]:
        """Yield ``code_letter, sample_size, accept, reject`` (tuple unpacking)."""
        yield self.code_letter
        yield self.sample_size
        yield self.accept
        yield self.reject

    def decide(self, nonconforming: int) -> Decision:
        """Decision for ``nonconforming`` units found in the sample.

        ``d <= Ac`` accept; ``d >= Re`` reject; ``Ac < d < Re`` (only in reduced Table 2-C)
        accept and reinstate normal inspection.
        """
        d = _check_count(nonconforming, "nonconforming", self.sample_size)
        if d <= self.accept:
            return Decision.accept
        if d >= self.reject:
            return Decision.reject
        return Decision.accept_reinstate_normal

    def to_dict(self) -> dict[str, Any]:
        return {
            "code_letter": self.code_letter,
            "sample_size": self.sample_size,
            "accept": self.accept,
            "reject": self.reject,
            "lot_size": self.lot_size,
            "aql": self.aql,
            "level": self.level,
            "severity": self.severity,
            "inspect_all": self.inspect_all,
            "table_code_letter": self.table_code_letter,
            "table_sample_size": self.table_sample_size,
            "table": self.table,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SamplingPlan:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def _check_count(value: Any, name: str, upper: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= upper:
        raise SpecError(f"{name}={value!r}; expected an integer in [0, {upper}]")
    return int(value)


def _resolve(rows: Mapping[str, list[str]], order: str, letter: str, col: int) -> tuple[str, str]:
    """Follow arrows from (letter, column) to the first cell holding a plan."""
    k = order.index(letter)
    for _ in range(len(order) + 1):
        tok = rows[order[k]][col]
        if tok == "v":
            k += 1
        elif tok == "^":
            k -= 1
        elif tok == ".":
            raise AssertionError(f"arrow led to an empty cell at {order[k]}, column {col}")  # pragma: no cover
        else:
            return order[k], tok
        if not 0 <= k < len(order):
            raise AssertionError(f"arrow from {letter}, column {col} leaves the table")  # pragma: no cover
    raise AssertionError("arrow cycle")  # pragma: no cover


def table_lookup(letter: str, aql: float, severity: str = "normal") -> tuple[str, int, int, int]:
    """Plan of a code letter and AQL in Table 2-A/2-B/2-C, arrows followed.

    Returns
    -------
    tuple
        ``(code_letter, sample_size, accept, reject)`` of the plan the cell leads to
        (``code_letter`` may differ from ``letter`` when an arrow was followed). The lot
        size plays no part: see :func:`plan` for the 100 % inspection rule.
    """
    _check_severity(severity)
    order = CODE_LETTERS + ("S" if severity == "tightened" else "")
    if letter not in CODE_LETTERS:
        raise SpecError(f"letter={letter!r}; expected one of {list(CODE_LETTERS)}")
    col = _aql_index(aql)
    used, tok = _resolve(_SINGLE[severity], order, letter, col)
    ac, re_ = (int(x) for x in tok.split("/"))
    n = (REDUCED_SAMPLE_SIZES if severity == "reduced" else SAMPLE_SIZES)[used]
    return used, n, ac, re_


def plan(lot_size: int, aql: float, level: str = "II", severity: str = "normal") -> SamplingPlan:
    """Single sampling plan of ISO 2859-1:1999 for a lot.

    Parameters
    ----------
    lot_size : int
        Units in the lot (>= 2).
    aql : float
        Acceptance quality limit from the preferred series :data:`AQL_COLUMNS`: percent
        nonconforming for AQL <= 10, nonconformities per 100 units for every column.
    level : str
        Inspection level, ``"II"`` by default.
    severity : {"normal", "tightened", "reduced"}
        Inspection severity of the switching scheme (Tables 2-A, 2-B, 2-C).

    Returns
    -------
    SamplingPlan
        Unpacks as ``code_letter, sample_size, accept, reject``.

    Notes
    -----
    Arrows are followed to the first plan below (``v``) or above (``^``) and that plan's
    code letter and sample size are used. When the resulting sample size equals or
    exceeds the lot size, every unit is inspected (``inspect_all=True``,
    ``sample_size = lot_size``) and Ac/Re of the plan are kept.

    Examples
    --------
    >>> tuple(plan(1000, 2.5))
    ('J', 80, 5, 6)
    """
    n_lot = _check_lot_size(lot_size)
    _check_level(level)
    _check_severity(severity)
    col = _aql_index(aql)
    base = code_letter(n_lot, level)
    letter, n, ac, re_ = table_lookup(base, AQL_COLUMNS[col], severity)
    return SamplingPlan(
        code_letter=letter,
        sample_size=min(n, n_lot),
        accept=ac,
        reject=re_,
        lot_size=n_lot,
        aql=AQL_COLUMNS[col],
        level=level,
        severity=severity,
        inspect_all=n >= n_lot,
        table_code_letter=base,
        table_sample_size=n,
        table=_SINGLE_TABLES[severity][1],
    )


def zero_tolerance_plan(sampling: SamplingPlan) -> SamplingPlan:
    """Zero-tolerance plan (AQL 0, e.g. critical defects) on the sample of another plan.

    The same units as ``sampling`` are inspected; any nonconforming unit rejects the lot
    (Ac 0, Re 1). ISO 2859-1 has no AQL 0 column; this is the buyer practice the spec's
    ``aql: {critical: 0}`` stands for.
    """
    if not isinstance(sampling, SamplingPlan):
        raise SpecError(f"sampling: expected a SamplingPlan, got {type(sampling).__name__}")
    return SamplingPlan(
        code_letter=sampling.code_letter,
        sample_size=sampling.sample_size,
        accept=0,
        reject=1,
        lot_size=sampling.lot_size,
        aql=0.0,
        level=sampling.level,
        severity=sampling.severity,
        inspect_all=sampling.inspect_all,
        table_code_letter=sampling.table_code_letter,
        table_sample_size=sampling.table_sample_size,
        table="zero-tolerance",
    )


def class_plans(
    lot_size: int, aqls: Mapping[str, float] | Any, *, level: str | None = None, severity: str = "normal"
) -> dict[str, SamplingPlan]:
    """One plan per defect class (critical, major, minor) from their AQLs.

    Parameters
    ----------
    lot_size : int
    aqls : mapping or :class:`goldenvision.spec.AqlSettings`
        AQL per class name; an ``AqlSettings`` also supplies ``level``.
    level : str, optional
        Overrides the level of ``aqls``; ``"II"`` when neither gives one.
    severity : str

    Returns
    -------
    dict[str, SamplingPlan]
        A class with AQL 0 gets :func:`zero_tolerance_plan` on the major plan's sample (or,
        when major is 0 too, on the minor plan's, or else on the Table 1 letter's own
        sample size with Ac 0).
    """
    if hasattr(aqls, "critical") and hasattr(aqls, "level"):
        settings: Any = aqls  # an AqlSettings (duck-typed: critical/major/minor/level)
        lvl = level or settings.level
        mapping = {"critical": settings.critical, "major": settings.major, "minor": settings.minor}
    elif isinstance(aqls, Mapping):
        lvl = level or "II"
        mapping = dict(aqls)
    else:
        raise SpecError(f"aqls: expected a mapping class -> AQL or an AqlSettings, got {type(aqls).__name__}")
    if not mapping:
        raise SpecError("aqls: expected at least one defect class, got none")
    plans: dict[str, SamplingPlan] = {}
    for name, value in mapping.items():
        if float(value) != 0.0:
            plans[name] = plan(lot_size, value, lvl, severity)
    for name, value in mapping.items():
        if float(value) == 0.0:
            anchor = next((plans[k] for k in ("major", "minor") if k in plans), None)
            if anchor is None and plans:
                anchor = next(iter(plans.values()))
            if anchor is None:  # every class at AQL 0: Table 1 letter's own sample
                n_lot = _check_lot_size(lot_size)
                letter = code_letter(n_lot, lvl)
                n = (REDUCED_SAMPLE_SIZES if severity == "reduced" else SAMPLE_SIZES)[letter]
                anchor = SamplingPlan(letter, min(n, n_lot), 0, 1, n_lot, 0.0, lvl, severity, n >= n_lot, letter, n, "zero-tolerance")
            plans[name] = zero_tolerance_plan(anchor)
    return {name: plans[name] for name in mapping}


def tighter_accept_number(accept: int) -> int:
    """Acceptance number of the same code letter one AQL step tighter (Table 2-A sequence).

    Used by the switching score (ISO 2859-1:1999 clause 9.3.3.2) for plans with Ac >= 2.
    """
    if accept not in _NORMAL_AC_SEQUENCE or accept < 2:
        raise SpecError(f"accept={accept!r}; expected an acceptance number >= 2 of Table 2-A {list(_NORMAL_AC_SEQUENCE[2:])}")
    return _NORMAL_AC_SEQUENCE[_NORMAL_AC_SEQUENCE.index(accept) - 1]


# --------------------------------------------------------------------------- double sampling


@dataclass(frozen=True, slots=True)
class DoubleSamplingPlan:
    """A double sampling plan of ISO 2859-1 Tables 3-A / 3-B / 3-C.

    Two samples of ``first_sample_size`` and ``second_sample_size`` units; the numbers of
    the second stage are cumulative (first + second sample). When the table says ``*``
    ("use the corresponding single sampling plan") or the lot is too small, ``is_single``
    is True, ``second_sample_size`` is 0 and the first stage is that single plan.
    """

    code_letter: str
    first_sample_size: int
    second_sample_size: int
    accept_1: int
    reject_1: int
    accept_2: int
    reject_2: int
    lot_size: int
    aql: float
    level: str
    severity: str
    inspect_all: bool
    is_single: bool
    table_code_letter: str
    table: str

    def verdict(self, d1: int, d2: int | None = None) -> Decision:
        """Decision from the first-sample count ``d1`` and, if drawn, the second ``d2``.

        ``d1 <= Ac1`` accept; ``d1 >= Re1`` reject; otherwise the second sample is needed
        (``Decision.second_sample`` when ``d2`` is None) and ``d1 + d2 <= Ac2`` accepts,
        ``d1 + d2 >= Re2`` rejects, and ``Ac2 < d1 + d2 < Re2`` (only in reduced Table 3-C)
        accepts and reinstates normal inspection.
        """
        d1 = _check_count(d1, "d1", self.first_sample_size)
        if d1 <= self.accept_1:
            if d2 is not None:
                raise SpecError(f"d2={d2!r}; expected None: the lot is accepted on the first sample (d1={d1} <= Ac1={self.accept_1})")
            return Decision.accept
        if d1 >= self.reject_1:
            if d2 is not None:
                raise SpecError(f"d2={d2!r}; expected None: the lot is rejected on the first sample (d1={d1} >= Re1={self.reject_1})")
            return Decision.reject
        if d2 is None:
            return Decision.second_sample
        d2 = _check_count(d2, "d2", self.second_sample_size)
        total = d1 + d2
        if total <= self.accept_2:
            return Decision.accept
        if total >= self.reject_2:
            return Decision.reject
        return Decision.accept_reinstate_normal  # Table 3-C gap (footnote of Z1.4 III-C)

    double_verdict = verdict

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def double_table_lookup(letter: str, aql: float, severity: str = "normal") -> tuple[str, int, int, int, int, int] | None:
    """Cell of Table 3-A/3-B/3-C for a code letter and AQL, arrows followed.

    Returns
    -------
    tuple or None
        ``(code_letter, n, Ac1, Re1, Ac2, Re2)`` with ``n`` the size of EACH sample and
        cumulative second-stage numbers, or None for ``*`` ("use the corresponding single
        sampling plan"). Under reduced inspection (Table 3-C) ``Re2 - Ac2`` may exceed 1
        (the "accept, reinstate normal" gap) and ``n`` is from
        :data:`REDUCED_DOUBLE_SAMPLE_SIZES`.
    """
    _check_severity(severity)
    if letter not in CODE_LETTERS:
        raise SpecError(f"letter={letter!r}; expected one of {list(CODE_LETTERS)}")
    col = _aql_index(aql)
    order = CODE_LETTERS + ("S" if severity == "tightened" else "")
    used, tok = _resolve(_DOUBLE[severity], order, letter, col)
    if tok == "*":
        return None
    first, second = tok.split(":")
    ac1, re1 = (int(x) for x in first.split("/"))
    ac2, re2 = (int(x) for x in second.split("/"))
    sizes = REDUCED_DOUBLE_SAMPLE_SIZES if severity == "reduced" else DOUBLE_SAMPLE_SIZES
    return used, sizes[used], ac1, re1, ac2, re2


def double_plan(lot_size: int, aql: float, level: str = "II", severity: str = "normal") -> DoubleSamplingPlan:
    """Double sampling plan of ISO 2859-1:1999 Table 3-A (normal), 3-B (tightened) or 3-C (reduced).

    Parameters are those of :func:`plan`. Under reduced inspection a cumulative count
    with ``Ac2 < d1 + d2 < Re2`` accepts the lot and reinstates normal inspection
    (:meth:`DoubleSamplingPlan.verdict` returns ``Decision.accept_reinstate_normal``).

    Notes
    -----
    * ``*`` cells (and every cell of letter A) mean "use the corresponding single sampling
      plan": the returned plan has ``is_single=True`` and carries :func:`plan`'s numbers.
    * If the first sample would equal or exceed the lot, the single plan's 100 %
      inspection is used (``is_single=True``, ``inspect_all=True``). If only the two
      samples together exceed the lot, the second sample is the rest of the lot.
    """
    n_lot = _check_lot_size(lot_size)
    _check_level(level)
    _check_severity(severity)
    base = code_letter(n_lot, level)
    cell = double_table_lookup(base, aql, severity)
    if cell is None or cell[1] >= n_lot:
        single = plan(n_lot, aql, level, severity)
        return DoubleSamplingPlan(
            code_letter=single.code_letter, first_sample_size=single.sample_size, second_sample_size=0,
            accept_1=single.accept, reject_1=single.reject, accept_2=single.accept, reject_2=single.reject,
            lot_size=n_lot, aql=single.aql, level=level, severity=severity, inspect_all=single.inspect_all,
            is_single=True, table_code_letter=base, table=single.table,
        )
    letter, n, ac1, re1, ac2, re2 = cell
    return DoubleSamplingPlan(
        code_letter=letter, first_sample_size=n, second_sample_size=min(n, n_lot - n),
        accept_1=ac1, reject_1=re1, accept_2=ac2, reject_2=re2, lot_size=n_lot, aql=AQL_COLUMNS[_aql_index(aql)],
        level=level, severity=severity, inspect_all=False, is_single=False, table_code_letter=base,
        table=_DOUBLE_TABLES[severity][1],
    )


def double_verdict(plan_: DoubleSamplingPlan, d1: int, d2: int | None = None) -> Decision:
    """Function form of :meth:`DoubleSamplingPlan.verdict`."""
    if not isinstance(plan_, DoubleSamplingPlan):
        raise SpecError(f"plan: expected a DoubleSamplingPlan, got {type(plan_).__name__}")
    return plan_.verdict(d1, d2)
