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

__all__ = ["demo_dataset", "demo_classes", "demo_defect_dataset", "ZOO_DEFECT_FAMILIES"]

ZOO_DEFECT_FAMILIES = ("label", "part", "apparel", "hardware", "jewellery")


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


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> Path:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover
        raise OSError(f"{path}: JPEG encoding failed")
    path.write_bytes(buf.tobytes())
    return path


def demo_defect_dataset(out_dir: "str | Path", *, families: "tuple[str, ...] | list[str]" = ZOO_DEFECT_FAMILIES,
                        per_class: int = 200, n_seeds: int = 5, size: float = 0.3, good_fraction: float = 0.15,
                        jpeg_quality: int = 90, force: bool = False) -> Dataset:
    """A defect-rich labelled set from the demo zoo's generators (every family, every defect kind).

    A demo lot has about 40 % faulty units, one fault each, part of them colour or dimension
    faults without a box: too few boxes to train on. Here each zoo family's units are drawn
    with a chosen defect kind (:func:`goldenvision.demo.zoo.lot.make_zoo_unit`, the lot's own
    unit model) so every class gets ``per_class`` instances, plus ``good_fraction`` good units as
    negatives. Units are spread over ``n_seeds`` lots (seed 0 .. n_seeds-1) per family; each
    sample's :attr:`Sample.group` is ``"<family>-seed<k>"``, so ``split(by_group=True)`` holds
    out whole lots (other units, textures, colours, poses) of every family.

    Images are station photos warped into golden px (as :func:`demo_dataset`), stored as JPEG
    (``jpeg_quality``) to stay small; the template is each lot's ``golden_00`` in golden px. The
    boxes are the generator's truth (``zoo_truth``), the class its defect ``type``. Classes are
    ``"<kind>"``, in family order (a kind shared by two families is one class).
    """
    from ..demo import demo_profile
    from ..demo.zoo import FAMILIES
    from ..demo.zoo.camera import photograph_unit, product_texture
    from ..demo.zoo.lot import make_zoo_unit, zoo_golden_capture, zoo_truth

    out = Path(out_dir).expanduser()
    if (out / DATASET_FILE).exists() and not force:
        raise OutputExistsError(f"{out / DATASET_FILE} exists; pass force=True (--force) to replace it")
    if not families:
        raise SpecError("demo_defect_dataset: no families")
    for f in families:
        if f not in FAMILIES:
            raise SpecError(f"demo_defect_dataset family: expected some of {sorted(FAMILIES)}, got {f!r}")
    if int(per_class) < 1 or int(n_seeds) < 1 or not (0.0 <= float(good_fraction) < 1.0):
        raise SpecError(f"demo_defect_dataset: expected per_class >= 1, n_seeds >= 1, 0 <= good_fraction < 1; got "
                        f"{per_class}, {n_seeds}, {good_fraction}")
    classes: list[str] = []
    for f in families:
        classes += [k for k in FAMILIES[f].defect_zone if k not in classes]
    prof = demo_profile(size)
    scale, frame_wh = float(prof.scale_mm_per_px), prof.frame_px
    w, h = frame_wh
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    truth_dir = out / "source"
    truth_dir.mkdir(parents=True, exist_ok=True)

    def to_golden(rgb: np.ndarray, truth: dict[str, Any]) -> np.ndarray:
        return cv2.warpPerspective(rgb, _photo_to_golden(truth, scale, "station"), frame_wh, flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))

    samples: list[Sample] = []
    for f in families:
        fam = FAMILIES[f]
        kinds = list(fam.defect_zone)
        n_bad = int(per_class) * len(kinds)
        n_units = n_bad + int(round(n_bad * float(good_fraction) / (1.0 - float(good_fraction))))
        per_seed = -(-n_units // int(n_seeds))
        faults = [kinds[k % len(kinds)] for k in range(n_bad)] + ["none"] * (n_units - n_bad)
        faults = [faults[int(k)] for k in np.random.default_rng([8128, len(samples), n_units]).permutation(n_units)]
        for seed in range(int(n_seeds)):
            g0 = zoo_golden_capture(fam, 0, seed, "station")
            gtex = product_texture(fam, g0, size)
            template = _write_jpeg(images / f"{f}_s{seed}_golden.jpg",
                                   to_golden(photograph_unit(fam, g0, size, gtex), zoo_truth(fam, g0, seed, size)),
                                   jpeg_quality).resolve()
            truths: list[dict[str, Any]] = []
            truth_file = truth_dir / f"{f}_s{seed}.json"
            for i in range(per_seed):
                k = seed * per_seed + i
                if k >= n_units:
                    break
                fault = faults[k]  # every kind per_class times, good units mixed in, fixed order
                unit = make_zoo_unit(fam, 1000 + i, fault, seed, "station")
                ut = zoo_truth(fam, unit, seed, size)
                img = _write_jpeg(images / f"{f}_s{seed}_{i:04d}.jpg", to_golden(photograph_unit(fam, unit, size), ut),
                                  jpeg_quality).resolve()
                anns = []
                for j, d in enumerate(ut.get("defects") or []):
                    anns.append(make_annotation(d["bbox"], d["type"], width=w, height=h,
                                                source=sample_where(truth_file, None, f"units[{len(truths)}].defects[{j}]")))
                samples.append(Sample(img, template, tuple(anns), w, h,
                                      sample_where(truth_file, None, f"units[{len(truths)}]"), group=f"{f}-seed{seed}"))
                truths.append({"image": img.name, "fault": fault, "defects": ut.get("defects") or []})
            truth_file.write_text(json.dumps({"family": f, "seed": seed, "size": size, "units": truths}, default=float)
                                  + "\n", encoding="utf-8")
    ds = Dataset(tuple(classes), tuple(samples), "gv", out.resolve())
    save_dataset(ds, out, copy_images=False, force=force)
    (out / "source" / "dataset-provenance.json").write_text(json.dumps({
        "generator": "goldenvision.datasets.demo_defect_dataset", "families": list(families), "per_class": int(per_class),
        "n_seeds": int(n_seeds), "size": float(size), "good_fraction": float(good_fraction),
        "jpeg_quality": int(jpeg_quality), "frame": "golden px", "golden_frame_wh": list(frame_wh),
    }, indent=1) + "\n", encoding="utf-8")
    from .core import validate

    return validate(load_gv(out.resolve()))
