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

__all__ = ["DEEPPCB_CLASSES", "IMAGE_SUFFIXES", "load_coco", "load_deeppcb", "load_labelstudio", "load_voc", "load_yolo"]

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


# --------------------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------------------
def _load_json(path: Path) -> object:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"not valid JSON ({exc})", file=path) from None
    except OSError as exc:
        raise DatasetError(f"cannot read ({exc})", file=path) from None


def _json_file(path: Path, fmt: str, preferred: Sequence[str]) -> Path:
    if path.is_file():
        return path
    for n in preferred:
        if (path / n).is_file():
            return path / n
    found = sorted(path.glob("*.json"))
    if len(found) != 1:
        raise DatasetError(f"expected one {fmt} JSON file in the folder, found {[p.name for p in found]}; "
                           "give the file itself", file=path)
    return found[0]


def _find_image(root: Path, name: str, *, file: Path, json_path: str | None = None, line: int | None = None) -> Path:
    """The image ``name`` (a relative path, or an absolute one) next to the annotation file or in ``images/``."""
    p = Path(name)
    candidates = [p] if p.is_absolute() else [root / p, root / "images" / p, root / "images" / p.name, root / p.name]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    tried = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise DatasetError(f"image {name} does not exist (looked for {tried})", file=file, line=line, json_path=json_path)


def _size_matches(stated: tuple[object, object], actual: tuple[int, int], *, image: Path, file: Path,
                  json_path: str | None = None, line: int | None = None) -> None:
    if stated != actual:
        raise DatasetError(f"states the image size {stated[0]}x{stated[1]}, the image {image} is "
                           f"{actual[0]}x{actual[1]}", file=file, json_path=json_path, line=line)


def _label_classes(labels: Sequence[str], given: Sequence[str] | None, file: Path) -> tuple[str, ...]:
    """Classes of a format without a class list: ``given`` (labels must be among them) or the sorted labels found."""
    if given is not None:
        return check_classes(given, None, file=file)
    found = tuple(sorted(set(labels)))
    if not found:
        raise DatasetError("no labelled objects and no classes= given: the class list is unknown", file=file)
    return found


# --------------------------------------------------------------------------------------
# COCO
# --------------------------------------------------------------------------------------
def _coco_severity(a: dict) -> object:
    attrs = a.get("attributes")
    return a.get("severity", attrs.get("severity") if isinstance(attrs, dict) else None)


