"""Tip stores (placeholder until the stores package lands): re-exports of api.store."""

from api.store import GROUP_KEYS, TIP_COLUMNS, IdempotencyConflict, Store, TipQuery, open_store
from api.store_postgis import redact

__all__ = [
    "GROUP_KEYS",
    "TIP_COLUMNS",
    "IdempotencyConflict",
    "Store",
    "TipQuery",
    "open_store",
    "redact",
]
