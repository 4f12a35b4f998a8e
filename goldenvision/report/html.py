"""Render the inspection report as one self-contained HTML file.

Every image is embedded as a data URI and no font, script or style sheet is fetched, so the
report can be mailed, archived and opened on an air-gapped PC; print CSS puts each unit's
evidence on its own page. The content comes from :func:`goldenvision.report.data.build_report`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from ..errors import GoldenVisionError
from ..golden import GoldenSample
from ..results import UnitResult
from .checksums import WrittenReport, record_sha256
from .data import ReportData, build_report

__all__ = ["render_report", "write_report", "data_uri"]

_env = Environment(loader=PackageLoader("goldenvision", "report/templates"), autoescape=select_autoescape(["html"]))


def data_uri(rgb: np.ndarray, *, fmt: str = "jpg", quality: int = 88) -> str:
    """An RGB uint8 image as a ``data:`` URI (JPEG for photos, PNG for charts)."""
    if fmt == "png":
        ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 6])
        mime = "image/png"
    else:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        mime = "image/jpeg"
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise GoldenVisionError("report: cannot encode an evidence image")
    return f"data:{mime};base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _build_kwargs(image_paths: Any, title: str, lot: Any, truth: Any, max_evidence_units: int, color_maps: bool,
                  lot_context: Any, show_ground_truth: bool) -> dict[str, Any]:
    return dict(image_paths=image_paths, title=title, lot=lot, truth=truth, max_evidence_units=max_evidence_units,
                color_maps=color_maps, lot_context=lot_context, show_ground_truth=show_ground_truth)


def render_report(
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
) -> str:
    """Render the report as an HTML string.

    Parameters
    ----------
    results : sequence of UnitResult or their ``to_dict()``
    golden : GoldenSample
    data : ReportData, optional
        Content already built by :func:`goldenvision.report.build_report` (reuse it to write
        HTML and PDF without re-aligning the units twice); else built here from the
        keywords below, which are ignored when ``data`` is given.
    image_paths, title, lot, truth, max_evidence_units, color_maps, lot_context, show_ground_truth
        See :func:`goldenvision.report.build_report`.
    """
    if data is None:
        data = build_report(results, golden, **_build_kwargs(image_paths, title, lot, truth, max_evidence_units,
                                                              color_maps, lot_context, show_ground_truth))
    units = []
    for u in data.units:
        e = dict(u)
        if u["images"]:
            e["uris"] = {k: data_uri(v) for k, v in u["images"].items()}
        e["map_uris"] = [{**m, "uri": data_uri(m["image"], fmt="png")} for m in u["color_maps"]]
        units.append(e)
    template = _env.get_template("report.html")
    return template.render(
        d=data,
        title=data.title,
        generated=data.generated,
        version=data.version,
        spec=data.spec,
        golden_meta=data.golden_meta,
        provenance=data.golden_provenance,
        golden_image=data_uri(data.golden_image),
        counts=data.counts,
        units=units,
        evidence=[u for u in units if u["r"]["verdict"] != "pass"],
        lot=data.lot,
        has_truth=data.has_truth,
        scale=data.scale_mm_per_px,
    )


def write_report(
    path: "str | Path",
    results: Sequence["UnitResult | Mapping[str, Any]"],
    golden: GoldenSample,
    *,
    data: ReportData | None = None,
    pdf_path: "str | Path | None" = None,
    image_paths: Mapping[str, "str | Path"] | None = None,
    title: str = "Inspection report",
    lot: Any = None,
    truth: Mapping[str, Mapping[str, Any]] | None = None,
    max_evidence_units: int = 60,
    color_maps: bool = True,
    lot_context: Mapping[str, str] | None = None,
    show_ground_truth: bool = False,
) -> WrittenReport:
    """Render (see :func:`render_report`) and write the HTML report, and record its SHA-256.

    Parameters
    ----------
    path : str or Path
        The HTML file to write (folders are created).
    pdf_path : str or Path, optional
        Also write the PDF report there (:func:`goldenvision.report.write_pdf_report`),
        from the same evidence (units are re-aligned once).
    data, image_paths, title, lot, truth, max_evidence_units, color_maps, lot_context, show_ground_truth
        As for :func:`render_report`.

    Returns
    -------
    WrittenReport
        The files written and their SHA-256, which are also recorded in ``SHA256SUMS``
        beside the HTML (``sha256sum`` format; the PDF's too when it is written to the
        same folder, else in a ``SHA256SUMS`` beside the PDF).
    """
    if data is None:
        data = build_report(results, golden, **_build_kwargs(image_paths, title, lot, truth, max_evidence_units,
                                                              color_maps, lot_context, show_ground_truth))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(results, golden, data=data), encoding="utf-8")
    sums, digests = record_sha256([path])
    pdf_written = None
    if pdf_path is not None:
        from .pdf import write_pdf_report

        pdf_done = write_pdf_report(pdf_path, results, golden, data=data)
        pdf_written = pdf_done.pdf
        digests.update(pdf_done.sha256)
    return WrittenReport(html=path, pdf=pdf_written, sha256=digests, sums=sums)
