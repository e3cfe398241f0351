"""Adapters: the hub's ports implemented on real infrastructure.

``storage`` keeps blobs (local files, memory, S3), ``index`` keeps metadata in SQL (SQLite or
PostgreSQL, with the search backends and the Alembic migrations), ``bus`` carries events
(Kafka through FastStream, the transactional outbox relay). Only ``plugin.bootstrap`` picks
and wires them; the service layer sees them through ``artifact_hub.ports``.
"""