@_register("coco")
def load_coco(path: Path, *, classes: Sequence[str] | None = None) -> Dataset:
    """Read a COCO object-detection JSON (``images``, ``annotations``, ``categories``).

    ``path`` is the JSON file or a folder holding it (``annotations.json``, ``instances.json``
    or the only ``*.json``). ``file_name`` is looked up beside the JSON, then in ``images/``.
    Classes are the category names in the order of their ``id``. ``bbox`` is ``[x, y, w, h]``
    in image px; a ``segmentation`` of one polygon becomes :attr:`Annotation.polygon`
    (RLE masks and several-part polygons keep their box only). A severity is read from
    ``severity`` or ``attributes.severity`` when present. ``width``/``height`` must match the image.
    """
    f = _json_file(path, "COCO", ("annotations.json", "instances.json", "_annotations.coco.json"))
    root = f.parent
    doc = _load_json(f)
    if not isinstance(doc, dict):
        raise DatasetError("expected a JSON object with images, annotations and categories", file=f)
    cats = doc.get("categories")
    if not isinstance(cats, list) or not cats:
        raise DatasetError("expected a non-empty list of {id, name}", file=f, json_path="categories")
    by_id: dict[int, str] = {}
    for k, c in enumerate(cats):
        if not (isinstance(c, dict) and isinstance(c.get("id"), int) and isinstance(c.get("name"), str) and c["name"]):
            raise DatasetError("expected {id: int, name: str}", file=f, json_path=f"categories[{k}]")
        if c["id"] in by_id:
            raise DatasetError(f"category id {c['id']} is used twice", file=f, json_path=f"categories[{k}]")
        by_id[c["id"]] = c["name"]
    found = check_classes([by_id[i] for i in sorted(by_id)], classes, file=f, json_path="categories")
    imgs = doc.get("images")
    if not isinstance(imgs, list):
        raise DatasetError("expected a list", file=f, json_path="images")
    images: dict[int, tuple[Path, int, int, str]] = {}
    order: list[int] = []
    for k, im in enumerate(imgs):
        jp = f"images[{k}]"
        if not (isinstance(im, dict) and isinstance(im.get("id"), int) and isinstance(im.get("file_name"), str)):
            raise DatasetError("expected {id: int, file_name: str, width, height}", file=f, json_path=jp)
        if im["id"] in images:
            raise DatasetError(f"image id {im['id']} is used twice", file=f, json_path=jp)
        p = _find_image(root, im["file_name"], file=f, json_path=jp + ".file_name")
        w, h = probe_image(p, decode=False)
        if "width" in im or "height" in im:
            _size_matches((im.get("width"), im.get("height")), (w, h), image=p, file=f, json_path=jp)
        images[im["id"]] = (p, w, h, jp)
        order.append(im["id"])
    anns_of: dict[int, list[Annotation]] = {i: [] for i in images}
    raw_anns = doc.get("annotations")
    if not isinstance(raw_anns, list):
        raise DatasetError("expected a list", file=f, json_path="annotations")
    for k, a in enumerate(raw_anns):
        jp = f"annotations[{k}]"
        if not isinstance(a, dict):
            raise DatasetError("expected an object", file=f, json_path=jp)
        if a.get("image_id") not in images:
            raise DatasetError(f"image_id {a.get('image_id')!r} is not in images; the annotation would be lost",
                               file=f, json_path=jp + ".image_id")
        if a.get("category_id") not in by_id:
            raise DatasetError(f"unknown class: category_id {a.get('category_id')!r} is not in categories "
                               f"{sorted(by_id)}", file=f, json_path=jp + ".category_id")
        bbox = a.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise DatasetError(f"expected bbox [x, y, w, h], got {bbox!r}", file=f, json_path=jp + ".bbox")
        p, w, h, _ = images[a["image_id"]]
        src = sample_where(f, None, jp)
        try:
            x, y, bw, bh = (float(v) for v in bbox)
        except (TypeError, ValueError):
            raise DatasetError(f"expected numbers in bbox, got {bbox!r}", file=f, json_path=jp + ".bbox") from None
        seg = a.get("segmentation")
        poly = None
        if isinstance(seg, list) and len(seg) == 1 and isinstance(seg[0], list):
            flat = seg[0]
            if len(flat) % 2 or len(flat) < 6:
                raise DatasetError(f"polygon of {len(flat)} numbers: expected x, y pairs, at least 3 points",
                                   file=f, json_path=jp + ".segmentation[0]")
            poly = [flat[i:i + 2] for i in range(0, len(flat), 2)]
        sev = _coco_severity(a)
        anns_of[a["image_id"]].append(make_annotation((x, y, x + bw, y + bh), by_id[a["category_id"]], width=w,
                                                      height=h, source=src, polygon=poly,
                                                      severity=None if sev is None else str(sev)))
    samples = tuple(Sample(images[i][0], None, tuple(anns_of[i]), images[i][1], images[i][2],
                           sample_where(f, None, images[i][3])) for i in order)
    return Dataset(found, samples, "coco", root)


# --------------------------------------------------------------------------------------
# Pascal VOC
# --------------------------------------------------------------------------------------
class _XmlNode:
    __slots__ = ("tag", "line", "children", "text")

    def __init__(self, tag: str, line: int) -> None:
        self.tag, self.line, self.text = tag, line, ""
        self.children: list[_XmlNode] = []

    def find(self, tag: str) -> "_XmlNode | None":
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list["_XmlNode"]:
        return [c for c in self.children if c.tag == tag]

    def findtext(self, tag: str) -> str | None:
        c = self.find(tag)
        return None if c is None else c.text.strip()


