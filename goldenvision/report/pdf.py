"""The inspection report as a multi-page PDF (matplotlib's PdfPages; no other dependency).

Page 1 is the summary a buyer acts on: the lot verdict in plain words, the lot context
(supplier, PO, inspector, place, date), the ISO 2859-1 counts per defect class against
Ac/Re and what exactly was counted, and every unit that failed or needs review (the table
continues on the next page when it is long; the ids of all of them are on page 1). Then
each unit that failed or needs review from a new page: golden | unit | heat map |
measurements (and close-ups, colour difference maps), the reasons, the colour and
dimension tables and every anomalous region. Same content as the HTML
(:func:`goldenvision.report.build_report`).

Layout: text is wrapped by its measured width (matplotlib's own font metrics), nothing is
shortened; a table or picture that does not fit on the page continues on the next one.
Every page carries "page N of M" in its footer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..golden import GoldenSample
from ..results import UnitResult
from .checksums import SUMS_NAME, WrittenReport, record_sha256
from .data import ReportData, build_report

__all__ = ["write_pdf_report", "layout_pdf", "PdfLayout"]

A4_IN = (8.27, 11.69)
_TOP, _BOTTOM, _LEFT, _RIGHT = 0.955, 0.05, 0.06, 0.94
_DECISION_COLOUR = {"accept": "#2e9e50", "accept_reinstate_normal": "#2e9e50", "reject": "#d9534f",
                    "pending": "#e0a800", "second_sample": "#e0a800"}
_VERDICT_COLOUR = {"pass": "#2e9e50", "fail": "#d9534f", "review": "#e0a800"}
_VERDICT_FILL = {"fail": "#fbe0df", "review": "#fff2cc", "pass": "#dff3e4"}
_INK, _MUTED, _GRID, _HEAD = "#1d2430", "#5a6474", "#dde1e7", "#f0f2f5"


class _Measure:
    """Text widths in points from matplotlib's font metrics (cached per word)."""

    def __init__(self) -> None:
        from matplotlib.textpath import TextToPath

        self._ttp = TextToPath()
        self._cache: dict[tuple[str, float, str, str], float] = {}
        self._props: dict[tuple[float, str, str], Any] = {}

    def width(self, s: str, size: float, weight: str = "normal", family: str = "sans-serif") -> float:
        key = (s, size, weight, family)
        w = self._cache.get(key)
        if w is None:
            from matplotlib.font_manager import FontProperties

            prop = self._props.get(key[1:])
            if prop is None:
                prop = self._props[key[1:]] = FontProperties(size=size, weight=weight, family=family)
            w = self._ttp.get_text_width_height_descent(s, prop, ismath=False)[0] if s else 0.0
            self._cache[key] = w
        return w

    def wrap(self, text: str, width_pt: float, size: float, weight: str = "normal",
             family: str = "sans-serif") -> list[str]:
        """Greedy word wrap to ``width_pt``; a word longer than a line (a hash) is split."""
        limit = 0.97 * width_pt  # kerning and rounding margin
        out: list[str] = []
        for para in str(text).split("\n"):
            line = ""
            for word in para.split(" "):
                cand = word if not line else f"{line} {word}"
                if self.width(cand, size, weight, family) <= limit:
                    line = cand
                    continue
                if line:
                    out.append(line)
                    line = ""
                while self.width(word, size, weight, family) > limit and len(word) > 1:
                    k = len(word)
                    while k > 1 and self.width(word[:k], size, weight, family) > limit:
                        k -= 1
                    out.append(word[:k])
                    word = word[k:]
                line = word
            out.append(line)
        return out


