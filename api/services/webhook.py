"""Delivering the outbox of case events to a webhook (``YIZHAN_WEBHOOK_URL``).

Every case action writes an event to the outbox in its own transaction; a :class:`Deliverer`
POSTs each event's payload, as stored, to the webhook. The promise is **at least once**: an
event is marked delivered only after a 2xx answer, so an answer lost on the way back, a crash
between the answer and the mark, or a claim that ran out while a slow receiver was still
answering sends it again. Receivers dedupe by the ``X-Yizhan-Event-Id`` header.

Events of one case go out in the order they were made: the store hands out only each case's
oldest undelivered event, so the next one waits until it is delivered. A failed attempt (any
answer but 2xx, a redirect included, a timeout, a connection error) is retried after 1 s, 2 s,
4 s ... at most ``YIZHAN_WEBHOOK_RETRY_MAX_S``, each wait plus up to a tenth at random.

Several server processes on one store each run a deliverer. Before sending, a deliverer claims
the event (:meth:`api.stores.Store.claim_event`: its next attempt moves forward by the request
timeout), so two of them send the same event at once only when a request outlasts its claim.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlsplit

from api.settings import Settings
from api.stores import Store
from api.stores.engines import one_line

log = logging.getLogger("yizhan")

USER_AGENT = "Yizhan-Webhook/0.1.0"
ERROR_MAX_CHARS = 300  # of the error kept with an event
# what a header value keeps as it is; anything else (non-ASCII, control characters, "%") is
# percent-encoded as UTF-8, so that a receiver can always percent-decode it
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other but 2xx: never followed (urllib would turn the
    POST into a GET without the payload), so the event is retried."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Deliverer:
    """Sends the outbox's due events to ``url``, each at least once, in order per case."""

    def __init__(
        self, store: Store, url: str, settings: Settings, *, rng: random.Random | None = None
    ):
        self.store = store
        self.url = url
        self.timeout_s = settings.webhook_timeout_s
        self.retry_max_s = settings.webhook_retry_max_s
        self.poll_s = settings.webhook_poll_s
        self.batch = settings.webhook_batch
        self._rng = rng or random.Random()
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._stop: threading.Event | None = None

    def deliver_once(self, now: dt.datetime | None = None) -> int:
        """One pass over the events due now (at most ``YIZHAN_WEBHOOK_BATCH``): claim, POST and
        mark each; return how many were delivered. ``now`` fixes the clock for the whole pass
        (tests); by default each event is claimed and marked at the time it is sent."""
        due = self.store.pending_events(now or _now(), self.batch)
        delivered = 0
        for event in due:
            if self._stop is not None and self._stop.is_set():
                break
            at = now or _now()
            until = at + dt.timedelta(seconds=self.timeout_s)
            if not self.store.claim_event(event["event_id"], now=at, until=until):
                continue  # another deliverer holds it, or has delivered it
            error = self._post(event)
            done = now or _now()
            if not error:
                self.store.mark_event(event["event_id"], delivered_at=done)
                delivered += 1
                continue
            wait_s = self.backoff_s(event["attempts"])
            self.store.mark_event(
                event["event_id"], retry_at=done + dt.timedelta(seconds=wait_s), error=error
            )
            log.warning(
                "webhook: event %d of tip %r not delivered (attempt %d): %s; next try in %.1f s",
                event["event_id"],
                event["tip_id"],
                event["attempts"] + 1,
                error,
                wait_s,
            )
        return delivered

    def backoff_s(self, attempts: int) -> float:
        """The wait after the failed attempt that follows ``attempts`` earlier ones: 1 s, 2 s,
        4 s ... at most ``YIZHAN_WEBHOOK_RETRY_MAX_S``, plus up to a tenth at random."""
        wait_s = min(self.retry_max_s, 2.0 ** min(attempts, 64))
        return wait_s * (1.0 + self._rng.random() / 10)

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set: pass after pass while events go out, idling
        ``YIZHAN_WEBHOOK_POLL_S`` after a pass that delivered none. Never raises: a pass that
        fails (the store unreachable, say) is logged in one line and tried again."""
        self._stop = stop
        while not stop.is_set():
            try:
                delivered = self.deliver_once()
            except Exception as e:  # noqa: BLE001 - the sender outlives any one failure
                log.warning("webhook: a delivery pass failed: %s", one_line(e)[:ERROR_MAX_CHARS])
                delivered = 0
            if not delivered:
                stop.wait(self.poll_s)

    def _post(self, event: dict) -> str:
        """POST one event; "" for a 2xx answer, else what went wrong, in one line."""
        request = urllib.request.Request(
            self.url,
            data=event["payload"].encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Yizhan-Event-Id": str(event["event_id"]),
                "X-Yizhan-Tip-Id": quote(event["tip_id"], safe=_HEADER_SAFE),
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as e:  # any answer but 2xx (urllib's own rule)
            e.close()
            return " ".join(f"HTTP {e.code} {e.reason}".split())[:ERROR_MAX_CHARS]
        except urllib.error.URLError as e:  # could not connect, or not send
            reason = e.reason if isinstance(e.reason, BaseException) else Exception(e.reason)
            return _error(reason)
        except Exception as e:  # noqa: BLE001 - a timeout or a broken answer: retried
            return _error(e)
        return "" if 200 <= status < 300 else f"HTTP {status}"


@contextmanager
def delivering(store: Store, settings: Settings) -> Iterator[Deliverer | None]:
    """Deliver case events to ``YIZHAN_WEBHOOK_URL`` in a daemon thread while the block runs
    (nothing when it is empty); at the end, stop it and wait for a request in flight."""
    if not settings.webhook_url:
        yield None
        return
    deliverer = Deliverer(store, settings.webhook_url, settings)
    stop = threading.Event()
    thread = threading.Thread(
        target=deliverer.run, args=(stop,), name="yizhan-webhook", daemon=True
    )
    thread.start()
    where = urlsplit(settings.webhook_url)
    log.info("webhook: delivering case events to %s://%s", where.scheme, where.netloc)
    try:
        yield deliverer
    finally:
        stop.set()
        thread.join(settings.webhook_timeout_s + 1.0)
        if thread.is_alive():
            log.warning("webhook: the sender was still sending at shutdown; left to exit")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _error(error: BaseException) -> str:
    """An exception as one line with its type (``ConnectionRefusedError: [Errno 111] ...``)."""
    return f"{type(error).__name__}: {one_line(error)}"[:ERROR_MAX_CHARS]
