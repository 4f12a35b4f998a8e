"""Tables of the upload service, on the results store's metadata (migration 0002).

``api_keys``
    One row per key: its public id, the SHA-256 of its secret (the secret itself is shown
    once and never stored), name, role, scopes, and when it was made and revoked.
``lots``
    One row per lot created through the service: product, golden, lot size, supplier, PO,
    inspection type, AQL settings, the ISO 2859-1 plan and the seeded sample drawn.
``lot_photos``
    One row per photo uploaded to a lot (unique by lot and image sha256): the sanitised file
    name, where it lies under ``--data``, and whether it has been scored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..store.models import Base

__all__ = ["ApiKey", "Lot", "LotPhoto"]


class ApiKey(Base):
    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[Any] = mapped_column(JSON)
    created_utc: Mapped[datetime] = mapped_column(DateTime)
    revoked_utc: Mapped[datetime | None] = mapped_column(DateTime)


class Lot(Base):
    __tablename__ = "lots"

    lot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product: Mapped[str] = mapped_column(String(200))
    golden_id: Mapped[str] = mapped_column(ForeignKey("goldens.golden_id"))
    lot_size: Mapped[int] = mapped_column(Integer)
    supplier: Mapped[str | None] = mapped_column(String(200))
    po: Mapped[str | None] = mapped_column(String(200))
    inspection_type: Mapped[str] = mapped_column(String(16))
    aql: Mapped[Any] = mapped_column(JSON)
    plan: Mapped[Any] = mapped_column(JSON)
    sample: Mapped[Any] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(32))
    created_utc: Mapped[datetime] = mapped_column(DateTime)


class LotPhoto(Base):
    __tablename__ = "lot_photos"
    __table_args__ = (UniqueConstraint("lot_id", "image_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.lot_id"))
    image_sha256: Mapped[str] = mapped_column(String(64))
    file: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # queued | scored | failed
    error: Mapped[str | None] = mapped_column(Text)
    received_utc: Mapped[datetime] = mapped_column(DateTime)
