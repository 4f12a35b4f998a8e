"""End to end on the shared demo lot (tests/conftest.py): seal, save, load, inspect, decide;
an Inspector the caller holds; one read per image; the inspection context; bad input never
crashes."""

import builtins
import hashlib
import io
import json

import numpy as np
import pytest

import goldenvision as gv
from goldenvision.demo import empty_lightbox_image, make_variant_unit, render_unit, wrong_product_image
from goldenvision.errors import SpecError
from goldenvision.imageio import sha256_of
from goldenvision.pipeline import CONTEXT_KEYS, add_good_units, validate_context


def _truth(lot):
    return {u["unit_id"]: u for u in lot.truth["units"]}


def test_every_verdict_matches_the_ground_truth(demo_lot, demo_results):
    truth = _truth(demo_lot)
    assert set(demo_results) == set(truth)
    wrong = {k: (truth[k]["expected_verdict"], r.verdict.value, r.reasons)
             for k, r in demo_results.items() if truth[k]["expected_verdict"] != r.verdict.value}
    assert not wrong, wrong
    # the lot holds both kinds, so the comparison above tested both
    assert {t["expected_verdict"] for t in truth.values()} == {"pass", "fail"}


def test_failing_units_fail_for_the_injected_reason(demo_lot, demo_results):
    truth = _truth(demo_lot)
    n_failing = 0
    for k, r in demo_results.items():
        t = truth[k]
        if t["expected_verdict"] != "fail":
            assert r.reasons == (), (k, r.reasons)
            continue
        n_failing += 1
        got = {f"color:{c.name}" for c in r.color if not c.ok}
        got |= {f"dimension:{d.name}" for d in r.dimensions if not d.ok}
        got |= {f"anomaly:{d.zone}" for d in r.defects}
        assert set(t["failing_checks"]) <= got, (k, t["failing_checks"], r.reasons)
        for check in t["failing_checks"]:  # each failing check is worded in a reason
            kind, name = check.split(":")
            assert any(x.startswith(f"{kind} {name}") for x in r.reasons), (k, check, r.reasons)
    assert n_failing >= 3


def test_dimensions_and_colours_close_to_truth(demo_lot, demo_results):
    truth = _truth(demo_lot)
    dim_err, col_err = [], []
    for k, r in demo_results.items():
        for d in r.dimensions:
            dim_err.append(d.measured_mm - truth[k]["dimensions"][d.name])
        for c in r.color:
            col_err.append(gv.delta_e_2000(np.asarray(c.lab), np.asarray(truth[k]["colors"][c.name]["lab"])))
    n_units = len(demo_results)
    assert len(dim_err) == 4 * n_units and len(col_err) == 2 * n_units  # every feature and zone measured
    # at size 0.4 a pixel is 0.3125 mm: the tolerances here are looser than the full-size benchmark's
    assert np.sqrt(np.mean(np.square(dim_err))) < 0.08
    assert np.mean(col_err) < 0.8


def test_dimensions_are_zeroed_on_the_golden_and_say_so(demo_golden, demo_results):
    recorded = demo_golden.meta["golden_dimensions_mm"]
    nominal = {d.name: d.nominal_mm for d in demo_golden.spec.dimensions}
    for r in demo_results.values():
        zero = r.provenance["dimensions_zeroed_on_golden_mm"]
        assert zero and set(zero) <= set(recorded)
        for name, off in zero.items():  # the golden's own reading taken to nominal
            assert off == pytest.approx(nominal[name] - recorded[name]["mean"], abs=1e-4)
        assert all(str(d.reference) == "station_profile" and d.uncertainty_mm > 0 for d in r.dimensions)
        assert "dimension_registration" not in r.provenance  # a station's metric frame needs no second alignment


def test_result_is_json_serialisable_with_provenance(demo_lot, demo_golden, demo_results):
    unit = demo_lot.unit_paths[0]
    r = demo_results[unit.stem]
    d = json.loads(json.dumps(r.to_dict()))
    assert d["verdict"] == _truth(demo_lot)[unit.stem]["expected_verdict"]
    assert d["registration"]["ok"] is True
    prov = d["provenance"]
    assert prov["image_sha256"] == hashlib.sha256(unit.read_bytes()).hexdigest() == r.image_sha256
    assert prov["image_nbytes"] == unit.stat().st_size
    # the audit trail of issue 7: which golden, which spec, which models, which station, which software
    assert prov["golden_id"] == demo_golden.provenance()["golden_id"] and len(prov["manifest_sha256"]) == 64
    assert prov["revision"] == prov["spec_revision"] == "B"
    assert prov["station_profile_id"] and prov["software_version"] == gv.__version__
    assert set(prov["model_versions"]["anomaly"]["methods"]) == {z.name for z in demo_golden.spec.anomaly_zones}
    assert r.anomaly_map is not None and r.anomaly_map.dtype == np.float32
    assert r.anomaly_map.shape == demo_golden.shape
    assert d["context"] == {}
    assert d["timings_ms"]["total"] >= d["timings_ms"]["anomaly"] > 0


