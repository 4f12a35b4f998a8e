"""The end-of-line station: a hot folder or a camera in, a verdict per unit, every photo stored once.

See :class:`~goldenvision.station.core.Station` (the loop and its exactly-once rules),
:class:`~goldenvision.station.hotfolder.HotFolder` (claiming files) and
:mod:`goldenvision.station.web` (the operator page).
"""

from .camera import GenICamCamera, OpenCVCamera, open_camera
from .core import Station, StationConfig, UnitRecord, focus_ratio
from .hotfolder import HotFolder, is_complete
from .web import OperatorServer

__all__ = [
    "Station", "StationConfig", "UnitRecord", "focus_ratio", "HotFolder", "is_complete",
    "OperatorServer", "OpenCVCamera", "GenICamCamera", "open_camera",
]
