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


def render_report(
    results: Sequence["UnitResult | Mapping[str, Any]"],
    golden: GoldenSample,
    *,
    data: ReportData | None = None,
    **kwargs: Any,
) -> str:
    """Render the report as an HTML string.

    Parameters
    ----------
    results : sequence of UnitResult or their ``to_dict()``
    golden : GoldenSample
    data : ReportData, optional
        Content already built by :func:`goldenvision.report.build_report` (reuse it to write
        HTML and PDF without re-aligning the units twice); else built here from ``kwargs``.
    **kwargs
        ``image_paths``, ``title``, ``lot``, ``truth``, ``max_evidence_units``,
        ``color_maps``: see :func:`goldenvision.report.build_report`.
    """
    if data is None:
        data = build_report(results, golden, **kwargs)
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
    **kwargs: Any,
) -> Path:
    """Render (see :func:`render_report`) and write the HTML report; returns its path.

    Parameters
    ----------
    path : str or Path
        The HTML file to write (folders are created).
    pdf_path : str or Path, optional
        Also write the PDF report there (:func:`goldenvision.report.write_pdf_report`),
        from the same evidence (units are re-aligned once).
    data, **kwargs
        As for :func:`render_report`.
    """
    if data is None:
        data = build_report(results, golden, **kwargs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(results, golden, data=data), encoding="utf-8")
    if pdf_path is not None:
        from .pdf import write_pdf_report

        write_pdf_report(pdf_path, results, golden, data=data)
    return path
