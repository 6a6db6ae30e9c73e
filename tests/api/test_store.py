"""The tip store contract, every test run on SQLite and on PostGIS.

PostGIS is the database at ``YIZHAN_TEST_POSTGIS_URL`` (default: ``yizhan_test`` over the local
socket as the current OS user, which ``tests/system.sh`` sets up); each test gets its own schema,
dropped afterwards. When it is not reachable the postgis tests fail and say what to run; they are
never skipped.

(The ``store_url`` fixture lives in tests/conftest.py: the API tests run on both backends too.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from legacy_schema import make_release_0_1_0_store

from api.stores import (
    IdempotencyConflict,
    Revisions,
    TipQuery,
    open_store,
    revisions,
    upgrade,
)
from api.stores.engines import target_for
from api.stores.migrate import head_revision, upgrade_target
from api.stores.schema import metadata_for
from geo.errors import InvalidInput

CST = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def store(store_url):
    opened = open_store(store_url)
    yield opened
    opened.close()


def make_tip(tip_id: str, **changes) -> dict:
    tip = {
        "tip_id": tip_id,
        "reported_at": "2026-05-01T08:00:00+08:00",
        "category": "11",
        "description": "积水 路口东侧",
        "reporter_id": "r-1",
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
    tip.update(changes)
    return tip


def at(hour: int, minute: int = 0, day: int = 1) -> str:
    return dt.datetime(2026, 5, day, hour, minute, tzinfo=CST).isoformat()


def ids(tips: list[dict]) -> list[str]:
    return [t["tip_id"] for t in tips]


def listed(store, **query) -> list[str]:
    tips, _ = store.list_tips(TipQuery(**query))
    return ids(tips)


# -- add, get ------------------------------------------------------------------------------------


def test_add_then_get_round_trips_every_column(store):
    tip = make_tip(
        "T20260501-00000001",
        description="路面塌陷，注意绕行 🚧 'quote' \"double\" \\ %s",
        lon=114.01234567890123,
        lat=30.501234567890123,
        street_distance_m=0.1 + 0.2,
        station_distance_m=1234.5678901234567,
        outside_city=True,
    )
    stored, created = store.add_tip(tip)
    assert created is True
    assert stored == tip
    got = store.get_tip(tip["tip_id"])
    assert got == tip
    assert got["outside_city"] is True
    assert isinstance(got["lon"], float) and got["lon"] == 114.01234567890123
    assert got["street_distance_m"] == 0.1 + 0.2
    assert got["reported_at"] == "2026-05-01T08:00:00+08:00"
    assert store.get_tip("T-missing") is None
    assert store.count_tips() == 1


def test_empty_optional_columns_round_trip(store):
    tip = make_tip(
        "T2",
        grid_code=None,
        subdistrict_code=None,
        street_name=None,
        street_distance_m=None,
        nearest_station_id=None,
        station_distance_m=None,
        description="",
    )
    store.add_tip(tip)
    got = store.get_tip("T2")
    assert got == tip
    assert got["outside_city"] is False


def test_nan_distance_is_stored_as_null(store):
    store.add_tip(make_tip("T3", street_distance_m=float("nan")))
    assert store.get_tip("T3")["street_distance_m"] is None


def test_reported_at_keeps_the_instant(store):
    stored, _ = store.add_tip(make_tip("T4", reported_at="2026-05-01T00:30:00+00:00"))
    got = store.get_tip("T4")["reported_at"]
    assert dt.datetime.fromisoformat(got) == dt.datetime(2026, 5, 1, 8, 30, tzinfo=CST)
    assert got == "2026-05-01T08:30:00+08:00"  # normalised to city time
    assert stored["reported_at"] == got


def test_reported_at_keeps_the_microsecond_and_refuses_finer(store):
    store.add_tip(make_tip("T-us", reported_at="2026-04-30T20:45:10.000250-04:00"))
    assert store.get_tip("T-us")["reported_at"] == "2026-05-01T08:45:10.000250+08:00"
    # a datetime, and a naive text (city time, as the API reads one)
    store.add_tip(make_tip("T-dt", reported_at=dt.datetime(2026, 5, 1, 1, 0, 0, 5, tzinfo=dt.UTC)))
    assert store.get_tip("T-dt")["reported_at"] == "2026-05-01T09:00:00.000005+08:00"
    store.add_tip(make_tip("T-naive", reported_at="2026-05-01T10:00:00"))
    assert store.get_tip("T-naive")["reported_at"] == "2026-05-01T10:00:00+08:00"
    # trailing zeros past the microsecond lose nothing; other digits there are refused
    store.add_tip(make_tip("T-zeros", reported_at="2026-05-01T11:00:00.123456000+08:00"))
    assert store.get_tip("T-zeros")["reported_at"] == "2026-05-01T11:00:00.123456+08:00"
    with pytest.raises(InvalidInput, match="finer than a microsecond"):
        store.add_tip(make_tip("T-ns", reported_at="2026-05-01T11:00:00.123456789+08:00"))
    with pytest.raises(InvalidInput, match="not an ISO 8601 date-time"):
        store.add_tip(make_tip("T-bad", reported_at="yesterday"))
    assert store.get_tip("T-ns") is None and store.count_tips() == 4
    # microseconds order the listing
    assert listed(store, since=dt.datetime(2026, 5, 1, 9, 0, 0, 5, tzinfo=CST)) == [
        "T-zeros",
        "T-naive",
        "T-dt",
    ]


# -- idempotency ---------------------------------------------------------------------------------


def test_replay_returns_the_stored_tip_and_stores_nothing(store):
    first = make_tip("T-first")
    assert store.replay("key-1", "fp") is None
    stored, created = store.add_tip(first, idempotency_key="key-1", fingerprint="fp")
    assert created is True
    assert store.replay("key-1", "fp") == first
    again, created = store.add_tip(
        make_tip("T-retry", description="retry"), idempotency_key="key-1", fingerprint="fp"
    )
    assert created is False
    assert again == first
    assert store.get_tip("T-retry") is None
    assert store.count_tips() == 1
    # keys are independent; tips without a key never clash on a missing key
    store.add_tip(make_tip("T-other"), idempotency_key="key-2", fingerprint="fp")
    store.add_tip(make_tip("T-nokey-1"))
    store.add_tip(make_tip("T-nokey-2"))
    assert store.count_tips() == 4


def test_same_key_different_fingerprint_is_a_conflict(store):
    store.add_tip(make_tip("T-a"), idempotency_key="key-1", fingerprint="fp-a")
    with pytest.raises(IdempotencyConflict, match="Idempotency-Key"):
        store.add_tip(make_tip("T-b"), idempotency_key="key-1", fingerprint="fp-b")
    with pytest.raises(IdempotencyConflict):
        store.replay("key-1", "fp-b")
    assert store.count_tips() == 1
    assert store.get_tip("T-b") is None


def _race(store, key: str, fingerprints: list[str]) -> list:
    barrier = threading.Barrier(len(fingerprints))
    results: list = [None] * len(fingerprints)

    def post(i: int) -> None:
        barrier.wait()
        try:
            results[i] = store.add_tip(
                make_tip(f"T-{key}-{i}"), idempotency_key=key, fingerprint=fingerprints[i]
            )
        except Exception as e:  # noqa: BLE001 - the test looks at it
            results[i] = e

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(fingerprints))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_posts_with_one_key_store_one_tip(store):
    for round_ in range(5):
        key = f"race-{round_}"
        results = _race(store, key, ["same"] * 8)
        errors = [r for r in results if isinstance(r, Exception)]
        assert errors == []
        created = [tip for tip, new in results if new]
        assert len(created) == 1
        assert {tip["tip_id"] for tip, _ in results} == {created[0]["tip_id"]}
        assert store.replay(key, "same") == created[0]
    assert store.count_tips() == 5


def test_concurrent_posts_with_one_key_different_bodies(store):
    results = _race(store, "race-x", [f"fp-{i}" for i in range(8)])
    created = [r for r in results if isinstance(r, tuple)]
    conflicts = [r for r in results if isinstance(r, IdempotencyConflict)]
    assert len(created) == 1 and created[0][1] is True
    assert len(conflicts) == 7
    assert store.count_tips() == 1


# -- listing -------------------------------------------------------------------------------------


def test_newest_first_ties_by_tip_id_and_paging(store):
    tips = [
        make_tip("T-old", reported_at=at(7)),
        make_tip("T-utc", reported_at="2026-05-01T01:00:00+00:00"),  # 09:00 city time
        make_tip("T-mid", reported_at=at(8, 30)),
        make_tip("T-new", reported_at=at(10)),
    ]
    tied = ["a1", "B2", "_c", "T-1", "T1", "t0"]  # byte order: B2 T-1 T1 _c a1 t0
    tips += [make_tip(t, reported_at=at(9, 30)) for t in tied]
    for tip in reversed(tips):
        store.add_tip(tip)
    expected = ["T-new", *sorted(tied), "T-utc", "T-mid", "T-old"]
    page, total = store.list_tips(TipQuery())
    assert ids(page) == expected
    assert total == len(expected)
    pages = []
    for offset in range(0, len(expected), 3):
        page, total = store.list_tips(TipQuery(limit=3, offset=offset))
        assert total == len(expected)
        assert len(page) <= 3
        pages += ids(page)
    assert pages == expected
    page, total = store.list_tips(TipQuery(limit=5, offset=100))
    assert page == [] and total == len(expected)
    page, total = store.list_tips(TipQuery(limit=1, offset=0, categories=["99"]))
    assert page == [] and total == 0


def test_list_filters(store):
    b = "420100002"
    tips = [
        make_tip("A", category="11", reported_at=at(8)),
        make_tip("B", category="12", reported_at=at(9), grid_code="42010000102"),
        make_tip("C", category="13", reported_at=at(10), subdistrict_code=b, status="closed"),
        make_tip(
            "D", category="11", reported_at=at(11), lon=114.0090, lat=30.5040, outside_city=True
        ),
        make_tip("E", category="12", reported_at=at(8, day=2), subdistrict_code=b),
    ]
    store.import_tips(tips)
    everything = ["E", "D", "C", "B", "A"]
    assert listed(store) == everything
    assert listed(store, categories=["11"]) == ["D", "A"]
    assert listed(store, categories=["11", "13"]) == ["D", "C", "A"]
    assert listed(store, categories=[]) == everything
    # since is inclusive, until exclusive; any time zone names the same instants
    assert listed(store, since=dt.datetime.fromisoformat(at(9))) == ["E", "D", "C", "B"]
    assert listed(store, until=dt.datetime.fromisoformat(at(9))) == ["A"]
    since = dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 city time
    until = dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.UTC)  # 11:00 city time
    assert listed(store, since=since, until=until) == ["C", "B"]
    assert listed(store, grid_code="42010000102") == ["B"]
    assert listed(store, subdistrict_code=b) == ["E", "C"]
    assert listed(store, status="closed") == ["C"]
    assert listed(store, status="open", subdistrict_code=b) == ["E"]
    assert listed(store, grid_code="nope") == []
    assert listed(store, outside_city=True) == ["D"]
    assert listed(store, outside_city=False, categories=["11"]) == ["A"]
    tips, total = store.list_tips(TipQuery(categories=["11", "12"], limit=2, offset=1))
    assert ids(tips) == ["D", "B"] and total == 4


def test_list_bbox_edges_are_inclusive_and_exact(store):
    store.import_tips(
        [
            make_tip("in", lon=114.0015, lat=30.5015, reported_at=at(8)),
            make_tip("corner", lon=114.003, lat=30.503, reported_at=at(9)),
            make_tip("edge", lon=114.0, lat=30.502, reported_at=at(10)),
            # just outside the east edge: inside the float4 box an index works with
            make_tip("hair-east", lon=114.0030001, lat=30.5015, reported_at=at(11)),
            make_tip("hair-north", lon=114.001, lat=30.5030001, reported_at=at(12)),
            make_tip("far", lon=114.0105, lat=30.5045, reported_at=at(13)),
        ]
    )
    assert listed(store, bbox=(114.0, 30.5, 114.003, 30.503)) == ["edge", "corner", "in"]
    assert listed(store, bbox=(114.0, 30.5, 114.012, 30.506)) == [
        "far",
        "hair-north",
        "hair-east",
        "edge",
        "corner",
        "in",
    ]
    assert listed(store, bbox=(114.01, 30.504, 114.011, 30.505)) == ["far"]
    assert listed(store, bbox=(100.0, 20.0, 101.0, 21.0)) == []
    assert listed(store, bbox=(114.0, 30.5, 114.012, 30.506), categories=["12"]) == []


# -- import --------------------------------------------------------------------------------------


def test_import_skips_existing_ids_and_counts(store):
    store.add_tip(make_tip("T-kept", description="original"), idempotency_key="k", fingerprint="f")
    batch = [
        make_tip("T-kept", description="changed"),
        make_tip("T-new-1", reported_at=at(9)),
        make_tip("T-new-2", reported_at=at(10), outside_city=True),
    ]
    assert store.import_tips(batch) == 2
    assert store.get_tip("T-kept")["description"] == "original"
    assert store.replay("k", "f")["tip_id"] == "T-kept"
    assert store.get_tip("T-new-2") == batch[2]
    assert store.count_tips() == 3
    assert store.import_tips(batch) == 0
    assert store.import_tips([]) == 0
    assert listed(store) == ["T-new-2", "T-new-1", "T-kept"]


def test_import_is_one_transaction(store):
    store.add_tip(make_tip("T-0"))
    batch = [make_tip("T-good"), make_tip("T-bad", description={"not": "text"}), make_tip("T-3")]
    with pytest.raises(Exception):  # noqa: B017 - each backend's own error for the value
        store.import_tips(batch)
    assert store.get_tip("T-good") is None
    assert store.count_tips() == 1
    assert store.import_tips([make_tip("T-good")]) == 1  # still usable


# -- durability ----------------------------------------------------------------------------------


def test_a_tip_is_visible_from_a_second_store(store, store_url):
    tip = make_tip("T-durable", outside_city=True)
    store.add_tip(tip, idempotency_key="key-d", fingerprint="fp")
    second = open_store(store_url)
    try:
        assert second.backend == store.backend
        assert second.get_tip("T-durable") == tip
        assert second.replay("key-d", "fp") == tip
        assert second.count_tips() == 1
        # and back: the first store's connections see what the second writes
        _, created = second.add_tip(make_tip("T-other"), idempotency_key="key-d", fingerprint="fp")
        assert created is False
        second.add_tip(make_tip("T-second", reported_at=at(9)))
        assert listed(store) == ["T-second", "T-durable"]
    finally:
        second.close()


def test_a_tip_is_committed_before_add_tip_returns(store, store_url):
    # a process that stores a tip and dies without closing anything
    script = textwrap.dedent(
        f"""
        import os, sys
        from api.stores import open_store
        store = open_store({store_url!r})
        tip = {make_tip("T-crash")!r}
        store.add_tip(tip, idempotency_key="key-crash", fingerprint="fp")
        sys.stdout.flush()
        os._exit(0)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert store.get_tip("T-crash") == make_tip("T-crash")
    assert store.replay("key-crash", "fp")["tip_id"] == "T-crash"


