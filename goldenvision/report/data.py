"""What an inspection report shows, computed once and rendered as HTML or PDF.

:func:`build_report` gathers the lot verdict (ISO 2859-1 plan, seeded sample, counts per
defect class against Ac/Re, in plain words), the golden's provenance, and for every unit
that failed or needs review the evidence a buyer can check by eye: the unit re-aligned
into golden px beside the golden, the caliper rectangles with the edges that were found,
the anomaly heat map with the defect boxes, and a CIEDE2000 heat map of each colour zone
out of tolerance. Images are RGB uint8 arrays; the renderers encode them.

Frames: overlays are drawn in golden px (docs/DESIGN.md, "Frames and units"). Caliper
rectangles are defined in golden px by the spec; the edges a measurement found are in
unit px (``DimensionResult.edges_unit_px``) and are mapped to golden px through the
registration (:func:`goldenvision.transform.map_points_to_reference`).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import __version__
from ..errors import GoldenVisionError, SpecError
from ..golden import GoldenSample
from ..lots import check_lot_context, lot_context_rows
from ..results import color_shift_words, UnitResult
from ..transform import map_points_to_reference

__all__ = ["ReportData", "build_report", "color_shift_words", "lot_summary", "INSPECTION_TYPES"]

#: Width of the evidence images (px); the HTML scales them to the page.
EVIDENCE_WIDTH_PX = 640

INSPECTION_TYPES = {
    "psi": {
        "label": "Pre-shipment inspection (PSI)",
        "when": "when 80-100 % of the order is finished and packed",
        "meaning": (
            "This is the inspection that releases the goods. If the lot is accepted, the shipment can leave "
            "and the balance payment is due. If it is rejected, shipment and balance payment are held until "
            "the supplier sorts, reworks or replaces the lot and it is inspected again."
        ),
    },
    "dupro": {
        "label": "During-production inspection (DUPRO)",
        "when": "when about 20 % of the order has been produced",
        "meaning": (
            "This inspection looks for systematic problems while production can still be corrected. "
            "It does not release the shipment or the balance payment: a pre-shipment inspection (PSI) follows. "
            "A rejection here means the supplier must correct the process before producing the rest."
        ),
    },
}

_CLASS_WORDS = {
    "critical": "Critical (unsafe or illegal; zero tolerance usually)",
    "major": "Major (the buyer would likely return the product)",
    "minor": "Minor (a flaw that does not stop use or sale)",
}

_DECISION_WORDS = {
    "accept": "ACCEPTED",
    "accept_reinstate_normal": "ACCEPTED (normal inspection resumes)",
    "reject": "REJECTED",
    "pending": "NOT DECIDED YET",
    "second_sample": "SECOND SAMPLE NEEDED",
}


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows; built by :func:`build_report`, rendered by
    :func:`goldenvision.report.render_report` and :func:`goldenvision.report.write_pdf_report`.

    Attributes
    ----------
    title, generated, version : str
    spec : goldenvision.spec.Spec
    golden_provenance : dict
        Golden id, manifest SHA-256, spec revision, station profile, signatures, ...
    golden_meta : dict
    golden_image : ndarray (h, w, 3) uint8
        Golden product area with the caliper rectangles drawn.
    counts : dict
        ``pass``/``fail``/``review`` over all inspected units.
    units : list of dict
        One per unit: ``r`` (the result dict), ``truth``, ``sample_index`` (1-based draw
        position or None), ``images`` (name -> RGB array) for failing/review units,
        ``color_maps`` (list of {zone, image, reference, max_de}), ``colors`` and ``dims``
        (rows with plain words), ``evidence_error``.
    lot : dict or None
        See :func:`lot_summary`.
    has_truth : bool
        True only when the demo's ground truth is to be shown (``show_ground_truth``).
    lot_context : list of (label, value, given)
        Supplier, PO, inspector, place, date (value "not given" when missing) and any
        other context field, for page 1.
    """

    title: str
    generated: str
    version: str
    spec: Any
    golden_provenance: dict
    golden_meta: dict
    golden_image: np.ndarray
    counts: dict
    units: list
    lot: dict | None
    has_truth: bool
    scale_mm_per_px: float | None = None
    timings_s: dict = field(default_factory=dict)
    lot_context: list = field(default_factory=list)

    @property
    def evidence_units(self) -> list[dict]:
        """Units that failed or need review (the ones with an evidence section)."""
        return [u for u in self.units if u["r"]["verdict"] != "pass"]


# --------------------------------------------------------------------------- words


