"""Records of events the index applied already, told apart before the full path.

In distributed mode with one database the API's write path applies the hub's events in its
own transaction, and the consumers then receive each of them again from Kafka. Decoding,
checking, locking and loading the batch projection for each, only to find it applied, costs
several times a lookup (``bench/bench_consumer_dupes.py``). So the consumer first looks the
event ids of the whole poll (the ``ce_id`` header of binary-mode records) up in
``processed_events`` with one query, and drops the records that are an applied event again.

Whether a record is the applied event again is decided without decoding it where it can be:

* without a validator (embedded mode, where only the hub's write path makes events) the id
  is enough;
* a record that claims the hub's source is the applied event when the hub signed it (an HMAC
  over the raw record): the hub never gives two events one id. One the hub did not sign takes
  the full path, which dead-letters it for its signature. On a trusted bus (no signatures) it
  is decoded and its digest compared with the one recorded: another event under an applied id
  is dead-lettered (``duplicate_event_id``) instead of being dropped unseen;
* an agent's record takes the full path (its tenant's signature and the same digest check are
  there): agents' events reach the index only through the consumers, so a second copy is a
  redelivery, which is rare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.bus.signing import SignatureError, verify_record
from artifact_hub.adapters.index.batch_projector import processed_digests
from artifact_hub.adapters.index.projector import event_digest
from artifact_hub.consumers.validation import IngestValidator, RejectReason
from artifact_hub.core.errors import EventRejectedError
from artifact_hub.schemas.cloudevents import KafkaRecord, decode

__all__ = ["Applied", "find_applied"]


@dataclass
class Applied:
    """What the lookup found in one poll, by the records' positions in it."""

    ids: dict[int, str] = field(default_factory=dict)
    """The records looked up, and their event ids."""
    again: set[int] = field(default_factory=set)
    """The applied events again: dropped as duplicates."""
    reused: dict[int, str] = field(default_factory=dict)
    """Other events under an applied id, with their dead-letter reason."""


async def find_applied(
    conn: AsyncConnection,
    records: Sequence[tuple[str, KafkaRecord]],
    validator: IngestValidator | None,
) -> Applied:
    """Look the binary-mode records of a poll up in ``processed_events`` (one query).

    Args:
        conn: A connection to the index.
        records: The poll's (topic, record) pairs.
        validator: The consumer's validator (None: every record is trusted).
    """
    hub_source = None if validator is None else validator.hub_source
    found = Applied()
    for index, (_, record) in enumerate(records):
        headers = record.headers
        event_id = headers.get("ce_id")
        if not event_id or "ce_type" not in headers:
            continue
        if hub_source is not None and headers.get("ce_source") != hub_source:
            continue  # an agent's: checked in full
        found.ids[index] = event_id
    if not found.ids:
        return found
    digests = await processed_digests(conn, found.ids.values())
    known = [
        (index, digests[event_id]) for index, event_id in found.ids.items() if event_id in digests
    ]
    if validator is None:
        found.again.update(index for index, _ in known)
    elif not validator.trusted_bus:
        secret = await validator.hub_secret()
        unsigned = [index for index, _ in known if not _signed(records[index][1], secret)]
        if unsigned:  # the secret may have changed since it was read: read it again
            secret = await validator.hub_secret(fresh=True)
            unsigned = [index for index in unsigned if not _signed(records[index][1], secret)]
        found.again.update(index for index, _ in known)
        found.again.difference_update(unsigned)  # the full path dead-letters them
    else:
        for index, digest in known:
            record = records[index][1]
            try:
                event = decode(record.value, record.headers)
            except EventRejectedError:
                continue  # the full path dead-letters it for what is wrong with it
            if event_digest(event) == digest:
                found.again.add(index)
            else:
                found.reused[index] = (
                    f"{RejectReason.DUPLICATE_EVENT_ID}: event id {found.ids[index]!r} was "
                    "already used by a different event"
                )
    return found


def _signed(record: KafkaRecord, secret: str) -> bool:
    """Whether ``secret`` signed ``record`` (an HMAC over its bytes: nothing is decoded)."""
    try:
        return verify_record(record, [secret])
    except SignatureError:
        return False