def test_two_stores_write_together(store, store_url):
    # Two pools on one database (two processes' worth): their writers wait for each other's
    # lock, never fail on it; shared keys still store one tip.
    second = open_store(store_url)
    barrier = threading.Barrier(8)
    errors: list = []

    def post(which, n: int) -> None:
        barrier.wait()
        try:
            for i in range(10):
                which.add_tip(make_tip(f"T-{n}-{i}"), idempotency_key=f"k-{n}-{i}", fingerprint="f")
                which.add_tip(
                    make_tip(f"T-{n}-s{i}"), idempotency_key=f"shared-{i}", fingerprint="f"
                )
        except Exception as e:  # noqa: BLE001 - the test looks at it
            errors.append(e)

    threads = [
        threading.Thread(target=post, args=(store if n % 2 else second, n)) for n in range(8)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert store.count_tips() == 8 * 10 + 10
        assert second.count_tips() == 8 * 10 + 10
        assert {second.replay(f"shared-{i}", "f")["tip_id"] for i in range(10)} <= {
            f"T-{n}-s{i}" for n in range(8) for i in range(10)
        }
    finally:
        second.close()


def test_memory_store_is_one_database_for_all_threads():
    store = open_store("sqlite:///:memory:")
    try:
        assert store.backend == "sqlite"
        store.import_tips([make_tip("T-main")])
        seen: dict = {}

        def work(n: int) -> None:
            seen[n] = store.get_tip("T-main") is not None
            store.add_tip(make_tip(f"T-thread-{n}"), idempotency_key=f"k-{n}", fingerprint="f")
            store.add_tip(make_tip(f"T-again-{n}"), idempotency_key=f"k-{n}", fingerprint="f")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert seen == {n: True for n in range(6)}
        assert store.count_tips() == 7
        assert listed(store, limit=3) == ["T-main", "T-thread-0", "T-thread-1"]
    finally:
        store.close()
    # each open of :memory: is a database of its own
    other = open_store("sqlite:///:memory:")
    try:
        assert other.count_tips() == 0
    finally:
        other.close()


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:pw@host/db", "db URL 'mysql://u@host/db' is not supported; use sqlite:///"),
        ("sqlite://tips.db", "db URL 'sqlite://tips.db': write sqlite:///path/to/file.db"),
        ("sqlite:////no/such/folder/t.db", "folder '/no/such/folder' does not exist"),
    ],
)
def test_bad_store_urls_are_one_clear_line(url, message):
    with pytest.raises(InvalidInput) as caught:
        open_store(url)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://yizhan:s3cretpw@127.0.0.1:1/yizhan",
        "postgresql://yizhan@127.0.0.1:1/yizhan?password=s3cretpw&sslmode=disable",
    ],
)
def test_unreachable_postgis_url_is_one_clear_line(url):
    with pytest.raises(InvalidInput) as caught:
        open_store(url)
    message = str(caught.value)
    assert "s3cretpw" not in message
    assert "127.0.0.1:1/yizhan" in message
    assert "\n" not in message