class PdfLayout:
    """Top-down layout over A4 figures that starts a new page whenever the next block
    does not fit; records the text drawn on each page (``page_text``) so the content of
    the PDF can be checked without a PDF reader."""

    def __init__(self, footer: str) -> None:
        self.footer = footer
        self.figs: list[Any] = []
        self.page_text: list[list[str]] = []
        self.m = _Measure()
        self.continued: str | None = None  # heading repeated on a continuation page
        self.new_page()

    # ------------------------------------------------------------------ geometry
    @staticmethod
    def _pt_h(pt: float) -> float:
        return pt / 72.0 / A4_IN[1]

    @staticmethod
    def _pt_w(pt: float) -> float:
        return pt / 72.0 / A4_IN[0]

    @property
    def width_pt(self) -> float:
        return (_RIGHT - _LEFT) * A4_IN[0] * 72.0

    def new_page(self) -> None:
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=A4_IN)
        self.figs.append(self.fig)
        self.page_text.append([])
        self.y = _TOP
        if self.continued:
            self._put(_LEFT, self.y, self.continued, size=9, color=_MUTED, weight="bold")
            self.y -= self._pt_h(9 * 1.6)

    def ensure(self, h: float) -> bool:
        """Start a new page unless ``h`` (figure fraction) fits; True if a page was started."""
        if self.y - h < _BOTTOM and self.y < _TOP - 0.03:
            self.new_page()
            return True
        return False

    def _put(self, x: float, y: float, s: str, *, size: float, color: str = _INK, weight: str = "normal",
             family: str = "sans-serif") -> None:
        self.fig.text(x, y, s, fontsize=size, color=color, weight=weight, family=family, va="top", ha="left")
        self.page_text[-1].append(s)

    # ------------------------------------------------------------------ blocks
    def text(self, s: str, *, size: float = 9, weight: str = "normal", color: str = _INK, gap: float = 0.004,
             family: str = "sans-serif", indent_pt: float = 0.0) -> None:
        lines = self.m.wrap(s, self.width_pt - indent_pt, size, weight, family)
        lh = self._pt_h(size * 1.32)
        if len(lines) * lh < 0.25:
            self.ensure(len(lines) * lh)
        for line in lines:
            self.ensure(lh)
            self._put(_LEFT + self._pt_w(indent_pt), self.y, line, size=size, color=color, weight=weight,
                      family=family)
            self.y -= lh
        self.y -= gap

    def heading(self, s: str, *, size: float = 11, keep_pt: float = 60.0) -> None:
        self.ensure(self._pt_h(size * 1.5 + keep_pt))  # never a heading alone at the foot of a page
        self.text(s, size=size, weight="bold", gap=0.003)

    def table(self, header: Sequence[str] | None, rows: Sequence[Sequence[str]], col_widths: Sequence[float], *,
              size: float = 7.5, fills: Sequence[Sequence[str | None]] | None = None, label_col: bool = False,
              mono_cols: Sequence[int] = (), gap: float = 0.012) -> None:
        """A table whose cells wrap; rows that do not fit go to the next page (header repeated)."""
        from matplotlib.patches import Rectangle

        if not rows:
            return
        total = float(sum(col_widths))
        widths = [w / total * (_RIGHT - _LEFT) for w in col_widths]
        pad_pt = 3.0
        lh_pt = size * 1.3

        def wrapped(row: Sequence[str], bold: bool) -> tuple[list[list[str]], float]:
            cells = []
            for j, cell in enumerate(row):
                fam = "monospace" if j in mono_cols and not bold else "sans-serif"
                wt = "bold" if bold or (label_col and j == 0) else "normal"
                cells.append(self.m.wrap(str(cell), widths[j] * A4_IN[0] * 72.0 - 2 * pad_pt, size, wt, fam))
            n = max(len(c) for c in cells)
            return cells, self._pt_h(n * lh_pt + 2 * pad_pt)

        def draw(cells: list[list[str]], h: float, fill_row: Sequence[str | None], bold: bool) -> None:
            x = _LEFT
            for j, lines in enumerate(cells):
                fc = fill_row[j] if fill_row[j] else "white"
                self.fig.add_artist(Rectangle((x, self.y - h), widths[j], h, transform=self.fig.transFigure,
                                              facecolor=fc, edgecolor=_GRID, linewidth=0.5))
                fam = "monospace" if j in mono_cols and not bold else "sans-serif"
                wt = "bold" if bold or (label_col and j == 0) else "normal"
                col = _MUTED if bold or (label_col and j == 0) else _INK
                yy = self.y - self._pt_h(pad_pt)
                for line in lines:
                    self._put(x + self._pt_w(pad_pt), yy, line, size=size, color=col, weight=wt, family=fam)
                    yy -= self._pt_h(lh_pt)
                x += widths[j]
            self.y -= h

        head = wrapped(header, True) if header else None
        body = [wrapped(r, False) for r in rows]
        head_fill = [_HEAD] * len(widths)
        first = True
        for i, (cells, h) in enumerate(body):
            need = h + (head[1] if head and first else 0.0)
            if self.ensure(need) or first:
                if head:
                    draw(head[0], head[1], head_fill, True)
                first = False
            fill: list[str | None] = list(fills[i]) if fills is not None else [None] * len(widths)
            if label_col and fill[0] is None:
                fill[0] = "#f7f8fa"
            draw(cells, h, fill, False)
        self.y -= gap

    def table_height(self, header: Sequence[str] | None, rows: Sequence[Sequence[str]], col_widths: Sequence[float],
                     *, size: float = 7.5) -> float:
        """Height (figure fraction) :meth:`table` will take, without drawing."""
        total = float(sum(col_widths))
        w_pt = [w / total * (_RIGHT - _LEFT) * A4_IN[0] * 72.0 - 6.0 for w in col_widths]
        h = 0.0
        for k, row in enumerate(([header] if header else []) + list(rows)):
            bold = bool(header) and k == 0
            n = max(len(self.m.wrap(str(c), w_pt[j], size, "bold" if bold else "normal")) for j, c in enumerate(row))
            h += self._pt_h(n * size * 1.3 + 6.0)
        return h

    def images(self, panels: Sequence[tuple[np.ndarray, str]], *, ncol: int = 2) -> None:
        """Pictures with captions, ``ncol`` per row; a row that does not fit starts a page."""
        gap_x = 0.02
        w = (_RIGHT - _LEFT - gap_x * (ncol - 1)) / ncol
        cap_size = 7.5
        for k in range(0, len(panels), ncol):
            row = panels[k : k + ncol]
            caps = [self.m.wrap(cap, w * A4_IN[0] * 72.0, cap_size) for _, cap in row]
            cap_h = self._pt_h(max(len(c) for c in caps) * cap_size * 1.3 + 2)
            hs = []
            for img, _ in row:
                h = w * (img.shape[0] / img.shape[1]) * A4_IN[0] / A4_IN[1]
                if h > 0.5:  # a tall picture is scaled down to half a page
                    h = 0.5
                hs.append(h)
            self.ensure(cap_h + max(hs) + 0.01)
            for j, ((img, _), cap) in enumerate(zip(row, caps)):
                x = _LEFT + j * (w + gap_x)
                yy = self.y
                for line in cap:
                    self._put(x, yy, line, size=cap_size)
                    yy -= self._pt_h(cap_size * 1.3)
                ww = hs[j] * A4_IN[1] / A4_IN[0] * img.shape[1] / img.shape[0]
                ax = self.fig.add_axes((x, self.y - cap_h - hs[j], min(w, ww), hs[j]))
                ax.imshow(img, interpolation="antialiased")
                ax.set_xticks([])
                ax.set_yticks([])
            self.y -= cap_h + max(hs) + 0.014

    def finish(self) -> None:
        """Write the footer with "page N of M" on every page."""
        n = len(self.figs)
        for i, fig in enumerate(self.figs, start=1):
            s = f"{self.footer} · page {i} of {n}"
            fig.text(0.5, 0.022, s, fontsize=7, color="#5a6474", ha="center")
            self.page_text[i - 1].append(s)


