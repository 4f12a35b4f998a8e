"""A golden whose captures read a feature further apart than their uncertainty allows is said so at
sealing (``meta["golden_dimension_warnings"]``), by ``goldenvision seal`` and in every unit's result:
without certified sizes every unit is read against the captures' mean taken as the nominal."""

from __future__ import annotations

import json

import numpy as np
import yaml
from typer.testing import CliRunner

import goldenvision as gv
from goldenvision.cli import app
from goldenvision.imageio import write_image
from goldenvision.measure.dimensions import GOLDEN_SPREAD_SHARE, golden_readings_disagree
from goldenvision.spec import DimensionSpec

from test_measure_zero import SPEC_NONE, _plate_mm, _rgb

DIM = DimensionSpec(name="plate_width", measure="width", nominal_mm=28.0, tolerance_mm=(-0.2, 0.2),
                    caliper={"center": (240.0, 60.0), "angle_deg": 0.0, "length_px": 400.0, "width_px": 20.0})


def _rec(values: list[float], uncertainties: list[float | None], **extra: object) -> dict:
    return {"plate_width": {"mean": float(np.mean(values)), "values": values, "uncertainties": uncertainties, **extra}}


def test_readings_apart_beyond_their_uncertainty_and_worth_a_gauge_disagree() -> None:
    apart = golden_readings_disagree([DIM], _rec([28.0, 28.08, 28.07], [0.005, 0.005, 0.005]))["plate_width"]
    assert apart["values"] == [28.0, 28.08, 28.07] and apart["sd"] > GOLDEN_SPREAD_SHARE * 0.2
    assert apart["chi2_per_dof"] > 50
    # within their uncertainty: one unit photographed again
    assert golden_readings_disagree([DIM], _rec([28.0, 28.08, 28.07], [0.05, 0.05, 0.05])) == {}
    # apart beyond their uncertainty, but by less than a tenth of the half band: not worth a warning
    assert golden_readings_disagree([DIM], _rec([28.0, 28.01, 28.005], [0.001, 0.001, 0.001])) == {}
    # certified sizes zero each capture on its own unit; no uncertainties recorded (older packages): not judged
    assert golden_readings_disagree([DIM], _rec([28.0, 28.08, 28.07], [0.005] * 3, certified_mm=[28.0, 28.08, 28.07])) == {}
    assert golden_readings_disagree([DIM], {"plate_width": {"mean": 28.05, "values": [28.0, 28.08, 28.07]}}) == {}
    assert golden_readings_disagree([DIM], _rec([28.0, 28.08, 28.07], [0.005, None, 0.005])) == {}
    assert golden_readings_disagree([DIM], _rec([28.0], [0.005])) == {} and golden_readings_disagree([DIM], None) == {}


def test_a_golden_of_plates_of_their_own_widths_is_warned_of_and_a_certified_one_is_not(tmp_path) -> None:
    widths = [28.0, 28.08, 28.07]
    caps = [_rgb(_plate_mm(w)) for w in widths]
    plain = gv.seal(caps, SPEC_NONE)
    rec = plain.meta["golden_dimensions_mm"]["plate_width"]
    assert len(rec["uncertainties"]) == 3 and all(0 < u < 0.02 for u in rec["uncertainties"])
    (warning,) = plain.meta["golden_dimension_warnings"]
    assert "plate_width" in warning and "--golden-dim plate_width=" in warning
    assert gv.Inspector(plain).inspect(caps[0]).provenance["golden_dimension_warnings"] == [warning]
    certified = gv.seal(caps, SPEC_NONE, golden_dimensions_mm={"plate_width": widths})
    assert "golden_dimension_warnings" not in certified.meta
    assert "golden_dimension_warnings" not in gv.Inspector(certified).inspect(caps[0]).provenance
    again = gv.seal([caps[0]] * 3, SPEC_NONE)  # one plate: its readings agree
    assert "golden_dimension_warnings" not in again.meta

    # the CLI says it on stderr; --json keeps stdout one JSON object, with the warnings in it
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC_NONE))
    paths = []
    for i, c in enumerate(caps):
        p = tmp_path / f"g{i}.png"
        write_image(p, c)
        paths.append(str(p))
    res = CliRunner().invoke(app, ["seal", *paths, "--spec", str(spec_path), "--out", str(tmp_path / "p.golden"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["warnings"]) == 1 and "plate_width" in out["warnings"][0]
    assert "warning:" in res.stderr and "plate_width" in res.stderr
