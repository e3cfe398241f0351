"""The outbox by tenant: the console's live feed reads a tenant's newest events

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 02:40:00

The web console's event feed asks for a tenant's newest events (``tenant_id = ? ORDER BY id
DESC``). Without ``(tenant_id, id)`` the database walked the outbox from its newest row back
until it had found enough of that tenant's: in a database shared by many tenants, a quiet
tenant's first page read the whole outbox.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_tenant_id_id", "outbox", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_tenant_id_id", table_name="outbox")
