"""Decision rules: fail beats review beats pass; one reason per finding; severities kept."""

import numpy as np

from goldenvision.decision import decide
from goldenvision.errors import MeasurementError
from goldenvision.results import AnomalyResult, ColorResult, Defect, DimensionResult, RegistrationResult, Verdict
from goldenvision.spec import DefectType, Severity

OK_REG = RegistrationResult(np.eye(3), ok=True, rms_px=0.1, inliers=200, confidence=0.99)


def colour(de_target, *, tol=1.5, de_golden=0.2, sev=Severity.major, valid=1.0, unif=None):
    return ColorResult(name="panel", lab=(40.0, 20.0, 15.0), delta_e_target=de_target, delta_e_golden=de_golden,
                       tolerance=tol, golden_tolerance=tol, severity=sev, d_l=-0.8, d_c=0.1, d_h=0.0,
                       uniformity_de00=unif, uniformity_tolerance=1.0 if unif is not None else None,
                       valid_fraction=valid)


def dim(measured, sev=Severity.major):
    return DimensionResult(name="strap_width", measured_mm=measured, nominal_mm=25.0, tol_minus_mm=0.5,
                           tol_plus_mm=0.5, severity=sev)


def test_all_good_passes():
    d = decide(registration=OK_REG, colors=[colour(0.4)], dimensions=[dim(25.1)])
    assert d.verdict is Verdict.passed and d.reasons == () and d.failed_severities == ()


def test_colour_and_dimension_fail_with_reasons():
    d = decide(registration=OK_REG, colors=[colour(2.41)], dimensions=[dim(24.31, Severity.minor)])
    assert d.verdict is Verdict.failed
    assert len(d.reasons) == 2
    assert "color panel" in d.reasons[0] and "2.41" in d.reasons[0] and "darker" in d.reasons[0]
    assert d.reasons[1] == "dimension strap_width 24.31 mm, nominal 25.00 \u22120.50/+0.50"
    assert d.failed_severities == (Severity.major, Severity.minor)


def test_boundary_is_in_tolerance():
    assert dim(25.5).ok and dim(24.5).ok and not dim(25.5000001).ok
    assert colour(1.5).ok and not colour(1.5001).ok


def test_uniformity_fails_even_with_good_mean():
    d = decide(registration=OK_REG, colors=[colour(0.5, unif=2.0)])
    assert d.verdict is Verdict.failed and "uneven" in d.reasons[0]


def test_unmeasurable_feature_gives_review_not_a_number():
    d = decide(registration=OK_REG, dimensions=[MeasurementError("strap_width: no edge found along the caliper")])
    assert d.verdict is Verdict.review
    assert d.reasons == ("dimension strap_width: no edge found along the caliper",)


def test_fail_wins_over_review():
    d = decide(registration=OK_REG, colors=[colour(3.0)], dimensions=[MeasurementError("w: not found")])
    assert d.verdict is Verdict.failed and len(d.reasons) == 2


def test_registration_refused_is_review():
    bad = RegistrationResult(np.eye(3), ok=False, rms_px=float("nan"), reason="too few inliers (3 < 12)")
    d = decide(registration=bad)
    assert d.verdict is Verdict.review and "too few inliers" in d.reasons[0]


def test_hidden_colour_zone_is_review():
    d = decide(registration=OK_REG, colors=[colour(9.0, valid=0.1)])
    assert d.verdict is Verdict.review and "not judged" in d.reasons[0]


def test_anomaly_regions_fail_with_zone_severity():
    defects = (
        Defect(bbox=(10, 20, 30, 25), score=3.2, zone="buckle", defect_type=DefectType.plating,
               severity=Severity.major, area_px=80, area_mm2=1.25),
        Defect(bbox=(50, 60, 55, 70), score=1.4, zone="buckle", defect_type=DefectType.plating,
               severity=Severity.major, area_px=20, area_mm2=0.3),
    )
    an = AnomalyResult(score=3.2, map=np.zeros((4, 4), np.float32), zone_scores={"buckle": 3.2}, defects=defects)
    d = decide(registration=OK_REG, anomaly=an, anomaly_severity={"buckle": Severity.critical})
    assert d.verdict is Verdict.failed
    assert d.failed_severities == (Severity.critical,)
    assert "anomaly buckle (plating): 2 region(s), worst 3.2" in d.reasons[0]


def test_dimension_out_by_less_than_its_expanded_uncertainty_is_review():
    """ISO 14253-1: a non-conformance must be proven beyond k u (k = 2); a reading out of tolerance
    by less is review with the reason, a reading beyond it fails, an unknown u keeps the plain rule."""
    def d(measured, u):
        return DimensionResult(name="board_width", measured_mm=measured, nominal_mm=70.0, tol_minus_mm=0.2,
                               tol_plus_mm=0.2, uncertainty_mm=u, reference="marker")
    near = d(70.42, 0.15)  # 0.22 beyond the limit, 2 u = 0.30
    assert not near.ok and near.within_uncertainty and near.to_dict()["within_uncertainty"]
    r = decide(registration=OK_REG, dimensions=[near])
    assert r.verdict is Verdict.review and r.failed_severities == ()
    assert "not proven" in r.reasons[0] and "\u00b10.30 mm of marker" in r.reasons[0]
    far = d(69.45, 0.1)  # 0.35 beyond, 2 u = 0.20
    assert not far.within_uncertainty and decide(registration=OK_REG, dimensions=[far]).verdict is Verdict.failed
    assert not d(70.1, 0.5).within_uncertainty  # in tolerance: passes, nothing to prove
    assert not d(70.25, None).within_uncertainty and not d(70.25, float("nan")).within_uncertainty
    assert decide(registration=OK_REG, dimensions=[d(70.25, None)]).verdict is Verdict.failed