def test_inspector_is_held_by_the_caller_and_caches_nothing_on_the_golden(demo_lot, demo_golden_path):
    golden = gv.load_golden(demo_golden_path)
    before = dict(getattr(golden, "__dict__", {}))
    unit = demo_lot.unit_paths[1]
    inspector = gv.Inspector(golden)
    held = inspector.inspect(str(unit), unit_id=unit.stem)
    once = gv.inspect(str(unit), golden, unit_id=unit.stem, context={"lot": "L1"})
    assert dict(getattr(golden, "__dict__", {})).keys() == before.keys()
    assert not [k for k in dir(golden) if k.startswith("_gv")]
    # the wrapper is the same inspection
    assert once.verdict is held.verdict and once.reasons == held.reasons
    assert once.anomaly_score == pytest.approx(held.anomaly_score, rel=1e-6)
    assert once.image_sha256 == held.image_sha256
    assert once.context == {"lot": "L1"} and held.context == {}
    np.testing.assert_allclose(once.registration.homography, held.registration.homography, atol=1e-9)
    # two Inspectors hold their own models
    other = gv.Inspector(golden)
    assert other.models.anomaly is not inspector.models.anomaly
    assert inspector.models.spec is golden.spec


def test_one_read_per_image(demo_lot, demo_inspector, monkeypatch):
    unit = demo_lot.unit_paths[2]
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(file, *args, **kw):  # noqa: ANN001 - a stand-in for open()
        opened.append(str(file))
        return real_open(file, *args, **kw)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    r = demo_inspector.inspect(str(unit))
    monkeypatch.undo()
    assert opened.count(str(unit)) == 1, opened
    assert r.image_sha256 == hashlib.sha256(unit.read_bytes()).hexdigest()


def test_bytes_and_array_inputs_are_hashed_as_given(demo_lot, demo_inspector):
    unit = demo_lot.unit_paths[0]
    data = unit.read_bytes()
    from_bytes = demo_inspector.inspect(data, unit_id="upload")
    assert from_bytes.image_sha256 == hashlib.sha256(data).hexdigest() and from_bytes.unit_id == "upload"
    rgb = gv.imageio.read_image(unit)
    from_array = demo_inspector.inspect(rgb)
    assert from_array.image_sha256 == sha256_of(rgb) != from_bytes.image_sha256
    assert from_array.verdict is from_bytes.verdict
    assert from_array.anomaly_score == pytest.approx(from_bytes.anomaly_score, rel=1e-6)


def test_context_is_checked_and_carried(demo_lot, demo_inspector):
    ctx = {"lot": "L7", "shift": "B", "material_batch": "hide-0412", "ambient_temp_c": 21, "humidity_pct": 48.5,
           "line": "3"}
    r = demo_inspector.inspect(str(demo_lot.unit_paths[0]), context=ctx)
    assert r.context == {"lot": "L7", "shift": "B", "material_batch": "hide-0412", "ambient_temp_c": 21.0,
                         "humidity_pct": 48.5, "line": "3"}
    assert isinstance(r.context["ambient_temp_c"], float)
    assert json.loads(json.dumps(r.to_dict()))["context"] == r.context
    ctx["lot"] = "changed later"  # the result keeps its own copy
    assert r.context["lot"] == "L7"
    # a unit that cannot be read keeps its context too
    bad = demo_inspector.inspect(b"not an image", context={"lot": "L7"})
    assert bad.verdict is gv.Verdict.review and bad.context == {"lot": "L7"}


