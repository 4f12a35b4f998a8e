"""The internal dataset format: images (with their golden/template image), boxes and masks, classes, severity.

Every importer (:mod:`.importers`) turns a labelled dataset into a :class:`Dataset` and
the validator (:func:`validate`) checks it before :func:`load_dataset` returns it. An error
names the file and the line (or the JSON path) where the bad record is::

    anns/0001.txt:3: box (600.0, 10.0, 700.0, 40.0) lies outside the 640x640 image

Frames: every box and polygon is in **image px** of the sample's image as goldenvision reads
it (:func:`goldenvision.imageio.read_image`: EXIF orientation applied), x right, y down,
pixel centres at integer coordinates, ``box_xyxy = (x1, y1, x2, y2)`` with the outer edges
of the box (COCO/VOC/YOLO convention). A box may overhang the image by at most
:data:`BOX_TOLERANCE_PX` (0.5 px, rounding in the labelling tool); it is then clipped to the
image. Anything further out is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GoldenVisionError, InputNotFoundError

__all__ = [
    "DatasetError",
    "Annotation",
    "Sample",
    "Dataset",
    "SEVERITIES",
    "BOX_TOLERANCE_PX",
    "FORMATS",
    "load_dataset",
    "save_dataset",
    "validate",
    "probe_image",
    "read_sample",
]

#: Severities an annotation may carry (as in the spec sheet's ``severity``).
SEVERITIES = ("critical", "major", "minor")
#: A box may overhang the image by this much (labelling-tool rounding); it is clipped. Further out is refused.
BOX_TOLERANCE_PX = 0.5
#: Largest image accepted in a dataset (width * height), as :data:`goldenvision.imageio.DEFAULT_MAX_PIXELS`.
MAX_PIXELS = 50_000_000


class DatasetError(GoldenVisionError, ValueError):
    """A dataset is malformed. ``str()`` reads ``file:line: message`` (or ``file: json.path: message``).

    Attributes
    ----------
    file : str or None
        The file holding the bad record (annotation file, list file, JSON export, image).
    line : int or None
        1-based line in ``file`` (text formats), else None.
    json_path : str or None
        Where in a JSON file (``annotations[3].bbox``), else None.
    """

    def __init__(self, message: str, *, file: "str | Path | None" = None, line: int | None = None,
                 json_path: str | None = None) -> None:
        self.file = None if file is None else str(file)
        self.line = line
        self.json_path = json_path
        self.reason = message
        where = ""
        if self.file is not None:
            where = self.file + (f":{line}" if line is not None else "") + ": "
        if json_path:
            where += json_path + ": "
        super().__init__(where + message)


def _fmt_num(v: float) -> str:
    return f"{v:g}"


@dataclass(frozen=True)
class Annotation:
    """One labelled defect.

    Attributes
    ----------
    box_xyxy : tuple of 4 float
        ``(x1, y1, x2, y2)`` in image px, ``x1 < x2``, ``y1 < y2``, inside the image.
    label : str
        Class name, one of :attr:`Dataset.classes`.
    severity : {"critical", "major", "minor"} or None
    polygon : tuple of (x, y) or None
        Optional mask outline in image px (at least 3 points).
    source : str or None
        Where the record came from (``file:line`` or ``file: json.path``); not compared.
    """

    box_xyxy: tuple[float, float, float, float]
    label: str
    severity: str | None = None
    polygon: tuple[tuple[float, float], ...] | None = None
    source: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"box_xyxy": [float(v) for v in self.box_xyxy], "label": self.label}
        if self.severity is not None:
            d["severity"] = self.severity
        if self.polygon is not None:
            d["polygon"] = [[float(x), float(y)] for x, y in self.polygon]
        return d


@dataclass(frozen=True)
class Sample:
    """One image with its annotations (none for a defect-free image).

    Attributes
    ----------
    image : Path
        Absolute path of the image.
    template : Path or None
        The golden / template image of the same view, where one exists (DeepPCB ``*_temp.jpg``,
        a golden's reference image), in the same frame as ``image``.
    annotations : tuple of Annotation
    width, height : int
        Image size in px as goldenvision reads it (EXIF orientation applied).
    source : str
        Where the sample came from (``file:line`` or a file).
    group : str or None
        Group for group-aware splits (DeepPCB group, product, lot).
    origin : str or None
        Where the sample first came from, kept through the gv format (``source`` is where it
        was read last); not compared.
    """

    image: Path
    template: Path | None
    annotations: tuple[Annotation, ...]
    width: int
    height: int
    source: str
    group: str | None = None
    origin: str | None = field(default=None, compare=False)


def _file_sha256(path: Path, cache: dict[Path, str]) -> str:
    if path not in cache:
        h = hashlib.sha256()
        try:
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except FileNotFoundError:
            raise DatasetError("image does not exist", file=path) from None
        except OSError as exc:
            raise DatasetError(f"cannot read image ({exc})", file=path) from None
        cache[path] = h.hexdigest()
    return cache[path]


def _sample_digest(s: Sample, cache: dict[Path, str]) -> str:
    """Hash of one sample's content: image bytes, template bytes, size, group, annotations (sorted)."""
    anns = sorted(json.dumps(a.to_dict(), sort_keys=True) for a in s.annotations)
    rec = {
        "image": _file_sha256(s.image, cache),
        "template": None if s.template is None else _file_sha256(s.template, cache),
        "size": [s.width, s.height],
        "annotations": anns,
    }
    return hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Dataset:
    """A labelled dataset in the internal format.

    Attributes
    ----------
    classes : tuple of str
        Class names; a detector's class index ``i`` is ``classes[i]``.
    samples : tuple of Sample
    source_format : str
        The format it was read from (one of :data:`FORMATS`) or ``"gv"``.
    root : Path
        The folder the dataset was read from (image paths are absolute anyway).
    """

    classes: tuple[str, ...]
    samples: tuple[Sample, ...]
    source_format: str
    root: Path

    def class_counts(self) -> dict[str, int]:
        """Number of annotations per class, in class order (zero counts included)."""
        c = Counter(a.label for s in self.samples for a in s.annotations)
        return {k: int(c.get(k, 0)) for k in self.classes}

    @property
    def n_annotations(self) -> int:
        return sum(len(s.annotations) for s in self.samples)

    def summary(self) -> dict[str, Any]:
        """Counts for a report or a model card (no file is read): format, classes, images, boxes per class."""
        return {
            "format": self.source_format,
            "root": str(self.root),
            "classes": list(self.classes),
            "n_samples": len(self.samples),
            "n_with_template": sum(s.template is not None for s in self.samples),
            "n_without_defects": sum(not s.annotations for s in self.samples),
            "n_annotations": self.n_annotations,
            "class_counts": self.class_counts(),
        }

    def _digests(self) -> list[str]:
        cache: dict[Path, str] = {}
        return [_sample_digest(s, cache) for s in self.samples]

    def content_sha256(self) -> str:
        """SHA-256 of the content: every image's and template's bytes, sizes, annotations and the classes.

        Independent of the order in which samples (and annotations within a sample) are
        listed and of where the files lie; the class order counts (it defines class indices).
        Reads every image file (the hash is of the bytes on disk now).
        """
        return self._content_sha256(self._digests())

    def _content_sha256(self, digests: Iterable[str]) -> str:
        h = hashlib.sha256()
        h.update(json.dumps({"classes": list(self.classes)}).encode())
        for d in sorted(digests):
            h.update(d.encode())
        return h.hexdigest()

    def split(self, *, val_fraction: float | None = None, n_val: int | None = None, seed: int = 0,
              by_group: bool = False) -> tuple["Dataset", "Dataset", dict[str, Any]]:
        """Deterministic train / validation split.

        Samples are ordered by their content digest (so the split does not depend on the
        listing order or on where the files lie), then shuffled by ``numpy.random.default_rng(seed)``;
        the first ``n_val`` go to validation. With ``by_group=True`` whole groups
        (:attr:`Sample.group`) are drawn in that order until at least ``n_val`` samples are in
        validation, so no group is on both sides.

        Parameters
        ----------
        val_fraction : float, keyword-only
            Fraction of samples for validation, in (0, 1); ``n_val = round(fraction * n)``.
        n_val : int, keyword-only
            Number of validation samples (give exactly one of ``val_fraction`` and ``n_val``).
        seed : int, keyword-only
        by_group : bool, keyword-only

        Returns
        -------
        train, val : Dataset
        record : dict
            JSON-serialisable: seed, sizes, the content hash of the whole and of each side, and
            per side the list of ``{"image": path relative to root, "sha256": sample digest}``;
            write it beside a model so the split can be checked and repeated.
        """
        n = len(self.samples)
        if (val_fraction is None) == (n_val is None):
            raise DatasetError(f"split: give exactly one of val_fraction and n_val, got val_fraction={val_fraction!r}, "
                               f"n_val={n_val!r}")
        if val_fraction is not None:
            if not (0.0 < float(val_fraction) < 1.0):
                raise DatasetError(f"split: val_fraction must be in (0, 1), got {val_fraction!r}")
            n_val = int(round(float(val_fraction) * n))
        assert n_val is not None
        if not (1 <= int(n_val) <= n - 1):
            raise DatasetError(f"split: n_val must leave at least one sample on each side of {n}, got {n_val}")
        n_val = int(n_val)
        digests = self._digests()
        order = sorted(range(n), key=lambda i: (digests[i], str(self.samples[i].image)))
        rng = np.random.default_rng(int(seed))
        val_idx: set[int] = set()
        if by_group:
            groups: dict[str, list[int]] = {}
            for i in order:
                g = self.samples[i].group
                if g is None:
                    raise DatasetError(f"split(by_group=True): sample {self.samples[i].source} has no group")
                groups.setdefault(g, []).append(i)
            names = sorted(groups)
            for k in rng.permutation(len(names)):
                if len(val_idx) >= n_val:
                    break
                val_idx.update(groups[names[int(k)]])
            if len(val_idx) >= n:
                raise DatasetError(f"split(by_group=True): {len(names)} group(s) cannot leave a training side "
                                   f"with n_val={n_val}")
        else:
            perm = rng.permutation(n)
            val_idx = {order[int(k)] for k in perm[:n_val]}
        train_idx = [i for i in order if i not in val_idx]
        val_list = [i for i in order if i in val_idx]

        def side(idx: list[int]) -> Dataset:
            return replace(self, samples=tuple(self.samples[i] for i in idx))

        def rel(p: Path) -> str:
            try:
                return p.relative_to(self.root).as_posix()
            except ValueError:
                return str(p)

        def listing(idx: list[int]) -> list[dict[str, str]]:
            return [{"image": rel(self.samples[i].image), "sha256": digests[i]} for i in idx]

        record = {
            "seed": int(seed),
            "by_group": bool(by_group),
            "val_fraction": None if val_fraction is None else float(val_fraction),
            "n_total": n,
            "n_train": len(train_idx),
            "n_val": len(val_list),
            "dataset_sha256": self._content_sha256(digests),
            "train_sha256": self._content_sha256(digests[i] for i in train_idx),
            "val_sha256": self._content_sha256(digests[i] for i in val_list),
            "classes": list(self.classes),
            "train": listing(train_idx),
            "val": listing(val_list),
        }
        if by_group:
            record["val_groups"] = sorted({str(self.samples[i].group) for i in val_list})
        return side(train_idx), side(val_list), record

    def resume_split(self, old: dict[str, Any]) -> tuple["Dataset", "Dataset", dict[str, Any]]:
        """The split of ``old`` (a :meth:`split` record) carried onto this dataset, grown since.

        A sample recorded on a side stays there, matched by its content digest or by its image
        path (a relabelled image keeps its side: a validation image never moves to training).
        A sample the record does not know is new and goes to validation when
        ``sha256("<seed>:<digest>")``, read as a fraction in [0, 1), is below the recorded
        validation fraction ``n_val / n_total`` (with ``by_group``: a new sample of a recorded
        group follows its group; a new group is drawn the same way on its name). The rule looks
        at each new sample alone, so the same samples land on the same side whatever their order.

        Returns
        -------
        train, val : Dataset
        record : dict
            As :meth:`split`, plus ``new_train`` / ``new_val`` (samples that joined each side)
            and ``missing`` (recorded samples no longer in the dataset).

        Raises
        ------
        DatasetError
            ``old`` is not a split record, or leaves a side empty.
        """
        try:
            seed = int(old["seed"])
            by_group = bool(old.get("by_group", False))
            old_train = [(str(e["image"]), str(e["sha256"])) for e in old["train"]]
            old_val = [(str(e["image"]), str(e["sha256"])) for e in old["val"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"resume_split: not a split record ({exc!r})") from None
        n_old = len(old_train) + len(old_val)
        if not old_val or not old_train:
            raise DatasetError(f"resume_split: the recorded split has {len(old_train)} train / {len(old_val)} "
                               "validation samples; both sides must be non-empty")
        fraction = len(old_val) / n_old
        val_keys = {k for pair in old_val for k in pair}
        train_keys = {k for pair in old_train for k in pair}
        val_groups = set(old.get("val_groups") or [])
        digests = self._digests()
        order = sorted(range(len(self.samples)), key=lambda i: (digests[i], str(self.samples[i].image)))

        def rel(p: Path) -> str:
            try:
                return p.relative_to(self.root).as_posix()
            except ValueError:
                return str(p)

        def draw(key: str) -> bool:
            h = hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
            return int(h[:13], 16) / float(16 ** 13) < fraction

        train_groups = set()
        for i in order:
            if digests[i] in train_keys or rel(self.samples[i].image) in train_keys:
                train_groups.add(self.samples[i].group)
        val_idx: list[int] = []
        train_idx: list[int] = []
        new_val = new_train = 0
        seen: set[str] = set()
        for i in order:
            s, d, r = self.samples[i], digests[i], rel(self.samples[i].image)
            if d in val_keys or r in val_keys:
                val_idx.append(i)
            elif d in train_keys or r in train_keys:
                train_idx.append(i)
            else:
                if by_group and s.group is not None and (s.group in val_groups or s.group in train_groups):
                    to_val = s.group in val_groups
                else:
                    to_val = draw(str(s.group) if by_group and s.group is not None else d)
                (val_idx if to_val else train_idx).append(i)
                new_val += int(to_val)
                new_train += int(not to_val)
                continue
            seen.update((d, r))
        missing = sorted(img for img, dg in old_train + old_val if img not in seen and dg not in seen)
        if not train_idx or not val_idx:
            raise DatasetError(f"resume_split: {len(train_idx)} train / {len(val_idx)} validation samples; "
                               "both sides must be non-empty")

        def listing(idx: list[int]) -> list[dict[str, str]]:
            return [{"image": rel(self.samples[i].image), "sha256": digests[i]} for i in idx]

        record: dict[str, Any] = {
            "seed": seed,
            "by_group": by_group,
            "val_fraction": old.get("val_fraction"),
            "n_total": len(self.samples),
            "n_train": len(train_idx),
            "n_val": len(val_idx),
            "dataset_sha256": self._content_sha256(digests),
            "train_sha256": self._content_sha256(digests[i] for i in train_idx),
            "val_sha256": self._content_sha256(digests[i] for i in val_idx),
            "classes": list(self.classes),
            "train": listing(train_idx),
            "val": listing(val_idx),
            "new_train": new_train,
            "new_val": new_val,
            "missing": missing,
        }
        if by_group:
            record["val_groups"] = sorted(val_groups | {str(self.samples[i].group) for i in val_idx})

        def side(idx: list[int]) -> Dataset:
            return replace(self, samples=tuple(self.samples[i] for i in idx))

        return side(train_idx), side(val_idx), record


# --------------------------------------------------------------------------------------
# Images: size from the header, truncation check, sha256
# --------------------------------------------------------------------------------------
_SWAP_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that turn the image by 90 degrees


def probe_image(path: "str | Path", *, decode: bool = True) -> tuple[int, int]:
    """``(width, height)`` of an image file as goldenvision reads it (EXIF orientation applied).

    The size comes from the header. With ``decode=True`` (default) the pixel data is decoded
    as well so that a truncated or corrupt file is refused here; JPEG is decoded at 1/8 scale
    (Pillow's ``draft``: every entropy-coded block is still read, at a fraction of the cost).

    Raises
    ------
    DatasetError
        Missing, unreadable, not an image, too large, truncated or corrupt; the message names the file.
    """
    from PIL import Image, ImageFile, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise DatasetError("image does not exist" if not p.exists() else "image is not a regular file", file=p)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read image ({exc})", file=p) from None
    if not data:
        raise DatasetError("image file is empty (0 bytes)", file=p)
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise DatasetError("refusing to check images while PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True", file=p)
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise DatasetError("not a recognised image file (expected JPEG, PNG, TIFF, BMP or WebP)", file=p) from None
    except Exception as exc:  # DecompressionBombError, OSError, SyntaxError...
        raise DatasetError(f"cannot open image ({type(exc).__name__}: {exc})", file=p) from None
    with im:
        w, h = im.size
        if w <= 0 or h <= 0 or w * h > MAX_PIXELS:
            raise DatasetError(f"image size {w}x{h} is empty or exceeds {MAX_PIXELS} pixels", file=p)
        try:
            orientation = int(im.getexif().get(0x0112, 1) or 1)
        except Exception:
            orientation = 1
        if decode:
            try:
                if im.format == "JPEG":
                    im.draft(im.mode, (max(1, w // 8), max(1, h // 8)))
                im.load()
            except Exception as exc:
                raise DatasetError(f"corrupt or truncated {im.format} image ({type(exc).__name__}: {exc})",
                                   file=p) from None
    return (h, w) if orientation in _SWAP_ORIENTATIONS else (w, h)


def read_sample(sample: Sample) -> tuple[np.ndarray, np.ndarray | None]:
    """The sample's image and template as ``(H, W, 3)`` uint8 RGB (:func:`goldenvision.imageio.read_image`).

    Raises
    ------
    DatasetError
        A file cannot be read, or its size differs from the sample's (boxes would not fit).
    """
    from ..errors import ImageError
    from ..imageio import read_image

    out: list[np.ndarray | None] = []
    for p in (sample.image, sample.template):
        if p is None:
            out.append(None)
            continue
        try:
            rgb = read_image(p)
        except ImageError as exc:
            raise DatasetError(str(exc), file=p) from None
        if rgb.shape[:2] != (sample.height, sample.width):
            raise _err_at(sample.source, f"{p} reads as {rgb.shape[1]}x{rgb.shape[0]}, the sample states "
                                         f"{sample.width}x{sample.height}")
        out.append(rgb)
    image = out[0]
    assert image is not None
    return image, out[1]


# --------------------------------------------------------------------------------------
# Building and validating annotations
# --------------------------------------------------------------------------------------
def _where(file: "str | Path", line: int | None = None, json_path: str | None = None) -> str:
    s = str(file) + (f":{line}" if line is not None else "")
    return s + (f": {json_path}" if json_path else "")


def _err_at(source: str | None, message: str) -> DatasetError:
    """A DatasetError at an annotation's ``source`` string (``file:line`` or ``file: json.path``)."""
    if source is None:
        return DatasetError(message)
    m = re.fullmatch(r"(.*):(\d+)", source)
    if m:
        return DatasetError(message, file=m.group(1), line=int(m.group(2)))
    if ": " in source:
        f, jp = source.split(": ", 1)
        return DatasetError(message, file=f, json_path=jp)
    return DatasetError(message, file=source)


def _finite(values: Sequence[float], what: str, source: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise _err_at(source, f"{what}: expected numbers, got {list(values)!r}") from None
    if not all(math.isfinite(v) for v in out):
        raise _err_at(source, f"{what}: expected finite numbers, got {list(values)!r}")
    return out


def _check_box(box: Sequence[float], width: int, height: int, source: str) -> tuple[float, float, float, float]:
    """Validate and clip a box (image px); refuses empty, negative or outside boxes."""
    x1, y1, x2, y2 = _finite(box, "box", source)
    shown = "(" + ", ".join(_fmt_num(v) for v in (x1, y1, x2, y2)) + ")"
    if not (x2 > x1 and y2 > y1):
        raise _err_at(source, f"box {shown} is empty or negative (expected x1 < x2 and y1 < y2)")
    t = BOX_TOLERANCE_PX
    if x1 < -t or y1 < -t or x2 > width + t or y2 > height + t:
        raise _err_at(source, f"box {shown} lies outside the {width}x{height} image "
                              f"(at most {t:g} px of rounding is accepted)")
    x1, y1 = max(0.0, x1), max(0.0, y1)
    x2, y2 = min(float(width), x2), min(float(height), y2)
    if not (x2 > x1 and y2 > y1):
        raise _err_at(source, f"box {shown} has no area inside the {width}x{height} image")
    return (x1, y1, x2, y2)


def _check_polygon(poly: Sequence[Sequence[float]], width: int, height: int,
                   source: str) -> tuple[tuple[float, float], ...]:
    pts = []
    for p in poly:
        if len(p) != 2:
            raise _err_at(source, f"polygon point {list(p)!r}: expected (x, y)")
        x, y = _finite(p, "polygon", source)
        t = BOX_TOLERANCE_PX
        if x < -t or y < -t or x > width + t or y > height + t:
            raise _err_at(source, f"polygon point ({_fmt_num(x)}, {_fmt_num(y)}) lies outside the {width}x{height} "
                                  f"image (at most {t:g} px of rounding is accepted)")
        pts.append((min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))))
    if len(pts) < 3:
        raise _err_at(source, f"polygon has {len(pts)} point(s); expected at least 3")
    return tuple(pts)


def _bbox_of(poly: Sequence[tuple[float, float]]) -> tuple[float, float, float, float]:
    xs = [p[0] for p in poly]
    ys = [p[1] for p in poly]
    return (min(xs), min(ys), max(xs), max(ys))


def make_annotation(box: Sequence[float], label: str, *, width: int, height: int, source: str,
                    severity: str | None = None, polygon: Sequence[Sequence[float]] | None = None) -> Annotation:
    """A checked :class:`Annotation` (box and polygon inside the image, severity known)."""
    if severity is not None and severity not in SEVERITIES:
        raise _err_at(source, f"severity {severity!r}: expected one of {list(SEVERITIES)}")
    if not isinstance(label, str) or not label.strip():
        raise _err_at(source, f"class label {label!r}: expected a non-empty name")
    poly = None if polygon is None else _check_polygon(polygon, width, height, source)
    return Annotation(_check_box(box, width, height, source), label, severity, poly, source)


def check_classes(found: Sequence[str], given: Sequence[str] | None, *, file: "str | Path",
                  json_path: str | None = None) -> tuple[str, ...]:
    """The class list: the file's own (``found``), which must equal ``given`` when that is passed."""
    found = tuple(found)
    if len(set(found)) != len(found):
        dup = sorted(k for k, v in Counter(found).items() if v > 1)
        raise DatasetError(f"class list repeats {dup}", file=file, json_path=json_path)
    if given is not None and tuple(given) != found:
        raise DatasetError(f"class map does not match: the dataset has {list(found)}, classes= gives {list(given)}",
                           file=file, json_path=json_path)
    return found


def validate(ds: Dataset, *, decode: bool = True) -> Dataset:
    """Check a dataset; return it unchanged or raise :class:`DatasetError` at the first problem.

    Checks: classes non-empty and unique; every image and template exists and reads (header
    size equals the sample's size; with ``decode`` a truncated or corrupt file is refused);
    a template has the image's size; every annotation's class is in ``classes``, its box and
    polygon lie inside the image (within :data:`BOX_TOLERANCE_PX`) and are not empty.
    """
    if not ds.classes and any(s.annotations for s in ds.samples):
        raise DatasetError("no classes", file=ds.root)
    check_classes(ds.classes, None, file=ds.root)
    known = set(ds.classes)
    for s in ds.samples:
        w, h = probe_image(s.image, decode=decode)
        if (w, h) != (s.width, s.height):
            raise _err_at(s.source, f"image {s.image} is {w}x{h}, the dataset states {s.width}x{s.height}")
        if s.template is not None:
            tw, th = probe_image(s.template, decode=decode)
            if (tw, th) != (w, h):
                raise _err_at(s.source, f"template {s.template} is {tw}x{th}, its image {s.image} is {w}x{h}")
        for a in s.annotations:
            src = a.source or s.source
            if a.label not in known:
                raise _err_at(src, f"unknown class {a.label!r}; expected one of {list(ds.classes)}")
            make_annotation(a.box_xyxy, a.label, width=w, height=h, source=src, severity=a.severity,
                            polygon=a.polygon)
    return ds


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------
Loader = Callable[..., Dataset]
_LOADERS: dict[str, Loader] = {}


def _register(name: str) -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        _LOADERS[name] = fn
        return fn
    return deco


#: Formats :func:`load_dataset` reads.
FORMATS: tuple[str, ...] = ("coco", "voc", "yolo", "labelstudio", "deeppcb", "gv")


def load_dataset(path: "str | Path", format: str, *, classes: Sequence[str] | None = None,
                 decode: bool = True) -> Dataset:
    """Read and validate a labelled dataset.

    Parameters
    ----------
    path : str or Path
        The dataset: a folder, or its main file (COCO/Label Studio JSON, DeepPCB list file,
        gv ``dataset.json``); see each importer in :mod:`goldenvision.datasets.importers`.
    format : {"coco", "voc", "yolo", "labelstudio", "deeppcb", "gv"}
    classes : sequence of str, optional, keyword-only
        Expected class names in index order. Formats with their own class list (COCO, YOLO,
        DeepPCB, gv) refuse a different one; for VOC and Label Studio it fixes the classes
        and their order (otherwise the sorted set of labels found).
    decode : bool, keyword-only
        Decode every image to refuse truncated or corrupt files (default); False reads headers only.

    Returns
    -------
    Dataset

    Raises
    ------
    InputNotFoundError
        ``path`` does not exist.
    DatasetError
        Malformed data, with the file and line or JSON path.
    """
    from . import gv, importers  # noqa: F401  (register the loaders)

    if format not in _LOADERS:
        raise DatasetError(f"format={format!r}: expected one of {list(FORMATS)}")
    p = Path(path).expanduser()
    if not p.exists():
        raise InputNotFoundError(f"{p}: no such dataset file or folder")
    if classes is not None:
        classes = tuple(classes)
        if not classes:
            raise DatasetError("classes= is empty")
    ds = _LOADERS[format](p.resolve(), classes=classes)
    return validate(ds, decode=decode)


def save_dataset(ds: Dataset, out_dir: "str | Path", *, copy_images: bool = True, force: bool = False) -> Path:
    """Write ``ds`` in the internal ``gv`` format; see :func:`goldenvision.datasets.gv.save_dataset`."""
    from .gv import save_dataset as _save

    return _save(ds, out_dir, copy_images=copy_images, force=force)


def sample_where(file: "str | Path", line: int | None = None, json_path: str | None = None) -> str:
    """The ``source`` string of a record (``file:line`` or ``file: json.path``)."""
    return _where(file, line, json_path)
