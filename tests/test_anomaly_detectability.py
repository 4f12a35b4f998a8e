"""The probability-of-detection self-test (anomaly.detectability) on a synthetic printed label."""

from __future__ import annotations

import numpy as np
import pytest

from goldenvision.anomaly import AnomalyModel
from goldenvision.anomaly.detectability import CONTRAST_LADDER_DL, POD_WARN, detectability
from goldenvision.spec import AnomalyZone

from tests.test_anomaly import SCALE, printed, shoot


@pytest.fixture(scope="module")
def label():
    rng = np.random.default_rng(3)
    g = printed()
    caps = [shoot(g, rng) for _ in range(5)]
    return caps, rng


@pytest.fixture(scope="module")
def tiles():
    """Solid dark parts 1.6 mm square on a light ground: parts much larger than the tolerance band."""
    g = np.full((260, 300, 3), (200, 196, 188), np.uint8)
    for y in range(30, 230, 50):
        for x in range(30, 270, 50):
            g[y:y + 16, x:x + 16] = (60, 70, 90)
    rng = np.random.default_rng(5)
    return [shoot(g, rng) for _ in range(5)]


def _model(caps, **zone):
    return AnomalyModel.fit(caps, [AnomalyZone(name="label", defect_type="print", **zone)], scale_mm_per_px=SCALE)


def test_large_defects_are_found_and_tiny_ones_are_not(tiles):
    caps = tiles
    model = _model(caps, min_area_mm2=3.0)
    big = detectability(model, caps[0])["label"]
    assert big.area_mm2 == 3.0 and big.radius_px == pytest.approx(np.sqrt(3.0 / np.pi) / SCALE)
    assert big.spot_contrast_dl is not None and big.spot_contrast_dl <= 16.0
    assert big.pod_spot[big.spot_contrast_dl] >= POD_WARN
    assert big.pod_gone is not None and big.pod_gone >= POD_WARN
    assert big.warning(SCALE) is None
    # a speck well below a pixel's worth of evidence: tried up the whole ladder, never found
    tiny = detectability(model, caps[0], area_mm2=0.005)["label"]
    assert list(tiny.pod_spot) == list(CONTRAST_LADDER_DL) and tiny.spot_contrast_dl is None
    assert max(tiny.pod_spot.values()) < POD_WARN
    w = tiny.warning(SCALE)
    assert w is not None and "zone label" in w and "0.005 mm²" in w and "finer scale" in w


def test_a_missing_thin_glyph_is_measured_not_assumed(label):
    """On a printed label a removed disc of 3 mm² takes strokes of 0.2-0.3 mm away: the self-test
    reports what the model finds (a fraction of the sites), it does not assume every site."""
    caps, _ = label
    res = detectability(_model(caps, min_area_mm2=3.0), caps[0])["label"]
    assert res.pod_gone is not None and 0.0 <= res.pod_gone <= 1.0
    assert res.spot_contrast_dl is not None


def test_contrast_from_the_spec_is_the_one_tested_and_results_are_reproducible(label):
    caps, _ = label
    model = _model(caps, min_area_mm2=2.0, min_contrast_dl=1.0)
    a = detectability(model, caps[0])["label"]
    assert list(a.pod_spot) == [1.0]  # only the spec's contrast
    assert a.pod_spot[1.0] < POD_WARN  # ΔL* 1 is inside the noise of these captures
    assert a.warning(SCALE) is not None and "spec's ΔL* 1" in a.warning(SCALE)
    b = detectability(model, caps[0])["label"]
    assert a == b
    assert a.to_dict()["pod_spot"] == {"1": a.pod_spot[1.0]}


def test_nothing_to_test_without_a_scale_or_an_area(label):
    caps, _ = label
    caps = caps[:3]  # what is fitted does not matter here, only the scale and the area: 3 of the 5 captures
    no_scale = AnomalyModel.fit(caps, [AnomalyZone(name="label", min_area_mm2=1.0)])
    assert detectability(no_scale, caps[0]) == {}
    assert detectability(_model(caps), caps[0]) == {}  # min_area_mm2 = 0: no size given


def test_cli_prints_each_zone_of_a_sealed_golden(demo_golden_path):
    import json

    from typer.testing import CliRunner

    from goldenvision.cli import app

    # 2 sites per zone, kind and contrast (not the default 8): 22 scorings of the demo golden, not 41 at 3
    res = CliRunner().invoke(app, ["detectability", str(demo_golden_path), "--sites", "2", "--area", "4", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["scale_mm_per_px"] > 0 and out["zones"]
    for z in out["zones"].values():
        assert z["area_mm2"] == 4.0 and z["sites"] == 2 and set(z) >= {"pod_spot", "pod_gone", "warning"}
    res = CliRunner().invoke(app, ["detectability", str(demo_golden_path), "--sites", "2", "--area", "4"])
    assert res.exit_code == 0 and "probability of detection" in res.stdout
