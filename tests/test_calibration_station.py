"""``--station PROFILE``: a fitted station profile applied to every photo (inspect, batch, lot)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import panel_photo, png_bytes, spec_with_panel  # noqa: E402
from test_calibration_trust import CC_SRGB, _chart, _tint, _with_chart  # noqa: E402

import goldenvision as gv  # noqa: E402
from goldenvision.calibration.applied import load_station_calibration  # noqa: E402
from goldenvision.calibration.characterisation import PLAIN_CANDIDATES, fit_characterisation  # noqa: E402
from goldenvision.calibration.chart import find_colorchecker  # noqa: E402
from goldenvision.calibration.fitted import CalibrationProfile, sha256_of  # noqa: E402
from goldenvision.calibration.lens import LensModel  # noqa: E402
from goldenvision.errors import CalibrationError  # noqa: E402

GAINS = (0.85, 0.95, 1.12)  # the station's light, unlike sRGB's D65
GREY = np.repeat(CC_SRGB.mean(axis=1, keepdims=True), 3, axis=1)


def _unit(seed: int, gains=GAINS) -> np.ndarray:
    return _tint(_with_chart(panel_photo(seed, shift=(1, 1)), _chart(280, GREY)), gains)


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    d = tmp_path_factory.mktemp("station")
    golden = gv.seal([_with_chart(panel_photo(i, shift=s), _chart(280, GREY)) for i, s in
                      enumerate([(0, 0), (2, 1), (-1, 2)])], {**spec_with_panel(), "anomaly_zones": []})
    golden.save(d / "g.gvpkg")
    chart_shot = _tint(_with_chart(panel_photo(9), _chart(280)), GAINS)  # the station's chart photo
    det = find_colorchecker(chart_shot, methods=("grid",))
    assert det.found
    model = fit_characterisation(det.patch_rgb01, candidates=PLAIN_CANDIDATES)
    h, w = chart_shot.shape[:2]
    prof = CalibrationProfile(image_size=(w, h), color=model.to_dict(), mm_per_px=0.1,
                              images=({"name": "chart.png", "sha256": sha256_of(chart_shot), "role": "color"},))
    path = prof.save(d / "station.json")
    for i in range(2):
        (d / f"u{i}.png").write_bytes(png_bytes(_unit(20 + i)))
    (d / "small.png").write_bytes(png_bytes(_unit(30)[:, :600]))
    return d, path


def test_station_profile_corrects_colour_and_is_recorded(station):
    d, path = station
    cal = load_station_calibration(path)
    unit = _unit(20)
    plain = gv.Inspector(gv.load_golden(d / "g.gvpkg")).inspect(unit)
    # no profile and no chart: judged relative to the golden, the station's light removed as light, and said so
    assert plain.color[0].reference == "relative-to-golden" and plain.color[0].delta_e_target < 1.5
    assert "light" in (plain.color[0].note or "")
    res = gv.Inspector(gv.load_golden(d / "g.gvpkg"), calibration=cal).inspect(unit)
    assert res.verdict == gv.Verdict.passed, res.reasons
    assert res.color[0].delta_e_target < 1.0 and res.color[0].reference.startswith("station profile")
    rec = res.provenance["station_calibration"]
    assert rec["sha256"] == sha256_of(path) and rec["file"] == "station.json" and rec["schema_version"] == 1
    assert res.provenance["color_calibration"]["method"].startswith("station profile:")
    # a photo of another size: refused with the reason, never judged through the wrong calibration
    other = gv.Inspector(gv.load_golden(d / "g.gvpkg"), calibration=cal).inspect(unit[:, :600])
    assert other.verdict == gv.Verdict.review
    assert any("600x300 px, but the calibration profile was fitted on 720x300" in r for r in other.reasons)


def test_cli_station_option_on_inspect_batch_and_lot(station):
    from goldenvision.cli import app

    d, path = station
    runner = CliRunner()
    r = runner.invoke(app, ["inspect", str(d / "u0.png"), "-g", str(d / "g.gvpkg"), "--station", str(path), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["provenance"]["station_calibration"]["sha256"] == sha256_of(path)
    r = runner.invoke(app, ["inspect", str(d / "small.png"), "-g", str(d / "g.gvpkg"), "--station", str(path), "--json"])
    assert r.exit_code == 2 and "fitted on 720x300" in r.output
    units = d / "units"
    units.mkdir()
    for i in range(2):
        (units / f"u{i}.png").write_bytes((d / f"u{i}.png").read_bytes())
    r = runner.invoke(app, ["batch", str(units), "-g", str(d / "g.gvpkg"), "--station", str(path), "--no-report",
                            "-o", str(d / "batch"), "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (d / "batch" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(x["provenance"]["station_calibration"]["file"] == "station.json" for x in rows)
    r = runner.invoke(app, ["lot", str(units), "-g", str(d / "g.gvpkg"), "--station", str(path), "--seed", "1",
                            "-o", str(d / "lot"), "--json"])
    assert r.exit_code == 0, r.output
    # a corrupt or stale profile is a clear error (exit 65), before any photo is judged
    bad = d / "stale.json"
    prof = json.loads(path.read_text())
    bad.write_text(json.dumps({**prof, "schema_version": 0}))
    r = runner.invoke(app, ["inspect", str(d / "u0.png"), "-g", str(d / "g.gvpkg"), "--station", str(bad)])
    assert r.exit_code == 65 and "schema_version 0" in r.output
    (d / "empty.json").write_text(json.dumps({**prof, "color": None, "geometry": None}))
    with pytest.raises(CalibrationError, match="nothing to apply"):
        load_station_calibration(d / "empty.json")


def test_station_profile_undistorts_with_its_lens(tmp_path):
    w, h = 320, 240
    k = np.array([[300.0, 0, w / 2], [0, 300.0, h / 2], [0, 0, 1]])
    lens = LensModel("pinhole", k, np.array([-0.25, 0.05, 0, 0, 0]), (w, h))
    path = CalibrationProfile(image_size=(w, h), lens=lens, mm_per_px=0.2).save(tmp_path / "lens.json")
    cal = load_station_calibration(path)
    straight = np.zeros((h, w, 3), np.uint8)
    cv2.line(straight, (20, 30), (300, 30), (255, 255, 255), 3)
    # distort the straight line through the lens: sample the straight image at the undistorted points
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    und = lens.undistort_points(np.stack([xs.ravel(), ys.ravel()], 1)).reshape(h, w, 2).astype(np.float32)
    distorted = cv2.remap(straight, und[..., 0], und[..., 1], cv2.INTER_LINEAR)
    fixed = cal.apply(distorted)
    def row_of(img: np.ndarray) -> np.ndarray:  # the line's centroid row in each column
        v = img[:, 40:280, 0].astype(float)
        return (v * np.arange(h)[:, None]).sum(axis=0) / v.sum(axis=0)

    assert np.ptp(row_of(distorted)) > 3  # the lens bends the line
    assert np.ptp(row_of(fixed)) < 0.3  # the profile straightens it
    assert cal.record()["lens"] == "pinhole" and cal.mm_per_px == 0.2
    with pytest.raises(CalibrationError, match="fitted on 320x240"):
        cal.apply(np.zeros((240, 300, 3), np.uint8))


def test_serve_station_profile_reaches_the_scoring_inspector(station, monkeypatch):
    from goldenvision.service import scoring

    d, path = station
    monkeypatch.delenv(scoring.STATION_PROFILE_ENV, raising=False)
    assert scoring._station_calibration() is None
    monkeypatch.setenv(scoring.STATION_PROFILE_ENV, str(path))
    cal = scoring._station_calibration()
    assert cal is not None and cal.sha256 == sha256_of(path)


def test_seal_through_the_station_profile_then_inspect_through_it(station):
    """``seal --station``: the golden's captures go through the same profile as its units."""
    from goldenvision.cli import app

    d, path = station
    cal = load_station_calibration(path)
    caps = [_tint(_with_chart(panel_photo(i, shift=s), _chart(280, GREY)), GAINS)
            for i, s in enumerate([(0, 0), (2, 1), (-1, 2)])]
    golden = gv.seal(caps, {**spec_with_panel(), "anomaly_zones": []}, calibration=cal)
    assert golden.meta["station_calibration"]["sha256"] == sha256_of(path)
    golden.save(d / "g-station.gvpkg")
    g = gv.load_golden(d / "g-station.gvpkg")
    res = gv.Inspector(g, calibration=cal).inspect(_unit(20))
    assert res.verdict == gv.Verdict.passed, res.reasons
    # the golden's Lab came through the station's colour model: the tinted captures read as the panel
    plain_golden = gv.seal(caps, {**spec_with_panel(), "anomaly_zones": []})
    z = spec_with_panel()["colors"][0]["name"]
    assert gv.delta_e_2000(golden.meta["golden_lab"][z], plain_golden.meta["golden_lab"][z]) > 1.0
    with pytest.raises(CalibrationError, match="sealed through the fitted station profile station.json"):
        gv.Inspector(g)
    for i, c in enumerate(caps):
        (d / f"cap{i}.png").write_bytes(png_bytes(c))
    (d / "spec-panel.json").write_text(json.dumps({**spec_with_panel(), "anomaly_zones": []}))
    runner = CliRunner()
    r = runner.invoke(app, ["seal", *[str(d / f"cap{i}.png") for i in range(3)], "--spec", str(d / "spec-panel.json"),
                            "--out", str(d / "cli.gvpkg"), "--station", str(path), "--json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["inspect", str(d / "u0.png"), "-g", str(d / "cli.gvpkg"), "--station", str(path), "--json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["inspect", str(d / "u0.png"), "-g", str(d / "cli.gvpkg")])
    assert r.exit_code == 65 and "--station PROFILE" in r.output
