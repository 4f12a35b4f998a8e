"""A board whose routed round-over is shaded, lying on a table of its own lightness: the grey
shows the round-over's inner border far better than the outline, and reads the board narrow by
the round-over on both sides. Its width is where the wood ends and the table begins, which the
two materials' (Fisher's) colour axis reads; a board on a dark table, whose outline the grey
reads as well, keeps the grey."""

from __future__ import annotations

import functools

import cv2
import numpy as np

import goldenvision as gv
from goldenvision.demo.scene import lab_to_linear_srgb
from goldenvision.measure.colour_axis import AGREE_PX

H, W = 240, 320
SS = 8  # supersampling of the edges
SCALE = 0.1  # mm per px
X0, X1 = 60.0, 260.0  # the board's outline, px: 20 mm
Y0, Y1 = 50.0, 190.0
BEVEL = 6.0  # the round-over seen from above, px (0.6 mm)
OAK = (57.0, 8.0, 26.0)


def _srgb(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0, 1)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


@functools.cache
def _outline(grow_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The board's anti-aliased cover and its round-over's shade (both (H, W, 1) float32) with its
    outline ``grow_px`` beyond X0/X1: drawn supersampled, the photo's cost, so drawn once per
    outline (read-only; every photo of that board shares them)."""
    yy, xx = np.mgrid[0:H * SS, 0:W * SS].astype(np.float32) / SS
    x0, x1 = X0 - grow_px, X1 + grow_px
    inside = ((xx >= x0) & (xx < x1) & (yy >= Y0) & (yy < Y1)).astype(np.float32)
    left = inside * (xx < x0 + BEVEL)
    right = inside * (xx >= x1 - BEVEL)
    shade = 1.0 + 0.30 * left - 0.35 * right
    down = lambda a: cv2.resize(a, (W, H), interpolation=cv2.INTER_AREA)[..., None]  # noqa: E731
    cover, shade = down(inside), down(shade * inside) / np.maximum(down(inside), 1e-6)
    cover.setflags(write=False)
    shade.setflags(write=False)
    return cover, shade


def photo(seed: int, grow_px: float = 0.0, table=(54.0, 1.0, 4.0)) -> np.ndarray:
    """The board (its outline ``grow_px`` beyond X0/X1 on each side) with its round-over lit from
    the left (+30 % in linear light on the left, -35 % on the right, 0 % at the top and bottom),
    grain streaks along it (+-8 %), on a ``table`` mottled in lightness (+-40 %, the
    photo's largest variation is the lightness, so registration works on the luminance); edges anti-aliased, noise 1.5 grey levels."""
    cover, shade = _outline(float(grow_px))
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    grain = (1 + 0.08 * np.sin(2 * np.pi * y / 9.0 + seed))[..., None]
    board = lab_to_linear_srgb(OAK) * grain * np.where(cover > 0, shade, 1.0)
    mottle = (1 + 0.4 * np.sin(2 * np.pi * x / 37.0) * np.cos(2 * np.pi * y / 29.0))[..., None]
    lin = cover * board + (1 - cover) * lab_to_linear_srgb(table) * mottle
    rgb = _srgb(lin) * 255 + np.random.default_rng(seed).normal(0, 1.5, (H, W, 3))
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def spec() -> dict:
    return {"product": "board", "scale_mm_per_px": SCALE, "registration": "none",
            "dimensions": [{"name": "board_width", "measure": "width", "nominal_mm": (X1 - X0) * SCALE,
                            "tolerance_mm": [-0.3, 0.3],
                            "caliper": {"center": [(X0 + X1) / 2, (Y0 + Y1) / 2], "angle_deg": 0.0,
                                        "length_px": 280.0, "width_px": 20.0}}]}


def test_a_shaded_round_over_on_a_table_of_its_lightness_is_read_at_the_outline():
    golden = gv.seal([photo(s) for s in range(3)], spec())
    assert set(golden.meta["dimension_gray_weights"]) == {"board_width"}
    read = golden.meta["golden_dimensions_mm"]["board_width"]["mean"]
    assert abs(read - 20.0) < 0.03, read
    ins = gv.Inspector(golden)
    for seed, grow in ((11, 0.0), (12, 2.0), (13, -1.5)):  # 20.0, 20.4 and 19.7 mm boards
        d = ins.inspect(photo(seed, grow)).dimensions[0]
        assert abs(d.measured_mm - (20.0 + 2 * grow * SCALE)) < 0.03, (grow, d.measured_mm)
    # read on the grey (a package sealed before the materials' axis), the golden itself is narrow
    # by about the round-over on each side (sealing the same captures again gives the same spec's
    # calipers, all that is read here: the package's own are taken)
    from goldenvision.measure.dimensions import measure_dimensions
    from goldenvision.results import RegistrationResult
    ident = RegistrationResult(homography=np.eye(3), ok=True, rms_px=0.0, inliers=0, confidence=1.0, method="none")
    on_grey = measure_dimensions(cv2.cvtColor(photo(0), cv2.COLOR_RGB2GRAY), golden.spec.dimensions, ident, SCALE)[0]
    assert on_grey.measured_mm < 20.0 - 2 * AGREE_PX * SCALE, on_grey.measured_mm


def test_a_board_on_a_dark_table_keeps_the_grey():
    golden = gv.seal([photo(s, table=(22.0, 1.0, 3.0)) for s in range(3)], spec())
    assert golden.meta["dimension_gray_weights"] == {}
    d = gv.Inspector(golden).inspect(photo(21, 2.0, table=(22.0, 1.0, 3.0))).dimensions[0]
    assert abs(d.measured_mm - 20.4) < 0.03, d.measured_mm
