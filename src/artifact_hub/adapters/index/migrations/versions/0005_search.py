"""search documents, full-text indexes and embedding vectors

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 19:45:00

SQLite gets an FTS5 table (BM25 ranking, Porter stemming); PostgreSQL a generated ``tsvector``
column with a GIN index (``ts_rank_cd``). Vectors are float32 bytes on both; pgvector, when the
server has it, is set up at run time by ``SearchIndexer`` (the extension may need rights this
migration does not have).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import artifact_hub.adapters.index.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("artifact_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("indexed_at", artifact_hub.adapters.index.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("artifact_id", name=op.f("pk_search_documents")),
    )
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_search_documents_tenant_id"), ["tenant_id"], unique=False
        )
    op.create_table(
        "search_vectors",
        sa.Column("artifact_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("artifact_id", "model", name=op.f("pk_search_vectors")),
    )
    with op.batch_alter_table("search_vectors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_search_vectors_tenant_id_model"), ["tenant_id", "model"], unique=False
        )
    op.create_table(
        "search_state",
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_search_state")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # Contentless-delete would save space but needs SQLite 3.43; a plain FTS5 table works
        # everywhere. The indexer writes it in the same transaction as search_documents.
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "body, artifact_id UNINDEXED, tokenize = 'porter unicode61')"
        )
    elif dialect == "postgresql":
        op.execute(
            "ALTER TABLE search_documents ADD COLUMN body_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', body)) STORED"
        )
        op.execute(
            "CREATE INDEX ix_search_documents_body_tsv ON search_documents USING gin (body_tsv)"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_state")
    with op.batch_alter_table("search_vectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_vectors_tenant_id_model"))
    op.drop_table("search_vectors")
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_documents_tenant_id"))
    op.drop_table("search_documents")