def test_count_by_groups_and_filters(store):
    store.import_tips(
        [
            make_tip("T1", category="05", reported_at=at(8, day=1)),
            make_tip("T2", category="05", reported_at=at(9, day=2)),
            make_tip(
                "T3",
                category="11",
                reported_at="2026-06-30T23:30:00+08:00",
                grid_code="42010000102",
            ),
            make_tip(
                "T4",
                category="11",
                reported_at="2026-07-01T00:30:00+08:00",
                grid_code=None,
                lon=113.98764,
                lat=30.50049,
                outside_city=True,
            ),
        ]
    )
    by_cell = store.count_by(TipQuery(), ("grid_code",))
    counts = {r["grid_code"]: r["count"] for r in by_cell}
    assert counts == {"42010000101": 2, "42010000102": 1, None: 1}
    months = store.count_by(TipQuery(), ("month", "category"))
    assert {(r["month"], r["category"], r["count"]) for r in months} == {
        ("2026-05", "05", 2),
        ("2026-06", "11", 1),
        ("2026-07", "11", 1),
    }
    only_05 = store.count_by(TipQuery(categories=["05"]), ("grid_code",))
    assert only_05 == [{"grid_code": "42010000101", "count": 2}]
    outside = store.count_by(TipQuery(outside_city=True, status="open"), ("lonlat3",))
    assert outside == [{"lon3": 113.988, "lat3": 30.5, "count": 1}]
    inside = store.count_by(TipQuery(outside_city=False), ("grid_code",))
    assert {r["grid_code"]: r["count"] for r in inside} == {"42010000101": 2, "42010000102": 1}
    with pytest.raises(InvalidInput, match="group keys"):
        store.count_by(TipQuery(), ("reporter_id",))


