"""The inspection report (HTML and PDF) on a tiny synthetic demo lot: verdict, counts,
Ac/Re, reasons, embedded evidence; a valid multi-page PDF."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from goldenvision.demo import generate_lot
from goldenvision.lots import judge_sampled_lot
from goldenvision.pipeline import inspect, seal
from goldenvision.report import build_report, color_shift_words, lot_summary, render_report, write_pdf_report, write_report


@pytest.fixture(scope="module")
def lot(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    demo = generate_lot(out, seed=3, n_golden=3, n_units=8, size=0.4)
    golden = seal([str(p) for p in demo.golden_paths], demo.spec_path)
    golden.save(out / "g.golden")  # gives the golden its id and manifest hash
    results = [inspect(str(p), golden, unit_id=p.name) for p in demo.unit_paths]
    record = judge_sampled_lot({Path(r.unit_id).stem: r for r in results}, golden.spec.aql, lot_id="lot-T3", seed=3,
                               inspection_type="psi", completion_fraction=0.9, product=golden.spec.product)
    kw = dict(image_paths={p.name: p for p in demo.unit_paths}, title="Test lot", lot=record,
              truth={u["unit_id"]: u for u in demo.truth["units"]})
    data = build_report(results, golden, **kw)
    return {"out": out, "golden": golden, "results": results, "record": record, "kw": kw, "data": data}


def test_html_has_verdict_counts_plan_and_evidence(lot):
    results, record, data = lot["results"], lot["record"], lot["data"]
    path = write_report(lot["out"] / "r.html", results, lot["golden"], data=data)
    html = path.read_text(encoding="utf-8")
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
        nums = re.findall(r'<td class="num">(?:<b[^>]*>)?(\d+)', row)
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


def test_pdf_is_valid_with_one_page_per_failing_unit(lot):
    data = lot["data"]
    path = write_pdf_report(lot["out"] / "r.pdf", lot["results"], lot["golden"], data=data)
    raw = path.read_bytes()
    assert raw.startswith(b"%PDF-") and raw.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page\b", raw))
    assert pages == 1 + sum(r.verdict.value != "pass" for r in lot["results"]) == 1 + len(data.evidence_units)


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
    assert "major defects: 2 found" in s["headline"]
    assert "does not release" in " ".join(s["explanation"])
