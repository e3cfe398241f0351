"""Where a rebuild reads the topics from: every record up to the end, in event-time order.

The event log (the outbox table) is read with ``adapters/index/rebuild_target.log_batch``.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from artifact_hub.schemas.cloudevents import KafkaRecord, header_map

log = logging.getLogger("artifact_hub.consumers.rebuild")


class _TopicReader:
    """Every record of the topics up to their end offsets at start, merged by ``ce_time``."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Sequence[str],
        stall_timeout: float,
        options: Mapping[str, Any],
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = list(topics)
        self.stall_timeout = stall_timeout
        self.options = dict(options)

    async def records(self) -> AsyncIterator[tuple[str, KafkaRecord]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self.options,
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            if not partitions:
                return
            consumer.assign(partitions)
            listed = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            # Where each partition ends: the larger of its listed end offset and the high
            # watermark of its first fetch response (Tansu lists the base offset of the last
            # batch as the end). Fixed once known: what is written later is not waited for.
            ends: dict[TopicPartition, int] = {}
            active = set(partitions)
            buffers: dict[TopicPartition, deque[tuple[float, ConsumerRecord[bytes, bytes]]]] = {
                tp: deque() for tp in partitions
            }
            loop = asyncio.get_running_loop()
            last_progress = loop.time()
            while active:
                starving = [tp for tp in active if not buffers[tp]]
                if starving:
                    fetched = await consumer.getmany(*starving, timeout_ms=200)
                    for tp in starving:
                        highwater = consumer.highwater(tp)
                        if tp not in ends and highwater is not None:
                            ends[tp] = max(highwater, listed[tp])
                    for tp, batch in fetched.items():
                        end = ends.get(tp)
                        buffers[tp].extend(
                            (_event_time(r), r) for r in batch if end is None or r.offset < end
                        )
                    finished = [
                        tp
                        for tp in starving
                        if tp in ends
                        and not buffers[tp]
                        and await consumer.position(tp) >= ends[tp]
                    ]
                    active.difference_update(finished)
                    if fetched or finished:
                        last_progress = loop.time()
                    elif loop.time() - last_progress > self.stall_timeout:
                        missing = {f"{tp.topic}[{tp.partition}]" for tp in active}
                        raise TimeoutError(
                            f"no records for {self.stall_timeout:.0f}s before the end of "
                            f"{', '.join(sorted(missing))}"
                        )
                    continue
                # Every unfinished partition has a head: take the earliest, until one runs dry.
                heads = [(buffers[tp][0][0], tp.topic, tp.partition, tp) for tp in active]
                heapq.heapify(heads)
                while heads:
                    _, _, _, tp = heapq.heappop(heads)
                    _, raw = buffers[tp].popleft()
                    yield raw.topic, _kafka_record(raw)
                    if raw.offset + 1 >= ends[tp]:
                        active.discard(tp)
                    elif buffers[tp]:
                        heapq.heappush(heads, (buffers[tp][0][0], tp.topic, tp.partition, tp))
                    else:
                        break  # refill this partition before choosing again
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        existing = await consumer.topics()
        partitions: list[TopicPartition] = []
        for topic in self.topics:
            if topic not in existing:
                log.info("rebuild: no topic %s", topic)
                continue
            found = consumer.partitions_for_topic(topic) or set()
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        return partitions


def _kafka_record(raw: ConsumerRecord[bytes, bytes]) -> KafkaRecord:
    key = raw.key.decode("utf-8", errors="replace") if isinstance(raw.key, bytes) else ""
    return KafkaRecord(key=key, value=raw.value or b"", headers=header_map(raw.headers))


def _event_time(raw: ConsumerRecord[bytes, bytes]) -> float:
    """When the event happened (``ce_time``), else when it was produced."""
    for name, value in raw.headers:
        if name == "ce_time" and value:
            try:
                return datetime.fromisoformat(value.decode()).timestamp()
            except ValueError:
                break
    return float(raw.timestamp) / 1000
