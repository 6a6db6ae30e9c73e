"""Delivering the outbox to a webhook, on SQLite and on PostGIS, against real HTTP receivers.

The receiver of the main test is a separate process, so that it can be killed (connection
refused) and started again on the same port; the others run in a thread of the test, where a
request can be held open. The deliverer's clock is injected, so that backoff costs no time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import select
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.services.webhook import Deliverer
from api.settings import Settings
from api.stores import open_store

CST = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=CST)  # the injected clock's start
STATES = ("registered", "dispatched", "handled")


@pytest.fixture
def store(store_url):
    opened = open_store(store_url)
    yield opened
    opened.close()


def make_tip(tip_id: str) -> dict:
    return {
        "tip_id": tip_id,
        "reported_at": "2026-05-01T08:00:00+08:00",
        "category": "11",
        "description": "井盖缺失",
        "reporter_id": "r-secret-1",
        "status": "open",
        "lon": 114.0015,
        "lat": 30.5015,
        "grid_code": "42010000101",
        "subdistrict_code": "420100001",
        "street_name": "中山路",
        "street_distance_m": 166.5,
        "nearest_station_id": "S1",
        "station_distance_m": 100.0,
        "outside_city": False,
    }


def act(store, tip_id: str, seq: int, *, at: dt.datetime | None = None) -> None:
    """One case action on ``tip_id`` (the next state of :data:`STATES`), and so one event."""
    case = store.get_case(tip_id)
    step = STATES.index(case["state"]) + 1 if case["state"] in STATES else 0
    to_state = STATES[step]
    when = (at or T0 - dt.timedelta(hours=1) + dt.timedelta(minutes=seq)).isoformat()
    store.apply_action(
        tip_id,
        version=case["version"],
        changes={"state": to_state},
        action={
            "action": to_state,
            "from_state": case["state"],
            "to_state": to_state,
            "at": when,
            "role": "dispatcher",
            "unit_id": None,
            "staff_id": "S1",
            "note": "",
            "public_note": "",
        },
        event={"tip_id": tip_id, "action": to_state, "seq": seq, "note": '已派 单元 ✓ "q"'},
    )


def outbox(store) -> dict[int, dict]:
    """Every outbox row by event_id, as stored."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM outbox ORDER BY event_id")).mappings()
        return {r["event_id"]: dict(r) for r in rows}


def settings(**changes) -> Settings:
    return Settings(**{"webhook_timeout_s": 5.0, "webhook_retry_max_s": 300.0, **changes})


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


# -- a receiver in a process of its own ------------------------------------------------------

