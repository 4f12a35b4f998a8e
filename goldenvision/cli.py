"""The `goldenvision` command line: parse, call the API, print. Nothing else lives here.

Every command exits with a code from :mod:`goldenvision.exit_codes`: 0/1/2 for verdicts,
sysexits codes (64 and up) for tool errors. Errors are raised as exceptions and turned into
one line on stderr (and, with ``--json``, a JSON object on stdout) by :class:`_Group`.
"""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from .errors import GoldenVisionError, InputNotFoundError, OutputExistsError
from .exit_codes import EXIT_CODES_HELP, ExitCode, exit_code_for, lot_exit_code, verdict_exit_code

if TYPE_CHECKING:
    from .golden import GoldenSample

# typer >= 0.20 vendors click (typer._click); older typer uses click: take the classes from typer.
# Typed Any: they are click's UsageError/ClickException (format_message(), show()), whichever click that is.
_UsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_ClickException: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

err = Console(stderr=True)
console = Console()


def _json_requested(argv: list[str]) -> bool:
    head = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in head


def _report_error(code: int, kind: str, message: str, *, as_json: bool) -> None:
    message = " ".join(str(message).split())
    if as_json:
        print(json.dumps({"error": {"code": int(code), "kind": kind, "message": message}}), flush=True)
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)


def _no_type_names(command: Any) -> None:
    """Help shows NAME metavars, never Python type names (typer >= 0.20 prints ``<list[Path]>``, ``<int>``)."""
    for p in getattr(command, "params", ()):
        if getattr(p, "is_flag", False) or getattr(p, "count", False):
            continue
        if p.metavar is None and p.name:
            p.metavar = p.name.upper()
        if getattr(p, "param_type_name", "") == "argument" and hasattr(p, "display_type_rich"):
            p.display_type_rich = lambda ctx: ""  # the argument's NAME says it; no type suffix
    for sub in getattr(command, "commands", {}).values():
        _no_type_names(sub)


