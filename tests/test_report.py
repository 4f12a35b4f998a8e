"""The inspection report (HTML and PDF) on a tiny synthetic demo lot: verdict, counts,
Ac/Re, reasons, embedded evidence; a valid multi-page PDF."""

from __future__ import annotations

import re

import numpy as np
import pytest

from goldenvision.lots import judge_sampled_lot
from goldenvision.errors import SpecError
from goldenvision.report import (build_report, color_shift_words, layout_pdf, lot_summary, read_sha256sums, render_report,
                                 write_pdf_report, write_report)
from goldenvision.report.data import _dim_rows
from goldenvision.report.evidence import HEAT_TOP_X, anomaly_legend, anomaly_overlay

CONTEXT = {"supplier": "Tannery Nord GmbH", "po": "PO-4711-B", "inspector": "R. Ortiz"}


@pytest.fixture(scope="module")
def lot(tmp_path_factory, demo_lot, demo_golden, demo_results):
    """The session's demo lot (conftest: rendered, sealed and inspected once per run)."""
    out = tmp_path_factory.mktemp("report")
    golden = demo_golden  # a loaded package: it has its id and manifest hash
    results = [demo_results[p.stem] for p in demo_lot.unit_paths]
    record = judge_sampled_lot({r.unit_id: r for r in results}, golden.spec.aql, lot_id="lot-T3", seed=3,
                               inspection_type="psi", completion_fraction=0.9, product=golden.spec.product)
    kw = dict(image_paths={p.stem: p for p in demo_lot.unit_paths}, title="Test lot", lot=record,
              truth={u["unit_id"]: u for u in demo_lot.truth["units"]}, lot_context=CONTEXT)
    data = build_report(results, golden, **kw)
    return {"out": out, "golden": golden, "results": results, "record": record, "kw": kw, "data": data}


def test_html_has_verdict_counts_plan_and_evidence(lot):
    results, record, data = lot["results"], lot["record"], lot["data"]
    written = write_report(lot["out"] / "r.html", results, lot["golden"], data=data)
    html = written.html.read_text(encoding="utf-8")
    v = record.verdict
    words = {"accept": "ACCEPTED", "reject": "REJECTED", "pending": "NOT DECIDED YET"}[v.decision.value]
    assert words in html
    assert "Pre-shipment inspection (PSI)" in html and "balance payment" in html
    assert f"seed <b>{record.seed}</b>" in html
    for sid in record.sample_ids:
        assert sid in html
    # per-class plan numbers appear in the class table row
    for c in v.classes:
        row = re.search(rf"<td><b>{c.defect_class}</b>.*?</tr>", html, re.S).group(0)
        nums = re.findall(r'class="num">(?:<b[^>]*>)?(\d+)', row)
        assert [int(x) for x in nums[1:5]] == [c.plan.sample_size, c.nonconforming, c.plan.accept, c.plan.reject], (c, nums)
        assert c.plan.code_letter in row
    n_fail = sum(r.verdict.value == "fail" for r in results)
    assert re.search(rf'<div class="muted">Fail</div><div class="n bad">{n_fail}</div>', html)
    failing = [r for r in results if r.verdict.value == "fail"]
    assert failing, "the demo lot must contain failing units"
    from markupsafe import escape

    assert str(escape(failing[0].reasons[0])) in html
    assert html.count("data:image/jpeg;base64,") >= 1 + 3 * len(failing)
    assert "http://" not in html and "https://" not in html  # self-contained
    assert lot["golden"].meta["package"]["manifest_sha256"] in html
    assert failing[0].provenance["image_sha256"] in html


def _summary_html(html: str) -> str:
    """The HTML from the top to the golden section: what a buyer reads first."""
    return html[: html.index('<section id="golden">')]


