"""The dossier's human views: one HTML page and a PDF (matplotlib), from the same facts."""

from __future__ import annotations

import base64
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from ..errors import ImageError

__all__ = ["render_html", "render_pdf"]

_env = Environment(autoescape=select_autoescape(default=True))

_HTML = _env.from_string("""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Order {{ order.po }}: evidence dossier</title>
<style>
 body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1000px;color:#1d2430;padding:0 1rem}
 h1{margin-bottom:.2rem} .sub{color:#556;margin-top:0} table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
 td,th{border-bottom:1px solid #dde3ea;padding:.3rem .45rem;text-align:left;vertical-align:top}
 .rec{font-size:1.25rem;padding:1rem 1.2rem;border-radius:.5rem;margin:1rem 0;font-weight:600}
 .release{background:#e3f4e8;border:2px solid #1f7a3a}.hold{background:#fbe6e4;border:2px solid #b3261e}
 .accept{color:#1f7a3a;font-weight:700}.reject{color:#b3261e;font-weight:700}.pending{color:#9a6b00;font-weight:700}
 img{max-width:100%;border-radius:.3rem} code{font-size:.85em;word-break:break-all}
</style></head><body>
<h1>Order {{ order.po }}: evidence dossier</h1>
<p class="sub">{{ order.product }} · supplier {{ order.supplier }} · {{ order.quantity }} units · opened {{ order.created_utc }} · state {{ order.state }}</p>
<div class="rec {{ 'release' if rec.release else 'hold' }}">{{ rec.words }}</div>
<h2>Golden sample</h2>
<p>Golden <code>{{ golden.golden_id }}</code>, {{ golden.product }} rev {{ golden.revision }}, manifest sha256 <code>{{ golden.manifest_sha256 }}</code>.</p>
<table><tr><th>signed by</th><th>role</th><th>key id</th><th>when</th></tr>
{% for s in golden.signatures %}<tr><td>{{ s.signer }}</td><td>{{ s.role }}</td><td><code>{{ s.key_id }}</code></td><td>{{ s.signed_utc }}</td></tr>
{% else %}<tr><td colspan="4">The golden package carries no signature.</td></tr>{% endfor %}</table>
<h2>Pre-production sample</h2>
<table><tr><th>when</th><th>what</th><th>outcome</th><th>reasons / comment</th></tr>
{% for e in pps %}<tr><td>{{ e.utc }}</td>
<td>{% if e.kind == 'pps_proposed' %}submission {{ e.submission }} reviewed ({{ e.units|length }} units){% else %}decision on submission {{ e.submission }}, signed by {{ e.signer }} (key <code>{{ e.key_id }}</code>){% endif %}</td>
<td>{{ e.outcome }}</td><td>{% if e.kind == 'pps_proposed' %}{{ e.reasons|join('; ') }}{% else %}{{ e.comment }}{% if e.focus %} · watch: {{ e.focus|join(', ') }}{% endif %}{% endif %}</td></tr>
{% else %}<tr><td colspan="4">No PPS recorded.</td></tr>{% endfor %}</table>
<h2>Lots</h2>
<table><tr><th>lot</th><th>type</th><th>size</th><th>sample</th><th>verdict</th></tr>
{% for l in lots %}<tr><td>{{ l.lot_id }}</td><td>{{ (l.inspection_type or l.type or '')|upper }}</td><td>{{ l.lot_size }}</td>
<td>{{ (l.sample_ids or l.sample or [])|length }} units drawn{% if l.seed is not none %} (seed {{ l.seed }}){% endif %}</td>
{% set d = (l.verdict.decision if l.verdict is mapping else l.decision) or 'pending' %}<td class="{{ d }}">{{ d }}</td></tr>
{% else %}<tr><td colspan="5">No lot inspected yet.</td></tr>{% endfor %}</table>
<h2>Drift across the order</h2>
{% if alarms %}<table><tr><th>metric</th><th>group</th><th>rule</th><th>since</th><th>direction</th></tr>
{% for a in alarms %}<tr><td>{{ a.metric }}{% if a.focus %} <strong>(watched, PPS decision)</strong>{% endif %}</td><td>{{ a.group_words }}</td><td>{{ a.rule }}</td><td>{{ a.first_unit_name }}</td><td>{{ a.direction }}</td></tr>{% endfor %}</table>
{% else %}<p>No drift alarm across the order's units.</p>{% endif %}
<h2>Failing units beside the golden</h2>
{% for name, uri in evidence %}<p><strong>{{ name }}</strong><br><img src="{{ uri }}" alt="{{ name }}"></p>
{% else %}<p>No failing unit.</p>{% endfor %}
<p class="sub">This page is a view of <code>{{ order.po }}.dossier</code>; check that file with <code>goldenvision order verify</code>.</p>
</body></html>""")


def render_html(order: Mapping[str, Any], golden: Mapping[str, Any], pps: Sequence[Mapping[str, Any]],
                lots: Sequence[Mapping[str, Any]], alarms: Sequence[Mapping[str, Any]], rec: Mapping[str, Any],
                evidence: Mapping[str, bytes]) -> str:
    ev = [(Path(n).stem, "data:image/jpeg;base64," + base64.b64encode(b).decode()) for n, b in sorted(evidence.items())]
    shown = [dict(a, group_words=_group_words(a.get("group")), first_unit_name=Path(str(a.get("first_unit"))).name)
             for a in alarms]
    return _HTML.render(order=order, golden=golden, pps=pps, lots=lots, alarms=shown, rec=rec, evidence=ev)