RECEIVER = textwrap.dedent(
    """
    import json, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    port, status, log_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen = {
                "status": status,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.hex(),
            }
            with open(log_path, "a", encoding="utf-8") as log:  # before the answer
                log.write(json.dumps(seen) + "\\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


class ReceiverProcess:
    """``python -c RECEIVER``: answers every POST with ``status`` and logs it to a file."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    def start(self, status: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, str(self.port), str(status), str(self.log_path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        assert ready, "the receiver did not start within 30 s"
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?token=t1"

    def seen(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture
def receiver(tmp_path):
    proc = ReceiverProcess(tmp_path / "received.jsonl")
    yield proc
    proc.kill()


def test_every_event_arrives_once_in_order_per_case_through_500s_and_an_outage(
    store, receiver, caplog
):
    # three cases, their actions interleaved: A1 B1 A2 C1 B2 A3 C2
    for tip_id in ("A", "B", "C"):
        store.add_tip(make_tip(tip_id))
    for seq, tip_id in enumerate("ABACBAC", start=1):
        act(store, tip_id, seq)
    stored = outbox(store)
    assert len(stored) == 7
    firsts = [i for i, row in stored.items() if json.loads(row["payload"])["seq"] in (1, 2, 4)]

    receiver.start(500)
    deliverer = Deliverer(store, receiver.url, settings())
    caplog.set_level(logging.WARNING, logger="yizhan")

    def attempt(after_s: float) -> int:
        return deliverer.deliver_once(T0 + dt.timedelta(seconds=after_s))

    # 500: each case's oldest event is tried, and retried after 1 s, then 2 s (plus jitter)
    assert attempt(0) == 0
    assert len(receiver.seen()) == 3
    assert attempt(0.9) == 0 and len(receiver.seen()) == 3  # not due before 1 s
    assert attempt(1.1) == 0 and len(receiver.seen()) == 6
    assert attempt(3.0) == 0 and len(receiver.seen()) == 6  # not due before 1.1 + 2 s
    assert attempt(3.3) == 0 and len(receiver.seen()) == 9
    assert {row["last_error"] for row in outbox(store).values() if row["attempts"]} == {
        "HTTP 500 Internal Server Error"
    }
    failures = [r.getMessage() for r in caplog.records if r.name == "yizhan"]
    assert len(failures) == 9
    assert all("\n" not in line and "HTTP 500" in line for line in failures)
    assert "token=t1" not in " ".join(failures)

    # killed: connection refused, retried after 4 s
    receiver.kill()
    assert attempt(7.7) == 0 and len(receiver.seen()) == 9
    errors = {row["last_error"] for i, row in outbox(store).items() if i in firsts}
    assert len(errors) == 1 and errors.pop().startswith("ConnectionRefusedError: ")

    # back on the same port, answering 204: one case event after another, each once
    receiver.start(204)
    assert attempt(15.0) == 0 and len(receiver.seen()) == 9  # not due before 7.7 + 8 s
    passes = []
    while (delivered := attempt(16.5)) and len(passes) < 10:
        passes.append(delivered)
    assert passes == [3, 3, 1]
    assert store.count_events(delivered=True) == 7
    assert store.pending_events(T0 + dt.timedelta(days=1), 100) == []

    seen = receiver.seen()
    ok = [r for r in seen if r["status"] == 204]
    ok_ids = [int(r["headers"]["x-yizhan-event-id"]) for r in ok]
    assert sorted(ok_ids) == sorted(stored) and len(set(ok_ids)) == 7  # each once
    for request in ok:
        event_id = int(request["headers"]["x-yizhan-event-id"])
        row = stored[event_id]
        assert request["headers"]["content-type"] == "application/json"
        assert request["headers"]["x-yizhan-tip-id"] == row["tip_id"]
        assert bytes.fromhex(request["body"]) == row["payload"].encode("utf-8")  # as stored
    # in order per case, over every attempt: no event before its case's earlier one arrived
    for tip_id in "ABC":
        sent = [
            json.loads(bytes.fromhex(r["body"]))["seq"]
            for r in seen
            if r["headers"]["x-yizhan-tip-id"] == tip_id
        ]
        assert sent == sorted(sent)
        delivered_seqs = [
            json.loads(bytes.fromhex(r["body"]))["seq"]
            for r in ok
            if r["headers"]["x-yizhan-tip-id"] == tip_id
        ]
        assert delivered_seqs == [i for i, t in enumerate("ABACBAC", start=1) if t == tip_id]
    after = outbox(store)
    assert [after[i]["attempts"] for i in firsts] == [5, 5, 5]  # 3 x 500, refused, 204
    assert all(after[i]["attempts"] == 1 for i in after if i not in firsts)


# -- receivers in a thread of the test --------------------------------------------------------


class ThreadReceiver:
    """A receiver in a thread: ``answer(n, handler)`` gives the status of the n-th POST (and
    may hold it); every POST is kept in ``seen``."""

    def __init__(self, answer: Callable[[int, BaseHTTPRequestHandler], int]):
        self.seen: list[dict] = []
        lock = threading.Lock()
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    n = len(seen)
                    seen.append(
                        {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                    )
                status = answer(n, self)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                seen.append({"get": self.path})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_a_claimed_event_is_not_sent_by_a_second_deliverer(store, store_url):
    for tip_id in ("A", "B", "C"):
        store.add_tip(make_tip(tip_id))
    for seq, tip_id in enumerate("ABC", start=1):
        act(store, tip_id, seq)
    release = threading.Event()

    def answer(n, handler):  # hold the first request until the second deliverer is done
        if n == 0:
            assert release.wait(30)
        return 204

    other_store = open_store(store_url)  # as a second server process would have
    try:
        with ThreadReceiver(answer) as hook:
            first = Deliverer(store, hook.url, settings())
            second = Deliverer(other_store, hook.url, settings())
            counts: list[int] = []
            sending = threading.Thread(target=lambda: counts.append(first.deliver_once(T0)))
            sending.start()
            wait_for(lambda: len(hook.seen) == 1, "the first deliverer's request")
            assert second.deliver_once(T0) == 2  # the other two; the held one is claimed
            release.set()
            sending.join(timeout=30)
            assert counts == [1]  # its own; the two the other sent it found delivered
        sent = [int(r["headers"]["x-yizhan-event-id"]) for r in hook.seen]
        assert sorted(sent) == sorted(outbox(store)) and len(sent) == 3
        assert store.count_events(delivered=True) == 3
    finally:
        release.set()
        other_store.close()


def test_claim_event_takes_a_due_undelivered_event_once(store):
    store.add_tip(make_tip("A"))
    act(store, "A", 1, at=T0)
    (event_id,) = outbox(store)
    later = T0 + dt.timedelta(seconds=5)
    assert store.claim_event(event_id, now=T0, until=later) is True
    assert store.claim_event(event_id, now=T0, until=later) is False  # held
    assert store.pending_events(T0, 10) == []
    assert store.claim_event(event_id, now=later, until=later + dt.timedelta(seconds=5))
    store.mark_event(event_id, delivered_at=later)
    assert store.claim_event(event_id, now=T0 + dt.timedelta(days=1), until=T0) is False
    assert store.claim_event(event_id + 1, now=later, until=later) is False  # no such event


def test_a_timeout_and_a_redirect_are_retried(store):
    store.add_tip(make_tip("A"))
    act(store, "A", 1)
    release = threading.Event()

    def slow(n, handler):
        release.wait(30)
        return 204

    with ThreadReceiver(slow) as hook:
        try:
            deliverer = Deliverer(store, hook.url, settings(webhook_timeout_s=0.2))
            assert deliverer.deliver_once(T0) == 0
        finally:
            release.set()
    (row,) = outbox(store).values()
    assert row["last_error"] == "TimeoutError: timed out" and row["delivered_at"] is None

    with ThreadReceiver(lambda n, handler: 302) as hook:
        deliverer = Deliverer(store, hook.url, settings())
        assert deliverer.deliver_once(T0 + dt.timedelta(hours=1)) == 0
    assert [("get" in r) for r in hook.seen] == [False]  # not followed
    (row,) = outbox(store).values()
    assert row["last_error"] == "HTTP 302 Found" and row["delivered_at"] is None
    assert row["attempts"] == 2


def test_a_tip_id_that_is_not_plain_ascii_is_percent_encoded_in_its_header(store):
    tip_id = "T-东湖 %1"
    store.add_tip(make_tip(tip_id))
    act(store, tip_id, 1)
    with ThreadReceiver(lambda n, handler: 200) as hook:
        assert Deliverer(store, hook.url, settings()).deliver_once(T0) == 1
    (request,) = hook.seen
    assert request["headers"]["x-yizhan-tip-id"] == "T-%E4%B8%9C%E6%B9%96%20%251"
    assert unquote(request["headers"]["x-yizhan-tip-id"]) == tip_id


def test_run_outlives_a_failing_pass_and_stops_when_told(store, caplog):
    store.add_tip(make_tip("A"))
    act(store, "A", 1)
    real = store.pending_events
    calls: list[int] = []

    def flaky(now, limit):
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("SELECT", {}, Exception("the database went away"))
        return real(now, limit)

    store.pending_events = flaky
    caplog.set_level(logging.WARNING, logger="yizhan")
    with ThreadReceiver(lambda n, handler: 204) as hook:
        deliverer = Deliverer(store, hook.url, settings(webhook_poll_s=0.01))
        stop = threading.Event()
        running = threading.Thread(target=deliverer.run, args=(stop,))
        running.start()
        try:
            wait_for(lambda: store.count_events(delivered=True) == 1, "the event delivered")
        finally:
            stop.set()
            running.join(timeout=10)
        assert not running.is_alive()
    (failure,) = [r.getMessage() for r in caplog.records if r.name == "yizhan"]
    assert failure.startswith("webhook: a delivery pass failed: ") and "went away" in failure
    assert len(hook.seen) == 1


def test_backoff_doubles_to_the_cap_with_a_little_jitter(store):
    deliverer = Deliverer(store, "http://127.0.0.1:9/", settings(webhook_retry_max_s=10))
    for attempts, base in [(0, 1), (1, 2), (2, 4), (3, 8), (4, 10), (9, 10), (10_000, 10)]:
        waits = [deliverer.backoff_s(attempts) for _ in range(50)]
        assert all(base <= w < base * 1.1 for w in waits), (attempts, waits)
        assert len(set(waits)) > 1  # jittered


def test_the_app_delivers_while_it_runs(store_url, small_city):
    with ThreadReceiver(lambda n, handler: 204) as hook:
        app = create_app(
            Settings(db=store_url, webhook_url=hook.url, webhook_poll_s=0.02),
            city=small_city,
        )
        with TestClient(app):
            store = app.state.store
            store.add_tip(make_tip("A"))
            act(store, "A", 1, at=dt.datetime.now(CST))
            wait_for(lambda: store.count_events(delivered=True) == 1, "the event delivered")
            assert any(t.name == "yizhan-webhook" for t in threading.enumerate())
        assert not any(t.name == "yizhan-webhook" for t in threading.enumerate())
        assert len(hook.seen) == 1

    app = create_app(Settings(db=store_url), city=small_city)  # no URL: no sender
    with TestClient(app):
        assert not any(t.name == "yizhan-webhook" for t in threading.enumerate())


# -- the setting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example/in", "must be an http:// or https:// URL with a host"),
        ("hooks.example:8080/in", "must be an http:// or https:// URL with a host"),
        ("https://", "must be an http:// or https:// URL with a host"),
        ("https://user:pw@hooks.example/in", "must not hold a user or password"),
        ("https://hooks.example:99999/in", "has a bad port"),
        ("https://hooks.example/事件", "must be ASCII with no spaces or control characters"),
    ],
)
def test_a_bad_webhook_url_is_refused_naming_the_setting(url, message, monkeypatch):
    with pytest.raises(ValidationError, match=f"YIZHAN_WEBHOOK_URL {message}"):
        Settings(webhook_url=url)
    monkeypatch.setenv("YIZHAN_WEBHOOK_URL", url)
    with pytest.raises(ValidationError, match="YIZHAN_WEBHOOK_URL"):
        Settings()


def test_a_good_webhook_url_is_taken_and_empty_means_off(monkeypatch):
    assert Settings(webhook_url="https://hooks.example/in?t=1").webhook_url == (
        "https://hooks.example/in?t=1"
    )
    monkeypatch.delenv("YIZHAN_WEBHOOK_URL", raising=False)
    assert Settings().webhook_url == ""


def test_serve_refuses_a_bad_webhook_url_in_one_line():
    env = {**os.environ, "YIZHAN_WEBHOOK_URL": "ftp://hooks.example/in"}
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: YIZHAN_WEBHOOK_URL='ftp://hooks.example/in': ")
    assert len(done.stderr.strip().splitlines()) == 1
