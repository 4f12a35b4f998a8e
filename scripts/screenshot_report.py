"""Render an inspection report the way a buyer sees it: HTML screenshot and PDF pages as PNG.

Review tool only (chromium and poppler's pdftoppm are NOT project dependencies)::

    python scripts/screenshot_report.py                       # build a small demo lot first
    python scripts/screenshot_report.py --report /tmp/rep1/report.html --pdf /tmp/rep1/report.pdf

Without ``--report`` it generates a small demo lot (size 0.4, 12 units, 3 goldens) in
``--out``, writes report.html and report.pdf there, and prints how long each took. It then
takes a full-page screenshot of the HTML with headless chromium (``<out>/shot.png``, plus
a print-to-PDF of the HTML to check the print CSS: ``<out>/print.pdf``) and renders every
PDF page to ``<out>/pdf-<n>.png`` with pdftoppm. Each tool is skipped with a clear message
when it is not installed (``apt-get install chromium poppler-utils``).
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


def build_demo(out: Path, *, size: float, units: int, goldens: int, seed: int) -> tuple[Path, Path]:
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
              lot=record, truth=truth)
    t = time.perf_counter()
    data = build_report(results, golden, **kw)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    html = write_report(out / "report.html", results, golden, data=data)
    t_html = time.perf_counter() - t
    t = time.perf_counter()
    pdf = write_pdf_report(out / "report.pdf", results, golden, data=data)
    t_pdf = time.perf_counter() - t
    print(f"report evidence (shared by HTML and PDF): {t_build:.1f} s; HTML render+write {t_html:.2f} s "
          f"({html.stat().st_size / 1e6:.1f} MB); PDF render+write {t_pdf:.2f} s ({pdf.stat().st_size / 1e6:.1f} MB)")
    return html, pdf


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
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    for old in list(a.out.glob("pdf-*.png")) + list(a.out.glob("print-*.png")):
        old.unlink()
    if a.report is None:
        html, pdf = build_demo(a.out, size=a.size, units=a.units, goldens=a.goldens, seed=a.seed)
    else:
        html, pdf = a.report, a.pdf
    screenshot(html, a.out, width=a.width, height=a.height)
    if pdf is not None:
        pdf_pages(pdf, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
