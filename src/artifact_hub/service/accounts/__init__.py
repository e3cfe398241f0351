"""Tenants, API keys and ingestion secrets in the index database.

A package of one module per job (see :mod:`.service` for the map); every name importable
from ``artifact_hub.service.accounts`` before the split still is.
"""

from artifact_hub.service.accounts.credentials import INGESTION_SECRET_PREFIX, KEY_PREFIX, parse_key
from artifact_hub.service.accounts.models import PLANS, ApiKey, Plan, Tenant
from artifact_hub.service.accounts.service import AccountService

__all__ = [
    "INGESTION_SECRET_PREFIX",
    "KEY_PREFIX",
    "PLANS",
    "AccountService",
    "ApiKey",
    "Plan",
    "Tenant",
    "parse_key",
]
