"""Colour zones: the golden-side model fitted at seal time and the per-unit measurement.

The stage works on CIELAB D65 images in the golden frame (golden px); zone pixels come from
the one :func:`goldenvision.zones.zone_mask`, zone colours from :mod:`.robust`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Sized
from typing import Any

import cv2
import numpy as np

from ..errors import ImageError, ModelError, SpecError
from ..results import ColorResult
from ..spec import ColorZone
from ..zones import zone_mask
from .adaptation import target_lab_d65
from .difference import _as_lab, _check_weights, delta_e_2000, delta_e_2000_components
from .robust import RobustZoneColor, _check_lab_image, _check_valid, _geometry, _robust_color, _ZoneGeometry

__all__ = ["ZoneColorModel", "measure_zone_colors", "zone_delta_e_map"]

_END = object()  # end of an iterator (a mask may be None)

class ZoneColorModel:
    """Golden-side colour state of every zone, fitted once at seal time.

    Use :meth:`fit`; the constructor only stores. Fitted attributes end in ``_``.

    Attributes
    ----------
    cell_px : int
        Uniformity cell side in golden px.
    shape_hw_ : (int, int)
        Golden frame size.
    names_ : tuple of str
        Zone names in spec order.
    golden_lab_ : ndarray, shape (n_zones, 3), float64
        Golden robust zone colour (CIELAB D65): the median over the golden captures.
    golden_spread_de00_ : ndarray, shape (n_zones,), float64
        Largest ΔE00 of one golden capture's zone colour from ``golden_lab_`` (0 with one capture).
    golden_uniformity_de00_ : ndarray, shape (n_zones,), float64
        The golden's own uniformity (median over captures; NaN when no cell was usable).
    golden_valid_fraction_ : ndarray, shape (n_zones,), float64
        Smallest valid fraction over the captures.
    """

    shape_hw_: tuple[int, int]
    names_: tuple[str, ...]
    golden_lab_: np.ndarray
    golden_spread_de00_: np.ndarray
    golden_uniformity_de00_: np.ndarray
    golden_valid_fraction_: np.ndarray
    _geoms: list[_ZoneGeometry]

    def __init__(self, *, cell_px: int = 24) -> None:
        self.cell_px = cell_px

    # -- fitting --------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        golden_labs: Iterable[np.ndarray],
        valid_masks: Iterable[np.ndarray | None] | None,
        zones: Sequence[ColorZone],
        *,
        cell_px: int = 24,
    ) -> "ZoneColorModel":
        """Fit the model on the aligned golden captures, streaming.

        Each capture is read once, in order, and reduced at once to its robust zone colours
        (three numbers, a uniformity and a valid fraction per zone): the memory kept grows
        with the zones and the number of captures, never with their pixels, so a lazy
        sequence or a generator of many captures is fitted without holding them.

        Parameters
        ----------
        golden_labs : iterable of ndarray, shape (H, W, 3), float
            CIELAB D65 of each golden capture, aligned to the golden frame (a list, a lazy
            sequence or a generator; iterated once).
        valid_masks : iterable of (ndarray (H, W) bool or None), or None
            Valid pixels of each capture, in the same order (iterated once, in step with
            ``golden_labs``); None = all valid.
        zones : sequence of ColorZone
            The spec's colour zones (regions in golden px).
        cell_px : int, optional
            Uniformity cell side in px (24 px = 3 mm at 0.125 mm/px).

        Raises
        ------
        ImageError
            No capture, as many masks as captures missing, or captures of different sizes /
            not Lab images.
        SpecError
            A zone lies outside the frame, names repeat, or a zone has no valid golden pixel.
        """
        if not isinstance(cell_px, (int, np.integer)) or cell_px < 2:
            raise SpecError(f"cell_px: expected an int >= 2, got {cell_px!r}")
        names = [z.name for z in zones]
        if len(set(names)) != len(names):
            raise SpecError(f"zones: names must be unique, got {names}")
        if isinstance(golden_labs, Sized) and len(golden_labs) == 0:
            raise ImageError("golden_labs: expected at least one golden CIELAB image, got none")
        if (isinstance(golden_labs, Sized) and isinstance(valid_masks, Sized)
                and len(valid_masks) != len(golden_labs)):
            raise ImageError(
                f"valid_masks: expected {len(golden_labs)} masks (one per capture), got {len(valid_masks)}"
            )
        n = len(zones)
        self = cls(cell_px=int(cell_px))
        # Per zone, per capture: robust colour, uniformity (or None), valid fraction.
        per_lab: list[list[np.ndarray]] = [[] for _ in range(n)]
        per_uni: list[list[float]] = [[] for _ in range(n)]
        per_frac: list[list[float]] = [[] for _ in range(n)]
        shape: tuple[int, int] | None = None
        masks_it = None if valid_masks is None else iter(valid_masks)
        count = 0
        for i, lab_i in enumerate(golden_labs):
            if shape is None:
                h, w = _check_lab_image(lab_i, "golden_labs[0]").shape[:2]
                shape = (int(h), int(w))
                self.shape_hw_ = shape
                self.names_ = tuple(names)
                self._geoms = [_geometry(z.name, zone_mask(z.region, shape), self.cell_px) for z in zones]
            lab = _check_lab_image(lab_i, f"golden_labs[{i}]", shape)
            valid = None
            if masks_it is not None:
                try:
                    v = next(masks_it)
                except StopIteration:
                    raise ImageError(f"valid_masks: expected one mask per capture, got none for capture {i}") from None
                valid = _check_valid(v, f"valid_masks[{i}]", shape)
            for j, z in enumerate(zones):
                r = self._measure(lab, valid, j, z.weights)
                per_lab[j].append(np.asarray(r.lab, dtype=np.float64))
                if r.uniformity_de00 is not None:
                    per_uni[j].append(float(r.uniformity_de00))
                per_frac[j].append(float(r.valid_fraction))
            count += 1
        if shape is None:
            raise ImageError("golden_labs: expected at least one golden CIELAB image, got none")
        if masks_it is not None and next(masks_it, _END) is not _END:
            raise ImageError(f"valid_masks: expected {count} masks (one per capture), got more")

        self.golden_lab_ = np.zeros((n, 3))
        self.golden_spread_de00_ = np.zeros(n)
        self.golden_uniformity_de00_ = np.full(n, np.nan)
        self.golden_valid_fraction_ = np.zeros(n)
        for j, z in enumerate(zones):
            per = np.array(per_lab[j]).reshape(-1, 3)
            good = np.isfinite(per).all(axis=1)
            if not good.any():
                raise SpecError(f"colors[{z.name!r}]: no valid golden pixel in the zone in any golden capture")
            self.golden_lab_[j] = np.median(per[good], axis=0)
            self.golden_spread_de00_[j] = float(np.max(delta_e_2000(per[good], self.golden_lab_[j], *z.weights)))
            if per_uni[j]:
                self.golden_uniformity_de00_[j] = float(np.median(per_uni[j]))
            self.golden_valid_fraction_[j] = float(min(per_frac[j]))
        return self

    def _measure(self, lab: np.ndarray, valid: np.ndarray | None, j: int, weights: Sequence[float]) -> RobustZoneColor:
        g = self._geoms[j]
        sub = lab[g.y0 : g.y1, g.x0 : g.x1]
        ok = g.mask if valid is None else g.mask & valid[g.y0 : g.y1, g.x0 : g.x1]
        kl, kc, kh = (float(w) for w in weights)
        return _robust_color(sub, ok, g, self.cell_px, (kl, kc, kh))

    def _check_fitted(self) -> None:
        if not hasattr(self, "golden_lab_"):
            raise ModelError("ZoneColorModel: not fitted; call ZoneColorModel.fit(...) or from_state(...)")

    def index(self, name: str) -> int:
        """Position of zone ``name`` (raises SpecError naming the known zones)."""
        self._check_fitted()
        try:
            return self.names_.index(name)
        except ValueError:
            raise SpecError(f"zone {name!r}: not in the fitted colour model (zones: {list(self.names_)})") from None

    def golden_lab(self, name: str) -> tuple[float, float, float]:
        """Golden robust CIELAB D65 of zone ``name``."""
        return tuple(float(v) for v in self.golden_lab_[self.index(name)])  # type: ignore[return-value]

    def mask(self, name: str) -> np.ndarray:
        """Full-frame bool mask (H, W) of zone ``name``."""
        g = self._geoms[self.index(name)]
        out = np.zeros(self.shape_hw_, dtype=bool)
        out[g.y0 : g.y1, g.x0 : g.x1] = g.mask
        return out

    # -- state ------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Arrays and JSON-able values that :meth:`from_state` restores exactly."""
        self._check_fitted()
        state: dict[str, Any] = {
            "version": 1,
            "cell_px": int(self.cell_px),
            "shape_hw": [int(v) for v in self.shape_hw_],
            "names": list(self.names_),
            "bboxes": np.array([[g.y0, g.y1, g.x0, g.x1] for g in self._geoms], dtype=np.int64).reshape(-1, 4),
            "golden_lab": self.golden_lab_.copy(),
            "golden_spread_de00": self.golden_spread_de00_.copy(),
            "golden_uniformity_de00": self.golden_uniformity_de00_.copy(),
            "golden_valid_fraction": self.golden_valid_fraction_.copy(),
        }
        for j, g in enumerate(self._geoms):
            state[f"mask_{j}"] = np.packbits(g.mask, axis=None)
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "ZoneColorModel":
        """Rebuild a fitted model from :meth:`to_state` output.

        Raises
        ------
        ModelError
            A key is missing or an array has the wrong shape.
        """
        try:
            if int(state["version"]) != 1:
                raise ModelError(f"ZoneColorModel state: expected version 1, got {state['version']!r}")
            self = cls(cell_px=int(state["cell_px"]))
            h, w = (int(v) for v in state["shape_hw"])
            names = tuple(str(n) for n in state["names"])
            bboxes = np.asarray(state["bboxes"], dtype=np.int64).reshape(-1, 4)
            n = len(names)
            arrays = {}
            for key, shp in (
                ("golden_lab", (n, 3)),
                ("golden_spread_de00", (n,)),
                ("golden_uniformity_de00", (n,)),
                ("golden_valid_fraction", (n,)),
            ):
                a = np.asarray(state[key], dtype=np.float64)
                if a.shape != shp:
                    raise ModelError(f"ZoneColorModel state: {key} expected shape {shp}, got {a.shape}")
                arrays[key] = a
            if bboxes.shape[0] != n:
                raise ModelError(f"ZoneColorModel state: bboxes expected {n} rows, got {bboxes.shape[0]}")
            geoms = []
            for j, (y0, y1, x0, x1) in enumerate(bboxes.tolist()):
                bh, bw = y1 - y0, x1 - x0
                if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
                    raise ModelError(f"ZoneColorModel state: bbox {j} {bboxes[j].tolist()} outside {h}x{w}")
                bits = np.asarray(state[f"mask_{j}"], dtype=np.uint8)
                m = np.unpackbits(bits, count=bh * bw).astype(bool).reshape(bh, bw)
                full = np.zeros((h, w), dtype=bool)
                full[y0:y1, x0:x1] = m
                geoms.append(_geometry(names[j], full, self.cell_px))
        except KeyError as exc:
            raise ModelError(f"ZoneColorModel state: missing key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ModelError(f"ZoneColorModel state: malformed ({exc})") from None
        self.shape_hw_ = (h, w)
        self.names_ = names
        self._geoms = geoms
        self.golden_lab_ = arrays["golden_lab"]
        self.golden_spread_de00_ = arrays["golden_spread_de00"]
        self.golden_uniformity_de00_ = arrays["golden_uniformity_de00"]
        self.golden_valid_fraction_ = arrays["golden_valid_fraction"]
        return self


def measure_zone_colors(
    unit_lab: Any,
    valid: Any,
    model: ZoneColorModel,
    zones: Sequence[ColorZone],
    *,
    target_labs: Mapping[str, Sequence[float]] | None = None,
) -> list[ColorResult]:
    """Colour of every zone of a registered unit against its target and the golden.

    Parameters
    ----------
    unit_lab : ndarray, shape (H, W, 3), float
        The unit's CIELAB D65 in the golden frame (H, W = ``model.shape_hw_``).
    valid : ndarray, shape (H, W), bool, or None
        Pixels that hold unit data after warping; None = all.
    model : ZoneColorModel
        Golden-side model fitted at seal time on the same zones.
    zones : sequence of ColorZone
        The spec's colour zones; each must be in ``model.names_``.
    target_labs : mapping of str to (L*, a*, b*), optional
        Target CIELAB D65 keyed by zone name (resolved targets, as the pipeline stores them)
        or by target name (a whole colour library); the zone name is tried first. Overrides
        ``target.lab`` and resolves targets given only by name.

    Returns
    -------
    list of ColorResult
        One per zone in order: robust ``lab`` (see :func:`robust_zone_color`), ΔE00 with the
        zone's (kL, kC, kH) against the target (D50 targets adapted with Bradford, see
        :func:`target_lab_d65`) and against the golden, components ``d_l, d_c, d_h`` relative
        to the target when there is one, else the golden, the 95th-percentile cell ΔE00
        uniformity and the valid fraction. A zone with no valid pixel gets NaN colour and
        deltas and ``valid_fraction = 0`` (so ``ok`` is False; decision should say "review").

    Raises
    ------
    ImageError
        ``unit_lab`` / ``valid`` have the wrong shape or dtype.
    SpecError
        A zone is not in the model, or a named target cannot be resolved.
    """
    model._check_fitted()
    arr = _check_lab_image(unit_lab, "unit_lab", model.shape_hw_)
    v = _check_valid(valid, "valid", model.shape_hw_)
    out: list[ColorResult] = []
    for zone in zones:
        j = model.index(zone.name)
        w = tuple(float(x) for x in zone.weights)
        r = model._measure(arr, v, j, w)
        golden = model.golden_lab_[j]
        target = target_lab_d65(zone, target_labs)
        out.append(zone_color_result(zone, r.lab, golden, target, w, float(delta_e_2000(r.lab, golden, *w)),
                                     r.uniformity_de00, r.valid_fraction))
    return out


def zone_color_result(zone: ColorZone, lab: Any, golden: Any, target: Any, weights: Sequence[float], de_golden: float,
                      uniformity_de00: float | None, valid_fraction: float, **extra: Any) -> ColorResult:
    """One zone's :class:`ColorResult` from its measured Lab (shared by every colour reference):
    ΔE00 to the target, and CIEDE2000's components against the target, else the golden.
    ``extra`` (``reference``, ``uncertainty_de00``, ``note``) is passed through."""
    w = tuple(float(x) for x in weights)
    de_target = None if target is None else float(delta_e_2000(lab, target, *w))
    ref = golden if target is None else target
    _, dl, dc, dh = delta_e_2000_components(lab, ref, kL=w[0], kC=w[1], kH=w[2])
    return ColorResult(
        name=zone.name,
        lab=tuple(float(x) for x in lab),  # type: ignore[arg-type]
        delta_e_target=de_target,
        delta_e_golden=float(de_golden),
        tolerance=float(zone.tolerance_de00),
        golden_tolerance=float(zone.golden_tolerance_de00 or zone.tolerance_de00),
        severity=zone.severity,
        golden_lab=tuple(float(x) for x in golden),  # type: ignore[arg-type]
        target_lab=None if target is None else tuple(float(x) for x in target),  # type: ignore[arg-type]
        d_l=float(dl),
        d_c=float(dc),
        d_h=float(dh),
        uniformity_de00=uniformity_de00,
        uniformity_tolerance=zone.uniformity_tolerance_de00,
        valid_fraction=float(valid_fraction),
        **extra,
    )


def zone_delta_e_map(
    unit_lab: Any,
    model: ZoneColorModel,
    zone: "ColorZone | str",
    reference_lab: Sequence[float],
    *,
    weights: Sequence[float] | None = None,
    valid: Any = None,
    smooth_px: int = 5,
) -> np.ndarray:
    """Per-pixel ΔE00 of a zone from a reference colour, for report heat maps.

    Parameters
    ----------
    unit_lab : ndarray, shape (H, W, 3), float
        The unit's CIELAB D65 in the golden frame.
    model : ZoneColorModel
        Gives the zone's pixels.
    zone : ColorZone or str
        The zone (or its name).
    reference_lab : (L*, a*, b*)
        Reference CIELAB D65 (the target or ``model.golden_lab(name)``).
    weights : (kL, kC, kH), optional
        Defaults to the zone's weights (1, 1, 1 when only a name is given).
    valid : ndarray (H, W) bool, optional
        Pixels with data; invalid pixels neither enter the smoothing nor get a value.
    smooth_px : int, optional
        Side of the box filter applied to Lab first (normalised over valid zone pixels), so
        that texture grain does not dominate the map; 1 = no smoothing.

    Returns
    -------
    ndarray, shape (H, W), float32
        ΔE00 inside the zone, NaN outside it and on invalid pixels.
    """
    name = zone if isinstance(zone, str) else zone.name
    if weights is None:
        weights = (1.0, 1.0, 1.0) if isinstance(zone, str) else zone.weights
    w = tuple(float(x) for x in weights)
    _check_weights(*w)
    ref = _as_lab(reference_lab, "reference_lab")
    if ref.shape != (3,):
        raise ImageError(f"reference_lab: expected one colour (3,), got shape {ref.shape}")
    if not (isinstance(smooth_px, (int, np.integer)) and smooth_px >= 1):
        raise SpecError(f"smooth_px: expected an int >= 1, got {smooth_px!r}")
    j = model.index(name)
    arr = _check_lab_image(unit_lab, "unit_lab", model.shape_hw_)
    v = _check_valid(valid, "valid", model.shape_hw_)
    g = model._geoms[j]
    sub = arr[g.y0 : g.y1, g.x0 : g.x1]
    ok = g.mask if v is None else g.mask & v[g.y0 : g.y1, g.x0 : g.x1]
    ok = ok & np.isfinite(sub).all(axis=2)
    okf = ok.astype(np.float32)
    vals = np.where(ok[..., None], sub, np.float32(0.0))
    if smooth_px > 1:
        k = (int(smooth_px), int(smooth_px))
        num = cv2.blur(vals, k, borderType=cv2.BORDER_CONSTANT)
        den = cv2.blur(okf, k, borderType=cv2.BORDER_CONSTANT)
        with np.errstate(invalid="ignore", divide="ignore"):
            vals = num / den[..., None]
    de = np.asarray(delta_e_2000(vals, ref, *w), dtype=np.float32)
    out = np.full(model.shape_hw_, np.nan, dtype=np.float32)
    out[g.y0 : g.y1, g.x0 : g.x1] = np.where(ok, de, np.float32(np.nan))
    return out
