"""Canonical JSON: the digest of an event and the stored form of a label value.

The projector records the digest in ``processed_events``; the key/value side tables store
label values as their canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
from collections.abc import Callable
from typing import Any

from artifact_hub.schemas.events import (
    EventBase,
)


def event_digest(event: EventBase) -> str:
    """SHA-256 of the event's canonical JSON (every field, envelope included).

    Recorded with the event id in ``processed_events``: a redelivery of the same event has the
    same digest, a different event that reuses the id does not.
    """
    # ``event.model_dump(mode="json")``, minus the Python wrapper that passes its defaults on.
    document = _canonical_json(event.__pydantic_serializer__.to_python(event, mode="json"))
    return hashlib.sha256(document.encode()).hexdigest()


def json_encoder(*, sort_keys: bool, ensure_ascii: bool, compact: bool) -> Callable[[Any], str]:
    """``json.dumps`` with these options, its encoder built once instead of once per call.

    The same output: ``json.dumps`` builds this C encoder (CPython's ``_json``) on every call;
    without it, a prebuilt :class:`json.JSONEncoder`. No circular check: callers encode
    pydantic dumps and validated values, which have no cycles (a cycle would end in a
    ``RecursionError`` instead of ``ValueError``).
    """
    item, key = (",", ":") if compact else (", ", ": ")
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has the C encoder
        return json.JSONEncoder(
            sort_keys=sort_keys,
            ensure_ascii=ensure_ascii,
            check_circular=False,
            separators=(item, key),
        ).encode
    quote = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    encode = make(None, json.JSONEncoder().default, quote, None, key, item, sort_keys, False, True)
    join = "".join

    def dumps(value: Any) -> str:
        return join(encode(value, 0))

    return dumps


_canonical_json = json_encoder(sort_keys=True, ensure_ascii=False, compact=True)
"""``json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)``."""


def label_value(value: Any) -> str:
    """How a label or metadata value is stored (and compared) in the key/value side table.

    Every value is stored as its canonical JSON, so the string ``"3"`` and the number ``3``
    stay different.
    """
    if type(value) is str:  # the common case: its JSON string, as json.dumps writes it
        return _json_string(value)[:512]
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)[:512]


_json_string: Callable[[str], str] = json.encoder.encode_basestring
"""``json.dumps(s, ensure_ascii=False)`` of a string."""
