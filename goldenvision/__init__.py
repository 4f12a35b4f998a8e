"""goldenvision: judge manufactured units against a sealed golden sample.

The public API (a contract other tools and the benchmarks call)::

    import goldenvision as gv
    spec = gv.load_spec("spec.yaml")
    golden = gv.seal(images, spec)
    golden.save("sku.golden")
    golden = gv.load_golden("sku.golden")
    inspector = gv.Inspector(golden)       # held by a station or worker: models loaded once
    result = inspector.inspect(image, context={"lot": "L7", "shift": "B"})
    result = gv.inspect(image, golden)     # one unit: a thin wrapper that builds an Inspector
    gv.register(reference, moving)
    gv.delta_e_2000(lab1, lab2, kL=1, kC=1, kH=1)
    gv.aql.plan(lot_size, aql, level="II", severity="normal")
"""

# First: modules that read goldenvision.__version__ during the imports below find it set.
from ._version import __version__  # isort: skip

from . import aql, lots
from .color import delta_e_2000
from .enums import DefectType, Severity
from .errors import (
    CalibrationError,
    GoldenVisionError,
    ImageError,
    IntegrityError,
    MeasurementError,
    ModelError,
    RegistrationError,
    SpecError,
)
from .golden import GoldenSample
from .package import load_golden
from .pipeline import Inspector, inspect, seal
from .registration import register
from .results import (
    ColorResult,
    Defect,
    DimensionResult,
    RegistrationResult,
    UnitResult,
    Verdict,
)
from .spec import Spec, load_spec

__all__ = [
    "__version__",
    "aql",
    "lots",
    "load_spec",
    "Spec",
    "Severity",
    "DefectType",
    "seal",
    "inspect",
    "Inspector",
    "load_golden",
    "GoldenSample",
    "register",
    "delta_e_2000",
    "UnitResult",
    "RegistrationResult",
    "ColorResult",
    "DimensionResult",
    "Defect",
    "Verdict",
    "GoldenVisionError",
    "SpecError",
    "ImageError",
    "CalibrationError",
    "RegistrationError",
    "MeasurementError",
    "IntegrityError",
    "ModelError",
]