class _Group(TyperGroup):
    """The root command group: maps every error to its exit code (see goldenvision.exit_codes)."""

    def main(self, args: Optional[Sequence[str]] = None, prog_name: Optional[str] = None,
             complete_var: Optional[str] = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:
        _no_type_names(self)
        argv = list(sys.argv[1:] if args is None else args)
        as_json = _json_requested(argv)
        try:
            rv = super().main(args=argv, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                              windows_expand_args=windows_expand_args, **extra)
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
        except _UsageError as exc:
            if as_json:
                _report_error(ExitCode.USAGE, "UsageError", exc.format_message(), as_json=True)
            else:
                exc.show()
            code = ExitCode.USAGE
        except typer.Abort:
            code = ExitCode.INTERRUPTED
            _report_error(code, "Aborted", "aborted", as_json=as_json)
        except (GoldenVisionError, OSError) as exc:
            code = exit_code_for(exc)
            _report_error(code, type(exc).__name__, str(exc) or repr(exc), as_json=as_json)
        except _ClickException as exc:
            code = ExitCode.USAGE
            _report_error(code, "UsageError", exc.format_message(), as_json=as_json)
        except Exception as exc:  # a bug: say so, with the traceback on stderr
            traceback.print_exc()
            code = ExitCode.SOFTWARE
            _report_error(code, "InternalError", f"internal error ({type(exc).__name__}: {exc}); please report it",
                          as_json=as_json)
        if standalone_mode:
            sys.exit(int(code))
        return int(code)


app = typer.Typer(
    name="goldenvision",
    cls=_Group,
    help="Judge manufactured units against a sealed golden sample.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

def _usage(message: str) -> NoReturn:
    """Stop with a usage error (exit 64)."""
    raise _UsageError(message)


def _version_callback(value: bool) -> None:
    if value:
        from . import __version__

        print(f"goldenvision {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_version_callback),
) -> None:
    """Judge manufactured units against a sealed golden sample."""


def _need_file(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputNotFoundError(f"{path}: {what} not found")
    if not path.is_file():
        raise InputNotFoundError(f"{path}: expected {what} file, got a directory")
    return path


def _refuse_overwrite(paths: list[Path], force: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise OutputExistsError(f"{', '.join(existing)}: exists; give --force to overwrite")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=False,
    )


class _Bar:
    """A rich progress bar fed by the API's ``progress(stage, done, total)`` callbacks (one task per stage)."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done, total=total)


VERDICT_STYLE = {"pass": "green", "fail": "bold red", "review": "yellow"}


def _summary_table(rows: list[dict], *, truth: dict | None = None) -> Table:
    table = Table(title="Units", show_lines=False)
    table.add_column("unit")
    table.add_column("verdict")
    if truth is not None:
        table.add_column("expected")
    table.add_column("ms", justify="right")
    table.add_column("reasons", overflow="fold")
    for r in rows:
        v = r["verdict"]
        cells = [str(r["unit_id"]), f"[{VERDICT_STYLE[v]}]{v}[/]"]
        if truth is not None:
            t = truth.get(Path(str(r["unit_id"])).stem, {}).get("expected_verdict", "?")
            mark = "" if t == v else " [bold red]\u2260[/]"
            cells.append(f"{t}{mark}")
        cells.append(f"{r.get('timings_ms', {}).get('total', float('nan')):.0f}")
        cells.append("; ".join(r["reasons"]) or "-")
        table.add_row(*cells)
    return table


@app.command("spec-schema")
def spec_schema() -> None:
    """Print the JSON Schema of the spec sheet (for editor completion)."""
    from .spec import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=2))


@app.command("seal")
def seal_cmd(
    images: list[Path] = typer.Argument(..., help="Golden captures (the first defines golden px), or good units with --add-good."),
    spec: Optional[Path] = typer.Option(None, "--spec", "-s", help="Spec sheet (YAML)."),
    out: Path = typer.Option(..., "--out", "-o", help="Package to write (e.g. sku.golden)."),
    add_good: bool = typer.Option(False, "--add-good", help="IMAGES are accepted good units added to --golden's anomaly model."),
    golden: Optional[Path] = typer.Option(None, "--golden", "-g", help="With --add-good: the package to extend."),
    sign: list[Path] = typer.Option([], "--sign", help="Private key(s) to sign with."),
    role: str = typer.Option("factory", "--role", help="Role of the signer(s): buyer, factory, inspector."),
    predecessor: Optional[Path] = typer.Option(None, "--predecessor", help="Earlier revision this package replaces."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists (its signatures are lost)."),
    as_json: bool = typer.Option(False, "--json", help="Print the provenance of the new package as JSON."),
    station: Optional[Path] = typer.Option(
        None, "--station", help="Fitted station profile (JSON from 'calibrate geometry/color') applied to every capture; "
                                "units are then inspected with the same --station (with --add-good: the units' profile)."),
    golden_dim: list[str] = typer.Option(
        [], "--golden-dim", help="NAME=MM: the golden's own size of spec dimension NAME as a reference instrument "
                                 "measured it (a certificate, caliper or CMM); NAME=MM,MM,... one per capture for a "
                                 "golden of several units. Readings are zeroed on it instead of the nominal. Repeatable."),
) -> None:
    """Seal a golden sample from its captures (or extend one with accepted good units) and write the package.

    An existing --out is never replaced without --force (exit 73).
    """
    from .package import load_golden
    from .pipeline import add_good_units, seal

    if add_good and golden is None:
        _usage("--add-good needs --golden PACKAGE to extend")
    if add_good and golden_dim:
        _usage("--golden-dim is given when sealing a new golden, not with --add-good")
    certified = _golden_dims(golden_dim)
    if not add_good and spec is None:
        _usage("--spec is required to seal a new golden")
    _refuse_overwrite([out], force)
    if not add_good:
        from .spec import load_spec

        assert spec is not None  # checked above
        load_spec(_need_file(spec, "spec sheet"))  # a bad spec is named before any photo is read
    for p in images:
        _need_file(p, "photo")
    pred: Optional[GoldenSample]
    if add_good:
        assert golden is not None  # checked above
        old = load_golden(_need_file(golden, "golden package"))
        cal = None
        if station is not None:
            from .calibration.applied import load_station_calibration

            cal = load_station_calibration(_need_file(station, "station profile"))
        with _progress() as bar:
            task = bar.add_task("adding good units", total=len(images) + 1)
            new = add_good_units(old, [str(p) for p in images],
                                 progress=lambda d, t: bar.update(task, completed=d, total=t), calibration=cal)
        pred = old if predecessor is None else load_golden(_need_file(predecessor, "golden package"))
    else:
        with _progress() as bar:
            task = bar.add_task("sealing", total=len(images) + 2)
            assert spec is not None  # checked above
            calibration = None
            if station is not None:
                from .calibration.applied import load_station_calibration

                calibration = load_station_calibration(_need_file(station, "station profile"))
            new = seal([str(p) for p in images], _need_file(spec, "spec sheet"),
                       progress=lambda d, t: bar.update(task, completed=d, total=t), calibration=calibration,
                       golden_dimensions_mm=certified or None)
        pred = load_golden(_need_file(predecessor, "golden package")) if predecessor else None
    keys = []
    if sign:
        from .signing import load_private_key

        keys = [(load_private_key(_need_file(p, "private key")), role, p.stem) for p in sign]
    new.save(out, sign_with=keys, predecessor=pred)
    info = new.provenance()
    warnings = list(new.meta.get("golden_dimension_warnings") or [])
    for w in warnings:  # what the user should change (stderr: --json keeps stdout one JSON object)
        err.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps({**info, "warnings": warnings}, indent=2, default=str))
    else:
        extra = f", {len(new.meta.get('good_units', []))} good units learnt" if new.meta.get("good_units") else ""
        console.print(f"sealed [bold]{info.get('product')}[/] rev {info.get('revision')} -> {out} "
                      f"(id {info.get('golden_id')}{extra})")


def _golden_dims(items: list[str]) -> dict[str, list[float]]:
    """``--golden-dim NAME=MM[,MM...]`` options as ``seal(golden_dimensions_mm=...)`` (usage error when malformed;
    the values are checked against the spec by the seal)."""
    out: dict[str, list[float]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            _usage(f"--golden-dim {item!r}: expected NAME=MM or NAME=MM,MM,... (one per capture)")
        if name in out:
            _usage(f"--golden-dim: {name!r} given twice")
        try:
            out[name] = [float(v) for v in values.split(",")]
        except ValueError:
            _usage(f"--golden-dim {item!r}: expected numbers of mm after '='")
    return out


def _load_golden(path: Path) -> Any:
    from .package import load_golden

    return load_golden(_need_file(path, "golden package"))


def _inspector(g: Any, station: Path | None) -> Any:
    """An Inspector for golden ``g``, through the fitted station profile ``station`` when given."""
    from .pipeline import Inspector

    if station is None:
        return Inspector(g)
    from .calibration.applied import load_station_calibration

    return Inspector(g, calibration=load_station_calibration(_need_file(station, "station calibration profile")))


@app.command("inspect")
def inspect_cmd(
    image: Path = typer.Argument(..., help="The unit's photo."),
    golden: Path = typer.Option(..., "--golden", "-g", help="Sealed golden package."),
    station: Optional[Path] = typer.Option(None, "--station", help="Fitted station profile (JSON from 'calibrate geometry/color'): undistort, colour model and mm per px applied to every photo."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
) -> None:
    """Inspect one unit; exit 0 on pass, 1 on fail, 2 on review (a missing photo is 66, a bad golden 65)."""
    from .batch import inspect_file

    g = _load_golden(golden)
    _need_file(image, "photo")
    result = inspect_file(_inspector(g, station), image)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        v = result.verdict.value
        console.print(f"{image}: [{VERDICT_STYLE[v]}]{v}[/]")
        for r in result.reasons:
            console.print(f"  - {r}", highlight=False)
    raise typer.Exit(verdict_exit_code(result.verdict))


@app.command("batch")
def batch_cmd(
    directory: Path = typer.Argument(..., help="Folder of unit photos."),
    golden: Path = typer.Option(..., "--golden", "-g", help="Sealed golden package."),
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Folder for results.csv, results.jsonl, report.html."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html and report.pdf for this run."),
    db: Optional[str] = typer.Option(None, "--db", help="Also record every unit in this results store (SQLite file or URL, PostgreSQL URL)."),
    context: Optional[list[str]] = typer.Option(None, "--context", help="Capture context KEY=VALUE for every photo (repeatable), e.g. lot=L7, shift=B; a sidecar photo.jpg.json overrides it."),
    station: Optional[Path] = typer.Option(None, "--station", help="Fitted station profile (JSON from 'calibrate geometry/color'): undistort, colour model and mm per px applied to every photo."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Inspect every photo in a folder; results are written unit by unit (nothing is lost on a crash).

    Re-running into the same --out replaces each photo's row (by image sha256), never duplicates it;
    the report is rewritten for this run. Exit code: the worst verdict found, 1 if any unit failed,
    else 2 if any needs review, else 0.
    """
    from .batch import inspect_batch, list_images

    from .context import parse_pairs

    ctx = parse_pairs(context)
    g = _load_golden(golden)
    held = _inspector(g, station) if station is not None else None
    paths = list_images(directory)
    with _open_store(db) as store, _progress() as bar:
        run = inspect_batch(paths, g, out, inspector=held, progress=_Bar(bar), context=ctx, store=store)
    if report:
        from .report import write_report

        write_report(out / "report.html", list(run.results), g, image_paths={p.name: p for p in paths},
                     title=f"Batch {directory}", pdf_path=out / "report.pdf")
    counts = run.counts
    if as_json:
        print(json.dumps({"counts": counts, "worst": run.worst.value, "replaced": run.replaced,
                          "rows_in_folder": run.rows_in_folder, "out": str(out)}))
    else:
        console.print(_summary_table([r.to_dict() for r in run.results]))
        console.print(f"pass {counts['pass']}  fail {counts['fail']}  review {counts['review']}  -> {out}"
                      + (f" ({run.replaced} earlier rows replaced)" if run.replaced else ""))
    raise typer.Exit(verdict_exit_code(run.worst))


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Folder for the demo lot, package, results and report (regenerated)."),
    seed: int = typer.Option(0, help="Seed of the demo generator."),
    units: int = typer.Option(40, help="Units in the production lot."),
    goldens: int = typer.Option(5, help="Golden captures."),
    size: float = typer.Option(1.0, help="Camera resolution factor (1.0 = 1600x1200)."),
    order: bool = typer.Option(False, "--order", help="Walk the whole evidence chain instead: signed golden, order, "
                                                      "PPS decision, PSI lot, signed and verified dossier."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Generate the demo product, seal its golden, inspect the lot, write the report (exit 0 when it ran)."""
    from .demo_run import run_demo

    if order:
        from .orders.demo import demo_order

        d = demo_order(out, seed=seed, n_units=min(units, 24), size=min(size, 0.5), progress=err.print)
        info = {"po": d.po, "dossier": str(d.dossier), "html": str(d.html), "pdf": str(d.pdf), "verified": d.verified,
                "pps": d.pps_outcome, "psi": d.psi_decision, "recommendation": d.recommendation, "db": d.db_url}
        if as_json:
            print(json.dumps(info))
        else:
            console.print(f"order {d.po}: PPS proposed {d.pps_outcome}, PSI {d.psi_decision}")
            console.print(f"[bold]{d.recommendation}[/]")
            console.print(f"dossier {d.dossier} ({'verified' if d.verified else 'NOT verified'}); views {d.html}, {d.pdf}")
        return

    err.print(f"generating the demo lot in {out} ...")
    with _progress() as bar:
        run = run_demo(out, seed=seed, n_units=units, n_golden=goldens, size=size, progress=_Bar(bar))
    if as_json:
        print(json.dumps(run.to_dict()))
        return
    counts = run.batch.counts
    rows = [r.to_dict() for r in run.batch.results]
    console.print(_summary_table(rows, truth=run.truth))
    console.print(
        f"pass {counts['pass']}  fail {counts['fail']}  review {counts['review']}; "
        f"{run.agree_with_truth}/{len(rows)} verdicts agree with the demo's ground truth"
    )
    console.print(f"lot verdict (PSI, ISO 2859-1 sample of {len(run.lot.sample_ids)}): "
                  f"[bold]{run.lot.verdict.decision.value}[/]")
    console.print(f"report: {run.report_path}")


@contextlib.contextmanager
def _open_store(db: Optional[str]) -> Any:
    """The results store at ``db`` for the length of a command, or None without ``--db``."""
    if db is None:
        yield None
        return
    from .store import open_store

    store = open_store(db)
    try:
        yield store
    finally:
        store.close()


@app.command("lot")
def lot_cmd(
    directory: Optional[Path] = typer.Argument(None, help="Folder of the lot's unit photos (file stem = unit id)."),
    golden: Optional[Path] = typer.Option(None, "--golden", "-g", help="Sealed golden package."),
    spec: Optional[Path] = typer.Option(None, "--spec", "-s", help="Spec sheet (only with --plan-only and no golden)."),
    lot_size: Optional[int] = typer.Option(None, "--lot-size", "-n", help="Units in the lot (default: photos in DIR)."),
    seed: int = typer.Option(..., "--seed", help="Seed of the sample draw (recorded; same seed -> same sample)."),
    kind: str = typer.Option("psi", "--type", help="psi (pre-shipment, 80-100 % packed) or dupro (during production)."),
    completion: Optional[float] = typer.Option(None, "--completion", help="Share produced (DUPRO) or packed (PSI), 0-1."),
    severity: str = typer.Option("normal", "--severity", help="normal | tightened | reduced (switching state)."),
    lot_id: Optional[str] = typer.Option(None, "--lot-id", help="Lot id (default: product and folder name)."),
    out: Path = typer.Option(Path("lot-results"), "--out", "-o", help="Folder for results, lot.json and report.html."),
    force: bool = typer.Option(False, "--force", help="Overwrite lot.json and the report in --out if they exist."),
    plan_only: bool = typer.Option(False, "--plan-only", help="Print the sampling plan and the drawn sample, inspect nothing."),
    db: Optional[str] = typer.Option(None, "--db", help="Also record every sampled unit (and, with --po, the lot on its order) in this results store."),
    context: Optional[list[str]] = typer.Option(None, "--context", help="Capture context KEY=VALUE of every photo (repeatable): shift=B, station=line-2, material_batch=hide-0412."),
    supplier: Optional[str] = typer.Option(None, "--supplier", help="Supplier (shown on the report's first page)."),
    po: Optional[str] = typer.Option(None, "--po", help="Purchase order; with --db the lot is attached to that order."),
    inspector_name: Optional[str] = typer.Option(None, "--inspector", help="Who inspected (shown on the report)."),
    place: Optional[str] = typer.Option(None, "--place", help="Where the inspection took place (shown on the report)."),
    date: Optional[str] = typer.Option(None, "--date", help="Inspection date (shown on the report)."),
    station: Optional[Path] = typer.Option(None, "--station", help="Fitted station profile (JSON from 'calibrate geometry/color'): undistort, colour model and mm per px applied to every photo."),
    as_json: bool = typer.Option(False, "--json", help="Print the lot record as JSON."),
) -> None:
    """ISO 2859-1 lot inspection: plan, seeded sample, inspection of the sample, lot verdict.

    Exit code: 0 accepted, 1 rejected, 2 pending (units under review could change it). An existing
    lot.json or report in --out is not replaced without --force (exit 73); with --force each sampled
    photo's row replaces its earlier one (by image sha256).
    """
    from .batch import list_images
    from .lot_inspection import inspect_lot, lot_outputs
    from .lots import InspectionType, plan_sample
    from .spec import load_spec

    try:
        kind_enum = InspectionType(kind)
    except ValueError:
        _usage(f"--type {kind!r}: expected one of {[k.value for k in InspectionType]}")
    if golden is None and not (plan_only and spec):
        _usage("--golden is required (or --spec with --plan-only)")
    if directory is None and (lot_size is None or not plan_only):
        _usage("give the lot's photo folder (or --lot-size with --plan-only)")
    if not plan_only:
        _refuse_overwrite(lot_outputs(out), force)
    g = _load_golden(golden) if golden else None
    if g is not None:
        the_spec = g.spec
    else:
        assert spec is not None  # checked above: --spec is required without --golden
        the_spec = load_spec(_need_file(spec, "spec sheet"))
    paths = list_images(directory) if directory else []
    ids = [p.stem for p in paths] or [f"unit-{i:05d}" for i in range(1, (lot_size or 0) + 1)]
    n_lot = lot_size if lot_size is not None else len(ids)
    plans, sample = plan_sample(ids, the_spec.aql, lot_size=n_lot, seed=seed, severity=severity)
    table = Table(title=f"ISO 2859-1 plan: lot of {n_lot}, level {the_spec.aql.level}, {severity} inspection")
    for col in ("class", "AQL", "code letter", "sample", "Ac", "Re"):
        table.add_column(col)
    for name, p in plans.items():
        table.add_row(name, f"{p.aql:g}", p.code_letter, f"{p.sample_size}{' (100 %)' if p.inspect_all else ''}",
                      str(p.accept), str(p.reject))
    if not as_json:
        console.print(table)
        console.print(f"sample of {len(sample)} drawn with seed {seed}: {', '.join(sample)}", highlight=False)
    if plan_only:
        if as_json:
            print(json.dumps({"plans": {k: p.to_dict() for k, p in plans.items()}, "sample": sample, "seed": seed}))
        return
    from .context import parse_pairs

    assert g is not None  # checked above: --golden is required without --plan-only
    ctx = parse_pairs(context)
    lot_ctx = {k: v for k, v in {"supplier": supplier, "po": po, "inspector": inspector_name, "place": place,
                                 "date": date}.items() if v}
    held = _inspector(g, station) if station is not None else None
    with _open_store(db) as store, _progress() as bar:
        lot = inspect_lot(paths, g, out, seed=seed, lot_size=n_lot, inspection_type=kind_enum, severity=severity,
                          completion_fraction=completion, lot_id=lot_id, force=force, progress=_Bar(bar),
                          context=ctx, lot_context=lot_ctx, store=store, inspector=held)
        if store is not None and po:
            from .orders import attach_lot

            attach_lot(store, po, lot.record.to_dict(), golden_id=(g.meta.get("package") or {}).get("golden_id"))
        drift_page = None
        if store is not None:  # the product's control charts up to this lot, beside the lot report
            from .cli_store import write_drift_html
            from .drift import detect_drift

            drift_page = write_drift_html(detect_drift(store, product=g.spec.product), out / "drift",
                                          title=f"Drift of {g.spec.product} up to lot {lot.record.lot_id}")
    record, verdict = lot.record, lot.record.verdict
    from .report import write_report

    write_report(out / "report.html", list(lot.batch.results), g, image_paths={p.name: p for p in paths},
                 title=f"{kind_enum.value.upper()} inspection: {record.lot_id}", lot=record,
                 pdf_path=out / "report.pdf", lot_context=lot_ctx)
    if as_json:
        print(json.dumps(record.to_dict()))
    else:
        for c in verdict.classes:
            console.print(f"  {c.defect_class:<8} {c.nonconforming} nonconforming (Ac {c.plan.accept}, Re {c.plan.reject})"
                          f"{f', {c.unresolved} under review' if c.unresolved else ''}: {c.decision.value}")
        console.print(f"lot {record.lot_id}: [bold]{verdict.decision.value}[/]; report {out / 'report.html'}"
                      + (f"; control charts {drift_page}" if drift_page else ""))
    raise typer.Exit(lot_exit_code(verdict.decision))


calibrate_app = typer.Typer(help="Station calibration: camera intrinsics and gauge R&R.", no_args_is_help=True)
app.add_typer(calibrate_app, name="calibrate")
__import__("goldenvision.cli_calibrate", fromlist=["register_commands"]).register_commands(calibrate_app)


@calibrate_app.command("camera")
def calibrate_camera_cmd(
    images: list[Path] = typer.Argument(..., help="Chessboard photos (10-40 views, all over the field)."),
    pattern: str = typer.Option("8x6", help="Inner corners, columns x rows."),
    square_mm: float = typer.Option(1.0, help="Square size in mm."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the camera block (YAML) for a station profile."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
    as_json: bool = typer.Option(False, "--json", help="Print the calibration as JSON."),
) -> None:
    """Camera matrix and lens distortion from chessboard photos (OpenCV)."""
    import yaml

    from .calibration.geometry import calibrate_camera
    from .imageio import read_image

    try:
        cols, rows = (int(v) for v in pattern.lower().split("x"))
    except ValueError:
        _usage(f"--pattern {pattern!r}: expected COLUMNSxROWS of inner corners, e.g. 8x6")
    if out is not None:
        _refuse_overwrite([out], force)
    imgs = []
    with _progress() as bar:
        task = bar.add_task("reading", total=len(images))
        for p in images:
            imgs.append(read_image(_need_file(p, "photo")))
            bar.advance(task)
    cal = calibrate_camera(imgs, pattern_size=(cols, rows), square_mm=square_mm)
    d = cal.to_dict()
    if out is not None:
        block = {"camera": {"matrix": cal.camera_matrix.tolist(), "dist": cal.dist_coeffs.ravel().tolist(),
                            "rms_px": float(cal.rms_px), "views": int(cal.n_used)}}
        out.write_text(yaml.safe_dump(block, sort_keys=False), encoding="utf-8")
    if as_json:
        print(json.dumps(d, default=float))
    else:
        console.print(f"{cal.n_used}/{len(images)} views used; reprojection RMS {cal.rms_px:.3f} px")
        console.print(f"camera matrix {np.round(cal.camera_matrix, 2).tolist()}")
        console.print(f"distortion {np.round(cal.dist_coeffs.ravel(), 4).tolist()}")


@calibrate_app.command("grr")
def calibrate_grr_cmd(
    images: list[Path] = typer.Argument(..., help="Repeated photos, in order part, operator (or session), repeat."),
    golden: Path = typer.Option(..., "--golden", "-g", help="Sealed golden package (the spec's dimensions)."),
    parts: int = typer.Option(1, help="Number of parts (1 = one part photographed repeatedly: repeatability only)."),
    operators: int = typer.Option(1, help="Operators or sessions per part."),
    as_json: bool = typer.Option(False, "--json", help="Print the study of every dimension as JSON."),
) -> None:
    """Gauge R&R of every dimension (AIAG MSA, ANOVA) as a share of its tolerance band.

    Photos are ordered part-major: for each part, for each operator, the repeats. A %GRR under 10 %
    of the tolerance means the station can judge that tolerance; 10-30 % is marginal; over 30 % it cannot.
    """
    from .gauge import gauge_study

    g = _load_golden(golden)
    with _progress() as bar:
        study = gauge_study(images, g, parts=parts, operators=operators, progress=_Bar(bar))
    if as_json:
        print(json.dumps(study.to_dict(), default=float))
        return
    table = Table(title=f"Gauge R&R: {study.parts} part(s) x {study.operators} operator(s) x {study.repeats} repeats")
    for col in ("dimension", "tolerance mm", "EV mm", "AV mm", "GRR mm", "%GRR of tol.", "ndc", "verdict"):
        table.add_column(col, no_wrap=col in ("dimension", "verdict"))
    for d in study.dimensions:
        s = d.study
        if s is None:
            table.add_row(d.name, "", "", "", "", "", "", f"[yellow]not measured in {d.unmeasured} photo(s)[/]")
            continue
        pct = s.pct_grr_tolerance
        table.add_row(d.name, f"{d.tolerance_width_mm:.2f}", f"{s.repeatability:.4f}", f"{s.reproducibility:.4f}",
                      f"{s.grr:.4f}", "" if pct is None else f"{pct:.1f} %", "" if s.ndc is None else str(s.ndc),
                      s.acceptability or "")
    console.print(table)


@app.command("report")
def report_cmd(
    results_jsonl: Path = typer.Argument(..., help="results.jsonl written by batch, lot or demo."),
    golden: Path = typer.Option(..., "--golden", "-g", help="Sealed golden package the results were judged against."),
    images: Optional[Path] = typer.Option(None, "--images", help="Folder of the unit photos (for evidence images)."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML report to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
) -> None:
    """Re-render the HTML report from recorded results (one row per photo, by image sha256)."""
    from .batch import list_images, read_results
    from .report import write_report

    _refuse_overwrite([out], force)
    g = _load_golden(golden)
    results = read_results(results_jsonl)
    paths = {p.name: p for p in list_images(images)} if images else {}
    write_report(out, results, g, image_paths=paths, title=f"Report {results_jsonl}")
    console.print(f"report: {out} ({len(results)} units)", soft_wrap=True, highlight=False)


# Command groups kept in their own modules: plain imports, so a broken install fails loudly.
# (Each imports its heavy dependencies -- FastAPI, Dask, the store -- only when run.)
from . import cli_golden, cli_orders, cli_service, cli_station, cli_store  # noqa: E402

cli_golden.register_commands(app)
cli_store.register_commands(app)
cli_station.register_commands(app)
cli_service.register_commands(app)
cli_orders.register_commands(app)
__import__("goldenvision.cli_datasets", fromlist=["register_commands"]).register_commands(app)  # dataset, label
__import__("goldenvision.cli_train", fromlist=["register_commands"]).register_commands(app)  # train, evaluate


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
