"""End to end on a small demo lot: seal, save, load, inspect, decide; bad input never crashes."""

import json

import numpy as np
import pytest

import goldenvision as gv
from goldenvision.demo import empty_lightbox_image, generate_lot, wrong_product_image

SIZE = 0.4


@pytest.fixture(scope="module")
def lot(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return generate_lot(out, seed=3, n_golden=3, n_units=12, size=SIZE)


@pytest.fixture(scope="module")
def golden(lot, tmp_path_factory):
    g = gv.seal([str(p) for p in lot.golden_paths], lot.spec_path)
    path = tmp_path_factory.mktemp("pkg") / "demo.golden"
    g.save(path)
    return gv.load_golden(path)


@pytest.fixture(scope="module")
def results(lot, golden):
    return {p.stem: gv.inspect(str(p), golden, unit_id=p.stem) for p in lot.unit_paths}


def test_every_verdict_matches_the_ground_truth(lot, results):
    truth = {u["unit_id"]: u for u in lot.truth["units"]}
    wrong = {k: (truth[k]["expected_verdict"], r.verdict.value, r.reasons)
             for k, r in results.items() if truth[k]["expected_verdict"] != r.verdict.value}
    assert not wrong, wrong


def test_failing_units_fail_for_the_injected_reason(lot, results):
    truth = {u["unit_id"]: u for u in lot.truth["units"]}
    for k, r in results.items():
        t = truth[k]
        if t["expected_verdict"] != "fail":
            continue
        got = {f"color:{c.name}" for c in r.color if not c.ok}
        got |= {f"dimension:{d.name}" for d in r.dimensions if not d.ok}
        got |= {f"anomaly:{d.zone}" for d in r.defects}
        assert set(t["failing_checks"]) <= got, (k, t["failing_checks"], r.reasons)
        assert len(r.reasons) >= 1


def test_dimensions_and_colours_close_to_truth(lot, results):
    truth = {u["unit_id"]: u for u in lot.truth["units"]}
    dim_err, col_err = [], []
    for k, r in results.items():
        for d in r.dimensions:
            dim_err.append(d.measured_mm - truth[k]["dimensions"][d.name])
        for c in r.color:
            col_err.append(gv.delta_e_2000(np.asarray(c.lab), np.asarray(truth[k]["colors"][c.name]["lab"])))
    assert dim_err and col_err
    # at SIZE=0.4 a pixel is 0.3125 mm: the tolerances here are looser than the full-size benchmark's
    assert np.sqrt(np.mean(np.square(dim_err))) < 0.08
    assert np.mean(col_err) < 0.8


def test_result_is_json_serialisable_with_provenance(results):
    r = next(iter(results.values()))
    d = json.loads(json.dumps(r.to_dict()))
    assert d["verdict"] in {"pass", "fail", "review"}
    assert d["registration"]["ok"] is True
    prov = d["provenance"]
    assert len(prov["image_sha256"]) == 64
    # the audit trail of issue 7: which golden, which spec, which models, which station, which software
    assert prov["golden_id"] and len(prov["manifest_sha256"]) == 64
    assert prov["revision"] == prov["spec_revision"] == "B"
    assert prov["station_profile_id"] and prov["software_version"] == gv.__version__
    assert prov["model_versions"]["anomaly"]["methods"]
    assert r.anomaly_map is not None and r.anomaly_map.dtype == np.float32


def test_corrupt_and_truncated_files_are_review(lot, golden, tmp_path):
    bad = tmp_path / "corrupt.png"
    data = lot.unit_paths[0].read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    r = gv.inspect(str(bad), golden)
    assert r.verdict is gv.Verdict.review and "corrupt.png" in r.reasons[0]
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    assert gv.inspect(str(junk), golden).verdict is gv.Verdict.review


def test_wrong_product_and_empty_lightbox_are_refused(golden):
    for img in (wrong_product_image(1, size=SIZE), empty_lightbox_image(2, size=SIZE)):
        r = gv.inspect(img, golden)
        assert r.verdict is gv.Verdict.review
        assert r.registration is None or not r.registration.ok
        assert any("registration" in x or "calibration" in x for x in r.reasons)


def test_a_photo_without_the_light_box_is_review(golden):
    rng = np.random.default_rng(0)
    r = gv.inspect(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), golden)
    assert r.verdict is gv.Verdict.review
