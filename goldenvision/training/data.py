"""Training samples in memory, crops, torchvision v2 augmentation and CenterNet targets (torch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from goldenvision.imageio import read_image
from goldenvision.training.model import STRIDE


@dataclass(frozen=True, slots=True)
class PairArrays:
    """One sample decoded: test and template uint8 (H, W) grey or (H, W, 3) RGB; boxes (G, 4)
    float32 xyxy image px; labels (G,) int64 class index."""

    test: np.ndarray
    template: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray


def _compact(rgb: np.ndarray) -> np.ndarray:
    """Keep a grey image as (H, W) (a third of the memory); RGB as is."""
    if rgb.ndim == 3 and np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])
    return rgb


def load_pairs(samples: Sequence[Any], classes: Sequence[str]) -> list[PairArrays]:
    """Decode every sample of a ``goldenvision.datasets.Dataset`` (image, template, boxes)."""
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for s in samples:
        test = _compact(read_image(s.image))
        if s.template is not None:
            template = _compact(read_image(s.template))
            if template.shape[:2] != test.shape[:2]:
                raise ValueError(f"{s.template}: template {template.shape[:2]} differs from image {test.shape[:2]} ({s.image})")
            if template.ndim != test.ndim:
                test, template = _rgb(test), _rgb(template)
        else:
            template = test
        boxes = np.array([a.box_xyxy for a in s.annotations], dtype=np.float32).reshape(-1, 4)
        labels = np.array([index[a.label] for a in s.annotations], dtype=np.int64)
        out.append(PairArrays(test, template, boxes, labels))
    return out


def _rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a


def to_tensor(a: np.ndarray) -> torch.Tensor:
    """uint8 (H, W) or (H, W, 3) -> float32 (3, H, W) in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(a))
    t = t.unsqueeze(0).expand(3, -1, -1) if t.ndim == 2 else t.permute(2, 0, 1)
    return t.float().div_(255.0)


def augmenter() -> v2.Compose:
    """Flips, 90-degree rotations and small photometric changes, applied identically to test,
    template and boxes (torchvision transforms v2)."""
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(0.5),
            v2.RandomVerticalFlip(0.5),
            v2.RandomChoice([v2.RandomRotation((a, a), expand=True) for a in (0.0, 90.0, 180.0, 270.0)]),
            v2.ColorJitter(brightness=0.1, contrast=0.1),
        ]
    )


def random_crop(pair: PairArrays, size: int, rng: np.random.Generator, *, max_shift_px: int = 2) -> PairArrays:
    """A ``size`` x ``size`` crop (zero padded when the image is smaller). The template is taken
    ``max_shift_px`` or less off the test crop, a registration residual the model must tolerate.
    Boxes keep when their centre is inside the crop, clipped to it."""
    h, w = pair.test.shape[:2]
    pad = max_shift_px
    y0 = int(rng.integers(0, max(h - size, 0) + 1))
    x0 = int(rng.integers(0, max(w - size, 0) + 1))
    if pair.boxes.shape[0] and rng.random() < 0.7:  # centre most crops on a defect
        j = int(rng.integers(0, pair.boxes.shape[0]))
        cx, cy = (pair.boxes[j, 0] + pair.boxes[j, 2]) / 2, (pair.boxes[j, 1] + pair.boxes[j, 3]) / 2
        x0 = int(np.clip(cx - rng.integers(size // 8, size - size // 8), 0, max(w - size, 0)))
        y0 = int(np.clip(cy - rng.integers(size // 8, size - size // 8), 0, max(h - size, 0)))
    dy, dx = (int(v) for v in rng.integers(-pad, pad + 1, size=2))

    def cut(a: np.ndarray, oy: int, ox: int) -> np.ndarray:
        out = np.zeros((size, size) + a.shape[2:], dtype=a.dtype)
        ys, xs = max(oy, 0), max(ox, 0)
        ye, xe = min(oy + size, h), min(ox + size, w)
        if ye > ys and xe > xs:
            out[ys - oy : ye - oy, xs - ox : xe - ox] = a[ys:ye, xs:xe]
        return out

    test = cut(pair.test, y0, x0)
    template = cut(pair.template, y0 + dy, x0 + dx) if pair.template is not pair.test else test
    b = pair.boxes.copy()
    b[:, [0, 2]] -= x0
    b[:, [1, 3]] -= y0
    cxs, cys = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    keep = (cxs >= 0) & (cxs < size) & (cys >= 0) & (cys < size)
    b = np.clip(b[keep], 0, size)
    return PairArrays(test, template, b, pair.labels[keep])


def augment(pair: PairArrays, tf: v2.Compose) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """Apply ``tf`` to test, template and boxes together -> float tensors and boxes."""
    test = tv_tensors.Image(to_tensor(pair.test))
    template = tv_tensors.Image(to_tensor(pair.template))
    h, w = test.shape[-2:]
    boxes = tv_tensors.BoundingBoxes(torch.from_numpy(pair.boxes), format="XYXY", canvas_size=(h, w))
    labels = torch.from_numpy(pair.labels)
    t, tp, b, lab = tf(test, template, boxes, labels)
    return t.as_subclass(torch.Tensor), tp.as_subclass(torch.Tensor), b.as_subclass(torch.Tensor).numpy(), lab.numpy()


def centernet_targets(
    boxes: np.ndarray, labels: np.ndarray, n_classes: int, h: int, w: int, *, max_obj: int = 64
) -> dict[str, np.ndarray]:
    """CenterNet targets at stride 4 for one image of ``h`` x ``w`` px.

    The heat map peak of each box is an elliptical Gaussian with sigma = 0.54 * size / 6 per
    axis (TTFNet, Liu et al., AAAI 2020, arXiv:1909.00700); box targets are the centre offset
    inside the cell and the log width / height in cells.
    """
    hh, ww = h // STRIDE, w // STRIDE
    heat = np.zeros((n_classes, hh, ww), dtype=np.float32)
    ind = np.zeros(max_obj, dtype=np.int64)
    reg = np.zeros((max_obj, 4), dtype=np.float32)
    mask = np.zeros(max_obj, dtype=np.float32)
    ys, xs = np.mgrid[0:hh, 0:ww].astype(np.float32)
    for k, (bx, lab) in enumerate(zip(boxes[:max_obj], labels[:max_obj], strict=True)):
        bw, bh = (bx[2] - bx[0]) / STRIDE, (bx[3] - bx[1]) / STRIDE
        if bw <= 0 or bh <= 0:
            continue
        cx, cy = (bx[0] + bx[2]) / 2 / STRIDE, (bx[1] + bx[3]) / 2 / STRIDE
        ix, iy = min(int(cx), ww - 1), min(int(cy), hh - 1)
        sx, sy = max(0.54 * bw / 6, 0.5), max(0.54 * bh / 6, 0.5)
        g = np.exp(-((xs - ix) ** 2) / (2 * sx * sx) - ((ys - iy) ** 2) / (2 * sy * sy))
        np.maximum(heat[lab], g, out=heat[lab])
        heat[lab, iy, ix] = 1.0
        ind[k] = iy * ww + ix
        reg[k] = (cx - ix, cy - iy, np.log(bw), np.log(bh))
        mask[k] = 1.0
    return {"heat": heat, "ind": ind, "reg": reg, "mask": mask}
