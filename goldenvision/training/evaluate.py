"""Evaluate an exported detector bundle on a labelled dataset (onnxruntime; no torch).

``evaluate_bundle`` runs the bundle exactly as a station does, computes ``map50`` and the DeepPCB
``f_score_iou033`` with per-class precision / recall, and ``write_report`` writes an HTML page
with the confusion matrix, the PR curves (matplotlib PNGs) and the worst misses beside their
ground truth.
"""

from __future__ import annotations

import html
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goldenvision.detect.metrics import (
    ImageDetections,
    ImageTruth,
    PRCurve,
    confusion_matrix,
    f_score,
    pr_curves,
)
from goldenvision.detect.runtime import DefectDetector
from goldenvision.errors import SpecError


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one bundle on one dataset, with what the report needs."""

    classes: tuple[str, ...]
    threshold: float
    map50: float
    f_score_iou033: float
    precision: float
    recall: float
    per_class: dict[str, dict[str, Any]]
    confusion: np.ndarray
    curves: list[PRCurve]
    n_images: int
    ms_per_image: float
    bundle: dict[str, Any]
    dataset_sha256: str | None
    detections: list[ImageDetections]
    truths: list[ImageTruth]

    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if not math.isfinite(v) else round(float(v), 6)

        return {
            "map50": num(self.map50),
            "f_score_iou033": num(self.f_score_iou033),
            "precision": num(self.precision),
            "recall": num(self.recall),
            "threshold": self.threshold,
            "n_images": self.n_images,
            "ms_per_image": round(self.ms_per_image, 1),
            "per_class": {c: {k: (num(v) if isinstance(v, float) else v) for k, v in d.items()} for c, d in self.per_class.items()},
            "confusion": {"rows_true": [*self.classes, "(none)"], "cols_pred": [*self.classes, "(missed)"],
                          "counts": self.confusion.tolist()},
            "bundle": self.bundle,
            "dataset_sha256": self.dataset_sha256,
        }


def truths_for(samples: Sequence[Any], classes: Sequence[str]) -> list[ImageTruth]:
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for s in samples:
        for a in s.annotations:
            if a.label not in index:
                raise SpecError(f"{s.source}: class {a.label!r} is not one the model knows {list(classes)}")
        out.append(ImageTruth(np.array([a.box_xyxy for a in s.annotations], dtype=np.float64).reshape(-1, 4),
                              np.array([index[a.label] for a in s.annotations], dtype=np.int64)))
    return out


def score_detections(
    detections: list[ImageDetections], truths: list[ImageTruth], classes: Sequence[str], threshold: float
) -> dict[str, Any]:
    """The numbers of :class:`Evaluation` from detections (all peaks >= 0.01) and ground truth."""
    n = len(classes)
    curves = pr_curves(detections, truths, n)
    aps = [c.ap for c in curves if c.n_truth > 0]
    fs = f_score(detections, truths, n, threshold=threshold)
    per = {}
    for i, c in enumerate(classes):
        p, r, f = fs.class_prf(i)
        tp, fp, fn = fs.per_class.get(i, (0, 0, 0))
        per[c] = {"precision": p, "recall": r, "f_score": f, "ap50": curves[i].ap, "n_truth": curves[i].n_truth,
                  "tp": tp, "fp": fp, "fn": fn}
    return {
        "map50": float(np.mean(aps)) if aps else float("nan"),
        "f_score_iou033": fs.f_score,
        "precision": fs.precision,
        "recall": fs.recall,
        "per_class": per,
        "confusion": confusion_matrix(detections, truths, n, threshold=threshold),
        "curves": curves,
    }


def evaluate_bundle(
    detector: DefectDetector,
    dataset: Any,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Run ``detector`` on every sample of a ``goldenvision.datasets.Dataset`` and score it."""
    from goldenvision.datasets import read_sample

    classes = detector.classes
    truths = truths_for(dataset.samples, classes)
    dets = []
    t_total = 0.0
    for k, s in enumerate(dataset.samples):
        image, template = read_sample(s)
        t0 = time.perf_counter()
        dets.append(detector.detect_all(image, template))
        t_total += time.perf_counter() - t0
        if progress:
            progress(k + 1, len(dataset.samples))
    sc = score_detections(dets, truths, classes, detector.score_threshold)
    try:
        data_sha = dataset.content_sha256()
    except Exception:  # a dataset whose files cannot all be hashed still evaluates
        data_sha = None
    return Evaluation(
        classes=classes,
        threshold=detector.score_threshold,
        map50=sc["map50"],
        f_score_iou033=sc["f_score_iou033"],
        precision=sc["precision"],
        recall=sc["recall"],
        per_class=sc["per_class"],
        confusion=sc["confusion"],
        curves=sc["curves"],
        n_images=len(dataset.samples),
        ms_per_image=1000 * t_total / max(len(dataset.samples), 1),
        bundle=detector.info.to_dict() if detector.info is not None else {},
        dataset_sha256=data_sha,
        detections=dets,
        truths=truths,
    )