def test_unusable_sqlite_file_is_one_clear_error(tmp_path):
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("this is not a database, just text " * 100)
    with pytest.raises(InvalidInput, match="cannot open the SQLite file"):
        open_store(f"sqlite:///{not_a_db}")


# -- migrations ----------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def release_0_1_0_tips() -> list[tuple[dict, str | None, str]]:
    """Tips as 0.1.0 stored them: (tip, idempotency key, fingerprint)."""
    return [
        (make_tip("T-keyed", reported_at="2026-05-01T08:00:00+08:00"), "key-1", "fp-1"),
        (make_tip("T-utc", reported_at="2026-05-01T00:30:00+00:00"), None, ""),
        (make_tip("T-west", reported_at="2026-04-30T20:45:10.250000-04:00"), "key-2", "fp-2"),
        (
            make_tip(
                "T-outside",
                reported_at=at(9),
                lon=113.98764,
                lat=30.50049,
                grid_code=None,
                subdistrict_code=None,
                street_name="江堤路",
                street_distance_m=850.25,
                nearest_station_id="S3",
                station_distance_m=2400.5,
                outside_city=True,
            ),
            None,
            "",
        ),
        (
            make_tip(
                "T-nulls",
                reported_at=at(9),
                description="",
                grid_code=None,
                subdistrict_code=None,
                street_name=None,
                street_distance_m=None,
                nearest_station_id=None,
                station_distance_m=None,
            ),
            None,
            "",
        ),
        (make_tip("T-micro", reported_at="2026-05-02T10:00:00.000001+08:00"), "key-3", "fp-3"),
    ]


