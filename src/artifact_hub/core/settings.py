"""Configuration, from ``ARTIFACT_HUB_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["HubSettings"]


class HubSettings(BaseSettings):
    """Everything a hub process needs to know; each field is ``ARTIFACT_HUB_<NAME>``.

    The defaults are the embedded mode: SQLite and blobs under ``data_dir``, events delivered
    in-process. Point ``database_url`` at PostgreSQL, ``blob_store`` at ``s3`` and
    ``event_bus`` at ``kafka`` for the distributed mode.
    """

    model_config = SettingsConfigDict(env_prefix="ARTIFACT_HUB_", extra="ignore")

    data_dir: Path = Field(default=Path(".artifact-hub"), description="Embedded mode's folder.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir."
    )
    blob_store: Literal["local", "s3"] = "local"
    blob_dir: Path | None = Field(
        default=None, description="Local blob folder; default data_dir/blobs."
    )
    s3_bucket: str = "artifact-hub"
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_prefix: str = "blobs/"
    s3_max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description=(
            "Attempts per S3 call, the first included (botocore's standard retry mode: 5xx, "
            "throttling and connection errors, jittered exponential backoff); what still "
            "fails answers 503 storage_unavailable."
        ),
    )
    event_bus: Literal["inprocess", "kafka"] = "inprocess"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_idempotent_producer: bool = Field(
        default=False, description="Kafka's idempotent producer (the broker must support it)."
    )
    topic_prefix: str = ""
    consumer_group: str = "artifact-hub-index"
    consumer_session_timeout_ms: int | None = Field(
        default=None,
        ge=1000,
        description=(
            "`consumers`: Kafka group session timeout (default: the client's, 10 s). Lower "
            "makes the group notice a dead member sooner; more rebalances on a slow host."
        ),
    )
    consumer_heartbeat_interval_ms: int | None = Field(
        default=None, ge=100, description="`consumers`: group heartbeat interval (client default)."
    )
    consumer_rebalance_timeout_ms: int | None = Field(
        default=None,
        ge=500,
        description="`consumers`: how long a rebalance waits for members to rejoin.",
    )
    event_source: str = "artifact-hub"
    trusted_bus: bool = Field(
        default=False,
        description=(
            "Trust every producer on the bus: consumers skip the signature check of events "
            "published straight to the topics (schema, tenant, session and blob are still "
            "checked). Only for a bus nobody but the hub and trusted agents can write to."
        ),
    )
    bus_signing_secret: str | None = Field(
        default=None,
        description=(
            "HMAC key of the hub's own events on the bus; default: one made once and kept in "
            "the index database. Set it when consumers on another database (a second index, a "
            "rebuild) must recognise this hub's events."
        ),
    )
    relay_poll_interval: float = 0.5
    relay_batch_size: int = 200
    run_relay: bool = Field(default=True, description="Run the outbox relay in this process.")
    default_ttl_seconds: int | None = Field(
        default=30 * 24 * 3600, ge=1, description="Seconds; 'never' (or empty) for no expiry."
    )
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description=(
            "API worker processes of `serve` (default: one per core, at most 4). Each runs "
            "the whole hub; one relay publishes at a time (the relay lease), and on SQLite "
            "the workers take turns writing (WAL: one writer, many readers)."
        ),
    )
    public_url: str | None = Field(
        default=None, description="Base URL in links and signed URLs; default http://host:port."
    )
    signing_secret: str | None = Field(
        default=None,
        description="HMAC key of links and signed URLs; embedded mode keeps one in data_dir.",
    )
    redis_url: str | None = Field(
        default=None, description="Shared rate-limit counters for several API replicas."
    )
    rate_limit_per_second: int = Field(default=100, ge=1)
    rate_limit_burst: int = Field(default=200, ge=1)
    idempotency_stale_seconds: float = Field(
        default=10,
        gt=0,
        le=3600,
        description=(
            "How long a POST's Idempotency-Key may stay in progress before a retry takes the "
            "request over (its replica died); until then a retry gets 409 with "
            "retry_after_seconds. The first attempt can no longer commit once taken over."
        ),
    )
    rate_limit_key_prefix: str = Field(
        default="artifact-hub:ratelimit", description="Redis key prefix of the rate counters."
    )
    sweep_enabled: bool = Field(
        default=True, description="Run the sweeper (expiry, purge, blob and key clean-up)."
    )
    retention_days: float = Field(default=30, gt=0, description="Soft-deleted -> hard-deleted.")
    sweep_interval_seconds: float = Field(default=60, gt=0)
    search_embedder: Literal["minilm", "hashing", "none"] = Field(
        default="minilm",
        description=(
            "Semantic search's embedder: 'minilm' (all-MiniLM-L6-v2, offline, needs the "
            "'semantic' extra), 'hashing' (feature hashing, no model: tests only) or 'none' "
            "(lexical and structured search only)."
        ),
    )
    search_pgvector: Literal["auto", "on", "off"] = Field(
        default="auto",
        description=(
            "pgvector on PostgreSQL: 'auto' sets it up when the server has the extension "
            "(creating it when this role may) and searches with it when a tenant's vectors do "
            "not fit search_vector_cache_bytes or the filters are too narrow for the "
            "in-memory walk; 'on' searches with it always and refuses to start without it; "
            "'off' never. Ignored on SQLite."
        ),
    )
    search_vector_cache_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=0,
        description=(
            "Memory per process for tenants' vector matrices kept between semantic searches "
            "(exact, in numpy); a tenant that does not fit is searched in the database."
        ),
    )
    search_pgvector_ef_search: int = Field(
        default=100,
        ge=10,
        le=1000,
        description=(
            "pgvector's hnsw.ef_search for semantic search: candidates the HNSW scan keeps; "
            "higher finds more of the exact nearest neighbours, slower (bench/bench_search.py)."
        ),
    )
    search_pgvector_exact_limit: int = Field(
        default=10_000,
        ge=0,
        description=(
            "pgvector: a semantic search whose filters leave at most this many vectors "
            "computes every distance (exact); above it the HNSW index answers (approximate)."
        ),
    )
    search_index_delay_seconds: float = Field(
        default=0.1,
        ge=0,
        le=60,
        description=(
            "How long after a write its search document is built: the write's own work "
            "(relay publish, the next write) goes first, and the writes of that moment are "
            "indexed together. A search in the same process never waits for it."
        ),
    )
    search_embed_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        le=600,
        description=(
            "How long writes must pause before the documents indexed meanwhile are embedded "
            "(0: with the document). An embedding costs several times a small push's CPU; "
            "waiting for a pause keeps it off a busy hub's write path. A search never waits "
            "for it: it embeds what is pending first."
        ),
    )
    search_embed_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "CPU threads the embedding model may use (torch's intra-op threads). One leaves "
            "the other cores to the API: with all of them, torch's spinning threads slowed "
            "both the embedding and the requests (47 ms per document on 2 cores, 7 with one)."
        ),
    )
    search_text_limit: int = Field(
        default=64 * 1024,
        ge=0,
        description="Bytes of a text-like artifact's content that search indexes.",
    )
    server_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description=(
            "`serve`: seconds a client has from connecting (or from the first byte of a next "
            "request) to the end of its headers; then 408 and the connection is closed."
        ),
    )
    server_body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description=(
            "`serve`: the longest pause between two pieces of a request body; a stalled "
            "upload is closed."
        ),
    )
    server_keep_alive_seconds: int = Field(
        default=5, ge=1, le=3600, description="`serve`: idle keep-alive connections close after it."
    )
    server_max_connections: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description=(
            "`serve`: open connections per worker process; past it a new connection closes "
            "the oldest one waiting for a request (half-sent or idle), never one being served."
        ),
    )
    upload_url_ttl_seconds: int = Field(
        default=3600, ge=1, le=7 * 24 * 3600, description="How long a presigned upload URL works."
    )
    upload_complete_grace_seconds: int = Field(
        default=3600,
        ge=0,
        le=7 * 24 * 3600,
        description="How long after its URL's expiry an upload may still be completed.",
    )
    s3_download_url_max_seconds: int = Field(
        default=900,
        ge=1,
        le=7 * 24 * 3600,
        description=(
            "S3: the longest a presigned download URL straight to the bucket may live; a "
            "longer download-url is the hub's own signed URL, which checks the artifact "
            "before redirecting to a fresh presigned one."
        ),
    )
    orphan_grace_seconds: float = Field(
        default=24 * 3600,
        gt=0,
        description=(
            "Age after which stored bytes that nothing references are collected: blobs no "
            "version points at, staged uploads and S3 multipart uploads. Must be longer "
            "than an upload's whole life (upload_url_ttl_seconds + "
            "upload_complete_grace_seconds) and than s3_download_url_max_seconds."
        ),
    )
    orphan_scan_interval_seconds: float = Field(
        default=3600,
        gt=0,
        description=(
            "How often the background sweeper lists the store for orphans (the `sweep` "
            "command always does)."
        ),
    )
    bootstrap_tenant: str = Field(
        default="default", description="Tenant that serve creates (with a key) on an empty hub."
    )
    default_plan: str = Field(
        default="unlimited",
        description=(
            "Plan of new tenants (the bootstrap tenant too) when none is named: 'unlimited' "
            "(no plan limits, for a self-hosted hub) or free, starter, pro, team, enterprise "
            "to opt in to plan limits."
        ),
    )

    @field_validator("default_ttl_seconds", mode="before")
    @classmethod
    def _never(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "never", "none", "null"}:
            return None
        return value

    @model_validator(mode="after")
    def _orphan_grace_outlives_urls(self) -> HubSettings:
        # Bytes an upload wrote are referenced only once it completes, up to an upload's
        # whole life after its URL was issued: collecting them sooner would break it.
        upload_life = self.upload_url_ttl_seconds + self.upload_complete_grace_seconds
        longest = max(upload_life, self.s3_download_url_max_seconds)
        if self.orphan_grace_seconds <= longest:
            raise ValueError(
                f"orphan_grace_seconds ({self.orphan_grace_seconds:g}) must be longer than "
                f"any signed URL's life: upload_url_ttl_seconds + "
                f"upload_complete_grace_seconds ({upload_life}) and "
                f"s3_download_url_max_seconds ({self.s3_download_url_max_seconds})"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """``database_url``, or the embedded SQLite file."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'index.db').resolve()}"

    @property
    def resolved_blob_dir(self) -> Path:
        """``blob_dir``, or ``data_dir/blobs``."""
        return (self.blob_dir or self.data_dir / "blobs").resolve()

    @property
    def resolved_public_url(self) -> str:
        """``public_url`` without a trailing slash, or ``http://host:port``."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def default_ttl(self) -> timedelta | None:
        """The default TTL as a timedelta (None: never expire)."""
        return (
            None
            if self.default_ttl_seconds is None
            else timedelta(seconds=self.default_ttl_seconds)
        )
