"""Evidence images of an inspection report: the unit re-aligned into golden px, caliper
rectangles with the edges found, the anomaly heat map and the CIEDE2000 maps.

Frames: overlays are drawn in golden px (docs/DESIGN.md, "Frames and units"). Caliper
rectangles are defined in golden px by the spec; the edges a measurement found are in
unit px (``DimensionResult.edges_unit_px``) and are mapped to golden px through the
registration (:func:`goldenvision.transform.map_points_to_reference`). Images are RGB
uint8 arrays; the renderers encode them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from ..golden import GoldenSample
from ..transform import map_points_to_reference

__all__ = ["EVIDENCE_WIDTH_PX", "HEAT_TOP_X", "anomaly_overlay", "anomaly_legend", "unit_images", "color_maps",
           "golden_image", "crop_box"]

#: Width of the evidence images (px); the HTML scales them to the page.
EVIDENCE_WIDTH_PX = 640


# --------------------------------------------------------------------------- images


def crop_box(golden: GoldenSample) -> tuple[int, int, int, int]:
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


def unit_images(ev: Mapping[str, Any], r: Mapping[str, Any], golden: GoldenSample, scale: float | None,
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
                assert ds.circle is not None  # a dimension has a caliper or a circle
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


def color_maps(ev: Mapping[str, Any], r: Mapping[str, Any], inspector: Any) -> list[dict[str, Any]]:
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


def golden_image(golden: GoldenSample, box: tuple[int, int, int, int]) -> np.ndarray:
    view = _View(box, EVIDENCE_WIDTH_PX)
    img = view.image(golden.reference)
    for ds in golden.spec.dimensions:
        _draw_dimension(img, view, ds, None, None, None, label=True)
    return img
