"""Tests of goldenvision.lots: seeded sample draws and lot verdicts from unit results."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goldenvision.aql import Decision, SwitchingState
from goldenvision.errors import SpecError
from goldenvision.lots import InspectionType, LotRecord, count_by_class, draw_sample, judge_lot, sample_size_for
from goldenvision.aql import class_plans
from goldenvision.results import UnitResult, Verdict
from goldenvision.spec import AqlSettings, Severity

AQL = AqlSettings(level="II", critical=0.0, major=2.5, minor=4.0)  # lot 1000: J, n 80; major 5/6, minor 7/8


def unit(verdict: str, *severities: str, uid: str | None = None) -> UnitResult:
    return UnitResult(
        verdict=Verdict(verdict),
        reasons=(),
        registration=None,
        failed_severities=tuple(Severity(s) for s in severities),
        unit_id=uid,
    )


def sample(n_pass: int, *others: UnitResult) -> list[UnitResult]:
    return list(others) + [unit("pass") for _ in range(n_pass)]


# ----------------------------------------------------------------------------- draw_sample


def test_draw_is_reproducible_and_documented_algorithm():
    ids = [f"U{i:03d}" for i in range(20)]
    got = draw_sample(ids, 5, seed=7)
    # the documented algorithm, spelled out independently
    picks = np.random.Generator(np.random.PCG64(7)).choice(20, size=5, replace=False)
    assert got == [ids[i] for i in picks]
    assert got == ["U010", "U012", "U015", "U011", "U017"]  # pinned: NumPy's stream is stable
    assert draw_sample(ids, 5, seed=7) == got
    assert draw_sample(ids, 5, seed=8) != got


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), frac=st.floats(0.01, 1.0), seed=st.integers(0, 2**32))
def test_draw_is_a_subset_without_repeats(n, frac, seed):
    ids = [f"lot-{i}" for i in range(n)]
    k = max(1, int(n * frac))
    got = draw_sample(ids, k, seed=seed)
    assert len(got) == k == len(set(got))
    assert set(got) <= set(ids)


def test_full_draw_is_a_permutation():
    ids = [str(i) for i in range(50)]
    assert sorted(draw_sample(ids, 50, seed=1), key=int) == ids


@pytest.mark.parametrize(
    "ids,k,seed,match",
    [
        (["a", "a", "b"], 1, 0, "unique"),
        (["a", "b"], 3, 0, "sample_size"),
        (["a", "b"], 0, 0, "sample_size"),
        (["a", "b"], 1, -1, "seed"),
        ([], 1, 0, "unit_ids"),
    ],
)
def test_draw_refuses_bad_input(ids, k, seed, match):
    with pytest.raises(SpecError, match=match):
        draw_sample(ids, k, seed=seed)


# ----------------------------------------------------------------------------- counting


def test_each_unit_counts_once_in_its_most_serious_class():
    counts, unresolved = count_by_class(
        [unit("fail", "minor", "critical"), unit("fail", "major", "minor"), unit("fail", "minor"), unit("pass"),
         unit("review"), unit("fail")]
    )
    assert counts == {"critical": 1, "major": 1, "minor": 1}
    assert unresolved == 2  # the review and the fail without a class


# ----------------------------------------------------------------------------- judge_lot


def test_judge_lot_accepts_at_ac_and_rejects_at_re():
    ok = judge_lot(sample(75, *[unit("fail", "major")] * 5), AQL, 1000)
    assert ok.decision is Decision.accept
    assert ok.by_class()["major"].nonconforming == 5
    bad = judge_lot(sample(74, *[unit("fail", "major")] * 6), AQL, 1000)
    assert bad.decision is Decision.reject
    assert [c.decision for c in bad.classes] == [Decision.accept, Decision.reject, Decision.accept]


def test_any_critical_rejects():
    v = judge_lot(sample(79, unit("fail", "critical", "minor")), AQL, 1000)
    assert v.decision is Decision.reject
    assert v.by_class()["critical"].nonconforming == 1
    assert v.by_class()["minor"].nonconforming == 0


def test_review_units_make_the_lot_pending_only_if_they_matter():
    # 3 major + 2 under review, critical at AQL 1.0 (J: 2/3): whatever class the two turn
    # out to be, no class can change its decision -> decided (accept)
    lenient = AqlSettings(level="II", critical=1.0, major=2.5, minor=4.0)
    v = judge_lot(sample(75, *[unit("fail", "major")] * 3, unit("review"), unit("review")), lenient, 1000)
    assert v.decision is Decision.accept and v.unresolved == 2
    # the same units under zero tolerance for critical: they might be critical -> pending
    v1 = judge_lot(sample(75, *[unit("fail", "major")] * 3, unit("review"), unit("review")), AQL, 1000)
    assert v1.decision is Decision.pending and v1.by_class()["major"].decision is Decision.accept
    # a review unit could be critical -> the zero-tolerance class is undecided -> pending
    v2 = judge_lot(sample(79, unit("review")), AQL, 1000)
    assert v2.decision is Decision.pending
    assert v2.by_class()["critical"].decision is Decision.pending
    # already rejected: review units cannot save it
    v3 = judge_lot(sample(73, *[unit("fail", "major")] * 6, unit("review")), AQL, 1000)
    assert v3.decision is Decision.reject


def test_judge_lot_wants_exactly_the_sample():
    with pytest.raises(SpecError, match="80"):
        judge_lot(sample(79), AQL, 1000)
    with pytest.raises(SpecError, match="AqlSettings"):
        judge_lot(sample(80), {"major": 2.5}, 1000)


def test_smaller_class_sample_uses_first_drawn_units():
    # lot 100 (F): major 0.40 follows the arrow down to G 0/1 n 32;
    # minor 4.0 -> F 2/3 n 20. One draw of 32 serves both; minor uses the first 20.
    small = class_plans(100, {"major": 0.40, "minor": 4.0})
    assert sample_size_for(small) == 32
    assert small["major"].sample_size == 32 and small["minor"].sample_size == 20
    aq = AqlSettings(level="II", critical=0.0, major=0.40, minor=4.0)
    # 3 minor defectives among the last 12 units: outside the minor sample of 20
    results = sample(0, *[unit("pass")] * 20, *[unit("fail", "minor")] * 3, *[unit("pass")] * 9)
    v = judge_lot(results, aq, 100)
    assert v.by_class()["minor"].nonconforming == 0 and v.decision is Decision.accept
    # the same 3 among the first 20: minor Ac 2 Re 3 -> reject
    results2 = sample(0, *[unit("fail", "minor")] * 3, *[unit("pass")] * 29)
    assert judge_lot(results2, aq, 100).decision is Decision.reject


def test_reduced_severity_uses_table_2c():
    v = judge_lot(sample(29, *[unit("fail", "major")] * 3), AQL, 1000, severity="reduced")  # J: n 32, major 2/5
    assert v.decision is Decision.accept_reinstate_normal and v.accepted and v.reinstate_normal
    state = SwitchingState(severity="reduced")
    assert state.record(v).after == "normal"


# ----------------------------------------------------------------------------- lot record


def test_lot_record_carries_inspection_type():
    ids = [f"U{i:04d}" for i in range(1000)]
    picked = draw_sample(ids, 80, seed=42)
    v = judge_lot(sample(80), AQL, 1000)
    rec = LotRecord("PO-1/PSI", InspectionType.psi, 1000, 42, tuple(picked), v, completion_fraction=0.95)
    assert rec.releases_payment and rec.decision is Decision.accept
    d = rec.to_dict()
    assert d["inspection_type"] == "psi" and d["sample_ids"][:2] == picked[:2] and d["verdict"]["accepted"]
    dupro = LotRecord("PO-1/DUPRO", "dupro", 1000, 42, tuple(picked), v, completion_fraction=0.2)
    assert dupro.inspection_type is InspectionType.dupro and not dupro.releases_payment
    with pytest.raises(SpecError, match="PSI"):
        LotRecord("PO-1/PSI", InspectionType.psi, 1000, 42, tuple(picked), v, completion_fraction=0.5)
    with pytest.raises(SpecError, match="inspection_type"):
        LotRecord("x", "final", 1000, 42, (), v)


def test_lot_record_keeps_the_lot_context_as_given():
    from goldenvision.lots import judge_sampled_lot

    results = {f"U{i:03d}": unit("pass", uid=f"U{i:03d}") for i in range(50)}
    rec = judge_sampled_lot(results, AQL, lot_id="L1", seed=3, supplier="Tannery Nord",
                            lot_context={"po": "PO-9", "inspector": " R. Ortiz ", "place": ""})
    assert rec.context == {"po": "PO-9", "inspector": "R. Ortiz"}  # stripped; empty = not given
    assert rec.to_dict()["context"] == {"po": "PO-9", "inspector": "R. Ortiz"}
    assert LotRecord("L2", "psi", 50, 3, (), rec.verdict).context == {}
    with pytest.raises(SpecError, match="disagrees with supplier"):
        LotRecord("L2", "psi", 50, 3, (), rec.verdict, supplier="A", context={"supplier": "B"})
    with pytest.raises(SpecError, match=r"context\['date'\]: expected text"):
        LotRecord("L2", "psi", 50, 3, (), rec.verdict, context={"date": 20261204})
