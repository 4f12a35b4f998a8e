"""What an inspection report shows, computed once and rendered as HTML or PDF.

:func:`build_report` gathers the lot verdict (ISO 2859-1 plan, seeded sample, counts per
defect class against Ac/Re, in plain words), the golden's provenance, and for every unit
that failed or needs review the evidence a buyer can check by eye: the unit re-aligned
into golden px beside the golden, the caliper rectangles with the edges that were found,
the anomaly heat map with the defect boxes, and a CIEDE2000 heat map of each colour zone
out of tolerance. Images are RGB uint8 arrays; the renderers encode them.

The evidence images are drawn by :mod:`goldenvision.report.evidence`.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import GoldenVisionError, SpecError
from ..golden import GoldenSample
from ..lots import check_lot_context, lot_context_rows
from ..results import color_shift_words, UnitResult
from .evidence import color_maps as _color_maps_of, crop_box, golden_image, unit_images

__all__ = ["ReportData", "build_report", "color_shift_words", "lot_summary", "INSPECTION_TYPES"]

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


def _color_rows(r: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for c in r.get("color", []):
        ref = c.get("target_lab") or c.get("golden_lab")
        words = color_shift_words(c["lab"], ref, c.get("d_l", 0.0), c.get("d_c", 0.0), c.get("d_h", 0.0)) if ref else ""
        rows.append({**c, "words": words, "reference": "target" if c.get("target_lab") else "golden",
                     "judged_by": c.get("reference"), "color_note": c.get("note")})
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
            hit = by_id.get(s["unit_id"])
            if hit is not None:
                sample_pos[id(hit)] = s["index"]
    scale = golden.meta.get("scale_mm_per_px") or (golden.profile or {}).get("scale_mm_per_px") or golden.spec.scale_mm_per_px
    box = crop_box(golden)
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
        if show_truth and truth is not None:
            entry["truth"] = truth.get(Path(uid).stem)
        if r["verdict"] != "pass" and image_paths and uid in image_paths and n_evidence < max_evidence_units:
            if inspector is None:
                inspector = Inspector(golden)
            try:
                ev = inspector.evidence(str(image_paths[uid]))
                entry["images"] = unit_images(ev, r, golden, scale, box)
                if color_maps:
                    entry["color_maps"] = _color_maps_of(ev, r, inspector)
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
        generated=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        spec=golden.spec,
        golden_provenance=prov,
        golden_meta=golden.meta,
        golden_image=golden_image(golden, box),
        counts=counts,
        units=units,
        lot=lot_d,
        has_truth=show_truth,
        lot_context=lot_context_rows(ctx),
        scale_mm_per_px=None if scale is None else float(scale),
        timings_s={"build": time.perf_counter() - t0, "evidence_units": n_evidence},
    )
