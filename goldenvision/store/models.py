"""SQLAlchemy 2 tables of the results store.

Four tables:

``goldens``
    One row per sealed golden (id, product, revision, manifest sha256, the manifest itself).
``units``
    One row per (image sha256, golden id): the photo's file name and its production context
    (product, lot, station, shift, operator, material batch, ambient temperature and
    humidity). Re-scoring a photo against the same golden updates this row in place, so the
    unit keeps its place in production order (``id``).
``results``
    One row per unit: verdict, defect class, reasons, the whole ``UnitResult.to_dict()``,
    provenance and evidence paths.
``metrics``
    The long table SPC reads: (unit, metric name, value) plus the metric's specification
    limits when it has any (``lsl``, ``usl``). Names are ``color.<zone>.de00``,
    ``color.<zone>.dL``, ``color.<zone>.dC``, ``color.<zone>.dH``, ``dimension.<name>.mm``
    and ``anomaly.<zone>.score`` (see :mod:`goldenvision.store.metrics`).

Every constraint is named by :data:`NAMING_CONVENTION` (from the first migration on), so
later Alembic migrations can alter them by name on SQLite (batch mode) and PostgreSQL alike.
Timestamps are naive UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..context import CONTEXT_KEYS

__all__ = ["NAMING_CONVENTION", "Base", "Golden", "Unit", "Result", "Metric", "CONTEXT_COLUMNS"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Context fields stored as columns of ``units``, with their Python type: the known keys of
#: :data:`goldenvision.context.CONTEXT_KEYS` (one definition for the pipeline and the store).
CONTEXT_COLUMNS: dict[str, type] = dict(CONTEXT_KEYS)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Golden(Base):
    __tablename__ = "goldens"

    golden_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product: Mapped[str] = mapped_column(String(200))
    revision: Mapped[str | None] = mapped_column(String(64))
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    manifest: Mapped[Any | None] = mapped_column(JSON)
    recorded_utc: Mapped[datetime] = mapped_column(DateTime)


class Unit(Base):
    __tablename__ = "units"
    __table_args__ = (
        UniqueConstraint("image_sha256", "golden_id"),
        Index(None, "product", "lot"),
        Index(None, "recorded_utc"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_sha256: Mapped[str] = mapped_column(String(64))
    golden_id: Mapped[str] = mapped_column(ForeignKey("goldens.golden_id"))
    file: Mapped[str | None] = mapped_column(Text)
    product: Mapped[str] = mapped_column(String(200))
    lot: Mapped[str | None] = mapped_column(String(200))
    station: Mapped[str | None] = mapped_column(String(200))
    shift: Mapped[str | None] = mapped_column(String(200))
    operator: Mapped[str | None] = mapped_column(String(200))
    material_batch: Mapped[str | None] = mapped_column(String(200))
    ambient_temp_c: Mapped[float | None] = mapped_column(Float)
    humidity_pct: Mapped[float | None] = mapped_column(Float)
    recorded_utc: Mapped[datetime] = mapped_column(DateTime)
    scored_utc: Mapped[datetime] = mapped_column(DateTime)

    result: Mapped["Result | None"] = relationship(back_populates="unit", cascade="all, delete-orphan",
                                                   passive_deletes=True, uselist=False)
    metrics: Mapped[list["Metric"]] = relationship(back_populates="unit", cascade="all, delete-orphan",
                                                   passive_deletes=True)


class Result(Base):
    __tablename__ = "results"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(16))
    defect_class: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[Any] = mapped_column(JSON)
    result: Mapped[Any] = mapped_column(JSON)
    provenance: Mapped[Any | None] = mapped_column(JSON)
    evidence: Mapped[Any | None] = mapped_column(JSON)

    unit: Mapped[Unit] = relationship(back_populates="result")


class Metric(Base):
    __tablename__ = "metrics"
    __table_args__ = (Index(None, "name"),)

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    lsl: Mapped[float | None] = mapped_column(Float)
    usl: Mapped[float | None] = mapped_column(Float)

    unit: Mapped[Unit] = relationship(back_populates="metrics")
