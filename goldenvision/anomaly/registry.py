"""The zone methods by name (one module per family, dispatched here).

``auto`` is not a method: it resolves per zone (:func:`resolve`) to ``texture_variation``
for zones whose ``defect_type`` is in :data:`TEXTURE_DEFECT_TYPES` and to ``variation``
otherwise.
"""

from __future__ import annotations

from ..errors import ModelError, SpecError
from ..spec import AnomalyZone
from .zone_features import PadimMethod, PatchCoreMethod, TextureMethod
from .zone_variation import TextureVariationMethod, VariationMethod

__all__ = ["REGISTRY", "METHODS", "TEXTURE_DEFECT_TYPES", "get_method", "resolve"]

#: name -> zone method (``floor``, ``uses_features``; ``raw`` or ``cells``).
REGISTRY = {m.name: m for m in (VariationMethod(), TextureVariationMethod(), PatchCoreMethod(), PadimMethod(),
                                TextureMethod())}
METHODS = ("auto", *REGISTRY)
#: Zone defect types whose surface is a texture with no fixed geometry (``auto`` ->
#: ``texture_variation``): every physical unit has its own leather grain / weave.
TEXTURE_DEFECT_TYPES = ("finish",)


def get_method(name: str):
    """The zone method registered as ``name``; SpecError names the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise SpecError(f"anomaly method={name!r}; expected one of {list(METHODS)}") from None


def resolve(method: str, zone: AnomalyZone) -> str:
    """The concrete method of ``zone`` (``auto`` resolved); ModelError when it needs a missing backbone."""
    from .backbone import backbone_available

    if method == "auto":
        dt = getattr(zone.defect_type, "value", zone.defect_type)
        return "texture_variation" if dt in TEXTURE_DEFECT_TYPES else "variation"
    if get_method(method).uses_features and not backbone_available():
        raise ModelError(f"anomaly_zones[{zone.name}].method={method!r} needs the ONNX backbone, which is missing")
    return method
