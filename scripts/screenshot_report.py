"""Render an inspection report the way a buyer sees it: HTML screenshot and PDF pages as PNG.

Review tool only (chromium and poppler's pdftoppm are NOT project dependencies)::

    python scripts/screenshot_report.py                       # build a small demo lot first
    python scripts/screenshot_report.py --report /tmp/rep1/report.html --pdf /tmp/rep1/report.pdf

Without ``--report`` it generates a small demo lot (size 0.4, 12 units, 3 goldens) in
``--out``, writes report.html and report.pdf there, and prints how long each took. It then
takes a full-page screenshot of the HTML with headless chromium (``<out>/shot.png``, plus
a print-to-PDF of the HTML to check the print CSS: ``<out>/print.pdf``) and renders every
PDF page to ``<out>/pdf-<n>.png`` with pdftoppm, and checks the PDF's text with pdftotext
("page N of M" on every page, no "…", every failing unit named on page 1). Each tool is
skipped with a clear message when it is not installed (``apt-get install chromium
poppler-utils``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def build_demo(out: Path, *, size: float, units: int, goldens: int, seed: int,
               lot_context: dict[str, str] | None = None,
               show_ground_truth: bool = False) -> tuple[Path, Path, list[str]]:
    from goldenvision.demo import generate_lot
    from goldenvision.lots import judge_sampled_lot
    from goldenvision.package import load_golden
    from goldenvision.pipeline import inspect, seal
    from goldenvision.report import build_report, write_pdf_report, write_report

    t = time.perf_counter()
    lot = generate_lot(out, seed=seed, n_golden=goldens, n_units=units, size=size)
    golden = seal([str(p) for p in lot.golden_paths], lot.spec_path)
    golden.save(out / "demo.golden")
    golden = load_golden(out / "demo.golden")
    results = [inspect(str(p), golden, unit_id=p.name) for p in lot.unit_paths]
    record = judge_sampled_lot({Path(r.unit_id).stem: r for r in results}, golden.spec.aql, lot_id=f"demo-seed{seed}",
                               seed=seed, inspection_type="psi", completion_fraction=1.0, product=golden.spec.product)
    truth = {u["unit_id"]: u for u in lot.truth["units"]}
    print(f"demo lot built and inspected in {time.perf_counter() - t:.1f} s ({units} units, size {size})")
    kw = dict(image_paths={p.name: p for p in lot.unit_paths}, title="goldenvision demo: wallet-classic rev B",
              lot=record, truth=truth, lot_context=lot_context, show_ground_truth=show_ground_truth)
    t = time.perf_counter()
    data = build_report(results, golden, **kw)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    html = write_report(out / "report.html", results, golden, data=data).html
    t_html = time.perf_counter() - t
    t = time.perf_counter()
    written = write_pdf_report(out / "report.pdf", results, golden, data=data)
    pdf = written.pdf
    t_pdf = time.perf_counter() - t
    print(f"SHA-256 recorded in {written.sums}: " + ", ".join(f"{Path(k).name} {v[:16]}" for k, v in
                                                            sorted(written.sha256.items())))
    print(f"report evidence (shared by HTML and PDF): {t_build:.1f} s; HTML render+write {t_html:.2f} s "
          f"({html.stat().st_size / 1e6:.1f} MB); PDF render+write {t_pdf:.2f} s ({pdf.stat().st_size / 1e6:.1f} MB)")
    return html, pdf, [str(r.unit_id) for r in results if r.verdict.value != "pass"]


def screenshot(html: Path, out: Path, *, width: int, height: int) -> None:
    exe = _chromium()
    if exe is None:
        print("SKIP screenshot: chromium is not installed (apt-get install chromium); nothing rendered")
        return
    common = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--hide-scrollbars"]
    with tempfile.TemporaryDirectory() as prof:
        shot = out / "shot.png"
        subprocess.run(common + [f"--user-data-dir={prof}", f"--screenshot={shot}", f"--window-size={width},{height}",
                                 html.resolve().as_uri()], check=True, capture_output=True, timeout=120)
        print(f"screenshot: {shot}")
    with tempfile.TemporaryDirectory() as prof:
        printed = out / "print.pdf"
        subprocess.run(common + [f"--user-data-dir={prof}", f"--print-to-pdf={printed}", "--no-pdf-header-footer",
                                 html.resolve().as_uri()], check=True, capture_output=True, timeout=120)
        print(f"print preview (browser print of the HTML): {printed}")
        pdf_pages(printed, out, prefix="print")


def pdf_pages(pdf: Path, out: Path, *, prefix: str = "pdf", dpi: int = 60) -> None:
    exe = shutil.which("pdftoppm")
    if exe is None:
        print(f"SKIP {pdf.name} pages: pdftoppm is not installed (apt-get install poppler-utils)")
        return
    subprocess.run([exe, "-png", "-r", str(dpi), str(pdf), str(out / prefix)], check=True, timeout=120)
    pages = sorted(out.glob(f"{prefix}-*.png"))
    print(f"{pdf.name}: {len(pages)} page(s) -> {', '.join(p.name for p in pages)}")


def check_pdf_text(pdf: Path, failing_ids: list[str] | None = None) -> bool:
    """With poppler's pdftotext: every page says "page N of M", nothing is shortened with an
    ellipsis, and (when given) every failing unit id is on page 1. Prints what it found."""
    import re

    exe = shutil.which("pdftotext")
    if exe is None:
        print("SKIP text check: pdftotext is not installed (apt-get install poppler-utils)")
        return True
    text = subprocess.run([exe, "-layout", str(pdf), "-"], check=True, capture_output=True, text=True,
                          timeout=120).stdout
    pages = text.split("\f")
    pages = pages[:-1] if pages and not pages[-1].strip() else pages
    n = len(pages)
    ok = True
    for i, page in enumerate(pages, start=1):
        if not re.search(rf"page {i} of {n}\b", page):
            print(f"FAIL page {i}: no 'page {i} of {n}'")
            ok = False
    if "…" in text or "..." in text:
        print("FAIL: an ellipsis in the PDF text (something was shortened)")
        ok = False
    missing = [u for u in failing_ids or [] if u not in pages[0]]
    if missing:
        print(f"FAIL page 1: failing units not named: {missing}")
        ok = False
    print(f"{pdf.name}: {n} pages, text check {'OK' if ok else 'FAILED'}"
          + (f"; all {len(failing_ids)} failing units named on page 1" if failing_ids and not missing else ""))
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", type=Path, help="An existing report.html (skip building the demo).")
    ap.add_argument("--pdf", type=Path, help="An existing report.pdf to render page by page.")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gv-report-shot")
    ap.add_argument("--size", type=float, default=0.4)
    ap.add_argument("--units", type=int, default=12)
    ap.add_argument("--goldens", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--context", action="append", default=[], metavar="KEY=VALUE",
                    help="Lot context for the demo report (supplier, po, inspector, place, date); repeatable.")
    ap.add_argument("--show-ground-truth", action="store_true", help="Show the demo's expected verdicts (off by default).")
    a = ap.parse_args(argv)
    ctx = {}
    for item in a.context:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--context {item!r}: expected KEY=VALUE")
        ctx[key] = value
    a.out.mkdir(parents=True, exist_ok=True)
    for old in list(a.out.glob("pdf-*.png")) + list(a.out.glob("print-*.png")):
        old.unlink()
    if a.report is None:
        html, pdf, failing = build_demo(a.out, size=a.size, units=a.units, goldens=a.goldens, seed=a.seed,
                                        lot_context=ctx or None, show_ground_truth=a.show_ground_truth)
    else:
        html, pdf, failing = a.report, a.pdf, None
    screenshot(html, a.out, width=a.width, height=a.height)
    ok = True
    if pdf is not None:
        pdf_pages(pdf, a.out)
        ok = check_pdf_text(pdf, failing)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
