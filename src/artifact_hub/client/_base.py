"""The I/O-free core shared by :class:`Client` and :class:`AsyncClient`: :class:`BaseClient`.

``BaseClient`` holds the configuration and turns each SDK method into an HTTP :class:`Call`
without touching the network or the event loop; the two clients only add the I/O, the way
httpx splits ``BaseClient`` from ``Client``/``AsyncClient``. The pure pieces live next door:
configuration and retries (``_config``), request building (``_requests``), upload and download
planning (``_transfers``) and error mapping (``_errors``); their public names are re-exported
here so the old import paths keep working.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from artifact_hub.client._config import (
    ALL_SESSIONS,
    CONFIG_PATH,
    DEFAULT_URL,
    PART_CONCURRENCY,
    PRESIGNED_THRESHOLD,
    TTL,
    ClientConfig,
    M,
    Progress,
    RetryPolicy,
    Source,
    resolve_config,
    session_new,
)
from artifact_hub.client._errors import (
    error_from_response,
    expected_sha256,
)
from artifact_hub.client._requests import (
    Call,
    ListFilters,
    _form_value,
    _label_value,
    _query_value,
    _seg,
    _user_agent,
    search_call,
    ttl_fields,
)
from artifact_hub.client._transfers import _UNKNOWN_TYPE, HashingWriter, UploadBody, _PartsProgress
from artifact_hub.core.errors import (
    InvalidRequestError,
)
from artifact_hub.schemas.api import Upload

__all__ = [
    "ALL_SESSIONS",
    "CONFIG_PATH",
    "DEFAULT_URL",
    "PART_CONCURRENCY",
    "TTL",
    "BaseClient",
    "Call",
    "ClientConfig",
    "HashingWriter",
    "ListFilters",
    "Progress",
    "RetryPolicy",
    "Source",
    "UploadBody",
    "error_from_response",
    "expected_sha256",
    "resolve_config",
    "session_new",
]


class BaseClient:
    """Configuration, request building and response parsing for both clients.

    The clients resolve their keyword arguments (see :class:`Client`) into these.

    Args:
        config: Where the hub is and who speaks (see :func:`resolve_config`).
        retry: When and how long to wait before sending again.
        presigned_threshold: Files larger than this many bytes use the presigned flow.
        idempotency_keys: Send a fresh ``Idempotency-Key`` with every POST (and so retry
            POSTs safely); turn off only for servers that reject the header.
    """

    def __init__(
        self,
        config: ClientConfig,
        retry: RetryPolicy,
        *,
        presigned_threshold: int = PRESIGNED_THRESHOLD,
        idempotency_keys: bool = True,
    ) -> None:
        self.config = config
        self.retry = retry
        self.presigned_threshold = presigned_threshold
        self.idempotency_keys = idempotency_keys

    @staticmethod
    def session_new() -> str:
        """A new session id made locally (no API call): ``ses_`` + 16 random characters.

        Example:
            >>> Client.session_new()  # doctest: +SKIP
            'ses_k2j4h5g6f7d8s9a0'
        """
        return session_new()

    @property
    def base_url(self) -> str:
        """The hub's root URL."""
        return self.config.base_url

    @property
    def session_id(self) -> str | None:
        """The default session of ``push`` and ``list``."""
        return self.config.session_id

    @property
    def agent_id(self) -> str | None:
        """The default agent of ``push``."""
        return self.config.agent_id

    def _session(self, session_id: str | None) -> str:
        session = session_id or self.config.session_id
        if not session:
            raise InvalidRequestError("no session_id given and none configured")
        return session

    # --- sending helpers (no I/O)

    def _post(self, path: str, **kwargs: Any) -> Call:
        call = Call("POST", path, **kwargs)
        if self.idempotency_keys:
            call.headers.setdefault("Idempotency-Key", str(uuid.uuid4()))
        return call

    def _request(self, call: Call, content: Any = None) -> httpx.Request:
        headers = {"Accept": "application/json", "User-Agent": _user_agent(), **call.headers}
        if call.authenticated and self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        url = call.path if "://" in call.path else self.config.base_url + call.path
        if call.body is not None:
            headers.update(call.body.headers)
        return httpx.Request(
            call.method,
            url,
            # no params at all unless given: merging re-encodes a presigned URL's query
            params=httpx.QueryParams(tuple(call.params)) if call.params else None,
            json=call.json,
            content=content,
            headers=headers,
        )

    # --- request builders: account and sessions

    def _whoami(self) -> Call:
        return Call("GET", "/v1/whoami")

    def _health(self) -> Call:
        return Call("GET", "/health", authenticated=False)

    def _seal_session(self, session_id: str) -> Call:
        return self._post(f"/v1/sessions/{_seg(session_id)}/seal")

    def _get_session(self, session_id: str) -> Call:
        return Call("GET", f"/v1/sessions/{_seg(session_id)}")

    # --- artifacts

    def _create_fields(
        self,
        *,
        session_id: str | None,
        agent_id: str | None,
        use_defaults: bool = True,
        ttl: TTL | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        if use_defaults:
            session_id = session_id or self.config.session_id
            agent_id = agent_id or self.config.agent_id
        values: dict[str, Any] = {"session_id": session_id, "agent_id": agent_id}
        values.update(fields)
        values.update(ttl_fields(ttl))
        return {k: v for k, v in values.items() if v is not None and v is not False}

    def _push(
        self,
        source: Source,
        *,
        filename: str | None,
        content_type: str | None,
        progress: Progress | None,
        fields: dict[str, Any],
        artifact_id: str | None = None,
    ) -> Call:
        if artifact_id is not None and content_type is None:
            # A new version keeps the artifact's type unless given one: the part says
            # "unknown" (the hub ignores octet-stream there) and no content_type field goes.
            body = UploadBody.of(source, filename=filename, content_type=_UNKNOWN_TYPE)
        else:
            body = UploadBody.of(source, filename=filename, content_type=content_type)
        form = [(k, _form_value(v)) for k, v in fields.items()]
        if artifact_id is None:
            form.append(("name", body.filename))
        if artifact_id is None or content_type is not None:
            form.append(("content_type", body.content_type))
        body.fields = form
        body.progress = progress
        path = "/v1/artifacts"
        if artifact_id is not None:
            path = f"/v1/artifacts/{_seg(artifact_id)}/versions"
        return self._post(path, body=body)

    def _push_json(self, fields: dict[str, Any], data: bytes) -> Call:
        payload = dict(fields)
        payload["content_base64"] = base64.b64encode(data).decode()
        return self._post("/v1/artifacts", json=payload)

    def _upload_url(self, fields: dict[str, Any], size_bytes: int) -> Call:
        return self._post("/v1/artifacts/upload-url", json={**fields, "size_bytes": size_bytes})

    def _upload_put(self, upload_url: str, headers: Mapping[str, str], body: UploadBody) -> Call:
        return Call("PUT", upload_url, body=body, headers=dict(headers), authenticated=False)

    def _upload_parts(self, upload: Upload, body: UploadBody) -> list[Call]:
        """One ``PUT`` per part of a multipart presigned upload (S3), in order."""
        assert upload.parts is not None
        progress = _PartsProgress(body.size, body.progress)
        return [
            Call(
                "PUT",
                part.url,
                body=body.part(part.offset, part.size, progress.reporter(part.part_number)),
                authenticated=False,
            )
            for part in upload.parts
        ]

    def _complete(self, upload_id: str) -> Call:
        return self._post(f"/v1/artifacts/{_seg(upload_id)}/complete")

    def _get(self, artifact_id: str) -> Call:
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}")

    def _update(self, artifact_id: str, changes: dict[str, Any]) -> Call:
        body = {k: v for k, v in changes.items() if v is not None}
        return Call("PATCH", f"/v1/artifacts/{_seg(artifact_id)}", json=body)

    def _delete(self, artifact_id: str) -> Call:
        return Call("DELETE", f"/v1/artifacts/{_seg(artifact_id)}")

    def _content(self, artifact_id: str, version: int | None) -> Call:
        params = [] if version is None else [("version", str(version))]
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}/content", params, stream=True)

    def _download_url(self, artifact_id: str, expires_in: int, version: int | None) -> Call:
        params = [("expires_in", str(int(expires_in)))]
        if version is not None:
            params.append(("version", str(version)))
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}/download-url", params)

    def _lookup(self, ref: str, session_id: str | None, namespace: str | None) -> Call:
        params = [("ref", ref)]
        if session_id is not None:
            params.append(("session_id", session_id))
        if namespace is not None:
            params.append(("namespace", namespace))
        return Call("GET", "/v1/lookup", params)

    def _versions(self, artifact_id: str) -> Call:
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}/versions")

    def _delete_version(self, artifact_id: str, version: int) -> Call:
        return Call("DELETE", f"/v1/artifacts/{_seg(artifact_id)}/versions/{int(version)}")

    def _share(self, artifact_id: str, agents: Sequence[str], groups: Sequence[str]) -> Call:
        body = {"agents": list(agents), "groups": list(groups)}
        return self._post(f"/v1/artifacts/{_seg(artifact_id)}/share", json=body)

    def _unshare(self, artifact_id: str, agents: Sequence[str], groups: Sequence[str]) -> Call:
        body = {"agents": list(agents), "groups": list(groups)}
        return self._post(f"/v1/artifacts/{_seg(artifact_id)}/unshare", json=body)

    def _access(self, artifact_id: str) -> Call:
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}/access")

    def _lineage(self, artifact_id: str) -> Call:
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}/lineage")

    def _extend_ttl(self, artifact_id: str, ttl: TTL) -> Call:
        fields = ttl_fields(ttl)
        body: dict[str, Any] = (
            {"never": True}
            if fields.get("never_expires")
            else {"ttl_seconds": fields["ttl_seconds"]}
        )
        return self._post(f"/v1/artifacts/{_seg(artifact_id)}/extend-ttl", json=body)

    def _create_link(self, artifact_id: str, expires_in: int | None, version: int | None) -> Call:
        body: dict[str, Any] = {}
        if expires_in is not None:
            body["expires_in"] = int(expires_in)
        if version is not None:
            body["version"] = version
        return self._post(f"/v1/artifacts/{_seg(artifact_id)}/links", json=body)

    def _revoke_link(self, link_id: str) -> Call:
        return Call("DELETE", f"/v1/links/{_seg(link_id)}")

    def _list(
        self,
        *,
        shared: bool = False,
        session_id: str | None = None,
        use_default_session: bool = True,
        agent_id: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
        content_type: str | None = None,
        run_id: str | None = None,
        tags: Sequence[str] | None = None,
        labels: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        pinned: bool | None = None,
        include_deleted: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        offset: int | None = None,
    ) -> Call:
        if session_id is None and use_default_session:
            session_id = self.config.session_id
        if session_id == ALL_SESSIONS:
            session_id = None
        params: list[tuple[str, str]] = []
        simple = {
            "session_id": session_id,
            "agent_id": agent_id,
            "kind": kind,
            "name": name,
            "namespace": namespace,
            "content_type": content_type,
            "run_id": run_id,
            "created_after": created_after,
            "created_before": created_before,
            "pinned": pinned,
            "include_deleted": include_deleted,
            "limit": limit,
            "cursor": cursor,
            "offset": offset,
        }
        params.extend((k, _query_value(v)) for k, v in simple.items() if v is not None)
        params.extend(("tag", tag) for tag in tags or ())
        params.extend((f"label.{k}", _label_value(v)) for k, v in (labels or {}).items())
        if metadata:
            params.append(("metadata", json.dumps(dict(metadata), separators=(",", ":"))))
        return Call("GET", "/v1/shared" if shared else "/v1/artifacts", params)

    #: Search takes no client state: its request is built by a pure function.
    _search = staticmethod(search_call)

    # --- response parsing

    @staticmethod
    def _parse(model: type[M], response: httpx.Response) -> M:
        return model.model_validate(response.json())
