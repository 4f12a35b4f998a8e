"""Command-line tools for trained defect detectors: ``train`` and ``evaluate``.

Registered on the ``goldenvision`` entry point by :mod:`goldenvision.cli` (``register_commands(app)``).
``train`` needs the ``train`` extra (torch); ``evaluate`` runs the exported ONNX bundle with
onnxruntime and needs no torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from .cli_datasets import _format, _usage
from .errors import GoldenVisionError, InputNotFoundError

__all__ = ["register_commands"]

FORMAT_HELP = "Dataset format: coco, voc, yolo, labelstudio, deeppcb or gv."


class TrainExtraMissingError(GoldenVisionError, ImportError):
    """torch / torchvision / onnx are not installed (pip install 'goldenvision[train]')."""


def _bundle_dir(model_dir: Path) -> Path:
    """MODEL_DIR (as ``train --out`` wrote it) or a bundle directory itself."""
    if (model_dir / "manifest.json").is_file():
        return model_dir
    if (model_dir / "bundle" / "manifest.json").is_file():
        return model_dir / "bundle"
    raise InputNotFoundError(f"{model_dir}: no detector bundle (manifest.json) in it or in {model_dir / 'bundle'}")


def register_commands(app: typer.Typer) -> None:
    """Add ``train`` and ``evaluate`` to a Typer app."""

    @app.command("train")
    def train_cmd(
        dataset: Path = typer.Argument(..., help="Dataset path (folder or file, as --format expects)."),
        fmt: str = typer.Option(..., "--format", help=FORMAT_HELP),
        out: Path = typer.Option(..., "--out", help="MODEL_DIR: split, checkpoints, history and the exported bundle."),
        epochs: int = typer.Option(40, "--epochs", min=1, help="Most epochs (one epoch = --crops-per-epoch crops)."),
        minutes: Optional[float] = typer.Option(None, "--minutes", min=0.5, help="Wall-time budget of the training loop."),
        val: int = typer.Option(100, "--val", min=1, help="Samples held out for validation (recorded in split.json)."),
        seed: int = typer.Option(0, "--seed"),
        by_group: bool = typer.Option(False, "--by-group", help="Hold out whole sample groups (lots / products), at least --val samples."),
        resume: bool = typer.Option(False, "--resume", help="Continue from MODEL_DIR/last.pt; recorded sides kept, newly labelled samples split by the same rule."),
        crop: int = typer.Option(256, "--crop", min=64, help="Training crop side in px (multiple of 32)."),
        batch: int = typer.Option(8, "--batch", min=1),
        crops_per_epoch: Optional[int] = typer.Option(None, "--crops-per-epoch", min=1, help="Default: 2 x training samples."),
        threads: int = typer.Option(1, "--threads", min=1, help="torch threads (1 is fastest on a busy 2-core machine)."),
        name: Optional[str] = typer.Option(None, "--name", help="Bundle name (default: MODEL_DIR's name)."),
        version: Optional[str] = typer.Option(None, "--version", help="Bundle version (default: UTC date and time)."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Train a defect detector (EfficientNet-Lite0 + template, CenterNet head) and export its bundle."""
        _format(fmt)
        if crop % 32:
            _usage(f"--crop {crop}: expected a multiple of 32")
        if not dataset.exists():
            raise InputNotFoundError(f"{dataset}: dataset not found")
        try:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            from .training.run import train_model
            from .training.train import TrainConfig
        except ImportError as exc:
            raise TrainExtraMissingError(f"goldenvision train needs the train extra: pip install 'goldenvision[train]' ({exc})") from None
        console = Console(stderr=True)
        cfg = TrainConfig(epochs=epochs, minutes=minutes, n_val=val, seed=seed, by_group=by_group, crop_px=crop, batch=batch,
                          crops_per_epoch=crops_per_epoch, threads=threads)
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                      console=console, transient=False) as prog:
            task = prog.add_task("loading", total=None, info="")
            state: dict[str, Any] = {"val": "val mAP50 -"}

            def report(d: dict[str, Any]) -> None:
                if "message" in d:
                    prog.console.print(d["message"])
                elif d.get("epoch_done"):
                    state["val"] = f"val mAP50 {d['val_map50']:.3f} F {d['val_f_iou033']:.3f}"
                    prog.console.print(f"epoch {d['epoch']}: loss {d['loss']:.3f}, {state['val']}, {d['wall_s']:.0f} s")
                else:
                    prog.update(task, description=f"epoch {d['epoch']}", completed=d["step"], total=d["steps"],
                                info=f"loss {d['loss']:.3f}  {state['val']}")

            summary = train_model(dataset, fmt, out, cfg, resume=resume, name=name, version=version, progress=report)
        if as_json:
            typer.echo(json.dumps(summary, indent=1, default=float))
            return
        m = summary["metrics_val"]
        typer.echo(f"bundle {summary['bundle']} ({summary['name']} {summary['version']}) sha256 {summary['bundle_sha256']}")
        typer.echo(f"validation ({m['n_val_images']} images, onnxruntime): map50 {m['map50']:.4f}  "
                   f"f_score_iou033 {m['f_score_iou033']:.4f}  precision {m['precision']:.4f}  recall {m['recall']:.4f}  "
                   f"threshold {m['score_threshold']:.2f}")
        typer.echo(f"time: {summary['wall_s_this_run']:.0f} s wall, {summary['cpu_s_this_run']:.0f} s CPU")

    @app.command("evaluate")
    def evaluate_cmd(
        model_dir: Path = typer.Argument(..., help="MODEL_DIR from train --out, or a bundle directory."),
        dataset: Path = typer.Argument(..., help="Labelled dataset to evaluate on."),
        fmt: str = typer.Option(..., "--format", help=FORMAT_HELP),
        split: Optional[str] = typer.Option(
            None, "--split", help="'val' or 'train': only that side of the split recorded in MODEL_DIR/split.json."
        ),
        out: Optional[Path] = typer.Option(None, "--out", help="Write an HTML report (index.html) to this folder."),
        sha256: Optional[str] = typer.Option(None, "--sha256", help="Refuse the bundle unless its sha256 starts with this."),
        as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    ) -> None:
        """Evaluate a detector bundle on a labelled dataset with onnxruntime (no torch needed)."""
        from .datasets import load_dataset
        from .detect.runtime import DefectDetector
        from .training.evaluate import evaluate_bundle, write_report

        _format(fmt)
        det = DefectDetector(_bundle_dir(model_dir), expected_sha256=sha256)
        ds = load_dataset(dataset, fmt)
        if split is not None:
            ds = _side(ds, model_dir, split)
        ev = evaluate_bundle(det, ds)
        page = write_report(ev, ds, out) if out is not None else None
        if as_json:
            d = ev.to_dict()
            if page is not None:
                d["report"] = str(page)
            typer.echo(json.dumps(d, indent=1))
            return
        console = Console()
        console.print(f"bundle {det.info.name} {det.info.version} sha256 {det.info.bundle_sha256}; {ev.n_images} images, "
                      f"{ev.ms_per_image:.0f} ms per image")
        console.print(f"map50 {ev.map50:.4f}  f_score_iou033 {ev.f_score_iou033:.4f}  precision {ev.precision:.4f}  "
                      f"recall {ev.recall:.4f}  (score >= {ev.threshold:.2f})")
        t = Table("class", "truth", "precision", "recall", "F", "AP50")
        for c, v in ev.per_class.items():
            t.add_row(c, str(v["n_truth"]), f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f_score']:.3f}",
                      "-" if v["ap50"] != v["ap50"] else f"{v['ap50']:.3f}")
        console.print(t)
        if page is not None:
            console.print(f"report {page}")


def _side(ds: Any, model_dir: Path, split: str) -> Any:
    """The samples of one side of the split recorded beside the model."""
    from dataclasses import replace

    if split not in ("val", "train"):
        _usage(f"--split {split!r}: expected 'val' or 'train'")
    path = model_dir / "split.json"
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no recorded split beside the model")
    rec = json.loads(path.read_text())
    wanted = {e["image"] for e in rec[split]}
    keep = []
    for s in ds.samples:
        try:
            rel = s.image.relative_to(ds.root).as_posix()
        except ValueError:
            rel = str(s.image)
        if rel in wanted:
            keep.append(s)
    if len(keep) != len(wanted):
        raise InputNotFoundError(f"{path}: {len(wanted)} {split} samples recorded, {len(keep)} found in {ds.root}")
    return replace(ds, samples=tuple(keep))
