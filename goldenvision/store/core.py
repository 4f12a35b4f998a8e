"""The results store: open (and migrate) a database, record goldens and unit results, read them back."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, UTC
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect as sa_inspect, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, IntegrityError as SAIntegrityError, NoSuchModuleError, OperationalError
from sqlalchemy.exc import InterfaceError
from sqlalchemy.orm import Session, selectinload

from .errors import ContextError, ResultDataError, SchemaVersionError, StoreError, StoreUnavailableError
from ..errors import SpecError
from .metrics import unit_metrics
from .models import CONTEXT_COLUMNS, Golden, Metric, Result, Unit

__all__ = ["Store", "open_store", "validate_context", "DEFAULT_URL", "MIGRATIONS_DIR", "SQLITE_BUSY_TIMEOUT_MS"]

#: Used when no URL is given: a SQLite file in the working directory.
DEFAULT_URL = "sqlite:///goldenvision.db"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: How long a SQLite writer waits for another writer's lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Connection timeout for server databases.
CONNECT_TIMEOUT_S = 5
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MIGRATION_LOCK_KEY = 0x67760001  # pg_advisory_xact_lock key of goldenvision store migrations


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _parse_url(url: str | Path | None) -> URL:
    if url is None:
        url = DEFAULT_URL
    if isinstance(url, Path) or "://" not in str(url):
        return URL.create("sqlite", database=str(Path(url).expanduser().resolve()))
    try:
        parsed = make_url(str(url))
    except ArgumentError as exc:
        raise StoreError(f"database URL {url!r}: expected e.g. sqlite:///path/results.db or "
                         f"postgresql+psycopg://user@host/db ({exc})") from None
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("psycopg2", ""):
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is what we depend on
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"database URL {parsed.render_as_string(hide_password=True)!r}: expected a sqlite:// or "
                         f"postgresql+psycopg:// URL, got backend {parsed.get_backend_name()!r}")
    return parsed


def _alembic_config(connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def validate_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a unit's production context and return it with every known field (None if absent).

    Parameters
    ----------
    context : mapping or None
        Keys among ``product, lot, station, shift, operator, material_batch`` (str) and
        ``ambient_temp_c`` (°C), ``humidity_pct`` (% relative humidity, 0-100) (int or float),
        checked by :func:`goldenvision.context.validate_context`; other keys (str values, a
        site's own labels) are allowed and kept in the result's JSON, not in columns.
        None values mean "not known".

    Raises
    ------
    ContextError
        An unknown key or a value of the wrong type or range; the message names the field,
        what was expected and what came.
    """
    if context is None:
        context = {}
    if not isinstance(context, Mapping):
        raise ContextError(f"context: expected a dict of {sorted(CONTEXT_COLUMNS)}, got {type(context).__name__}")
    from ..context import validate_context as check_context  # the one rule for context, shared with the pipeline

    try:
        check_context({k: v for k, v in context.items() if v is not None})
    except SpecError as exc:
        raise ContextError(str(exc)) from None
    # A site's own keys (str values) stay in the stored result's JSON; the known ones get columns.
    out: dict[str, Any] = {}
    for key, typ in CONTEXT_COLUMNS.items():
        value = context.get(key)
        if value is None:
            out[key] = None
        elif typ is str:
            if not isinstance(value, str):
                raise ContextError(f"context[{key!r}]: expected a string, got {type(value).__name__} {value!r}")
            if not value.strip() or len(value) > 200:
                raise ContextError(f"context[{key!r}]: expected 1-200 characters, got {value!r}")
            out[key] = value
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ContextError(f"context[{key!r}]: expected a number, got {type(value).__name__} {value!r}")
            v = float(value)
            if not math.isfinite(v):
                raise ContextError(f"context[{key!r}]: expected a finite number, got {value!r}")
            if key == "humidity_pct" and not 0.0 <= v <= 100.0:
                raise ContextError(f"context['humidity_pct']: expected 0-100 % relative humidity, got {v}")
            if key == "ambient_temp_c" and not -60.0 <= v <= 100.0:
                raise ContextError(f"context['ambient_temp_c']: expected -60 to 100 °C, got {v}")
            out[key] = v
    return out


