"""The index schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Alembic migrations under ``migrations/`` create these tables; this module is their source of
truth for queries and for ``alembic revision --autogenerate``.

It is one module of over 400 lines on purpose: the tables reference each other (foreign keys,
shared column helpers) and a reviewer checks a migration against the whole schema at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

__all__ = [
    "access_entries",
    "api_keys",
    "artifact_labels",
    "artifact_lineage",
    "artifact_tags",
    "artifact_versions",
    "artifacts",
    "deferred_events",
    "idempotency_keys",
    "ingestion_secrets",
    "lineage_inputs",
    "links",
    "metadata",
    "outbox",
    "processed_events",
    "search_documents",
    "search_state",
    "search_vectors",
    "sessions",
    "tenant_usage",
    "tenants",
    "uploads",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and returns them aware, on SQLite too.

    SQLite has no time zones; storing naive UTC keeps lexical order equal to time order, which
    keyset pagination relies on.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = (
            datetime.fromisoformat(value) if isinstance(value, str) else value
        )  # drivers return datetimes; a string only from a hand-edited SQLite file
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# A 64-bit autoincrement key on PostgreSQL, and SQLite's rowid alias (INTEGER PRIMARY KEY).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("plan", String(32), nullable=False, server_default="enterprise"),
    Column("created_at", UTCDateTime(), nullable=False),
)

# API keys: only a hash of the secret is stored. A key reads ``ak_live_<key_id>_<secret>``; the
# key id finds the row, the secret's SHA-256 must match (the secret has 256 bits of entropy, so
# a plain hash cannot be brute-forced, unlike a password).
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(200), nullable=False),
    Column("groups", JSON, nullable=False),
    Column("namespace", String(128), nullable=False),
    Column("admin", Boolean, nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Index(None, "tenant_id"),
)

# The secrets that sign events on the bus (HMAC-SHA256, see ``bus/signing.py``): one per tenant
# for the agents that publish straight to the topics (message-bus ingestion), and the hub's own
# (scope "hub", owner "hub") for what its relay publishes. Unlike API keys they are stored as
# they are, not hashed: a consumer verifies an HMAC by computing it with the secret itself, so it
# must be able to read it back. (Encrypting them would need a key that every consumer holds
# anyway; whoever can read this table can already write the index.) They are never logged and
# never listed. After a rotation the previous secret still verifies until ``previous_valid_until``
# so that events already on the topics are not lost.
ingestion_secrets = Table(
    "ingestion_secrets",
    metadata,
    Column("scope", String(16), primary_key=True),  # "tenant" or "hub"
    Column("owner_id", String(128), primary_key=True),  # the tenant id, or "hub"
    Column("secret", String(128), nullable=False),
    Column("previous_secret", String(128)),
    Column("previous_valid_until", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("rotated_at", UTCDateTime()),
)

# Revocable download links served by the hub (``/l/<link_id>``).
links = Table(
    "links",
    metadata,
    Column("link_id", String(32), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("artifact_id", String(64), nullable=False),
    Column("version", Integer),
    Column("created_by", String(200)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Index(None, "artifact_id"),
)

# Presigned uploads between upload-url and complete.
uploads = Table(
    "uploads",
    metadata,
    Column("upload_id", String(32), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(200)),
    Column("request", JSON, nullable=False),
    Column("size_bytes", BigInteger),
    Column("sha256", String(64)),
    Column("staging_key", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("completed_at", UTCDateTime()),
    Column("artifact_id", String(64)),
)

# Idempotency-Key on POST: the first response is kept and returned to retries.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_sha256", String(64), nullable=False),
    Column("status", Integer),
    Column("body", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "created_at"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("artifact_id", String(64), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("namespace", String(128), nullable=False),
    Column("name", String(1024), nullable=False),
    Column("agent_id", String(200)),
    Column("session_id", String(200)),
    Column("kind", String(128)),
    Column("content_type", String(255)),
    Column("version", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("pinned", Boolean, nullable=False),
    Column("uri", Text),
    Column("preview_uri", Text),
    Column("run_id", String(200)),
    Column("graph_id", String(200)),
    Column("node_id", String(200)),
    Column("tool_name", String(200)),
    Column("tool_version", String(100)),
    Column("org_id", String(200)),
    Column("user_id", String(200)),
    Column("client_id", String(200)),
    Column("app_id", String(200)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("deleted_at", UTCDateTime()),
    Column("expired_at", UTCDateTime()),
    Column("purged_at", UTCDateTime()),
    # The artifact's revision: the seq of the last event applied to it.
    Column("revision", Integer, nullable=False),
    Index(None, "tenant_id", "created_at", "artifact_id"),
    Index(None, "tenant_id", "session_id"),
    Index(None, "tenant_id", "agent_id"),
    # Pages of one session's or one agent's artifacts, newest first (migration 0007).
    Index(None, "tenant_id", "session_id", "created_at", "artifact_id"),
    Index(None, "tenant_id", "agent_id", "created_at", "artifact_id"),
    Index(None, "tenant_id", "kind"),
    Index(None, "tenant_id", "run_id"),
    Index(None, "tenant_id", "namespace", "name"),
    Index(None, "sha256"),
)

artifact_versions = Table(
    "artifact_versions",
    metadata,
    Column("artifact_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("content_type", String(255)),
    Column("metadata", JSON, nullable=False),
    Column("agent_id", String(200)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("deleted_at", UTCDateTime()),
    Index(None, "sha256"),
)

# Labels and metadata as key/value rows, so equality filters use an index on both databases.
# Values are stored as their canonical JSON text (see projector.label_value).
artifact_labels = Table(
    "artifact_labels",
    metadata,
    Column("artifact_id", String(64), primary_key=True),
    Column("source", String(16), primary_key=True),  # "label" or "metadata"
    Column("key", String(128), primary_key=True),
    Column("value", String(512), nullable=False),
    Index(None, "source", "key", "value", "artifact_id"),
)

artifact_tags = Table(
    "artifact_tags",
    metadata,
    Column("artifact_id", String(64), primary_key=True),
    Column("tag", String(200), primary_key=True),
    Index(None, "tag", "artifact_id"),
)

access_entries = Table(
    "access_entries",
    metadata,
    Column("artifact_id", String(64), primary_key=True),
    Column("principal_type", String(16), primary_key=True),  # "agent" or "group"
    Column("principal_id", String(200), primary_key=True),
    Column("granted_by", String(200)),
    Column("granted_at", UTCDateTime(), nullable=False),
    Index(None, "principal_type", "principal_id", "artifact_id"),
)

# Lineage (from the ``lineage`` of artifact.created / artifact.versioned): the workflow run and
# step that saved an artifact version, and the artifact versions its upstream steps loaded.
artifact_lineage = Table(
    "artifact_lineage",
    metadata,
    Column("artifact_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("run_id", String(200), nullable=False),
    Column("workflow_id", String(200)),
    Column("step_id", String(200)),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "tenant_id", "run_id"),
)

lineage_inputs = Table(
    "lineage_inputs",
    metadata,
    Column("artifact_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("input_artifact_id", String(64), primary_key=True),
    Column("input_version", Integer, primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    # Downstream walks look inputs up by the artifact they name.
    Index(None, "input_artifact_id", "tenant_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("session_id", String(200), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sealed_at", UTCDateTime()),
)

# Every event applied to this index, recorded in the same transaction as its change, so a
# redelivered or replayed event is a no-op.
processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("event_type", String(64), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=False),
    # SHA-256 of the event's canonical JSON (projector.event_digest): tells a redelivery of the
    # same event (harmless) from a different event that reuses its id (dead-lettered).
    Column("digest", String(64)),
)

# Events that arrived before their predecessor (artifact topics are not ordered between each
# other). They wait here, durably, and are applied as soon as the missing event is; the consumer
# commits their offsets, so one early event never blocks a partition.
deferred_events = Table(
    "deferred_events",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("artifact_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("topic", String(255), nullable=False),
    Column("key", String(255), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("value", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Index(None, "artifact_id", "seq"),
    Index(None, "first_seen_at"),
)

# The transactional outbox and, since rows are kept once sent, the hub's own event log.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("tenant_id", String(128), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("key", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Index(None, "sent_at", "id"),
    Index(None, "tenant_id", "id"),  # a tenant's newest events (the console's live feed)
)

# Search (service/search/): one document per live artifact, the text that lexical and semantic
# search see (name, kind, labels, tags, metadata values and the text of text-like content). Kept
# up to date after each commit by ``SearchIndexer``; ``revision`` is the artifact's revision it
# was built from, so a stale or missing document is found with one join. Derived data only:
# structured filters never read it, and ``SearchIndexer.reindex`` rebuilds it from the index and
# the blobs. Migration 0005 adds the full-text structures beside it, which this metadata does
# not describe: an FTS5 table ``search_fts`` on SQLite, a generated ``tsvector`` column
# ``body_tsv`` with a GIN index on PostgreSQL.
search_documents = Table(
    "search_documents",
    metadata,
    Column("artifact_id", String(64), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("indexed_at", UTCDateTime(), nullable=False),
    Index(None, "tenant_id"),
)

# The embedding of each search document, per embedder model: float32 little-endian bytes
# (numpy's ``tobytes``); ``body_sha256`` tells whether the document changed since.
search_vectors = Table(
    "search_vectors",
    metadata,
    Column("artifact_id", String(64), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("dim", Integer, nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Index(None, "tenant_id", "model"),
)

# One row per tenant whose search documents or vectors changed: ``version`` is bumped in the
# same transaction as every such change, so a process holding a tenant's vectors in memory
# (service/search.py VectorCache) knows with one primary-key read whether they are current.
search_state = Table(
    "search_state",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

# Storage used per tenant, kept by the projection in the same transaction as each change
# (``SqlArtifactStore.storage_used`` reads it instead of summing every version): the bytes and
# the number of the versions that are not deleted, of the tenant's artifacts that are neither
# deleted nor purged. Expiry is left out (it depends on the clock, not on events); the quota
# check subtracts the few expired artifacts that the sweeper has not purged yet, found
# through the ``(tenant_id, expires_at)`` index below.
tenant_usage = Table(
    "tenant_usage",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("versions", BigInteger, nullable=False),
)

Index(None, artifacts.c.tenant_id, artifacts.c.expires_at)
