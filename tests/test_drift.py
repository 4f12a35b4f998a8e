"""SPC: control-chart constants, published ARLs, run rules, capability, change points, batches, drift alarms."""

import math

import numpy as np
import pytest

from goldenvision import drift as D
from goldenvision.store.synthetic import DriftScenario, as_store_rows, drifting_lot

# --------------------------------------------------------------------------------------
# Constants and Shewhart charts (Montgomery 2013, Appendix VI)
# --------------------------------------------------------------------------------------

TABLE = {  # n: (d2, d3, c4, A2, A3, D4, B4)
    2: (1.128, 0.853, 0.7979, 1.880, 2.659, 3.267, 3.267),
    5: (2.326, 0.864, 0.9400, 0.577, 1.427, 2.114, 2.089),
    10: (3.078, 0.797, 0.9727, 0.308, 0.975, 1.777, 1.716),
    25: (3.931, 0.708, 0.9896, 0.153, 0.606, 1.541, 1.435),
}


@pytest.mark.parametrize("n", sorted(TABLE))
def test_chart_constants_match_the_table(n):
    d2, d3, c4, a2, a3, d4, b4 = TABLE[n]
    assert D.d2(n) == pytest.approx(d2, abs=6e-4)
    assert D.d3(n) == pytest.approx(d3, abs=6e-4)
    assert D.c4(n) == pytest.approx(c4, abs=6e-5)
    assert 3 / (D.d2(n) * math.sqrt(n)) == pytest.approx(a2, abs=1e-3)
    assert 3 / (D.c4(n) * math.sqrt(n)) == pytest.approx(a3, abs=1e-3)
    assert 1 + 3 * D.d3(n) / D.d2(n) == pytest.approx(d4, abs=2e-3)
    assert 1 + 3 * math.sqrt(1 - D.c4(n) ** 2) / D.c4(n) == pytest.approx(b4, abs=2e-3)


def test_xbar_r_and_xbar_s_limits():
    rng = np.random.default_rng(3)
    g = 10 + 2 * rng.standard_normal((25, 5))
    r = D.xbar_r_chart(g)
    rbar, xbb = np.ptp(g, axis=1).mean(), g.mean()
    assert r.ucl == pytest.approx(xbb + 0.577 * rbar, rel=1e-3)
    assert r.spread_ucl == pytest.approx(2.114 * rbar, rel=2e-3) and r.spread_lcl == 0.0
    s = D.xbar_s_chart(g)
    sbar = g.std(axis=1, ddof=1).mean()
    assert s.ucl == pytest.approx(xbb + 1.427 * sbar, rel=1e-3)
    assert s.spread_ucl == pytest.approx(2.089 * sbar, rel=2e-3)
    assert s.sigma == pytest.approx(2.0, rel=0.15)
    g[7] += 6.0  # a shifted subgroup
    assert 7 in D.xbar_r_chart(g).beyond and 7 in D.xbar_s_chart(g).beyond


def test_individuals_chart_and_phase1():
    x = np.array([9.0, 11.0] * 10)
    lim = D.phase1_individuals(x)
    assert lim.center == 10.0 and lim.sigma == pytest.approx(2 / 1.128, rel=1e-3)
    chart = D.individuals_chart([10, 16, 10], center=lim.center, sigma=lim.sigma)
    assert list(chart.beyond) == [1]
    assert chart.mr_ucl == pytest.approx(3.267 * 2.0, rel=2e-3)
    with pytest.raises(D.DriftError, match="spread"):
        D.phase1_individuals(np.ones(10))
    with pytest.raises(D.DriftError, match="at least 8"):
        D.phase1_individuals([1.0, 2.0])


# --------------------------------------------------------------------------------------
# ARLs: Markov chains and simulation against the published values
# --------------------------------------------------------------------------------------

def test_markov_chain_arls_match_the_papers():
    assert D.ewma_arl(0.5, 3.071) == pytest.approx(500, rel=0.01)  # Lucas & Saccucci 1990, Table 3
    assert D.ewma_arl(0.1, 2.814) == pytest.approx(500, rel=0.01)
    assert D.cusum_arl(0.5, 4.0) == pytest.approx(168, rel=0.01)  # Lucas & Crosier 1982
    assert D.cusum_arl(0.5, 4.0, 1.0) == pytest.approx(8.38, rel=0.01)
    assert D.cusum_arl(0.5, 5.0) == pytest.approx(465, rel=0.01)  # Montgomery 2013, Table 9.3
    assert D.cusum_h_for_arl0(168.0, 0.5) == pytest.approx(4.0, abs=0.01)
    assert D.ewma_limit_for_arl0(500.0, 0.5) == pytest.approx(3.071, abs=0.01)


