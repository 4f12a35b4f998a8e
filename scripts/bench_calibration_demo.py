"""A demo dimension measured through a fitted station profile, against the known truth.

The demo station's camera is given a lens: the demo render (an ideal pinhole photo, camera
K below, 7.8 px/mm on the platen) is resampled through OpenCV's distortion model with
``--dist``. Chessboard views (9 x 6 inner corners, 20 mm squares, tilted poses) and one board
lying flat on the platen are rendered through the same camera. ``calibrate_geometry`` fits
the lens (model chosen on held-out views) and the product-plane scale; the profile is saved,
loaded as ``--station`` would load it, and applied to the distorted unit photo. Then the demo
panel's width (truth 110 mm) is measured edge to edge (mid-level crossings, in linear light,
of profiles across the panel's left and right edges; median over 9 rows) in:

* the ideal render at the true scale (the measuring method's own floor);
* the distorted photo through the fitted profile (undistorted, profile mm per px);
* the distorted photo without a lens model (board-plane scale only: what no calibration gives).

Usage::

    .venv/bin/python scripts/bench_calibration_demo.py [--dist -0.12 0.04 0 0 0] [--units 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from goldenvision import demo
from goldenvision.calibration.applied import load_station_calibration
from goldenvision.calibration.color import srgb_decode
from goldenvision.calibration.fitted import CalibrationProfile
from goldenvision.calibration.lens import BoardSpec, calibrate_geometry, detect_board, mm_per_px_from_board
from goldenvision.demo.lot import _make_unit

W, H = 1600, 1200
PX_PER_MM = 7.8  # the demo camera on the platen (golden_params' camera_homography)
FX = PX_PER_MM * 200.0  # the platen 200 mm from the camera
K = np.array([[FX, 0, 800.0], [0, FX, 600.0], [0, 0, 1]])
SQUARE_MM = 20.0
INNER = (9, 6)
CRIT = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10)
POSES = [((0.25, -0.2, 0.05), (-90, -60, 300)), ((-0.3, 0.25, -0.1), (-110, -70, 320)), ((0.1, 0.4, 0.0), (-100, -40, 330)),
         ((-0.35, -0.3, 0.2), (-60, -50, 310)), ((0.0, 0.0, 0.1), (-95, -65, 280)), ((0.4, 0.1, -0.2), (-120, -55, 350)),
         ((-0.15, 0.35, 0.3), (-70, -85, 300)), ((0.3, 0.3, 0.0), (-105, -45, 320)), ((0.2, -0.35, -0.1), (-20, -10, 340)),
         ((-0.25, 0.2, 0.15), (-160, -110, 330))]


def _ideal_of_distorted(dist: np.ndarray) -> np.ndarray:
    """For every pixel of the distorted photo, where it falls in the ideal (pinhole K) photo: (H, W, 2)."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    pts = np.stack([xs.ravel(), ys.ravel()], 1).reshape(-1, 1, 2)
    return cv2.undistortPoints(pts, K, dist, P=K, criteria=CRIT).reshape(H, W, 2)


def _board_texture(ppm: float = 8.0) -> np.ndarray:
    cols, rows = INNER[0] + 1, INNER[1] + 1
    s = int(SQUARE_MM * ppm)
    img = np.full(((rows + 2) * s, (cols + 2) * s), 235, np.uint8)
    for r in range(rows):
        for c in range(cols):
            if (r + c) % 2 == 0:
                img[(r + 1) * s:(r + 2) * s, (c + 1) * s:(c + 2) * s] = 20
    return img


def _render_board(ideal: np.ndarray, board_to_ideal: np.ndarray) -> np.ndarray:
    """The board (mm origin at its first inner corner) seen through the distorting camera."""
    tex, ppm = _board_texture(), 8.0
    inv = np.linalg.inv(board_to_ideal)
    p = ideal.reshape(-1, 2)
    b = np.column_stack([p, np.ones(len(p))]) @ inv.T
    bmm = b[:, :2] / b[:, 2:3]
    off = 2 * SQUARE_MM
    mx = ((bmm[:, 0] + off) * ppm - 0.5).reshape(H, W).astype(np.float32)
    my = ((bmm[:, 1] + off) * ppm - 0.5).reshape(H, W).astype(np.float32)
    g = cv2.remap(tex, mx, my, cv2.INTER_AREA, borderValue=128)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2RGB)


def _pose_h(rvec, tvec) -> np.ndarray:
    r, _ = cv2.Rodrigues(np.asarray(rvec, np.float64))
    return K @ np.column_stack([r[:, 0], r[:, 1], np.asarray(tvec, np.float64)])


ROWS_MM = np.linspace(-16, 16, 9)