def test_a_release_0_1_0_store_upgrades_in_place(store_url):
    old = release_0_1_0_tips()
    make_release_0_1_0_store(store_url, old)
    assert revisions(store_url) == Revisions(current="0001", head=head_revision())
    store = open_store(store_url)
    try:
        assert revisions(store_url).at_head
        assert store.count_tips() == len(old)
        for tip, _, _ in old:
            got = store.get_tip(tip["tip_id"])
            instant = dt.datetime.fromisoformat(tip["reported_at"])
            assert dt.datetime.fromisoformat(got["reported_at"]) == instant
            assert got == {**tip, "reported_at": instant.astimezone(CST).isoformat()}
        assert store.get_tip("T-utc")["reported_at"] == "2026-05-01T08:30:00+08:00"
        assert store.get_tip("T-west")["reported_at"] == "2026-05-01T08:45:10.250000+08:00"
        assert store.get_tip("T-outside")["outside_city"] is True
        # keys still replay, and still refuse another body
        assert store.replay("key-1", "fp-1")["tip_id"] == "T-keyed"
        again, created = store.add_tip(
            make_tip("T-dup"), idempotency_key="key-2", fingerprint="fp-2"
        )
        assert (again["tip_id"], created) == ("T-west", False)
        with pytest.raises(IdempotencyConflict):
            store.replay("key-3", "another body")
        # new tips sort among the old ones by instant, ties by tip_id
        store.add_tip(make_tip("T-new", reported_at="2026-05-01T08:45:10.250000+08:00"))
        assert listed(store) == [
            "T-micro",
            "T-nulls",
            "T-outside",
            "T-new",
            "T-west",
            "T-utc",
            "T-keyed",
        ]
        assert listed(store, since=dt.datetime(2026, 5, 1, 0, 30, tzinfo=dt.UTC)) == [
            "T-micro",
            "T-nulls",
            "T-outside",
            "T-new",
            "T-west",
            "T-utc",
        ]
        assert listed(store, outside_city=True) == ["T-outside"]
        # T-west was reported on 30 April in its own time zone: in city time it is May
        months = store.count_by(TipQuery(), ("month",))
        assert months == [{"month": "2026-05", "count": len(old) + 1}]
        # the monthly counts were made from the old tips, and count the new one too
        assert_counted_as_the_tips(store)
    finally:
        store.close()
    assert upgrade(store_url) == []


