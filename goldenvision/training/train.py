"""Train the Siamese CenterNet detector on a ``goldenvision.datasets.Dataset`` (torch).

``train_detector`` is what ``goldenvision train`` calls: it records the split, trains on crops
with a cosine learning rate, validates on the full validation images after every epoch, keeps
the best checkpoint (early stopping on the validation mAP50), can resume, and finally exports
the versioned ONNX bundle (``goldenvision.training.export``).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from goldenvision.detect.decode import decode_maps
from goldenvision.detect.metrics import ImageDetections, ImageTruth, best_threshold, mean_average_precision
from goldenvision.training.data import PairArrays, augment, augmenter, centernet_targets, load_pairs, random_crop, to_tensor
from goldenvision.training.model import ExportWrapper, SiameseCenterNet, load_pretrained_lite0


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Options of one training run (all stored in the checkpoint and the model card)."""

    epochs: int = 40
    minutes: float | None = None  # wall-time budget for the training loop (validation included)
    n_val: int = 100
    by_group: bool = False  # hold out whole Sample.group (lot / product) in validation
    seed: int = 0
    crop_px: int = 320
    batch: int = 8
    crops_per_epoch: int | None = None  # default: two crops per training sample
    lr: float = 2e-3
    weight_decay: float = 1e-4
    freeze_blocks: int = 3
    fusion: str = "early"
    patience: int = 6  # epochs without a better validation mAP50 before stopping
    threads: int = 2


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced pixel-wise focal loss (alpha 2, beta 4), summed; the caller
    divides by the number of objects (Zhou et al. 2019, eq. 1)."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg = 1.0 - pos
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p**2 * (1 - target) ** 4 * neg
    return -(pos_loss.sum() + neg_loss.sum())


def detection_loss(
    heat_logits: torch.Tensor, box: torch.Tensor, targets: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, float]]:
    n_obj = targets["mask"].sum().clamp(min=1.0)
    l_heat = focal_loss(heat_logits, targets["heat"]) / n_obj
    b = box.flatten(2)  # (N, 4, h*w)
    ind = targets["ind"].unsqueeze(1).expand(-1, 4, -1)
    pred = b.gather(2, ind).permute(0, 2, 1)  # (N, max_obj, 4)
    m = targets["mask"].unsqueeze(-1)
    l_off = (F.l1_loss(pred[..., :2], targets["reg"][..., :2], reduction="none") * m).sum() / n_obj
    l_size = (F.l1_loss(pred[..., 2:], targets["reg"][..., 2:], reduction="none") * m).sum() / n_obj
    total = l_heat + l_off + l_size
    return total, {"heat": float(l_heat.detach()), "off": float(l_off.detach()), "size": float(l_size.detach())}