@pytest.mark.parametrize(
    "context, message",
    [
        ({"lot": 7}, "context['lot']: expected a str, got int 7"),
        ({"ambient_temp_c": "21"}, "context['ambient_temp_c']: expected a finite number, got str '21'"),
        ({"ambient_temp_c": True}, "context['ambient_temp_c']: expected a finite number, got bool True"),
        ({"ambient_temp_c": float("nan")}, "context['ambient_temp_c']: expected a finite number"),
        ({"humidity_pct": 120}, "context['humidity_pct']: expected a relative humidity in [0, 100] %, got 120"),
        ({"line": 3}, "context['line']: expected a str (a key of your own; known keys: product, lot"),
        ({"line": [1, 2]}, "context['line']: expected a str"),
        ({3: "x"}, "context: keys must be non-empty str, got 3"),
        ({"": "x"}, "context: keys must be non-empty str, got ''"),
        ([("lot", "L7")], "context: expected a mapping"),
    ],
)
def test_a_wrong_context_raises_spec_error_naming_the_key(demo_lot, demo_inspector, context, message):
    with pytest.raises(SpecError) as info:
        demo_inspector.inspect(str(demo_lot.unit_paths[0]), context=context)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_every_known_context_key_is_typed():
    assert set(CONTEXT_KEYS) == {"product", "lot", "station", "shift", "operator", "material_batch",
                                 "ambient_temp_c", "humidity_pct"}
    for key, kind in CONTEXT_KEYS.items():
        good = "x" if kind is str else 1.5
        bad = 1.5 if kind is str else "x"
        assert validate_context({key: good}) == {key: good}
        with pytest.raises(SpecError, match=key):
            validate_context({key: bad})
    assert validate_context(None) == {}


def test_corrupt_and_truncated_files_are_review(demo_lot, demo_inspector, tmp_path):
    bad = tmp_path / "corrupt.png"
    data = demo_lot.unit_paths[0].read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    r = demo_inspector.inspect(str(bad))
    assert r.verdict is gv.Verdict.review and r.reasons[0].startswith("image: ") and "corrupt.png" in r.reasons[0]
    assert r.image_sha256 is None and r.registration is None
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    r = demo_inspector.inspect(str(junk))
    assert r.verdict is gv.Verdict.review and "junk.jpg: not a recognised image" in r.reasons[0]


def test_wrong_product_and_empty_lightbox_are_refused(demo_lot, demo_inspector):
    size = demo_lot.truth["size"]
    for img in (wrong_product_image(1, size=size), empty_lightbox_image(2, size=size)):
        r = demo_inspector.inspect(img)
        assert r.verdict is gv.Verdict.review
        assert r.registration is None or not r.registration.ok
        assert any(x.startswith(("registration", "calibration")) for x in r.reasons), r.reasons


