"""Benchmark of the colour stage (goldenvision.color).

Times, on this machine:
* ``measure_zone_colors`` on a 1600 x 1200 CIELAB image (the demo golden frame) with 3 polygon
  zones, median of 20 runs (and the same with one zone set to "full", the worst case);
* ``delta_e_2000`` on 1e6 colour pairs (float64), against colour-science's
  ``delta_E_CIE2000`` in the same run (a ratio is less noisy than a time on a shared machine);
* ``zone_delta_e_map`` for the largest zone;
and checks the robust zone colour of a synthetic textured zone against its known base.

With ``--demo``, also renders a demo lot and compares the pipeline's zone colours with the
ground truth the demo writes.

Run: ``.venv/bin/python scripts/bench_color.py [--demo]``
"""

from __future__ import annotations

import statistics
import time

import colour
import numpy as np

from goldenvision.color import (
    ZoneColorModel,
    delta_e_2000,
    measure_zone_colors,
    zone_delta_e_map,
)
from goldenvision.spec import ColorZone

H, W = 1200, 1600


def _timeit(fn, n: int) -> float:
    fn()  # warm up (imports, caches)
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def _textured(rng: np.random.Generator, bases: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    lab = np.empty((H, W, 3), np.float32)
    lab[:] = (50.0, 0.0, 0.0)
    for mask, base in bases:
        lab[mask] = base
    lab[..., 0] += rng.normal(0, 2.0, (H, W)).astype(np.float32)
    lab[..., 1:] += rng.normal(0, 0.6, (H, W, 2)).astype(np.float32)
    lab[rng.random((H, W)) < 0.03] = (96.0, 0.5, 1.0)  # specular spots
    lab[rng.random((H, W)) < 0.02] = (12.0, 1.0, 1.0)  # stitch holes
    return lab


def main() -> None:
    rng = np.random.default_rng(0)
    zones = [
        ColorZone(name="panel", region=[[200, 150], [1000, 150], [1000, 750], [200, 750]], tolerance_de00=1.5,
                  target={"lab": [32.1, 18.4, 12.0], "illuminant": "D50"}, weights=(2, 1, 1),
                  uniformity_tolerance_de00=1.0),
        ColorZone(name="strap", region=[[1050, 200], [1450, 250], [1400, 1050], [1100, 1000]], tolerance_de00=1.5),
        ColorZone(name="trim", region=[[200, 800], [1000, 800], [1000, 1000], [200, 1000]], tolerance_de00=2.0),
    ]
    from goldenvision.color import zone_mask

    bases = [(zone_mask(z.region, (H, W)), np.array(b)) for z, b in
             zip(zones, [(32.0, 18.0, 12.0), (60.0, -5.0, 30.0), (20.0, 2.0, -15.0)])]
    golden = [_textured(rng, bases) for _ in range(3)]
    t0 = time.perf_counter()
    model = ZoneColorModel.fit(golden, None, zones)
    fit_ms = (time.perf_counter() - t0) * 1e3
    unit = _textured(rng, bases)
    valid = np.ones((H, W), bool)
    zone_px = sum(int(m.sum()) for m, _ in bases)

    import os

    ms_copy = _timeit(lambda: unit.copy(), 20)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"reference: copying the 1600x1200x3 float32 image takes {ms_copy:.2f} ms")
    ms = _timeit(lambda: measure_zone_colors(unit, valid, model, zones), 20)
    res = measure_zone_colors(unit, valid, model, zones)
    print(f"measure_zone_colors 1600x1200, 3 polygon zones ({zone_px / 1e6:.2f} Mpx in zones): "
          f"median {ms:.1f} ms over 20 runs (= {ms / ms_copy:.0f} image copies)")
    for r, (_, b) in zip(res, bases):
        print(f"  {r.name:6s} lab {np.round(r.lab, 3).tolist()} true {b.tolist()} "
              f"dE00(true) {delta_e_2000(r.lab, b):.3f} valid {r.valid_fraction:.3f} uniformity {r.uniformity_de00:.3f}")
    # CPU time with OpenCV on one thread: close to the unloaded single-core wall time, and
    # much less sensitive than wall time to other work sharing the machine.
    import cv2

    n_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    measure_zone_colors(unit, valid, model, zones)
    cpu = []
    for _ in range(20):
        c0 = time.process_time()
        measure_zone_colors(unit, valid, model, zones)
        cpu.append(time.process_time() - c0)
    cv2.setNumThreads(n_threads)
    print(f"  same, CPU time with OpenCV on 1 thread: median {statistics.median(cpu) * 1e3:.1f} ms over 20 runs")
    full = zones[:2] + [zones[2].model_copy(update={"region": "full"})]
    model_full = ZoneColorModel.fit(golden[:1], None, full)
    ms_full = _timeit(lambda: measure_zone_colors(unit, valid, model_full, full), 20)
    print(f"measure_zone_colors 1600x1200, 2 polygons + 1 'full' zone: median {ms_full:.1f} ms over 20 runs")
    print(f"ZoneColorModel.fit on 3 golden captures: {fit_ms:.0f} ms (incl. first colour import)")

    ms_map = _timeit(lambda: zone_delta_e_map(unit, model, zones[0], model.golden_lab("panel")), 5)
    print(f"zone_delta_e_map (panel, 0.48 Mpx): median {ms_map:.1f} ms over 5 runs")

    a = np.column_stack([rng.uniform(0, 100, 1_000_000), rng.uniform(-100, 100, (1_000_000, 2))])
    b = a + rng.normal(0, 3, a.shape)
    ms_de = _timeit(lambda: delta_e_2000(a, b), 5)
    ms_col = _timeit(lambda: colour.difference.delta_E_CIE2000(a, b), 3)
    err = float(np.max(np.abs(delta_e_2000(a, b) - colour.difference.delta_E_CIE2000(a, b))))
    print(f"delta_e_2000 on 1e6 pairs: median {ms_de:.0f} ms over 5 runs "
          f"(colour-science delta_E_CIE2000: {ms_col:.0f} ms; max |difference| {err:.2e})")