# --------------------------------------------------------------------------- pages


def _summary(doc: PdfLayout, data: ReportData) -> None:
    doc.text(data.title, size=15, weight="bold")
    doc.text(f"Product {data.spec.product} · spec revision {data.spec.revision} · generated {data.generated} · "
             f"goldenvision {data.version}", size=8, color=_MUTED, gap=0.01)
    lot = data.lot
    ctx_rows = [[label, value] for label, value, _ in data.lot_context]
    ctx_fill = [[None, None if given else "#f7f8fa"] for _, _, given in data.lot_context]
    if lot is not None:
        col = _DECISION_COLOUR.get(lot["decision"], _MUTED)
        doc.text(f"LOT VERDICT: {lot['decision_words']}", size=17, weight="bold", color=col)
        doc.text(lot["headline"], size=9.5)
        for e in lot["explanation"]:
            doc.text(e, size=9.5)
        doc.y -= 0.004
        t = lot.get("type")
        kind = f"{t['label']}, done {t['when']}" if t else str(lot.get("inspection_type") or "–")
        if lot.get("completion_pct"):
            kind += f" (this lot: {lot['completion_pct']})"
        rows = [
            ["Lot", f"{lot.get('lot_id') or '–'}  {lot.get('product') or ''}".strip()],
            ["Inspection", kind],
            ["Lot size", f"{lot.get('lot_size')} units"],
            ["Sampling", f"ISO 2859-1 single sampling, level {lot.get('level') or '–'}, "
                         f"{lot.get('severity') or 'normal'} inspection"],
            ["Sample", f"{len(lot['sample_ids'])} units drawn at random with seed {lot.get('seed')} (reproducible)"],
        ] + ctx_rows
        no_fill: list[list[str | None]] = [[None, None]] * 5
        doc.table(None, rows, [0.2, 0.8], size=8, label_col=True, fills=no_fill + ctx_fill)
        rows, fills = [], []
        for k in lot["classes"]:
            found = str(k["nonconforming"]) + (f" (+{k['unresolved']} under review)" if k["unresolved"] else "")
            rows.append([k["name"], k["aql_label"], str(k["code_letter"]),
                         f"{k['sample_size']} ({k['counted_in']})", found, str(k["accept"]), str(k["reject"]),
                         str(k["decision"]).replace("_", " ").upper()])
            fills.append([None] * 7 + [{"reject": "#fbe0df", "pending": "#fff2cc"}.get(k["decision"], "#dff3e4")])
        doc.heading("Result per defect class")
        doc.table(["Defect class", "AQL", "Code letter", "Units counted", "Defective units found", "Ac (accept ≤)",
                   "Re (reject ≥)", "Result"], rows, [0.11, 0.15, 0.08, 0.2, 0.14, 0.1, 0.1, 0.12], size=7.5,
                  fills=fills, gap=0.006)
        doc.text("Accepted if the defective units found are at most Ac, rejected if they reach Re.", size=7.5,
                 color=_MUTED, gap=0.004)
        if lot.get("sample_words"):
            doc.text("What was counted: " + lot["sample_words"], size=8.5, gap=0.01)
    else:
        doc.heading("Inspection")
        doc.table(None, ctx_rows, [0.2, 0.8], size=8, label_col=True, fills=ctx_fill)
    n = data.counts
    ev = data.evidence_units
    doc.heading(f"Units that failed or need review ({len(ev)} of {len(data.units)} inspected)")
    line = (f"{len(data.units)} units inspected: pass {n['pass']} · fail {n['fail']} · "
            f"review (a person decides) {n['review']}.")
    if lot is not None:
        line += (f" All {len(data.units)} photographed units were inspected; the lot verdict counts only the "
                 f"{len(lot['sample_ids'])} units drawn." if len(data.units) > len(lot["sample_ids"])
                 else " The units inspected are the units drawn for the sample.")
    doc.text(line, size=8.5, gap=0.006)
    if ev:
        in_lot = lot is not None
        header = (["Unit", "Verdict", "Class"] + (["Sample #"] if in_lot else [])
                  + (["Expected (demo)"] if data.has_truth else []) + ["Why"])
        rows, fills = [], []
        for u in ev:
            r = u["r"]
            row = [str(r["unit_id"]), r["verdict"].upper(), str(r.get("defect_class") or "")]
            if in_lot:
                row.append(f"#{u['sample_index']}" if u["sample_index"] else "")
            if data.has_truth:
                row.append(str((u.get("truth") or {}).get("expected_verdict", "")))
            rows.append(row + ["; ".join(r["reasons"])])
            fills.append([None, _VERDICT_FILL.get(r["verdict"])] + [None] * (len(row) - 1))
        widths = ([0.14, 0.08, 0.07] + ([0.08] if in_lot else []) + ([0.09] if data.has_truth else []))
        widths.append(1.0 - sum(widths))
        if doc.y - doc.table_height(header, rows, widths, size=7) < _BOTTOM:
            # the table continues on the next page: name every unit here first
            doc.text("All of them: " + ",  ".join(
                f"{u['r']['unit_id']} ({u['r']['verdict']}{', ' + u['r']['defect_class'] if u['r'].get('defect_class') else ''})"
                for u in ev) + ". The reasons follow (the table continues on the next page); each unit's evidence "
                "follows the summary.", size=8, gap=0.006)
        doc.continued = "Units that failed or need review (continued)"
        doc.table(header, rows, widths, size=7, fills=fills)
        doc.continued = None
    else:
        doc.text("None: every unit passed.", size=9)
    if lot is not None:
        doc.heading("Units drawn for the sample (in draw order)", keep_pt=24)
        chips = [f"#{s['index']} {s['unit_id']}" + (f" [{s['verdict'].upper()}]" if s["verdict"] and s["verdict"] != "pass" else "")
                 for s in lot["sample"]]
        doc.text(",  ".join(chips), size=8, gap=0.01)
    p = data.golden_provenance
    doc.heading("Golden sample (the reference)")
    sigs = "; ".join(f"{s.get('role')}: {s.get('signer')} (key {s.get('key_id')})" for s in p.get("signatures") or []) or "none"
    doc.table(None, [
        ["Golden id", str(p.get("golden_id") or "not sealed")],
        ["Manifest SHA-256", str(p.get("manifest_sha256") or "–")],
        ["Spec revision", f"{p.get('product')} rev {p.get('revision')}"],
        ["Sealed", str(p.get("created_utc") or "–")],
        ["Signatures", sigs],
    ], [0.2, 0.8], size=7.5, label_col=True, mono_cols=(1,))
    if lot is not None and lot.get("type"):
        doc.text("What this inspection means for the buyer: " + lot["type"]["meaning"], size=8, color=_MUTED)
    doc.text(f"This PDF's own SHA-256 is recorded in the file {SUMS_NAME} written beside it (a file cannot contain "
             f"its own hash); check it with 'sha256sum -c {SUMS_NAME}' in that folder.", size=7.5, color=_MUTED)