def test_release_0_1_0_sqlite_oddities_survive_the_upgrade(tmp_path, caplog):
    # 0.1.0's SQLite kept the text it was given (digits past the microsecond too) and let a
    # tip without an id in (TEXT PRIMARY KEY takes NULL in SQLite)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_release_0_1_0_store(
        url,
        [
            (make_tip("T-ns", reported_at="2026-05-01T08:00:00.123456789+08:00"), None, ""),
            (make_tip(None, reported_at=at(9)), None, ""),
        ],
    )
    with caplog.at_level(logging.WARNING, logger="yizhan"):
        assert upgrade(url) == ["0002", "0003", "0004", "0005"]
    assert "reported_at of 1 tips cut to the microsecond (first: T-ns)" in caplog.text
    store = open_store(url)
    try:
        assert store.get_tip("T-ns")["reported_at"] == "2026-05-01T08:00:00.123456+08:00"
        assert store.get_tip("T-rowid-2") == make_tip("T-rowid-2", reported_at=at(9))
        with pytest.raises(sa.exc.IntegrityError):
            store.import_tips([make_tip(None)])
    finally:
        store.close()


def test_a_fresh_store_is_at_head(store_url):
    assert revisions(store_url) == Revisions(current=None, head=head_revision())
    assert head_revision() == "0005"
    open_store(store_url).close()
    assert revisions(store_url) == Revisions(current="0005", head="0005")


def test_opening_together_migrates_once(store_url, tmp_path):
    # two processes open one empty store at the same moment
    script = textwrap.dedent(
        """
        import json, os, sys, time
        from api.stores import upgrade
        url, ready, go = sys.argv[1:]
        open(ready, "w").close()
        while not os.path.exists(go):
            time.sleep(0.002)
        print(json.dumps(upgrade(url)))
        """
    )
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, store_url, str(tmp_path / f"ready-{i}"), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline, "the processes did not start"
        time.sleep(0.01)
    go.touch()
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    applied = sorted(json.loads(out) for out, _ in outputs)
    assert applied == [[], ["0001", "0002", "0003", "0004", "0005"]]
    # two stores at once in one process: neither migrates again
    stores = [open_store(store_url) for _ in range(2)]
    try:
        stores[0].add_tip(make_tip("T-1"))
        assert stores[1].get_tip("T-1") == make_tip("T-1")
        assert upgrade(store_url) == []
        with stores[0].engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(head_revision(),)]
    finally:
        for opened in stores:
            opened.close()


def test_a_migration_between_two_reads_of_the_revision_is_not_mistaken(store_url):
    # The revision is read in steps (the version table, then the table tips). Another process
    # that migrates the empty store in between must not make it look like a foreign table.
    target = target_for(store_url)
    meanwhile: list = []

    def migrate_meanwhile(conn, cursor, statement, parameters, context, executemany):
        if not meanwhile and "tips" in f"{statement} {parameters}":
            meanwhile.append(upgrade(store_url))

    sa.event.listen(target.engine, "before_cursor_execute", migrate_meanwhile)
    try:
        assert upgrade_target(target) == []
    finally:
        target.engine.dispose()
    assert meanwhile == [["0001", "0002", "0003", "0004", "0005"]]
    assert revisions(store_url).at_head


