"""How small a defect each anomaly zone can see: a probability-of-detection self-test at sealing.

A buyer's spec sets each zone's smallest defect (``min_area_mm2``) and its contrast
(``min_contrast_dl``), but whether the photos resolve it depends on the product and the photo:
the scale, the zone's own structure (a 1 mm part photographed at 5 px/mm lies inside the
misregistration tolerance of its own edges), the spread of the golden captures. So after the
model is fitted, defects of exactly the spec's minimum are implanted into the reference
capture and scored like a unit; the share found at their place is the zone's probability of
detection at the spec's minimum (POD, as the hit/miss POD of non-destructive testing,
MIL-HDBK-1823A). Two kinds of defect, each at ``n_sites`` sites of the zone:

* ``spot``: a round mark of the smallest area, darker by the smallest contrast ΔL* (lighter
  where the ground is too dark for that), at sites spread evenly over the zone (a stain, a
  dent's shadow, a missing dot of print). Without a contrast in the spec, the contrasts of
  :data:`CONTRAST_LADDER_DL` are tried in turn and the smallest found is recorded: what the
  zone resolves at that area;
* ``gone``: the same disc filled with the median of its surroundings (a small part, a stone, a
  print element that is not there), at the sites where the disc's mean stands out most from its
  surroundings' (the top quarter of the zone), where something of that size can go missing; a
  site counts only where the removal changes half the disc's area by the test contrast.

A site counts as found when the unit's map reaches the threshold (1.0) within the disc grown
by the evidence's support. The reference capture is one of the images the model was fitted
on, so the figure is a little optimistic (its own noise is in the mean); a zone whose POD is
low at the spec's minimum will miss such defects on units, and the sealed sample says so with
what to change (scale, area, method).

Sites are implanted several to an image, far enough apart not to see each other, so the test
costs a few scorings per zone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .zone_variation import _LSTAR

if TYPE_CHECKING:
    from .model import AnomalyModel

__all__ = ["ZoneDetectability", "detectability", "CONTRAST_LADDER_DL", "POD_WARN"]

#: Spot contrasts tried (ΔL*) when the spec gives no ``min_contrast_dl``: the smallest one found
#: at :data:`POD_WARN` or more of the sites is the zone's contrast sensitivity at the spec's area.
CONTRAST_LADDER_DL = (2.0, 4.0, 8.0, 16.0, 32.0)
#: A defect kind is "found" at a size when at least this share of its test sites is found.
POD_WARN = 0.9


@dataclass(frozen=True)
class ZoneDetectability:
    """The self-test of one zone.

    Attributes
    ----------
    zone : str
    area_mm2 : float
        The implanted defects' area (the spec's ``min_area_mm2``).
    radius_px : float
        Their radius in golden px.
    spec_contrast_dl : float
        The spec's ``min_contrast_dl`` (0: none given).
    pod_spot : dict of float -> float
        Share of spots found at their place, by contrast ΔL* tried.
    spot_contrast_dl : float or None
        The smallest contrast tried whose spots were found at :data:`POD_WARN` of the sites
        (None: not even the largest).
    pod_gone : float or None
        Share of removals found at their place (None: no site where a removal changes the
        image by the test contrast).
    sites : int
        Sites tried per kind and contrast.
    """

    zone: str
    area_mm2: float
    radius_px: float
    spec_contrast_dl: float
    pod_spot: dict[float, float]
    spot_contrast_dl: float | None
    pod_gone: float | None
    sites: int

    def warning(self, scale_mm_per_px: float) -> str | None:
        """Plain words when the spec's smallest defect is not found reliably, else None: spots
        at the spec's contrast (or at any contrast tried, without one) below :data:`POD_WARN`."""
        size = f"{self.area_mm2:g} mm² ({2 * self.radius_px:.1f} px across at {scale_mm_per_px:.3f} mm/px)"
        if self.spec_contrast_dl > 0:
            p = self.pod_spot.get(self.spec_contrast_dl)
            if p is None or p >= POD_WARN:
                return None
            what = f"spots of {size} at the spec's ΔL* {self.spec_contrast_dl:g} were found at {100 * p:.0f} % of test sites"
        elif self.pod_spot and self.spot_contrast_dl is None:
            what = f"spots of {size} were not found reliably even at ΔL* {max(self.pod_spot):g}"
        else:
            return None
        return (f"anomaly zone {self.zone}: {what}; defects that small will be missed: photograph at a finer "
                f"scale, raise min_area_mm2, or choose another method for this zone")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["pod_spot"] = {f"{k:g}": v for k, v in self.pod_spot.items()}
        return d