def test_a_photo_without_the_light_box_is_review(demo_inspector):
    rng = np.random.default_rng(0)
    r = demo_inspector.inspect(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    assert r.verdict is gv.Verdict.review
    assert r.reasons[0].startswith("calibration: "), r.reasons


def test_add_good_units_records_the_bytes_it_learnt_from(demo_lot, demo_golden, tmp_path):
    size = demo_lot.truth["size"]
    paths = []
    for i in range(2):
        rgb, _ = render_unit(make_variant_unit(i, "good", seed=4242), None, size=size)
        paths.append(gv.imageio.write_image(tmp_path / f"good_{i}.png", rgb))
    new = add_good_units(demo_golden, [str(p) for p in paths])
    added = new.meta["good_units"]
    assert [a["sha256"] for a in added] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert [a["image"] for a in added] == [str(p) for p in paths]
    assert "good_units" not in demo_golden.meta  # the original golden is not changed
    assert new.states["anomaly"] is not demo_golden.states["anomaly"]
    assert new.states["registration"] is demo_golden.states["registration"]


def test_colour_converted_only_in_the_zones_gives_the_full_frame_answer(demo_lot, demo_inspector, demo_results):
    from goldenvision.color import measure_zone_colors

    unit = demo_lot.unit_paths[3]
    ev = demo_inspector.evidence(str(unit))
    m = demo_inspector.models
    full = measure_zone_colors(ev["correction"].to_lab(ev["warped"]), ev["valid"], m.color, m.spec.colors,
                               target_labs=m.target_labs or None)
    got = demo_results[unit.stem].color
    assert [c.name for c in got] == [c.name for c in full] == [z.name for z in m.spec.colors]
    for a, b in zip(got, full, strict=True):
        np.testing.assert_allclose(a.lab, b.lab, atol=1e-4)
        assert a.delta_e_golden == pytest.approx(b.delta_e_golden, abs=1e-4)
        assert a.uniformity_de00 == pytest.approx(b.uniformity_de00, abs=1e-4)


def test_zone_boxes():
    from goldenvision.pipeline import _boxes

    a = np.zeros((10, 12), bool)
    a[2:5, 3:9] = True
    inner = np.zeros_like(a)
    inner[3, 4] = True
    apart = np.zeros_like(a)
    apart[7:9, 0:2] = True
    assert _boxes([a, inner, apart, np.zeros_like(a), a.copy()]) == [(2, 5, 3, 9), (7, 9, 0, 2)]


def test_thread_pool_is_sized_by_the_inspector_and_checked(demo_golden):
    import cv2

    from goldenvision.pipeline import set_thread_pools

    before = cv2.getNumThreads()
    try:
        gv.Inspector(demo_golden, opencv_threads=1)
        assert cv2.getNumThreads() == 1
        gv.Inspector(demo_golden, opencv_threads=2)
        assert cv2.getNumThreads() == 2
        cv2.setNumThreads(3)
        gv.Inspector(demo_golden)  # the default leaves the process's pool as it is
        assert cv2.getNumThreads() == 3
        for bad in (0, -1, 1.5, True, "2"):
            with pytest.raises(SpecError, match="opencv_threads: expected an int >= 1"):
                set_thread_pools(opencv_threads=bad)
    finally:
        cv2.setNumThreads(before)


def test_a_stage_that_refuses_gives_review_with_the_photo_hash(demo_lot, demo_inspector, monkeypatch):
    import goldenvision.pipeline as pipeline

    def refuse(*args, **kw):  # noqa: ANN002, ANN003 - stands in for measure_dimensions
        raise gv.MeasurementError("caliper panel_width: off the image")

    monkeypatch.setattr(pipeline, "measure_dimensions", refuse)
    unit = demo_lot.unit_paths[0]
    r = demo_inspector.inspect(str(unit), context={"lot": "L7"})
    assert r.verdict is gv.Verdict.review
    assert r.reasons == ("MeasurementError: caliper panel_width: off the image",)
    assert r.image_sha256 == hashlib.sha256(unit.read_bytes()).hexdigest()
    assert r.context == {"lot": "L7"} and r.timings_ms["read"] > 0 and "anomaly" not in r.timings_ms


# -- sealing streams its captures (issue 13) --------------------------------------------------

def _old_list_color_fit(demo_lot):
    """The colour fit as seal did it before streaming: every capture read, aligned and converted
    to Lab into lists first, then one list-based fit."""
    from goldenvision.color import ZoneColorModel
    from goldenvision.imageio import load_image
    from goldenvision.pipeline import (_color_correction, _product_mask, _registration_method, _resolve_profile,
                                       _to_frame)
    from goldenvision.registration import RegistrationModel, register, warp_to_reference

    spec = gv.load_spec(demo_lot.spec_path)
    profile = _resolve_profile(spec, demo_lot.spec_path.parent)
    frames, ccs = [], []
    for p in demo_lot.golden_paths:
        frame, _ = _to_frame(load_image(str(p)).rgb, profile)
        frames.append(frame)
        ccs.append(_color_correction(frame, profile))
    ref = frames[0]
    mask = _product_mask(profile, ref.shape[:2])
    model = RegistrationModel.fit(ref, mask=mask)
    aligned, valids = [ref], [np.ones(ref.shape[:2], bool)]
    for frame in frames[1:]:
        reg = register(ref, frame, method=_registration_method(spec, profile), model=model, mask=mask)
        assert reg.ok
        w, v = warp_to_reference(frame, reg, ref.shape[:2])
        aligned.append(w)
        valids.append(v)
    labs = [cc.to_lab(a) for cc, a in zip(ccs, aligned, strict=True)]
    return ZoneColorModel.fit(labs, valids, list(spec.colors)), labs, valids


def test_streamed_colour_fit_equals_the_list_based_fit(demo_lot, demo_golden):
    from goldenvision.color import ZoneColorModel

    old, labs, valids = _old_list_color_fit(demo_lot)
    sealed = demo_golden.states["color"]
    streamed = ZoneColorModel.fit((x for x in labs), iter(valids), list(demo_golden.spec.colors)).to_state()
    for state in (sealed, streamed):
        assert state.keys() == old.to_state().keys()
        for k, v in old.to_state().items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(np.asarray(state[k]), v, err_msg=k)
            else:
                assert state[k] == v, k
    assert np.isfinite(old.golden_lab_).all() and old.golden_spread_de00_.max() > 0  # three captures differ
    with pytest.raises(gv.ImageError, match="valid_masks: expected 3 masks"):
        ZoneColorModel.fit(labs, valids[:2], list(demo_golden.spec.colors))
    with pytest.raises(gv.ImageError, match="valid_masks: expected one mask per capture, got none for capture 2"):
        ZoneColorModel.fit(iter(labs), iter(valids[:2]), list(demo_golden.spec.colors))
    with pytest.raises(gv.ImageError, match="expected at least one golden CIELAB image"):
        ZoneColorModel.fit(iter([]), None, list(demo_golden.spec.colors))


def test_demo_golden_records_every_capture_and_reports_progress(demo_lot, demo_golden):
    import hashlib as _h

    shas = [_h.sha256(p.read_bytes()).hexdigest() for p in demo_lot.golden_paths]
    assert demo_golden.meta["sealed_captures"] == {"count": 3, "images_stored": 3, "sha256": shas}
    assert [c["sha256"] for c in demo_golden.meta["captures"]] == shas
    assert len(demo_golden.captures) == 3
    np.testing.assert_array_equal(demo_golden.captures[0], demo_golden.reference)


def _tiny_paths(folder, n, *, bad_at=None):
    from synthetic import product

    paths = []
    for i in range(n):
        rgb = product(i, ((i % 5) * 0.7 - 1.4, (i % 3) * 0.8 - 0.8))
        if i == bad_at:
            rgb = np.random.default_rng(i).integers(0, 255, rgb.shape, dtype=np.uint8)
        paths.append(gv.imageio.write_image(folder / f"golden_{i:02d}.png", rgb))
    return paths


def test_many_captures_are_streamed_and_only_the_first_five_kept(tmp_path, monkeypatch):
    from synthetic import SPEC

    from goldenvision.sealing import MAX_STORED_CAPTURES

    n = 14  # above AnomalyConfig.exact_loo_max: the anomaly fit streams too
    paths = _tiny_paths(tmp_path, n)
    reads: list[str] = []
    real_open = builtins.open

    def counting_open(file, *args, **kw):  # noqa: ANN001 - a stand-in for open()
        reads.append(str(file))
        return real_open(file, *args, **kw)

    steps: list[tuple[int, int]] = []
    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    golden = gv.seal([str(p) for p in paths], SPEC, progress=lambda d, t: steps.append((d, t)))
    monkeypatch.undo()
    assert MAX_STORED_CAPTURES == 5 and len(golden.captures) == 5
    np.testing.assert_array_equal(golden.captures[0], golden.reference)
    meta = golden.meta["sealed_captures"]
    assert meta["count"] == n and meta["images_stored"] == 5
    assert meta["sha256"] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert [c["image"] for c in golden.meta["captures"]] == [str(p) for p in paths]
    assert all(c["registration_rms_px"] < 1.0 for c in golden.meta["captures"][1:])
    # capture 0 once (the reference is kept); every other one: colour pass + 2-3 anomaly passes
    counts = [reads.count(str(p)) for p in paths]
    assert counts[0] == 1 and all(2 <= c <= 4 for c in counts[1:]), counts
    assert steps == [(i, n + 2) for i in range(1, n + 3)]
    # the streamed golden inspects: a good photo passes, the stain is found
    from synthetic import defective, product

    inspector = gv.Inspector(golden)
    assert inspector.inspect(product(99, (0.5, -0.5))).verdict is gv.Verdict.passed
    bad = inspector.inspect(defective(98))
    assert bad.verdict is gv.Verdict.failed and bad.defects


def test_a_capture_that_cannot_be_aligned_stops_a_long_seal_with_its_name(tmp_path):
    from synthetic import SPEC

    paths = _tiny_paths(tmp_path, 14, bad_at=9)
    with pytest.raises(gv.RegistrationError, match=r"golden capture 9 \(.*golden_09\.png\): cannot be aligned"):
        gv.seal([str(p) for p in paths], SPEC)


def test_a_capture_changed_between_two_reads_stops_the_seal(tmp_path):
    from synthetic import SPEC, product

    from goldenvision.sealing import GoldenCaptures

    paths = _tiny_paths(tmp_path, 3)
    caps = GoldenCaptures([str(p) for p in paths], gv.load_spec(SPEC), None)
    caps.visit_all()
    first = caps.capture(1).aligned.copy()
    assert caps.capture(1).aligned is caps.capture(1).aligned  # the last capture is kept, not re-read
    caps.capture(2)
    gv.imageio.write_image(paths[1], product(50, (1.0, 1.0)))
    with pytest.raises(gv.ImageError, match=r"golden_01\.png: changed while sealing"):
        caps.capture(1)
    assert first.shape == caps.reference.shape
