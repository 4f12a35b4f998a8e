"""Colour without a chart: zones judged relative to the golden after a fitted light field."""

from __future__ import annotations

import numpy as np
import pytest

from goldenvision.calibration.color import linear_srgb_to_lab_d65, srgb_encode
from goldenvision.color import ZoneColorModel
from goldenvision.color.relative import (
    RELATIVE_METHOD,
    color_reference,
    judge_colors,
    relative_zone_colors,
)
from goldenvision.decision import decide
from goldenvision.results import ColorResult, RegistrationResult, Verdict
from goldenvision.spec import ColorZone, Severity

H, W = 160, 224
# product materials (linear RGB): a tan panel, a red print, a blue strip, on a grey body
BODY = (0.30, 0.30, 0.28)
PANEL = (0.45, 0.30, 0.18)
PRINT = (0.50, 0.06, 0.05)
STRIP = (0.08, 0.15, 0.40)
PANEL_BOX = (20, 70, 20, 100)  # y0, y1, x0, x1
PRINT_BOX = (90, 140, 30, 90)
STRIP_BOX = (40, 120, 130, 200)


def _poly(box: tuple[int, int, int, int]) -> list[list[float]]:
    y0, y1, x0, x1 = box
    return [[x0 + 4, y0 + 4], [x1 - 4, y0 + 4], [x1 - 4, y1 - 4], [x0 + 4, y1 - 4]]


ZONES = [
    ColorZone(name="panel", region=_poly(PANEL_BOX), tolerance_de00=1.5),
    ColorZone(name="print", region=_poly(PRINT_BOX), tolerance_de00=1.5),
]


def _scene(shift: dict[str, tuple[float, float, float]] | None = None, seed: int = 0) -> np.ndarray:
    """Linear RGB product with a mild grain; ``shift`` multiplies a material's colour."""
    rng = np.random.default_rng(seed)
    img = np.empty((H, W, 3))
    img[:] = BODY
    for name, col, box in (("panel", PANEL, PANEL_BOX), ("print", PRINT, PRINT_BOX), ("strip", STRIP, STRIP_BOX)):
        y0, y1, x0, x1 = box
        c = np.asarray(col) * np.asarray((shift or {}).get(name, (1.0, 1.0, 1.0)))
        img[y0:y1, x0:x1] = c
    grain = 1.0 + 0.02 * rng.standard_normal((H, W, 1))
    return img * grain


def _light(gains: tuple[float, float, float], gx: float, gy: float, vig: float) -> np.ndarray:
    u = (np.arange(W) - (W - 1) / 2) / W
    v = (np.arange(H) - (H - 1) / 2) / W
    field = 1.0 + gx * u[None, :] + gy * v[:, None] - vig * (u[None, :] ** 2 + v[:, None] ** 2)
    return field[..., None] * np.asarray(gains)


