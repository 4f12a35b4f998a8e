"""Demo of the feedback loop: the demo generator's labelled defects train a detector that the
demo pipeline then uses; the report shows the detector's classes.

    .venv/bin/python scripts/demo_detector.py OUT [--minutes 8] [--units 60]   # needs the train extra

1. ``demo_dataset(OUT/train-data, seed=1)``: rendered units with their defects in golden px;
2. ``goldenvision train`` on it (``goldenvision.training.run.train_model``) -> OUT/model/bundle;
3. a *different* demo lot (seed 2): its golden is sealed with a spec naming the bundle
   (path + sha256 + version), the units are inspected, and OUT/lot/report.html lists each
   detection with its class beside the anomaly regions.

Prints how many of the lot's true defects the detector found with the right class (a
detection counts when its box overlaps the true box with IoU > 0.33, one-to-one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--minutes", type=float, default=8.0, help="training budget")
    ap.add_argument("--units", type=int, default=60, help="training units rendered")
    ap.add_argument("--lot-units", type=int, default=12, help="units of the inspected lot")
    ap.add_argument("--size", type=float, default=0.5, help="camera resolution factor (0.5 = 800 x 600)")
    args = ap.parse_args()

    import goldenvision as gv
    from goldenvision.batch import inspect_batch
    from goldenvision.datasets import demo_dataset
    from goldenvision.demo import generate_lot
    from goldenvision.detect.metrics import ImageDetections, ImageTruth, f_score
    from goldenvision.report import write_report
    from goldenvision.training.run import train_model
    from goldenvision.training.train import TrainConfig

    t0 = time.perf_counter()
    out = args.out
    ds = demo_dataset(out / "train-data", n_units=args.units, seed=1, size=args.size, force=True)
    print(f"training data: {len(ds.samples)} units, {ds.n_annotations} defects, classes {list(ds.classes)}", flush=True)
    cfg = TrainConfig(minutes=args.minutes, n_val=max(4, len(ds.samples) // 10), crop_px=256, batch=8, threads=1, epochs=200)
    summary = train_model(out / "train-data", "gv", out / "model", cfg, name="demo-detector", version="demo-1",
                          resume=False) if not (out / "model" / "train.json").exists() else json.loads(
                              (out / "model" / "train.json").read_text())
    print(f"bundle {summary['bundle']} sha256 {summary['bundle_sha256']}: validation {summary['metrics_val']}", flush=True)

    lot = generate_lot(out / "lot", seed=2, n_golden=3, n_units=args.lot_units, size=args.size)
    spec = yaml.safe_load(Path(lot.spec_path).read_text())
    spec["detector"] = {"bundle": str(Path(summary["bundle"]).resolve()), "sha256": summary["bundle_sha256"],
                        "version": summary["version"], "severity": "major"}
    spec_path = out / "lot" / "spec-with-detector.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    golden = gv.seal([str(p) for p in lot.golden_paths], spec_path)
    inspector = gv.Inspector(golden)
    batch = inspect_batch(list(lot.unit_paths), golden, out / "lot" / "results", inspector=inspector)
    results = list(batch.results)
    write_report(out / "lot" / "report.html", results, golden, image_paths={p.name: p for p in lot.unit_paths},
                 title="demo lot inspected with the trained detector")
    classes = list(ds.classes)
    dets, truths = [], []
    for r, ut in zip(results, lot.truth["units"], strict=True):
        found = [d for d in r.defects if d.defect_class is not None]
        dets.append(ImageDetections(np.array([d.bbox for d in found], float).reshape(-1, 4), np.ones(len(found)),
                                    np.array([classes.index(d.defect_class) for d in found], int)))
        tds = [d for d in (ut.get("defects") or []) if d["type"] in classes]
        truths.append(ImageTruth(np.array([d["bbox"] for d in tds], float).reshape(-1, 4),
                                 np.array([classes.index(d["type"]) for d in tds], int)))
    fs = f_score(dets, truths, len(classes), threshold=0.5)
    n_classed = sum(len(d.scores) for d in dets)
    print(f"lot: {len(results)} units, {n_classed} detections with a class; true defects found with the right class "
          f"{fs.tp}/{fs.tp + fs.fn}, false detections {fs.fp}; F(IoU>0.33) {fs.f_score:.3f}")
    print(f"report {out / 'lot' / 'report.html'}; {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
