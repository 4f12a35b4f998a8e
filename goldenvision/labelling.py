"""An inspector's label on a judged unit becomes training data (the feedback loop).

One function, :func:`label_unit`, is shared by ``goldenvision label`` on the command line, the
station's operator page and the upload service: the unit is aligned to the golden exactly as
``inspect`` aligned it, stored in golden px beside the golden's reference image (its template),
and its boxes (golden px, the frame in which results report defect regions) are added to a
``gv`` dataset that ``goldenvision train --resume`` reads.

A unit labelled again adds its boxes to the earlier ones (identical boxes are kept once), or
replaces them with ``replace=True``. Labelling ``good=True`` records a unit without defects
(a false alarm after a review), which trains the detector not to fire there.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Any
from collections.abc import Mapping, Sequence

import numpy as np

from .errors import GoldenVisionError

__all__ = ["LabelError", "SEVERITIES", "boxes_from_mapping", "check_label_request", "known_classes", "label_unit"]

SEVERITIES = ("critical", "major", "minor")
_CLASS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-/]{0,63}$")
_lock = threading.Lock()  # one writer of a dataset folder per process (station page + its CLI share none)


class LabelError(GoldenVisionError, ValueError):
    """A label that cannot be recorded (bad box, class or severity, or a unit that cannot be aligned)."""


def _write_png(folder: Path, rgb: np.ndarray) -> Path:
    """Write an RGB array as PNG named by the sha256 of its bytes (deterministic, so a re-label merges)."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover
        raise OSError("PNG encoding failed")
    data = buf.tobytes()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:16]}.png"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path.resolve()


def check_label_request(
    boxes: Sequence[Sequence[float]], classes: Sequence[str], severities: Sequence[str | None] | None,
    *, good: bool, width: int, height: int,
) -> tuple[list[tuple[float, float, float, float]], list[str], list[str | None]]:
    """Validate one label: boxes inside a ``width`` x ``height`` image, a class (one for all or
    one per box) of at most 64 plain characters, a severity from :data:`SEVERITIES`.

    Returns the boxes (clipped by at most half a pixel of rounding), one class and one severity
    per box. Raises :class:`LabelError` with what is wrong.
    """
    if good:
        if boxes:
            raise LabelError("a unit labelled good has no defect boxes")
        if classes or [s for s in severities or () if s]:
            raise LabelError("a unit labelled good takes no class or severity")
        return [], [], []
    if not boxes:
        raise LabelError("give at least one defect box, or label the unit good")
    if len(boxes) > 200:
        raise LabelError(f"{len(boxes)} boxes in one label; at most 200")
    names = [str(c).strip() for c in classes]
    if len(names) not in (1, len(boxes)):
        raise LabelError(f"give one class for every box or one per box ({len(boxes)}), got {len(names)}")
    for n in names:
        if not _CLASS_RE.match(n):
            raise LabelError(f"class {n[:80]!r}: 1-64 letters, digits, space, '_', '-', '.' or '/', "
                             "starting with a letter or digit")
    names = names * len(boxes) if len(names) == 1 else names
    sevs = [None if s in (None, "") else str(s) for s in (severities or [])]
    if sevs and len(sevs) not in (1, len(boxes)):
        raise LabelError(f"give one severity for every box or one per box ({len(boxes)}), got {len(sevs)}")
    for s in sevs:
        if s is not None and s not in SEVERITIES:
            raise LabelError(f"severity {s[:40]!r}: expected one of {', '.join(SEVERITIES)}")
    sevs = (sevs * len(boxes) if len(sevs) == 1 else sevs) or [None] * len(boxes)
    out = []
    for k, b in enumerate(boxes, 1):
        try:
            x1, y1, x2, y2 = (float(v) for v in b)
        except (TypeError, ValueError):
            raise LabelError(f"box {k}: expected four numbers x1, y1, x2, y2") from None
        if not all(np.isfinite([x1, y1, x2, y2])):
            raise LabelError(f"box {k}: coordinates must be finite numbers")
        if x1 < -0.5 or y1 < -0.5 or x2 > width + 0.5 or y2 > height + 0.5:
            raise LabelError(f"box {k} ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies outside the image "
                             f"({width} x {height} px)")
        x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)
        if x2 - x1 < 1.0 or y2 - y1 < 1.0:
            raise LabelError(f"box {k} is empty or under 1 px (x1 < x2 and y1 < y2 are needed)")
        out.append((x1, y1, x2, y2))
    return out, names, sevs


