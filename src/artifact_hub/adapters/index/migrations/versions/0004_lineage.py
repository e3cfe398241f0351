"""lineage: the run and step that saved each artifact version, and its inputs (issue 5)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import artifact_hub.adapters.index.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_lineage",
        sa.Column("artifact_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=200), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=True),
        sa.Column("step_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", artifact_hub.adapters.index.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("artifact_id", "version", name=op.f("pk_artifact_lineage")),
    )
    with op.batch_alter_table("artifact_lineage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_artifact_lineage_tenant_id_run_id"), ["tenant_id", "run_id"]
        )
    op.create_table(
        "lineage_inputs",
        sa.Column("artifact_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("input_artifact_id", sa.String(length=64), nullable=False),
        sa.Column("input_version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint(
            "artifact_id",
            "version",
            "input_artifact_id",
            "input_version",
            name=op.f("pk_lineage_inputs"),
        ),
    )
    with op.batch_alter_table("lineage_inputs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lineage_inputs_input_artifact_id_tenant_id"),
            ["input_artifact_id", "tenant_id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("lineage_inputs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lineage_inputs_input_artifact_id_tenant_id"))
    op.drop_table("lineage_inputs")
    with op.batch_alter_table("artifact_lineage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifact_lineage_tenant_id_run_id"))
    op.drop_table("artifact_lineage")
