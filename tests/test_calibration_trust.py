"""The per-photo chart trust check wired into sealing and inspection (no station profile)."""

from __future__ import annotations

import sys
from pathlib import Path

import colour
import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import PANEL_BOX, panel_photo, spec_with_panel  # noqa: E402

import goldenvision as gv  # noqa: E402
from goldenvision.calibration.characterisation import colorchecker_reference  # noqa: E402
from goldenvision.calibration.color import ColorCorrection, srgb_decode, srgb_encode  # noqa: E402
from goldenvision.calibration.trust import NO_CHART_NOTE, chart_precheck, photo_color_correction  # noqa: E402
from goldenvision.color import delta_e_2000  # noqa: E402
from goldenvision.errors import CalibrationError  # noqa: E402

_, CC_XYZ, CC_LAB = colorchecker_reference()
CC_SRGB = np.clip(colour.XYZ_to_sRGB(CC_XYZ), 0, 1)


def _chart(width: int, srgb01: np.ndarray = CC_SRGB) -> np.ndarray:
    pitch = width / 6.3
    chart = np.full((int(pitch * 4.3), width, 3), 30, np.uint8)
    for i in range(24):
        r, c = divmod(i, 6)
        x0, y0 = int(pitch * (0.23 + c)), int(pitch * (0.23 + r))
        chart[y0: y0 + int(pitch * 0.84), x0: x0 + int(pitch * 0.84)] = np.round(srgb01[i] * 255)
    return chart


