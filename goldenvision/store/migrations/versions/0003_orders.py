"""Purchase orders and their timeline of events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("po", sa.String(200), nullable=False),
        sa.Column("supplier", sa.String(200), nullable=False),
        sa.Column("product", sa.String(200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("golden_id", sa.String(64), nullable=False),
        sa.Column("golden_path", sa.Text(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("focus", sa.JSON(), nullable=False),
        sa.Column("created_utc", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["golden_id"], ["goldens.golden_id"], name="fk_orders_golden_id_goldens"),
        sa.PrimaryKeyConstraint("po", name="pk_orders"),
    )
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("po", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("utc", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["po"], ["orders.po"], name="fk_order_events_po_orders"),
        sa.PrimaryKeyConstraint("id", name="pk_order_events"),
    )
    op.create_index("ix_order_events_po", "order_events", ["po"])


def downgrade() -> None:
    op.drop_index("ix_order_events_po", table_name="order_events")
    op.drop_table("order_events")
    op.drop_table("orders")
