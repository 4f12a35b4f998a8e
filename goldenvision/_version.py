"""The single source of goldenvision's version string.

Every module that records the software version (results, manifests, reports) imports it
from here, never from the package ``__init__`` (which imports those modules: a cycle).
``pyproject.toml`` keeps its own static copy; ``tests/test_imports.py`` checks that both agree.
"""

__version__ = "0.1.0"
