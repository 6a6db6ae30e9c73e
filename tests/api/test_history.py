"""A pack's case history and staff, taken in by a new store: the demo's six months replayed
through the rules, and a history that breaks them refused with its row."""

from __future__ import annotations

import collections
import datetime as dt

import pytest
from conftest import write_pack
from fastapi.testclient import TestClient
from shapely.geometry import Point

from api.app import create_app
from api.services.cases import RULES, STATES
from api.services.history import import_pack_history
from api.settings import Settings
from api.stores import CaseQuery, open_store
from data.generator.__main__ import SEED
from data.generator.history import demo_token
from geo.city import load_city
from geo.errors import InvalidLayer
from geo.hours import CITY_TZ


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = tmp_path_factory.mktemp("demo") / "t.db"
    with TestClient(create_app(Settings(db=f"sqlite:///{db}"))) as client:
        yield client


def all_cases(store) -> list[dict]:
    return store.list_cases(CaseQuery(now=dt.datetime.now(CITY_TZ), limit=10**6))[0]


def test_the_demo_history_reaches_every_state_by_the_rules(demo):
    store = demo.app.state.store
    cases = all_cases(store)
    assert len(cases) == 1200
    states = collections.Counter(c["state"] for c in cases)
    assert set(states) == set(STATES)  # every state, some cases in each
    for case in cases:
        history = store.case_history(case["tip_id"])
        state = "reported"
        for h in history:
            assert h["from_state"] == state, (case["tip_id"], h)
            if h["action"] in RULES:
                assert state in RULES[h["action"]].from_states
            state = h["to_state"]
        assert state == case["state"], case["tip_id"]
        assert (case["closed_at"] is not None) == (case["state"] == "closed")
    # the rules' own answers: each dispatched case has the unit the routing gives, deadlines
    dispatched = [c for c in cases if c["dispatched_at"] is not None]
    assert all(c["handle_due_at"] is not None for c in dispatched)
    assert sum(c["rework_count"] > 0 for c in cases) > 0
    assert sum(c["reopen_count"] > 0 for c in cases) > 0
    sources = collections.Counter(c["source"] for c in cases)
    assert set(sources) == {"courier", "hotline_12345", "grid_worker"}
    late = [
        c
        for c in cases
        if c["handled_at"] and c["handle_due_at"] and c["handled_at"] > c["handle_due_at"]
    ]
    assert late  # some were handled after their deadline
    assert store.count_events() == 0  # the past is not sent to a webhook


def test_the_demo_accounts_sign_in_with_the_printed_tokens(demo):
    r = demo.get(
        "/api/staff/me", headers={"Authorization": f"Bearer {demo_token(SEED, 'S-centre')}"}
    )
    assert r.status_code == 200 and r.json()["role"] == "dispatcher"
    queue = demo.get(
        "/api/cases",
        params={"overdue": "true"},
        headers={"Authorization": f"Bearer {demo_token(SEED, 'S-admin')}"},
    ).json()
    assert queue["numberMatched"] > 0 and all(c["overdue"] for c in queue["cases"])


def test_a_history_that_breaks_the_rules_is_refused_with_its_row(tmp_path):
    folder = write_pack(
        tmp_path / "pack",
        tips=[
            {
                "tip_id": "T1",
                "reported_at": "2026-03-02T09:00:00+08:00",
                "category": "05",
                "geometry": Point(114.001, 30.501),
            }
        ],
    )
    (folder / "case_history.csv").write_text(
        "tip_id,at,action,note\n"
        "T1,2026-03-02T09:10:00+08:00,register,\n"
        "T1,2026-03-02T09:20:00+08:00,verify,\n",
        encoding="utf-8",
    )
    city = load_city(folder)
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    try:
        from api.services.intake import import_pack_tips

        import_pack_tips(city, store)
        with pytest.raises(InvalidLayer, match=r"case_history.csv: row 3: .*'verify'.*registered"):
            import_pack_history(city, store, Settings())
        assert store.case_history("T1") == []  # nothing of it was kept
    finally:
        store.close()
