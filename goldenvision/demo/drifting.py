"""A drifting production run of the demo wallet: quality slides while every unit still passes.

Units come off the line in order across three shifts (A, B, C, rotating every ``shift_len``
units) and two leather batches. From ``colour_start`` the panel's lightness falls slowly
(``colour_slope`` L* per unit, the dye drying darker); from ``strap_start`` the strap narrows
slowly (``strap_slope`` mm per unit, the cutting die wearing); at ``batch_start`` a new hide
batch arrives, ``batch_step`` L* darker (a step). Everything else is an ordinary good unit of
:func:`goldenvision.demo.lot._make_unit`. Each photo has a context sidecar
(``unit_XXX.png.json``: shift, material batch, station) and a truth file with the true
ΔL*, strap width and whether the unit is still inside its tolerances, so a benchmark can
ask: how many units before the first out-of-tolerance unit did the first drift alarm come?
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


__all__ = ["DriftingLot", "generate_drifting_lot"]


@dataclass(frozen=True)
class DriftingLot:
    out_dir: Path
    spec_path: Path
    golden_paths: tuple[Path, ...]
    unit_paths: tuple[Path, ...]
    truth: tuple[dict[str, Any], ...]

    @property
    def first_out_of_tolerance(self) -> int | None:
        """Index of the first unit outside a tolerance (truth), None if none is."""
        return next((i for i, t in enumerate(self.truth) if not t["in_tolerance"]), None)


def generate_drifting_lot(out_dir: str | Path, *, n_units: int = 200, size: float = 0.5, seed: int = 0,
                          n_golden: int = 3, shift_len: int = 40, colour_start: int = 60, colour_slope: float = -0.02,
                          strap_start: int = 80, strap_slope: float = -0.006, batch_start: int = 100,
                          batch_step: float = -0.6) -> DriftingLot:
    """Write the golden captures, the spec and ``n_units`` drifting production photos."""
    from ..color import delta_e_2000
    from ..imageio import write_image
    from .lot import _make_unit, generate_lot
    from .photograph import render_unit
    from .scene import COLOR_ZONES, DIMENSIONS, demo_profile

    out = Path(out_dir)
    base = generate_lot(out, seed=seed, n_golden=n_golden, n_units=1, size=size)
    (out / "drift").mkdir(exist_ok=True)
    prof = demo_profile(size)
    panel, strap = COLOR_ZONES["panel"], DIMENSIONS["strap_width"]
    paths, truth = [], []
    for i in range(int(n_units)):
        up = _make_unit(i, "none", seed)
        d_l = (colour_slope * max(0, i - colour_start)) + (batch_step if i >= batch_start else 0.0)
        d_w = strap_slope * max(0, i - strap_start)
        # the ordinary demo lot carries its own slow b* drift (+0.02 per unit, first 50 units; see
        # lot._make_unit); taken out here so that the stretch before ``colour_start`` is in control
        lab = (up.panel_lab[0] + d_l, up.panel_lab[1], up.panel_lab[2] - min(0.02 * i, 1.0))
        width = up.strap_width_mm + d_w
        up = dataclasses.replace(up, unit_id=f"unit_{i:03d}", panel_lab=lab, strap_width_mm=width)
        rgb, _ = render_unit(up, prof, size=size)
        path = out / "drift" / f"{up.unit_id}.png"
        write_image(path, rgb)
        ctx = {"shift": "ABC"[(i // shift_len) % 3], "material_batch": "hide-0412" if i < batch_start else "hide-0413",
               "station": "line-1"}
        (out / "drift" / f"{path.name}.json").write_text(json.dumps(ctx), encoding="utf-8")
        de_target = float(delta_e_2000(lab, panel["target"], *panel["weights"]))
        de_golden = float(delta_e_2000(lab, panel["golden"], *panel["weights"]))
        ok_colour = max(de_target, de_golden) <= panel["tolerance"]
        ok_strap = abs(width - strap["nominal"]) <= strap["tol"]
        truth.append({"index": i, "file": path.name, **ctx, "panel_dL": d_l, "panel_de00_target": de_target,
                      "panel_de00_golden": de_golden, "strap_width_mm": width, "in_tolerance": ok_colour and ok_strap})
        paths.append(path)
    (out / "drift" / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return DriftingLot(out, base.spec_path, tuple(base.golden_paths), tuple(paths), tuple(truth))
