"""Tests of goldenvision.color: CIEDE2000, robust zone colour, uniformity, targets, libraries."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import colour
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goldenvision.color import (
    DELTA_E,
    MetamerismIndex,
    SpectralSample,
    ZoneColorModel,
    adapt_lab,
    delta_e,
    delta_e_1976,
    delta_e_2000,
    delta_e_2000_components,
    load_color_library,
    measure_zone_colors,
    metamerism_index,
    read_cgats,
    read_cxf,
    robust_zone_color,
    spectral_to_lab,
    zone_delta_e_map,
    zone_mask,
)
from goldenvision.errors import ImageError, ModelError, SpecError
from goldenvision.spec import ColorZone

DATA = Path(__file__).parent / "data"


def _sharma_pairs() -> np.ndarray:
    with open(DATA / "sharma2005_pairs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 34
    return np.array([[float(r[k]) for k in ("L1", "a1", "b1", "L2", "a2", "b2", "dE00")] for r in rows])


# ----------------------------------------------------------------------------- ΔE00 numbers

def test_sharma_2005_all_34_pairs_to_1e_4():
    d = _sharma_pairs()
    de = delta_e_2000(d[:, 0:3], d[:, 3:6])
    assert de.shape == (34,)
    np.testing.assert_allclose(de, d[:, 6], atol=1e-4, rtol=0)
    # and each pair one at a time, both orders (Python floats for single colours)
    for row in d:
        one = delta_e_2000(row[0:3], row[3:6])
        assert isinstance(one, float)
        assert one == pytest.approx(row[6], abs=1e-4)
        assert delta_e_2000(row[3:6], row[0:3]) == pytest.approx(row[6], abs=1e-4)


def test_matches_colour_science_with_and_without_textile_weights():
    rng = np.random.default_rng(1)
    a = np.column_stack([rng.uniform(0, 100, 500), rng.uniform(-110, 110, (500, 2))])
    b = a + rng.normal(0, 6, a.shape)
    np.testing.assert_allclose(delta_e_2000(a, b), colour.difference.delta_E_CIE2000(a, b), atol=1e-9)
    np.testing.assert_allclose(
        delta_e_2000(a, b, 2, 1, 1), colour.difference.delta_E_CIE2000(a, b, textiles=True), atol=1e-9
    )
    # keyword form as in ARCHITECTURE.md
    assert delta_e_2000(a[0], b[0], kL=2, kC=1, kH=1) == pytest.approx(delta_e_2000(a[0], b[0], 2, 1, 1))


def test_weights_scale_the_lightness_term_only():
    # pure lightness difference at L'=50 (SL = 1): ΔE00 = |ΔL| / kL
    assert delta_e_2000([49, 0, 0], [51, 0, 0]) == pytest.approx(2.0, abs=1e-12)
    assert delta_e_2000([49, 0, 0], [51, 0, 0], kL=2) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(SpecError, match="kL"):
        delta_e_2000([50, 0, 0], [52, 0, 0], kL=0)


def test_cie76_and_registry():
    assert delta_e_1976([50, 0, 0], [50, 3, 4]) == pytest.approx(5.0)
    assert delta_e([50, 0, 0], [50, 3, 4], method="cie76") == pytest.approx(5.0)
    d = _sharma_pairs()
    assert delta_e(d[0, 0:3], d[0, 3:6]) == pytest.approx(d[0, 6], abs=1e-4)
    assert set(DELTA_E) == {"cie76", "ciede2000"}
    with pytest.raises(SpecError, match="cie94"):
        delta_e([50, 0, 0], [50, 0, 0], method="cie94")


def test_bad_lab_shape_is_refused():
    with pytest.raises(ImageError, match=r"lab1.*\(\.\.\., 3\)"):
        delta_e_2000([50, 0], [50, 0, 0])


lab_colours = st.tuples(
    st.floats(0, 100, allow_nan=False), st.floats(-128, 128, allow_nan=False), st.floats(-128, 128, allow_nan=False)
)


@given(lab_a=lab_colours, lab_b=lab_colours)
@settings(max_examples=300, deadline=None)
def test_ciede2000_is_symmetric(lab_a, lab_b):
    assert delta_e_2000(lab_a, lab_b) == pytest.approx(delta_e_2000(lab_b, lab_a), abs=1e-9)


@given(lab=lab_colours)
@settings(max_examples=200, deadline=None)
def test_ciede2000_zero_for_identical(lab):
    assert delta_e_2000(lab, lab) == 0.0


@given(pairs=st.lists(st.tuples(lab_colours, lab_colours), min_size=6, max_size=6))
@settings(max_examples=50, deadline=None)
def test_ciede2000_shape_invariance(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    flat = delta_e_2000(a, b, 2, 1, 1)
    assert flat.shape == (6,)
    grid = delta_e_2000(a.reshape(2, 3, 3), b.reshape(2, 3, 3), 2, 1, 1)
    assert grid.shape == (2, 3)
    # same values whatever the layout; NumPy's SIMD kernels may round a batch and a scalar
    # differently in the last bit, so "same" is to 1e-12 relative
    np.testing.assert_allclose(grid.ravel(), flat, rtol=1e-12, atol=1e-12)
    singles = [delta_e_2000(a[i], b[i], 2, 1, 1) for i in range(6)]
    np.testing.assert_allclose(np.array(singles), flat, rtol=1e-12, atol=1e-12)
    # broadcasting one reference against many
    np.testing.assert_allclose(delta_e_2000(a, b[0], 2, 1, 1), delta_e_2000(a, np.tile(b[0], (6, 1)), 2, 1, 1),
                               rtol=1e-12, atol=1e-12)


@given(smp=lab_colours, ref=lab_colours, k=st.tuples(*[st.sampled_from([0.5, 1.0, 1.3, 2.0])] * 3))
@settings(max_examples=300, deadline=None)
def test_components_recombine(smp, ref, k):
    from goldenvision.color import _ciede2000_terms

    de, dl, dc, dh = delta_e_2000_components(smp, ref, kL=k[0], kC=k[1], kH=k[2])
    *_, rt = _ciede2000_terms(np.asarray(ref, float), np.asarray(smp, float), *k)
    assert de == pytest.approx(delta_e_2000(smp, ref, *k), abs=1e-12)
    assert np.sqrt(max(dl**2 + dc**2 + dh**2 + float(rt) * dc * dh, 0.0)) == pytest.approx(de, abs=1e-9)


def test_component_signs_read_as_words():
    ref = (51.0, 30.0, 10.0)
    _, dl, dc, dh = delta_e_2000_components((49.0, 30.0, 10.0), ref)
    assert dl == pytest.approx(-2.0, abs=1e-12) and dc == 0.0 and dh == 0.0  # darker; SL(L'=50) = 1
    _, dl, dc, dh = delta_e_2000_components((51.0, 20.0, 6.667), ref)
    assert dc < 0 and abs(dl) < 1e-12  # duller


# ----------------------------------------------------------------------------- zone masks

def test_zone_mask_polygon_and_full():
    m = zone_mask([[10, 20], [49, 20], [49, 59], [10, 59]], (100, 80))
    assert m.dtype == bool and m.shape == (100, 80)
    assert m.sum() == 40 * 40 and m[20, 10] and m[59, 49] and not m[19, 10] and not m[20, 50]
    assert zone_mask("full", (5, 7)).all()
    with pytest.raises(SpecError, match="region"):
        zone_mask([[0, 0], [1, 1]], (10, 10))
    with pytest.raises(SpecError, match="region"):
        zone_mask("half", (10, 10))


# ----------------------------------------------------------------------------- synthetic zones

H, W = 240, 320
RECT = [[20, 20], [299, 20], [299, 219], [20, 219]]


def _textured(base, rng, *, spec_frac=0.03, hole_frac=0.02):
    """Base Lab + zero-mean grain and weave + specular spots + dark stitch holes."""
    lab = np.empty((H, W, 3), np.float32)
    lab[:] = base
    y, x = np.mgrid[0:H, 0:W]
    weave = 1.5 * np.sin(2 * np.pi * x / 6.0) * np.sin(2 * np.pi * y / 6.0)  # zero mean over the zone
    lab[..., 0] += (weave + rng.normal(0, 2.0, (H, W))).astype(np.float32)
    lab[..., 1:] += rng.normal(0, 0.6, (H, W, 2)).astype(np.float32)
    spec = rng.random((H, W)) < spec_frac
    lab[spec] = (96.0, 0.5, 1.0)
    holes = rng.random((H, W)) < hole_frac
    lab[holes] = (12.0, 1.0, 1.0)
    return lab


def test_textured_zone_gives_base_lab():
    rng = np.random.default_rng(7)
    base = np.array([52.0, 18.0, 24.0])
    lab = _textured(base, rng)
    r = robust_zone_color(lab, None, RECT)
    assert delta_e_2000(r.lab, base) < 0.3
    # the plain mean is pulled far off by the spots and holes: the test can fail
    plain = lab[zone_mask(RECT, (H, W))].mean(axis=0)
    assert delta_e_2000(plain, base) > 0.6
    assert 0.88 < r.valid_fraction < 0.96  # ~5% spots/holes + a few grain tails dropped
    assert r.uniformity_de00 is not None and r.uniformity_de00 < 0.5


def test_invalid_pixels_are_ignored():
    rng = np.random.default_rng(3)
    base = np.array([40.0, -20.0, 30.0])
    lab = _textured(base, rng)
    valid = np.ones((H, W), bool)
    valid[:, :160] = False
    lab[:, :160] = np.nan  # what a warp leaves outside the unit
    r = robust_zone_color(lab, valid, RECT)
    assert delta_e_2000(r.lab, base) < 0.3
    assert 0.4 < r.valid_fraction < 0.5


@pytest.mark.parametrize(
    "region",
    [[[10, 5], [10, 40], [10.2, 40]], [[3, 3], [3, 3.1], [3.1, 3]], [[0, 10], [59, 10], [59, 10.1]], [[5, 5], [12, 5], [12, 12]]],
)
def test_thin_and_tiny_zones(region):
    rng = np.random.default_rng(8)
    lab = (np.array([40.0, 5.0, 5.0]) + rng.normal(0, 0.3, (50, 60, 3))).astype(np.float32)
    r = robust_zone_color(lab, None, region)
    assert delta_e_2000(r.lab, (40.0, 5.0, 5.0)) < 1.0 and r.valid_fraction > 0.9 and r.uniformity_de00 is None


def _zone(name="panel", **kw):
    args = dict(name=name, region=RECT, tolerance_de00=1.5)
    args.update(kw)
    return ColorZone(**args)


def test_blotchy_zone_flagged_by_uniformity_even_with_mean_in_tolerance():
    rng = np.random.default_rng(11)
    base = np.array([45.0, 25.0, 5.0])
    golden = _textured(base, rng)
    zone = _zone(uniformity_tolerance_de00=1.0)
    model = ZoneColorModel.fit([golden], None, [zone])
    unit = _textured(base, rng)
    y, x = np.mgrid[0:H, 0:W]
    blotch = 2.5 * np.sin(2 * np.pi * x / 140.0) * np.sin(2 * np.pi * y / 120.0)  # dye-lot cloudiness
    unit[..., 0] += blotch.astype(np.float32)
    (res,) = measure_zone_colors(unit, None, model, [zone])
    assert res.delta_e_golden < 0.5 and res.ok_golden
    assert res.uniformity_de00 > 1.0 and not res.ok_uniformity and not res.ok
    (flat,) = measure_zone_colors(_textured(base, rng), None, model, [zone])
    assert flat.ok_uniformity and flat.uniformity_de00 < 0.5 and flat.ok


def test_measure_against_golden_and_d50_target():
    rng = np.random.default_rng(5)
    base = np.array([50.0, 30.0, 20.0])
    target_d50 = (50.5, 31.0, 18.0)
    zones = [
        _zone("panel", target={"lab": list(target_d50), "illuminant": "D50", "observer": 10}, weights=(2, 1, 1)),
        _zone("band", region=[[0, 0], [319, 0], [319, 15], [0, 15]], golden_tolerance_de00=0.8),
    ]
    model = ZoneColorModel.fit([_textured(base, rng), _textured(base, rng)], None, zones)
    assert model.golden_spread_de00_.max() < 0.2
    shift = np.array([-1.2, 0.8, 0.0], np.float32)  # darker, a little redder
    unit = _textured(base, rng) + shift
    panel, band = measure_zone_colors(unit, np.ones((H, W), bool), model, zones)
    # against the golden: the known shift
    assert panel.delta_e_golden == pytest.approx(delta_e_2000(base + shift, base, 2, 1, 1), abs=0.1)
    assert band.delta_e_golden == pytest.approx(delta_e_2000(base + shift, base), abs=0.15)
    assert band.delta_e_target is None and band.target_lab is None and band.golden_tolerance == 0.8
    assert band.d_l < 0  # components against the golden when there is no target
    # D50 target adapted to D65 by Bradford, built here from the published matrix (Lam 1985)
    M = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
    obs = colour.CCS_ILLUMINANTS["CIE 1964 10 Degree Standard Observer"]
    w50, w65 = colour.xy_to_XYZ(obs["D50"]), colour.xy_to_XYZ(obs["D65"])
    cat = np.linalg.inv(M) @ np.diag((M @ w65) / (M @ w50)) @ M
    expect = colour.XYZ_to_Lab(cat @ colour.Lab_to_XYZ(np.array(target_d50), obs["D50"]), obs["D65"])
    np.testing.assert_allclose(panel.target_lab, expect, atol=1e-6)
    via_colour = colour.XYZ_to_Lab(
        colour.chromatic_adaptation(colour.Lab_to_XYZ(np.array(target_d50), obs["D50"]), w50, w65,
                                    method="Von Kries", transform="Bradford"), obs["D65"])
    np.testing.assert_allclose(panel.target_lab, via_colour, atol=1e-9)
    assert panel.delta_e_target == pytest.approx(delta_e_2000(panel.lab, expect, 2, 1, 1), abs=1e-9)
    _, dl, dc, dh = delta_e_2000_components(panel.lab, expect, kL=2, kC=1, kH=1)
    assert (panel.d_l, panel.d_c, panel.d_h) == pytest.approx((dl, dc, dh), abs=1e-12)
    assert panel.valid_fraction > 0.85 and panel.golden_lab == model.golden_lab("panel")
    json.dumps(panel.to_dict())


def test_library_target_override_and_missing_name():
    rng = np.random.default_rng(2)
    base = np.array([60.0, 5.0, 40.0])
    zone = _zone(target={"name": "OCHRE 123"})
    model = ZoneColorModel.fit([_textured(base, rng)], None, [zone])
    (r,) = measure_zone_colors(_textured(base, rng), None, model, [zone], target_labs={"OCHRE 123": (61.0, 5.0, 40.0)})
    assert r.target_lab == (61.0, 5.0, 40.0)
    assert r.delta_e_target == pytest.approx(delta_e_2000(r.lab, (61.0, 5.0, 40.0)), abs=1e-12)
    (by_zone,) = measure_zone_colors(_textured(base, rng), None, model, [zone],
                                     target_labs={"panel": (59.0, 5.0, 40.0), "OCHRE 123": (61.0, 5.0, 40.0)})
    assert by_zone.target_lab == (59.0, 5.0, 40.0)  # zone name first
    with pytest.raises(SpecError, match="OCHRE 123"):
        measure_zone_colors(_textured(base, rng), None, model, [zone], target_labs={"OTHER": (1, 2, 3)})


def test_refusals_and_empty_zone():
    rng = np.random.default_rng(4)
    zone = _zone()
    model = ZoneColorModel.fit([_textured((50, 0, 0), rng)], None, [zone])
    with pytest.raises(ImageError, match="unit_lab"):
        measure_zone_colors(np.zeros((H, W + 1, 3), np.float32), None, model, [zone])
    with pytest.raises(ImageError, match="valid"):
        measure_zone_colors(np.zeros((H, W, 3), np.float32), np.ones((H, W), np.uint8), model, [zone])
    with pytest.raises(SpecError, match="other"):
        measure_zone_colors(np.zeros((H, W, 3), np.float32), None, model, [_zone("other")])
    with pytest.raises(SpecError, match="empty zone"):
        ZoneColorModel.fit([np.zeros((H, W, 3), np.float32)], None, [_zone(region=[[500, 500], [600, 500], [600, 600]])])
    with pytest.raises(ModelError):
        ZoneColorModel().index("panel")
    (r,) = measure_zone_colors(np.zeros((H, W, 3), np.float32), np.zeros((H, W), bool), model, [zone])
    assert r.valid_fraction == 0.0 and np.isnan(r.delta_e_golden) and not r.ok


def test_state_round_trip_is_exact_and_jsonable():
    rng = np.random.default_rng(9)
    zones = [_zone("a", region=[[10, 10], [200, 30], [150, 200], [15, 180]]), _zone("b", region="full", weights=(2, 1, 1))]
    model = ZoneColorModel.fit([_textured((35, 10, -30), rng)], None, zones, cell_px=16)
    state = model.to_state()
    json.dumps({k: v for k, v in state.items() if not isinstance(v, np.ndarray)})
    assert all(isinstance(v, (np.ndarray, int, float, str, list, dict)) for v in state.values())
    back = ZoneColorModel.from_state(state)
    np.testing.assert_array_equal(back.mask("a"), model.mask("a"))
    np.testing.assert_array_equal(back.mask("a"), zone_mask(zones[0].region, (H, W)))
    unit = _textured((36, 10, -30), rng)
    assert measure_zone_colors(unit, None, back, zones) == measure_zone_colors(unit, None, model, zones)
    broken = dict(state)
    del broken["golden_lab"]
    with pytest.raises(ModelError, match="golden_lab"):
        ZoneColorModel.from_state(broken)


def test_delta_e_map():
    rng = np.random.default_rng(6)
    base = np.array([50.0, 20.0, 20.0])
    zone = _zone()
    model = ZoneColorModel.fit([_textured(base, rng, spec_frac=0, hole_frac=0)], None, [zone])
    unit = _textured(base, rng, spec_frac=0, hole_frac=0)
    unit[100:140, 100:180, 0] -= 3.0  # a darker patch
    m = zone_delta_e_map(unit, model, zone, model.golden_lab("panel"))
    assert m.dtype == np.float32 and m.shape == (H, W)
    inside = zone_mask(RECT, (H, W))
    assert np.isnan(m[~inside]).all() and np.isfinite(m[inside]).all()
    assert np.median(m[110:130, 110:170]) == pytest.approx(delta_e_2000(base - [3, 0, 0], base), abs=0.4)
    assert np.median(m[30:80, 30:80]) < 0.8


# ----------------------------------------------------------------------------- libraries

def test_color_library_csv():
    text = (
        "# house colours\n"
        "name,L,a,b,illuminant,observer\n"
        "Oxblood,28.5,30.1,12.0,D65,10\n"
        '"Navy, dark",20.0,5.0,-30.0,D50,2\n'
        "\n"
        "Sand,70,4,22,,\n"
    )
    lib = load_color_library(text)
    assert list(lib) == ["Oxblood", "Navy, dark", "Sand"]
    assert lib["Oxblood"] == (28.5, 30.1, 12.0) and lib["Sand"] == (70.0, 4.0, 22.0)
    np.testing.assert_allclose(
        lib["Navy, dark"], adapt_lab([20.0, 5.0, -30.0], source_illuminant="D50", observer=2), atol=1e-12
    )
    assert lib["Navy, dark"] != (20.0, 5.0, -30.0)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("name,L,a,b\nRed,50,60,40\nBlue,30,x,-50\n", r"line 3.*numbers"),
        ("name,L,a,b\nRed,50,60\n", r"line 2.*expected 4 fields"),
        ("name,L,a\nRed,50,60\n", r"line 1.*header"),
        ("name,L,a,b\nRed,150,0,0\n", r"line 2.*L\* in \[0, 100\]"),
        ("name,L,a,b\nRed,50,0,0\nRed,51,0,0\n", r"line 3.*repeats"),
        ("name,L,a,b,observer\nRed,50,0,0,5\n", r"line 2.*observer"),
    ],
)
def test_color_library_errors_name_the_line(text, pattern):
    with pytest.raises(SpecError, match=pattern):
        load_color_library(text)


def test_color_library_from_file(tmp_path):
    p = tmp_path / "lib.csv"
    p.write_text("name,L*,a*,b*\nGrey,50,0,0\n")
    assert load_color_library(p) == {"Grey": (50.0, 0.0, 0.0)}
    with pytest.raises(SpecError, match="not found"):
        load_color_library(tmp_path / "missing.csv")


WL = np.arange(380, 740, 10)


def _cgats(rows, *, prefix="SPECTRAL_NM", sets=None):
    fields = ["SAMPLE_ID", "SAMPLE_NAME"] + [f"{prefix}{w}" for w in WL]
    lines = ["CGATS.17", 'ORIGINATOR "test"', f"NUMBER_OF_FIELDS {len(fields)}", "BEGIN_DATA_FORMAT",
             " ".join(fields), "END_DATA_FORMAT", f"NUMBER_OF_SETS {len(rows) if sets is None else sets}", "BEGIN_DATA"]
    for i, (name, r) in enumerate(rows, start=1):
        lines.append(f'{i} "{name}" ' + " ".join(f"{v:.5f}" for v in r))
    lines.append("END_DATA")
    return "\n".join(lines) + "\n"


@pytest.mark.filterwarnings("ignore::colour.utilities.ColourRuntimeWarning")
def test_cgats_and_spectral_to_lab():
    grey = np.full(WL.size, 0.18)
    red = 0.05 + 0.75 / (1 + np.exp(-(WL - 600) / 15.0))
    samples = read_cgats(_cgats([("grey card", grey), ("red", red)]))
    assert [s.name for s in samples] == ["grey card", "red"] and samples[0].sample_id == "1"
    np.testing.assert_allclose(samples[1].reflectance, red, atol=1e-5)
    # Barbieri style nm380 columns, values in percent
    pct = read_cgats(_cgats([("red", red * 100)], prefix="nm"))
    np.testing.assert_allclose(pct[0].reflectance, red, atol=1e-6)
    # perfect white -> L* 100; 18% grey -> L* = 116 * 0.18^(1/3) - 16, neutral
    white = spectral_to_lab(SpectralSample("w", "white", WL, np.ones(WL.size)))
    np.testing.assert_allclose(white, [100, 0, 0], atol=1e-9)
    g = spectral_to_lab(samples[0])
    np.testing.assert_allclose(g, [116 * 0.18 ** (1 / 3) - 16, 0, 0], atol=1e-3)
    lab_red = spectral_to_lab(samples[1])
    assert lab_red[1] > 30 and lab_red[2] > 20  # reddish, yellowish
    # independent of colour's white-point table: same as colour with its own D65 10° white
    sd = colour.SpectralDistribution(dict(zip(WL, red)))
    ref = colour.XYZ_to_Lab(
        colour.sd_to_XYZ(sd, colour.MSDS_CMFS["CIE 1964 10 Degree Standard Observer"], colour.SDS_ILLUMINANTS["D65"]) / 100,
        colour.CCS_ILLUMINANTS["CIE 1964 10 Degree Standard Observer"]["D65"],
    )
    assert delta_e_2000(lab_red, ref) < 0.05


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda t: t.replace("0.18000", "abc", 1), r"line 9.*expected a number"),
        (lambda t: t.replace(" 0.18000\n", "\n", 1), r"line 9.*expected 38 values"),
        (lambda t: t.replace("END_DATA\n", ""), r"line 8.*BEGIN_DATA has no END_DATA"),
        (lambda t: t.replace("NUMBER_OF_SETS 1", "NUMBER_OF_SETS 2"), r"line 7.*NUMBER_OF_SETS"),
        (lambda t: t.replace("SPECTRAL_NM", "DENS_"), r"line 4.*spectral fields"),
    ],
)
def test_cgats_errors_name_the_line(mutate, pattern):
    text = _cgats([("grey", np.full(WL.size, 0.18))])
    with pytest.raises(SpecError, match=pattern):
        read_cgats(mutate(text))


def test_metamerism_index():
    ref = 0.35 + 0.2 * np.sin((WL - 380) / 60.0)
    # a metameric black for D65/10°: remove from a smooth perturbation its projection on the
    # illuminant-weighted colour-matching functions, so the pair matches under D65 only
    cmfs = colour.MSDS_CMFS["CIE 1964 10 Degree Standard Observer"].copy().align(colour.SpectralShape(380, 730, 10))
    d65 = colour.SDS_ILLUMINANTS["D65"].copy().align(colour.SpectralShape(380, 730, 10))
    A = (cmfs.values * d65.values[:, None]).T  # (3, n)
    pert = 0.15 * np.sin((WL - 380) / 25.0 + 1.0)
    pert -= A.T @ np.linalg.solve(A @ A.T, A @ pert)
    sample = ref + pert
    out = metamerism_index(SpectralSample("1", "unit", WL, sample), SpectralSample("2", "std", WL, ref),
                           test_illuminants=("TL84", "A"))
    assert [m.illuminant for m in out] == ["FL11", "A"] and isinstance(out[0], MetamerismIndex)
    assert out[0].delta_e00_reference < 0.05  # a match under D65
    assert all(m.delta_e00_adapted > 0.5 and m.delta_e00_cie > 0.5 for m in out)  # parts company under TL84, A
    same = metamerism_index(SpectralSample("1", "u", WL, ref), SpectralSample("2", "s", WL, ref))
    assert all(m.delta_e00_adapted < 1e-9 and m.delta_e00_cie < 1e-9 for m in same)
    with pytest.raises(SpecError, match="illuminant"):
        metamerism_index(SpectralSample("1", "u", WL, ref), SpectralSample("2", "s", WL, ref), test_illuminants=("XYZ",))


def _cxf(spectra_xml: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<cc:CxF xmlns:cc="http://colorexchangeformat.com/CxF3-core">\n'
        "  <cc:Resources>\n    <cc:ObjectCollection>\n" + spectra_xml + "    </cc:ObjectCollection>\n"
        '    <cc:ColorSpecificationCollection><cc:ColorSpecification Id="CS5">'
        '<cc:MeasurementSpec><cc:WavelengthRange StartWL="400" Increment="20"/></cc:MeasurementSpec>'
        "</cc:ColorSpecification></cc:ColorSpecificationCollection>\n"
        "  </cc:Resources>\n</cc:CxF>\n"
    )


def test_cxf_spectra():
    grey = " ".join(["0.18"] * WL.size)
    text = _cxf(
        f'      <cc:Object ObjectType="Standard" Name="Grey" Id="1"><cc:ColorValues>'
        f'<cc:ReflectanceSpectrum ColorSpecification="CS1" StartWL="380">{grey}</cc:ReflectanceSpectrum>'
        f"</cc:ColorValues></cc:Object>\n"
        f'      <cc:Object ObjectType="Standard" Name="Lab only" Id="2"><cc:ColorValues><cc:ColorCIELab>'
        f"<cc:L>50</cc:L><cc:A>1</cc:A><cc:B>2</cc:B></cc:ColorCIELab></cc:ColorValues></cc:Object>\n"
        f'      <cc:Object ObjectType="Standard" Name="Coarse" Id="3"><cc:ColorValues>'
        f'<cc:ReflectanceSpectrum ColorSpecification="CS5" StartWL="400">0.1 0.2 0.3 0.4</cc:ReflectanceSpectrum>'
        f"</cc:ColorValues></cc:Object>\n"
    )
    samples = read_cxf(text)
    assert [(s.sample_id, s.name) for s in samples] == [("1", "Grey"), ("3", "Coarse")]
    np.testing.assert_array_equal(samples[0].wavelengths_nm, WL)
    np.testing.assert_array_equal(samples[1].wavelengths_nm, [400, 420, 440, 460])
    np.testing.assert_allclose(spectral_to_lab(samples[0]), [116 * 0.18 ** (1 / 3) - 16, 0, 0], atol=1e-3)


def test_cxf_errors():
    with pytest.raises(SpecError, match=r"line 3 column"):
        read_cxf('<?xml version="1.0"?>\n<cc:CxF xmlns:cc="x">\n<cc:Object></cc:Obj>\n</cc:CxF>\n')
    bad = _cxf('<cc:Object Name="Bad" Id="9"><cc:ColorValues><cc:ReflectanceSpectrum StartWL="380">0.1 x 0.3'
               "</cc:ReflectanceSpectrum></cc:ColorValues></cc:Object>\n")
    with pytest.raises(SpecError, match=r"'Bad'.*numbers"):
        read_cxf(bad)
    with pytest.raises(SpecError, match="found none"):
        read_cxf(_cxf(""))
