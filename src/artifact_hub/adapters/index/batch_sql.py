"""The batch projection's SQL: id lists, executemany, prepared statements, batch locks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.projector import (
    json_encoder,
)

CHUNK = 500
"""Ids per ``IN (...)`` list (a consumer poll is at most 500 records)."""

_A = t.artifacts.c
_LOCK_MANY = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(u.id, 0)) "
    "FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS u(id, n) ORDER BY u.n"
).bindparams(bindparam("ids", type_=ARRAY(String)))


def in_ids(conn: AsyncConnection, column: ColumnElement[str]) -> ColumnElement[bool]:
    """``column IN (:ids)``, one SQL text whatever the number of ids (statement caches hit).

    ``IN (SELECT unnest(:ids))`` with an array on PostgreSQL,
    ``IN (SELECT value FROM json_each(:ids))`` on SQLite. Bind :func:`ids_param` to ``ids``.
    """
    if conn.dialect.name == "postgresql":
        # Not ``= ANY(:ids)``: prepared statements get a generic plan after five runs, and
        # that plan cannot hash a parameter array: against a table the planner thinks small,
        # a sequential scan compares every row with every id.
        return column.in_(select(func.unnest(bindparam("ids", type_=ARRAY(String)))))
    return column.in_(
        select(literal_column("value")).select_from(func.json_each(bindparam("ids", type_=String)))
    )


def ids_param(conn: AsyncConnection, ids: Iterable[str]) -> Any:
    """The value of the ``ids`` parameter of :func:`in_ids`."""
    values = sorted(set(ids))
    return values if conn.dialect.name == "postgresql" else json.dumps(values)


_COMPILED: dict[tuple[str, int, tuple[str, ...]], tuple[Any, str, Any, list[tuple[int, Any]]]] = {}


async def executemany(conn: AsyncConnection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Execute ``statement`` once per row, as SQLAlchemy would, with less work per row.

    The statement is compiled once per dialect and set of keys; each row is turned into the
    driver's tuple with the columns' own bind processors (the same JSON and datetime
    conversions), then the driver's ``executemany`` runs it. Every row has the keys of the
    first. ``statement`` must live as long as the process (a module-level or cached one):
    it is cached by identity.
    """
    if not rows:
        return
    keys = tuple(rows[0])
    cache_key = (conn.dialect.name, id(statement), keys)
    found = _COMPILED.get(cache_key)
    if found is None:
        compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys))
        processors = compiled._bind_processors
        names = list(compiled.positiontup or ())
        getter = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
        convert = [
            (position, _faster(conn, compiled.binds[name].type, processors[name]))
            for position, name in enumerate(names)
            if processors.get(name) is not None
        ]
        # The statement is kept in the entry: its id stays its own.
        found = _COMPILED[cache_key] = (statement, compiled.string, getter, convert)
    _, sql, getter, convert = found
    params: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(getter(row))
        for position, process in convert:
            values[position] = process(values[position])
        params.append(tuple(values))
    await conn.exec_driver_sql(sql, params)


_json_dumps = json_encoder(sort_keys=False, ensure_ascii=True, compact=False)
"""``json.dumps`` with its defaults (what SQLAlchemy's JSON type calls)."""
_JSON_PROBES: tuple[Any, ...] = ({"b": [1, 2.5, None, True], "a": {"é": "ü\n"}}, ["x", {}], {})
_UTC_MEMO: dict[str, dict[datetime, Any]] = {}
_UTC_MEMO_SIZE = 8192


def _faster(conn: AsyncConnection, type_: Any, process: Callable[[Any], Any]) -> Any:
    """``process`` (a column's bind processor) or an equivalent that does less per row.

    - ``UTCDateTime``: one conversion per distinct moment (a batch repeats each event's time
      in several columns and rows, and ``applied_at`` in every row), shared by the columns
      of that type on this dialect; equal moments are stored alike whatever their zone.
    - ``JSON``, when the dialect serializes with plain ``json.dumps`` (checked on probes):
      dicts and lists go to a prebuilt encoder; anything else to ``process``.
    """
    if isinstance(type_, t.UTCDateTime):
        memo = _UTC_MEMO.setdefault(conn.dialect.name, {})

        def utc(value: Any) -> Any:
            if value is None:
                return None  # what the type makes of None
            found = memo.get(value)
            if found is None:
                if len(memo) >= _UTC_MEMO_SIZE:
                    memo.clear()
                found = process(value)
                if found is not None:
                    memo[value] = found
            return found

        return utc
    if isinstance(type_, JSON) and all(process(p) == json.dumps(p) for p in _JSON_PROBES):

        def dumps(value: Any) -> Any:
            kind = type(value)
            if kind is dict or kind is list:
                try:
                    return _json_dumps(value)
                except (TypeError, ValueError, RecursionError):
                    pass  # process raises what it always raised
            return process(value)

        return dumps
    return process


_INSERT = {
    table.name: insert(table)
    for table in (
        t.artifacts,
        t.artifact_versions,
        t.artifact_labels,
        t.artifact_tags,
        t.artifact_lineage,
        t.lineage_inputs,
        t.processed_events,
    )
}
_DELETE_LABELS = delete(t.artifact_labels).where(
    and_(
        t.artifact_labels.c.artifact_id == bindparam("b_artifact_id"),
        t.artifact_labels.c.source == bindparam("b_source"),
    )
)
_DELETE_TAGS = delete(t.artifact_tags).where(
    t.artifact_tags.c.artifact_id == bindparam("b_artifact_id")
)
_DELETE_ACCESS = delete(t.access_entries).where(
    and_(
        t.access_entries.c.artifact_id == bindparam("b_artifact_id"),
        t.access_entries.c.principal_type == bindparam("b_principal_type"),
        t.access_entries.c.principal_id == bindparam("b_principal_id"),
    )
)


def chunks(values: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


async def lock_artifacts(conn: AsyncConnection, artifact_ids: Sequence[str]) -> None:
    """:func:`~artifact_hub.adapters.index.projector.lock_artifact` on each id, in sorted order.

    One statement on PostgreSQL (the locks are taken in the order of the sorted array);
    nothing on SQLite, whose write transactions run one at a time.
    """
    if conn.dialect.name != "postgresql" or not artifact_ids:
        return
    await conn.execute(_LOCK_MANY, {"ids": sorted(set(artifact_ids))})


async def processed_ids(conn: AsyncConnection, event_ids: Iterable[str]) -> set[str]:
    """Which of ``event_ids`` are in ``processed_events`` (one query)."""
    ids = ids_param(conn, event_ids)
    if not ids or ids == "[]":
        return set()
    column = t.processed_events.c.event_id
    query = select(column).where(in_ids(conn, column))
    return set((await conn.execute(query, {"ids": ids})).scalars())


async def processed_digests(conn: AsyncConnection, event_ids: Iterable[str]) -> dict[str, str]:
    """The digest recorded for each of ``event_ids`` in ``processed_events`` (one query)."""
    ids = ids_param(conn, event_ids)
    if not ids or ids == "[]":
        return {}
    table = t.processed_events
    query = select(table.c.event_id, table.c.digest).where(in_ids(conn, table.c.event_id))
    return {row.event_id: row.digest for row in await conn.execute(query, {"ids": ids})}
