"""The `goldenvision` command line: parse, call the API, print. Nothing else lives here."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import GoldenVisionError

app = typer.Typer(
    name="goldenvision",
    help="Judge manufactured units against a sealed golden sample.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=False,
    )


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
    as_json: bool = typer.Option(False, "--json", help="Print the provenance of the new package as JSON."),
) -> None:
    """Seal a golden sample from its captures (or extend one with accepted good units) and write the package."""
    from .package import load_golden
    from .pipeline import add_good_units, seal

    try:
        if add_good:
            if golden is None:
                _fail("--add-good needs --golden PACKAGE to extend")
            old = load_golden(golden)
            with _progress() as bar:
                task = bar.add_task("adding good units", total=len(images) + 1)
                new = add_good_units(old, [str(p) for p in images],
                                     progress=lambda d, t: bar.update(task, completed=d, total=t))
            pred = old if predecessor is None else load_golden(predecessor)
        else:
            if spec is None:
                _fail("--spec is required to seal a new golden")
            with _progress() as bar:
                task = bar.add_task("sealing", total=len(images) + 2)
                new = seal([str(p) for p in images], spec, progress=lambda d, t: bar.update(task, completed=d, total=t))
            pred = load_golden(predecessor) if predecessor else None
        keys = []
        if sign:
            from .signing import load_private_key

            keys = [(load_private_key(p), role, p.stem) for p in sign]
        new.save(out, sign_with=keys, predecessor=pred)
    except GoldenVisionError as exc:
        _fail(str(exc))
    info = new.provenance()
    if as_json:
        print(json.dumps(info, indent=2, default=str))
    else:
        extra = f", {len(new.meta.get('good_units', []))} good units learnt" if new.meta.get("good_units") else ""
        console.print(f"sealed [bold]{info.get('product')}[/] rev {info.get('revision')} -> {out} "
                      f"(id {info.get('golden_id')}{extra})")


@app.command("inspect")
def inspect_cmd(
    image: Path = typer.Argument(..., help="The unit's photo."),
    golden: Path = typer.Option(..., "--golden", "-g", help="Sealed golden package."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
) -> None:
    """Inspect one unit; exit 0 on pass, 1 on fail, 2 on review."""
    from .package import load_golden
    from .pipeline import inspect

    try:
        g = load_golden(golden)
    except GoldenVisionError as exc:
        _fail(str(exc))
    result = inspect(str(image), g)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        v = result.verdict.value
        console.print(f"{image}: [{VERDICT_STYLE[v]}]{v}[/]")
        for r in result.reasons:
            console.print(f"  - {r}", highlight=False)
    raise typer.Exit({"pass": 0, "fail": 1, "review": 2}[result.verdict.value])


def _list_images(directory: Path) -> list[Path]:
    if not directory.is_dir():
        _fail(f"{directory}: not a directory")
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def run_batch(
    paths: list[Path], golden, out_dir: Path, *, description: str = "inspecting"
) -> list:
    """Inspect `paths`, writing each result as soon as it exists (JSONL + CSV), with a progress bar."""
    from .pipeline import inspect

    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    jsonl = open(out_dir / "results.jsonl", "a", encoding="utf-8")
    new_csv = not (out_dir / "results.csv").exists()
    csv_file = open(out_dir / "results.csv", "a", encoding="utf-8", newline="")
    writer = csv.writer(csv_file)
    if new_csv:
        writer.writerow(["unit_id", "verdict", "defect_class", "anomaly_score", "total_ms", "reasons"])
    try:
        with _progress() as bar:
            task = bar.add_task(description, total=len(paths))
            for p in paths:
                result = inspect(str(p), golden, unit_id=p.name)
                results.append(result)
                d = result.to_dict()
                jsonl.write(json.dumps(d) + "\n")
                jsonl.flush()
                writer.writerow([
                    p.name, d["verdict"], d["defect_class"] or "",
                    "" if d["anomaly_score"] is None else f"{d['anomaly_score']:.3f}",
                    f"{d['timings_ms'].get('total', 0):.1f}", " | ".join(d["reasons"]),
                ])
                csv_file.flush()
                bar.advance(task)
    finally:
        jsonl.close()
        csv_file.close()
    return results


@app.command("batch")
def batch_cmd(
    directory: Path = typer.Argument(..., help="Folder of unit photos."),
    golden: Path = typer.Option(..., "--golden", "-g", help="Sealed golden package."),
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Folder for results.csv, results.jsonl, report.html."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Inspect every photo in a folder; results are written unit by unit (nothing is lost on a crash)."""
    from .package import load_golden

    try:
        g = load_golden(golden)
    except GoldenVisionError as exc:
        _fail(str(exc))
    paths = _list_images(directory)
    if not paths:
        _fail(f"{directory}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    results = run_batch(paths, g, out)
    counts = {v: sum(r.verdict.value == v for r in results) for v in ("pass", "fail", "review")}
    if report:
        from .report import write_report

        write_report(out / "report.html", results, g, image_paths={p.name: p for p in paths}, title=f"Batch {directory}",
                     pdf_path=out / "report.pdf")
    if as_json:
        print(json.dumps({"counts": counts, "out": str(out)}))
    else:
        console.print(_summary_table([r.to_dict() for r in results]))
        console.print(f"pass {counts['pass']}  fail {counts['fail']}  review {counts['review']}  -> {out}")


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Folder for the demo lot, package, results and report."),
    seed: int = typer.Option(0, help="Seed of the demo generator."),
    units: int = typer.Option(40, help="Units in the production lot."),
    goldens: int = typer.Option(5, help="Golden captures."),
    size: float = typer.Option(1.0, help="Camera resolution factor (1.0 = 1600x1200)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Generate the demo product, seal its golden, inspect the lot, write the report."""
    from .demo import generate_lot
    from .package import load_golden
    from .pipeline import seal

    t0 = time.perf_counter()
    err.print(f"generating the demo lot in {out} ...")
    lot = generate_lot(out, seed=seed, n_golden=goldens, n_units=units, size=size)
    try:
        with _progress() as bar:
            task = bar.add_task("sealing the golden", total=len(lot.golden_paths) + 2)
            golden = seal([str(p) for p in lot.golden_paths], lot.spec_path,
                          progress=lambda d, t: bar.update(task, completed=d, total=t))
        pkg = out / "wallet-classic.golden"
        golden.save(pkg)
        golden = load_golden(pkg)
    except GoldenVisionError as exc:
        _fail(f"sealing the demo golden: {exc}")
    results = run_batch(list(lot.unit_paths), golden, out / "results")
    truth = {u["unit_id"]: u for u in lot.truth["units"]}
    rows = [r.to_dict() for r in results]
    agree = sum(truth.get(Path(r["unit_id"]).stem, {}).get("expected_verdict") == r["verdict"] for r in rows)
    from .lots import judge_sampled_lot

    lot_info = judge_sampled_lot(
        {Path(str(r.unit_id)).stem: r for r in results}, golden.spec.aql, lot_id=f"demo-seed{seed}", seed=seed,
        inspection_type="psi", completion_fraction=1.0, product=golden.spec.product,
    )
    from .report import write_report

    report_path = out / "report.html"
    write_report(report_path, results, golden, image_paths={p.name: p for p in lot.unit_paths},
                 title="goldenvision demo: wallet-classic rev B", lot=lot_info, truth=truth,
                 pdf_path=out / "report.pdf")
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("pass", "fail", "review")}
    summary = {"units": len(rows), "counts": counts, "agree_with_truth": agree, "report": str(report_path),
               "package": str(pkg), "seconds": round(time.perf_counter() - t0, 1)}
    if as_json:
        print(json.dumps(summary))
        return
    console.print(_summary_table(rows, truth=truth))
    console.print(
        f"pass {counts['pass']}  fail {counts['fail']}  review {counts['review']}; "
        f"{agree}/{len(rows)} verdicts agree with the demo's ground truth"
    )
    v = lot_info.verdict
    console.print(f"lot verdict (PSI, ISO 2859-1 sample of {len(lot_info.sample_ids)}): [bold]{v.decision.value}[/]")
    console.print(f"report: {report_path}")


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
    lot_id: Optional[str] = typer.Option(None, "--lot-id"),
    out: Path = typer.Option(Path("lot-results"), "--out", "-o", help="Folder for results, lot.json and report.html."),
    plan_only: bool = typer.Option(False, "--plan-only", help="Print the sampling plan and the drawn sample, inspect nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the lot record as JSON."),
) -> None:
    """ISO 2859-1 lot inspection: plan, seeded sample, inspection of the sample, lot verdict.

    Exit code: 0 accepted, 1 rejected, 2 pending (units under review could change it).
    """
    from .lots import InspectionType, LotRecord, judge_lot, plan_sample
    from .package import load_golden
    from .spec import load_spec

    try:
        g = load_golden(golden) if golden else None
        if g is None and not (plan_only and spec):
            _fail("--golden is required (or --spec with --plan-only)")
        the_spec = g.spec if g is not None else load_spec(spec)
        paths = _list_images(directory) if directory else []
        ids = [p.stem for p in paths]
        if not ids and lot_size is None:
            _fail("give the lot's photo folder or --lot-size")
        n_lot = lot_size if lot_size is not None else len(ids)
        if plan_only and not ids:
            ids = [f"unit-{i:05d}" for i in range(1, n_lot + 1)]
        plans, sample = plan_sample(ids, the_spec.aql, lot_size=n_lot, seed=seed, severity=severity)
        kind_enum = InspectionType(kind)
    except (GoldenVisionError, ValueError) as exc:
        _fail(str(exc))
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
    by_id = {p.stem: p for p in paths}
    results = run_batch([by_id[i] for i in sample], g, out, description="inspecting the sample")
    verdict = judge_lot(results, the_spec.aql, n_lot, severity=severity)
    try:
        record = LotRecord(
            lot_id=lot_id or f"{the_spec.product}-{directory.name}", inspection_type=kind_enum, lot_size=n_lot,
            seed=seed, sample_ids=tuple(sample), verdict=verdict, completion_fraction=completion,
            product=the_spec.product,
        )
    except GoldenVisionError as exc:
        _fail(str(exc))
    (out / "lot.json").write_text(json.dumps(record.to_dict(), indent=2), encoding="utf-8")
    from .report import write_report

    write_report(out / "report.html", results, g, image_paths={p.name: p for p in paths},
                 title=f"{kind_enum.value.upper()} inspection: {record.lot_id}", lot=record, pdf_path=out / "report.pdf")
    if as_json:
        print(json.dumps(record.to_dict()))
    else:
        for c in verdict.classes:
            console.print(f"  {c.defect_class:<8} {c.nonconforming} nonconforming (Ac {c.plan.accept}, Re {c.plan.reject})"
                          f"{f', {c.unresolved} under review' if c.unresolved else ''}: {c.decision.value}")
        console.print(f"lot {record.lot_id}: [bold]{verdict.decision.value}[/]; report {out / 'report.html'}")
    raise typer.Exit({True: 0}.get(verdict.accepted, 2 if verdict.decision.value == "pending" else 1))