def demo_lot(out_dir: str = "/tmp/gv-bench-color-lot") -> None:
    """Colour accuracy end to end on a rendered demo lot (seal + inspect through the pipeline)."""
    from goldenvision import pipeline
    from goldenvision.demo import generate_lot

    lot = generate_lot(out_dir, seed=3, n_golden=3, n_units=12, size=0.4)
    golden = pipeline.seal([str(p) for p in lot.golden_paths], lot.spec_path)
    truth = {u["unit_id"]: u for u in lot.truth["units"]}
    err_lab, err_target, err_golden, caught, missed = [], [], [], 0, 0
    for p in lot.unit_paths:
        r = pipeline.inspect(str(p), golden, unit_id=p.stem)
        t = truth[p.stem]
        failing = {c.split(":", 1)[1] for c in t["failing_checks"] if c.startswith("color:")}
        for c in r.color:
            tc = t["colors"][c.name]
            err_lab.append(delta_e_2000(c.lab, tc["lab"]))
            if c.delta_e_target is not None and tc.get("delta_e_target") is not None:
                err_target.append(abs(c.delta_e_target - tc["delta_e_target"]))
            err_golden.append(abs(c.delta_e_golden - tc["delta_e_golden"]))
            if c.name in failing:
                caught += not c.ok
                missed += c.ok
    print(f"demo lot ({len(lot.unit_paths)} units): zone Lab vs truth dE00 median {np.median(err_lab):.3f} "
          f"max {np.max(err_lab):.3f}; |dE target - true| max {np.max(err_target):.3f}; "
          f"|dE golden - true| max {np.max(err_golden):.3f}; injected colour faults caught {caught}, missed {missed}")


if __name__ == "__main__":
    import sys

    main()
    if "--demo" in sys.argv:
        demo_lot()