def _parse_xml(path: Path) -> _XmlNode:
    """Parse XML with line numbers (expat); DTDs and entities are refused (no entity expansion attacks)."""
    from xml.parsers import expat

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read ({exc})", file=path) from None
    parser = expat.ParserCreate()
    stack: list[_XmlNode] = []
    root: list[_XmlNode] = []

    def start(tag: str, attrs: dict) -> None:
        node = _XmlNode(tag, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack:
            stack[-1].text += text

    def refuse(*args: object) -> None:
        raise DatasetError("XML with a DTD or entity declarations is refused", file=path, line=parser.CurrentLineNumber)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise DatasetError(f"not well-formed XML ({expat.ErrorString(exc.code)})", file=path, line=exc.lineno) from None
    return root[0]


def _voc_pairs(path: Path) -> list[tuple[Path, Path | None]]:
    """(xml, image folder or None for side by side) of a VOC folder."""
    if (path / "Annotations").is_dir():
        img_dir = path / "JPEGImages"
        if not img_dir.is_dir():
            raise DatasetError("has Annotations/ but no JPEGImages/", file=path)
        return [(x, img_dir) for x in sorted((path / "Annotations").glob("*.xml"))]
    if path.is_file() and path.suffix.lower() == ".xml":
        return [(path, None)]
    return [(x, None) for x in sorted(path.glob("*.xml"))]


def _voc_image(xml: Path, img_dir: Path | None, filename: str | None, line: int | None) -> Path:
    folder = img_dir or xml.parent
    if filename:
        p = folder / Path(filename).name
        if p.is_file():
            return p.resolve()
    for suf in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
        p = folder / f"{xml.stem}{suf}"
        if p.is_file():
            return p.resolve()
    name = filename or f"{xml.stem}.*"
    raise DatasetError(f"image {folder / name} does not exist", file=xml, line=line)


def _voc_float(node: _XmlNode, tag: str, xml: Path) -> float:
    t = node.findtext(tag)
    if t is None:
        raise DatasetError(f"<{node.tag}> has no <{tag}>", file=xml, line=node.line)
    try:
        return float(t)
    except ValueError:
        raise DatasetError(f"<{tag}> {t!r}: expected a number", file=xml, line=node.line) from None


@_register("voc")
def load_voc(path: Path, *, classes: Sequence[str] | None = None) -> Dataset:
    """Read Pascal VOC XML: a folder with ``JPEGImages/`` + ``Annotations/``, or images with their ``.xml`` side by side.

    Each ``<object>`` needs ``<name>`` and ``<bndbox>`` (``xmin ymin xmax ymax``, taken as the
    box's pixel edges as written, as most labelling tools write them; the VOC devkit's own
    1-based files then read 1 px to the right and down). ``<size>``, when present, must match the
    image. VOC has no class list: ``classes=`` fixes it (other names are refused), else the
    sorted names found. An optional ``<severity>`` in an object is kept.
    """
    pairs = _voc_pairs(path)
    if not pairs:
        raise DatasetError("no VOC .xml annotation files (expected Annotations/*.xml or *.xml beside the images)",
                           file=path)
    root = path if path.is_dir() else path.parent
    parsed = []
    for xml, img_dir in pairs:
        doc = _parse_xml(xml)
        if doc.tag != "annotation":
            raise DatasetError(f"root element <{doc.tag}>: expected <annotation>", file=xml, line=doc.line)
        fn = doc.find("filename")
        image = _voc_image(xml, img_dir, doc.findtext("filename"), None if fn is None else fn.line)
        w, h = probe_image(image, decode=False)
        size = doc.find("size")
        if size is not None:
            stated = (int(_voc_float(size, "width", xml)), int(_voc_float(size, "height", xml)))
            _size_matches(stated, (w, h), image=image, file=xml, line=size.line)
        parsed.append((xml, doc, image, w, h))
    labels = [n for _, doc, *_ in parsed for o in doc.findall("object") if (n := o.findtext("name"))]
    found = _label_classes(labels, classes, root)
    samples = []
    for xml, doc, image, w, h in parsed:
        anns = []
        for o in doc.findall("object"):
            name = o.findtext("name")
            if not name:
                raise DatasetError("<object> has no <name>", file=xml, line=o.line)
            if name not in found:
                raise DatasetError(f"unknown class {name!r}; expected one of {list(found)}", file=xml, line=o.line)
            bb = o.find("bndbox")
            if bb is None:
                raise DatasetError("<object> has no <bndbox>; the object would be lost", file=xml, line=o.line)
            box = tuple(_voc_float(bb, t, xml) for t in ("xmin", "ymin", "xmax", "ymax"))
            anns.append(make_annotation(box, name, width=w, height=h, source=sample_where(xml, bb.line),
                                        severity=o.findtext("severity") or None))
        samples.append(Sample(image, None, tuple(anns), w, h, str(xml)))
    return Dataset(found, tuple(samples), "voc", root)


# --------------------------------------------------------------------------------------
# YOLO
# --------------------------------------------------------------------------------------
def _yolo_classes(root: Path) -> tuple[tuple[str, ...], Path]:
    for name in ("classes.txt", "obj.names", "classes.names"):
        p = root / name
        if p.is_file():
            lines = _read_lines(p, what="class list")
            while lines and not lines[-1].strip():
                lines.pop()
            for i, ln in enumerate(lines, start=1):
                if not ln.strip():
                    raise DatasetError("empty class name", file=p, line=i)
            return tuple(ln.strip() for ln in lines), p
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        p = root / name
        if p.is_file():
            import yaml

            try:
                doc = yaml.safe_load(p.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise DatasetError(f"not valid YAML ({exc})", file=p) from None
            names = doc.get("names") if isinstance(doc, dict) else None
            if isinstance(names, dict):
                keys = sorted(names)
                if keys != list(range(len(keys))):
                    raise DatasetError(f"names: expected ids 0..{len(keys) - 1}, got {keys}", file=p)
                names = [names[k] for k in keys]
            if not (isinstance(names, list) and names and all(isinstance(n, str) and n for n in names)):
                raise DatasetError("expected names: a list of class names (or {id: name})", file=p)
            return tuple(names), p
    raise DatasetError("no class list (classes.txt, obj.names or data.yaml with names)", file=root)


def _yolo_label_path(image: Path) -> Path:
    side = image.with_suffix(".txt")
    if side.is_file():
        return side
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            return Path(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt")
    return side


@_register("yolo")
def load_yolo(path: Path, *, classes: Sequence[str] | None = None) -> Dataset:
    """Read YOLO text labels: one ``class cx cy w h`` line per box (normalised to [0, 1]).

    ``path`` is the folder with the class list (``classes.txt``/``obj.names``, one name per
    line, or ``data.yaml`` with ``names``). Images anywhere below it; the labels of
    ``.../images/x.jpg`` are ``.../labels/x.txt`` or ``x.txt`` beside the image. An image
    without a label file has no defect. A line ``class x1 y1 x2 y2 x3 y3 ...`` (YOLO
    segmentation) gives a polygon and its box. A label file without its image is refused
    (its boxes would be lost).
    """
    if not path.is_dir():
        raise DatasetError("expected the YOLO dataset folder", file=path)
    names, cls_file = _yolo_classes(path)
    found = check_classes(names, classes, file=cls_file)
    images = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise DatasetError("no images below this folder", file=path)
    used: set[Path] = set()
    samples = []
    for img in images:
        w, h = probe_image(img, decode=False)
        lab = _yolo_label_path(img)
        anns = []
        if lab.is_file():
            used.add(lab.resolve())
            for j, raw in enumerate(_read_lines(lab, what="label file"), start=1):
                parts = raw.split()
                if not parts:
                    continue
                if not (len(parts) == 5 or (len(parts) >= 7 and len(parts) % 2 == 1)):
                    raise DatasetError(f"expected 'class cx cy w h' or 'class x1 y1 x2 y2 x3 y3 ...', got {raw.strip()!r}",
                                       file=lab, line=j)
                try:
                    k = int(parts[0])
                    vals = [float(v) for v in parts[1:]]
                except ValueError:
                    raise DatasetError(f"expected an integer class and numbers, got {raw.strip()!r}",
                                       file=lab, line=j) from None
                if not (0 <= k < len(found)):
                    raise DatasetError(f"unknown class id {k}; the class list has {len(found)} (0..{len(found) - 1})",
                                       file=lab, line=j)
                src = sample_where(lab, j)
                if len(vals) == 4:
                    cx, cy, bw, bh = vals
                    box = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
                    anns.append(make_annotation(box, found[k], width=w, height=h, source=src))
                else:
                    poly = [(vals[i] * w, vals[i + 1] * h) for i in range(0, len(vals), 2)]
                    xs, ys = [q[0] for q in poly], [q[1] for q in poly]
                    anns.append(make_annotation((min(xs), min(ys), max(xs), max(ys)), found[k], width=w, height=h,
                                                source=src, polygon=poly))
        samples.append(Sample(img.resolve(), None, tuple(anns), w, h, str(lab if lab.is_file() else img)))
    image_dirs = {i.parent for i in images}
    for t in sorted(path.rglob("*.txt")):
        if t.name in ("classes.txt",) or t.resolve() in used:
            continue
        if "labels" in t.relative_to(path).parts or t.parent in image_dirs:
            if any(ln.strip() for ln in _read_lines(t, what="label file")):
                raise DatasetError("label file has no image (looked for an image of the same name beside it or "
                                   "in the matching images/ folder); its boxes would be lost", file=t)
    return Dataset(found, tuple(samples), "yolo", path)


# --------------------------------------------------------------------------------------
# Label Studio
# --------------------------------------------------------------------------------------
def _ls_image(root: Path, ref: str, *, file: Path, json_path: str) -> Path:
    """The local file of a Label Studio ``data.image`` reference (upload, local-files or a plain path)."""
    from urllib.parse import parse_qs, unquote, urlparse

    u = urlparse(ref)
    names = []
    if "d" in parse_qs(u.query):  # /data/local-files/?d=folder/x.png (relative to the export's folder here)
        names.append(unquote(parse_qs(u.query)["d"][0]).lstrip("/"))
    base = Path(unquote(u.path)).name
    if base:
        names.append(base)
        m = re.fullmatch(r"[0-9a-f]{8}-(.+)", base)  # uploads are stored as "<8 hex>-<original name>"
        if m:
            names.append(m.group(1))
    for n in names:
        for c in (root / n, root / "images" / n, root / Path(n).name, root / "images" / Path(n).name):
            if c.is_file():
                return c.resolve()
    raise DatasetError(f"image {ref} does not exist (looked for {', '.join(dict.fromkeys(names))} beside the "
                       "export and in images/)", file=file, json_path=json_path)


def _ls_rect_polygon(v: dict, w: int, h: int) -> list[tuple[float, float]]:
    """Corners of a Label Studio rectangle (percent, rotated by ``rotation`` degrees about its top-left corner)."""
    import math

    x, y = float(v["x"]) * w / 100, float(v["y"]) * h / 100
    bw, bh = float(v["width"]) * w / 100, float(v["height"]) * h / 100
    a = math.radians(float(v.get("rotation", 0) or 0))
    c, s = math.cos(a), math.sin(a)
    return [(x + dx * c - dy * s, y + dx * s + dy * c) for dx, dy in ((0, 0), (bw, 0), (bw, bh), (0, bh))]


@_register("labelstudio")
def load_labelstudio(path: Path, *, classes: Sequence[str] | None = None) -> Dataset:
    """Read a Label Studio JSON export (a list of tasks) with ``rectanglelabels`` / ``polygonlabels``.

    Coordinates are percent of the image; ``original_width``/``original_height`` must match the
    image file, which is looked up by name beside the export or in ``images/`` (an upload's
    ``<8 hex>-`` prefix may be absent from the local name). A rotated rectangle becomes its
    polygon and bounding box. A ``choices`` result named ``severity`` on the same region (same
    ``id``) sets its severity. Each task must have at most one completed (not cancelled) annotation: several are
    refused rather than one picked. Other ``choices`` are ignored. Label Studio has no class list in the export: ``classes=``
    fixes it, else the sorted labels found.
    """
    f = _json_file(path, "Label Studio", ("export.json", "result.json"))
    root = f.parent
    doc = _load_json(f)
    if not isinstance(doc, list):
        raise DatasetError("expected a list of tasks (Label Studio 'JSON' export)", file=f)
    tasks = []
    for t, task in enumerate(doc):
        jp = f"[{t}]"
        if not (isinstance(task, dict) and isinstance(task.get("data"), dict)):
            raise DatasetError("expected a task object with data", file=f, json_path=jp)
        ref = task["data"].get("image")
        if not isinstance(ref, str):
            raise DatasetError("expected data.image (the image's URL or path)", file=f, json_path=jp + ".data.image")
        image = _ls_image(root, ref, file=f, json_path=jp + ".data.image")
        done = [(k, a) for k, a in enumerate(task.get("annotations") or [])
                if isinstance(a, dict) and not a.get("was_cancelled")]
        if len(done) > 1:
            raise DatasetError(f"{len(done)} completed annotations of one task; export one per task (or remove the "
                               "others) so that none is silently dropped", file=f, json_path=jp + ".annotations")
        results = []
        if done:
            k, a = done[0]
            res = a.get("result") or []
            if not isinstance(res, list):
                raise DatasetError("expected a list", file=f, json_path=f"{jp}.annotations[{k}].result")
            results = [(f"{jp}.annotations[{k}].result[{r}]", x) for r, x in enumerate(res)]
        tasks.append((jp, image, results))
    labels: list[str] = []
    for _, _, results in tasks:
        for _, r in results:
            if isinstance(r, dict) and r.get("type") in ("rectanglelabels", "polygonlabels"):
                lab = (r.get("value") or {}).get(r["type"]) or []
                labels.extend(x for x in lab if isinstance(x, str))
    found = _label_classes(labels, classes, f)
    samples = []
    for jp, image, results in tasks:
        w, h = probe_image(image, decode=False)
        severity = {r.get("id"): (r.get("value") or {}).get("choices") for _, r in results
                    if isinstance(r, dict) and r.get("type") == "choices" and r.get("from_name") == "severity"}
        anns = []
        for rjp, r in results:
            if not isinstance(r, dict):
                raise DatasetError("expected an object", file=f, json_path=rjp)
            kind = r.get("type")
            if kind == "choices":
                continue
            if kind not in ("rectanglelabels", "polygonlabels"):
                raise DatasetError(f"result type {kind!r}: expected rectanglelabels or polygonlabels; the region "
                                   "would be lost", file=f, json_path=rjp + ".type")
            if "original_width" in r or "original_height" in r:
                _size_matches((r.get("original_width"), r.get("original_height")), (w, h), image=image, file=f,
                              json_path=rjp)
            v = r.get("value")
            lab = v.get(kind) if isinstance(v, dict) else None
            if not (isinstance(lab, list) and len(lab) == 1 and isinstance(lab[0], str)):
                raise DatasetError(f"expected exactly one label in value.{kind}, got {lab!r}", file=f,
                                   json_path=rjp + f".value.{kind}")
            if lab[0] not in found:
                raise DatasetError(f"unknown class {lab[0]!r}; expected one of {list(found)}", file=f,
                                   json_path=rjp + f".value.{kind}")
            assert isinstance(v, dict)
            try:
                if kind == "rectanglelabels":
                    poly = _ls_rect_polygon(v, w, h)
                    rotated = bool(float(v.get("rotation", 0) or 0))
                else:
                    poly = [(float(p[0]) * w / 100, float(p[1]) * h / 100) for p in v["points"]]
                    rotated = True
            except (KeyError, TypeError, ValueError, IndexError):
                raise DatasetError("expected numeric x, y, width, height (or points) in percent", file=f,
                                   json_path=rjp + ".value") from None
            xs, ys = [q[0] for q in poly], [q[1] for q in poly]
            sev = severity.get(r.get("id")) if r.get("id") is not None else None
            sev_name = sev[0] if isinstance(sev, list) and len(sev) == 1 and isinstance(sev[0], str) else None
            anns.append(make_annotation((min(xs), min(ys), max(xs), max(ys)), lab[0], width=w, height=h,
                                        source=sample_where(f, None, rjp), polygon=poly if rotated else None,
                                        severity=sev_name.lower() if sev_name else None))
        samples.append(Sample(image, None, tuple(anns), w, h, sample_where(f, None, jp)))
    return Dataset(found, tuple(samples), "labelstudio", root)
