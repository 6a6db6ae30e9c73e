"""Where the batch commands read tips from: a store named by URL, or the data pack's own tips
put through the intake path into an in-memory store, so every question is asked of a store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from api.services.intake import import_pack_tips
from api.stores import Store, open_store
from geo.city import City


@contextmanager
def tip_store(city: City, db: str | None) -> Iterator[Store]:
    """The store at ``db``; without one, the pack's tips assigned into ``sqlite:///:memory:``."""
    store = open_store(db or "sqlite:///:memory:")
    try:
        if db is None:
            import_pack_tips(city, store)
        yield store
    finally:
        store.close()
