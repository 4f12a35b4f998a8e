"""The inspection report as a multi-page PDF (matplotlib's PdfPages; no other dependency).

Page 1 is the summary a buyer acts on: the lot verdict in plain words, the ISO 2859-1 plan
and counts per defect class against Ac/Re, the seeded sample, the unit counts and the
golden's provenance. Then one A4 page per unit that failed or needs review: golden | unit |
heat map (and measurements, colour difference maps), the reasons, and the colour and
dimension tables. Same content as the HTML (:func:`goldenvision.report.build_report`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..golden import GoldenSample
from ..results import UnitResult
from .data import ReportData, build_report

__all__ = ["write_pdf_report"]

A4_IN = (8.27, 11.69)
_DECISION_COLOUR = {"accept": "#2e9e50", "accept_reinstate_normal": "#2e9e50", "reject": "#d9534f",
                    "pending": "#e0a800", "second_sample": "#e0a800"}
_VERDICT_COLOUR = {"pass": "#2e9e50", "fail": "#d9534f", "review": "#e0a800"}


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.fill(p, width) for p in str(text).split("\n"))


class _Cursor:
    """Top-down layout on a figure in figure fractions."""

    def __init__(self, fig: Any, top: float = 0.955, left: float = 0.06, right: float = 0.94) -> None:
        self.fig, self.y, self.left, self.right = fig, top, left, right

    def text(self, s: str, *, size: float = 9, weight: str = "normal", color: str = "#1d2430", wrap: int = 110,
             gap: float = 0.004, **kw: Any) -> None:
        s = _wrap(s, wrap)
        lines = s.count("\n") + 1
        self.fig.text(self.left, self.y, s, fontsize=size, weight=weight, color=color, va="top", ha="left", **kw)
        self.y -= lines * size * 1.45 / 72 / A4_IN[1] + gap

    def table(self, header: list[str], rows: list[list[str]], *, col_widths: list[float] | None = None,
              size: float = 7.5, row_h: float = 0.021, colours: list[list[str]] | None = None) -> None:
        if not rows:
            return
        h = row_h * (len(rows) + 1)
        ax = self.fig.add_axes((self.left, self.y - h, self.right - self.left, h))
        ax.axis("off")
        has_header = any(header)
        if not has_header:
            h = row_h * len(rows)
            ax.set_position((self.left, self.y - h, self.right - self.left, h))
        t = ax.table(cellText=rows, colLabels=header if has_header else None, colWidths=col_widths, loc="upper left",
                     cellLoc="left", bbox=(0, 0, 1, 1))
        t.auto_set_font_size(False)
        t.set_fontsize(size)
        for (i, j), cell in t.get_celld().items():
            cell.set_edgecolor("#dde1e7")
            cell.set_linewidth(0.5)
            if has_header and i == 0:
                cell.set_facecolor("#f0f2f5")
                cell.set_text_props(weight="bold", color="#5a6474")
            elif not has_header and j == 0:
                cell.set_facecolor("#f7f8fa")
                cell.set_text_props(weight="bold", color="#5a6474")
            elif colours is not None:
                cell.set_facecolor(colours[i - 1 if has_header else i][j])
        self.y -= h + 0.012


def _fmt(v: Any, f: str = "{:.2f}") -> str:
    return "–" if v is None else f.format(v)


def _summary_page(pdf: Any, data: ReportData) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=A4_IN)
    c = _Cursor(fig)
    c.text(data.title, size=15, weight="bold")
    c.text(f"Product {data.spec.product} · spec revision {data.spec.revision} · generated {data.generated} · "
           f"goldenvision {data.version}", size=8, color="#5a6474", gap=0.012)
    lot = data.lot
    if lot is not None:
        col = _DECISION_COLOUR.get(lot["decision"], "#5a6474")
        c.text(f"LOT VERDICT: {lot['decision_words']}", size=17, weight="bold", color=col)
        c.text(lot["headline"], size=9.5, wrap=100)
        for e in lot["explanation"]:
            c.text(e, size=9.5, wrap=100)
        c.y -= 0.006
        t = lot.get("type")
        kind = f"{t['label']}, done {t['when']}" if t else str(lot.get("inspection_type") or "–")
        if lot.get("completion_pct"):
            kind += f" (this lot: {lot['completion_pct']})"
        c.table(["", ""], [
            ["Lot", f"{lot.get('lot_id') or '–'}  {lot.get('product') or ''}  {lot.get('supplier') or ''}".strip()],
            ["Inspection", kind],
            ["Lot size", f"{lot.get('lot_size')} units"],
            ["Sampling", f"ISO 2859-1 single sampling, level {lot.get('level') or '–'}, {lot.get('severity') or 'normal'} inspection"],
            ["Sample", f"{len(lot['sample_ids'])} units drawn at random with seed {lot.get('seed')} (reproducible)"],
        ], col_widths=[0.18, 0.82], size=8)
        if t:
            c.text("What this means for the buyer: " + t["meaning"], size=8.5, wrap=115, gap=0.01)
        rows, colours = [], []
        for k in lot["classes"]:
            found = str(k["nonconforming"]) + (f" (+{k['unresolved']} review)" if k["unresolved"] else "")
            rows.append([k["name"], k["aql_label"], str(k["code_letter"]), str(k["sample_size"]) + (" (all)" if k["inspect_all"] else ""),
                         found, str(k["accept"]), str(k["reject"]), str(k["decision"]).replace("_", " ").upper()])
            rc = {"reject": "#fbe0df", "pending": "#fff2cc"}.get(k["decision"], "#dff3e4")
            colours.append(["white"] * 7 + [rc])
        c.text("Result per defect class", size=11, weight="bold")
        c.table(["Defect class", "AQL", "Code letter", "Inspected", "Defective", "Ac (accept ≤)",
                 "Re (reject ≥)", "Result"], rows, col_widths=[0.12, 0.17, 0.1, 0.11, 0.12, 0.13, 0.12, 0.13],
                colours=colours, size=8)
        c.text("Accepted if the defective units found are at most Ac, rejected if they reach Re. A unit counts once, "
               "in its most serious class. A class with a smaller sample uses the first units of the draw.",
               size=7.5, color="#5a6474", wrap=130, gap=0.01)
        c.text("Units drawn (in draw order)", size=11, weight="bold")
        chips = [f"#{s['index']} {s['unit_id']}" + (f" [{s['verdict'].upper()}]" if s["verdict"] and s["verdict"] != "pass" else "")
                 for s in lot["sample"]]
        c.text(",  ".join(chips), size=8, wrap=120, gap=0.012)
    n = data.counts
    c.text("Units inspected", size=11, weight="bold")
    c.text(f"{len(data.units)} photographed and inspected:  pass {n['pass']}  ·  fail {n['fail']}  ·  "
           f"review (a person decides) {n['review']}", size=9.5, gap=0.006)
    ev = data.evidence_units
    # keep room for the golden table (about 0.19 of the page) below the unit list
    fit = max(3, int((c.y - 0.21) / 0.019) - 1)
    shown = ev[:fit]
    if ev:
        rows = [[str(u["r"]["unit_id"]), u["r"]["verdict"].upper(), str(u["r"].get("defect_class") or ""),
                 "#" + str(u["sample_index"]) if u["sample_index"] else "",
                 textwrap.shorten("; ".join(u["r"]["reasons"]), 95, placeholder=" …")] for u in shown]
        colours = [["white", {"fail": "#fbe0df", "review": "#fff2cc"}.get(u["r"]["verdict"], "white"), "white", "white", "white"]
                   for u in shown]
        c.table(["Unit", "Verdict", "Class", "In sample", "Why (details on the following pages)"], rows,
                col_widths=[0.14, 0.08, 0.07, 0.08, 0.63], colours=colours, size=7, row_h=0.019)
        if len(ev) > len(shown):
            c.text(f"... and {len(ev) - len(shown)} more on the following pages.", size=8, color="#5a6474")
    p = data.golden_provenance
    c.text("Golden sample (the reference)", size=11, weight="bold")
    sigs = "; ".join(f"{s.get('role')}: {s.get('signer')} (key {s.get('key_id')})" for s in p.get("signatures") or []) or "none"
    c.table(["", ""], [
        ["Golden id", str(p.get("golden_id") or "not sealed")],
        ["Manifest SHA-256", str(p.get("manifest_sha256") or "–")],
        ["Spec revision", f"{p.get('product')} rev {p.get('revision')}"],
        ["Sealed", str(p.get("created_utc") or "–")],
        ["Signatures", sigs],
    ], col_widths=[0.18, 0.82], size=7.5)
    pdf.savefig(fig)


def _unit_page(pdf: Any, data: ReportData, u: Mapping[str, Any], index: int, total: int) -> None:
    from matplotlib.figure import Figure

    r = u["r"]
    fig = Figure(figsize=A4_IN)
    c = _Cursor(fig)
    col = _VERDICT_COLOUR.get(r["verdict"], "#5a6474")
    head = f"{r['unit_id']}   {r['verdict'].upper()}"
    if r.get("defect_class"):
        head += f"   (defect class: {r['defect_class']})"
    c.text(head, size=14, weight="bold", color=col)
    sub = f"Unit {index} of {total} that failed or need review"
    if u.get("sample_index"):
        sub += f" · unit #{u['sample_index']} of the AQL sample"
    sub += f" · photo SHA-256 {u.get('image_sha256') or 'not recorded'}"
    c.text(sub, size=7, color="#5a6474", wrap=160, gap=0.008)
    for reason in r["reasons"]:
        c.text("• " + reason, size=8.5, wrap=120, gap=0.002)
    c.y -= 0.008
    imgs = u.get("images") or {}
    panels = [(imgs.get("golden"), "Golden sample"), (imgs.get("unit"), "This unit (aligned; magenta = unlike golden)"),
              (imgs.get("heat"), "Difference heat map (coloured = unlike golden)"),
              (imgs.get("dimensions"), "Measurements (red = out, blue = edges found)")]
    panels = [p for p in panels if p[0] is not None]
    panels += [(v, f"Close-up: {k[5:]} (out of tolerance)") for k, v in imgs.items() if k.startswith("zoom:")]
    panels += [(m["image"], f"Colour zone {m['zone']}: ΔE00 map") for m in u.get("color_maps", [])]
    if panels:
        ncol = 2 if len(panels) <= 4 else 3
        w = (c.right - c.left - 0.02) / ncol
        ar = panels[0][0].shape[0] / panels[0][0].shape[1]
        for k in range(0, len(panels), ncol):
            row = panels[k : k + ncol]
            hs = []
            for j, (img, cap) in enumerate(row):
                h_fig = w * (img.shape[0] / img.shape[1]) * A4_IN[0] / A4_IN[1]
                hs.append(h_fig)
            h = max(hs)
            if c.y - h - 0.03 < 0.25 and k > 0:
                break  # keep room for the tables
            for j, (img, cap) in enumerate(row):
                ax = fig.add_axes((c.left + j * (w + 0.02), c.y - 0.016 - hs[j], w, hs[j]))
                ax.imshow(img, interpolation="antialiased")
                ax.set_xticks([])
                ax.set_yticks([])
                fig.text(c.left + j * (w + 0.02), c.y, cap, fontsize=7.5, va="top")
            c.y -= h + 0.026
        del ar
    elif u.get("evidence_error"):
        c.text("No evidence image: " + u["evidence_error"], size=8.5)
    if u.get("colors"):
        rows = [[k["name"], _fmt(k.get("delta_e_target")), _fmt(k.get("delta_e_golden")), f"≤ {k['tolerance']:.2f}", k["words"],
                 f"{k['d_l']:+.2f} / {k['d_c']:+.2f} / {k['d_h']:+.2f}", "ok" if k["ok"] else "OUT"] for k in u["colors"]]
        colours = [["white"] * 6 + ["#dff3e4" if k["ok"] else "#fbe0df"] for k in u["colors"]]
        c.table(["Colour zone", "ΔE00 vs target", "ΔE00 vs golden", "Allowed", "How it differs", "ΔL / ΔC / ΔH", "Result"],
                rows, col_widths=[0.12, 0.13, 0.13, 0.1, 0.24, 0.18, 0.1], colours=colours, size=7.5)
    if u.get("dims"):
        rows = [[k["name"], f"{k['measured_mm']:.2f} mm", f"{k['nominal_mm']:.2f} mm", f"{k['low_mm']:.2f} – {k['high_mm']:.2f} mm",
                 f"{k['deviation_mm']:+.2f} mm", k["words"], "ok" if k["ok"] else "OUT"] for k in u["dims"]]
        colours = [["white"] * 6 + ["#dff3e4" if k["ok"] else "#fbe0df"] for k in u["dims"]]
        c.table(["Dimension", "Measured", "Nominal", "Allowed range", "Deviation", "In words", "Result"], rows,
                col_widths=[0.16, 0.13, 0.12, 0.2, 0.12, 0.17, 0.1], colours=colours, size=7.5)
    if r.get("defects") and c.y > 0.08:
        rows = [[str(i), d["zone"], d["defect_type"], f"{d['score']:.1f}× threshold",
                 _fmt(d.get("area_mm2"), "{:.1f} mm²")] for i, d in enumerate(r["defects"][:8], start=1)]
        c.table(["#", "Region", "Kind", "Strength", "Area"], rows, col_widths=[0.06, 0.2, 0.2, 0.27, 0.27], size=7.5)
    fig.text(0.5, 0.02, f"{data.title} · {data.generated}", fontsize=6.5, color="#7a8494", ha="center")
    pdf.savefig(fig)


def write_pdf_report(
    path: "str | Path",
    results: Sequence["UnitResult | Mapping[str, Any]"],
    golden: GoldenSample,
    *,
    data: ReportData | None = None,
    **kwargs: Any,
) -> Path:
    """Write the report as a multi-page A4 PDF; returns its path.

    Parameters
    ----------
    path : str or Path
        The PDF file (folders are created).
    results, golden
        As for :func:`goldenvision.report.build_report`.
    data : ReportData, optional
        Content already built (shared with the HTML report); else built from ``kwargs``
        (``image_paths``, ``title``, ``lot``, ``truth``, ``max_evidence_units``, ``color_maps``).

    Returns
    -------
    Path
        One summary page, then one page per unit that failed or needs review
        (``1 + len(data.evidence_units)`` pages).
    """
    from matplotlib.backends.backend_pdf import PdfPages

    if data is None:
        data = build_report(results, golden, **kwargs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ev = data.evidence_units
    with PdfPages(path, metadata={"Title": data.title, "Creator": f"goldenvision {data.version}"}) as pdf:
        _summary_page(pdf, data)
        for i, u in enumerate(ev, start=1):
            _unit_page(pdf, data, u, i, len(ev))
    return path
