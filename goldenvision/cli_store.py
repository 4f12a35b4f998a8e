"""Command-line tools over the results store: ``results`` and ``drift``.

The lead wires these into the ``goldenvision`` entry point with ``register_commands(app)``.
Each command parses, calls the API, prints. Exit codes (sysexits): 0 ok; 64 usage (a bad
URL or option); 65 bad data (a newer schema, a malformed value); 66 missing (no such
database file); 69 unavailable (the database cannot be reached); 70 internal; 73 cannot
create output (``--out`` exists without ``--force``).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import GoldenVisionError

__all__ = ["register_commands", "write_drift_html", "EX_USAGE", "EX_DATAERR", "EX_NOINPUT", "EX_UNAVAILABLE",
           "EX_SOFTWARE", "EX_CANTCREAT"]

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_SOFTWARE, EX_CANTCREAT = 64, 65, 66, 69, 70, 73
DB_HELP = ("Database URL: sqlite:///path.db (or a plain file path) or postgresql+psycopg://user@host/db. "
           "Default: $GV_DB, else sqlite:///goldenvision.db.")


def _fail(message: str, code: int) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    raise typer.Exit(code)


def _exit_code(exc: BaseException) -> int:
    from .drift import DriftError
    from .store import ContextError, ResultDataError, SchemaVersionError, StoreError, StoreUnavailableError

    if isinstance(exc, StoreUnavailableError):
        return EX_UNAVAILABLE
    if isinstance(exc, (SchemaVersionError, ContextError, ResultDataError, DriftError)):
        return EX_DATAERR
    if isinstance(exc, StoreError):
        return EX_USAGE
    return EX_SOFTWARE


def _open(db: Optional[str], *, must_exist: bool):
    from .store import open_store
    from .store.core import _parse_url

    url = db or os.environ.get("GV_DB") or None
    try:
        parsed = _parse_url(url)
        if must_exist and parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            if not Path(parsed.database).exists():
                _fail(f"--db {url or parsed.render_as_string()}: no such database file {parsed.database}", EX_NOINPUT)
        return open_store(url)
    except GoldenVisionError as exc:
        _fail(str(exc), _exit_code(exc))


def register_commands(app: typer.Typer) -> None:
    """Add ``results`` and ``drift`` to a Typer app."""

    @app.command("results")
    def results_cmd(
        db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per unit per line."),
        lot: Optional[str] = typer.Option(None, "--lot", help="Only units of this lot."),
        since: Optional[str] = typer.Option(None, "--since", help="Only units recorded at or after this ISO 8601 time (UTC)."),
        product: Optional[str] = typer.Option(None, "--product", help="Only units of this product."),
    ) -> None:
        """List stored unit results in production order (image sha256, file, verdict, context, metrics)."""
        store = _open(db, must_exist=True)
        try:
            rows = store.results(lot=lot, since=since, product=product)
        except GoldenVisionError as exc:
            _fail(str(exc), _exit_code(exc))
        finally:
            store.close()
        if as_json:
            for r in rows:
                typer.echo(json.dumps(r, ensure_ascii=False, allow_nan=False))
            return
        table = Table(title=f"{len(rows)} units in {store.url}")
        for col in ("unit", "file", "verdict", "product", "lot", "shift", "material batch", "sha256", "reasons"):
            table.add_column(col, overflow="fold")
        for r in rows:
            c = r["context"]
            table.add_row(str(r["unit"]), str(r["file"] or ""), r["verdict"], r["product"], c.get("lot") or "",
                          c.get("shift") or "", c.get("material_batch") or "", r["image_sha256"][:12],
                          "; ".join(r["reasons"]))
        Console().print(table)

    @app.command("drift")
    def drift_cmd(
        db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the alarms, series and batch comparisons as JSON."),
        product: Optional[str] = typer.Option(None, "--product", help="Only this product."),
        lot: Optional[str] = typer.Option(None, "--lot", help="Only units of this lot."),
        by: Optional[list[str]] = typer.Option(
            None, "--by", help="Also group by lot, station, shift, material_batch or operator (repeatable)."),
        rules: str = typer.Option("limits", "--rules", help="Shewhart rule set: limits, western_electric or nelson."),
        charts: str = typer.Option("shewhart,ewma,cusum", "--charts", help="Comma-separated charts to alarm on."),
        baseline: int = typer.Option(50, "--baseline", help="Phase I: the first N accepted units of each series."),
        baseline_lot: Optional[str] = typer.Option(None, "--baseline-lot", help="Phase I from this lot's accepted units."),
        family_arl0: float = typer.Option(2000.0, "--family-arl0",
                                          help="In-control average run length wanted per group (all metrics)."),
        batch_method: str = typer.Option("welch", "--batch-test", help="Material-batch test: welch or mannwhitney."),
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for control-chart PNGs and index.html."),
        force: bool = typer.Option(False, "--force", help="Replace the report in --out if it exists."),
    ) -> None:
        """SPC over stored metrics: print drift alarms (metric, group, rule, first unit, direction) and batch
        differences; with --out, write control charts into an HTML page."""
        from . import drift as D

        try:
            design = D.SeriesDesign(charts=tuple(c.strip() for c in charts.split(",") if c.strip()), rules=rules)
        except D.DriftError as exc:
            _fail(f"{exc}", EX_USAGE)
        if out is not None and (out / "index.html").exists() and not force:
            _fail(f"--out {out}: index.html exists; pass --force to replace it", EX_CANTCREAT)
        store = _open(db, must_exist=True)
        try:
            units = store.results(product=product, lot=lot)
            report = D.detect_drift(units, product=product, by=tuple(by or ()), baseline=baseline,
                                    baseline_lot=baseline_lot, design=design, family_arl0=family_arl0,
                                    batch_method=batch_method)
        except GoldenVisionError as exc:
            _fail(str(exc), _exit_code(exc))
        finally:
            store.close()
        page = None
        if out is not None:
            try:
                page = write_drift_html(report, out, title=f"Drift {product or 'all products'}"
                                        + (f", lot {lot}" if lot else ""))
            except OSError as exc:
                _fail(f"--out {out}: cannot write the report ({exc})", EX_CANTCREAT)
        if as_json:
            d = report.to_dict()
            d["units"] = len(units)
            if page is not None:
                d["report"] = str(page)
            typer.echo(json.dumps(d, ensure_ascii=False, default=float))
            return
        console = Console()
        if not units:
            console.print("no units stored" + (f" for product {product}" if product else ""))
            return
        table = Table(title=f"{len(report.alarms)} drift alarms over {len(units)} units")
        for col in ("metric", "group", "rule", "first_unit", "alarm unit", "direction", "in tolerance"):
            table.add_column(col, overflow="fold")
        for a in report.alarms:
            table.add_row(a.metric, ", ".join(f"{k}={v}" for k, v in a.group.items()), a.rule, a.first_unit,
                          a.alarm_unit, a.direction, "-" if a.in_tolerance is None else ("yes" if a.in_tolerance else "no"))
        console.print(table)
        for c in report.comparisons:
            console.print(c.sentence(), highlight=False)
        for s in report.series:
            if s.note:
                console.print(f"[yellow]{s.metric}[/]: {s.note}", highlight=False)
        if page is not None:
            console.print(f"report: {page}")


# --------------------------------------------------------------------------------------
# HTML report with control charts
# --------------------------------------------------------------------------------------

def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:120]


def _plot_series(s: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .drift import metric_label

    x = np.arange(len(s.values))
    n_panels = 1 + (s.ewma is not None) + (s.cusum is not None)
    fig, axes = plt.subplots(n_panels, 1, figsize=(9, 2.3 * n_panels), sharex=True, squeeze=False)
    ax = axes[0, 0]
    ax.plot(x, s.values, ".-", lw=0.6, ms=3, color="#333")
    lim = s.limits
    if lim is not None and s.transform is None:
        ax.axhline(lim.center, color="green", lw=0.8)
        L = 3.0 if s.chart_limits is None else s.chart_limits[0]
        for k in (-L, L):
            ax.axhline(lim.center + k * lim.sigma, color="orange", lw=0.8, ls="--")
    for spec in (s.lsl, s.usl):
        if spec is not None:
            ax.axhline(spec, color="red", lw=1.0)
    if s.phase2 is not None and s.phase2.size:
        ax.axvspan(-0.5, s.phase2[0] - 0.5, color="#dde8f5", zorder=0, label="Phase I baseline")
    for a in s.alarms:
        i_first = s.unit_ids.index(a.first_unit_id)
        i_alarm = s.unit_ids.index(a.alarm_unit_id)
        ax.axvline(i_first, color="purple", ls=":", lw=1)
        ax.plot([i_alarm], [s.values[i_alarm]], "o", color="red", ms=6, mfc="none")
    ax.set_ylabel(metric_label(s.metric))
    ax.set_title(f"{s.metric}  [{', '.join(f'{k}={v}' for k, v in s.group.items())}]"
                 + (f"  (charts on {s.transform} scale)" if s.transform else ""), fontsize=9)
    row = 1
    if s.ewma is not None:
        axe = axes[row, 0]
        px = s.phase2
        axe.plot(px, s.ewma.statistic, lw=0.8, color="#1f77b4")
        axe.plot(px, s.ewma.ucl, "--", color="orange", lw=0.8)
        axe.plot(px, s.ewma.lcl, "--", color="orange", lw=0.8)
        axe.set_ylabel(f"EWMA λ={s.ewma.lam:g}")
        row += 1
    if s.cusum is not None:
        axc = axes[row, 0]
        px = s.phase2
        axc.plot(px, s.cusum.c_plus, lw=0.8, label="C+")
        axc.plot(px, -s.cusum.c_minus, lw=0.8, label="−C−")
        axc.axhline(s.cusum.h, color="orange", ls="--", lw=0.8)
        axc.axhline(-s.cusum.h, color="orange", ls="--", lw=0.8)
        axc.set_ylabel(f"CUSUM (σ) k={s.cusum.k:g}")
        axc.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("unit (production order)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_drift_html(report: Any, out: Path, *, title: str = "Drift") -> Path:
    """Write ``index.html`` and one PNG control chart per monitored series into ``out``.

    Parameters
    ----------
    report : goldenvision.drift.DriftReport
    out : Path
        Folder (created if missing); files in it are replaced.

    Returns
    -------
    Path
        The HTML page.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    esc = html.escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>{esc(title)}</title>",
             "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}th{background:#eee}</style>",
             f"<h1>{esc(title)}</h1>",
             f"<p>Design: {esc(json.dumps(report.design.to_dict()))}; in-control ARL per group "
             f"{esc(str(report.family_arl0))}.</p>",
             f"<h2>{len(report.alarms)} alarms</h2><table><tr><th>metric</th><th>group</th><th>rule</th>"
             "<th>first unit (change point)</th><th>alarm unit</th><th>direction</th><th>in tolerance</th></tr>"]
    for a in report.alarms:
        tol = "-" if a.in_tolerance is None else ("yes" if a.in_tolerance else "no")
        parts.append(f"<tr><td>{esc(a.metric)}</td><td>{esc(', '.join(f'{k}={v}' for k, v in a.group.items()))}</td>"
                     f"<td>{esc(a.rule)}</td><td>{esc(a.first_unit)}</td><td>{esc(a.alarm_unit)}</td>"
                     f"<td>{esc(a.direction)}</td><td>{tol}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Material batches</h2><table><tr><th>metric</th><th>finding</th><th>n</th><th>95 % interval</th>"
                 "<th>test</th></tr>")
    for c in report.comparisons:
        parts.append(f"<tr><td>{esc(c.metric)}</td><td>{esc(c.sentence())}</td><td>{c.n_a} / {c.n_b}</td>"
                     f"<td>[{c.ci_low:.3g}, {c.ci_high:.3g}]</td><td>{esc(c.method)}</td></tr>")
    if not report.comparisons:
        parts.append("<tr><td colspan=5>no significant difference between material batches</td></tr>")
    parts.append("</table><h2>Capability</h2><table><tr><th>metric</th><th>group</th><th>n</th><th>LSL</th><th>USL</th>"
                 "<th>Cp</th><th>Cpk</th><th>Pp</th><th>Ppk</th></tr>")

    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.3g}"

    for s in report.series:
        if s.capability is not None:
            c = s.capability
            parts.append(f"<tr><td>{esc(s.metric)}</td><td>{esc(str(s.group))}</td><td>{c.n}</td><td>{f(c.lsl)}</td>"
                         f"<td>{f(c.usl)}</td><td>{f(c.cp)}</td><td>{f(c.cpk)}</td><td>{f(c.pp)}</td>"
                         f"<td>{f(c.ppk)}</td></tr>")
    parts.append("</table><h2>Control charts</h2>")
    for i, s in enumerate(report.series):
        if s.limits is None:
            parts.append(f"<p>{esc(s.metric)}: {esc(s.note or 'not charted')}</p>")
            continue
        name = f"chart_{i:03d}_{_slug(s.metric)}.png"
        _plot_series(s, out / name)
        parts.append(f"<figure><img src='{esc(name)}' alt='{esc(s.metric)}'><figcaption>{esc(s.metric)}: "
                     f"centre {s.limits.center:.4g}, sigma {s.limits.sigma:.3g} from {s.baseline_n} baseline units"
                     f"{'; ' + str(len(s.alarms)) + ' alarms' if s.alarms else ''}</figcaption></figure>")
    page = out / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
