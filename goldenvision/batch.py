"""Inspect a folder of unit photos into a results folder: one row per photo, by image SHA-256.

The results folder holds ``results.jsonl`` (one :meth:`UnitResult.to_dict` per line) and
``results.csv`` (the same units, one line each). Rows are appended as each unit is judged
(nothing is lost on a crash) and the folder is then compacted: a photo judged again (same
image SHA-256) **replaces** its earlier row in place, so re-running a batch or a lot into the
same folder never duplicates a unit and a report re-rendered from it counts each photo once.

Nothing here prints; progress goes to an optional ``progress(stage, done, total)`` callback.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Mapping, Sequence

from .errors import GoldenVisionError, InputNotFoundError, SpecError
from .golden import GoldenSample
from .results import UnitResult, Verdict

__all__ = [
    "IMAGE_SUFFIXES",
    "RESULTS_JSONL",
    "RESULTS_CSV",
    "CSV_COLUMNS",
    "ProgressCallback",
    "BatchResult",
    "list_images",
    "row_key",
    "read_results",
    "write_results",
    "inspect_file",
    "inspect_batch",
    "worst_verdict",
]

#: File suffixes taken as unit photos (case-insensitive).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"
CSV_COLUMNS = ("unit_id", "image_sha256", "verdict", "defect_class", "anomaly_score", "total_ms", "reasons")

#: ``progress(stage, done, total)``: called after each step of a long call.
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BatchResult:
    """What :func:`inspect_batch` judged and where it wrote it.

    Attributes
    ----------
    results : tuple of UnitResult
        This run's units, in the order of ``paths``.
    paths : tuple of Path
        The photos, in order.
    out_dir : Path
        The results folder.
    replaced : int
        Rows of earlier runs that this run replaced (same image SHA-256).
    rows_in_folder : int
        Rows in the folder after compaction (one per distinct photo).
    """

    results: tuple[UnitResult, ...]
    paths: tuple[Path, ...]
    out_dir: Path
    replaced: int
    rows_in_folder: int

    @property
    def counts(self) -> dict[str, int]:
        """Units per verdict value (``pass``, ``fail``, ``review``) in this run."""
        return {v.value: sum(r.verdict is v for r in self.results) for v in Verdict}

    @property
    def worst(self) -> Verdict:
        """The worst verdict of this run: fail over review over pass (pass for none)."""
        return worst_verdict(r.verdict for r in self.results)

    @property
    def jsonl_path(self) -> Path:
        return self.out_dir / RESULTS_JSONL

    @property
    def csv_path(self) -> Path:
        return self.out_dir / RESULTS_CSV


def worst_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    """Fail if any is fail, else review if any is review, else pass (also for none)."""
    seen = set(verdicts)
    for v in (Verdict.failed, Verdict.review):
        if v in seen:
            return v
    return Verdict.passed


def list_images(directory: "str | os.PathLike[str]") -> list[Path]:
    """The unit photos in a folder, sorted by name.

    Raises
    ------
    InputNotFoundError
        The folder does not exist, is not a folder, or holds no photo.
    """
    d = Path(directory)
    if not d.exists():
        raise InputNotFoundError(f"{d}: folder of photos not found")
    if not d.is_dir():
        raise InputNotFoundError(f"{d}: expected a folder of photos, got a file")
    paths = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InputNotFoundError(f"{d}: expected photos ({', '.join(sorted(IMAGE_SUFFIXES))}), found none")
    return paths


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def row_key(row: Mapping[str, Any]) -> str:
    """The identity of a results row: its image SHA-256, else (older rows) its unit id."""
    sha = (row.get("provenance") or {}).get("image_sha256")
    if isinstance(sha, str) and sha:
        return f"sha256:{sha}"
    return f"unit:{row.get('unit_id')}"


def _dedupe(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per key: the last row of a key, at the place of its first."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        out[row_key(row)] = row  # a dict keeps the first insertion's position
    return list(out.values())


def read_results(path: "str | os.PathLike[str]") -> list[dict[str, Any]]:
    """The rows of a ``results.jsonl``, one per photo (a later row replaces an earlier one of the same image).

    Raises
    ------
    InputNotFoundError
        The file does not exist.
    GoldenVisionError
        A line is not a JSON object (the message names the line).
    """
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(f"{p}: recorded results (results.jsonl) not found")
    rows = []
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _BadResults(f"{p}: line {i}: expected a JSON object, could not parse it ({exc})") from None
        if not isinstance(row, dict) or "verdict" not in row:
            raise _BadResults(f"{p}: line {i}: expected a unit result object with a verdict")
        rows.append(row)
    return _dedupe(rows)


class _BadResults(GoldenVisionError, ValueError):
    """A results file that cannot be read back."""


def _csv_row(row: Mapping[str, Any]) -> list[str]:
    score = row.get("anomaly_score")
    return [
        str(row.get("unit_id") or ""),
        str((row.get("provenance") or {}).get("image_sha256") or ""),
        str(row.get("verdict")),
        row.get("defect_class") or "",
        "" if score is None else f"{score:.3f}",
        f"{(row.get('timings_ms') or {}).get('total', 0):.1f}",
        " | ".join(row.get("reasons") or ()),
    ]


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(out_dir: "str | os.PathLike[str]", rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``results.jsonl`` and ``results.csv`` from ``rows`` (each atomically, replacing the files)."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    _atomic_write(d / RESULTS_JSONL, "".join(json.dumps(r) + "\n" for r in rows))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow(_csv_row(r))
    _atomic_write(d / RESULTS_CSV, buf.getvalue())


def inspect_file(inspector: Any, path: "str | os.PathLike[str]", *, context: Mapping[str, Any] | None = None) -> UnitResult:
    """Inspect one photo with an Inspector; the result carries the file name and its image SHA-256.

    ``context`` (checked) is merged with the photo's sidecar JSON (``photo.jpg.json``), the
    sidecar winning field by field. A stage that refuses the photo, or a
    bad sidecar, gives verdict ``review`` with the reason (a batch never stops on one bad photo).
    """
    from .context import read_sidecar

    p = Path(path)
    try:
        ctx = {**dict(context or {}), **read_sidecar(p)}
        result = inspector.inspect(str(p), context=ctx)
    except GoldenVisionError as exc:
        result = UnitResult(verdict=Verdict.review, reasons=(f"{type(exc).__name__}: {exc}",), registration=None)
    provenance = dict(result.provenance)
    if not provenance.get("image_sha256"):
        try:
            provenance["image_sha256"] = _sha256_file(p)
        except OSError:
            pass  # the reason already says why the photo could not be read
    return dataclasses.replace(result, unit_id=p.name, provenance=provenance)


def inspect_batch(
    paths: Sequence["str | os.PathLike[str]"],
    golden: GoldenSample,
    out_dir: "str | os.PathLike[str]",
    *,
    inspector: Any = None,
    progress: ProgressCallback | None = None,
    stage: str = "inspecting",
    context: Mapping[str, Any] | None = None,
    store: Any = None,
) -> BatchResult:
    """Inspect photos against a golden, recording each unit in ``out_dir`` as soon as it is judged.

    Parameters
    ----------
    paths : sequence of path
        The photos (see :func:`list_images`).
    golden : GoldenSample
    out_dir : path
        Results folder (created). Rows already there for other photos are kept; a photo judged
        again (same image SHA-256) replaces its row.
    inspector : Inspector, optional, keyword-only
        One already held for ``golden`` (default: a new ``Inspector(golden)``).
    progress : callable (stage, done, total), optional, keyword-only
    stage : str, keyword-only
        The stage name given to ``progress``.
    context : mapping, optional, keyword-only
        Capture context of every photo (lot, shift, ...); a sidecar JSON beside a photo
        overrides it field by field.
    store : goldenvision.store.Store, optional, keyword-only
        Also record every unit there as it is judged (idempotent by image sha256 and golden id).

    Returns
    -------
    BatchResult
    """
    from .pipeline import Inspector

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / RESULTS_JSONL
    before = read_results(jsonl) if jsonl.exists() else []
    earlier = {row_key(r) for r in before}
    write_results(out, before)  # a clean CSV to append to
    held = Inspector(golden) if inspector is None else inspector
    golden_id = None
    if store is not None:
        pkg = golden.meta.get("package") or {}
        golden_id = pkg.get("golden_id")
        if not golden_id:
            raise SpecError("store: only a sealed golden (saved and loaded) can be the reference of stored results")
        store.record_golden(golden_id, golden.spec.product, pkg)
    results: list[UnitResult] = []
    new_keys: set[str] = set()
    files = [Path(p) for p in paths]
    with open(jsonl, "a", encoding="utf-8") as jf, open(out / RESULTS_CSV, "a", encoding="utf-8", newline="") as cf:
        writer = csv.writer(cf)
        for i, p in enumerate(files):
            result = inspect_file(held, p, context=context)
            results.append(result)
            row = result.to_dict()
            if store is not None and row.get("provenance", {}).get("image_sha256"):
                store.record_result(row, golden_id=golden_id, file=str(p),
                                    image_sha256=row["provenance"]["image_sha256"], context=row.get("context"))
            new_keys.add(row_key(row))
            jf.write(json.dumps(row) + "\n")
            jf.flush()
            writer.writerow(_csv_row(row))
            cf.flush()
            if progress:
                progress(stage, i + 1, len(files))
    rows = read_results(jsonl)
    write_results(out, rows)
    return BatchResult(results=tuple(results), paths=tuple(files), out_dir=out,
                       replaced=len(earlier & new_keys), rows_in_folder=len(rows))
