"""Listing indexes: a session's (and an agent's) artifacts in page order

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 08:05:00

``GET /v1/artifacts?session_id=...`` pages newest first. With ``(tenant_id, session_id)`` alone
the database read every artifact of the session and sorted them for each page; with the page's
order in the index a page is one range scan from the cursor, as long at the millionth artifact
as at the first.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_artifacts_tenant_id_session_id_created_at_artifact_id": [
        "tenant_id",
        "session_id",
        "created_at",
        "artifact_id",
    ],
    "ix_artifacts_tenant_id_agent_id_created_at_artifact_id": [
        "tenant_id",
        "agent_id",
        "created_at",
        "artifact_id",
    ],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(name, "artifacts", columns)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="artifacts")
