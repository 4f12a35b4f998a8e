"""Inspect a lot's seeded ISO 2859-1 sample into a results folder and record the lot verdict.

:func:`inspect_lot` is what ``goldenvision lot`` calls after printing the plan: it draws the
sample (:func:`goldenvision.lots.plan_sample`), inspects the sampled photos
(:func:`goldenvision.batch.inspect_batch`, one row per photo by image SHA-256), judges the lot
(:func:`goldenvision.lots.judge_lot`) and writes ``lot.json``. It prints nothing and writes
no report (the caller decides).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Mapping, Sequence

from .batch import BatchResult, ProgressCallback, inspect_batch
from .errors import OutputExistsError
from .golden import GoldenSample
from .lots import InspectionType, LotRecord, judge_lot, plan_sample

__all__ = ["LotInspection", "LOT_OUTPUTS", "lot_outputs", "inspect_lot"]

#: Files a lot inspection writes besides the results (never replaced without ``force``).
LOT_OUTPUTS = ("lot.json", "report.html", "report.pdf")


@dataclass(frozen=True)
class LotInspection:
    """A lot inspected on its sample: the record (plan, seed, sample, verdict) and the units judged."""

    record: LotRecord
    batch: BatchResult
    lot_json: Path


def lot_outputs(out_dir: "str | os.PathLike[str]") -> list[Path]:
    """The files of :data:`LOT_OUTPUTS` in ``out_dir``."""
    return [Path(out_dir) / name for name in LOT_OUTPUTS]


def inspect_lot(
    photos: Sequence["str | os.PathLike[str]"],
    golden: GoldenSample,
    out_dir: "str | os.PathLike[str]",
    *,
    seed: int,
    lot_size: int | None = None,
    inspection_type: InspectionType | str = InspectionType.psi,
    severity: str = "normal",
    completion_fraction: float | None = None,
    lot_id: str | None = None,
    force: bool = False,
    inspector: Any = None,
    progress: ProgressCallback | None = None,
    context: Mapping[str, Any] | None = None,
    lot_context: Mapping[str, str] | None = None,
    store: Any = None,
) -> LotInspection:
    """Draw the lot's sample, inspect it, judge the lot and write ``lot.json``.

    Parameters
    ----------
    photos : sequence of path
        The lot's unit photos; the file stem is the unit id.
    golden : GoldenSample
    out_dir : path
        Results folder (``results.jsonl``, ``results.csv``, ``lot.json``).
    seed : int, keyword-only
        Seed of the sample draw (recorded; same seed, same sample).
    lot_size : int, optional, keyword-only
        Units in the lot (default: the number of photos).
    inspection_type : InspectionType or str, keyword-only
        ``psi`` or ``dupro``.
    severity : str, keyword-only
        ``normal``, ``tightened`` or ``reduced`` (ISO 2859-1 switching state).
    completion_fraction : float, optional, keyword-only
        Share produced (DUPRO) or packed (PSI), 0-1.
    lot_id : str, optional, keyword-only
        Default: the product and the photo folder's name.
    force : bool, keyword-only
        Replace an existing ``lot.json`` or report in ``out_dir``.
    inspector : Inspector, optional, keyword-only
    progress : callable (stage, done, total), optional, keyword-only
    context : mapping, optional, keyword-only
        Capture context of every sampled photo (shift, station, material batch...); the lot id
        and product are added. A sidecar JSON beside a photo overrides it field by field.
    lot_context : mapping str -> str, optional, keyword-only
        What the report's first page shows of the lot: supplier, po, inspector, place, date.
    store : goldenvision.store.Store, optional, keyword-only
        Also record every sampled unit there (idempotent by image sha256 and golden id).

    Returns
    -------
    LotInspection

    Raises
    ------
    OutputExistsError
        ``lot.json`` or a report exists in ``out_dir`` and ``force`` is False (checked before
        anything is inspected).
    SpecError
        Bad inspection type, severity or completion fraction.
    """
    existing = [str(p) for p in lot_outputs(out_dir) if p.exists()]
    if existing and not force:
        raise OutputExistsError(f"{', '.join(existing)}: exists; give force=True (--force) to replace it")
    kind = InspectionType(inspection_type)
    paths = [Path(p) for p in photos]
    by_id = {p.stem: p for p in paths}
    n_lot = len(paths) if lot_size is None else int(lot_size)
    spec = golden.spec
    _, sample = plan_sample(list(by_id), spec.aql, lot_size=n_lot, seed=seed, severity=severity)
    the_lot_id = lot_id or f"{spec.product}-{paths[0].parent.name if paths else 'lot'}"
    unit_context = {"product": spec.product, "lot": the_lot_id, **dict(context or {})}
    batch = inspect_batch([by_id[i] for i in sample], golden, out_dir, inspector=inspector, progress=progress,
                          stage="inspecting the sample", context=unit_context, store=store)
    verdict = judge_lot(list(batch.results), spec.aql, n_lot, severity=severity)
    lot_ctx = dict(lot_context or {})
    record = LotRecord(
        lot_id=the_lot_id, inspection_type=kind, lot_size=n_lot, seed=seed,
        sample_ids=tuple(sample), verdict=verdict, completion_fraction=completion_fraction, product=spec.product,
        supplier=lot_ctx.get("supplier", ""), context=lot_ctx,
    )
    lot_json = Path(out_dir) / "lot.json"
    lot_json.write_text(json.dumps(record.to_dict(), indent=2), encoding="utf-8")
    return LotInspection(record=record, batch=batch, lot_json=lot_json)