def _json_safe(value: Any, where: str) -> Any:
    from ..results import jsonable

    plain = jsonable(value)
    try:
        return json.loads(json.dumps(plain, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ResultDataError(f"{where}: expected JSON-serialisable values, got {exc}") from None


def _since(value: str | datetime | date | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise StoreError(f"since={value!r}: expected an ISO 8601 date or time, e.g. 2026-12-04 or "
                             f"2026-12-04T08:00:00Z") from None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise StoreError(f"since: expected an ISO 8601 string, a date or a datetime, got {type(value).__name__}")


class Store:
    """A results store on SQLite (default) or PostgreSQL.

    Parameters
    ----------
    url : str, Path or None
        ``sqlite:///path.db``, a plain file path (SQLite), or ``postgresql+psycopg://user:pw@host:port/db``.
        None: :data:`DEFAULT_URL`.
    migrate : bool
        Bring an older schema up to date (the default). With False an out-of-date schema
        raises :class:`SchemaVersionError` instead.

    Raises
    ------
    StoreError
        A malformed URL or an unsupported backend.
    StoreUnavailableError
        The database cannot be reached or opened.
    SchemaVersionError
        The database was written by a newer goldenvision (a schema revision this one does
        not know) or holds tables that are not a goldenvision store.

    Notes
    -----
    SQLite runs in WAL mode (readers never block the writer) with a busy timeout of
    :data:`SQLITE_BUSY_TIMEOUT_MS`, and enforces foreign keys. Every write is one transaction.
    """

    def __init__(self, url: str | Path | None = None, *, migrate: bool = True) -> None:
        parsed = _parse_url(url)
        self.url = parsed.render_as_string(hide_password=True)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"future": True}
        if self.dialect == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
            kwargs["pool_pre_ping"] = True
        else:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000.0}
        try:
            self.engine: Engine = create_engine(parsed, **kwargs)
        except (NoSuchModuleError, ImportError) as exc:
            raise StoreUnavailableError(f"database {self.url}: no driver for it ({exc}); "
                                        f"install psycopg[binary] for PostgreSQL") from None
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        # writers take the write lock up front (SQLite: BEGIN IMMEDIATE), so a read-then-write
        # transaction never fails on a lock upgrade; readers keep plain deferred transactions
        self._writer = for_writing(self.engine)
        try:
            self.revision = self._migrate(migrate)
        except (OperationalError, InterfaceError) as exc:
            self.engine.dispose()
            cause = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StoreUnavailableError(f"database {self.url}: cannot connect or open it ({cause})") from None
        except BaseException:
            self.engine.dispose()
            raise

    # -- schema -----------------------------------------------------------------------
    def _migrate(self, migrate: bool) -> str:
        with self._writer.begin() as conn:
            if self.dialect == "postgresql":  # one migrator at a time when several processes start together
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            cfg = _alembic_config(conn)
            script = ScriptDirectory.from_config(cfg)
            head = script.get_current_head()
            if head is None:  # pragma: no cover - the package ships its migrations
                raise SchemaVersionError("goldenvision store migrations: expected a head revision, found none")
            current = MigrationContext.configure(conn).get_current_revision()
            known = {r.revision for r in script.walk_revisions()}
            if current is not None and current not in known:
                raise SchemaVersionError(
                    f"database {self.url}: schema revision {current!r} is newer than this goldenvision knows "
                    f"(latest {head!r}); upgrade goldenvision to read it, the database was left untouched")
            if current is None:
                tables = set(sa_inspect(conn).get_table_names()) & {"goldens", "units", "results", "metrics"}
                if tables:
                    raise SchemaVersionError(
                        f"database {self.url}: has table(s) {sorted(tables)} but no goldenvision schema revision; "
                        f"expected an empty database or a goldenvision store")
            if current != head:
                if not migrate:
                    raise SchemaVersionError(f"database {self.url}: schema revision {current!r}, expected {head!r}; "
                                             f"open it with migrate=True to upgrade")
                command.upgrade(cfg, "head")
        return head

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r}, revision={self.revision!r})"

    # -- writes -----------------------------------------------------------------------
    def record_golden(self, golden_id: str, product: str, manifest: Mapping[str, Any] | None = None, *,
                      revision: str | None = None, manifest_sha256: str | None = None) -> None:
        """Record (or update) a golden sample; re-recording the same id replaces its row.

        Parameters
        ----------
        golden_id : str
            The package's ``golden_id`` (a UUID string).
        product : str
            The spec's product name.
        manifest : mapping or None
            The package manifest (JSON-serialisable); ``revision`` and ``manifest_sha256``
            are taken from it when not given.
        """
        if not isinstance(golden_id, str) or not golden_id or len(golden_id) > 64:
            raise ResultDataError(f"golden_id: expected a string of 1-64 characters, got {golden_id!r}")
        if not isinstance(product, str) or not product.strip():
            raise ResultDataError(f"product: expected a non-empty string, got {product!r}")
        manifest_json = None if manifest is None else _json_safe(manifest, "manifest")
        m = manifest_json or {}
        with Session(self._writer) as s, s.begin():
            row = s.get(Golden, golden_id)
            if row is None:
                row = Golden(golden_id=golden_id, recorded_utc=_utcnow())
                s.add(row)
            row.product = product
            row.revision = revision or m.get("revision") or row.revision
            row.manifest_sha256 = manifest_sha256 or m.get("manifest_sha256") or row.manifest_sha256
            row.manifest = manifest_json if manifest_json is not None else row.manifest

    def record_result(self, result: Mapping[str, Any] | Any, *, golden_id: str | None = None,
                      file: str | Path | None = None, image_sha256: str | None = None,
                      context: Mapping[str, Any] | None = None, evidence: Mapping[str, Any] | None = None) -> int:
        """Record one unit's result; idempotent by (image sha256, golden id).

        Re-scoring a photo against the same golden replaces its result, context and metrics
        in place (the unit keeps its id, hence its place in production order); nothing is
        duplicated. Everything is checked before anything is written, and the write is one
        transaction.

        Parameters
        ----------
        result : mapping or UnitResult
            ``UnitResult.to_dict()`` (a ``UnitResult`` is converted).
        golden_id : str or None
            Default: ``result['provenance']['golden_id']``.
        file : str, Path or None
            The photo's file name or path. Default: ``result['unit_id']``.
        image_sha256 : str or None
            64 lower-case hex digits. Default: ``result['image_sha256']`` or
            ``result['provenance']['image_sha256']``.
        context : mapping or None
            Production context (see :func:`validate_context`); overrides ``result['context']``
            field by field. The product defaults to the provenance's, then the golden's.
        evidence : mapping or None
            Paths of evidence images (overlay, heat map, ...), stored as given.

        Returns
        -------
        int
            The unit's id in the store.
        """
        if hasattr(result, "to_dict") and not isinstance(result, Mapping):
            result = result.to_dict()
        if not isinstance(result, Mapping):
            raise ResultDataError(f"result: expected UnitResult.to_dict() (a dict), got {type(result).__name__}")
        prov = result.get("provenance") or {}
        if not isinstance(prov, Mapping):
            raise ResultDataError(f"result['provenance']: expected a dict, got {type(prov).__name__}")
        merged = dict(validate_context(result.get("context")))
        for k, v in validate_context(context).items():
            if v is not None or context is not None and k in context:
                merged[k] = v
        golden_id = golden_id or prov.get("golden_id")
        if not isinstance(golden_id, str) or not golden_id or len(golden_id) > 64:
            raise ResultDataError(f"golden_id: expected the golden's id (argument or result['provenance']"
                                  f"['golden_id']), got {golden_id!r}")
        sha = image_sha256 or result.get("image_sha256") or prov.get("image_sha256")
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise ResultDataError(f"image_sha256: expected 64 lower-case hex digits (argument, result['image_sha256'] "
                                  f"or provenance), got {sha!r}")
        verdict = result.get("verdict")
        if verdict not in ("pass", "fail", "review"):
            raise ResultDataError(f"result['verdict']: expected 'pass', 'fail' or 'review', got {verdict!r}")
        reasons = result.get("reasons") or []
        if not isinstance(reasons, (list, tuple)) or not all(isinstance(r, str) for r in reasons):
            raise ResultDataError(f"result['reasons']: expected a list of strings, got {reasons!r}")
        file = file if file is not None else result.get("unit_id")
        metrics = unit_metrics(result)
        result_json = _json_safe(result, "result")
        evidence_json = None if evidence is None else _json_safe(evidence, "evidence")
        now = _utcnow()
        for attempt in (0, 1):
            try:
                with Session(self._writer) as s, s.begin():
                    golden = s.get(Golden, golden_id)
                    product = merged["product"] or prov.get("product") or (golden.product if golden else None)
                    if not isinstance(product, str) or not product.strip():
                        raise ContextError(f"context['product']: unknown for image {sha[:12]}...; give it in the "
                                           f"context, the result's provenance or record_golden first")
                    if golden is None:
                        s.add(Golden(golden_id=golden_id, product=product, revision=prov.get("revision"),
                                     manifest_sha256=prov.get("manifest_sha256"), manifest=None, recorded_utc=now))
                        s.flush()
                    unit = s.scalars(select(Unit).where(Unit.image_sha256 == sha, Unit.golden_id == golden_id)
                                     .options(selectinload(Unit.metrics), selectinload(Unit.result))).one_or_none()
                    if unit is None:
                        unit = Unit(image_sha256=sha, golden_id=golden_id, recorded_utc=now)
                        s.add(unit)
                    else:
                        unit.metrics.clear()
                        unit.result = None
                        s.flush()
                    unit.file = None if file is None else str(file)
                    unit.scored_utc = now
                    for k, v in merged.items():
                        setattr(unit, k, v)
                    unit.product = product
                    unit.result = Result(verdict=verdict, defect_class=result.get("defect_class"),
                                         reasons=list(reasons), result=result_json,
                                         provenance=result_json.get("provenance"), evidence=evidence_json)
                    unit.metrics = [Metric(name=n, value=v, lsl=lo, usl=hi) for n, v, lo, hi in metrics]
                    s.flush()
                    return unit.id
            except SAIntegrityError:
                if attempt:  # a concurrent writer inserted the same unit; the retry updates it
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reads ------------------------------------------------------------------------
    def results(self, *, lot: str | None = None, since: str | datetime | date | None = None,
                product: str | None = None, golden_id: str | None = None) -> list[dict[str, Any]]:
        """Units in production order (store id), each a dict.

        Parameters
        ----------
        lot, product, golden_id : str or None
            Keep only units with this lot, product or golden.
        since : ISO 8601 str, date or datetime, or None
            Keep only units first recorded at or after this time (naive times are UTC).

        Returns
        -------
        list of dict
            Keys: ``unit`` (store id), ``image_sha256``, ``file``, ``golden_id``, ``product``,
            ``verdict``, ``defect_class``, ``reasons``, ``context`` (every context field),
            ``metrics`` (name -> value), ``limits`` (name -> [lsl, usl]), ``recorded_utc``,
            ``scored_utc`` (ISO 8601, UTC), ``evidence`` and ``result`` (the stored dict).
        """
        q = select(Unit).options(selectinload(Unit.metrics), selectinload(Unit.result)).order_by(Unit.id)
        if lot is not None:
            q = q.where(Unit.lot == lot)
        if product is not None:
            q = q.where(Unit.product == product)
        if golden_id is not None:
            q = q.where(Unit.golden_id == golden_id)
        t = _since(since)
        if t is not None:
            q = q.where(Unit.recorded_utc >= t)
        out = []
        with Session(self.engine) as s:
            for u in s.scalars(q):
                r = u.result
                assert r is not None  # record_result writes a unit and its result together
                out.append({
                    "unit": u.id,
                    "image_sha256": u.image_sha256,
                    "file": u.file,
                    "golden_id": u.golden_id,
                    "product": u.product,
                    "verdict": r.verdict,
                    "defect_class": r.defect_class,
                    "reasons": list(r.reasons),
                    "context": {k: getattr(u, k) for k in CONTEXT_COLUMNS},
                    "metrics": {m.name: m.value for m in sorted(u.metrics, key=lambda m: m.name)},
                    "limits": {m.name: [m.lsl, m.usl] for m in sorted(u.metrics, key=lambda m: m.name)},
                    "recorded_utc": u.recorded_utc.isoformat() + "Z",
                    "scored_utc": u.scored_utc.isoformat() + "Z",
                    "evidence": r.evidence,
                    "result": r.result,
                })
        return out

    def has_result(self, image_sha256: str, golden_id: str) -> bool:
        """Whether a result for this photo (by sha256) against this golden is stored."""
        with Session(self.engine) as s:
            q = select(Unit.id).where(Unit.image_sha256 == image_sha256, Unit.golden_id == golden_id).limit(1)
            return s.scalar(q) is not None

    def goldens(self) -> list[dict[str, Any]]:
        """Recorded goldens: golden_id, product, revision, manifest_sha256, recorded_utc."""
        with Session(self.engine) as s:
            return [{"golden_id": g.golden_id, "product": g.product, "revision": g.revision,
                     "manifest_sha256": g.manifest_sha256, "recorded_utc": g.recorded_utc.isoformat() + "Z"}
                    for g in s.scalars(select(Golden).order_by(Golden.recorded_utc, Golden.golden_id))]

    def count(self) -> int:
        """Number of units stored."""
        from sqlalchemy import func

        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(Unit)) or 0)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # let SQLAlchemy, not the sqlite3 module, emit BEGIN, so DDL (migrations) is transactional too
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def for_writing(engine: Engine) -> Engine:
    """The engine whose transactions take the write lock up front (SQLite ``BEGIN IMMEDIATE``).

    A read-then-write transaction on SQLite that began deferred can fail at once with
    "database is locked" when another writer committed in between (the busy timeout does
    not apply to that case); one that begins immediate waits its turn. PostgreSQL ignores
    the option.
    """
    return engine.execution_options(gv_sqlite_begin="IMMEDIATE")


def _sqlite_begin(conn) -> None:
    mode = conn.get_execution_options().get("gv_sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def open_store(url: str | Path | None = None, *, migrate: bool = True) -> Store:
    """Open a results store (creating and migrating it as needed); see :class:`Store`."""
    return Store(url, migrate=migrate)