# --------------------------------------------------------------------------------------
# HTML report
# --------------------------------------------------------------------------------------
def _plot_curves(ev: Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    for c, curve in zip(ev.classes, ev.curves, strict=True):
        if curve.n_truth == 0:
            continue
        ax.plot(np.concatenate([[0.0], curve.recall]), np.concatenate([[1.0], curve.precision]), label=f"{c} (AP50 {curve.ap:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.set_title("PR curves, IoU >= 0.5")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_confusion(ev: Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = ev.confusion
    n = cm.shape[0]
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * n, 0.8 + 0.7 * n), dpi=100)
    ax.imshow(np.log1p(cm), cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(n), [*ev.classes, "(missed)"], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), [*ev.classes, "(none)"], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"IoU > 0.33, score >= {ev.threshold:.2f}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _worst(ev: Evaluation, k: int) -> list[tuple[str, int, np.ndarray, int, float]]:
    """Misses (kind, image index, box, class, score): ground truth with no detection of its class
    above the threshold, largest first; then false alarms, highest score first."""
    from goldenvision.detect.metrics import _match_image

    misses, alarms = [], []
    for i, (d, g) in enumerate(zip(ev.detections, ev.truths, strict=True)):
        da = d.above(ev.threshold)
        m, gm = _match_image(da, g, iou_min=0.33, strict=True)
        for j in np.flatnonzero(~gm):
            b = g.boxes[j]
            misses.append(("missed", i, b, int(g.labels[j]), (b[2] - b[0]) * (b[3] - b[1])))
        for j in np.flatnonzero(m < 0):
            alarms.append(("false alarm", i, da.boxes[j], int(da.labels[j]), float(da.scores[j])))
    misses.sort(key=lambda r: -r[4])
    alarms.sort(key=lambda r: -r[4])
    return misses[:k] + alarms[:k]


def _crop_png(dataset: Any, ev: Evaluation, item: tuple[str, int, np.ndarray, int, float], path: Path) -> None:
    from PIL import Image, ImageDraw

    from goldenvision.datasets import read_sample

    kind, i, box, _lab, _s = item
    image, template = read_sample(dataset.samples[i])
    h, w = image.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(48.0, 1.5 * max(box[2] - box[0], box[3] - box[1]))
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
    panels = []
    for arr, draw_det in ((image, True), (template if template is not None else image, False)):
        im = Image.fromarray(arr[y0:y1, x0:x1]).convert("RGB")
        dr = ImageDraw.Draw(im)
        g = ev.truths[i]
        for b in g.boxes:
            dr.rectangle([b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0], outline=(0, 200, 0), width=2)
        if draw_det:
            d = ev.detections[i].above(ev.threshold)
            for b in d.boxes:
                dr.rectangle([b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0], outline=(220, 0, 0), width=1)
        scale = max(1, int(160 / max(im.size)))
        panels.append(im.resize((im.size[0] * scale, im.size[1] * scale), Image.Resampling.NEAREST))
    out = Image.new("RGB", (sum(p.size[0] for p in panels) + 8, max(p.size[1] for p in panels)), (255, 255, 255))
    out.paste(panels[0], (0, 0))
    out.paste(panels[1], (panels[0].size[0] + 8, 0))
    out.save(path)