def _with_chart(product: np.ndarray, chart: np.ndarray | None, bg: int = 200) -> np.ndarray:
    """The product photo (left) and a 320 px wide bay (right) holding the chart, or empty."""
    h, w = product.shape[:2]
    out = np.full((h, w + 320, 3), bg, np.uint8)
    out[:, :w] = product
    if chart is not None:
        ch, cw = chart.shape[:2]
        out[(h - ch) // 2:(h - ch) // 2 + ch, w + 20: w + 20 + cw] = chart
    return out


def _shadowed(chart: np.ndarray) -> np.ndarray:
    """Half the chart in a shadow (half the light): no single correction fits it."""
    lin = srgb_decode(chart / 255.0)
    lin[:, chart.shape[1] // 2:] *= 0.5
    return np.round(srgb_encode(lin) * 255).astype(np.uint8)


def _tint(rgb: np.ndarray, gains) -> np.ndarray:
    """Another light: per-channel gains in linear light, re-encoded to 8-bit sRGB."""
    lin = srgb_decode(rgb / 255.0) * np.asarray(gains, float)
    return np.clip(np.round(srgb_encode(np.clip(lin, 0, 1)) * 255), 0, 255).astype(np.uint8)


def test_precheck_finds_small_charts_and_skips_plain_frames():
    plain = np.full((2000, 3000, 3), 120, np.uint8)
    cv2.randn(plain, 120, 8)
    big = plain.copy()
    ch = _chart(200)
    big[1700:1700 + ch.shape[0], 2600:2800] = ch  # a 200 px chart in a 6 MP frame
    assert chart_precheck(big)
    assert not chart_precheck(plain)
    grey = cv2.cvtColor(cv2.cvtColor(big, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    assert not chart_precheck(grey)  # a chart's layout without its colours is no chart


def test_photo_correction_three_paths():
    product = panel_photo(0)
    gains = (0.8, 0.95, 1.15)
    # 1. a good chart under another light: the photo is corrected from it
    shot = _tint(_with_chart(product, _chart(280)), gains)
    cc = photo_color_correction(shot)
    assert cc.method.startswith("photo chart:") and cc.residual_de00_mean < 1.0
    assert "colour chart in the photo" in cc.note
    x1, y1, x2, y2 = PANEL_BOX
    panel_px = shot[y1 + 8: y2 - 8, x1 + 8: x2 - 8].reshape(-1, 3)
    truth = np.median(ColorCorrection.identity().to_lab(product[y1 + 8: y2 - 8, x1 + 8: x2 - 8].reshape(-1, 3)), axis=0)
    corrected = np.median(cc.to_lab(panel_px), axis=0)
    raw = np.median(ColorCorrection.identity().to_lab(panel_px), axis=0)
    assert float(delta_e_2000(corrected, truth)) < 1.0 < 3.0 < float(delta_e_2000(raw, truth))
    # 2. a chart half in shadow: found, but refused with its residual
    bad = _with_chart(product, _shadowed(_chart(280)))
    with pytest.raises(CalibrationError, match=r"residual ΔE00 .* exceeds 2\.00"):
        photo_color_correction(bad)
    # 3. no chart: the sRGB assumption, said so
    none = photo_color_correction(_with_chart(product, None))
    assert none.method == "identity" and none.note == NO_CHART_NOTE
    assert ColorCorrection.from_state(none.to_state()).note == NO_CHART_NOTE


@pytest.fixture(scope="module")
def chart_golden():
    shots = [_with_chart(panel_photo(i, shift=s), _chart(280)) for i, s in enumerate([(0, 0), (2, 1), (-1, 2)])]
    spec = spec_with_panel()
    spec["anomaly_zones"] = []  # the colour path is under test here
    return gv.seal(shots, spec)


def test_inspection_uses_abstains_or_says_no_chart(chart_golden):
    insp = gv.Inspector(chart_golden)
    product = panel_photo(5, shift=(1, 1))
    # trusted: the unit under another light is judged through its own chart, and passes
    res = insp.inspect(_tint(_with_chart(product, _chart(280)), (0.85, 0.95, 1.12)), unit_id="tinted")
    rec = res.provenance["color_calibration"]
    assert rec["method"].startswith("photo chart:") and rec["residual_de00"] < 1.0
    assert res.verdict == gv.Verdict.passed and res.color[0].delta_e_target < 1.5, res.reasons
    # the same unit with no chart in the photo (a grey card): read as plain sRGB the tint would
    # move the panel by > 1.5 ΔE00; judged relative to the golden, the tint is removed as light,
    # and the result says which reference judged it and what it cannot see
    grey_card = _chart(280, np.repeat(CC_SRGB.mean(axis=1, keepdims=True), 3, axis=1))
    tinted = _tint(_with_chart(product, grey_card), (0.85, 0.95, 1.12))
    res_raw = insp.inspect(tinted, unit_id="tinted-no-chart")
    assert res_raw.provenance["color_calibration"]["note"] == NO_CHART_NOTE
    c = res_raw.color[0]
    assert c.reference == "relative-to-golden" and c.uncertainty_de00 is not None
    assert "whole product cannot be told from a change of light" in (c.note or "")
    assert c.delta_e_target < 1.0 and res_raw.verdict == gv.Verdict.passed, res_raw.reasons
    panel = np.asarray(chart_golden.spec.colors[0].region, dtype=np.int32)
    raw_px = tinted[panel[:, 1].min() + 4 : panel[:, 1].max() - 4, panel[:, 0].min() + 4 : panel[:, 0].max() - 4]
    raw_lab = np.median(ColorCorrection.identity().to_lab(raw_px.reshape(-1, 3)), axis=0)
    assert float(delta_e_2000(raw_lab, c.lab)) > 1.5  # the tint was real
    # a chart that cannot be trusted: colours not judged, review with the reason
    res_bad = insp.inspect(_with_chart(product, _shadowed(_chart(280))), unit_id="bad-chart")
    assert res_bad.verdict == gv.Verdict.review and not res_bad.color
    assert any("colours not judged" in r and "exceeds" in r for r in res_bad.reasons), res_bad.reasons
    assert res_bad.provenance["color_calibration"]["method"] is None


def test_a_chart_search_keeps_the_block_of_patches_and_orders_equal_squares_alike() -> None:
    """The lattice a chart seeds is the block joined to the seed (squares of the scene on the
    lattice's extension, past a gap, are not the chart's), and equal squares are taken in one
    order whatever sort the CPU runs (the order decides which seed meets the scene first)."""
    from goldenvision.calibration.chart import _find_squares, _seed_block

    iu = np.array([0, 1, 2, 0, 1, 2, 5, 6, -4])
    iv = np.array([0, 0, 0, 1, 1, 1, 0, 0, 3])
    bu, bv = _seed_block(iu, iv)
    assert sorted(zip(bu.tolist(), bv.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert _seed_block(np.array([1, 2]), np.array([0, 0]))[0].size == 0  # no seed: nothing
    shot = _tint(_with_chart(panel_photo(0), _chart(280)), (0.8, 0.95, 1.15))
    sq = _find_squares(cv2.cvtColor(shot, cv2.COLOR_RGB2GRAY))
    assert len(sq) >= 24
    order = np.lexsort((sq[:, 0], sq[:, 1], -sq[:, 2]))
    assert np.array_equal(order, np.arange(len(sq)))  # by side, then y, then x
