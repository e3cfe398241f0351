"""A server that does no work: the ceiling this machine allows a client workload.

``bench_peer.py`` runs it with uvicorn (``uvicorn _null_server:app --app-dir bench``) and
points the same clients at it that it points at the real servers. It reads each request body
whole and answers with a reply the real hub gave earlier in the run (files in the folder named
by ``NULL_SERVER_REPLIES``):

- ``POST`` (any path): ``push.json``, status 201, the hub's answer to a 4 KiB push;
- ``PUT`` (any path): an empty 200, what MLflow answers an artifact upload;
- ``GET /health``: ``{"status": "ok"}``;
- any other ``GET``: ``page.json``, one page of the hub's listing, with ``next_cursor`` set so
  that a client iterating from the first page reads ``NULL_SERVER_PAGES`` pages.

Whatever a client achieves here, it cannot achieve against a server that does real work on the
same machine: the figures bound the ratios the peer benchmark can show.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

_FOLDER = Path(os.environ.get("NULL_SERVER_REPLIES", "."))
_PAGES = max(1, int(os.environ.get("NULL_SERVER_PAGES", "1")))


def _load() -> tuple[bytes, list[bytes]]:
    push = (_FOLDER / "push.json").read_bytes() if (_FOLDER / "push.json").exists() else b"{}"
    page: dict[str, Any] = {"data": [], "next_cursor": None}
    if (_FOLDER / "page.json").exists():
        page = json.loads((_FOLDER / "page.json").read_text())
    pages = []
    for number in range(_PAGES):
        page["next_cursor"] = f"p{number + 1}" if number + 1 < _PAGES else None
        pages.append(json.dumps(page).encode())
    return push, pages


_PUSH, _LIST = _load()
_HEALTH = b'{"status":"ok"}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI application: no routing beyond the method, no validation, no storage."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:  # read the body whole, as any server must
        message = await receive()
        more = message.get("more_body", False)
    method = scope["method"]
    if method == "POST":
        status, body = 201, _PUSH
    elif method == "PUT":
        status, body = 200, b""
    elif scope["path"] == "/health":
        status, body = 200, _HEALTH
    else:
        cursor = parse_qs(scope["query_string"].decode()).get("cursor", ["p0"])[0]
        index = int(cursor[1:]) if cursor[1:].isdigit() else 0
        status, body = 200, _LIST[min(index, len(_LIST) - 1)]
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
