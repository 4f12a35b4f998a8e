"""A small synthetic part for tests that need a golden and photos fast (not the demo lot)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

SPEC = {
    "product": "tiny-part", "revision": "A", "scale_mm_per_px": 0.1, "registration": "auto",
    "anomaly_zones": [{"name": "all", "region": "full", "defect_type": "other", "severity": "major"}],
}


def product(seed: int, shift=(0.0, 0.0), *, layout: int = 1, noise: float = 2.0) -> np.ndarray:
    """A 400x300 RGB part of random blocks and discs (layout fixes the part, seed the photo noise)."""
    r = np.random.default_rng(layout)
    img = np.full((300, 400, 3), 200, np.uint8)
    for _ in range(25):
        x, y = int(r.integers(20, 380)), int(r.integers(20, 280))
        c = tuple(int(v) for v in r.integers(0, 180, 3))
        if r.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + int(r.integers(8, 40)), y + int(r.integers(8, 40))), c, -1)
        else:
            cv2.circle(img, (x, y), int(r.integers(5, 20)), c, -1)
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    img = cv2.warpAffine(img, m, (400, 300), borderValue=(200, 200, 200))
    noisy = img + np.random.default_rng(seed).normal(0, noise, img.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def defective(seed: int, at=(200, 150)) -> np.ndarray:
    """A unit with a dark 12 px stain at ``at`` (golden px)."""
    img = product(seed)
    cv2.circle(img, at, 12, (0, 0, 0), -1)
    return img


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", rgb[..., ::-1])
    assert ok
    return buf.tobytes()


def drop(folder: Path, name: str, data: bytes) -> Path:
    """Write like camera software does: a temporary name, then an atomic rename."""
    tmp = folder / f".{name}.part"
    tmp.write_bytes(data)
    os.rename(tmp, folder / name)
    return folder / name


def seal_tiny(out: Path) -> Path:
    """Seal the tiny part's golden from three captures; returns the package path."""
    import goldenvision as gv

    g = gv.seal([product(0), product(1, (2, 1)), product(2, (-1, 2))], SPEC)
    g.save(out)
    return out


#: The tiny part with a coloured panel (a colour zone with its target) for PPS and colour tests.
PANEL_RGB = (150, 60, 40)
PANEL_BOX = (30, 205, 150, 265)  # x1, y1, x2, y2 px


def panel_lab(rgb=PANEL_RGB) -> list[float]:
    """CIELAB D65 of an sRGB colour (colour-science)."""
    import colour

    xyz = colour.sRGB_to_XYZ(np.asarray(rgb, float) / 255.0)
    return [float(v) for v in colour.XYZ_to_Lab(xyz, colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])]


def spec_with_panel() -> dict:
    x1, y1, x2, y2 = PANEL_BOX
    return {**SPEC, "product": "tiny-panel",
            "colors": [{"name": "panel", "region": [[x1 + 6, y1 + 6], [x2 - 6, y1 + 6], [x2 - 6, y2 - 6], [x1 + 6, y2 - 6]],
                        "target": {"lab": panel_lab()}, "tolerance_de00": 1.5, "severity": "major"}]}


def with_panel(img: np.ndarray, rgb=PANEL_RGB) -> np.ndarray:
    out = img.copy()
    x1, y1, x2, y2 = PANEL_BOX
    cv2.rectangle(out, (x1, y1), (x2, y2), tuple(int(v) for v in rgb), -1)
    return out


def panel_photo(seed: int, rgb=PANEL_RGB, shift=(1.0, -1.0)) -> np.ndarray:
    """The tiny part with its panel (drawn before the photo's noise and shift)."""
    base = with_panel(product(0, noise=0.0), rgb)
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    img = cv2.warpAffine(base, m, (400, 300), borderValue=(200, 200, 200))
    noisy = img + np.random.default_rng(seed).normal(0, 2.0, img.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def shoot(img: np.ndarray, rng: np.random.Generator, *, noise: float = 1.5) -> np.ndarray:
    """A photo of ``img``: Gaussian sensor noise of ``noise`` grey levels, rounded to uint8."""
    out = img.astype(np.float32) + rng.normal(0, noise, img.shape)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
