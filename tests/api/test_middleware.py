"""The gzip and body-size middleware on a small app of their own: what is compressed, what is
not, and that every answer decodes to what the app sent."""

from __future__ import annotations

import gzip

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from fastapi.testclient import TestClient

from api.middleware import BodyLimit, GZip

TEXT = "驿站" * 2000  # 12,000 bytes of UTF-8, compresses well


@pytest.fixture(scope="module")
def client():
    app = FastAPI()

    @app.get("/big")
    def big() -> Response:
        return PlainTextResponse(TEXT)

    @app.get("/small")
    def small() -> Response:
        return PlainTextResponse("小")

    @app.get("/stream")
    def stream() -> Response:
        return StreamingResponse(iter([TEXT[:3000], TEXT[3000:]]), media_type="text/plain")

    @app.get("/encoded")
    def encoded() -> Response:
        return Response(gzip.compress(TEXT.encode()), headers={"Content-Encoding": "gzip"})

    @app.get("/png")
    def png() -> Response:
        return Response(b"\x89PNG" + b"\x00" * 5000, media_type="image/png")

    @app.get("/vary")
    def vary() -> Response:
        return PlainTextResponse(TEXT, headers={"Vary": "Cookie"})

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return PlainTextResponse(str(len(await request.body())))

    app.add_middleware(BodyLimit, max_bytes=4096)
    app.add_middleware(GZip, minimum_size=1024)
    with TestClient(app) as c:
        yield c


def raw(client, path: str, encoding: str):
    """The answer as sent, not decoded by the client."""
    with client.stream("GET", path, headers={"accept-encoding": encoding}) as res:
        return res, b"".join(res.iter_raw())


def test_a_big_answer_is_compressed_and_decodes_exactly(client):
    res, body = raw(client, "/big", "gzip, deflate")
    assert res.headers["content-encoding"] == "gzip"
    assert res.headers["vary"] == "Accept-Encoding"
    assert int(res.headers["content-length"]) == len(body) < 1000
    assert gzip.decompress(body).decode() == TEXT


def test_a_client_without_gzip_gets_it_plain_with_the_same_vary(client):
    for encoding in ("identity", "gzip;q=0, deflate", "br"):
        res, body = raw(client, "/big", encoding)
        assert "content-encoding" not in res.headers, encoding
        assert res.headers["vary"] == "Accept-Encoding"
        assert body.decode() == TEXT


def test_a_small_answer_is_left_alone(client):
    res, body = raw(client, "/small", "gzip")
    assert "content-encoding" not in res.headers and "vary" not in res.headers
    assert body.decode() == "小"


def test_a_streamed_answer_is_compressed_as_it_goes(client):
    res, body = raw(client, "/stream", "gzip")
    assert res.headers["content-encoding"] == "gzip" and "content-length" not in res.headers
    assert gzip.decompress(body).decode() == TEXT


def test_encoded_or_compressed_media_pass_through(client):
    res, body = raw(client, "/encoded", "gzip")
    assert res.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body).decode() == TEXT  # compressed once, not twice
    res, body = raw(client, "/png", "gzip")
    assert "content-encoding" not in res.headers and body.startswith(b"\x89PNG")


def test_an_existing_vary_is_kept(client):
    res, _ = raw(client, "/vary", "gzip")
    assert res.headers["vary"] == "Cookie, Accept-Encoding"


def test_bodies_over_the_limit_are_refused_with_413(client):
    assert client.post("/echo", content=b"x" * 4096).text == "4096"
    declared = client.post("/echo", content=b"x" * 5000)
    assert declared.status_code == 413
    assert (
        declared.json()["detail"] == "request body larger than 4096 bytes (YIZHAN_MAX_BODY_BYTES)"
    )

    def chunks():  # no Content-Length: counted as it streams in
        yield b"x" * 3000
        yield b"x" * 3000

    streamed = client.post("/echo", content=chunks())
    assert streamed.status_code == 413