def _unit_pages(doc: PdfLayout, data: ReportData, u: Mapping[str, Any], index: int, total: int) -> None:
    r = u["r"]
    doc.new_page()
    col = _VERDICT_COLOUR.get(r["verdict"], _MUTED)
    head = f"{r['unit_id']}   {r['verdict'].upper()}"
    if r.get("defect_class"):
        head += f"   (defect class: {r['defect_class']})"
    doc.text(head, size=14, weight="bold", color=col)
    doc.continued = f"{r['unit_id']} {r['verdict'].upper()} (continued)"
    sub = f"Unit {index} of {total} that failed or need review"
    if u.get("sample_index"):
        sub += f" · unit #{u['sample_index']} of the AQL sample"
    doc.text(sub, size=7.5, color=_MUTED, gap=0.0)
    doc.text(f"Photo SHA-256: {u.get('image_sha256') or 'not recorded'}", size=7, color=_MUTED, family="monospace",
             gap=0.006)
    for reason in r["reasons"]:
        doc.text("• " + reason, size=8.5, gap=0.002, indent_pt=0)
    doc.y -= 0.006
    imgs = u.get("images") or {}
    panels = [(imgs.get("golden"), "Golden sample"), (imgs.get("unit"), "This unit (aligned; magenta = unlike golden)"),
              (imgs.get("heat"), "Difference heat map over the dimmed unit: blue/cyan below, yellow/red at or above "
                                 "the alarm threshold (bar below)"),
              (imgs.get("dimensions"), "Measurements (red = out of tolerance, blue = edges found)")]
    shown = [(im, cap) for im, cap in panels if im is not None]
    shown += [(v, f"Close-up: {k[5:]} (out of tolerance)") for k, v in imgs.items() if k.startswith("zoom:")]
    shown += [(m["image"], f"Colour zone {m['zone']}: ΔE00 map") for m in u.get("color_maps", [])]
    if shown:
        doc.images(shown, ncol=2)
    elif u.get("evidence_error"):
        doc.text("No evidence image: " + u["evidence_error"], size=8.5)
    else:
        doc.text("No photo was given for this unit, so there are no evidence images.", size=8.5, color=_MUTED)
    if u.get("colors"):
        rows = [[k["name"], _fmt(k.get("delta_e_target")), _fmt(k.get("delta_e_golden")), f"≤ {k['tolerance']:.2f}",
                 k["words"], f"{k['d_l']:+.2f} / {k['d_c']:+.2f} / {k['d_h']:+.2f}", "ok" if k["ok"] else "OUT"]
                for k in u["colors"]]
        fills = [[None] * 6 + ["#dff3e4" if k["ok"] else "#fbe0df"] for k in u["colors"]]
        doc.table(["Colour zone", "ΔE00 vs target", "ΔE00 vs golden", "Allowed", "How it differs", "ΔL / ΔC / ΔH",
                   "Result"], rows, [0.12, 0.12, 0.12, 0.09, 0.27, 0.18, 0.08], fills=fills)
    if u.get("dims"):
        rows = [[k["name"], k["measured_text"] + (f" {k['uncertainty_text']}" if k["uncertainty_text"] else ""),
                 f"{k['nominal_mm']:.2f} mm", f"{k['low_mm']:.2f} – {k['high_mm']:.2f} mm",
                 _fmt(k.get("deviation_mm"), "{:+.2f} mm"),
                 f"{k['beyond_limit_mm']:.2f} mm" if k["beyond_limit_mm"] else "–", k["words"],
                 "ok" if k["ok"] else "review" if k.get("within_uncertainty") else "OUT"] for k in u["dims"]]
        fills = [[None] * 7 + ["#dff3e4" if k["ok"] else "#fdf1d6" if k.get("within_uncertainty") else "#fbe0df"]
                 for k in u["dims"]]
        doc.table(["Dimension", "Measured", "Nominal", "Allowed range", "Deviation from nominal", "Beyond the limit",
                   "In words", "Result"], rows, [0.12, 0.15, 0.09, 0.13, 0.1, 0.09, 0.24, 0.07], fills=fills, gap=0.004)
        if any(k["uncertainty_text"] for k in u["dims"]):
            doc.text("± is one standard deviation of the measurement from the edge fits in this photo (image noise "
                     "only; the scale calibration and the fixture are not included). No ± is shown where none was "
                     "measured.", size=7, color=_MUTED, gap=0.01)
    if r.get("defects"):
        rows = [[str(i), d["zone"], d.get("defect_class") or d["defect_type"], f"{d['score']:.1f}× threshold",
                 _fmt(d.get("area_mm2"), "{:.1f} mm²") if d.get("area_mm2") is not None else f"{d.get('area_px')} px",
                 f"({d['bbox'][0]}, {d['bbox'][1]})–({d['bbox'][2]}, {d['bbox'][3]})"]
                for i, d in enumerate(r["defects"], start=1)]
        doc.heading(f"Regions unlike the golden ({len(rows)})", size=9, keep_pt=30)
        doc.table(["#", "Region", "Kind", "Strength", "Area", "Where (golden px)"], rows,
                  [0.06, 0.16, 0.16, 0.2, 0.16, 0.26], size=7.5)
    doc.continued = None


