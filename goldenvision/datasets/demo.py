"""The demo generator's labelled defects as a gv dataset (issue 17: the demo trains a model the demo uses).

:func:`demo_dataset` renders a demo lot (:func:`goldenvision.demo.generate_lot`) and turns its
ground truth into training samples **in golden px**, the frame in which the pipeline holds a
registered unit beside the golden reference:

* each unit photo is warped into golden px through its *true* mapping (``unit_to_golden_px``
  after the station's rectification ``mm_to_px @ inv(camera_homography)``; hand-held photos
  map camera px straight to golden px), bilinear, zero outside the photo;
* the template is ``golden_00`` mapped the same way: the golden reference (``golden_00``
  defines golden px; a golden sealed from the lot has it as its reference, up to the
  fiducials' rectification error);
* each truth defect (``bbox`` in golden px) becomes one annotation with its ``type`` as the
  class and the severity of its anomaly zone in the lot's spec; units with a colour or
  dimension fault and good units have no box (negative samples).

Classes are the family's defect kinds, in a fixed order (the wallet: scratch, skipped_stitch,
stain, missing_print).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from ..errors import OutputExistsError, SpecError
from ..imageio import read_image
from .core import Dataset, Sample, make_annotation, sample_where
from .gv import DATASET_FILE, load_gv, save_dataset

__all__ = ["demo_dataset", "demo_classes"]


def demo_classes(family: str = "wallet") -> tuple[str, ...]:
    """Defect classes of a demo family, in dataset order."""
    from ..demo import FAMILY_NAMES
    from ..demo.scene import _DEFECT_ZONE

    if family == "wallet":
        return tuple(_DEFECT_ZONE)
    if family not in FAMILY_NAMES:
        raise SpecError(f"demo family: expected one of {list(FAMILY_NAMES)}, got {family!r}")
    from ..demo.zoo import FAMILIES

    return tuple(FAMILIES[family].defect_zone)


def _photo_to_golden(truth: dict[str, Any], scale_mm_per_px: float, mode: str) -> np.ndarray:
    """3x3 homography: the photo's camera px -> golden px (from the generator's truth)."""
    u2g = np.asarray(truth["unit_to_golden_px"], np.float64)
    if mode == "handheld":
        return u2g
    s = float(scale_mm_per_px)
    mm_to_px = np.array([[1 / s, 0, -0.5], [0, 1 / s, -0.5], [0, 0, 1.0]])
    h = u2g @ mm_to_px @ np.linalg.inv(np.asarray(truth["camera_homography"], np.float64))
    return h / h[2, 2]


def _write_png(path: Path, rgb: np.ndarray) -> Path:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover
        raise OSError(f"{path}: PNG encoding failed")
    path.write_bytes(buf.tobytes())
    return path


def _zone_severity(spec_path: Path) -> dict[str, str | None]:
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8")) or {}
    return {z["name"]: z.get("severity") for z in spec.get("anomaly_zones") or [] if isinstance(z, dict)}


def demo_dataset(out_dir: "str | Path", *, n_units: int = 40, seed: int = 0, size: float = 0.5, family: str = "wallet",
                 mode: str = "station", n_golden: int = 1, force: bool = False) -> Dataset:
    """Render a demo lot and write its labelled defects as a gv dataset in ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Gets ``dataset.json``, ``images/`` (units and the reference in golden px, PNG) and
        ``source/`` (the rendered lot with its truth, as :func:`goldenvision.demo.generate_lot`
        writes it: spec, golden captures, unit photos).
    n_units, seed, size, family, mode, n_golden : keyword-only
        As :func:`goldenvision.demo.generate_lot` (``size`` 0.5 = 800 x 600 px photos).
    force : bool, keyword-only
        Replace an existing ``dataset.json``.

    Returns
    -------
    Dataset
        Read back from ``out_dir`` (validated), ``source_format`` ``"gv"``.
    """
    from ..demo import generate_lot

    out = Path(out_dir).expanduser()
    if (out / DATASET_FILE).exists() and not force:
        raise OutputExistsError(f"{out / DATASET_FILE} exists; pass force=True (--force) to replace it")
    classes = demo_classes(family)
    lot = generate_lot(out / "source", seed=seed, n_golden=n_golden, n_units=n_units, size=size, family=family, mode=mode)
    t = lot.truth
    lot_mode = str(t.get("mode", "station"))
    scale = float(t["scale_mm_per_px"]) if lot_mode == "station" else 1.0
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    severity = _zone_severity(lot.spec_path)

    g0_truth = t["golden_captures"][0]
    g0_rgb = read_image(lot.golden_paths[0])
    if lot_mode == "station":
        from ..demo import demo_profile

        frame_wh = demo_profile(size).frame_px
    else:
        frame_wh = (g0_rgb.shape[1], g0_rgb.shape[0])

    def to_golden(rgb: np.ndarray, truth: dict[str, Any]) -> np.ndarray:
        return cv2.warpPerspective(rgb, _photo_to_golden(truth, scale, lot_mode), frame_wh, flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))

    template = _write_png(images / f"seed{seed}_golden_00.png", to_golden(g0_rgb, g0_truth)).resolve()
    w, h = frame_wh
    samples = []
    truth_file = lot.truth_path
    for k, (path, ut) in enumerate(zip(lot.unit_paths, t["units"])):
        rgb = read_image(path)
        img = _write_png(images / f"seed{seed}_{path.stem}.png", to_golden(rgb, ut)).resolve()
        anns = []
        for j, d in enumerate(ut.get("defects") or []):
            if d["type"] not in classes:
                raise SpecError(f"{truth_file}: units[{k}].defects[{j}]: defect type {d['type']!r} is not a class of "
                                f"{family} {list(classes)}")
            anns.append(make_annotation(d["bbox"], d["type"], width=w, height=h, severity=severity.get(d.get("zone")),
                                        source=sample_where(truth_file, None, f"units[{k}].defects[{j}]")))
        samples.append(Sample(img, template, tuple(anns), w, h, sample_where(truth_file, None, f"units[{k}]"),
                              group=f"{family}-{lot_mode}-seed{seed}"))
    ds = Dataset(classes, tuple(samples), "gv", out.resolve())
    save_dataset(ds, out, copy_images=True, force=force)
    (out / "source" / "dataset-provenance.json").write_text(json.dumps({
        "generator": "goldenvision.datasets.demo_dataset", "family": family, "mode": lot_mode, "seed": int(seed),
        "size": float(size), "n_units": int(n_units), "frame": "golden px", "golden_frame_wh": list(frame_wh),
    }, indent=1) + "\n", encoding="utf-8")
    from .core import validate

    return validate(load_gv(out.resolve()))