def _lstar(rgb: np.ndarray) -> np.ndarray:
    """L* of the channel mean of an sRGB float image (as :func:`.zone_variation.contrast_dl` reads it)."""
    xs = np.arange(256, dtype=np.float32)
    return np.interp(np.clip(rgb.mean(axis=-1), 0, 255), xs, _LSTAR).astype(np.float32)


def _grey_of_lstar(lstar: np.ndarray) -> np.ndarray:
    """Inverse of the sRGB grey -> L* table (monotone), float grey levels."""
    return np.interp(lstar, _LSTAR, np.arange(256, dtype=np.float32)).astype(np.float32)


def _sites(candidates: np.ndarray, weights: np.ndarray | None, n: int, spacing: float,
           rng: np.random.Generator) -> list[tuple[int, int]]:
    """Up to ``n`` (x, y) sites from ``candidates`` (k, 2), drawn with ``weights`` (None =
    uniform), at least ``spacing`` px apart."""
    out: list[tuple[int, int]] = []
    if len(candidates) == 0:
        return out
    p = None if weights is None else weights / weights.sum()
    order = rng.choice(len(candidates), size=min(len(candidates), 40 * n), replace=False, p=p)
    for i in order:
        x, y = candidates[i]
        if all((x - a) ** 2 + (y - b) ** 2 >= spacing**2 for a, b in out):
            out.append((int(x), int(y)))
            if len(out) == n:
                break
    return out


def _batches(sites: list[tuple[int, int]], sep: float) -> list[list[tuple[int, int]]]:
    """Sites grouped so that the sites of one image are ``sep`` px apart."""
    groups: list[list[tuple[int, int]]] = []
    for s in sites:
        for g in groups:
            if all((s[0] - a) ** 2 + (s[1] - b) ** 2 >= sep**2 for a, b in g):
                g.append(s)
                break
        else:
            groups.append([s])
    return groups


def _implant(patch: np.ndarray, cov: np.ndarray, ring: np.ndarray, kind: str, dl: float,
             min_px: float) -> np.ndarray | None:
    """The patch with a spot (``kind="spot"``, ΔL* ``dl``) or a removal (``"gone"``: the disc
    filled with the median of ``ring``) blended in by ``cov`` (h, w, 1); None when a removal
    changes fewer than ``min_px`` px of the disc by ``dl`` (a median keeps a straight edge: no test)."""
    lum = _lstar(patch)
    if kind == "spot":
        sign = -1.0 if float(np.median(lum)) - dl >= 3.0 else 1.0
        target = _grey_of_lstar(np.clip(lum + sign * dl, 0.0, 100.0))
        new = np.clip(patch * (target / np.maximum(patch.mean(axis=2), 1.0))[..., None], 0, 255)
    else:
        new = np.broadcast_to(np.median(patch[ring], axis=0), patch.shape)
        if ((np.abs(_lstar(new) - lum) >= dl) & (cov[..., 0] > 0.5)).sum() < min_px:
            return None
    return patch * (1 - cov) + new * cov


def _pod(model: "AnomalyModel", img: np.ndarray, ok: np.ndarray, sites: list[tuple[int, int]], r: float,
         reach: float, kind: str, dl: float) -> float | None:
    """Share of ``sites`` whose implanted defect the model finds within ``reach`` px."""
    h, w = img.shape[:2]
    pad = int(math.ceil(2.5 * r)) + 1
    found = tried = 0
    for group in _batches(sites, 2 * reach + 2 * pad):
        test = img.astype(np.float32)
        kept = []
        for x, y in group:
            x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(w, x + pad + 1), min(h, y + pad + 1)
            yy, xx = np.mgrid[y0:y1, x0:x1]
            dist = np.hypot(xx - x, yy - y)
            cov = np.clip(r + 0.5 - dist, 0.0, 1.0)[..., None].astype(np.float32)
            ring = (dist >= r + 0.5) & (dist <= 2.5 * r + 0.5)
            new = _implant(test[y0:y1, x0:x1], cov, ring, kind, dl, 0.5 * math.pi * r * r)
            if new is not None:
                test[y0:y1, x0:x1] = new
                kept.append((x, y))
        if not kept:
            continue
        tried += len(kept)
        res = model.score(np.clip(np.rint(test), 0, 255).astype(np.uint8), ok)
        for x, y in kept:
            x0, y0 = max(0, int(x - reach)), max(0, int(y - reach))
            x1, y1 = min(w, int(x + reach + 1)), min(h, int(y + reach + 1))
            found += bool(res.map[y0:y1, x0:x1].max() >= 1.0)
    return found / tried if tried else None