calibrate_app = typer.Typer(help="Station calibration: camera intrinsics and gauge R&R.", no_args_is_help=True)
app.add_typer(calibrate_app, name="calibrate")
__import__("goldenvision.cli_calibrate", fromlist=["register_commands"]).register_commands(calibrate_app)


@calibrate_app.command("camera")
def calibrate_camera_cmd(
    images: list[Path] = typer.Argument(..., help="Chessboard photos (10-40 views, all over the field)."),
    pattern: str = typer.Option("8x6", help="Inner corners, columns x rows."),
    square_mm: float = typer.Option(1.0, help="Square size in mm."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the camera block (YAML) for a station profile."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Camera matrix and lens distortion from chessboard photos (OpenCV)."""
    import yaml

    from .calibration.geometry import calibrate_camera
    from .imageio import read_image

    try:
        cols, rows = (int(v) for v in pattern.lower().split("x"))
        imgs = []
        with _progress() as bar:
            task = bar.add_task("reading", total=len(images))
            for p in images:
                imgs.append(read_image(p))
                bar.advance(task)
        cal = calibrate_camera(imgs, pattern_size=(cols, rows), square_mm=square_mm)
    except (GoldenVisionError, ValueError) as exc:
        _fail(str(exc))
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
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Gauge R&R of every dimension (AIAG MSA, ANOVA) as a share of its tolerance band.

    Photos are ordered part-major: for each part, for each operator, the repeats. A %GRR under 10 %
    of the tolerance means the station can judge that tolerance; 10-30 % is marginal; over 30 % it cannot.
    """
    from .measure import gauge_rr
    from .package import load_golden
    from .pipeline import inspect

    try:
        g = load_golden(golden)
    except GoldenVisionError as exc:
        _fail(str(exc))
    n = len(images)
    if parts < 1 or operators < 1 or n % (parts * operators) or n // (parts * operators) < 2:
        _fail(f"{n} photos do not split into {parts} parts x {operators} operators x >= 2 repeats")
    repeats = n // (parts * operators)
    values: dict[str, list[float]] = {d.name: [] for d in g.spec.dimensions}
    with _progress() as bar:
        task = bar.add_task("measuring", total=n)
        for p in images:
            r = inspect(str(p), g)
            got = {d.name: d.measured_mm for d in r.dimensions}
            for name in values:
                values[name].append(got.get(name, float("nan")))
            bar.advance(task)
    out = {}
    table = Table(title=f"Gauge R&R: {parts} part(s) x {operators} operator(s) x {repeats} repeats")
    for col in ("dimension", "tolerance mm", "EV mm", "AV mm", "GRR mm", "%GRR of tol.", "ndc", "verdict"):
        table.add_column(col, no_wrap=col in ("dimension", "verdict"))
    for d in g.spec.dimensions:
        arr = np.asarray(values[d.name], dtype=float)
        if np.isnan(arr).any():
            out[d.name] = {"error": f"not measured in {int(np.isnan(arr).sum())} photo(s)"}
            table.add_row(d.name, "", "", "", "", "", "", "[yellow]not measured in every photo[/]")
            continue
        shaped = arr if parts == 1 and operators == 1 else arr.reshape(parts, operators, repeats)
        study = gauge_rr(shaped, d.tol_minus_mm + d.tol_plus_mm)
        out[d.name] = study.to_dict()
        pct = study.pct_grr_tolerance
        table.add_row(d.name, f"{d.tol_minus_mm + d.tol_plus_mm:.2f}", f"{study.repeatability:.4f}",
                      f"{study.reproducibility:.4f}", f"{study.grr:.4f}", "" if pct is None else f"{pct:.1f} %",
                      "" if study.ndc is None else str(study.ndc), study.acceptability or "")
    if as_json:
        print(json.dumps(out, default=float))
    else:
        console.print(table)


@app.command("report")
def report_cmd(
    results_jsonl: Path = typer.Argument(..., help="results.jsonl written by batch/demo."),
    golden: Path = typer.Option(..., "--golden", "-g"),
    images: Optional[Path] = typer.Option(None, "--images", help="Folder of the unit photos (for evidence images)."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o"),
) -> None:
    """Re-render the HTML report from recorded results."""
    from .package import load_golden
    from .report import write_report
    try:
        g = load_golden(golden)
    except GoldenVisionError as exc:
        _fail(str(exc))
    try:
        lines = results_jsonl.read_text(encoding="utf-8").splitlines()
        results = [json.loads(line) for line in lines if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        _fail(f"{results_jsonl}: cannot read recorded results ({exc})")
    paths = {p.name: p for p in _list_images(images)} if images else {}
    write_report(out, results, g, image_paths=paths, title=f"Report {results_jsonl}")
    console.print(f"report: {out}")


def _register_optional() -> None:
    try:
        from .cli_golden import register_commands
    except ImportError:  # pragma: no cover
        return
    register_commands(app)


_register_optional()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