def test_html_first_part_has_every_failing_unit_context_and_no_ground_truth(lot):
    html = render_report(lot["results"], lot["golden"], data=lot["data"])
    top = _summary_html(html)
    bad = [r for r in lot["results"] if r.verdict.value != "pass"]
    assert bad
    for r in bad:
        assert f'href="#{next(u["anchor"] for u in lot["data"].units if u["r"]["unit_id"] == r.unit_id)}">{r.unit_id}</a>' in top
    for value in CONTEXT.values():
        assert value in top
    # place and date were not given: shown as such, never invented
    assert re.search(r"<th>Place of inspection</th><td class=\"missing\">not given</td>", top)
    assert re.search(r"<th>Date of inspection</th><td class=\"missing\">not given</td>", top)
    assert "Expected" not in html and lot["data"].has_truth is False  # truth given, but off by default
    assert "…" not in html and "&hellip;" not in html
    assert "sha256sum -c SHA256SUMS" in html


def test_ground_truth_only_behind_the_explicit_option(lot):
    data = build_report(lot["results"], lot["golden"], lot=lot["record"], truth=lot["kw"]["truth"],
                        show_ground_truth=True, color_maps=False)
    assert data.has_truth
    html = render_report(lot["results"], lot["golden"], data=data)
    assert "Expected (demo ground truth)" in html


def test_pdf_pages_numbered_every_failing_unit_on_page_1_nothing_shortened(lot):
    data = lot["data"]
    doc = layout_pdf(data)
    n = len(doc.page_text)
    assert n >= 1 + len(data.evidence_units)
    for i, texts in enumerate(doc.page_text, start=1):
        assert texts[-1].endswith(f"page {i} of {n}")
        for t in texts:
            assert "…" not in t and "..." not in t
    page1 = " ".join(doc.page_text[0])
    assert not any("Expected" in t for texts in doc.page_text for t in texts)  # no ground truth by default
    assert data.evidence_units
    for u in data.evidence_units:
        assert str(u["r"]["unit_id"]) in page1
    for value in CONTEXT.values():
        assert value in page1
    assert "Place of inspection" in page1 and page1.count("not given") == 2
    # every photo hash is drawn whole, on one line of its own
    for u in data.evidence_units:
        assert any(t == f"Photo SHA-256: {u['image_sha256']}" for texts in doc.page_text for t in texts)
    # every anomalous region of every unit is listed (no silent cap)
    all_text = "\n".join("\n".join(t) for t in doc.page_text)
    for u in data.evidence_units:
        for d in u["r"]["defects"]:
            assert f"({d['bbox'][0]}, {d['bbox'][1]})–({d['bbox'][2]}, {d['bbox'][3]})" in all_text


def test_pdf_file_pages_and_sha256sums(lot):
    import hashlib

    data = lot["data"]
    written = write_pdf_report(lot["out"] / "pdf" / "r.pdf", lot["results"], lot["golden"], data=data)
    raw = written.pdf.read_bytes()
    assert raw.startswith(b"%PDF-") and raw.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page\b", raw))
    assert pages == len(layout_pdf(data).page_text)
    digest = hashlib.sha256(raw).hexdigest()
    assert written.sha256_of(written.pdf) == digest
    assert read_sha256sums(written.sums) == {"r.pdf": digest}
    # the HTML beside it joins the same SHA256SUMS; writing again replaces, never duplicates (the
    # PDF's line when HTML and PDF are written together, then the HTML's when it is written alone)
    both = write_report(lot["out"] / "pdf" / "r.html", lot["results"], lot["golden"], data=data,
                        pdf_path=lot["out"] / "pdf" / "r.pdf")
    assert both.pdf == written.pdf and sorted(read_sha256sums(both.sums)) == ["r.html", "r.pdf"]
    both = write_report(lot["out"] / "pdf" / "r.html", lot["results"], lot["golden"], data=data)
    assert both.pdf is None and both.sums == written.sums
    sums = read_sha256sums(both.sums)
    assert sorted(sums) == ["r.html", "r.pdf"]
    assert sums["r.html"] == hashlib.sha256(both.html.read_bytes()).hexdigest() == both.sha256_of(both.html)
    assert sums["r.pdf"] == hashlib.sha256(written.pdf.read_bytes()).hexdigest()
    assert len(both.sums.read_text().splitlines()) == 2


