"""ASGI middleware on the public ASGI interface: refuse request bodies over the configured size
with 413, and compress answers for clients that accept gzip."""

from __future__ import annotations

import json
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread
from starlette.exceptions import HTTPException

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Already compressed, or streamed as events: sent as they are.
UNCOMPRESSED_TYPES = ("image/", "audio/", "video/", "font/woff", "application/zip", "text/event")
# Compressing this much takes milliseconds: done in a worker thread, not on the event loop.
THREAD_MINIMUM_BYTES = 128 * 1024


class GZip:
    """gzip for clients whose ``Accept-Encoding`` takes it, for answers of ``minimum_size`` bytes
    or more.

    Every answer that size or larger carries ``Vary: Accept-Encoding``, compressed or not, so a
    cache never hands a plain copy to a client that asked for gzip, or the other way round. An
    answer sent in one piece is compressed with a window that spans it: zlib's default 32 KiB
    window and its tables cost more to set up than a 3 KB answer (``/api/stations/nearest``)
    takes to compress, and a window as long as the answer finds the same matches. Answers that
    already have a ``Content-Encoding``, partial content (206) and media that are compressed
    already pass through untouched.
    """

    def __init__(self, app: ASGIApp, *, minimum_size: int = 1024, compresslevel: int = 6):
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wants_gzip = _accepts_gzip(scope.get("headers") or [])
        start: Message | None = None
        compressor: Any = None
        passing = False  # sent untouched from here on

        async def send_compressed(message: Message) -> None:
            nonlocal start, compressor, passing
            kind = message["type"]
            if kind == "http.response.start":
                start = message
                headers = message.get("headers") or []
                names = {k.lower() for k, _ in headers}
                media = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                passing = (
                    b"content-encoding" in names
                    or message.get("status") == 206
                    or media.decode("latin-1").lower().startswith(UNCOMPRESSED_TYPES)
                )
                if passing:
                    await send(message)
                return
            if kind != "http.response.body" or passing:
                if start is not None and not passing:  # e.g. pathsend: as it is
                    await send(start)
                    start, passing = None, True
                await send(message)
                return
            body: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            if start is not None:  # the first piece decides
                head, start = start, None
                if not more and len(body) < self.minimum_size:
                    passing = True
                    await send(head)
                    await send(message)
                    return
                headers = [(k, v) for k, v in head.get("headers") or [] if k.lower() != b"vary"]
                vary = [v for k, v in head.get("headers") or [] if k.lower() == b"vary"]
                vary_value = b", ".join([*vary, b"Accept-Encoding"])
                if not wants_gzip:
                    passing = True
                    head["headers"] = [*headers, (b"vary", vary_value)]
                    await send(head)
                    await send(message)
                    return
                headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                headers += [(b"content-encoding", b"gzip"), (b"vary", vary_value)]
                if not more:
                    body = await self._compress_whole(body)
                    headers.append((b"content-length", str(len(body)).encode()))
                else:
                    compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 16 + 15)
                head["headers"] = headers
                await send(head)
                if not more:
                    await send({"type": "http.response.body", "body": body})
                    return
            chunk = compressor.compress(body)
            if not more:
                chunk += compressor.flush()
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

        await self.app(scope, receive, send_compressed)

    async def _compress_whole(self, body: bytes) -> bytes:
        # deflate reaches back at most the window less 262 bytes of lookahead
        bits = min(max((len(body) + 261).bit_length(), 9), zlib.MAX_WBITS)

        def compress() -> bytes:
            compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 16 + bits)
            return compressor.compress(body) + compressor.flush()

        if len(body) >= THREAD_MINIMUM_BYTES:
            return await anyio.to_thread.run_sync(compress)
        return compress()


def _accepts_gzip(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether ``Accept-Encoding`` names gzip (or ``*``) without ``q=0``."""
    for key, value in headers:
        if key.lower() != b"accept-encoding":
            continue
        for item in value.decode("latin-1").lower().split(","):
            coding, _, params = item.strip().partition(";")
            if coding.strip() not in ("gzip", "*"):
                continue
            q = params.strip().removeprefix("q=").strip() if "q=" in params else "1"
            try:
                if float(q) > 0:
                    return True
            except ValueError:
                continue
    return False


class BodyLimit:
    """Answer 413 when a request body is larger than ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
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
    """Raised while the body streams in. FastAPI passes an HTTPException through unchanged (any
    other error while reading a body becomes its 400), so the app's handler answers 413; a body
    read elsewhere is answered by :class:`BodyLimit` itself."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"request body larger than {max_bytes} bytes (YIZHAN_MAX_BODY_BYTES)")
