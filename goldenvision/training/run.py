"""``goldenvision train`` end to end: dataset -> split -> training -> bundle -> evaluation (torch).

MODEL_DIR after a run::

    split.json       the split record of ``Dataset.split`` (seed, hashes, every sample per side)
    history.json     one line per epoch: loss, validation mAP50 / F, wall and CPU seconds
    last.pt, best.pt torch checkpoints (``--resume`` continues from last.pt)
    bundle/          the exported, hashed bundle (model.onnx, MODEL_CARD.md, manifest.json)
    train.json       what was run and what came out (bundle sha256, metrics, times)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goldenvision.errors import InputNotFoundError, OutputExistsError
from goldenvision.training.train import TrainConfig, load_dataset_pairs, train_detector

BUNDLE_DIR = "bundle"


def train_model(
    dataset_path: "str | os.PathLike[str]",
    fmt: str,
    out_dir: "str | os.PathLike[str]",
    cfg: TrainConfig,
    *,
    resume: bool = False,
    name: str | None = None,
    version: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train a detector on a dataset and export its bundle to ``out_dir/bundle``; returns the
    summary also written to ``out_dir/train.json``."""
    from goldenvision.datasets import load_dataset
    from goldenvision.detect.runtime import DefectDetector
    from goldenvision.training.evaluate import evaluate_bundle
    from goldenvision.training.export import export_onnx, write_bundle

    t0, c0 = time.perf_counter(), time.process_time()
    out = Path(out_dir).expanduser()
    if out.exists() and (out / "train.json").exists() and not resume:
        raise OutputExistsError(f"{out}: holds a trained model; pass --resume to continue it or choose another --out")
    if resume and not (out / "last.pt").is_file():
        raise InputNotFoundError(f"{out / 'last.pt'}: no checkpoint to resume")
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(Path(dataset_path), fmt)
    split_path = out / "split.json"
    joined = ""
    if resume and split_path.is_file():
        # Keep the recorded sides; samples labelled since join by the split's own rule.
        old = json.loads(split_path.read_text())
        if list(old.get("classes") or ds.classes) != list(ds.classes):
            raise OutputExistsError(f"{split_path}: recorded classes {old.get('classes')} differ from this dataset's "
                                    f"{list(ds.classes)}; a resumed model keeps its classes")
        train_ds, val_ds, record = ds.resume_split(old)
        joined = (f"; resume: {record['new_train']} new sample(s) joined train, {record['new_val']} joined validation"
                  + (f", {len(record['missing'])} recorded sample(s) no longer in the dataset" if record["missing"] else ""))
    else:
        train_ds, val_ds, record = ds.split(n_val=cfg.n_val, seed=cfg.seed, by_group=cfg.by_group)
    record = {**record, "root": str(ds.root), "format": fmt}
    split_path.write_text(json.dumps(record, indent=1))
    if progress:
        progress({"message": f"dataset {ds.root}: {len(ds.samples)} samples, classes {list(ds.classes)}; "
                             f"{record['n_train']} train / {record['n_val']} validation{joined}"})
    train_pairs = load_dataset_pairs(train_ds)
    val_pairs = load_dataset_pairs(val_ds)
    outcome = train_detector(train_pairs, val_pairs, ds.classes, out, cfg, resume=resume, progress=progress)
    version = version or datetime.now(UTC).strftime("%Y.%m.%d.%H%M%S")
    name = name or out.name
    bundle_dir = out / BUNDLE_DIR
    # Evaluate the exported graph itself (onnxruntime) on the validation side before sealing
    # its numbers into the card and the manifest.
    tmp = out / "candidate.onnx"
    export_onnx(outcome.model, tmp, classes=list(ds.classes), thresholds={"score": outcome.threshold, "match_iou": 0.33},
                version=version)
    ev = evaluate_bundle(DefectDetector.from_onnx_unverified(tmp, threads=cfg.threads), val_ds)
    tmp.unlink()
    metrics = {
        "map50": ev.map50,
        "f_score_iou033": ev.f_score_iou033,
        "precision": ev.precision,
        "recall": ev.recall,
        "score_threshold": ev.threshold,
        "n_val_images": ev.n_images,
        "best_epoch": outcome.best_epoch,
        "per_class": {c: {k: d[k] for k in ("precision", "recall", "ap50", "n_truth")} for c, d in ev.per_class.items()},
    }
    data = {k: record[k] for k in ("dataset_sha256", "train_sha256", "val_sha256", "n_train", "n_val", "seed")}
    data.update({"format": fmt, "root": str(ds.root), "classes": list(ds.classes)})
    bundle_sha = write_bundle(
        outcome.model, bundle_dir, name=name, version=version, classes=list(ds.classes), score_threshold=outcome.threshold,
        data=data, metrics=metrics, config=asdict(cfg), force=True,
    )
    summary = {
        "bundle": str(bundle_dir),
        "bundle_sha256": bundle_sha,
        "name": name,
        "version": version,
        "dataset_sha256": record["dataset_sha256"],
        "split": {k: record[k] for k in ("n_train", "n_val", "new_train", "new_val") if k in record},
        "metrics_val": {k: v for k, v in metrics.items() if k != "per_class"},
        "epochs_run": len(outcome.history),
        "train_wall_s": round(outcome.wall_s, 1),
        "wall_s_this_run": round(time.perf_counter() - t0, 1),
        "cpu_s_this_run": round(time.process_time() - c0, 1),
        "loadavg_end": os.getloadavg(),
        "config": asdict(cfg),
    }
    (out / "train.json").write_text(json.dumps(summary, indent=1, default=float))
    return summary