def test_long_failing_table_continues_and_page_1_still_names_every_unit(lot):
    """60 failing units: the reasons table runs onto page 2 with its header; page 1 names them all."""
    bad = next(r.to_dict() for r in lot["results"] if r.verdict.value == "fail")
    rows = [{**bad, "unit_id": f"long-{i:03d}", "reasons": bad["reasons"] + ["x" * 150]} for i in range(60)]
    data = build_report(rows, lot["golden"], title="Long", color_maps=False)
    doc = layout_pdf(data)
    page1 = " ".join(doc.page_text[0])
    assert all(f"long-{i:03d}" in page1 for i in range(60))
    assert "Units that failed or need review (continued)" in doc.page_text[1]
    assert "Why" in doc.page_text[1]
    assert len(doc.page_text) == len(set(tuple(p) for p in doc.page_text))
    # the 150-character token is wrapped in pieces, never shortened
    assert "".join(t for t in doc.page_text[0] + doc.page_text[1] if set(t) == {"x"}).count("x") >= 150


def test_dimension_words_agree_with_the_deviation_and_show_only_known_uncertainty():
    base = {"name": "panel_width", "nominal_mm": 110.0, "tol_minus_mm": 1.0, "tol_plus_mm": 1.0, "ok": False}
    (row,) = _dim_rows({"dimensions": [{**base, "measured_mm": 108.18, "deviation_mm": -1.82, "uncertainty_mm": None}]})
    assert row["words"] == "1.82 mm under nominal: 0.82 mm beyond the −1.00 mm limit"
    assert row["beyond_limit_mm"] == pytest.approx(0.82)
    assert row["uncertainty_text"] is None and row["measured_text"] == "108.18 mm"
    (row,) = _dim_rows({"dimensions": [{**base, "measured_mm": 111.5, "deviation_mm": 1.5, "uncertainty_mm": 0.0072}]})
    assert row["words"] == "1.50 mm over nominal: 0.50 mm beyond the +1.00 mm limit"
    assert row["uncertainty_text"] == "± 0.007 mm" and row["measured_text"] == "111.500 mm"
    (row,) = _dim_rows({"dimensions": [{**base, "measured_mm": 110.1, "ok": True, "uncertainty_mm": 0.0016}]})
    assert row["words"] == "within tolerance (0.10 mm over nominal)" and row["beyond_limit_mm"] == 0.0
    assert row["uncertainty_text"] == "± 0.0016 mm"
    for unc in (0.0, float("nan")):
        (row,) = _dim_rows({"dimensions": [{**base, "measured_mm": 110.1, "uncertainty_mm": unc}]})
        assert row["uncertainty_text"] is None


def test_heat_map_colours_over_a_dimmed_unit_and_legend_marks_the_threshold():
    unit = np.full((20, 30, 3), 200, np.uint8)
    score = np.zeros((20, 30), np.float32)
    score[5:10, 5:10] = 1.5  # above the threshold
    score[12:15, 20:25] = 0.5  # below it
    out = anomaly_overlay(unit, score)
    assert out[0, 0].tolist() == [100, 100, 100]  # grey 200 dimmed to 45 % + 10
    hot = out[7, 7].astype(int)
    assert hot[0] > 200 and hot[2] < 60  # yellow-red at 1.5x threshold
    cool = out[13, 22].astype(int)
    assert cool[2] > cool[0] + 40  # blue-cyan below the threshold
    leg = anomaly_legend(300)
    xt = 12 + round((300 - 24) / HEAT_TOP_X)
    assert (leg[10, xt] == 0).all()  # the black threshold tick
    assert leg[10, xt - 6, 2] > leg[10, xt - 6, 0] and leg[10, xt + 6, 0] > leg[10, xt + 6, 2]


def test_render_without_prebuilt_data_and_from_dicts(lot):
    """The CLI's `report` command passes recorded dicts and no photos; the lot as a plain dict."""
    rows = [r.to_dict() for r in lot["results"]]
    html = render_report(rows, lot["golden"], lot=lot["record"].to_dict(), title="From JSONL")
    assert "From JSONL" in html and "No photo was given" in html