def test_clipped_colour_zone_that_passes_is_review_and_a_failing_one_says_it_is_a_lower_bound():
    from dataclasses import replace

    ok = replace(colour(0.8), clipped_fraction=0.9, golden_clipped_fraction=0.0)
    assert ok.clipped and ok.ok
    d = decide(registration=OK_REG, colors=[ok])
    assert d.verdict is Verdict.review and "90 % of the zone clipped" in d.reasons[0]
    bad = replace(colour(2.4), clipped_fraction=0.9, golden_clipped_fraction=0.0)
    d = decide(registration=OK_REG, colors=[bad])
    assert d.verdict is Verdict.failed and "larger than measured" in d.reasons[0]
    # a product whose golden is itself clipped there (a saturated colour every photo clips):
    # the unit is judged as usual, and so is a zone with a few clipped highlights
    for c in (replace(colour(0.8), clipped_fraction=0.9, golden_clipped_fraction=0.8),
              replace(colour(0.8), clipped_fraction=0.1, golden_clipped_fraction=0.0)):
        assert not c.clipped and decide(registration=OK_REG, colors=[c]).verdict is Verdict.passed


def test_clipped_fraction_counts_pixels_with_a_channel_at_its_limit():
    from goldenvision.color.relative import clipped_fraction

    rgb = np.full((10, 10, 3), 120, np.uint8)
    rgb[:5, :, 0] = 0  # a deep green beyond sRGB: red clipped at 0
    rgb[9, :5] = 255  # a highlight
    mask = np.ones((10, 10), bool)
    assert clipped_fraction(rgb, mask) == 0.55
    assert clipped_fraction(rgb, np.zeros_like(mask)) == 0.0
    mask[:, :] = False
    mask[6:9] = True
    assert clipped_fraction(rgb, mask) == 0.0


def test_a_reference_too_coarse_for_the_tolerance_says_what_would_decide_it():
    """A reading not proven out whose expanded uncertainty reaches half the tolerance band says the
    reference cannot decide that band, and what would; a capable one does not."""
    def d(measured, u, ref):
        return DimensionResult(name="part_width", measured_mm=measured, nominal_mm=72.0, tol_minus_mm=0.3,
                               tol_plus_mm=0.3, uncertainty_mm=u, reference=ref)
    coarse = decide(registration=OK_REG, dimensions=[d(71.48, 0.23, "marker")])
    assert coarse.verdict is Verdict.review
    assert "cannot decide a \u00b10.30 mm band" in coarse.reasons[0] and "larger marker" in coarse.reasons[0]
    frame = decide(registration=OK_REG, dimensions=[d(72.5, 0.2, "golden_frame")])
    assert "known-size marker" in frame.reasons[0]
    fine = decide(registration=OK_REG, dimensions=[d(72.35, 0.1, "marker")])  # 2 u = 0.20 < 0.30
    assert fine.verdict is Verdict.review and "cannot decide" not in fine.reasons[0]


def test_a_colour_reference_too_loose_for_the_tolerance_says_what_would_decide_it():
    """A colour not proven out whose uncertainty reaches half its tolerance says the reference
    cannot decide it, and what would (a chart in the photo for one judged relative to the golden);
    a capable one, or a passing or failing one, says nothing of the kind."""
    from dataclasses import replace

    def c(de, u, ref="relative-to-golden"):
        return replace(colour(de, de_golden=de), uncertainty_de00=u, reference=ref)
    loose = decide(registration=OK_REG, colors=[c(1.9, 0.98)])
    assert loose.verdict is Verdict.review
    said = loose.reasons[0]
    assert "not proven; this reference cannot decide a \u0394E00 1.50 tolerance" in said and "colour chart" in said
    chart = decide(registration=OK_REG, colors=[c(1.9, 0.9, "chart (photo)")])
    assert "station's fixed light" in chart.reasons[0]
    tight = decide(registration=OK_REG, colors=[c(1.6, 0.3)])  # 0.3 < 0.75: capable
    assert tight.verdict is Verdict.review and "cannot decide" not in tight.reasons[0]
    assert decide(registration=OK_REG, colors=[c(1.2, 0.98)]).verdict is Verdict.passed
    failed = decide(registration=OK_REG, colors=[c(3.0, 0.98)])
    assert failed.verdict is Verdict.failed and "cannot decide" not in failed.reasons[0]