def _panel_width_px(img: np.ndarray, product_to_px, rows_mm: np.ndarray = ROWS_MM) -> float:
    """Median over rows of the distance (px) between the panel's left and right edges.

    Each edge is where a profile across it (linear light, 0.01 mm steps, +-2 mm) crosses the
    midpoint of its two plateaus (medians of the outer 0.6 mm at each end): a symmetric blur
    does not move it.
    """
    lin = (srgb_decode(img / 255.0) @ np.array([0.2126, 0.7152, 0.0722])).astype(np.float32)
    widths = []
    for y in rows_mm:
        ends = []
        for x0 in (-55.0, 55.0):
            xs = np.arange(x0 - 2, x0 + 2, 0.01)  # the outer edge only (a seam runs inside)
            pts = product_to_px(np.column_stack([xs, np.full_like(xs, y)]))
            prof = cv2.remap(lin, pts[:, 0].astype(np.float32).reshape(1, -1), pts[:, 1].astype(np.float32).reshape(1, -1),
                             cv2.INTER_LINEAR).ravel().astype(np.float64)
            mid = 0.5 * (np.median(prof[:60]) + np.median(prof[-60:]))
            s = np.sign(prof - mid)
            cross = np.flatnonzero(s[:-1] * s[1:] <= 0)
            i = int(cross[np.argmin(np.abs(cross - len(prof) / 2))])
            f = (mid - prof[i]) / (prof[i + 1] - prof[i]) if prof[i + 1] != prof[i] else 0.0
            ends.append(pts[i] + f * (pts[i + 1] - pts[i]))
        widths.append(float(np.linalg.norm(ends[1] - ends[0])))
    return float(np.median(widths))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dist", type=float, nargs=5, default=[-0.12, 0.04, 0.0, 0.0, 0.0], help="k1 k2 p1 p2 k3 of the lens")
    ap.add_argument("--units", type=int, default=3, help="demo units measured (random poses)")
    a = ap.parse_args()
    dist = np.asarray(a.dist, np.float64)
    t0 = time.perf_counter()
    ideal = _ideal_of_distorted(dist)
    mx, my = ideal[..., 0].astype(np.float32), ideal[..., 1].astype(np.float32)
    views = [_render_board(ideal, _pose_h(r, t)) for r, t in POSES]
    platen_h = np.array([[PX_PER_MM, 0, 19.5], [0, PX_PER_MM, 14.5], [0, 0, 1]])  # platen mm -> ideal px
    board_on_platen = platen_h @ np.array([[1, 0, 40.0], [0, 1, 30.0], [0, 0, 1]])
    plane = _render_board(ideal, board_on_platen)
    board = BoardSpec("chessboard", INNER, SQUARE_MM)
    geo = calibrate_geometry(views, board, plane_image=plane)
    print(f"lens fit: model {geo.lens.model}, rms {geo.rms_px:.3f} px, straightness {geo.straightness_px:.3f} px, "
          f"held-out {({k: round(v, 3) for k, v in geo.held_out_rms_px.items()})}, "
          f"{len(geo.images_used)} views used, {len(geo.images_rejected)} rejected")
    print(f"mm_per_px fitted {geo.mm_per_px:.6f}  truth {1 / PX_PER_MM:.6f}  "
          f"(error {100 * (geo.mm_per_px * PX_PER_MM - 1):+.3f} %)")
    det = detect_board(plane, board)
    assert det is not None
    plain_scale = float(np.mean(mm_per_px_from_board(None, det[0], det[1])))
    with tempfile.TemporaryDirectory() as d:
        path = CalibrationProfile(image_size=(W, H), lens=geo.lens, mm_per_px=geo.mm_per_px).save(Path(d) / "station.json")
        cal = load_station_calibration(path)
    print(f"profile {cal.name} sha256 {cal.sha256[:12]}...  (fit and render {time.perf_counter() - t0:.1f} s)")
    print(f"{'unit':>4} {'ideal+true scale':>17} {'fitted profile':>15} {'no lens model':>14}   (panel width, truth 110 mm)")
    errs: dict[str, list[float]] = {"ideal": [], "fitted": [], "none": []}
    for u in range(a.units):
        gp = demo.golden_params()
        # good units: the demo's placements on the platen and panel widths; the station camera is
        # fixed (the golden's) and the panel flat, so that the truth is the panel's width
        params = gp if u == 0 else replace(_make_unit(u, "good", 0), camera_jitter=gp.camera_jitter, bend=(0.0, 0.0, 0.0))
        rgb, truth = demo.render_unit(params)
        hmat = np.array(truth["camera_homography"]) @ np.array(truth["product_pose"])

        def to_px(p: np.ndarray, hmat: np.ndarray = hmat) -> np.ndarray:
            return cv2.perspectiveTransform(np.asarray(p, np.float64).reshape(-1, 1, 2), hmat).reshape(-1, 2)

        distorted = cv2.remap(rgb, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fixed = cal.apply(distorted)
        true_w = float(truth["dimensions"]["panel_width"])
        w_ideal = _panel_width_px(rgb, to_px) / PX_PER_MM
        w_fit = _panel_width_px(fixed, to_px) * float(cal.mm_per_px or np.nan)
        w_none = _panel_width_px(distorted, to_px) * plain_scale
        for k, v in (("ideal", w_ideal), ("fitted", w_fit), ("none", w_none)):
            errs[k].append(v - true_w)
        print(f"{u:>4} {w_ideal:17.3f} {w_fit:15.3f} {w_none:14.3f}   truth {true_w:.3f}")
    for k, label in (("ideal", "ideal render, true scale"), ("fitted", "through the fitted profile"),
                     ("none", "no lens model (board scale)")):
        e = np.asarray(errs[k])
        print(f"{label:32s} mean error {e.mean():+.4f} mm, max |error| {np.abs(e).max():.4f} mm")


if __name__ == "__main__":
    main()