def _differences(engine, backend: str) -> list:
    """What Alembic finds between the database and the schema definition (flattened), and
    the collation of ``tips.tip_id``, which Alembic does not compare."""
    with engine.connect() as conn:
        schema = (
            conn.execute(sa.text("SELECT current_schema()")).scalar()
            if backend == "postgis"
            else None
        )
        # only the store's own tables: PostGIS keeps spatial_ref_sys further on the search_path
        ours = set(sa.inspect(conn).get_table_names(schema=schema)) - {"alembic_version"}
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_server_default": True,
                "include_name": lambda name, kind, _: kind != "table" or name in ours,
            },
        )
        found = compare_metadata(context, metadata_for(backend))
        tip_id = next(c for c in sa.inspect(conn).get_columns("tips") if c["name"] == "tip_id")
    flat = [d for diff in found for d in (diff if isinstance(diff, list) else [diff])]
    return flat, getattr(tip_id["type"], "collation", None)


def test_the_migrations_build_the_schema_definition(store_url):
    backend = "postgis" if store_url.startswith("postgresql") else "sqlite"
    assert upgrade(store_url, to="0001") == ["0001"]
    engine = target_for(store_url).engine
    try:
        # at revision 1 the comparison sees what the later revisions change
        before, collation = _differences(engine, backend)
        if backend == "sqlite":
            assert any(d[0] == "remove_column" and d[3].name == "reported_ts" for d in before)
            assert any(d[0] == "modify_nullable" and d[3] == "tip_id" for d in before)
            assert any(d[0] == "add_index" and d[1].name == "tips_time" for d in before)
        else:  # Alembic does not compare collations: the inspector does
            assert collation is None
        assert upgrade(store_url) == ["0002", "0003", "0004", "0005"]
        after, collation = _differences(engine, backend)
        assert after == []
        assert collation == ("C" if backend == "postgis" else None)
    finally:
        engine.dispose()


def _schema_text(url: str) -> list:
    """What the database says of the table tips: its DDL, columns, constraints and indexes."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            rows = db.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'tips' ORDER BY name"
            ).fetchall()
        return [
            (kind, name, " ".join((sql or "").replace("IF NOT EXISTS ", "").split()))
            for kind, name, sql in rows
        ]
    import psycopg

    with psycopg.connect(url) as db:
        columns = db.execute(
            "SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
            " pg_get_expr(d.adbin, d.adrelid), a.attcollation::regcollation::text"
            " FROM pg_attribute a LEFT JOIN pg_attrdef d"
            " ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " WHERE a.attrelid = 'tips'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
            " ORDER BY a.attnum"
        ).fetchall()
        constraints = db.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'tips'::regclass ORDER BY conname"
        ).fetchall()
        indexes = db.execute(
            "SELECT indexname, replace(indexdef, current_schema() || '.', '') FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename = 'tips' ORDER BY indexname"
        ).fetchall()
    return [*columns, *constraints, *indexes]


def test_revision_1_is_the_schema_of_release_0_1_0(store_url):
    make_release_0_1_0_store(store_url, [])
    release = _schema_text(store_url)
    assert any("tips_time" in str(row) for row in release)
    if store_url.startswith("sqlite:///"):
        drop = sqlite3.connect(store_url.removeprefix("sqlite:///"))
        drop.execute("DROP TABLE tips")
        drop.commit()
        drop.close()
    else:
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as db:
            db.execute("DROP TABLE tips")
    assert upgrade(store_url, to="0001") == ["0001"]
    assert _schema_text(store_url) == release


def _sql(url: str, statement: str) -> None:
    """Run one statement on the database behind a store URL, outside any store."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.execute(statement)
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute(statement)


def test_a_tips_table_of_another_shape_is_refused(store_url):
    _sql(store_url, "CREATE TABLE tips (id integer PRIMARY KEY, note text)")
    with pytest.raises(InvalidInput, match="is not the table of Yizhan 0.1.0") as caught:
        open_store(store_url)
    assert "\n" not in str(caught.value)
    assert "tip_id" in str(caught.value) and "note" in str(caught.value)


