"""Upload service: API keys (hashes only), lots with their plan and sample, photos per lot.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_utc", sa.DateTime(), nullable=False),
        sa.Column("revoked_utc", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_table(
        "lots",
        sa.Column("lot_id", sa.String(64), nullable=False),
        sa.Column("product", sa.String(200), nullable=False),
        sa.Column("golden_id", sa.String(64), nullable=False),
        sa.Column("lot_size", sa.Integer(), nullable=False),
        sa.Column("supplier", sa.String(200), nullable=True),
        sa.Column("po", sa.String(200), nullable=True),
        sa.Column("inspection_type", sa.String(16), nullable=False),
        sa.Column("aql", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("sample", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_utc", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["golden_id"], ["goldens.golden_id"], name="fk_lots_golden_id_goldens"),
        sa.PrimaryKeyConstraint("lot_id", name="pk_lots"),
    )
    op.create_table(
        "lot_photos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lot_id", sa.String(64), nullable=False),
        sa.Column("image_sha256", sa.String(64), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_utc", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.lot_id"], name="fk_lot_photos_lot_id_lots"),
        sa.PrimaryKeyConstraint("id", name="pk_lot_photos"),
        sa.UniqueConstraint("lot_id", "image_sha256", name="uq_lot_photos_lot_id_image_sha256"),
    )


def downgrade() -> None:
    op.drop_table("lot_photos")
    op.drop_table("lots")
    op.drop_table("api_keys")
