"""`goldenvision calibrate geometry` and `goldenvision calibrate color`: fit a calibration profile from photos.

Thin layer: parse, call :mod:`goldenvision.calibration`, print JSON, write the profile.
Exit codes: 0 done; 65 (EX_DATAERR) the photos do not allow a calibration (CalibrationError,
ImageError); 66 (EX_NOINPUT) a missing input file; 73 (EX_CANTCREAT) the profile exists and
neither ``--force`` nor ``--update`` was given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import typer

from .errors import CalibrationError, GoldenVisionError

__all__ = ["register_commands", "EX_DATAERR", "EX_NOINPUT", "EX_CANTCREAT"]

EX_DATAERR = 65
EX_NOINPUT = 66
EX_CANTCREAT = 73


def _fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _pair(text: str, what: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.lower().replace("*", "x").split("x"))
    except ValueError:
        raise CalibrationError(f"{what}: expected COLSxROWS such as 9x6, got {text!r}") from None
    return a, b


def _existing(out: Path, force: bool, update: bool):  # -> CalibrationProfile | None
    from .calibration.fitted import load_calibration

    if out.exists():
        if update:
            return load_calibration(out)
        if not force:
            _fail(f"{out} exists; pass --force to replace it or --update to add to it", EX_CANTCREAT)
    return None


def _check_inputs(paths: list[Path]) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        _fail(f"input image(s) not found: {', '.join(missing)}", EX_NOINPUT)


def register_commands(calibrate_app: typer.Typer) -> None:
    """Add ``geometry`` and ``color`` to the ``calibrate`` sub-app."""

    @calibrate_app.command("geometry")
    def calibrate_geometry_cmd(
        images: list[Path] = typer.Argument(..., help="Board photos (10-40 views, tilted, all over the field)."),
        out: Path = typer.Option(..., "--out", "-o", help="Calibration profile to write (JSON)."),
        board: str = typer.Option("chessboard", "--board", help="chessboard | charuco"),
        inner_corners: str = typer.Option("9x6", "--inner-corners", help="Inner corners, columns x rows."),
        square_mm: float = typer.Option(25.0, "--square-mm", help="Square side, mm."),
        marker_mm: float = typer.Option(0.0, "--marker-mm", help="ChArUco: marker side, mm."),
        dictionary: str = typer.Option("DICT_5X5_100", "--dictionary", help="ChArUco: cv2.aruco dictionary."),
        board_file: Path | None = typer.Option(None, "--board-file", help="Board definition YAML (calibration/boards/)."),
        plane: Path | None = typer.Option(None, "--plane", help="Photo of the board lying where the product lies (gives mm_per_px)."),
        models: str = typer.Option("pinhole,rational,fisheye", "--models", help="Candidate lens models."),
        force: bool = typer.Option(False, "--force", help="Replace an existing profile."),
        update: bool = typer.Option(False, "--update", help="Add the geometry to an existing profile."),
    ) -> None:
        """Camera intrinsics, lens model (chosen on held-out views) and product-plane mm per px."""
        import yaml

        from .calibration.fitted import CalibrationProfile, sha256_of
        from .calibration.lens import BoardSpec, calibrate_geometry
        from .imageio import read_image

        _check_inputs(list(images) + ([plane] if plane else []) + ([board_file] if board_file else []))
        try:
            prev = _existing(out, force, update)
            if board_file is not None:
                spec = BoardSpec.from_dict(yaml.safe_load(board_file.read_text(encoding="utf-8")) or {})
            else:
                spec = BoardSpec(kind=board, inner_corners=_pair(inner_corners, "--inner-corners"), square_mm=square_mm,
                                 marker_mm=marker_mm, dictionary=dictionary)
            imgs = [read_image(p) for p in images]
            plane_img = read_image(plane) if plane else None
            cal = calibrate_geometry(imgs, spec, names=[p.name for p in images], plane_image=plane_img,
                                     plane_name=plane.name if plane else "plane",
                                     models=[m.strip() for m in models.split(",") if m.strip()])
            roles = [{"name": p.name, "sha256": sha256_of(p), "role": "geometry"} for p in images if p.name in cal.images_used]
            if plane:
                roles.append({"name": plane.name, "sha256": sha256_of(plane), "role": "plane"})
            size = cal.lens.image_size
            if prev is not None and prev.image_size is not None and tuple(prev.image_size) != tuple(size):
                raise CalibrationError(f"--update {out}: profile is for {prev.image_size[0]}x{prev.image_size[1]} px photos, "
                                       f"these are {size[0]}x{size[1]} px")
            report = cal.to_dict()
            report.pop("lens")
            base = prev if prev is not None else CalibrationProfile()
            from dataclasses import replace

            prof = replace(base, image_size=size, lens=cal.lens, mm_per_px=cal.mm_per_px, geometry_report=report,
                           created_utc="").with_images(roles)
            prof.save(out, force=True)
        except (CalibrationError, GoldenVisionError, ValueError) as exc:
            _fail(str(exc), EX_DATAERR)
        d = cal.to_dict()
        d["profile"] = str(out)
        print(json.dumps(d, default=float))

    @calibrate_app.command("color")
    def calibrate_color_cmd(
        image: Path = typer.Argument(..., help="Photo with a ColorChecker Classic 24 in it."),
        out: Path = typer.Option(..., "--out", "-o", help="Calibration profile to write (JSON)."),
        flat_field: Path | None = typer.Option(None, "--flat-field", help="Photo of a uniform white/grey card (same framing)."),
        corners: str | None = typer.Option(None, "--corners", help="Manual chart corners x1,y1,...,x4,y4 (camera px)."),
        encoding: str = typer.Option("srgb", "--encoding", help="Camera values for the flat field: srgb (JPEG) | linear (raw)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing profile."),
        update: bool = typer.Option(False, "--update", help="Add the colour model to an existing profile."),
    ) -> None:
        """Camera RGB -> CIELAB D65 from a ColorChecker, method chosen by leave-one-out CIEDE2000."""
        from dataclasses import replace

        from .calibration.characterisation import FlatField, fit_characterisation
        from .calibration.chart import find_colorchecker, sample_patches
        from .calibration.fitted import CalibrationProfile, sha256_of
        from .imageio import read_image

        _check_inputs([image] + ([flat_field] if flat_field else []))
        try:
            prev = _existing(out, force, update)
            rgb = read_image(image)
            if prev is not None:
                prev.check_image(rgb, name=str(image))
            corner_vals = None if corners is None else [float(v) for v in corners.split(",")]
            det = find_colorchecker(rgb, corners_px=corner_vals)
            if not det.found:
                raise CalibrationError(f"{image}: {det.reason}")
            ff = None
            assert det.patch_rgb01 is not None and det.quad_px is not None  # both set when found
            patches = det.patch_rgb01
            if flat_field is not None:
                ff = FlatField.from_image(read_image(flat_field), encoding=encoding)
                patches, _spread = sample_patches(ff.apply(rgb), det.quad_px)
            model = fit_characterisation(patches)
            loo = np.asarray(model.loo_de00)
            color = model.to_dict()
            color["report"] = {"chart": det.to_dict(), "scores_loo_mean_de00": model.scores}
            roles = [{"name": image.name, "sha256": sha256_of(image), "role": "color"}]
            ff_d: dict[str, Any] | None = None
            if flat_field is not None and ff is not None:
                ff_d = {"name": flat_field.name, "sha256": sha256_of(flat_field), "sigma_px": ff.sigma_px, "encoding": encoding}
                roles.append({"name": flat_field.name, "sha256": ff_d["sha256"], "role": "flat-field"})
            base = prev if prev is not None else CalibrationProfile(image_size=(rgb.shape[1], rgb.shape[0]))
            prof = replace(base, color=color, flat_field=ff_d, created_utc="").with_images(roles)
            prof.save(out, force=True)
        except (CalibrationError, GoldenVisionError, ValueError) as exc:
            _fail(str(exc), EX_DATAERR)
        print(json.dumps({
            "chart_found": det.found, "chart_method": det.method, "quad_px": det.to_dict()["quad_px"],
            "method": model.method, "patch_delta_e_mean": float(loo.mean()), "patch_delta_e_max": float(loo.max()),
            "fit_delta_e_mean": float(np.mean(model.fit_de00)), "excluded_patches": list(model.excluded),
            "flat_field": flat_field is not None, "reference": color["reference"], "profile": str(out),
        }))
