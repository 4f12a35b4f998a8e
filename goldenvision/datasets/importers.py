"""Importers: COCO JSON, Pascal VOC, YOLO text, Label Studio JSON, DeepPCB (the gv format is in :mod:`.gv`).

Each importer reads one layout into a :class:`~goldenvision.datasets.core.Dataset` and refuses,
with the file and line (or JSON path), every record it cannot take exactly; the shared
validator (:func:`~goldenvision.datasets.core.validate`) then checks images, classes and boxes.
Every annotation in the source becomes one annotation here or an error: none is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .core import (
    Annotation,
    Dataset,
    DatasetError,
    Sample,
    _register,
    check_classes,
    make_annotation,
    probe_image,
    sample_where,
)

__all__ = ["DEEPPCB_CLASSES", "load_deeppcb"]

#: DeepPCB defect types 1..6 (Tang et al. 2019, "Online PCB defect detector on a new PCB defect dataset").
DEEPPCB_CLASSES = ("open", "short", "mousebite", "spur", "copper", "pin-hole")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _read_lines(path: Path, *, what: str, where: tuple[Path, int] | None = None) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        if where is not None:
            raise DatasetError(f"{what} {path} does not exist", file=where[0], line=where[1]) from None
        raise DatasetError(f"{what} does not exist", file=path) from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{what} is not UTF-8 text ({exc})", file=path) from None
    except OSError as exc:
        raise DatasetError(f"cannot read {what} ({exc})", file=path) from None


# --------------------------------------------------------------------------------------
# DeepPCB
# --------------------------------------------------------------------------------------
def _deeppcb_list(path: Path) -> Path:
    if path.is_file():
        return path
    found = [path / n for n in ("trainval.txt", "test.txt") if (path / n).is_file()]
    if len(found) != 1:
        raise DatasetError("expected exactly one list file (trainval.txt or test.txt) in the folder, found "
                           f"{[p.name for p in found]}; give the list file itself", file=path)
    return found[0]


def _deeppcb_pair(root: Path, listed: str) -> tuple[Path, Path]:
    """(test image, template image) of a listed ``groupN/N/<id>.jpg`` (the files are ``<id>_test.jpg``, ``<id>_temp.jpg``)."""
    p = root / listed
    stem = p.stem
    for tag in ("_test", "_temp"):
        if stem.endswith(tag):
            stem = stem[: -len(tag)]
    return p.with_name(f"{stem}_test{p.suffix}"), p.with_name(f"{stem}_temp{p.suffix}")


_DEEPPCB_SPLIT = re.compile(r"[,\s]+")


def _deeppcb_annotations(ann: Path, width: int, height: int) -> tuple[Annotation, ...]:
    out = []
    for j, raw in enumerate(_read_lines(ann, what="annotation file"), start=1):
        text = raw.strip()
        if not text:
            continue
        parts = [t for t in _DEEPPCB_SPLIT.split(text) if t]
        src = sample_where(ann, j)
        if len(parts) != 5:
            raise DatasetError(f"expected 'x1 y1 x2 y2 type' (5 values), got {text!r}", file=ann, line=j)
        try:
            box = [float(v) for v in parts[:4]]
            kind = int(parts[4])
        except ValueError:
            raise DatasetError(f"expected 'x1 y1 x2 y2 type' with numbers, got {text!r}", file=ann, line=j) from None
        if not (1 <= kind <= len(DEEPPCB_CLASSES)):
            raise DatasetError(f"unknown class: defect type {kind}; DeepPCB types are 1..{len(DEEPPCB_CLASSES)} "
                               f"({', '.join(f'{i + 1} {n}' for i, n in enumerate(DEEPPCB_CLASSES))})", file=ann, line=j)
        out.append(make_annotation(box, DEEPPCB_CLASSES[kind - 1], width=width, height=height, source=src))
    return tuple(out)


@_register("deeppcb")
def load_deeppcb(path: Path, *, classes: Sequence[str] | None = None) -> Dataset:
    """Read the DeepPCB layout (Tang et al. 2019; github.com/tangsanli5201/DeepPCB).

    ``path`` is the list file (``trainval.txt`` or ``test.txt``) or the folder holding exactly
    one of them. Each list line is ``groupN/N/<id>.jpg groupN/N_not/<id>.txt`` (paths relative to
    the list file); the images are ``<id>_test.jpg`` (the unit) and ``<id>_temp.jpg`` (its
    defect-free template, :attr:`Sample.template`); each annotation line is
    ``x1 y1 x2 y2 type`` in image px (spaces or commas), type 1..6 =
    :data:`DEEPPCB_CLASSES`. The group is the first folder (``groupN``).
    """
    listing = _deeppcb_list(path)
    root = listing.parent
    found = check_classes(DEEPPCB_CLASSES, classes, file=listing)
    samples = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(_read_lines(listing, what="list file"), start=1):
        text = raw.strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) != 2:
            raise DatasetError(f"expected 'groupN/N/<id>.jpg groupN/N_not/<id>.txt', got {text!r}", file=listing, line=i)
        if parts[0] in seen:
            raise DatasetError(f"{parts[0]} is listed twice (first on line {seen[parts[0]]})", file=listing, line=i)
        seen[parts[0]] = i
        test, temp = _deeppcb_pair(root, parts[0])
        for p, what in ((test, "test image"), (temp, "template image")):
            if not p.is_file():
                raise DatasetError(f"{what} {p.relative_to(root).as_posix()} does not exist", file=listing, line=i)
        ann = root / parts[1]
        if not ann.is_file():
            raise DatasetError(f"annotation file {parts[1]} does not exist", file=listing, line=i)
        w, h = probe_image(test, decode=False)
        group = Path(parts[0]).parts[0] if len(Path(parts[0]).parts) > 1 else None
        samples.append(Sample(test, temp, _deeppcb_annotations(ann, w, h), w, h, sample_where(listing, i), group))
    if not samples:
        raise DatasetError("the list file names no image pairs", file=listing)
    return Dataset(found, tuple(samples), "deeppcb", root)
