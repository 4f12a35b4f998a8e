"""Command-line tools for labelled datasets: ``dataset check``, ``dataset convert``, ``dataset demo`` and ``label``.

Registered on the ``goldenvision`` entry point by :mod:`goldenvision.cli` (``register_commands(app)``).
Each command parses, calls :mod:`goldenvision.datasets`, prints. A malformed dataset raises
:class:`~goldenvision.datasets.DatasetError` (``file:line: ...``), which the root command group
turns into one line on stderr and exit code 65 (66 for a missing input, 73 for an existing
output without ``--force``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import InputNotFoundError

__all__ = ["register_commands", "parse_box"]

_UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
FORMAT_HELP = "Dataset format: coco, voc, yolo, labelstudio, deeppcb or gv."


def _usage(message: str) -> NoReturn:
    raise _UsageError(message)


def _format(fmt: str) -> str:
    from .datasets import FORMATS

    if fmt not in FORMATS:
        _usage(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def _classes(value: Optional[str]) -> Optional[list[str]]:
    if value is None:
        return None
    names = [c.strip() for c in value.split(",")]
    if not all(names):
        _usage(f"--classes {value!r}: expected comma-separated class names")
    return names


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x1,y1,x2,y2"`` -> four floats (usage error otherwise)."""
    parts = text.replace(" ", "").split(",")
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        _usage(f"--box {text!r}: expected x1,y1,x2,y2 (numbers)")
    if len(vals) != 4:
        _usage(f"--box {text!r}: expected four numbers x1,y1,x2,y2, got {len(vals)}")
    return (vals[0], vals[1], vals[2], vals[3])


def _summary(ds: Any) -> dict[str, Any]:
    return {**ds.summary(), "content_sha256": ds.content_sha256()}


def _print_summary(s: dict[str, Any], title: str) -> None:
    console = Console()
    console.print(title, highlight=False, soft_wrap=True, markup=False)
    table = Table(show_lines=False)
    table.add_column("class")
    table.add_column("boxes", justify="right")
    for k, v in s["class_counts"].items():
        table.add_row(k, str(v))
    table.add_row("[bold]total[/bold]", f"[bold]{s['n_annotations']}[/bold]")
    console.print(table)
    console.print(f"{s['n_samples']} images ({s['n_with_template']} with a template, {s['n_without_defects']} without "
                  f"defects); content sha256 {s['content_sha256']}", highlight=False, soft_wrap=True)


def _unit_image(db: Optional[str], unit: str) -> tuple[Path, dict[str, Any]]:
    """The photo of a stored unit (by image sha256 or a unique prefix of at least 8 hex digits)."""
    import os

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from .datasets import DatasetError
    from .store import open_store
    from .store.models import Unit

    u = unit.strip().lower()
    if len(u) < 8 or any(c not in "0123456789abcdef" for c in u):
        _usage(f"--unit {unit!r}: expected the unit's image sha256 (at least 8 hex digits)")
    store = open_store(db or os.environ.get("GV_DB") or None)
    try:
        with Session(store.engine) as s:
            rows = list(s.scalars(select(Unit).where(Unit.image_sha256.startswith(u))))
            found = [(r.image_sha256, r.file, r.golden_id, r.lot, r.product) for r in rows]
    finally:
        store.close()
    shas = {f[0] for f in found}
    if not found:
        raise InputNotFoundError(f"--unit {unit}: no unit with this image sha256 in the store")
    if len(shas) > 1:
        _usage(f"--unit {unit}: {len(shas)} units start with this prefix; give more digits")
    sha = found[0][0]
    for _, file, golden_id, lot, product in found:
        if file and Path(file).is_file():
            data = Path(file).read_bytes()
            if hashlib.sha256(data).hexdigest() != sha:
                raise DatasetError(f"{file}: the file has changed since unit {sha[:12]} was inspected (its sha256 "
                                   "differs); give the original photo as IMAGE")
            return Path(file), {"image_sha256": sha, "golden_id": golden_id, "lot": lot, "product": product}
    files = sorted({str(f[1]) for f in found})
    raise InputNotFoundError(f"--unit {unit}: the store records the photo as {files}, which is not readable here; "
                             "give the photo as IMAGE")


