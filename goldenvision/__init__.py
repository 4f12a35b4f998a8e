"""goldenvision: judge manufactured units against a sealed golden sample.

The public API (a contract other tools and the benchmarks call)::

    import goldenvision as gv
    spec = gv.load_spec("spec.yaml")
    golden = gv.seal(images, spec)
    golden.save("sku.golden")
    golden = gv.load_golden("sku.golden")
    result = gv.inspect(image, golden)
    gv.register(reference, moving)
    gv.delta_e_2000(lab1, lab2, kL=1, kC=1, kH=1)
    gv.aql.plan(lot_size, aql, level="II", severity="normal")
"""

__version__ = "0.1.0"

from . import aql, lots  # noqa: E402
from .color import delta_e_2000  # noqa: E402
from .errors import (  # noqa: E402
    CalibrationError,
    GoldenVisionError,
    ImageError,
    IntegrityError,
    MeasurementError,
    ModelError,
    RegistrationError,
    SpecError,
)
from .golden import GoldenSample  # noqa: E402
from .package import load_golden  # noqa: E402
from .pipeline import Inspector, inspect, seal  # noqa: E402
from .registration import register  # noqa: E402
from .results import (  # noqa: E402
    ColorResult,
    Defect,
    DimensionResult,
    RegistrationResult,
    UnitResult,
    Verdict,
)
from .spec import Severity, Spec, load_spec  # noqa: E402

__all__ = [
    "__version__",
    "aql",
    "lots",
    "load_spec",
    "Spec",
    "Severity",
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
