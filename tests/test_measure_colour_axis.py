"""A dimension between two materials of nearly one lightness (a red print on a blue weave) is
read on the colour axis between them, so a darker dye lot of the ground does not read as a
change of size; an edge that the grey shows well keeps the grey."""

from __future__ import annotations

import copy
import functools

import cv2
import numpy as np

import goldenvision as gv
from goldenvision.demo.scene import lab_to_linear_srgb

H, W = 240, 320
C, R = (160.0, 120.0), 60.0
SS = 8  # supersampling of the disc's edge
SCALE = 0.1
RED = (46.0, 60.0, 36.0)


def _srgb(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0, 1)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


@functools.cache
def _cover(radius: float) -> np.ndarray:
    """(H, W, 1) float32: the fraction of each px inside the disc of ``radius`` about C, drawn
    supersampled (the photo's cost: drawn once per radius, read-only, shared by its photos)."""
    yy, xx = np.mgrid[0:H * SS, 0:W * SS].astype(np.float32) / SS
    inside = (np.hypot(xx - C[0], yy - C[1]) < radius).astype(np.float32)
    cover = cv2.resize(inside, (W, H), interpolation=cv2.INTER_AREA)[..., None]
    cover.setflags(write=False)
    return cover


def photo(ground_lab: tuple[float, float, float], seed: int, disc_lab: tuple[float, float, float] = RED,
          radius: float = R) -> np.ndarray:
    """A disc of ``disc_lab`` on a woven panel of ``ground_lab`` (weave +-3 % in linear light,
    period 5 px) with a light ring round the disc, lying on a dark table, edges anti-aliased, noise 1.5 grey levels."""
    cover = _cover(float(radius))
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    weave = (1 + 0.03 * np.sin(2 * np.pi * x / 5) * np.sin(2 * np.pi * y / 5))[..., None]
    panel = np.zeros((H, W, 1), np.float32)
    panel[20:220, 30:290] = 1.0
    seams = np.zeros((H, W, 1), np.float32)
    rr = np.hypot(x - C[0], y - C[1])[..., None]
    seams[(rr > R + 12) & (rr < R + 22)] = 1.0  # a light ring stitched round the print
    ground = panel * lab_to_linear_srgb(ground_lab) * weave + (1 - panel) * lab_to_linear_srgb((20.0, 0.0, 0.0))
    ground = seams * lab_to_linear_srgb((92.0, 0.0, 2.0)) + (1 - seams) * ground
    lin = cover * lab_to_linear_srgb(disc_lab) + (1 - cover) * ground
    rgb = _srgb(lin) * 255 + np.random.default_rng(seed).normal(0, 1.5, (H, W, 3))
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def spec(name: str = "print_diameter") -> dict:
    return {"product": "print", "scale_mm_per_px": SCALE, "registration": "none",
            "dimensions": [{"name": name, "measure": "diameter", "nominal_mm": 2 * R * SCALE,
                            "tolerance_mm": [-0.3, 0.3],
                            "circle": {"center": list(C), "radius_px": R, "search_px": 8.0}}]}


def _error(inspector: gv.Inspector, img: np.ndarray) -> float:
    d = inspector.inspect(img).dimensions[0]
    return d.measured_mm - 2 * R * SCALE


def test_a_print_on_a_ground_of_its_lightness_is_read_on_the_colour_axis():
    blue = (55.0, -8.0, -30.0)
    golden = gv.seal([photo(blue, s) for s in range(3)], spec())
    # the same package, sealed from the same captures (sealing is deterministic: a copy, not a second seal)
    old = copy.deepcopy(golden)
    w = golden.meta["dimension_gray_weights"]
    assert set(w) == {"print_diameter"}
    assert abs(sum(abs(v) for v in w["print_diameter"]) - 1) < 1e-6
    # a darker dye lot of the ground (5 L*): nearly the print's lightness
    insp = gv.Inspector(golden)
    res = insp.inspect(photo(blue, 9))
    assert res.provenance["dimensions_on_colour_axis"] == ["print_diameter"]
    darker = [photo((50.0, -8.0, -30.0), s) for s in range(10, 14)]
    errs = [_error(insp, img) for img in darker]
    assert max(abs(e) for e in errs) < 0.02, errs
    # the same package read on the grey (as sealed before the colour axis): the edge's contrast
    # all but gone, the reading scatters ten times as much (0.003 mm here, 0.17 mm on the zoo's weave)
    old.meta["dimension_gray_weights"] = {}
    assert old.meta["dimension_gray_weights"] != golden.meta["dimension_gray_weights"]  # the copy's own meta
    insp_old = gv.Inspector(old)
    errs_old = [_error(insp_old, img) for img in darker]
    assert max(abs(e) for e in errs_old) > 2 * max(abs(e) for e in errs), (errs_old, errs)


def test_a_dark_disc_on_a_light_ground_keeps_the_grey():
    golden = gv.seal([photo((80.0, 0.0, 5.0), s, disc_lab=(30.0, 0.0, 0.0)) for s in range(3)], spec())
    assert golden.meta["dimension_gray_weights"] == {}
    e = _error(gv.Inspector(golden), photo((80.0, 0.0, 5.0), 20, disc_lab=(30.0, 0.0, 0.0), radius=R + 2))
    assert abs(e - 0.4) < 0.02, e
