"""Turn the detector graph's output maps into boxes (numpy; no torch)."""

from __future__ import annotations

import numpy as np

from goldenvision.detect.metrics import ImageDetections


def decode_maps(heat: np.ndarray, box: np.ndarray, *, min_score: float = 0.01, max_det: int = 100) -> ImageDetections:
    """Top detections of one image.

    Parameters
    ----------
    heat : float32 (C, h, w) per-class centre scores in [0, 1], non-maxima already 0 (the
        bundle's graph does the 3x3 peak suppression).
    box : float32 (4, h, w): centre x, centre y, width, height in input px at each cell.
    min_score : peaks below this are dropped.
    max_det : at most this many detections (highest scores).

    Returns
    -------
    ImageDetections with boxes xyxy in input px.
    """
    if heat.ndim != 3 or box.ndim != 3 or box.shape[0] != 4 or box.shape[1:] != heat.shape[1:]:
        raise ValueError(f"decode_maps: heat (C, h, w) and box (4, h, w) expected; got {heat.shape} and {box.shape}")
    flat = heat.reshape(-1)
    cand = np.flatnonzero(flat >= min_score)
    if cand.size > max_det:
        cand = cand[np.argpartition(-flat[cand], max_det - 1)[:max_det]]
    cand = cand[np.argsort(-flat[cand], kind="stable")]
    hw = heat.shape[1] * heat.shape[2]
    labels = cand // hw
    pos = cand % hw
    b = box.reshape(4, -1)[:, pos]
    cx, cy, w, h = b
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) if cand.size else np.zeros((0, 4))
    return ImageDetections(boxes, flat[cand], labels)