def _fmt(v: Any, f: str = "{:.2f}") -> str:
    return "–" if v is None else f.format(v)


def layout_pdf(data: ReportData) -> PdfLayout:
    """Lay the report out on A4 pages (not written): the figures and the text on each page."""
    doc = PdfLayout(f"{data.title} · generated {data.generated}")
    _summary(doc, data)
    ev = data.evidence_units
    for i, u in enumerate(ev, start=1):
        _unit_pages(doc, data, u, i, len(ev))
    doc.finish()
    return doc


def write_pdf_report(
    path: "str | Path",
    results: Sequence["UnitResult | Mapping[str, Any]"],
    golden: GoldenSample,
    *,
    data: ReportData | None = None,
    image_paths: Mapping[str, "str | Path"] | None = None,
    title: str = "Inspection report",
    lot: Any = None,
    truth: Mapping[str, Mapping[str, Any]] | None = None,
    max_evidence_units: int = 60,
    color_maps: bool = True,
    lot_context: Mapping[str, str] | None = None,
    show_ground_truth: bool = False,
) -> WrittenReport:
    """Write the report as a multi-page A4 PDF and record its SHA-256.

    Parameters
    ----------
    path : str or Path
        The PDF file (folders are created).
    results, golden
        As for :func:`goldenvision.report.build_report`.
    data : ReportData, optional
        Content already built (shared with the HTML report); else built from the keywords
        below (ignored when ``data`` is given).
    image_paths, title, lot, truth, max_evidence_units, color_maps, lot_context, show_ground_truth
        See :func:`goldenvision.report.build_report`.

    Returns
    -------
    WrittenReport
        ``pdf`` is the path written; its SHA-256 is in ``sha256`` and in ``SHA256SUMS``
        beside it. The summary takes one page or more (the failing-unit table continues
        when long), then each unit that failed or needs review starts a page.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    if data is None:
        data = build_report(results, golden, image_paths=image_paths, title=title, lot=lot, truth=truth,
                            max_evidence_units=max_evidence_units, color_maps=color_maps, lot_context=lot_context,
                            show_ground_truth=show_ground_truth)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = layout_pdf(data)
    with PdfPages(path, metadata={"Title": data.title, "Creator": f"goldenvision {data.version}"}) as pdf:
        for fig in doc.figs:
            pdf.savefig(fig)
    sums, digests = record_sha256([path])
    return WrittenReport(html=None, pdf=path, sha256=digests, sums=sums)
