"""The HTTP routes, one module per concern; what they share is here."""

from __future__ import annotations

from fastapi import Request


def next_links(request: Request, *, offset: int, returned: int, total: int, limit: int) -> list:
    """The ``links`` of a page of a listing: a ``next`` one while rows are left."""
    if offset + returned >= total:
        return []
    params = dict(request.query_params)
    params.update(offset=str(offset + returned), limit=str(limit))
    return [{"rel": "next", "href": str(request.url.replace_query_params(**params))}]
