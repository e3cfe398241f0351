"""The reads the web console adds to the service layer: sessions, the event feed, sign-in.

Everything else the console shows comes from the services the REST API calls
(``hub.service``, ``hub.links``, ``hub.search``), with the same caller, so the same tenant
and ACL checks apply.
"""

from __future__ import annotations

from artifact_hub.core.errors import AuthenticationError, InvalidRequestError
from artifact_hub.ports.console import ConsoleStore, EventRow, SessionPage
from artifact_hub.ports.transactions import Transactions
from artifact_hub.schemas.identity import Caller

__all__ = ["ConsoleReads", "EventRow", "SessionPage"]

MAX_PAGE = 200


class ConsoleReads:
    """Tenant-confined reads for the console.

    Args:
        db: The index's transactions.
        store: The console's reads (sessions, events, keys).
    """

    def __init__(self, db: Transactions, store: ConsoleStore) -> None:
        self.db = db
        self.queries = store

    async def caller_for_key(self, key_id: str) -> Caller:
        """The caller of a live API key, by its id (a console session names only the id).

        Raises:
            AuthenticationError: Unknown or revoked key.
        """
        async with self.db.connect() as conn:
            caller = await self.queries.caller_for_key(conn, key_id)
        if caller is None:
            raise AuthenticationError("the API key of this session was revoked; sign in again")
        return caller

    async def sessions(
        self,
        caller: Caller,
        *,
        state: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> SessionPage:
        """The caller's tenant's sessions, newest first (``state``: open, sealed or None)."""
        if state not in (None, "open", "sealed"):
            raise InvalidRequestError("state is open or sealed", state=state)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequestError(f"limit must be between 1 and {MAX_PAGE}", limit=limit)
        async with self.db.connect() as conn:
            return await self.queries.sessions(
                conn, caller.tenant_id, state=state, limit=limit, cursor=cursor
            )

    async def events(
        self, caller: Caller, *, after_id: int | None = None, limit: int = 50
    ) -> list[EventRow]:
        """The latest events of the caller's tenant it may see, newest first."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequestError(f"limit must be between 1 and {MAX_PAGE}", limit=limit)
        async with self.db.connect() as conn:
            return await self.queries.events(conn, caller, after_id=after_id, limit=limit)