def label_unit(
    dataset: str | Path,
    image: Any,
    *,
    inspector: Any | None = None,
    boxes: Sequence[Sequence[float]] = (),
    classes: Sequence[str] = (),
    severities: Sequence[str | None] | None = None,
    good: bool = False,
    replace: bool = False,
    group: str | None = None,
    source: str = "label",
    image_name: str | None = None,
) -> dict[str, Any]:
    """Add one labelled unit to the gv dataset in ``dataset`` (created if missing).

    Parameters
    ----------
    dataset : path
        The gv dataset folder.
    image : path, bytes or array
        The unit's photo as it was judged.
    inspector : Inspector or None
        With an inspector the unit is aligned to its golden and stored in golden px with the
        golden's reference as template; ``boxes`` are then golden px. Without one the photo is
        stored as it is (a path is referenced, bytes/arrays are written as PNG) and boxes are
        photo px.
    boxes, classes, severities, good, replace, group
        The label (see :func:`check_label_request`); ``group`` keeps a lot together in splits.
    source : str
        Where the label came from (stored with the sample, e.g. ``"station line-1"``).

    Returns
    -------
    dict
        ``dataset``, ``frame`` (``"golden px"`` or ``"photo px"``), ``boxes_added``,
        ``n_samples``, ``n_annotations``, ``classes`` and ``class_counts``.

    Raises
    ------
    LabelError
        A bad box, class or severity.
    GoldenVisionError
        The photo cannot be read, or (with an inspector) the unit cannot be aligned.
    """
    from .datasets import Annotation, Sample, add_samples, probe_image
    from .imageio import load_image

    out = Path(dataset).expanduser()
    if inspector is not None:
        ev = inspector.evidence(image)  # RegistrationError / ImageError: the unit cannot be placed in golden px
        h, w = ev["warped"].shape[:2]
        bxs, names, sevs = check_label_request(boxes, classes, severities, good=good, width=w, height=h)
        with _lock:
            sample_image = _write_png(out / "images", ev["warped"])
            template: Path | None = _write_png(out / "images", ev["golden"])
        frame = "golden px"
        sha = ev.get("image_sha256")
    else:
        if isinstance(image, (str, Path)):
            sample_image = Path(image).resolve()
            if not sample_image.is_file():
                raise LabelError(f"{image}: photo not found")
            w, h = probe_image(sample_image)
            sha = None
        else:
            loaded = load_image(image, name=image_name)
            h, w = loaded.rgb.shape[:2]
            with _lock:
                sample_image = _write_png(out / "images", loaded.rgb)
            sha = loaded.sha256
        bxs, names, sevs = check_label_request(boxes, classes, severities, good=good, width=w, height=h)
        template = None
        frame = "photo px"
    w, h = probe_image(sample_image)
    label_name = image_name or (Path(image).name if isinstance(image, (str, Path)) else "unit")
    anns = tuple(Annotation(b, n, s, source=f"{label_name}: box {k + 1}")
                 for k, (b, n, s) in enumerate(zip(bxs, names, sevs)))
    src = f"{source} {label_name}" + (f" (unit {str(sha)[:12]})" if sha else "")
    sample = Sample(sample_image, template, anns, w, h, src, group)
    with _lock:
        ds = add_samples(out, [sample], classes=names, replace=replace)
    return {"dataset": str(out), "frame": frame, "boxes_added": len(anns), "good": bool(good),
            "n_samples": len(ds.samples), "n_annotations": ds.n_annotations, "classes": list(ds.classes),
            "class_counts": dict(ds.class_counts()), "image_sha256": sha}


def known_classes(dataset: str | Path | None, extra: Sequence[str] = ()) -> list[str]:
    """The classes a labelling page offers: the dataset's, then ``extra`` (e.g. a detector's)."""
    names: list[str] = []
    if dataset is not None and (Path(dataset) / "dataset.json").is_file():
        try:
            from .datasets import load_dataset

            names = list(load_dataset(Path(dataset), "gv").classes)
        except Exception:  # a page's class list must never fail  # noqa: BLE001
            names = []
    for c in extra:
        if c not in names:
            names.append(c)
    return names


def boxes_from_mapping(items: Sequence[Mapping[str, Any]]) -> tuple[list[list[float]], list[str], list[str | None]]:
    """``[{"box": [x1,y1,x2,y2], "class": ..., "severity": ...}, ...]`` (a JSON request) -> lists."""
    if not isinstance(items, (list, tuple)):
        raise LabelError("'defects' must be a list of {box, class, severity}")
    boxes, classes, sevs = [], [], []
    for k, it in enumerate(items, 1):
        if not isinstance(it, Mapping) or "box" not in it or "class" not in it:
            raise LabelError(f"defect {k}: expected an object with 'box' and 'class'")
        b = it["box"]
        if not isinstance(b, (list, tuple)) or len(b) != 4:
            raise LabelError(f"defect {k}: 'box' must be [x1, y1, x2, y2]")
        boxes.append(list(b))
        classes.append(str(it["class"]))
        sevs.append(it.get("severity"))
    return boxes, classes, sevs
