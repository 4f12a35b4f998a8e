"""Benchmark of zone colour on the demo variants (issue 4): flat, textured, plated; blotchy dye.

Usage::

    .venv/bin/python scripts/bench_color_demo.py [--units 12] [--seed 0] [--size 1.0] [--blotch 2.5]

1. Writes the default demo golden captures (``generate_lot(..., seed, n_golden=5)``) and seals
   them with ``demo.spec_variant(size, plated_zone=True)`` (adds the ``buckle`` zone on the
   plating, target = :func:`goldenvision.demo.plated_zone_truth_lab`).
2. Renders a lot of ``--units`` units (``demo.make_variant_unit``): half good, a quarter
   colour-shift faults (the default lot's colour faults), a quarter blotchy dye
   (``±--blotch`` ΔE00 peak, cells 8-12 mm); each unit also gets a plating tone within ±1 L*,
   ±0.3 a*, b* of nominal (so the plated truth varies). Inspects them with ``gv.inspect``.
3. Per zone (flat logo print, textured panel leather, plated buckle): mean and max
   |ΔE00(measured zone Lab, truth Lab)| (kL = kC = kH = 1) over all units (the blotchy panel's
   truth is its zone mean, :func:`goldenvision.demo.zone_truth_lab`).
4. Uniformity: the panel's ``uniformity_de00`` on the golden (seal) and on good units; the
   tolerance is set to max(1.0, 2 x the largest good-unit/golden figure) rounded up to 0.1,
   the golden re-sealed with it (``spec_variant(..., panel_uniformity_de00=T)``), the lot
   inspected again, and for each unit kind: flagged by uniformity, mean ΔE00 in tolerance,
   verdict.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import tempfile
import time

import numpy as np

import goldenvision as gv
from goldenvision import demo
from goldenvision.color import delta_e_2000


def _lot(n: int, seed: int, blotch: float) -> list:
    kinds = []
    for i in range(n):
        r = i % 4
        kinds.append("good" if r in (0, 2) else ("color" if r == 1 else "blotchy"))
    units = []
    for i, k in enumerate(kinds):
        up = demo.make_variant_unit(i, k, seed, blotch_de00=blotch)
        rng = np.random.default_rng([seed, 4000 + i])
        metal = tuple(float(v) for v in np.asarray(up.metal_lab) + rng.uniform(-1, 1, 3) * np.array([1.0, 0.3, 0.3]))
        units.append((k, dataclasses.replace(up, metal_lab=metal)))
    return units


def _inspect_all(golden, rendered) -> list:
    out = []
    for (kind, up), rgb in rendered:
        r = gv.inspect(rgb, golden, unit_id=up.unit_id)
        out.append((kind, up, r))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=float, default=1.0)
    ap.add_argument("--blotch", type=float, default=2.5, help="blotch peak ΔE00 (kL 2, as the panel zone)")
    args = ap.parse_args()
    size = args.size

    with tempfile.TemporaryDirectory() as tmp:
        lot = demo.generate_lot(tmp, seed=args.seed, n_golden=5, n_units=1, size=size)
        captures = [p.read_bytes() for p in lot.golden_paths]
    t = time.perf_counter()
    golden = gv.seal(captures, demo.spec_variant(size, plated_zone=True))
    print(f"sealed {len(captures)} captures (size {size}): {time.perf_counter() - t:.1f} s")
    cm = golden.states["color"]
    names = list(cm["names"]) if "names" in cm else None
    uni_golden = dict(zip(names, np.asarray(cm["golden_uniformity_de00"]).tolist())) if names else {}
    print("golden uniformity_de00 (median over captures):", {k: round(v, 3) for k, v in uni_golden.items()})

    units = _lot(args.units, args.seed, args.blotch)
    rendered = [((k, up), demo.render_unit(up, size=size)[0]) for k, up in units]
    res = _inspect_all(golden, rendered)

    # 1. zone colour against the truth
    print(f"\n|ΔE00 (1,1,1)| measured zone Lab vs truth, {len(res)} units:")
    print(f"{'zone':<8} {'kind':<22} {'mean':>6} {'max':>6}  {'n':>3}")
    desc = {"logo": "flat print", "panel": "textured leather", "buckle": "plated (no highlights)"}
    for zone in ("logo", "panel", "buckle"):
        des = []
        for _kind, up, r in res:
            c = {x.name: x for x in r.color}.get(zone)
            if c is None:
                continue
            des.append(float(delta_e_2000(np.asarray(c.lab), np.asarray(demo.zone_truth_lab(up)[zone]))))
        des = np.asarray(des)
        print(f"{zone:<8} {desc[zone]:<22} {des.mean():6.3f} {des.max():6.3f}  {des.size:>3}")
    for zone in ("panel", "buckle"):
        per = {}
        for kind, up, r in res:
            c = {x.name: x for x in r.color}[zone]
            per.setdefault(kind, []).append(float(delta_e_2000(np.asarray(c.lab), np.asarray(demo.zone_truth_lab(up)[zone]))))
        print(f"  {zone} by kind: " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in per.items()))

    # 2. uniformity tolerance from the golden's own figure and the good units
    good_uni = [ {x.name: x for x in r.color}["panel"].uniformity_de00 for kind, up, r in res if kind == "good"]
    ref = max([v for v in good_uni if v is not None] + [uni_golden.get("panel", 0.0)])
    tol = max(1.0, math.ceil(20.0 * ref) / 10.0)
    print(f"\npanel uniformity: golden {uni_golden.get('panel', float('nan')):.3f}, good units max {max(good_uni):.3f} "
          f"-> uniformity_tolerance_de00 = {tol:.1f}")
    golden2 = gv.seal(captures, demo.spec_variant(size, plated_zone=True, panel_uniformity_de00=tol))
    res2 = _inspect_all(golden2, rendered)
    print(f"{'unit':<9} {'kind':<8} {'ΔE tgt':>7} {'tol':>4} {'unif':>6} {'flag':>5}  verdict  reasons")
    summary: dict[str, list] = {}
    for kind, up, r in res2:
        c = {x.name: x for x in r.color}["panel"]
        flagged = not c.ok_uniformity
        mean_ok = c.ok_target and c.ok_golden
        summary.setdefault(kind, []).append((flagged, mean_ok))
        verdict = r.verdict.value if hasattr(r.verdict, "value") else str(r.verdict)
        print(f"{up.unit_id:<9} {kind:<8} {c.delta_e_target:7.3f} {c.tolerance:4.1f} {c.uniformity_de00:6.3f} "
              f"{'yes' if flagged else 'no':>5}  {verdict:<7}  {'; '.join(r.reasons)[:90]}")
    for kind, v in summary.items():
        print(f"  {kind:<8}: flagged by uniformity {sum(f for f, _ in v)}/{len(v)}, "
              f"panel mean in tolerance {sum(m for _, m in v)}/{len(v)}")


if __name__ == "__main__":
    main()
