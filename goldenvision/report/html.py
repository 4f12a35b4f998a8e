"""Render the inspection report: summary, lot verdict, and evidence for each failing unit.

The report is one HTML file with every image embedded, so it can be mailed, archived and
opened on an air-gapped PC. Evidence images are recomputed from the unit photos (the unit
re-aligned into golden px beside the golden, the anomaly heat map, defect boxes).
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from .. import __version__
from ..errors import GoldenVisionError
from ..golden import GoldenSample
from ..results import UnitResult

__all__ = ["render_report", "write_report", "evidence_images"]

_env = Environment(loader=PackageLoader("goldenvision", "report/templates"), autoescape=select_autoescape(["html"]))

MAX_EVIDENCE_WIDTH_PX = 520


def _data_uri(rgb: np.ndarray, *, quality: int = 85) -> str:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise GoldenVisionError("report: cannot encode an evidence image")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _crop_box(golden: GoldenSample) -> tuple[int, int, int, int]:
    """The product area in golden px (whole frame without a profile)."""
    h, w = golden.shape
    prof = golden.profile or {}
    area = prof.get("product_area_mm")
    scale = prof.get("scale_mm_per_px")
    if not area or not scale:
        return 0, 0, w, h
    x1, y1, x2, y2 = (float(v) / float(scale) for v in area)
    return max(0, int(x1)), max(0, int(y1)), min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))


def _fit_width(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    if w <= MAX_EVIDENCE_WIDTH_PX:
        return img
    f = MAX_EVIDENCE_WIDTH_PX / w
    return cv2.resize(img, (MAX_EVIDENCE_WIDTH_PX, max(1, int(round(h * f)))), interpolation=cv2.INTER_AREA)


def evidence_images(evidence: Mapping[str, Any], result: Mapping[str, Any], golden: GoldenSample) -> dict[str, str]:
    """Golden, unit (with defect boxes) and anomaly heat map, cropped to the product, as data URIs."""
    x1, y1, x2, y2 = _crop_box(golden)
    gold = evidence["golden"][y1:y2, x1:x2]
    unit = evidence["warped"][y1:y2, x1:x2].copy()
    lw = max(2, (x2 - x1) // 300)
    for d in result.get("defects", []):
        bx1, by1, bx2, by2 = d["bbox"]
        cv2.rectangle(unit, (bx1 - x1 - lw, by1 - y1 - lw), (bx2 - x1 + lw, by2 - y1 + lw), (255, 0, 255), lw)
    out = {"golden": _data_uri(_fit_width(gold)), "unit": _data_uri(_fit_width(unit))}
    amap = evidence.get("anomaly_map")
    if amap is not None:
        a = np.nan_to_num(amap[y1:y2, x1:x2], nan=0.0)
        norm = np.clip(a / 2.0, 0, 1)  # 1.0 = threshold -> middle of the colour scale
        heat = cv2.cvtColor(cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
        blend = cv2.addWeighted(unit, 0.45, heat, 0.55, 0)
        out["heat"] = _data_uri(_fit_width(blend))
    return out


def _as_dict(r: "UnitResult | Mapping[str, Any]") -> dict[str, Any]:
    return r.to_dict() if isinstance(r, UnitResult) else dict(r)


def render_report(
    results: Sequence["UnitResult | Mapping[str, Any]"],
    golden: GoldenSample,
    *,
    image_paths: Mapping[str, Path] | None = None,
    title: str = "Inspection report",
    lot: Any = None,
    truth: Mapping[str, Mapping[str, Any]] | None = None,
    max_evidence_units: int = 60,
) -> str:
    """Render the report as an HTML string.

    Parameters
    ----------
    results : sequence of UnitResult or their ``to_dict()``
    golden : GoldenSample
    image_paths : mapping unit_id -> photo path
        Photos of the units, to show evidence for the units that failed or need review.
    lot : object with ``to_dict()``, optional
        The lot verdict (AQL plan, counts per class against Ac/Re).
    truth : mapping unit stem -> ground truth, optional
        Demo ground truth, shown beside each verdict.
    """
    from ..pipeline import Inspector  # the report re-aligns units for evidence

    rows = [_as_dict(r) for r in results]
    inspector = None
    units = []
    n_evidence = 0
    for r in rows:
        uid = str(r.get("unit_id"))
        entry: dict[str, Any] = {"r": r, "images": None, "evidence_error": None}
        if truth is not None:
            entry["truth"] = truth.get(Path(uid).stem)
        if r["verdict"] != "pass" and image_paths and uid in image_paths and n_evidence < max_evidence_units:
            if inspector is None:
                inspector = Inspector(golden)
            try:
                entry["images"] = evidence_images(inspector.evidence(str(image_paths[uid])), r, golden)
                n_evidence += 1
            except GoldenVisionError as exc:
                entry["evidence_error"] = str(exc)
        units.append(entry)
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("pass", "fail", "review")}
    prov = golden.provenance() if hasattr(golden, "provenance") else {}
    x1, y1, x2, y2 = _crop_box(golden)
    template = _env.get_template("report.html")
    return template.render(
        title=title,
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        spec=golden.spec,
        golden_meta=golden.meta,
        provenance=prov,
        golden_image=_data_uri(_fit_width(golden.reference[y1:y2, x1:x2])),
        counts=counts,
        units=units,
        lot=None if lot is None else (lot.to_dict() if hasattr(lot, "to_dict") else lot),
        has_truth=truth is not None,
    )


def write_report(path: "str | Path", results, golden: GoldenSample, **kwargs: Any) -> Path:
    """Render (see :func:`render_report`) and write the report; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(results, golden, **kwargs), encoding="utf-8")
    return path