def _group_words(group: Any) -> str:
    """``{"product": "wallet", "shift": "B"}`` -> ``product wallet, shift B``."""
    if isinstance(group, Mapping):
        return ", ".join(f"{k} {v}" for k, v in group.items())
    return str(group)


def render_pdf(path: Path, order: Mapping[str, Any], golden: Mapping[str, Any], pps: Sequence[Mapping[str, Any]],
               lots: Sequence[Mapping[str, Any]], alarms: Sequence[Mapping[str, Any]], rec: Mapping[str, Any],
               evidence: Mapping[str, bytes], *, manifest_sha256: str) -> Path:
    """A4 pages: the summary first (recommendation, golden, PPS, lots, drift), then the evidence."""
    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages
    import numpy as np

    lines: list[tuple[str, float, str, str]] = []  # text, size, weight, colour

    def add(text: str, size: float = 9.0, weight: str = "normal", color: str = "#1d2430", width: int = 105) -> None:
        for i, part in enumerate(textwrap.wrap(text, width=width) or [""]):
            lines.append(("    " + part if i else part, size, weight, color))

    add(f"Order {order['po']}: evidence dossier", 16, "bold")
    add(f"{order['product']} · supplier {order['supplier']} · {order['quantity']} units · state {order['state']}", 9, color="#556")
    add("")
    add(rec["words"], 12, "bold", "#1f7a3a" if rec["release"] else "#b3261e", width=68)
    add("")
    add("Golden sample", 11, "bold")
    add(f"id {golden['golden_id']}, {golden['product']} rev {golden['revision']}")
    add(f"manifest sha256 {golden['manifest_sha256']}")
    for s in golden["signatures"]:
        add(f"signed by {s['signer']} ({s['role']}), key {s['key_id']}")
    if not golden["signatures"]:
        add("The golden package carries no signature.")
    add("")
    add("Pre-production sample", 11, "bold")
    for e in pps or [{"kind": "none"}]:
        if e["kind"] == "pps_proposed":
            add(f"{e['utc']}: submission {e['submission']} reviewed, proposed {e['outcome']}: " + "; ".join(e["reasons"]))
        elif e["kind"] == "pps_decided":
            add(f"{e['utc']}: decision {e['outcome']} signed by {e['signer']} (key {e['key_id']}): {e['comment']}"
                + (f"; watch {', '.join(e['focus'])}" if e.get("focus") else ""))
        else:
            add("No PPS recorded.")
    add("")
    add("Lots", 11, "bold")
    for lot in lots or [{}]:
        if not lot:
            add("No lot inspected yet.")
            continue
        v = lot.get("verdict")
        d = (v.get("decision") if isinstance(v, Mapping) else lot.get("decision")) or "pending"
        add(f"{lot.get('lot_id')} {str(lot.get('inspection_type') or lot.get('type') or '').upper()}: lot size "
            f"{lot.get('lot_size')}, {len(lot.get('sample_ids') or lot.get('sample') or [])} units drawn, verdict {d}")
    add("")
    add("Drift across the order", 11, "bold")
    for a in alarms or [{}]:
        add(f"{a['metric']}{' (watched)' if a.get('focus') else ''} ({_group_words(a['group'])}): {a['direction']}, "
            f"{a['rule']}, since {Path(str(a['first_unit'])).name}" if a else "No drift alarm across the order's units.")
    per_page = 62
    pages = [lines[i:i + per_page] for i in range(0, len(lines), per_page)] or [[]]
    n_pages = len(pages) + len(evidence)
    with PdfPages(path) as pdf:
        for k, chunk in enumerate(pages, start=1):
            fig = plt.figure(figsize=(8.27, 11.69))
            y = 0.95
            for text, size, weight, color in chunk:
                fig.text(0.07, y, text, fontsize=size, fontweight=weight, color=color, va="top")
                y -= 0.0145 * max(size, 9) / 9
            fig.text(0.07, 0.025, f"dossier manifest sha256 {manifest_sha256}", fontsize=6.5, color="#667")
            fig.text(0.93, 0.025, f"page {k} of {n_pages}", fontsize=8, ha="right", color="#667")
            pdf.savefig(fig)
            plt.close(fig)
        for k, (name, data) in enumerate(sorted(evidence.items()), start=len(pages) + 1):
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ImageError(f"evidence {name}: expected an encoded image, got bytes OpenCV cannot decode")
            img = bgr[..., ::-1]
            fig = plt.figure(figsize=(8.27, 11.69))
            fig.text(0.07, 0.95, f"Failing unit {Path(name).stem}: golden (left), unit with its heat map (right)",
                     fontsize=10, fontweight="bold", va="top")
            ax = fig.add_axes((0.05, 0.35, 0.9, 0.55))
            ax.imshow(img)
            ax.axis("off")
            fig.text(0.93, 0.025, f"page {k} of {n_pages}", fontsize=8, ha="right", color="#667")
            pdf.savefig(fig)
            plt.close(fig)
    return path