def _fmt3(v: float) -> str:
    return "-" if not math.isfinite(v) else f"{v:.3f}"


def write_report(ev: Evaluation, dataset: Any, out_dir: "str | os.PathLike[str]", *, n_worst: int = 12) -> Path:
    """Write ``out_dir/index.html`` (+ PNGs and ``metrics.json``); returns the page's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _plot_curves(ev, out / "pr_curves.png")
    _plot_confusion(ev, out / "confusion.png")
    (out / "metrics.json").write_text(json.dumps(ev.to_dict(), indent=1))
    rows = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{d['n_truth']}</td><td>{d['tp']}</td><td>{d['fp']}</td><td>{d['fn']}</td>"
        f"<td>{d['precision']:.3f}</td><td>{d['recall']:.3f}</td><td>{d['f_score']:.3f}</td>"
        f"<td>{_fmt3(d['ap50'])}</td></tr>"
        for c, d in ev.per_class.items()
    )
    worst = []
    for k, item in enumerate(_worst(ev, n_worst)):
        name = f"worst_{k:02d}.png"
        _crop_png(dataset, ev, item, out / name)
        kind, i, box, lab, s = item
        what = f"{kind}: {ev.classes[lab]}" + (f" (score {s:.2f})" if kind == "false alarm" else "")
        src = html.escape(str(dataset.samples[i].source))
        worst.append(f"<figure><img src='{name}' alt='{html.escape(what)}'><figcaption>{html.escape(what)}<br>"
                     f"{src} box {[round(float(v)) for v in box]}</figcaption></figure>")
    b = {"name": "?", "version": "?", "bundle_sha256": "?", **ev.bundle}
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Detector evaluation</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}} td:first-child{{text-align:left}}
figure{{display:inline-block;margin:6px;font-size:12px;vertical-align:top}}</style></head><body>
<h1>Detector evaluation</h1>
<p>Bundle <b>{html.escape(str(b['name']))} {html.escape(str(b['version']))}</b>, sha256 <code>{b['bundle_sha256']}</code>;
dataset sha256 <code>{ev.dataset_sha256}</code>, {ev.n_images} images; score threshold {ev.threshold:.2f} (from the bundle);
{ev.ms_per_image:.1f} ms per image (onnxruntime).</p>
<table><tr><th>map50</th><th>f_score_iou033</th><th>precision</th><th>recall</th></tr>
<tr><td>{ev.map50:.4f}</td><td>{ev.f_score_iou033:.4f}</td><td>{ev.precision:.4f}</td><td>{ev.recall:.4f}</td></tr></table>
<p>map50: mean over classes of the all-point AP at IoU &ge; 0.5 (PASCAL VOC). f_score_iou033: DeepPCB protocol, a detection
counts when IoU &gt; 0.33 with a ground-truth box of its class, one-to-one.</p>
<h2>Per class</h2>
<table><tr><th>class</th><th>truth</th><th>TP</th><th>FP</th><th>FN</th><th>precision</th><th>recall</th><th>F</th><th>AP50</th></tr>
{rows}</table>
<h2>Confusion matrix</h2><img src="confusion.png" alt="confusion matrix">
<h2>PR curves</h2><img src="pr_curves.png" alt="precision-recall curves">
<h2>Worst misses and false alarms</h2>
<p>Each: the test crop (left; green ground truth, red detections) beside the template crop (right).</p>
{''.join(worst) or '<p>None.</p>'}
</body></html>"""
    page_path = out / "index.html"
    page_path.write_text(page, encoding="utf-8")
    return page_path
