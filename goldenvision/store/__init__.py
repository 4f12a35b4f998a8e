"""The results store: goldens, units with their production context, results and SPC metrics.

SQLite by default (WAL mode, a busy timeout), PostgreSQL by URL (``postgresql+psycopg://``).
The schema is managed by the Alembic migrations shipped in ``goldenvision/store/migrations``;
:func:`open_store` upgrades an older database and refuses one from a newer goldenvision.

Examples
--------
>>> from goldenvision.store import open_store
>>> store = open_store("sqlite:///results.db")                       # doctest: +SKIP
>>> store.record_result(result.to_dict(), context={"lot": "L7"})      # doctest: +SKIP
>>> store.results(lot="L7")                                           # doctest: +SKIP
"""

from .core import DEFAULT_URL, MIGRATIONS_DIR, Store, for_writing, open_store, validate_context
from .errors import ContextError, ResultDataError, SchemaVersionError, StoreError, StoreUnavailableError
from .metrics import lab_deltas_1976, unit_metrics
from .models import CONTEXT_COLUMNS, NAMING_CONVENTION

__all__ = [
    "Store",
    "open_store",
    "for_writing",
    "validate_context",
    "unit_metrics",
    "lab_deltas_1976",
    "DEFAULT_URL",
    "MIGRATIONS_DIR",
    "CONTEXT_COLUMNS",
    "NAMING_CONVENTION",
    "StoreError",
    "StoreUnavailableError",
    "SchemaVersionError",
    "ContextError",
    "ResultDataError",
]