def _plan_words(plan: Mapping[str, Any]) -> str:
    ac, re_ = plan.get("accept"), plan.get("reject")
    return f"accept if {ac} or fewer defective, reject if {re_} or more"


def _units(n: int) -> str:
    return f"{n} unit" if n == 1 else f"{n} units"


def lot_summary(lot: Any, rows_by_id: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The lot section of a report, in plain words.

    Parameters
    ----------
    lot : LotRecord, LotVerdict, or their ``to_dict()``
    rows_by_id : mapping unit id (or file stem) -> result dict, optional
        To show each drawn unit's verdict.

    Returns
    -------
    dict
        The record's fields plus ``type`` (label, when, meaning), ``decision``,
        ``decision_words``, ``headline``, ``explanation`` (list of str), ``classes`` (rows with
        plan, counts and words; ``found_words`` says which units were counted, ``beyond``
        lists units of that class drawn after the class's own sample), ``sample`` (rows
        in draw order), ``sample_words`` (what failed among the units drawn and what was
        counted, in words), ``releases_payment``, ``context``.
    """
    d = lot.to_dict() if hasattr(lot, "to_dict") else dict(lot)
    if "decision" in d and "verdict" not in d:  # a bare LotVerdict
        d = {"verdict": d}
    if not isinstance(d.get("verdict"), Mapping):
        raise SpecError(f"lot: expected a LotRecord or LotVerdict (or their to_dict()), got keys {sorted(d)}")
    v = d["verdict"]
    decision = str(v.get("decision", "?"))
    itype = d.get("inspection_type")
    tinfo = INSPECTION_TYPES.get(str(itype)) if itype else None
    sample_ids = list(d.get("sample_ids") or [])
    sample = []
    rows_by_id = rows_by_id or {}
    for i, sid in enumerate(sample_ids, start=1):
        r = rows_by_id.get(sid)
        sample.append({
            "index": i, "unit_id": sid, "verdict": None if r is None else r.get("verdict"),
            "defect_class": None if r is None else r.get("defect_class"),
            "anchor": None if r is None else r.get("_anchor"),
        })
    known = all(s["verdict"] is not None for s in sample)
    classes = []
    failing = []
    for c in v.get("classes", []):
        p = c.get("plan", {})
        name = c.get("defect_class", "?")
        n = p.get("sample_size")
        row = {
            "name": name,
            "words": _CLASS_WORDS.get(name, name),
            "aql": p.get("aql"),
            "aql_label": "0 (zero tolerance)" if p.get("aql") == 0 else f"{p.get('aql'):g}" if p.get("aql") is not None else "?",
            "code_letter": p.get("code_letter"),
            "sample_size": n,
            "inspect_all": bool(p.get("inspect_all")),
            "accept": p.get("accept"),
            "reject": p.get("reject"),
            "level": p.get("level"),
            "severity": p.get("severity"),
            "nonconforming": c.get("nonconforming", 0),
            "unresolved": c.get("unresolved", 0),
            "decision": c.get("decision"),
            "rule": _plan_words(p),
        }
        first = (f"all {len(sample_ids)} units drawn" if n is not None and n >= len(sample_ids)
                 else f"the first {n} units drawn")
        row["counted_in"] = first
        row["found_words"] = (
            f"{_units(row['nonconforming'])} with a {name} defect among {first}"
            + (f", {row['unresolved']} still under review" if row["unresolved"] else "")
        )
        # units of this class found further down the draw (drawn for a class with a larger sample)
        row["beyond"] = [s for s in sample if n is not None and s["index"] > n and s["verdict"] == "fail"
                         and s["defect_class"] == name]
        classes.append(row)
        if row["decision"] == "reject":
            failing.append(row)
    level = next((c["level"] for c in classes if c.get("level")), None)
    severity = next((c["severity"] for c in classes if c.get("severity")), None)
    if decision in ("accept", "accept_reinstate_normal"):
        headline = "The lot is ACCEPTED: the sample is within the agreed quality limits for every defect class."
    elif decision == "reject":
        headline = "The lot is REJECTED: " + "; ".join(
            f"{c['name']} class: {c['found_words']} (its ISO 2859-1 sample), "
            f"the limit is {c['accept']} (rejected at {c['reject']})" for c in failing) + "."
    elif decision == "pending":
        headline = (f"The lot is NOT DECIDED YET: {v.get('unresolved', 0)} sampled unit(s) need a person's review, "
                    "and their outcome can change the verdict.")
    else:
        headline = f"Lot decision: {decision}."
    explanation = []
    if tinfo is not None:
        if decision in ("accept", "accept_reinstate_normal") and itype == "psi":
            explanation.append("For this pre-shipment inspection that means: the shipment can be released and the balance payment is due.")
        elif decision == "reject" and itype == "psi":
            explanation.append("For this pre-shipment inspection that means: do not release the shipment or the balance payment yet.")
        elif itype == "dupro":
            explanation.append("This is a during-production check: it does not release the shipment or payment.")
    if decision == "accept_reinstate_normal":
        explanation.append("Under reduced inspection the count fell between Ac and Re: the lot is accepted, "
                           "and the next lots go back to normal inspection.")
    sample_words = ""
    if sample and known:
        n_fail = sum(s["verdict"] == "fail" for s in sample)
        n_rev = sum(s["verdict"] == "review" for s in sample)
        by_cls: dict[str, int] = {}
        for s in sample:
            if s["verdict"] == "fail" and s["defect_class"]:
                by_cls[s["defect_class"]] = by_cls.get(s["defect_class"], 0) + 1
        parts = [f"Of the {len(sample)} units drawn, {n_fail} failed"
                 + (f" ({', '.join(f'{k} {by_cls[k]}' for k in sorted(by_cls))})" if by_cls else "")
                 + f" and {n_rev} need a person's review."]
        for c in classes:
            if c["beyond"]:
                ids = ", ".join(f"#{s['index']}" for s in c["beyond"])
                parts.append(
                    f"The {c['name']} class is judged on {c['counted_in']} (its plan's sample size), so "
                    f"{_units(len(c['beyond']))} with a {c['name']} defect further down the draw ({ids}) "
                    f"{'is' if len(c['beyond']) == 1 else 'are'} listed but not counted against its limit.")
        parts.append("Each unit counts once, in its most serious defect class; "
                     "the counts are defective units, not individual defects.")
        sample_words = " ".join(parts)
    frac = d.get("completion_fraction")
    return {
        **{k: d.get(k) for k in ("lot_id", "lot_size", "seed", "supplier", "product")},
        "context": check_lot_context(d.get("context"), name="lot['context']"),
        "inspection_type": itype,
        "type": tinfo,
        "completion_fraction": frac,
        "completion_pct": None if frac is None else f"{100 * float(frac):.0f} %",
        "decision": decision,
        "decision_words": _DECISION_WORDS.get(decision, decision.upper()),
        "accepted": bool(v.get("accepted", decision in ("accept", "accept_reinstate_normal"))),
        "releases_payment": itype == "psi" and decision in ("accept", "accept_reinstate_normal"),
        "headline": headline,
        "explanation": explanation,
        "classes": classes,
        "reasons": list(v.get("reasons", [])),
        "unresolved": v.get("unresolved", 0),
        "level": level,
        "severity": severity,
        "sample": sample,
        "sample_ids": sample_ids,
        "sample_words": sample_words,
    }


# --------------------------------------------------------------------------- images


def _crop_box(golden: GoldenSample) -> tuple[int, int, int, int]:
    """The product area in golden px, with a small margin (whole frame without a profile)."""
    h, w = golden.shape
    prof = golden.profile or {}
    area = prof.get("product_area_mm")
    scale = prof.get("scale_mm_per_px")
    if not area or not scale:
        return 0, 0, w, h
    x1, y1, x2, y2 = (float(v) / float(scale) for v in area)
    return max(0, int(x1)), max(0, int(y1)), min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))


class _View:
    """A crop of golden px resized to ``width``: maps golden px to view px."""

    def __init__(self, box: tuple[int, int, int, int], width: int) -> None:
        self.x1, self.y1, self.x2, self.y2 = box
        # shrink large crops, enlarge small ones (overlays stay readable at one size)
        self.f = width / max(1, self.x2 - self.x1)

    def image(self, img: np.ndarray) -> np.ndarray:
        crop = np.ascontiguousarray(img[self.y1 : self.y2, self.x1 : self.x2])
        if self.f == 1.0:
            return crop.copy()
        size = (max(1, round(crop.shape[1] * self.f)), max(1, round(crop.shape[0] * self.f)))
        interp = cv2.INTER_AREA if self.f < 1 else cv2.INTER_CUBIC
        return cv2.resize(crop, size, interpolation=interp)

    def pts(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64).reshape(-1, 2)
        return (p - [self.x1, self.y1]) * self.f

    def ipt(self, p: np.ndarray) -> tuple[int, int]:
        q = self.pts(p)[0]
        return int(round(q[0])), int(round(q[1]))


_GREEN = (30, 160, 60)
_RED = (220, 30, 30)
_MAGENTA = (255, 0, 255)
_CYAN = (0, 200, 255)


def _label(img: np.ndarray, text: str, org: tuple[int, int], color: tuple[int, int, int]) -> None:
    font, scale, th = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1
    (tw, tht), base = cv2.getTextSize(text, font, scale, th)
    x = int(np.clip(org[0], 2, max(2, img.shape[1] - tw - 2)))
    y = int(np.clip(org[1], tht + 2, img.shape[0] - base - 2))
    cv2.rectangle(img, (x - 2, y - tht - 2), (x + tw + 2, y + base + 1), (255, 255, 255), -1)
    cv2.putText(img, text, (x, y), font, scale, color, th, cv2.LINE_AA)


def _caliper_corners(cal: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = math.radians(cal.angle_deg)
    d = np.array([math.cos(a), math.sin(a)])
    n = np.array([-d[1], d[0]])
    c = np.array(cal.center, dtype=np.float64)
    hl, hw = 0.5 * cal.length_px, 0.5 * cal.width_px
    corners = np.array([c - hl * d - hw * n, c + hl * d - hw * n, c + hl * d + hw * n, c - hl * d + hw * n])
    return corners, d, n


def _draw_dimension(img: np.ndarray, view: _View, dim_spec: Any, row: Mapping[str, Any] | None, reg: Any,
                    scale: float | None, *, label: bool) -> None:
    """Caliper rectangle (or nominal circle) from the spec, and the edges found in the unit."""
    ok = row is None or row.get("ok", True)
    color = _GREEN if ok else _RED
    thick = 1 if ok else 2
    if dim_spec.caliper is not None:
        corners, d, n = _caliper_corners(dim_spec.caliper)
        cv2.polylines(img, [np.round(view.pts(corners)).astype(np.int32)], True, color, thick, cv2.LINE_AA)
        anchor = corners[3]
    else:
        circ = dim_spec.circle
        c = view.ipt(np.array(circ.center))
        cv2.circle(img, c, max(1, int(round(circ.radius_px * view.f))), color, 1, cv2.LINE_AA)
        anchor = np.array(circ.center) + [circ.radius_px, circ.radius_px]
        d = np.array([1.0, 0.0])
        n = np.array([0.0, 1.0])
    if row is not None and reg is not None and row.get("edges_unit_px"):
        pts_g = map_points_to_reference(np.asarray(row["edges_unit_px"], dtype=np.float64), reg)
        if dim_spec.measure == "diameter" and scale and row.get("measured_mm"):
            r_g = 0.5 * float(row["measured_mm"]) / float(scale)
            cv2.circle(img, view.ipt(pts_g[0]), max(1, int(round(r_g * view.f))), _CYAN, 2, cv2.LINE_AA)
        else:
            half = 0.5 * (dim_spec.caliper.width_px if dim_spec.caliper is not None else 10.0) + 6
            for p in pts_g:
                a = view.ipt(p - half * n)
                b = view.ipt(p + half * n)
                cv2.line(img, a, b, _CYAN, 2, cv2.LINE_AA)
            if len(pts_g) == 2:
                cv2.line(img, view.ipt(pts_g[0]), view.ipt(pts_g[1]), _CYAN, 1, cv2.LINE_AA)
    if label:
        text = dim_spec.name if row is None or row.get("measured_mm") is None else f"{dim_spec.name} {row['measured_mm']:.2f} mm"
        if dim_spec.caliper is not None:  # above the box, centred, so the found edges stay visible
            corners_v = view.pts(_caliper_corners(dim_spec.caliper)[0])
            (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
            org = (int(corners_v[:, 0].mean() - tw / 2), int(corners_v[:, 1].min() - 8))
        else:
            org = view.ipt(anchor + [0, 4])
        _label(img, text, org, color)


#: Anomaly scores are normalised so that 1.0 is the zone's alarm threshold; the heat map
#: spans 0 .. HEAT_TOP_X times the threshold.
HEAT_TOP_X = 2.0


def _heat_lut() -> np.ndarray:
    """256 RGB colours over 0 .. HEAT_TOP_X x threshold: blue to cyan below the threshold,
    a hard step to yellow at it, yellow to red above (so "above" never looks like "below")."""
    t = np.linspace(0.0, 1.0, 256)
    mid = 1.0 / HEAT_TOP_X
    below = np.array([40.0, 80.0, 235.0]) + (t[:, None] / mid) * (np.array([0.0, 225.0, 235.0]) - [40.0, 80.0, 235.0])
    above_t = np.clip((t[:, None] - mid) / (1.0 - mid), 0.0, 1.0)
    above = np.array([255.0, 235.0, 0.0]) + above_t * (np.array([230.0, 0.0, 0.0]) - [255.0, 235.0, 0.0])
    return np.where(t[:, None] < mid, below, above).astype(np.uint8)


_HEAT_LUT = _heat_lut()


def anomaly_overlay(unit_rgb: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The anomaly score as colour over a dimmed grey copy of the unit.

    Parameters
    ----------
    unit_rgb : ndarray (h, w, 3) uint8
        The unit, aligned to golden px (or a view of it).
    score : ndarray (h, w) float
        Anomaly score, 1.0 = the zone's alarm threshold.

    Returns
    -------
    ndarray (h, w, 3) uint8
        Grey unit at 45 % brightness; scores below 0.05 x threshold leave it as it is,
        above that the colour of :func:`anomaly_legend` is laid over it at 25-70 % opacity
        below the threshold and 92 % from the threshold on.
    """
    grey = cv2.cvtColor(unit_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * 0.45 + 10.0
    base = np.repeat(grey[..., None], 3, axis=2)
    idx = np.clip(score / HEAT_TOP_X * 255.0, 0, 255).astype(np.uint8)
    heat = _HEAT_LUT[idx].astype(np.float32)
    alpha = np.where(score >= 1.0, 0.92, 0.25 + 0.45 * np.clip(score, 0.0, 1.0))
    alpha = np.where(score < 0.05, 0.0, alpha)[..., None]
    return np.clip(base * (1 - alpha) + heat * alpha, 0, 255).astype(np.uint8)


def anomaly_legend(width: int, *, height: int = 46) -> np.ndarray:
    """A colour bar for :func:`anomaly_overlay`: 0 .. HEAT_TOP_X x threshold, the threshold marked."""
    img = np.full((height, width, 3), 255, np.uint8)
    x0, x1, y0, y1 = 12, width - 12, 6, 22
    ramp = np.linspace(0, 255, x1 - x0).astype(np.uint8)
    img[y0:y1, x0:x1] = _HEAT_LUT[ramp][None, :, :]
    xt = x0 + int(round((x1 - x0) / HEAT_TOP_X))
    cv2.line(img, (xt, y0 - 4), (xt, y1 + 3), (0, 0, 0), 2)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, "0 (no colour: like golden)", (x0, height - 6), font, 0.42, (40, 40, 40), 1, cv2.LINE_AA)
    label = "| 1x = alarm threshold"
    cv2.putText(img, label, (xt - 3, height - 6), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    end = f"{HEAT_TOP_X:g}x and more"
    (tw, _), _ = cv2.getTextSize(end, font, 0.42, 1)
    cv2.putText(img, end, (x1 - tw, height - 6), font, 0.42, (40, 40, 40), 1, cv2.LINE_AA)
    return img


def _de_map_image(de: np.ndarray, unit_rgb: np.ndarray, tolerance: float, title: str) -> tuple[np.ndarray, float]:
    """A ΔE00 map over a zone crop as a picture with a colour bar (matplotlib, Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    finite = de[np.isfinite(de)]
    top = float(np.percentile(finite, 99.5)) if finite.size else tolerance
    vmax = max(2.0 * tolerance, top)
    h, w = de.shape
    aspect = h / max(1, w)
    fig = Figure(figsize=(5.2, max(1.6, 4.2 * aspect) + 0.8), dpi=110)
    ax = fig.add_axes((0.02, 0.16, 0.78, 0.72))
    grey = cv2.cvtColor(cv2.cvtColor(unit_rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    ax.imshow(grey, interpolation="nearest")
    im = ax.imshow(np.ma.masked_invalid(de), cmap="RdYlGn_r", norm=TwoSlopeNorm(vmin=0.0, vcenter=tolerance, vmax=vmax),
                   interpolation="nearest", alpha=0.9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    cax = fig.add_axes((0.83, 0.16, 0.04, 0.72))
    cb = fig.colorbar(im, cax=cax)
    cb.ax.axhline(tolerance, color="black", lw=1.5)
    cb.set_label("ΔE00 (black line = tolerance)", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    fig.text(0.02, 0.03, "green: within tolerance · red: out of tolerance", fontsize=8)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[..., :3]), float(np.nanmax(de)) if finite.size else float("nan")


def _unit_images(ev: Mapping[str, Any], r: Mapping[str, Any], golden: GoldenSample, scale: float | None,
                 box: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
    view = _View(box, EVIDENCE_WIDTH_PX)
    reg = ev.get("registration")
    unit = view.image(ev["warped"])
    gold = view.image(ev["golden"])
    out: dict[str, np.ndarray] = {"golden": gold}
    # unit with defect boxes
    boxed = unit.copy()
    for k, dd in enumerate(r.get("defects", []), start=1):
        bx1, by1, bx2, by2 = dd["bbox"]
        p1 = view.ipt(np.array([bx1, by1]))
        p2 = view.ipt(np.array([bx2, by2]))
        pad = 6
        cv2.rectangle(boxed, (p1[0] - pad, p1[1] - pad), (p2[0] + pad, p2[1] + pad), _MAGENTA, 2, cv2.LINE_AA)
        _label(boxed, f"{k}: {dd.get('zone', '')}", (p2[0] + pad + 2, p1[1]), _MAGENTA)
    out["unit"] = boxed
    # unit with calipers and found edges
    spec_dims = {d.name: d for d in golden.spec.dimensions}
    if spec_dims:
        rows = {d["name"]: d for d in r.get("dimensions", [])}
        meas = unit.copy()
        for name, ds in spec_dims.items():
            row = rows.get(name)
            _draw_dimension(meas, view, ds, row, reg, scale, label=row is not None and not row.get("ok", True))
        out["dimensions"] = meas
        for name, ds in spec_dims.items():
            row = rows.get(name)
            if row is None or row.get("ok", True):
                continue
            if ds.caliper is not None:
                corners, _, _ = _caliper_corners(ds.caliper)
                m = max(24.0, 0.12 * ds.caliper.length_px)
            else:
                c0, rad = np.array(ds.circle.center), ds.circle.radius_px
                corners = np.array([c0 - rad, c0 + rad])
                m = max(16.0, rad)
            zx1, zy1 = np.floor(corners.min(axis=0) - m).astype(int)
            zx2, zy2 = np.ceil(corners.max(axis=0) + m).astype(int)
            h, w = ev["warped"].shape[:2]
            zbox = (max(0, zx1), max(0, zy1), min(w, zx2), min(h, zy2))
            zview = _View(zbox, EVIDENCE_WIDTH_PX)
            if zview.f * (zbox[3] - zbox[1]) > 1.2 * EVIDENCE_WIDTH_PX:  # tall crop: fit the height instead
                zview.f = 1.2 * EVIDENCE_WIDTH_PX / max(1, zbox[3] - zbox[1])
            zimg = zview.image(ev["warped"])
            _draw_dimension(zimg, zview, ds, row, reg, scale, label=True)
            out[f"zoom:{name}"] = zimg
    amap = ev.get("anomaly_map")
    if amap is not None:
        a = np.nan_to_num(amap, nan=0.0).astype(np.float32)
        if view.f < 1.0:  # shrinking: keep each display pixel's peak, so small hot spots stay visible
            k = int(np.ceil(1.0 / view.f)) | 1
            a = cv2.dilate(a, np.ones((k, k), np.uint8))
        blend = anomaly_overlay(unit, view.image(a))
        for dd in r.get("defects", []):
            bx1, by1, bx2, by2 = dd["bbox"]
            p1, p2 = view.pts(np.array([[bx1, by1], [bx2, by2]]))
            c = (int(round((p1[0] + p2[0]) / 2)), int(round((p1[1] + p2[1]) / 2)))
            rad = int(round(max(14.0, 0.5 * float(np.hypot(p2[0] - p1[0], p2[1] - p1[1])) + 6)))
            cv2.circle(blend, c, rad + 1, (255, 255, 255), 4, cv2.LINE_AA)  # a ring that any background shows
            cv2.circle(blend, c, rad + 1, _MAGENTA, 2, cv2.LINE_AA)
        out["heat"] = np.vstack([blend, anomaly_legend(blend.shape[1])])
    return out


def _color_maps(ev: Mapping[str, Any], r: Mapping[str, Any], inspector: Any) -> list[dict[str, Any]]:
    """ΔE00 heat maps of the colour zones out of tolerance (only those: the map is slow-ish)."""
    from ..color import zone_delta_e_map

    bad = [c for c in r.get("color", []) if not c.get("ok", True)]
    if not bad:
        return []
    rt = inspector.rt
    zones = {z.name: z for z in rt.spec.colors}
    cc = ev.get("correction")  # the pipeline's own chart correction of this photo
    if cc is None:
        return []
    warped = ev["warped"]
    out = []
    for c in bad:
        z = zones.get(c["name"])
        if z is None:
            continue
        ys, xs = np.nonzero(rt.color.mask(z.name))
        if not len(xs):
            continue
        m = 12
        x0, x1 = max(0, xs.min() - m), min(warped.shape[1], xs.max() + 1 + m)
        y0, y1 = max(0, ys.min() - m), min(warped.shape[0], ys.max() + 1 + m)
        lab = np.full(warped.shape, np.nan, dtype=np.float32)
        lab[y0:y1, x0:x1] = cc.to_lab(warped[y0:y1, x0:x1])
        ref = c.get("target_lab") or c.get("golden_lab")
        against = "target" if c.get("target_lab") else "golden"
        de = zone_delta_e_map(lab, rt.color, z, ref, valid=ev.get("valid"))[y0:y1, x0:x1]
        img, mx = _de_map_image(de, warped[y0:y1, x0:x1], float(c["tolerance"]),
                                f"colour zone '{z.name}': ΔE00 against the {against}")
        out.append({"zone": z.name, "image": img, "reference": against, "max_de": mx,
                    "mean_de": c.get("delta_e_target") if against == "target" else c.get("delta_e_golden")})
    return out


def _color_rows(r: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for c in r.get("color", []):
        ref = c.get("target_lab") or c.get("golden_lab")
        words = color_shift_words(c["lab"], ref, c.get("d_l", 0.0), c.get("d_c", 0.0), c.get("d_h", 0.0)) if ref else ""
        rows.append({**c, "words": words, "reference": "target" if c.get("target_lab") else "golden"})
    return rows


def _uncertainty_decimals(u: float) -> int:
    """Decimals that show ``u`` to 1 significant digit (2 when it starts with 1 or 2)."""
    exp = math.floor(math.log10(u))
    lead = u / 10.0**exp
    digits = 2 if lead < 3 else 1
    return max(0, digits - 1 - exp)


def _dim_rows(r: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Dimension rows in plain words.

    ``deviation_mm`` is measured minus nominal; ``beyond_limit_mm`` is how far the
    measurement lies outside the allowed range (0 inside). The words state both, so
    "1.82 mm under nominal" and "0.82 mm beyond the −1.00 mm limit" never read as
    contradicting each other. ``uncertainty_text`` is the result's own one-sigma
    uncertainty (``DimensionResult.uncertainty_mm``, from the edge fits) when it is known
    and positive, else None: no uncertainty is shown that was not measured.
    """
    rows = []
    for d in r.get("dimensions", []):
        nom = float(d["nominal_mm"])
        lo = nom - d["tol_minus_mm"]
        hi = nom + d["tol_plus_mm"]
        m = d["measured_mm"]
        unc = d.get("uncertainty_mm")
        unc = float(unc) if unc is not None and np.isfinite(unc) and unc > 0 else None
        decimals = 2 if unc is None else max(2, _uncertainty_decimals(unc))
        beyond = None
        if m is None or not np.isfinite(m):
            words = "not measured"
            dev_words = ""
        else:
            dev = m - nom
            dev_words = ("on nominal" if round(dev, 2) == 0 else
                         f"{abs(dev):.2f} mm {'under' if dev < 0 else 'over'} nominal")
            if m < lo:
                beyond = lo - m
                words = f"{dev_words}: {beyond:.2f} mm beyond the −{d['tol_minus_mm']:.2f} mm limit"
            elif m > hi:
                beyond = m - hi
                words = f"{dev_words}: {beyond:.2f} mm beyond the +{d['tol_plus_mm']:.2f} mm limit"
            else:
                beyond = 0.0
                words = f"within tolerance ({dev_words})"
        rows.append({
            **d, "low_mm": lo, "high_mm": hi, "words": words, "beyond_limit_mm": beyond,
            "measured_text": "–" if m is None or not np.isfinite(m) else f"{m:.{decimals}f} mm",
            "uncertainty_text": None if unc is None else f"± {unc:.{decimals}f} mm",
        })
    return rows


def _as_dict(r: "UnitResult | Mapping[str, Any]") -> dict[str, Any]:
    return r.to_dict() if isinstance(r, UnitResult) else dict(r)


def _golden_image(golden: GoldenSample, box: tuple[int, int, int, int]) -> np.ndarray:
    view = _View(box, EVIDENCE_WIDTH_PX)
    img = view.image(golden.reference)
    for ds in golden.spec.dimensions:
        _draw_dimension(img, view, ds, None, None, None, label=True)
    return img


def build_report(
    results: Sequence["UnitResult | Mapping[str, Any]"],
    golden: GoldenSample,
    *,
    image_paths: Mapping[str, "str | Path"] | None = None,
    title: str = "Inspection report",
    lot: Any = None,
    truth: Mapping[str, Mapping[str, Any]] | None = None,
    max_evidence_units: int = 60,
    color_maps: bool = True,
    lot_context: Mapping[str, str] | None = None,
    show_ground_truth: bool = False,
) -> ReportData:
    """Gather a report's content and compute its evidence images.

    Parameters
    ----------
    results : sequence of UnitResult or their ``to_dict()``
        Every inspected unit.
    golden : GoldenSample
    image_paths : mapping unit_id -> photo path, optional
        Photos of the units; units that failed or need review are re-aligned from them for
        the evidence images (without a photo the unit gets its tables only).
    title : str
    lot : LotRecord, LotVerdict or their ``to_dict()``, optional
        The lot (inspection type, seeded sample, ISO 2859-1 verdict per defect class).
    truth : mapping unit stem -> ground truth, optional
        Demo ground truth. Shown beside each verdict only with ``show_ground_truth=True``
        (a benchmark or demo page); a customer report never carries it.
    max_evidence_units : int
        Evidence images for at most this many units (the rest get tables only).
    color_maps : bool
        Compute ΔE00 heat maps for the colour zones out of tolerance.
    lot_context : mapping str -> str, optional
        Supplier, PO, inspector, place and date of the inspection (keys ``supplier``,
        ``po``, ``inspector``, ``place``, ``date``; see
        :data:`goldenvision.lots.LOT_CONTEXT_FIELDS`; other keys are shown under their own
        name). Shown on page 1; a field not given here nor recorded with the lot is shown
        as "not given". Values given here win over the lot record's.
    show_ground_truth : bool
        Show the demo's expected verdict (``truth``) beside each unit. Default off.

    Returns
    -------
    ReportData
    """
    import time

    from ..pipeline import Inspector  # the report re-aligns units for evidence

    t0 = time.perf_counter()
    rows = [_as_dict(r) for r in results]
    by_id: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(rows, start=1):
        r["_anchor"] = f"u-{i}"
        uid = str(r.get("unit_id"))
        by_id[uid] = r
        by_id.setdefault(Path(uid).stem, r)
    lot_d = None if lot is None else lot_summary(lot, by_id)
    ctx: dict[str, str] = {}
    if lot_d is not None:
        if lot_d.get("supplier"):
            ctx["supplier"] = str(lot_d["supplier"])
        ctx.update(lot_d.get("context") or {})
    ctx.update(check_lot_context(lot_context))
    show_truth = bool(show_ground_truth) and truth is not None
    sample_pos = {}
    if lot_d is not None:
        for s in lot_d["sample"]:
            r = by_id.get(s["unit_id"])
            if r is not None:
                sample_pos[id(r)] = s["index"]
    scale = golden.meta.get("scale_mm_per_px") or (golden.profile or {}).get("scale_mm_per_px") or golden.spec.scale_mm_per_px
    box = _crop_box(golden)
    inspector = None
    units = []
    n_evidence = 0
    for r in rows:
        uid = str(r.get("unit_id"))
        entry: dict[str, Any] = {
            "r": r, "anchor": r["_anchor"], "images": None, "color_maps": [], "evidence_error": None,
            "sample_index": sample_pos.get(id(r)), "colors": _color_rows(r), "dims": _dim_rows(r),
            "image_sha256": (r.get("provenance") or {}).get("image_sha256"),
        }
        if show_truth:
            entry["truth"] = truth.get(Path(uid).stem)
        if r["verdict"] != "pass" and image_paths and uid in image_paths and n_evidence < max_evidence_units:
            if inspector is None:
                inspector = Inspector(golden)
            try:
                ev = inspector.evidence(str(image_paths[uid]))
                entry["images"] = _unit_images(ev, r, golden, scale, box)
                if color_maps:
                    entry["color_maps"] = _color_maps(ev, r, inspector)
                n_evidence += 1
            except GoldenVisionError as exc:
                entry["evidence_error"] = str(exc)
        units.append(entry)
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("pass", "fail", "review")}
    prov = golden.provenance() if hasattr(golden, "provenance") else {}
    pkg = golden.meta.get("package") or {}
    if pkg.get("signatures"):
        prov = {**prov, "signatures": pkg["signatures"]}
    return ReportData(
        title=title,
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        spec=golden.spec,
        golden_provenance=prov,
        golden_meta=golden.meta,
        golden_image=_golden_image(golden, box),
        counts=counts,
        units=units,
        lot=lot_d,
        has_truth=show_truth,
        lot_context=lot_context_rows(ctx),
        scale_mm_per_px=None if scale is None else float(scale),
        timings_s={"build": time.perf_counter() - t0, "evidence_units": n_evidence},
    )
