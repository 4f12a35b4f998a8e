"""Tables of purchase orders and their timeline, on the results store's metadata (migration 0003).

``orders``
    One row per purchase order: supplier, product, quantity, the golden it was opened
    against (id and where the package lies), its state, and the buyer's focus list
    (characteristics the PPS decision asked later inspections to watch).
``order_events``
    The order's timeline, append-only: opened, PPS proposed, PPS decided (signed), lot
    attached (with its verdict), dossier written. Each event keeps its JSON payload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..store.models import Base

__all__ = ["Order", "OrderEvent"]


class Order(Base):
    __tablename__ = "orders"

    po: Mapped[str] = mapped_column(String(200), primary_key=True)
    supplier: Mapped[str] = mapped_column(String(200))
    product: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    golden_id: Mapped[str] = mapped_column(ForeignKey("goldens.golden_id"))
    golden_path: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))
    focus: Mapped[Any] = mapped_column(JSON)
    created_utc: Mapped[datetime] = mapped_column(DateTime)


class OrderEvent(Base):
    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    po: Mapped[str] = mapped_column(ForeignKey("orders.po"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    utc: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[Any] = mapped_column(JSON)