def detectability(model: "AnomalyModel", image: np.ndarray, valid: np.ndarray | None = None, *,
                  n_sites: int = 8, seed: int = 0, area_mm2: float | None = None) -> dict[str, ZoneDetectability]:
    """Probability of detection of a spec-minimum defect per zone (module notes).

    Parameters
    ----------
    model : AnomalyModel
        The fitted model (zones without ``min_area_mm2``, or a model without a scale, are
        skipped: no size to test).
    image : ndarray, shape (H, W, 3), uint8
        A golden capture in golden px (the reference).
    valid : ndarray (H, W) bool or None
        Its pixels with data.
    n_sites : int, keyword-only
        Sites per zone, kind and contrast.
    seed : int, keyword-only
        Site draw (fixed: the figure is reproducible).
    area_mm2 : float or None, keyword-only
        Test this area instead of each zone's ``min_area_mm2`` (how POD grows with size).

    Returns
    -------
    dict of zone name -> ZoneDetectability
    """
    if not model.scale_mm_per_px:
        return {}
    img = np.ascontiguousarray(image)
    h, w = img.shape[:2]
    ok = np.ones((h, w), bool) if valid is None else np.asarray(valid, bool)
    grey = img.astype(np.float32).mean(axis=2)
    rng = np.random.default_rng(seed)
    out: dict[str, ZoneDetectability] = {}
    for z in model.zones_:
        area = float(z.spec.min_area_mm2) if area_mm2 is None else float(area_mm2)
        if area <= 0:
            continue
        r = math.sqrt(area / math.pi) / model.scale_mm_per_px
        spec_dl = float(z.spec.min_contrast_dl)
        reach = r + 4.0 * model.aggregate_sigma_px(z) + 2.0
        inner = cv2.erode((z.mask & ok).astype(np.uint8), cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * int(math.ceil(reach)) + 1,) * 2)) > 0
        ys, xs = np.nonzero(inner)
        pod_spot: dict[float, float] = {}
        found_dl = pod_gone = None
        if len(xs):
            cand = np.stack([xs, ys], axis=1)[:: max(1, len(xs) // 20000)]
            # where something of the disc's size stands out from its surroundings (a part, a
            # glyph, a stone): the disc's mean against the ring's, both box means
            k1, k2 = max(3, int(round(2 * r)) | 1), max(5, int(round(5 * r)) | 1)
            m1, m2 = cv2.blur(grey, (k1, k1)), cv2.blur(grey, (k2, k2))
            ring_mean = (m2 * k2 * k2 - m1 * k1 * k1) / (k2 * k2 - k1 * k1)
            sd = np.abs(m1 - ring_mean)[cand[:, 1], cand[:, 0]]
            top = sd >= np.quantile(sd, 0.75)
            spots = _sites(cand, None, n_sites, 2 * r, rng)
            for dl in ((spec_dl,) if spec_dl > 0 else CONTRAST_LADDER_DL):
                p = _pod(model, img, ok, spots, r, reach, "spot", dl)
                if p is None:
                    break
                pod_spot[dl] = p
                if p >= POD_WARN:
                    found_dl = dl
                    break
            if sd[top].max() > 2.0:
                gone = _sites(cand[top], sd[top] + 1e-3, n_sites, 2 * r, rng)
                pod_gone = _pod(model, img, ok, gone, r, reach, "gone", spec_dl or CONTRAST_LADDER_DL[2])
        out[z.spec.name] = ZoneDetectability(z.spec.name, area, r, spec_dl, pod_spot, found_dl, pod_gone, n_sites)
    return out
