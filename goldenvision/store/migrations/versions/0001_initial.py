"""Initial results store: goldens, units (with production context), results, metrics.

Revision ID: 0001
Revises:
Create Date: 2026-12-04

Constraint names follow goldenvision.store.models.NAMING_CONVENTION.
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "goldens",
        sa.Column("golden_id", sa.String(64), nullable=False),
        sa.Column("product", sa.String(200), nullable=False),
        sa.Column("revision", sa.String(64), nullable=True),
        sa.Column("manifest_sha256", sa.String(64), nullable=True),
        sa.Column("manifest", sa.JSON(), nullable=True),
        sa.Column("recorded_utc", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("golden_id", name="pk_goldens"),
    )
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("image_sha256", sa.String(64), nullable=False),
        sa.Column("golden_id", sa.String(64), nullable=False),
        sa.Column("file", sa.Text(), nullable=True),
        sa.Column("product", sa.String(200), nullable=False),
        sa.Column("lot", sa.String(200), nullable=True),
        sa.Column("station", sa.String(200), nullable=True),
        sa.Column("shift", sa.String(200), nullable=True),
        sa.Column("operator", sa.String(200), nullable=True),
        sa.Column("material_batch", sa.String(200), nullable=True),
        sa.Column("ambient_temp_c", sa.Float(), nullable=True),
        sa.Column("humidity_pct", sa.Float(), nullable=True),
        sa.Column("recorded_utc", sa.DateTime(), nullable=False),
        sa.Column("scored_utc", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["golden_id"], ["goldens.golden_id"], name="fk_units_golden_id_goldens"),
        sa.PrimaryKeyConstraint("id", name="pk_units"),
        sa.UniqueConstraint("image_sha256", "golden_id", name="uq_units_image_sha256_golden_id"),
    )
    op.create_index("ix_units_product_lot", "units", ["product", "lot"])
    op.create_index("ix_units_recorded_utc", "units", ["recorded_utc"])
    op.create_table(
        "results",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("defect_class", sa.String(16), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name="fk_results_unit_id_units", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("unit_id", name="pk_results"),
    )
    op.create_table(
        "metrics",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("lsl", sa.Float(), nullable=True),
        sa.Column("usl", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name="fk_metrics_unit_id_units", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("unit_id", "name", name="pk_metrics"),
    )
    op.create_index("ix_metrics_name", "metrics", ["name"])


def downgrade() -> None:
    op.drop_index("ix_metrics_name", table_name="metrics")
    op.drop_table("metrics")
    op.drop_table("results")
    op.drop_index("ix_units_recorded_utc", table_name="units")
    op.drop_index("ix_units_product_lot", table_name="units")
    op.drop_table("units")
    op.drop_table("goldens")
