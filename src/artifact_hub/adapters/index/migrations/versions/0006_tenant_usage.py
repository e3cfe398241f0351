"""tenant_usage: storage counters per tenant, kept by the projection; expiry index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 08:00:00

``tenant_usage`` holds, per tenant, the bytes and the number of the versions that are not
deleted, of the artifacts that are neither deleted nor purged (``PlanLimits.check_quota`` reads
it instead of summing every version). It is backfilled here from the rows already there. The
``(tenant_id, expires_at)`` index finds the expired artifacts the sweeper has not purged yet,
which the quota check subtracts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_usage",
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("versions", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_usage")),
    )
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_artifacts_tenant_id_expires_at"), ["tenant_id", "expires_at"]
        )
    op.execute(
        "INSERT INTO tenant_usage (tenant_id, bytes, versions) "
        "SELECT a.tenant_id, SUM(v.size_bytes), COUNT(*) "
        "FROM artifact_versions v JOIN artifacts a ON a.artifact_id = v.artifact_id "
        "WHERE a.deleted_at IS NULL AND a.purged_at IS NULL AND v.deleted_at IS NULL "
        "GROUP BY a.tenant_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifacts_tenant_id_expires_at"))
    op.drop_table("tenant_usage")
