"""ASGI middleware: refuse request bodies over the configured size with 413; compress answers."""

from __future__ import annotations

import json
import zlib

from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware, GZipResponder


class GZip(GZipMiddleware):
    """Starlette's gzip for clients that accept it; a light pass-through for those that do not.

    Starlette also routes a client without ``Accept-Encoding: gzip`` through its responder, whose
    header rewriting cost ~30 us a request for every answer of ``minimum_size`` bytes or more
    (measured under load with ``benchmarks/nearest_http.py``). Here such an answer only gains
    ``Vary: Accept-Encoding`` (as Starlette gives it: a cache must not hand it to a client that
    asked for gzip, or the other way round) when its ``Content-Length`` reaches ``minimum_size``.
    """

    def __init__(self, app, *args, **kwargs):
        super().__init__(app, *args, **kwargs)
        # the responder options this Starlette version has, passed on as its own middleware does
        self._options = {
            name: getattr(self, name)
            for name in ("compresslevel", "thread_minimum_size", "exclude_content_types")
            if hasattr(self, name)
        }

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if _accepts_gzip(scope["headers"]):
            responder = _SizedGZipResponder(self.app, self.minimum_size, **self._options)
            return await responder(scope, receive, send)
        minimum = self.minimum_size

        async def send_with_vary(message):
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                length = next((v for k, v in headers if k.lower() == b"content-length"), None)
                # a streamed answer (no length) may grow past the minimum: Starlette adds Vary too
                big = length is None or not length.isdigit() or int(length) >= minimum
                if big and not any(k.lower() == b"content-encoding" for k, _ in headers):
                    message["headers"] = [*headers, (b"vary", b"Accept-Encoding")]
            await send(message)

        await self.app(scope, receive, send_with_vary)


class _SizedGZipResponder(GZipResponder):
    """Starlette's gzip, with the compression window sized to an answer sent in one piece.

    zlib's default 32 KiB window (and the tables sized to it) costs more to set up than it takes
    to compress a 3 KB answer such as ``/api/stations/nearest``. A window that spans the answer
    finds the same matches: measured, the gzip answer of a nearest query took 79 us with
    Starlette's own responder and 55 us with this one, both 1,068 bytes."""

    def _compress_body(self, body: bytes, more_body: bool) -> bytes:
        if getattr(self, "_compressor", False) is None and not more_body:
            # deflate reaches back at most the window less 262 bytes of lookahead
            bits = min(max((len(body) + 261).bit_length(), 9), zlib.MAX_WBITS)
            self._compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 16 + bits)
        return super()._compress_body(body, more_body)


def _accepts_gzip(headers) -> bool:
    for key, value in headers:
        if key.lower() == b"accept-encoding":
            return b"gzip" in value
    return False


class BodyLimit:
    """Answer 413 when a request body is larger than ``max_bytes`` (declared or streamed)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send):
        body = json.dumps(
            {"detail": f"request body larger than {self.max_bytes} bytes (YIZHAN_MAX_BODY_BYTES)"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(HTTPException):
    """Raised while the body streams in; FastAPI passes HTTPExceptions through unchanged."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"request body larger than {max_bytes} bytes (YIZHAN_MAX_BODY_BYTES)")
