"""The demo's product zoo: families beside the wallet, each deterministic and with ground truth.

``FAMILIES`` maps a family name to its design (:class:`.base.Family`); :func:`.lot.generate_zoo_lot`
writes a lot of one family in one photo mode ("station" or "handheld"); the public entry is
:func:`goldenvision.demo.generate_lot` with ``family=`` and ``mode=``.

Families: ``label`` (:mod:`.label`, a printed label with text and a barcode), ``part``
(:mod:`.part`, a moulded plate with holes and edges) and ``apparel`` (:mod:`.apparel`, a woven
panel with a two-colour print and seams) ``hardware`` (:mod:`.hardware`, a metal zipper) and ``jewellery`` (:mod:`.jewellery`, a plated
pendant with set stones); ``ceramic`` (:mod:`.ceramic`, a glazed dish with a gold band and a
decal) was held out until session 8; ``pcba`` (:mod:`.pcba`, an assembled circuit board),
``wood`` (:mod:`.wood`, an oiled oak board with its own grain on every unit, a laser-engraved mark
and a drilled hole) and ``sole`` (:mod:`.sole`, a moulded black rubber outsole piece with its tread,
lettering and fixing holes) are the held-out families that nobody tunes to.
"""

from __future__ import annotations

from .apparel import ApparelFamily
from .ceramic import CeramicFamily
from .base import MODES, Family, ZooDefect, ZooUnit
from .camera import (
    camera_of,
    handheld_homography,
    light_field,
    marker_points_mm,
    photograph_unit,
    pose_of,
    product_texture,
    zoo_pose,
)
from .hardware import HardwareFamily
from .jewellery import JewelleryFamily
from .label import LabelFamily
from .lot import build_zoo_spec, generate_zoo_lot, golden_px_of, make_zoo_unit, zoo_golden_capture, zoo_truth
from .part import PartFamily
from .pcba import PcbaFamily
from .sole import SoleFamily
from .wood import WoodFamily

#: Zoo families by name (the wallet is the demo's own product, see goldenvision.demo).
FAMILIES: dict[str, Family] = {f.name: f for f in (LabelFamily(), PartFamily(), ApparelFamily(), HardwareFamily(), JewelleryFamily(), CeramicFamily(), PcbaFamily(),
                                                WoodFamily(), SoleFamily())}

__all__ = ["FAMILIES", "MODES", "Family", "ZooDefect", "ZooUnit", "LabelFamily", "PartFamily", "ApparelFamily", "HardwareFamily", "JewelleryFamily", "CeramicFamily", "PcbaFamily", "WoodFamily", "SoleFamily", "build_zoo_spec",
           "camera_of", "generate_zoo_lot", "golden_px_of", "handheld_homography", "light_field", "make_zoo_unit",
           "marker_points_mm", "photograph_unit", "pose_of", "product_texture", "zoo_golden_capture", "zoo_pose",
           "zoo_truth"]
