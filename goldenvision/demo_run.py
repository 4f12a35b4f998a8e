"""The demo end to end: render the demo lot, seal its golden, inspect every unit, judge the lot, report.

:func:`run_demo` is what ``goldenvision demo`` calls; it prints nothing and reports progress
through an optional ``progress(stage, done, total)`` callback. The folder it writes::

    OUT/spec.yaml, golden/, lot/, truth.json   the rendered demo lot (goldenvision.demo.generate_lot)
    OUT/wallet-classic.golden                  the sealed golden package
    OUT/results/results.jsonl, results.csv     one row per unit photo (goldenvision.batch)
    OUT/report.html, report.pdf                the report with the lot verdict

Running it again into the same folder regenerates the lot and replaces each unit's row.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .batch import BatchResult, ProgressCallback, inspect_batch
from .lots import LotRecord

__all__ = ["DemoRun", "run_demo", "DEMO_PACKAGE_NAME"]

DEMO_PACKAGE_NAME = "wallet-classic.golden"


@dataclass(frozen=True)
class DemoRun:
    """What :func:`run_demo` made.

    Attributes
    ----------
    out_dir, package_path, report_path : Path
    batch : BatchResult
        Every unit of the lot, inspected.
    truth : dict
        Ground truth per unit id (file stem): ``expected_verdict``, the fault rendered, ...
    lot : LotRecord
        The lot verdict on the seeded ISO 2859-1 sample (pre-shipment inspection).
    seconds : float
        Wall time of the whole run.
    """

    out_dir: Path
    package_path: Path
    report_path: Path
    batch: BatchResult
    truth: dict[str, dict[str, Any]]
    lot: LotRecord
    seconds: float

    @property
    def agree_with_truth(self) -> int:
        """Units whose verdict is the ground truth's expected verdict."""
        return sum(self.truth.get(Path(str(r.unit_id)).stem, {}).get("expected_verdict") == r.verdict.value
                   for r in self.batch.results)

    def to_dict(self) -> dict[str, Any]:
        return {"units": len(self.batch.results), "counts": self.batch.counts,
                "agree_with_truth": self.agree_with_truth, "report": str(self.report_path),
                "package": str(self.package_path), "lot_decision": self.lot.verdict.decision.value,
                "seconds": round(self.seconds, 1)}


def run_demo(
    out_dir: "str | os.PathLike[str]",
    *,
    seed: int = 0,
    n_units: int = 40,
    n_golden: int = 5,
    size: float = 1.0,
    progress: ProgressCallback | None = None,
) -> DemoRun:
    """Generate the demo product, seal its golden, inspect the lot and write the report.

    Parameters
    ----------
    out_dir : path
        Folder for everything (created; an earlier demo there is regenerated).
    seed : int, keyword-only
        Seed of the demo generator and of the lot's sample draw.
    n_units, n_golden : int, keyword-only
        Units in the production lot; golden captures.
    size : float, keyword-only
        Camera resolution factor (1.0 = 1600 x 1200 px).
    progress : callable (stage, done, total), optional, keyword-only
        Stages ``"rendering"``, ``"sealing"``, ``"inspecting"``.

    Returns
    -------
    DemoRun
    """
    from .demo import generate_lot
    from .lots import judge_sampled_lot
    from .package import load_golden
    from .pipeline import Inspector, seal
    from .report import write_report

    t0 = time.perf_counter()
    out = Path(out_dir)
    if progress:
        progress("rendering", 0, 1)
    lot = generate_lot(out, seed=seed, n_golden=n_golden, n_units=n_units, size=size)
    if progress:
        progress("rendering", 1, 1)
    golden = seal([str(p) for p in lot.golden_paths], lot.spec_path,
                  progress=(lambda d, t: progress("sealing", d, t)) if progress else None)
    pkg = out / DEMO_PACKAGE_NAME
    golden.save(pkg)
    golden = load_golden(pkg)
    batch = inspect_batch(list(lot.unit_paths), golden, out / "results", inspector=Inspector(golden),
                          progress=progress)
    truth = {u["unit_id"]: u for u in lot.truth["units"]}
    lot_info = judge_sampled_lot(
        {Path(str(r.unit_id)).stem: r for r in batch.results}, golden.spec.aql, lot_id=f"demo-seed{seed}",
        seed=seed, inspection_type="psi", completion_fraction=1.0, product=golden.spec.product,
    )
    report_path = out / "report.html"
    write_report(report_path, list(batch.results), golden, image_paths={p.name: p for p in lot.unit_paths},
                 title="goldenvision demo: wallet-classic rev B", lot=lot_info, truth=truth,
                 pdf_path=out / "report.pdf")
    return DemoRun(out_dir=out, package_path=pkg, report_path=report_path, batch=batch, truth=truth, lot=lot_info,
                   seconds=time.perf_counter() - t0)
