"""The internal ``gv`` dataset format on disk: ``DIR/dataset.json`` (+ ``DIR/images/``).

``dataset.json``::

    {"format": "goldenvision.dataset", "version": 1,
     "classes": ["open", "short", ...],
     "samples": [{"image": "images/3f2a....png", "template": "images/91bc....png" | null,
                  "width": 640, "height": 640, "group": "group00041" | null,
                  "origin": "trainval.txt:12",
                  "annotations": [{"box_xyxy": [x1, y1, x2, y2], "label": "open",
                                   "severity": "major", "polygon": [[x, y], ...]}]}]}

Paths are relative to ``DIR`` (absolute when an image lies elsewhere and was not copied).
Boxes and polygons are in image px (see :mod:`goldenvision.datasets.core`). Copied images are
named by the first 16 hex digits of their sha256, so the same image is stored once and
re-adding it replaces rather than duplicates. ``origin`` records where a sample came from.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import OutputExistsError
from .core import (
    Dataset,
    DatasetError,
    Sample,
    _register,
    check_classes,
    make_annotation,
    probe_image,
    sample_where,
    validate,
)

__all__ = ["save_dataset", "load_gv", "add_samples", "FORMAT_TAG", "FORMAT_VERSION", "DATASET_FILE"]

FORMAT_TAG = "goldenvision.dataset"
FORMAT_VERSION = 1
DATASET_FILE = "dataset.json"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _store(path: Path, out: Path, copy_images: bool, copied: dict[Path, str]) -> str:
    """Path of ``path`` as written in dataset.json (copying it into out/images/ when asked)."""
    path = path.resolve()
    if copy_images:
        if path not in copied:
            images = out / "images"
            images.mkdir(parents=True, exist_ok=True)
            if path.parent == images.resolve():
                copied[path] = f"images/{path.name}"
            else:
                try:
                    digest = _sha256_file(path)
                except FileNotFoundError:
                    raise DatasetError("image does not exist", file=path) from None
                name = f"{digest[:16]}{path.suffix.lower()}"
                dest = images / name
                if not dest.exists():
                    tmp = images / f".{name}.tmp"
                    shutil.copyfile(path, tmp)
                    os.replace(tmp, dest)
                copied[path] = f"images/{name}"
        return copied[path]
    try:
        return path.relative_to(out.resolve()).as_posix()
    except ValueError:
        return str(path)


def _sample_record(s: Sample, out: Path, copy_images: bool, copied: dict[Path, str]) -> dict[str, Any]:
    return {
        "image": _store(s.image, out, copy_images, copied),
        "template": None if s.template is None else _store(s.template, out, copy_images, copied),
        "width": int(s.width),
        "height": int(s.height),
        "group": s.group,
        "origin": s.origin or s.source,
        "annotations": [a.to_dict() for a in s.annotations],
    }


def _write_json(out: Path, doc: dict[str, Any]) -> Path:
    target = out / DATASET_FILE
    tmp = out / f".{DATASET_FILE}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


def save_dataset(ds: Dataset, out_dir: "str | Path", *, copy_images: bool = True, force: bool = False) -> Path:
    """Write ``ds`` as ``out_dir/dataset.json`` (+ ``out_dir/images/`` with ``copy_images``).

    Parameters
    ----------
    ds : Dataset
    out_dir : str or Path
        Created if needed. An existing ``dataset.json`` is replaced only with ``force=True``.
    copy_images : bool, keyword-only
        Copy images and templates into ``out_dir/images/`` (named by sha256) so the folder is
        self-contained; otherwise refer to them where they are.
    force : bool, keyword-only

    Returns
    -------
    Path
        The ``dataset.json`` written. ``load_dataset(out_dir, "gv")`` reads it back.
    """
    out = Path(out_dir).expanduser()
    if (out / DATASET_FILE).exists() and not force:
        raise OutputExistsError(f"{out / DATASET_FILE} exists; pass force=True (--force) to replace it")
    out.mkdir(parents=True, exist_ok=True)
    copied: dict[Path, str] = {}
    doc = {
        "format": FORMAT_TAG,
        "version": FORMAT_VERSION,
        "classes": list(ds.classes),
        "samples": [_sample_record(s, out, copy_images, copied) for s in ds.samples],
    }
    return _write_json(out, doc)


def _expect(cond: bool, message: str, file: Path, jp: str) -> None:
    if not cond:
        raise DatasetError(message, file=file, json_path=jp)


@_register("gv")
def load_gv(path: Path, *, classes: Sequence[str] | None = None) -> Dataset:
    """Read a gv dataset (a folder holding ``dataset.json``, or that file)."""
    f = path / DATASET_FILE if path.is_dir() else path
    if not f.is_file():
        raise DatasetError(f"no {DATASET_FILE} in this folder", file=path)
    root = f.parent
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"not valid JSON ({exc})", file=f) from None
    _expect(isinstance(doc, dict) and doc.get("format") == FORMAT_TAG,
            f"expected a JSON object with format={FORMAT_TAG!r}", f, "format")
    _expect(doc.get("version") == FORMAT_VERSION, f"version {doc.get('version')!r}: this goldenvision reads "
            f"version {FORMAT_VERSION}", f, "version")
    cls = doc.get("classes")
    _expect(isinstance(cls, list) and all(isinstance(c, str) and c for c in cls), "expected a list of class names",
            f, "classes")
    found = check_classes(cls, classes, file=f, json_path="classes")
    recs = doc.get("samples")
    _expect(isinstance(recs, list), "expected a list", f, "samples")
    samples = []
    for i, r in enumerate(recs):
        jp = f"samples[{i}]"
        _expect(isinstance(r, dict) and isinstance(r.get("image"), str), "expected an object with an image path", f, jp)
        image = (root / r["image"]).resolve()
        template = None
        if r.get("template") is not None:
            _expect(isinstance(r["template"], str), "expected a path or null", f, jp + ".template")
            template = (root / r["template"]).resolve()
        if not image.is_file():
            raise DatasetError(f"image {r['image']} does not exist", file=f, json_path=jp + ".image")
        if template is not None and not template.is_file():
            raise DatasetError(f"template {r['template']} does not exist", file=f, json_path=jp + ".template")
        w, h = probe_image(image, decode=False)
        if "width" in r or "height" in r:
            _expect((r.get("width"), r.get("height")) == (w, h),
                    f"states {r.get('width')}x{r.get('height')}, the image {r['image']} is {w}x{h}", f, jp)
        anns = r.get("annotations", [])
        _expect(isinstance(anns, list), "expected a list", f, jp + ".annotations")
        out = []
        for k, a in enumerate(anns):
            ajp = f"{jp}.annotations[{k}]"
            _expect(isinstance(a, dict) and isinstance(a.get("box_xyxy"), list) and len(a["box_xyxy"]) == 4,
                    "expected an object with box_xyxy [x1, y1, x2, y2]", f, ajp)
            out.append(make_annotation(a["box_xyxy"], a.get("label"), width=w, height=h,  # type: ignore[arg-type]
                                       source=sample_where(f, None, ajp), severity=a.get("severity"),
                                       polygon=a.get("polygon")))
        group = r.get("group")
        origin = r.get("origin")
        samples.append(Sample(image, template, tuple(out), w, h, sample_where(f, None, jp),
                              None if group is None else str(group), None if origin is None else str(origin)))
    return Dataset(found, tuple(samples), "gv", root)


def add_samples(out_dir: "str | Path", samples: Sequence[Sample], *, classes: Sequence[str],
                replace: bool = False) -> Dataset:
    """Add samples to the gv dataset in ``out_dir`` (created if missing); return the dataset written.

    A sample whose image bytes (sha256) are already in the dataset is merged with it: its
    annotations are added (identical ones kept once), or with ``replace=True`` replace the old
    ones. Classes not yet in the dataset are appended to its class list, so the indices of
    existing classes never change. Images are copied into ``out_dir/images/``.
    """
    out = Path(out_dir).expanduser()
    if (out / DATASET_FILE).exists():
        existing = load_gv(out.resolve())
        validate(existing, decode=False)
        cls = list(existing.classes)
        old = list(existing.samples)
    else:
        cls, old = [], []
    for c in classes:
        if c not in cls:
            cls.append(c)
    by_sha: dict[str, int] = {}
    for i, s in enumerate(old):
        by_sha.setdefault(_sha256_file(s.image), i)
    for s in samples:
        sha = _sha256_file(s.image)
        if sha in by_sha:
            i = by_sha[sha]
            prev = old[i]
            anns = s.annotations if replace else prev.annotations + tuple(a for a in s.annotations
                                                                           if a not in prev.annotations)
            old[i] = Sample(prev.image, s.template or prev.template, anns, prev.width, prev.height, prev.source,
                            s.group or prev.group, prev.origin)
        else:
            by_sha[sha] = len(old)
            old.append(s)
    ds = Dataset(tuple(cls), tuple(old), "gv", out.resolve())
    validate(ds, decode=True)
    out.mkdir(parents=True, exist_ok=True)
    copied: dict[Path, str] = {}
    doc = {"format": FORMAT_TAG, "version": FORMAT_VERSION, "classes": list(ds.classes),
           "samples": [_sample_record(s, out, True, copied) for s in ds.samples]}
    _write_json(out, doc)
    return load_gv(out.resolve())