def make_batch(
    pairs: Sequence[PairArrays], idx: Sequence[int], cfg: TrainConfig, n_classes: int, rng: np.random.Generator, tf: Any
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    tests, temps, tg = [], [], []
    for i in idx:
        crop = random_crop(pairs[i], cfg.crop_px, rng)
        t, tp, b, lab = augment(crop, tf)
        tests.append(t)
        temps.append(tp)
        tg.append(centernet_targets(b, lab, n_classes, t.shape[-2], t.shape[-1]))
    targets = {k: torch.from_numpy(np.stack([d[k] for d in tg])) for k in tg[0]}
    return torch.stack(tests), torch.stack(temps), targets


def pad16(t: torch.Tensor) -> torch.Tensor:
    h, w = t.shape[-2:]
    return F.pad(t, (0, (-w) % 32, 0, (-h) % 32))


@torch.no_grad()
def predict_pairs(model: SiameseCenterNet, pairs: Sequence[PairArrays]) -> list[ImageDetections]:
    """Full-image detections with the torch model (the same decoding as the ONNX bundle)."""
    model.eval()
    wrap = ExportWrapper(model).eval()
    out = []
    for p in pairs:
        t = pad16(to_tensor(p.test)).unsqueeze(0)
        tp = pad16(to_tensor(p.template)).unsqueeze(0)
        heat, box = wrap(t, tp)
        out.append(decode_maps(heat[0].numpy(), box[0].numpy()))
    return out


def truths_of(pairs: Sequence[PairArrays]) -> list[ImageTruth]:
    return [ImageTruth(p.boxes, p.labels) for p in pairs]


@dataclass(frozen=True, slots=True)
class TrainOutcome:
    model: SiameseCenterNet
    best_epoch: int
    best_map50: float
    threshold: float
    history: list[dict[str, Any]]
    wall_s: float
    cpu_s: float


def train_detector(
    train_pairs: Sequence[PairArrays],
    val_pairs: Sequence[PairArrays],
    classes: Sequence[str],
    out_dir: Path,
    cfg: TrainConfig,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrainOutcome:
    """Train; checkpoints ``out_dir/last.pt`` (every epoch) and ``out_dir/best.pt``."""
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    n_classes = len(classes)
    model = SiameseCenterNet(n_classes, load_pretrained_lite0(), freeze_blocks=cfg.freeze_blocks, fusion=cfg.fusion)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    history: list[dict[str, Any]] = []
    start_epoch, best_map, best_epoch, elapsed0, cpu0 = 0, -2.0, -1, 0.0, 0.0
    last, best = out_dir / "last.pt", out_dir / "best.pt"
    if resume:
        if not last.is_file():
            raise FileNotFoundError(f"{last}: no checkpoint to resume from")
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        start_epoch, best_map, best_epoch = ck["epoch"] + 1, ck["best_map50"], ck["best_epoch"]
        history, elapsed0, cpu0 = ck["history"], ck["wall_s"], ck["cpu_s"]
        rng = np.random.default_rng(cfg.seed + start_epoch)
        torch.manual_seed(cfg.seed + start_epoch)
    tf = augmenter()
    n_per_epoch = cfg.crops_per_epoch or 2 * len(train_pairs)
    steps_per_epoch = max(1, n_per_epoch // cfg.batch)
    budget_s = cfg.minutes * 60.0 if cfg.minutes else None
    t0, c0 = time.perf_counter() - elapsed0, time.process_time() - cpu0
    t_session = time.perf_counter()  # --minutes is a budget for this session (a resumed run gets its own)
    total_steps = steps_per_epoch * cfg.epochs
    truths = truths_of(val_pairs)
    val_s = 0.0  # duration of the last validation (reserved at the end of the time budget)
    epoch = start_epoch
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        losses = []
        for step in range(steps_per_epoch):
            # cosine schedule over the epoch budget or the time budget, whichever ends first
            frac = (epoch * steps_per_epoch + step) / total_steps
            if budget_s:
                frac = max(frac, (time.perf_counter() - t_session) / budget_s)
            warm = min(1.0, (epoch * steps_per_epoch + step + 1) / 50)
            for g in opt.param_groups:
                g["lr"] = cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
            # stop the epoch early when validating it would overrun the time budget
            if budget_s and step > 0 and time.perf_counter() - t_session + val_s >= budget_s:
                break
            idx = rng.integers(0, len(train_pairs), size=cfg.batch).tolist()
            test, template, targets = make_batch(train_pairs, idx, cfg, n_classes, rng, tf)
            heat, box = model(test, template)
            loss, parts = detection_loss(heat, box, targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()
            losses.append(float(loss.detach()))
            if progress:
                progress({"epoch": epoch, "step": step + 1, "steps": steps_per_epoch, "loss": float(np.mean(losses[-20:])), **parts})
        tv = time.perf_counter()
        dets = predict_pairs(model, val_pairs)
        m50 = mean_average_precision(dets, truths, n_classes)
        thr, fs = best_threshold(dets, truths, n_classes)
        val_s = time.perf_counter() - tv
        rec = {
            "epoch": epoch,
            "loss": float(np.mean(losses)),
            "val_map50": m50,
            "val_f_iou033": fs.f_score,
            "val_threshold": thr,
            "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1),
        }
        history.append(rec)
        if progress:
            progress({"epoch_done": True, **rec})
        # a validation side without ground truth has no mAP (nan): rank by F - 1 (< any mAP), never skip
        key = m50 if math.isfinite(m50) else fs.f_score - 1.0
        if key > best_map:
            best_map, best_epoch = key, epoch
            torch.save({"model": model.state_dict(), "epoch": epoch, "classes": list(classes), "config": asdict(cfg),
                        "val_threshold": thr, "val_map50": m50}, best)
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "epoch": epoch,
                "best_map50": best_map,
                "best_epoch": best_epoch,
                "history": history,
                "wall_s": time.perf_counter() - t0,
                "cpu_s": time.process_time() - c0,
                "classes": list(classes),
                "config": asdict(cfg),
            },
            last,
        )
        (out_dir / "history.json").write_text(json.dumps(history, indent=1))
        if epoch - best_epoch >= cfg.patience:
            break
        if budget_s and time.perf_counter() - t_session + val_s >= budget_s:
            break
    ck = torch.load(best, map_location="cpu", weights_only=False)
    model.load_state_dict(ck["model"])
    model.eval()
    # the threshold that maximised the validation F-score at the best epoch
    return TrainOutcome(model, best_epoch, best_map, float(ck["val_threshold"]), history, time.perf_counter() - t0, time.process_time() - c0)


def load_dataset_pairs(ds: Any) -> list[PairArrays]:
    return load_pairs(ds.samples, ds.classes)