def test_simulated_ewma_arl0_matches_lucas_saccucci():
    """EWMA lam = 0.5, L = 3.071 (asymptotic limits): ARL0 = 500; 4000 simulated runs (s.e. about 1.6 %)."""
    runs = D.simulate_run_lengths("ewma", n_runs=4000, lam=0.5, L=3.071, seed=1)
    assert runs.size == 4000
    assert runs.mean() == pytest.approx(500, rel=0.10)


def test_simulated_cusum_arls_match_lucas_crosier():
    """Two-sided CUSUM k = 0.5, h = 4: ARL0 = 168 (4000 runs) and ARL = 8.38 at a 1 sigma shift (4000 runs)."""
    in_control = D.simulate_run_lengths("cusum", n_runs=4000, k=0.5, h=4.0, seed=2)
    shifted = D.simulate_run_lengths("cusum", n_runs=4000, k=0.5, h=4.0, shift_sigma=1.0, seed=3)
    assert in_control.mean() == pytest.approx(168, rel=0.10)
    assert shifted.mean() == pytest.approx(8.38, rel=0.10)


def test_the_simulation_runs_the_charts_code():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(3000)
    e = D.ewma_chart(x, center=0.0, sigma=1.0, lam=0.5, L=3.071, limits="asymptotic")
    w, first = 0.0, None
    for t, v in enumerate(x):  # the recursion written out
        w = 0.5 * v + 0.5 * w
        if abs(w) > 3.071 * math.sqrt(0.5 / 1.5):
            first = t
            break
    assert e.first_alarm == first
    c = D.cusum_chart(x, center=0.0, sigma=1.0, k=0.5, h=4.0)
    sp = sm = 0.0
    for t, v in enumerate(x):  # noqa: B007 (t is read after the loop)
        sp, sm = max(0.0, v - 0.5 + sp), max(0.0, -v - 0.5 + sm)
        if sp > 4 or sm > 4:
            break
    assert c.first_alarm == t and c.side == (1 if sp > 4 else -1)


def test_cusum_statistic_by_hand():
    cp, cm = D.cusum_statistic([1.0, 1.0, -2.0, 0.2, 3.0], k=0.5)
    assert cp.tolist() == pytest.approx([0.5, 1.0, 0.0, 0.0, 2.5])
    assert cm.tolist() == pytest.approx([0.0, 0.0, 1.5, 0.8, 0.0])


def test_guaranteed_limits_are_wider_for_short_baselines_and_tend_to_plug_in():
    plug = (D.SeriesDesign(arl0=1000, guarantee=None).limits_for(50))
    short = D.guaranteed_design(30, arl0=1000, guarantee=0.8)
    long = D.guaranteed_design(3000, arl0=1000, guarantee=0.8)
    assert all(s > p for s, p in zip(short, plug))
    assert long == pytest.approx(plug, rel=0.06)


# --------------------------------------------------------------------------------------
# Run rules
# --------------------------------------------------------------------------------------

def fired(x, rules):
    return {(v.rule, v.index, v.first_index, v.side) for v in D.rule_violations(x, center=0.0, sigma=1.0, rules=rules)}


def test_western_electric_rules():
    base = [0.3, -0.3] * 10
    assert fired(base, "western_electric") == set()
    x = list(base)
    x[5] = 3.5
    assert ("1", 5, 5, 1) in fired(x, "western_electric")
    x = list(base)
    x[10], x[12] = -2.5, -2.2
    assert ("2", 12, 10, -1) in fired(x, "western_electric")
    x = list(base)
    x[4:9] = [1.5, 1.2, 0.2, 1.1, 1.3]
    assert ("3", 8, 4, 1) in fired(x, "western_electric")
    x = list(base)
    x[6:14] = [0.1] * 8
    assert ("4", 13, 6, 1) in fired(x, "western_electric")


