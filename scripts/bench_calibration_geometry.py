"""Benchmark `calibrate geometry` on a real wide-angle set, beside plain ``cv2.calibrateCamera``.

On the same detected views it prints, for our model choice (pinhole / rational / fisheye by
held-out reprojection error) and for plain ``cv2.calibrateCamera`` (default 5-coefficient model):
RMS reprojection error (camera px), held-out RMS (5-fold over views, camera px) and the
straightness of the board rows and columns after undistortion (RMS and max residual of each
undistorted line of corners from its fitted straight line, px).

Usage::

    .venv/bin/python scripts/bench_calibration_geometry.py [--data /work/shared/data/chessboard-gopro] [--inner 8x6]
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import cv2
import numpy as np

from goldenvision.calibration.lens import (
    BoardSpec,
    LensModel,
    _held_out_rms,
    calibrate_geometry,
    line_straightness_px,
)
from goldenvision.imageio import read_image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data/chessboard-gopro")
    ap.add_argument("--inner", default="8x6")
    ap.add_argument("--square-mm", type=float, default=25.0)
    args = ap.parse_args()
    paths = sorted(glob.glob(os.path.join(args.data, "*.jpg")))
    names = [os.path.basename(p) for p in paths]
    images = [read_image(p) for p in paths]
    board = BoardSpec("chessboard", tuple(int(v) for v in args.inner.split("x")), args.square_mm)
    t0 = time.perf_counter()
    cal = calibrate_geometry(images, board, names=names, plane_image=images[0], plane_name=names[0])
    t1 = time.perf_counter()
    print(f"data {args.data}: {len(paths)} images {cal.lens.image_size[0]}x{cal.lens.image_size[1]}, board {args.inner}")
    print(f"  used {len(cal.images_used)}, rejected {[(n, r) for n, r in cal.images_rejected]}")
    print(f"  held-out RMS per model (px): { {k: round(v, 3) for k, v in cal.held_out_rms_px.items()} }")
    print(f"ours   ({cal.model:8s}): rms {cal.rms_px:.3f} px, held-out {cal.held_out_rms_px[cal.model]:.3f} px, "
          f"straightness rms {cal.straightness_px:.3f} px max {cal.straightness_max_px:.3f} px, "
          f"mm/px at {names[0]} {cal.mm_per_px:.4f}; {t1 - t0:.1f} s")
    # plain cv2.calibrateCamera on the same views
    used = [names.index(n) for n in cal.images_used]
    dets = []
    from goldenvision.calibration.lens import detect_board

    for i in used:
        dets.append(detect_board(images[i], board))
    obj = [d[1].astype(np.float32) for d in dets]
    img = [d[0].astype(np.float32).reshape(-1, 1, 2) for d in dets]
    t0 = time.perf_counter()
    rms, k, dist, _r, _t = cv2.calibrateCamera(obj, img, cal.lens.image_size, None, None)
    t1 = time.perf_counter()
    plain = LensModel("pinhole", k, np.asarray(dist).ravel()[:5], cal.lens.image_size)
    st = np.concatenate([line_straightness_px(plain, d[0], d[2], board.inner_corners) for d in dets])
    raw = np.concatenate([line_straightness_px(None, d[0], d[2], board.inner_corners) for d in dets])
    held = _held_out_rms("pinhole", [d[0] for d in dets], [d[1] for d in dets], cal.lens.image_size, 5)
    print(f"plain cv2.calibrateCamera: rms {rms:.3f} px, held-out {held:.3f} px, straightness rms "
          f"{np.sqrt(np.mean(st ** 2)):.3f} px max {st.max():.3f} px; {t1 - t0:.1f} s")
    print(f"no undistortion: straightness rms {np.sqrt(np.mean(raw ** 2)):.3f} px max {raw.max():.3f} px")


if __name__ == "__main__":
    main()
