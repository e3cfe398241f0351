"""Ports: what the service layer needs from the outside world, as protocols.

The service layer (``artifact_hub.service``) imports these and never an adapter; the adapters
(``artifact_hub.adapters``) implement them on SQLite/PostgreSQL, local files/S3 and Kafka;
``artifact_hub.plugin.bootstrap`` is the one place that picks the implementations. A port
takes an opaque :data:`~artifact_hub.ports.transactions.Transaction` handle where the work
must share the caller's transaction (an event and the index rows it implies commit together).

- ``transactions``: units of work (read connections, write transactions, group commit).
- ``index``: tenant-confined reads of artifacts, versions, grants, sessions, lineage.
- ``events``: record an event (project it into the index, append it to the outbox).
- ``blobs``: the content-addressed blob store, and direct (presigned) uploads.
- ``artifacts``, ``accounts``, ``links``, ``uploads``, ``idempotency``, ``search``,
  ``sweeper``: the rows each service package reads and writes.

Each SQL implementation ends with a ``TYPE_CHECKING`` line that makes mypy check it against
its port.
"""