def test_nelson_rules():
    base = [0.5, -0.5] * 5 + [0.6, -1.5, 0.4, 1.6] * 5
    x = list(base)
    x[2:11] = [-0.2] * 9
    assert ("2", 10, 2, -1) in fired(x, "nelson")
    x = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.2]
    assert ("3", 5, 0, 1) in fired(x, "nelson")
    x = [0.5 * (-1) ** i for i in range(14)]
    assert any(r == "4" and i == 13 and f == 0 for r, i, f, _ in fired(x, "nelson"))
    x = [0.1 * (-1) ** i for i in range(15)]
    assert any(r == "7" and i == 14 for r, i, f, _ in fired(x, "nelson"))
    x = [1.5, -1.5, 1.2, -1.2, 1.4, -1.6, 1.3, -1.1]
    assert any(r == "8" and i == 7 and f == 0 for r, i, f, _ in fired(x, "nelson"))
    with pytest.raises(D.DriftError, match="expected one of"):
        D.rule_violations(x, center=0, sigma=1, rules="westinghouse")


# --------------------------------------------------------------------------------------
# Capability, change points, words, batches
# --------------------------------------------------------------------------------------

def test_capability_indices():
    x = np.array([9.0, 11.0] * 10)  # mean 10, sigma_within 2/d2, overall sd known
    cap = D.capability(x, lsl=4.0, usl=18.0)
    sw, so = 2 / D.d2(2), x.std(ddof=1)
    assert cap.cp == pytest.approx(14 / (6 * sw)) and cap.cpk == pytest.approx(6 / (3 * sw))
    assert cap.pp == pytest.approx(14 / (6 * so)) and cap.ppk == pytest.approx(6 / (3 * so))
    one = D.capability(x, usl=16.0)
    assert one.cp is None and one.cpk == pytest.approx(6 / (3 * sw))


def test_change_points_find_a_step():
    rng = np.random.default_rng(11)
    x = rng.standard_normal(120)
    x[60:] += 2.0
    c = D.cusum_chart(x, center=0.0, sigma=1.0, k=0.5, h=5.0)
    assert c.side == 1 and 60 <= c.first_alarm <= 66
    assert abs(c.change_point - 60) <= 3
    assert abs(D.cusum_change_point(x, center=0, sigma=1, end=c.first_alarm, side=1) - 60) <= 3
    assert abs(D.likelihood_change_point(x, center=0.0, sigma=1.0) - 60) <= 2


def test_direction_words():
    assert D.direction_words("color.panel.dL", -1) == "panel getting darker"
    assert D.direction_words("dimension.strap_width.mm", -1) == "strap_width getting smaller"
    assert D.direction_words("color.panel.dC", -1) == "panel getting duller (greyer)"
    assert D.direction_words("color.panel.dH", 1, reference_lab=(50, 30, 0)) == "panel getting yellower"
    assert D.direction_words("color.panel.dH", -1, reference_lab=(50, 0, 30)) == "panel getting redder"
    assert D.direction_words("anomaly.buckle.score", 1) == "buckle looking more anomalous"


def test_batch_comparison_in_metric_units():
    rng = np.random.default_rng(2)
    b1 = rng.normal(0.0, 0.15, 40)
    b2 = rng.normal(-0.6, 0.15, 40)
    c = D.compare_batches(b1, b2, metric="color.panel.dL", batch_a="1", batch_b="2")
    assert c.difference == pytest.approx(b2.mean() - b1.mean()) and c.difference == pytest.approx(-0.6, abs=0.08)
    assert c.ci_low < c.difference < c.ci_high and c.p_value < 1e-3
    assert c.sentence() == f"batch 2 panel is {abs(c.difference):.2f} ΔL* darker than batch 1, p < 0.001"
    m = D.compare_batches(b1, b2, metric="color.panel.dL", batch_a="1", batch_b="2", method="mannwhitney")
    assert m.difference == pytest.approx(-0.6, abs=0.08) and m.ci_low < m.difference < m.ci_high
    assert m.p_value < 1e-3
    same = D.compare_batches(b1, rng.normal(0.0, 0.15, 40), metric="dimension.strap.mm")
    assert same.p_value > 0.01 and "mm" in same.sentence()


# --------------------------------------------------------------------------------------
# Drift on a simulated production run (goldenvision.store.synthetic)
# --------------------------------------------------------------------------------------

def first_out_of_tolerance(lot, pred):
    return next(i for i, r in enumerate(lot) if pred(r))