def test_a_store_newer_than_this_code_is_refused(store_url):
    open_store(store_url).close()
    _sql(store_url, "UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(InvalidInput, match="revision '0099', which this Yizhan does not know"):
        open_store(store_url)
    with pytest.raises(InvalidInput, match="revision 'zz' is not one of 0001, 0002, 0003"):
        upgrade(store_url, to="zz")


def test_every_pooled_connection_is_durable(store_url):
    if store_url.startswith("sqlite:///"):
        url = store_url
        checks = {
            "PRAGMA journal_mode": "wal",
            "PRAGMA synchronous": 2,  # FULL
            "PRAGMA busy_timeout": 10_000,
        }
    else:  # even when the URL asks for less
        url = store_url.replace("options=", "options=" + quote("-c synchronous_commit=off "))
        checks = {"SHOW synchronous_commit": "on"}
    store = open_store(url)
    try:
        with contextlib.ExitStack() as held:  # three connections at once: three of the pool
            conns = [held.enter_context(store.engine.connect()) for _ in range(3)]
            assert len({id(c.connection.driver_connection) for c in conns}) == 3
            for conn in conns:
                found = {sql: conn.exec_driver_sql(sql).scalar() for sql in checks}
                assert found == checks
    finally:
        store.close()


# -- the monthly counts planning reads (revision 0004) ----------------------------------------

EVERYTHING = dt.datetime(2000, 1, 1, 0, 0, 1, tzinfo=CST)  # no whole month: the tips are grouped


def counted(store, query: TipQuery, by: tuple[str, ...]) -> list[tuple]:
    return sorted(tuple(str(v) for v in row.values()) for row in store.count_by(query, by))


def assert_counted_as_the_tips(store) -> None:
    """Every question the monthly counts answer gets the answer the tips themselves give."""
    with store.engine.connect() as conn:
        held = conn.execute(sa.text("SELECT coalesce(sum(n), 0) FROM tip_months")).scalar_one()
    assert held == store.count_tips()  # every tip is in the counts, once
    cases = [
        (TipQuery(), ("grid_code", "category", "month")),
        (TipQuery(), ("month",)),
        (TipQuery(outside_city=False), ("grid_code",)),
        (TipQuery(outside_city=False, categories=["11"]), ("grid_code", "category", "month")),
        (TipQuery(outside_city=True), ("lonlat3", "category", "month")),
        (TipQuery(outside_city=True), ("lonlat3",)),
        (TipQuery(since=dt.datetime(2026, 6, 1, tzinfo=CST)), ("grid_code",)),
        (TipQuery(until=dt.datetime(2026, 6, 1, tzinfo=CST)), ("category", "month")),
    ]
    for query, by in cases:
        # the same question with bounds that are no whole months is answered from the tips
        grouped = TipQuery(
            **{
                **query.__dict__,
                "since": query.since or EVERYTHING,
                "until": query.until or dt.datetime(2100, 1, 1, 0, 0, 1, tzinfo=CST),
            }
        )
        assert counted(store, query, by) == counted(store, grouped, by), (query, by)


def test_the_monthly_counts_answer_as_the_tips_do(store):
    store.import_tips(
        [
            make_tip("A", category="11", reported_at=at(8)),
            make_tip("B", category="05", reported_at=at(9), grid_code="42010000102"),
            make_tip("C", category="11", reported_at="2026-06-30T23:30:00+08:00"),
            make_tip("D", category="11", reported_at="2026-06-30T16:30:00+00:00"),  # 1 July
            make_tip("E", category="13", grid_code=None, outside_city=True, lon=113.98764),
            make_tip("F", category="13", grid_code=None, outside_city=True, lon=113.98766),
            make_tip("G", category="13", grid_code=None, outside_city=True, lon=113.9991),
        ]
    )
    store.add_tip(make_tip("H", category="05"), idempotency_key="k", fingerprint="f")
    store.add_tip(make_tip("H2", category="05"), idempotency_key="k", fingerprint="f")  # replay
    store.import_tips([make_tip("A", category="99")])  # stored already: not counted again
    assert_counted_as_the_tips(store)
    cells = store.count_by(TipQuery(outside_city=False), ("grid_code", "category", "month"))
    assert sorted((r["grid_code"], r["category"], r["month"], r["count"]) for r in cells) == [
        ("42010000101", "05", "2026-05", 1),
        ("42010000101", "11", "2026-05", 1),
        ("42010000101", "11", "2026-06", 1),
        ("42010000101", "11", "2026-07", 1),
        ("42010000102", "05", "2026-05", 1),
    ]
    squares = store.count_by(TipQuery(outside_city=True), ("lonlat3",))
    assert sorted((r["lon3"], r["count"]) for r in squares) == [(113.988, 2), (113.999, 1)]
    # a tip changed or removed by hand moves out of its count
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE tips SET category = '12' WHERE tip_id = 'A'"))
        conn.execute(sa.text("UPDATE tips SET status = 'closed' WHERE tip_id = 'C'"))
        conn.execute(sa.text("DELETE FROM tips WHERE tip_id = 'B'"))
    assert_counted_as_the_tips(store)
    months = store.count_by(TipQuery(categories=["11", "12"]), ("category",))
    assert sorted((r["category"], r["count"]) for r in months) == [("11", 2), ("12", 1)]
