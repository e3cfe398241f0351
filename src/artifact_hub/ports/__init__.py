"""Ports: what the service layer needs from the outside world, as protocols.

The service layer (``artifact_hub.service``) imports these and never an adapter; the adapters
(``artifact_hub.adapters``) implement them on SQLite/PostgreSQL, local files/S3 and Kafka;
``artifact_hub.plugin.bootstrap`` is the one place that picks the implementations. A port
takes an opaque :data:`~artifact_hub.ports.transactions.Transaction` handle where the work
must share the caller's transaction (an event and the index rows it implies commit together).

One module per need: ``transactions`` (units of work), ``index`` (artifact reads), and the
stores each service package writes through.
"""