def test_drifting_lot_alarms_while_units_still_pass():
    sc = DriftScenario()
    lot = drifting_lot(sc, seed=0)
    rep = D.detect_drift(as_store_rows(lot))
    idx = lambda uid: uid - 1  # noqa: E731 - as_store_rows numbers units from 1
    # no alarm in the in-control stretch (units 50-119 monitored after a 50-unit baseline)
    assert all(idx(a.alarm_unit_id) > sc.in_control_end for a in rep.alarms)
    # the material-batch step: a darker panel from unit 120, found as a step at its first unit
    dl = [a for a in rep.alarms if a.metric == "color.panel.dL"]
    assert dl and all(a.direction == "panel getting darker" for a in dl)
    assert min(abs(idx(a.first_unit_id) - sc.batch_change) for a in dl) <= 2
    assert min(idx(a.alarm_unit_id) for a in dl) <= sc.batch_change + 5
    # the slow strap drift: alarm >= 20 units before the first strap out of tolerance, still in tolerance
    oot = first_out_of_tolerance(lot, lambda r: not r["dimensions"][0]["ok"])
    dim = [a for a in rep.alarms if a.metric.startswith("dimension.")]
    first = min(idx(a.alarm_unit_id) for a in dim)
    assert first <= oot - 20 and all(a.in_tolerance for a in dim)
    assert {a.direction for a in dim} == {"strap_width getting smaller"}
    assert all(idx(a.first_unit_id) >= sc.dim_drift_start - 25 for a in dim)
    # the batch comparison reads as the issue asks
    sentences = [c.sentence() for c in rep.comparisons]
    assert any(s.startswith("batch hide-0413 panel is") and "ΔL* darker than batch hide-0412, p < 0.001" in s
               for s in sentences)


def test_slow_colour_drift_alarms_before_tolerance():
    sc = DriftScenario(batch_change=10**6, dim_drift_start=10**6, color_drift_start=120, color_slope_dl=-0.012)
    lot = drifting_lot(sc, seed=4)
    rep = D.detect_drift(as_store_rows(lot))
    oot = first_out_of_tolerance(lot, lambda r: not r["color"][0]["ok"])
    colour = [a for a in rep.alarms if a.metric.startswith("color.")]
    assert colour and all(a.alarm_unit_id - 1 >= sc.color_drift_start for a in rep.alarms)
    assert min(a.alarm_unit_id - 1 for a in colour) <= oot - 20
    assert any(a.direction == "panel getting darker" for a in colour)


def test_in_control_lots_rarely_alarm():
    """40 in-control lots of 170 units (50 baseline, 120 monitored, 6 metrics, family ARL0 2000
    per lot, so about 6 % of lots expected to show one false alarm, 10 % with the guarantee's
    slack): at most 6 of 40 lots may alarm."""
    sc = DriftScenario(n_units=170, batch_change=10**6, dim_drift_start=10**6, color_drift_start=10**6)
    alarmed = sum(bool(D.detect_drift(as_store_rows(drifting_lot(sc, seed=100 + s))).alarms) for s in range(40))
    assert alarmed <= 6


def test_grouping_and_input_checks():
    rows = as_store_rows(drifting_lot(DriftScenario(n_units=150), seed=1))
    rep = D.detect_drift(rows, by=("shift",))
    assert {tuple(sorted(s.group.items())) for s in rep.series} == {
        (("product", "wallet-classic"), ("shift", s)) for s in "ABC"}
    short = [s for s in rep.series if s.limits is None]
    assert all("baseline" in s.note for s in short)
    with pytest.raises(D.DriftError, match="unknown field"):
        D.detect_drift(rows, by=("colour",))
    with pytest.raises(D.DriftError, match="charts"):
        D.SeriesDesign(charts=("shewart",))


def test_rule_sets_are_selectable_in_the_store_layer():
    rows = as_store_rows(drifting_lot(seed=0))
    rep = D.detect_drift(rows, design=D.SeriesDesign(rules="western_electric", charts=("shewhart",)))
    dl = [a for a in rep.alarms if a.metric == "color.panel.dL" and a.alarm_unit_id - 1 >= 120]
    assert {a.rule.split(":")[0] for a in dl} == {f"western_electric rule {i}" for i in "1234"}
    assert all(a.chart == "shewhart" and a.direction == "panel getting darker" for a in dl)
    assert min(a.first_unit_id - 1 for a in dl) == 120