def test_color_maps_only_for_failing_zones(lot):
    for u in lot["data"].units:
        bad = {c["name"] for c in u["r"]["color"] if not c["ok"]}
        assert {m["zone"] for m in u["color_maps"]} <= bad
        for m in u["color_maps"]:
            assert m["image"].ndim == 3 and m["image"].dtype == np.uint8


def test_color_shift_words_known_answers():
    ref = (50.0, 0.0, 40.0)  # a yellow: chroma along +b
    assert color_shift_words((48.0, 0.0, 40.0), ref, -1.0, 0.0, 0.0) == "darker"
    assert color_shift_words((50.0, 0.0, 45.0), ref, 0.0, 1.0, 0.0) == "more saturated"
    # a hue move towards +a on a yellow reference reads "redder", towards -a "greener"
    assert color_shift_words((50.0, 5.0, 40.0), ref, 0.0, 0.0, 1.0) == "redder"
    assert color_shift_words((50.0, -5.0, 40.0), ref, 0.0, 0.0, -1.0) == "greener"
    assert color_shift_words((52.0, 0.0, 38.0), ref, 0.1, 0.1, 0.1) == "no clear direction"


def test_lot_summary_words_for_reject_and_dupro(lot):
    d = lot["record"].to_dict()
    d["inspection_type"] = "dupro"
    d["verdict"] = {**d["verdict"], "decision": "reject", "accepted": False,
                    "classes": [{**d["verdict"]["classes"][1], "nonconforming": 2, "decision": "reject"}]}
    s = lot_summary(d)
    assert s["decision_words"] == "REJECTED" and not s["releases_payment"]
    assert "major class: 2 units with a major defect among" in s["headline"]
    assert "does not release" in " ".join(s["explanation"])


def test_lot_words_say_which_units_were_counted():
    """Major judged on the first 5 of 13 drawn: a major unit at #7 is listed, not counted."""
    ids = [f"u{i:02d}" for i in range(13)]
    rows = {i: {"verdict": "pass", "defect_class": None} for i in ids}
    rows["u01"] = {"verdict": "fail", "defect_class": "major"}
    rows["u06"] = {"verdict": "fail", "defect_class": "major"}
    rows["u09"] = {"verdict": "fail", "defect_class": "minor"}
    plan = lambda n, ac, aql: {"sample_size": n, "accept": ac, "reject": ac + 1, "aql": aql, "code_letter": "C"}
    d = {"lot_id": "L", "lot_size": 40, "seed": 0, "sample_ids": ids, "inspection_type": "psi",
         "verdict": {"decision": "reject", "accepted": False, "classes": [
             {"defect_class": "major", "plan": plan(5, 0, 2.5), "nonconforming": 1, "decision": "reject"},
             {"defect_class": "minor", "plan": plan(13, 1, 4.0), "nonconforming": 1, "decision": "accept"}]}}
    s = lot_summary(d, rows)
    assert s["headline"] == ("The lot is REJECTED: major class: 1 unit with a major defect among the first 5 units "
                             "drawn (its ISO 2859-1 sample), the limit is 0 (rejected at 1).")
    assert s["sample_words"].startswith("Of the 13 units drawn, 3 failed (major 2, minor 1) and 0 need a person's review.")
    assert "1 unit with a major defect further down the draw (#7) is listed but not counted" in s["sample_words"]
    assert [c["counted_in"] for c in s["classes"]] == ["the first 5 units drawn", "all 13 units drawn"]


def test_lot_context_validation_and_not_given():
    from goldenvision.lots import check_lot_context, lot_context_rows

    rows = lot_context_rows({"po": " PO-1 ", "date": "", "shift": "B"})
    assert rows == [("Supplier", "not given", False), ("Purchase order (PO)", "PO-1", True),
                    ("Inspector", "not given", False), ("Place of inspection", "not given", False),
                    ("Date of inspection", "not given", False), ("shift", "B", True)]
    with pytest.raises(SpecError, match=r"lot_context\['po'\]: expected text"):
        check_lot_context({"po": 4711})
    with pytest.raises(SpecError):
        check_lot_context(["po", "x"])
