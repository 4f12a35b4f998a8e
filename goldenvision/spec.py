"""The spec sheet: what a unit must be, in measurable tolerances.

A spec is YAML (or a dict) validated with pydantic. Unknown keys are refused, so a typo
(``tolerence_de00``) is an error and never silently ignored. Every coordinate is in
**golden px** ``(x, y)``: pixels of the golden frame (the rectified golden capture when a
station profile is used, else the raw golden photo).

Errors are raised as :class:`goldenvision.errors.SpecError` naming the field path, what
was expected and what came, e.g.
``colors[0].tolerance_de00: expected a number > 0 and <= 100, got -1``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .enums import DefectType, Severity
from .errors import SpecError

__all__ = [
    "Severity",
    "DefectType",
    "ColorTarget",
    "ColorZone",
    "Caliper",
    "Circle",
    "DimensionSpec",
    "AnomalyZone",
    "AqlSettings",
    "ScaleMarker",
    "ScaleRuler",
    "Spec",
    "load_spec",
    "spec_json_schema",
    "AQL_VALUES",
]

#: The preferred AQL series of ISO 2859-1 (percent nonconforming / nonconformities per 100 units).
AQL_VALUES = (
    0.010, 0.015, 0.025, 0.040, 0.065, 0.10, 0.15, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5,
    4.0, 6.5, 10.0, 15.0, 25.0, 40.0, 65.0, 100.0, 150.0, 250.0, 400.0, 650.0, 1000.0,
)


Point = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_polygon(value: Any) -> Any:
    if value == "full" or value is None:
        return value
    if not isinstance(value, (list, tuple)) or len(value) < 3:
        raise ValueError(f"expected 'full' or a polygon of at least 3 [x, y] points, got {value!r}")
    return value


Region = Literal["full"] | list[Point]


class ColorTarget(_Model):
    """A colour target: CIELAB under a stated illuminant and observer (e.g. a Pantone TCX)."""

    lab: tuple[float, float, float] | None = Field(
        default=None, description="CIELAB L*, a*, b* of the target under `illuminant`/`observer`."
    )
    illuminant: Literal["D65", "D50"] = "D65"
    observer: Literal[2, 10] = 10
    name: str | None = Field(default=None, description="Reference name, e.g. 'PANTONE 19-1557 TCX'.")

    @field_validator("lab")
    @classmethod
    def _lab_range(cls, v: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
        if v is None:
            return v
        L, a, b = v
        if not (0.0 <= L <= 100.0) or not (-200.0 <= a <= 200.0) or not (-200.0 <= b <= 200.0):
            raise ValueError(f"expected L* in [0, 100] and a*, b* in [-200, 200], got {list(v)}")
        return v

    @model_validator(mode="after")
    def _lab_or_name(self) -> "ColorTarget":
        if self.lab is None and self.name is None:
            raise ValueError("expected `lab` or a `name` to look up in a colour library, got neither")
        return self


class ColorZone(_Model):
    """A colour zone: a region of the golden frame whose colour is held to a ΔE00 tolerance."""

    name: str = Field(min_length=1)
    region: Region = Field(description="'full' or a polygon [[x, y], ...] in golden px.")
    target: ColorTarget | None = Field(default=None, description="Spec target; None = judge against the golden only.")
    tolerance_de00: float = Field(gt=0, le=100, description="Maximum CIEDE2000 against the target.")
    golden_tolerance_de00: float | None = Field(
        default=None, gt=0, le=100, description="Maximum CIEDE2000 against the golden's zone (default: tolerance_de00)."
    )
    uniformity_tolerance_de00: float | None = Field(
        default=None, gt=0, le=100,
        description="Maximum spread inside the zone: 95th percentile ΔE00 of local patches from the zone colour.",
    )
    weights: tuple[float, float, float] = Field(
        default=(1.0, 1.0, 1.0), description="kL, kC, kH (e.g. 2, 1, 1 for textiles)."
    )
    severity: Severity = Severity.major

    _region = field_validator("region", mode="before")(classmethod(lambda cls, v: _check_polygon(v)))

    @field_validator("weights")
    @classmethod
    def _positive_weights(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not (0 < w <= 10) for w in v):
            raise ValueError(f"expected kL, kC, kH each in (0, 10], got {list(v)}")
        return v


class Caliper(_Model):
    """A measuring rectangle in golden px.

    The profile runs along the long axis: from ``center - length/2 * d`` to ``center + length/2 * d``
    with ``d = (cos angle, sin angle)`` (angle from +x towards +y, i.e. clockwise on screen as image
    y points down). ``width_px`` is the band perpendicular to it that is averaged.
    """

    center: Point
    angle_deg: float = Field(ge=-360, le=360)
    length_px: float = Field(gt=2, le=100_000)
    width_px: float = Field(default=10.0, ge=1, le=10_000)


class Circle(_Model):
    """An approximate circle in golden px, for `measure: diameter`."""

    center: Point
    radius_px: float = Field(gt=1, le=100_000)
    search_px: float = Field(default=10.0, gt=0, le=10_000, description="Radial search band (±) around radius_px.")


class DimensionSpec(_Model):
    """A dimension: nominal ± tolerance in mm, measured by a caliper or a circle fit."""

    name: str = Field(min_length=1)
    caliper: Caliper | None = None
    circle: Circle | None = None
    measure: Literal["width", "distance", "diameter"] = "width"
    polarity: Literal["any", "dark_to_light", "light_to_dark"] = Field(
        default="any", description="Polarity of the first edge along the profile."
    )
    nominal_mm: float = Field(gt=0, le=100_000)
    tolerance_mm: tuple[float, float] = Field(description="[minus, plus]: minus <= 0 <= plus, in mm.")
    severity: Severity = Severity.major

    @field_validator("tolerance_mm")
    @classmethod
    def _tolerance_signs(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if lo > 0 or hi < 0 or (lo == 0 and hi == 0):
            raise ValueError(f"expected [minus <= 0, plus >= 0] not both zero, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _tool(self) -> "DimensionSpec":
        if self.measure == "diameter":
            if self.circle is None:
                raise ValueError("measure 'diameter' needs `circle: {center, radius_px}`")
        elif self.caliper is None:
            raise ValueError(f"measure {self.measure!r} needs `caliper: {{center, angle_deg, length_px, width_px}}`")
        if -self.tolerance_mm[0] >= self.nominal_mm:
            raise ValueError(
                f"tolerance_mm minus {self.tolerance_mm[0]} would allow a size <= 0 for nominal {self.nominal_mm} mm"
            )
        return self

    @property
    def tol_minus_mm(self) -> float:
        return float(-self.tolerance_mm[0])

    @property
    def tol_plus_mm(self) -> float:
        return float(self.tolerance_mm[1])


class AnomalyZone(_Model):
    """A region watched for anything the golden sample does not have."""

    name: str = Field(min_length=1)
    region: Region = Field(
        default="full",
        description="'full' or a polygon [[x, y], ...] in golden px. 'full' is the product once registration "
                    "aligns it (the station's product area, within it the product's outline on a plain ground, "
                    "grown by 2 % of the image's diagonal), not the fixtures or table round it; the whole image "
                    "with `registration: none` or where the product fills the frame.")
    defect_type: DefectType = DefectType.other
    method: Literal["auto", "variation", "texture_variation", "patchcore", "padim", "texture"] = "auto"
    sensitivity: float = Field(default=1.0, gt=0, le=10, description="> 1 flags smaller deviations.")
    min_area_mm2: float = Field(default=0.0, ge=0, description="Smaller regions are not reported as defects.")
    min_contrast_dl: float = Field(
        default=0.0, ge=0, le=100,
        description="Smallest lightness difference ΔL* (CIE, D65) a defect has; smaller deviations are not anomalous.",
    )
    severity: Severity = Severity.major

    _region = field_validator("region", mode="before")(classmethod(lambda cls, v: _check_polygon(v)))


class DetectorRef(_Model):
    """A trained defect-detector bundle (``goldenvision train``) run on every unit in golden px."""

    bundle: str = Field(min_length=1, description="Path of the bundle directory (relative paths: from the working directory).")
    sha256: str = Field(pattern=r"^[0-9a-f]{12,64}$", description="The bundle's sha256 (or a prefix of 12+ hex digits).")
    version: str | None = Field(default=None, description="Expected bundle version; refused when it differs.")
    severity: Severity = Severity.major
    fail: bool = Field(default=True, description="Detections fail the unit with `severity`; false = reported only.")


class AqlSettings(_Model):
    """AQL per defect class (ISO 2859-1), and the general or special inspection level."""

    level: Literal["S-1", "S-2", "S-3", "S-4", "I", "II", "III"] = "II"
    critical: float = 0.0
    major: float = 2.5
    minor: float = 4.0

    @field_validator("critical", "major", "minor")
    @classmethod
    def _preferred(cls, v: float) -> float:
        if v == 0:
            return v
        for a in AQL_VALUES:
            if abs(v - a) < 1e-9:
                return a
        raise ValueError(f"expected 0 or an AQL of the ISO 2859-1 series {list(AQL_VALUES)}, got {v}")


class ScaleMarker(_Model):
    """A known-size marker laid beside the product in hand-held photos (issue 13): with it in
    the frame, dimensions are measured against it (``DimensionResult.reference == "marker"``)."""

    type: Literal["aruco"] = "aruco"
    dictionary: str = Field(default="DICT_4X4_50", pattern=r"^DICT_[A-Z0-9_]+$",
                            description="OpenCV ArUco dictionary name.")
    id: int = Field(ge=0, le=100_000)
    size_mm: float = Field(gt=0, le=10_000, description="Side of the marker's black square, mm.")


class ScaleRuler(_Model):
    """A ruler laid beside the product in hand-held photos (issue 13): its row of ticks, ``tick_mm``
    apart (1 mm on an ordinary ruler; longer 5 and 10 mm ticks and printed numbers do not matter),
    gives the photo's scale. Found by :func:`goldenvision.measure.ruler.find_scale_ruler`; used only
    when the unit's registration is pinned down by the product (``DimensionResult.reference ==
    "ruler"``): the ruler sets the scale, the product's registration the plane's tilt. When a
    photo shows both the ``scale_marker`` and the ruler, the marker is used."""

    tick_mm: float = Field(default=1.0, ge=0.1, le=50.0,
                           description="Pitch of the ruler's finest ticks, mm (0.1 to 50).")


class Spec(_Model):
    """A product's spec sheet (see ARCHITECTURE.md for the YAML form)."""

    product: str = Field(min_length=1)
    revision: str = "A"
    scale_mm_per_px: float | None = Field(
        default=None, gt=0, le=100, description="mm per golden px, when no station profile gives it."
    )
    registration: Literal["auto", "homography", "affine", "nonrigid", "outline", "none"] = "auto"
    station: str | dict[str, Any] | None = Field(
        default=None,
        description="Station profile: a path to its YAML, a shipped profile name (e.g. 'lightbox-demo') or inline.",
    )
    colors: list[ColorZone] = Field(default_factory=list)
    dimensions: list[DimensionSpec] = Field(default_factory=list)
    anomaly_zones: list[AnomalyZone] = Field(default_factory=list)
    detector: DetectorRef | None = Field(default=None, description="A trained defect detector (class names in results).")
    aql: AqlSettings = Field(default_factory=AqlSettings)
    color_library: str | None = Field(default=None, description="CSV of name -> Lab for named targets.")
    scale_marker: ScaleMarker | None = Field(
        default=None, description="Known-size marker in hand-held photos (without a station): the dimensions' reference."
    )
    scale_ruler: ScaleRuler | None = Field(
        default=None,
        description="A ruler in hand-held photos (without a station): the dimensions' scale where no marker shows.",
    )
    required_signatures: list[str] = Field(
        default_factory=list,
        description="Roles whose signatures a sealed golden must carry (buyer, factory, inspector).",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> "Spec":
        for key in ("colors", "dimensions", "anomaly_zones"):
            names = [z.name for z in getattr(self, key)]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{key}: names must be unique, got duplicates {dup}")
        if self.dimensions and self.scale_mm_per_px is None and self.station is None:
            raise ValueError("dimensions need `scale_mm_per_px` or a `station` profile to give mm")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (round-trips through :func:`load_spec`)."""
        return json.loads(self.model_dump_json())


def _format_errors(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors():
        path = ""
        for p in e["loc"]:
            path += f"[{p}]" if isinstance(p, int) else (f".{p}" if path else str(p))
        got = e.get("input")
        got_s = repr(got)
        if len(got_s) > 80:
            got_s = got_s[:77] + "..."
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parts.append(f"{path}: unknown key (check its spelling)")
        elif e["type"] == "missing":
            parts.append(f"{path}: required key is missing")
        else:
            parts.append(f"{path or '<spec>'}: {msg}; got {got_s}")
    return f"spec {source}: " + "; ".join(parts)


def load_spec(source: "str | Path | dict[str, Any] | Spec") -> Spec:
    """Load and validate a spec sheet.

    Parameters
    ----------
    source : str, Path, dict or Spec
        A YAML/JSON file path, a YAML string containing a newline, a dict, or a Spec (returned as is).

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        The file cannot be read or parsed, or a field is invalid; the message names the field path.
    """
    if isinstance(source, Spec):
        return source
    name = "<dict>"
    if isinstance(source, (str, Path)):
        text: str
        if isinstance(source, str) and "\n" in source:
            name, text = "<text>", source
        else:
            path = Path(source)
            name = str(path)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise SpecError(f"spec {name}: file not found") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise SpecError(f"spec {name}: cannot read ({exc})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"spec {name}: not valid YAML ({exc})") from None
    else:
        data = source
    if not isinstance(data, dict):
        raise SpecError(f"spec {name}: expected a mapping of keys (product, colors, ...), got {type(data).__name__}")
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_errors(exc, name)) from None


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec sheet, for editor completion."""
    return Spec.model_json_schema()
