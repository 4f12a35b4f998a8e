"""The product zoo's common parts: unit and defect parameters, the family interface, lot design.

A family is a product design in **product mm** (origin at the product's centre, x right, y
down): colour zones, dimensions and anomaly zones (polygons in product mm), a painter that draws
one unit onto an exact-coverage canvas, and its defects (each with a footprint in product mm).
Everything else, the units' variation, the photo (station or hand-held), the truth and the
spec, is common and lives here and in :mod:`.camera`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ...errors import SpecError
from ..render import _Canvas
from ..scene import _delta_e00, _good_unit_lab, _shift_to_de

__all__ = ["ZooDefect", "ZooUnit", "Family", "MODES"]

#: Photo modes: the station light box (fiducials, chart) or an inspector's hand-held photo.
MODES = ("station", "handheld")

_COLOR_DIRECTIONS = {
    "darker": (-1.0, 0.0, 0.0),
    "lighter": (1.0, 0.0, 0.0),
    "yellower": (0.0, 0.0, 1.0),
    "bluer": (0.0, 0.0, -1.0),
    "redder": (0.0, 1.0, 0.0),
    "greener": (0.0, -1.0, 0.0),
}


@dataclass(frozen=True)
class ZooDefect:
    """One defect of a zoo unit, in product mm (meaning of the fields per kind, see the family).

    Attributes
    ----------
    kind : str
        One of the family's ``defect_zone`` keys.
    center_mm : (float, float)
    length_mm, width_mm : float
        Extent along and across ``angle_deg``.
    angle_deg : float
        Direction from +x towards +y.
    strength : float
        ΔL* of the mark, or a displacement in mm, as the family says.
    index : int
        Which feature (hole, stone, tooth ...) the defect concerns, where it applies.
    seed : int
        Shape seed.
    """

    kind: str
    center_mm: tuple[float, float] = (0.0, 0.0)
    length_mm: float = 0.0
    width_mm: float = 0.0
    angle_deg: float = 0.0
    strength: float = 0.0
    index: int = 0
    seed: int = 0


@dataclass(frozen=True)
class ZooUnit:
    """Everything that defines one photo of one unit of a zoo family (deterministic render).

    Attributes
    ----------
    family : str
    unit_id : str
    labs : tuple of (zone, (L*, a*, b*))
        True surface colour of each colour zone, CIELAB D65 / 2 degree.
    dims : tuple of (name, mm)
        True dimensions.
    variation : tuple of (name, value)
        Production variation that does not fail a unit (print offset, density, grain ...).
    texture_seed : int
        Seed of the unit's own surface (grain, weave, sparkle).
    mode : {"station", "handheld"}
    pose : (angle_deg, dx_mm, dy_mm)
        Product on the platen / table, relative to the golden placement.
    camera : tuple of float
        Station: the demo camera jitter ``(rot_deg, dx, dy, scale, px, py)``; hand-held:
        ``(roll_deg, tilt_x_deg, tilt_y_deg, scale, shift_x, shift_y)`` (shifts in image widths).
    gains : (float, float, float)
        Lighting gains in linear RGB.
    light : (gx, gy, vignette)
        Hand-held uneven light: gain ``1 + gx u + gy v - vignette (u² + v²)`` over the image,
        ``u, v`` = (px - centre) / width; zeros in the station.
    noise_seed : int
    noise_sigma : float
        Sensor noise, 8-bit grey levels.
    jpeg_quality : int
        0 = lossless PNG (station); else the JPEG quality of the hand-held photo.
    marker : {"none", "aruco", "ruler"}
        A known-size marker on the table (hand-held only).
    marker_pose : (x_mm, y_mm, angle_deg)
        Where the marker lies on the table (table mm).
    defects : tuple of ZooDefect
    fault : str
        "none", "color", "dimension" or a defect kind.
    fault_detail : str
    """

    family: str
    unit_id: str = "golden"
    labs: tuple[tuple[str, tuple[float, float, float]], ...] = ()
    dims: tuple[tuple[str, float], ...] = ()
    variation: tuple[tuple[str, float], ...] = ()
    texture_seed: int = 0
    mode: str = "station"
    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    camera: tuple[float, float, float, float, float, float] = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    light: tuple[float, float, float] = (0.0, 0.0, 0.0)
    noise_seed: int = 0
    noise_sigma: float = 1.2
    jpeg_quality: int = 0
    marker: str = "none"
    marker_pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    defects: tuple[ZooDefect, ...] = ()
    fault: str = "none"
    fault_detail: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SpecError(f"ZooUnit.mode: expected one of {list(MODES)}, got {self.mode!r}")
        if self.marker not in ("none", "aruco", "ruler"):
            raise SpecError(f"ZooUnit.marker: expected 'none', 'aruco' or 'ruler', got {self.marker!r}")

    def lab(self, zone: str) -> tuple[float, float, float]:
        return dict(self.labs)[zone]

    def dim(self, name: str) -> float:
        return float(dict(self.dims)[name])

    def var(self, name: str) -> float:
        return float(dict(self.variation)[name])


class Family:
    """A product family: design data in product mm and a painter (subclasses fill these in).

    Class attributes
    ----------------
    name, product : str
    box_mm : (x1, y1, x2, y2)
        Texture extent in product mm (the product and its defects fit inside).
    outline_mm : list of (x, y)
        Nominal outline corners (truth ``product_corners_mm``).
    color_zones : dict
        name -> {polygon_mm, golden (Lab), target (Lab), tolerance, weights, name}.
    dimensions : dict
        name -> {nominal, tol, measure, caliper_mm {center, angle_deg, length, width} or
        circle_mm {center, radius, search}}.
    anomaly_zones : dict
        name -> {polygon_mm, defect_type} and optionally min_area_mm2 (the spec's smallest defect
        in the zone, mm²; 0.5 when not given).
    defect_zone : dict
        defect kind -> anomaly zone.
    variation : dict
        name -> (nominal, spread): good units draw ``nominal + uniform(-spread, spread)``.
    marker_spot_mm, ruler_spot_mm : (x, y)
        Where a hand-held frame's ArUco marker / ruler lies (table mm, its centre), clear of the
        product at any pose.
    """

    name: str = ""
    product: str = ""
    box_mm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    outline_mm: list[tuple[float, float]] = []
    color_zones: dict[str, dict[str, Any]] = {}
    dimensions: dict[str, dict[str, Any]] = {}
    anomaly_zones: dict[str, dict[str, Any]] = {}
    defect_zone: dict[str, str] = {}
    variation: dict[str, tuple[float, float]] = {}
    marker_spot_mm: tuple[float, float] = (0.0, 0.0)
    ruler_spot_mm: tuple[float, float] = (0.0, 0.0)
    #: Markers of hand-held frames, in turn by unit index.
    markers: tuple[str, ...] = ("aruco", "ruler", "none")

    # -- to be provided by each family --------------------------------------------------
    def paint(self, unit: ZooUnit, cv: _Canvas) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def defect_footprint(self, d: ZooDefect, unit: ZooUnit) -> tuple[tuple[float, float, float, float], float]:  # pragma: no cover
        """Bounding box (product mm) and area (mm²) of a defect on ``unit`` (its size, print offset ...)."""
        raise NotImplementedError

    def make_defect(self, kind: str, rng: np.random.Generator) -> tuple[ZooDefect, str]:  # pragma: no cover
        """A random defect of ``kind`` (realistic size and contrast) and its plain-words detail."""
        raise NotImplementedError

    # -- common -------------------------------------------------------------------------
    @property
    def fault_kinds(self) -> tuple[str, ...]:
        return ("color", "dimension", *sorted(self.defect_zone))

    def golden_unit(self) -> ZooUnit:
        """The golden unit: golden colours, nominal dimensions and variation, texture seed 0."""
        return ZooUnit(
            family=self.name,
            labs=tuple((k, cast("tuple[float, float, float]", tuple(float(v) for v in z["golden"])))
                       for k, z in self.color_zones.items()),
            dims=tuple((k, float(d["nominal"])) for k, d in self.dimensions.items()),
            variation=tuple((k, float(v[0])) for k, v in self.variation.items()),
        )

    def check_defect(self, d: ZooDefect) -> None:
        if d.kind not in self.defect_zone:
            raise SpecError(f"{self.name} defect kind: expected one of {sorted(self.defect_zone)}, got {d.kind!r}")

    def draw_production(self, index: int, fault: str, seed: int) -> dict[str, Any]:
        """Colours, dimensions, variation, texture and defects of production unit ``index``.

        Good units: colours within 0.35 x tolerance of the target and the golden, dimensions
        within ±0.3 x tolerance, variation within its spread. A fault unit has one clear fault:
        colour ΔE00 1.8-2.4 x tolerance (and >= 1.6 x from the golden), a dimension 1.7-2.2 x
        tolerance off, or one defect of the family."""
        if fault != "none" and fault not in self.fault_kinds:
            raise SpecError(f"{self.name} fault: expected 'none' or one of {list(self.fault_kinds)}, got {fault!r}")
        rng = np.random.default_rng([int(seed), 4000 + int(index), _family_key(self.name)])
        labs = {}
        for name, z in self.color_zones.items():
            labs[name] = _good_unit_lab(np.asarray(z["golden"], np.float64), z, rng)
        detail = ""
        if fault == "color":
            names = list(self.color_zones)
            name = names[int(rng.integers(len(names)))]
            z = self.color_zones[name]
            word = sorted(_COLOR_DIRECTIONS)[int(rng.integers(len(_COLOR_DIRECTIONS)))]
            # keep L* of very light zones in range: a white paper is never made "lighter"
            if word == "lighter" and z["golden"][0] > 85.0:
                word = "darker"
            k = rng.uniform(1.8, 2.4)
            d = np.asarray(_COLOR_DIRECTIONS[word])
            lab = _shift_to_de(labs[name], d, k * z["tolerance"], z["target"], z["weights"])
            if _delta_e00(lab, z["golden"], z["weights"]) < 1.6 * z["tolerance"]:
                lab = _shift_to_de(lab, d, 1.8 * z["tolerance"], z["golden"], z["weights"])
            labs[name] = lab
            detail = f"{name} {word}"
        dims = {name: float(d["nominal"] + rng.uniform(-0.3, 0.3) * d["tol"]) for name, d in self.dimensions.items()}
        if fault == "dimension":
            names = sorted(self.dimensions)
            name = names[int(rng.integers(len(names)))]
            dd = self.dimensions[name]
            dev = float(rng.uniform(1.7, 2.2) * dd["tol"] * (1 if rng.random() < 0.5 else -1))
            dims[name] = dd["nominal"] + dev
            detail = f"{name} {dev:+.2f} mm"
        variation = {k: float(v[0] + rng.uniform(-v[1], v[1])) for k, v in self.variation.items()}
        defects: tuple[ZooDefect, ...] = ()
        if fault in self.defect_zone:
            defect, detail = self.make_defect(fault, rng)
            defects = (defect,)
        return {
            "labs": tuple((k, tuple(float(x) for x in v)) for k, v in labs.items()),
            "dims": tuple(dims.items()),
            "variation": tuple(variation.items()),
            "texture_seed": int(rng.integers(1 << 30)),
            "defects": defects,
            "fault": fault,
            "fault_detail": detail,
        }


def _family_key(name: str) -> int:
    """A stable integer per family name (seeds differ between families for the same lot seed)."""
    return int.from_bytes(name.encode("utf-8")[:8].ljust(8, b"\0"), "little") % (1 << 31)


def _rot(angle_deg: float) -> tuple[float, float]:
    return math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