def register_commands(app: typer.Typer) -> None:
    """Add ``dataset check|convert|demo`` and ``label`` to a Typer app."""
    ds_app = typer.Typer(help="Check, convert and make labelled defect datasets (for train / evaluate).",
                         no_args_is_help=True)

    @ds_app.command("check")
    def check_cmd(
        path: Path = typer.Argument(..., help="The dataset folder or its main file (JSON, list file)."),
        fmt: str = typer.Option(..., "--format", help=FORMAT_HELP),
        classes: Optional[str] = typer.Option(None, "--classes", help="Expected classes, comma-separated, in index order."),
        no_decode: bool = typer.Option(False, "--no-decode", help="Read image headers only (skip the truncation check)."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    ) -> None:
        """Validate a dataset and print the boxes per class (exit 65 with file:line on bad data)."""
        from .datasets import load_dataset

        ds = load_dataset(path, _format(fmt), classes=_classes(classes), decode=not no_decode)
        s = _summary(ds)
        if as_json:
            print(json.dumps(s))
        else:
            _print_summary(s, f"{path} ({fmt}): valid")

    @ds_app.command("convert")
    def convert_cmd(
        path: Path = typer.Argument(..., help="The dataset folder or its main file."),
        fmt: str = typer.Option(..., "--format", help=FORMAT_HELP),
        out: Path = typer.Option(..., "--out", help="Folder for the gv dataset (dataset.json + images/)."),
        classes: Optional[str] = typer.Option(None, "--classes", help="Expected classes, comma-separated, in index order."),
        no_copy: bool = typer.Option(False, "--no-copy", help="Refer to the images where they are instead of copying them."),
        force: bool = typer.Option(False, "--force", help="Replace an existing dataset.json in --out."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    ) -> None:
        """Validate a dataset and write it in the internal gv format."""
        from .datasets import load_dataset, save_dataset

        ds = load_dataset(path, _format(fmt), classes=_classes(classes))
        written = save_dataset(ds, out, copy_images=not no_copy, force=force)
        s = {**_summary(ds), "out": str(written)}
        if as_json:
            print(json.dumps(s))
        else:
            _print_summary(s, f"{path} ({fmt}) -> {written}")

    @ds_app.command("demo")
    def demo_cmd(
        out: Path = typer.Argument(..., help="Folder for the gv dataset (and source/, the rendered lot)."),
        units: int = typer.Option(40, "--units", min=1, help="Units in the rendered lot (about 27 % carry a defect)."),
        seed: int = typer.Option(0, "--seed"),
        size: float = typer.Option(0.5, "--size", help="Camera resolution factor (1.0 = 1600 x 1200 px)."),
        family: str = typer.Option("wallet", "--family", help="wallet or a product-zoo family."),
        mode: str = typer.Option("station", "--mode", help="station or handheld."),
        force: bool = typer.Option(False, "--force", help="Replace an existing dataset.json in OUT."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    ) -> None:
        """Render a demo lot and write its labelled defects (golden px, golden reference as template) as a gv dataset."""
        from .datasets.demo import demo_dataset

        ds = demo_dataset(out, n_units=units, seed=seed, size=size, family=family, mode=mode, force=force)
        s = _summary(ds)
        if as_json:
            print(json.dumps(s))
        else:
            _print_summary(s, f"demo dataset {out}")

    app.add_typer(ds_app, name="dataset")

    @app.command("label")
    def label_cmd(
        image: Optional[Path] = typer.Argument(None, help="The unit's photo (or give --db and --unit)."),
        dataset: Path = typer.Option(..., "--dataset", help="gv dataset folder to add the unit to (created if missing)."),
        box: Optional[list[str]] = typer.Option(
            None, "--box", help="x1,y1,x2,y2 of a defect (repeatable): golden px with --golden (as the report's "
                                "regions), else photo px."),
        cls: Optional[list[str]] = typer.Option(None, "--class", metavar="CLASS", help="Defect class: one for every box, or one per box."),
        severity: Optional[list[str]] = typer.Option(
            None, "--severity", help="critical, major or minor: one for every box, or one per box."),
        golden: Optional[Path] = typer.Option(
            None, "--golden", help="The golden package: the unit is aligned to it like `inspect` does and stored in "
                                   "golden px, with the golden's reference image as its template."),
        good: bool = typer.Option(False, "--good", help="The unit has no defect (e.g. a false alarm after review)."),
        replace: bool = typer.Option(False, "--replace", help="Replace the unit's earlier boxes instead of adding to them."),
        group: Optional[str] = typer.Option(None, "--group", help="Group for group-aware splits (default: the unit's lot "
                                                                  "from the store)."),
        db: Optional[str] = typer.Option(None, "--db", help="Results database (with --unit); default $GV_DB."),
        unit: Optional[str] = typer.Option(None, "--unit", help="Image sha256 of a stored unit (a unique prefix of at "
                                                                "least 8 hex digits); its photo is read from the store's path."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    ) -> None:
        """Add a unit labelled by an inspector (after a review or a miss) to a training dataset.

        With --golden the photo is aligned to the golden (the pipeline's calibration and
        registration) and stored in golden px beside the golden's reference image, the frame in
        which `inspect` reports defect regions; boxes are then golden px. Without --golden the
        photo is stored as it is and boxes are photo px (EXIF orientation applied). The same
        unit labelled again adds its boxes to the earlier ones (or replaces them with --replace).
        """
        from .labelling import LabelError, label_unit

        if (image is None) == (unit is None):
            _usage("give the unit's photo IMAGE, or --unit SHA256 (with --db), not both")
        meta: dict[str, Any] = {}
        if unit is not None:
            image, meta = _unit_image(db, unit)
        elif db is not None:
            _usage("--db is used with --unit")
        assert image is not None
        if not image.is_file():
            raise InputNotFoundError(f"{image}: photo not found")
        boxes = [parse_box(b) for b in box or []]
        if good and boxes:
            _usage("--good says the unit has no defect; give no --box with it")
        if not good and not boxes:
            _usage("give at least one --box x1,y1,x2,y2 with its --class, or --good for a unit without defects")
        if good and (cls or severity):
            _usage("--good takes no --class or --severity")
        if boxes and len(cls or []) not in (1, len(boxes)):
            _usage(f"--class: give one for every box or one per box ({len(boxes)}), got {len(cls or [])}")
        if severity and len(severity) not in (1, len(boxes)):
            _usage(f"--severity: give one for every box or one per box ({len(boxes)}), got {len(severity)}")
        inspector = None
        if golden is not None:
            from . import Inspector, load_golden

            if not golden.exists():
                raise InputNotFoundError(f"{golden}: golden package not found")
            g = load_golden(golden)
            gid = ((g.meta or {}).get("package") or {}).get("golden_id")
            if meta.get("golden_id") and gid and meta["golden_id"] != gid:
                _usage(f"--unit {unit} was inspected against golden {meta['golden_id']}, --golden is {gid}")
            inspector = Inspector(g)
        try:
            done = label_unit(dataset, image, inspector=inspector, boxes=boxes, classes=list(cls or []),
                              severities=list(severity or []) or None, good=good, replace=replace,
                              group=group or meta.get("lot"), source="goldenvision label", image_name=image.name)
        except LabelError as exc:  # exit 65, like a malformed dataset
            raise LabelError(f"{image.name}: {exc}") from None
        summary = {"dataset": str(dataset), "image": str(image), **{k: done[k] for k in (
            "frame", "boxes_added", "n_samples", "n_annotations", "classes", "class_counts")}}
        if as_json:
            print(json.dumps(summary))
        else:
            n = done["boxes_added"]
            what = f"{n} box(es) ({done['frame']})" if n else "a unit without defects"
            Console().print(f"added {what} from {image} to {dataset}: {done['n_samples']} images, "
                            f"{done['n_annotations']} boxes", highlight=False, soft_wrap=True)
