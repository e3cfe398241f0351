"""Sharing: grant and revoke read access to agents and groups."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.ports.transactions import Transaction
from artifact_hub.schemas.artifacts import Access, Principal
from artifact_hub.schemas.commands import ShareArtifact
from artifact_hub.schemas.events import ArtifactShared, EventBase
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.artifacts.commits import ArtifactCommits
from artifact_hub.service.artifacts.models import _principals


class ArtifactSharing(ArtifactCommits):
    """Share and unshare."""

    async def share(
        self,
        caller: Caller,
        artifact_id: str,
        command: ShareArtifact | None = None,
        *,
        agents: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> Access:
        """Give agents and groups read access.

        Give ``command``, or its ``agents`` and ``groups`` as keywords.
        """
        who = command or ShareArtifact(agents=agents, groups=groups)
        principals = _principals(who.agents, who.groups)
        return await self._change_access(caller, artifact_id, grants=principals)

    async def unshare(
        self,
        caller: Caller,
        artifact_id: str,
        command: ShareArtifact | None = None,
        *,
        agents: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> Access:
        """Take read access back from agents and groups.

        Give ``command``, or its ``agents`` and ``groups`` as keywords.
        """
        who = command or ShareArtifact(agents=agents, groups=groups)
        principals = _principals(who.agents, who.groups)
        return await self._change_access(caller, artifact_id, revokes=principals)

    async def _change_access(
        self,
        caller: Caller,
        artifact_id: str,
        *,
        grants: builtins.list[Principal] | None = None,
        revokes: builtins.list[Principal] | None = None,
    ) -> Access:
        if not grants and not revokes:
            raise InvalidRequestError("name at least one agent or group")
        await self._writable(caller, artifact_id)

        async def build(conn: Transaction) -> EventBase:
            return ArtifactShared(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                artifact_id=artifact_id,
                seq=await self._next_seq(conn, artifact_id),
                grants=grants or [],
                revokes=revokes or [],
            )

        await self._commit(build)
        return await self.access(caller, artifact_id)