def _encode(lin: np.ndarray) -> np.ndarray:
    return np.clip(np.round(srgb_encode(np.clip(lin, 0, 1)) * 255), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def golden():
    caps = [
        _encode(_scene(seed=1) * _light((1.0, 1.0, 1.0), 0.0, 0.0, 0.0)),
        _encode(_scene(seed=2) * _light((1.02, 0.99, 1.0), 0.05, -0.03, 0.05)),
        _encode(_scene(seed=3) * _light((0.98, 1.0, 1.02), -0.04, 0.05, 0.03)),
    ]
    labs = [linear_srgb_to_lab_d65(np.asarray(srgb_decode_u8(c))) for c in caps]
    model = ZoneColorModel.fit(labs, None, ZONES)
    return caps, model


def srgb_decode_u8(img: np.ndarray) -> np.ndarray:
    from goldenvision.calibration.color import srgb_decode

    return srgb_decode(img / 255.0)


# strong hand-held light: exposure, white balance, a ramp and vignetting
STRONG = ((0.78, 0.9, 1.08), 0.15, -0.1, 0.12)


def _judge(unit: np.ndarray, golden) -> list[ColorResult]:
    caps, model = golden
    res = relative_zone_colors(unit, None, caps[0], model, ZONES, captures=caps)
    assert res is not None
    return res


def test_light_change_is_removed(golden):
    caps, model = golden
    unit = _encode(_scene(seed=7) * _light(*STRONG))
    res = _judge(unit, golden)
    # the same colours read as plain sRGB are far off: the light alone moves them by several ΔE00
    lab_srgb = linear_srgb_to_lab_d65(srgb_decode_u8(unit))
    for r in res:
        assert r.reference == RELATIVE_METHOD
        assert r.delta_e_golden < 0.6, (r.name, r.delta_e_golden)
        assert r.uncertainty_de00 is not None and 0.0 <= r.uncertainty_de00 < 1.0
        assert "whole product" in (r.note or "")
        assert r.ok
    y0, y1, x0, x1 = PANEL_BOX
    from goldenvision.color import delta_e_2000

    naive_de = float(delta_e_2000(np.nanmean(lab_srgb[y0 + 4 : y1 - 4, x0 + 4 : x1 - 4].reshape(-1, 3), axis=0),
                                  model.golden_lab("panel")))
    assert naive_de > 3.0  # the test's light change is real: without the fit the panel would fail


def test_material_shift_of_one_zone_is_caught(golden):
    # a dye-lot shift of the panel material (yellower, darker: ~4-5 ΔE00) under the same strong light
    unit = _encode(_scene({"panel": (1.0, 0.93, 0.8)}, seed=8) * _light(*STRONG))
    res = {r.name: r for r in _judge(unit, golden)}
    from goldenvision.color import delta_e_2000

    true_de = float(delta_e_2000(linear_srgb_to_lab_d65(np.asarray(PANEL) * (1.0, 0.93, 0.8)),
                                 linear_srgb_to_lab_d65(np.asarray(PANEL))))
    assert true_de > 2.5
    assert abs(res["panel"].delta_e_golden - true_de) < 0.5, (res["panel"].delta_e_golden, true_de)
    assert not res["panel"].ok and not res["panel"].within_uncertainty
    assert res["print"].ok  # the other zone is not pulled by the shifted one
    d = decide(registration=RegistrationResult(np.eye(3), ok=True, rms_px=0.1, inliers=200, confidence=0.99), colors=list(res.values()))
    assert d.verdict == Verdict.failed


def test_stain_outside_the_zone_does_not_pull_the_light(golden):
    lin = _scene(seed=9)
    lin[100:150, 150:210] *= 0.55  # a large dark stain on the body and strip
    unit = _encode(lin * _light(*STRONG))
    for r in _judge(unit, golden):
        assert r.delta_e_golden < 0.8, (r.name, r.delta_e_golden)


def test_whole_product_shift_is_not_detectable_and_says_so(golden):
    # every material shifted alike = a change of light: honestly not detected, and the note says so
    every = {k: (1.05, 1.0, 0.9) for k in ("panel", "print", "strip", "body")}
    lin = _scene(every, seed=10) * np.asarray(every["body"])  # body is the background fill
    lin[PANEL_BOX[0]:PANEL_BOX[1], PANEL_BOX[2]:PANEL_BOX[3]] /= np.asarray(every["body"])
    lin[PRINT_BOX[0]:PRINT_BOX[1], PRINT_BOX[2]:PRINT_BOX[3]] /= np.asarray(every["body"])
    lin[STRIP_BOX[0]:STRIP_BOX[1], STRIP_BOX[2]:STRIP_BOX[3]] /= np.asarray(every["body"])
    res = _judge(_encode(lin), golden)
    for r in res:
        assert r.delta_e_golden < 0.6
        assert "cannot be told from a change of light" in (r.note or "")


def test_chart_and_station_corrections_are_recorded(golden):
    caps, model = golden
    lab = linear_srgb_to_lab_d65(srgb_decode_u8(caps[0]))
    for method, expect in (("photo cheung2004", "chart (cheung2004)"), ("cheung2004", "station profile (cheung2004)")):
        res = judge_colors(caps[0], None, caps[0], method, lambda: lab, model, ZONES)
        assert [r.reference for r in res] == [expect, expect]
        assert all(r.uncertainty_de00 is None for r in res)
    assert color_reference("identity") == "srgb-assumption"


def test_too_little_product_outside_falls_back_to_srgb_and_says_so(golden):
    caps, model = golden
    black = np.zeros_like(caps[0])
    black[PANEL_BOX[0]:PANEL_BOX[1], PANEL_BOX[2]:PANEL_BOX[3]] = caps[0][PANEL_BOX[0]:PANEL_BOX[1],
                                                                         PANEL_BOX[2]:PANEL_BOX[3]]
    lab = linear_srgb_to_lab_d65(srgb_decode_u8(black))
    res = judge_colors(black, None, caps[0], "identity", lambda: lab, model, ZONES[:1], captures=caps)
    assert res[0].reference == "srgb-assumption"
    assert "assumed sRGB" in (res[0].note or "")


def test_excess_within_uncertainty_reviews_beyond_fails():
    base = dict(name="z", lab=(50.0, 0.0, 0.0), delta_e_target=None, tolerance=1.5, golden_tolerance=1.5,
                severity=Severity.major, reference=RELATIVE_METHOD)
    inside = ColorResult(delta_e_golden=1.2, uncertainty_de00=0.5, **base)
    unsure = ColorResult(delta_e_golden=1.8, uncertainty_de00=0.5, **base)
    out = ColorResult(delta_e_golden=2.2, uncertainty_de00=0.5, **base)
    no_u = ColorResult(delta_e_golden=1.8, uncertainty_de00=None, **base)
    assert inside.ok and not inside.within_uncertainty
    assert not unsure.ok and unsure.within_uncertainty
    assert not out.ok and not out.within_uncertainty
    assert not no_u.within_uncertainty
    reg = RegistrationResult(np.eye(3), ok=True, rms_px=0.1, inliers=200, confidence=0.99)
    assert decide(registration=reg, colors=[inside]).verdict == Verdict.passed
    assert decide(registration=reg, colors=[unsure]).verdict == Verdict.review
    assert decide(registration=reg, colors=[out]).verdict == Verdict.failed
    assert decide(registration=reg, colors=[no_u]).verdict == Verdict.failed
    assert unsure.to_dict()["uncertainty_de00"] == 0.5 and unsure.to_dict()["reference"] == RELATIVE_METHOD


def test_registered_cells_leave_out_what_moves_between_golden_captures():
    from goldenvision.color.relative import registered_cells

    rng = np.random.default_rng(4)
    base = _scene(seed=11)
    caps = []
    for k in range(3):
        img = base.copy()
        # a blotchy background strip that lies differently under the product in every capture
        img[:, :16] = 0.1 + 0.5 * rng.random((H, 16, 1))
        caps.append(_encode(img * _light((1.0 + 0.02 * k, 1.0, 1.0 - 0.02 * k), 0.03 * k, 0.0, 0.02)))
    ok = registered_cells(caps[0], caps)
    assert ok[:, 5:].mean() > 0.9  # the product agrees across captures despite their light
    assert ok[:, :4].mean() < 0.2  # the moving strip does not


def test_held_out_fold_by_downdating_equals_the_fit_without_the_block():
    """The cross-validation fold (all cells' normal equations minus one block's) is exactly the
    weighted least squares on the other cells with the same weights."""
    from goldenvision.color.relative import _design, _solve

    rng = np.random.default_rng(5)
    n = 900
    x, y = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    a = _design(x, y)
    r = a @ rng.normal(0, 0.1, (6, 3)) + rng.normal(0, 0.02, (n, 3))
    w = rng.uniform(0.0, 2.0, n)
    held = (x > 0.3) & (y < -0.2)
    aw = a.T * w
    down = _solve(aw @ a - aw[:, held] @ a[held], aw @ r - aw[:, held] @ r[held], float(w.sum() - w[held].sum()))
    keep = ~held
    awk = a[keep].T * w[keep]
    direct = _solve(awk @ a[keep], awk @ r[keep], float(w[keep].sum()))
    np.testing.assert_allclose(down, direct, atol=1e-10)
    assert np.abs(down).max() > 0.01  # a real fit, not zeros


def test_a_handful_of_odd_cells_cannot_outvote_a_material():
    """Material balance: a cluster of 3 cells (a highlight) does not get the vote of a material."""
    from goldenvision.color.relative import _material_balance

    labels = np.array([0] * 3000 + [1] * 2000 + [2] * 3)
    prior = _material_balance(np.full((labels.size, 3), 0.2), labels)
    vote = np.bincount(labels, weights=prior)
    assert vote[0] == pytest.approx(vote[1])  # real materials vote alike, whatever their size
    assert vote[2] < 0.2 * vote[0]  # the odd cells vote by their number, far below a material
    assert prior[-1] > prior[0]  # ... but more than their bare count


def test_golden_side_prepared_once_gives_the_same_results(golden):
    """What depends on the golden alone is computed once (at Inspector load) and reused; a new
    golden array is not confused with a cached one."""
    from goldenvision.color import relative

    caps, model = golden
    unit = _encode(_scene({"panel": (1.0, 0.93, 0.8)}, seed=12) * _light(*STRONG))
    relative._golden_cache.clear()
    cold = _judge(unit, golden)
    relative._golden_cache.clear()
    relative.prepare_relative_colors(caps[0], caps, model, ZONES)
    assert len(relative._golden_cache) == 1
    warm = _judge(unit, golden)
    assert [r.to_dict() for r in warm] == [r.to_dict() for r in cold]
    other = caps[0].copy()  # same pixels, new array: its own grid (and the same numbers)
    again = relative_zone_colors(unit, None, other, model, ZONES, captures=[other, *caps[1:]])
    assert again is not None and len(relative._golden_cache) == 2
    assert [r.delta_e_golden for r in again] == pytest.approx([r.delta_e_golden for r in cold], abs=1e-9)
