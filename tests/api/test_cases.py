"""The case loop through the API with real staff tokens, on SQLite and on PostGIS: every path
(register, dispatch, handle, verify; return; rework; reject as duplicate; reopened by the
reporter), every 401, 403 and 409, and the queue."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from conftest import SUB_A, SUB_B, write_pack
from fastapi.testclient import TestClient

from api.app import create_app
from api.services.staff import add_staff
from api.settings import Settings
from geo.city import load_city
from geo.hours import CITY_TZ

UNITS = """unit_id,name,categories,subdistricts
UA,东湖街道城管中队,*,420100001
UB,西湖街道城管中队,*,420100002
UL,区路灯所,11,*
"""
IN_A = {"lon": 114.0012, "lat": 30.5011, "crs": "wgs84", "category": "05"}
IN_B = {"lon": 114.0091, "lat": 30.5011, "crs": "wgs84", "category": "05"}
REPORTER = "r_secret_77"


@pytest.fixture(scope="module")
def unit_city(tmp_path_factory):
    folder = write_pack(tmp_path_factory.mktemp("cases") / "pack")
    (folder / "units.csv").write_text(UNITS, encoding="utf-8")
    return load_city(folder)


@pytest.fixture
def loop(store_url, unit_city):
    """A client, and a token for each kind of staff (scoped dispatcher and inspector in SUB_A,
    units UA and UB, an admin)."""
    with TestClient(create_app(Settings(db=store_url), city=unit_city)) as client:
        store = client.app.state.store
        tokens = {}
        for key, role, subs, unit in [
            ("dispatcher", "dispatcher", (SUB_A,), None),
            ("dispatcher_b", "dispatcher", (SUB_B,), None),
            ("inspector", "inspector", (SUB_A,), None),
            ("unit_a", "unit", (), "UA"),
            ("unit_b", "unit", (), "UB"),
            ("admin", "admin", (), None),
        ]:
            _, tokens[key] = add_staff(
                unit_city, store, key, role=role, subdistricts=subs, unit_id=unit
            )
        yield client, tokens


def post_tip(client, where=IN_A, reporter=REPORTER) -> dict:
    r = client.post("/api/tips", json={**where, "reporter_id": reporter})
    assert r.status_code == 201, r.text
    return r.json()


def act(client, token, tip_id, action, expect=200, **fields):
    r = client.post(
        f"/api/cases/{tip_id}/actions",
        json={"action": action, **fields},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == expect, r.text
    return r.json()


def case(client, token, tip_id) -> dict:
    r = client.get(f"/api/cases/{tip_id}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_register_dispatch_handle_verify_closes_and_keeps_the_history(loop):
    client, tok = loop
    tip = post_tip(client)
    tip_id = tip["tip_id"]
    assert tip["state"] == "reported" and len(tip["receipt"]) == 24
    fresh = case(client, tok["dispatcher"], tip_id)
    assert (fresh["state"], fresh["step"], fresh["unit_id"]) == ("reported", "register", None)
    assert fresh["actions"] == ["register", "reject"]
    assert case(client, tok["inspector"], tip_id)["actions"] == []
    assert case(client, tok["admin"], tip_id)["actions"] == ["register", "reject"]
    assert fresh["due_at"] is not None and fresh["overdue"] is False

    got = act(client, tok["dispatcher"], tip_id, "register", urgency="urgent")
    assert (got["state"], got["unit_id"], got["urgency"], got["step"]) == (
        "registered",
        "UA",  # the routing: category 05 in SUB_A is UA's
        "urgent",
        "dispatch",
    )
    got = act(client, tok["dispatcher"], tip_id, "dispatch")
    assert (got["state"], got["unit_id"], got["step"]) == ("dispatched", "UA", "handle")
    assert got["handle_due_at"] == got["due_at"]
    got = act(
        client,
        tok["unit_a"],
        tip_id,
        "handle",
        note="内部：摊主已劝离",
        public_note="占道摊位已清理",
    )
    assert (got["state"], got["step"]) == ("handled", "verify")
    assert got["actions"] == []  # the unit's part is done
    assert case(client, tok["inspector"], tip_id)["actions"] == ["verify", "rework"]
    got = act(client, tok["inspector"], tip_id, "verify", public_note="核查属实，已结案")
    assert (got["state"], got["step"], got["due_at"], got["open311_status"]) == (
        "closed",
        None,
        None,
        "closed",
    )
    assert got["closed_at"] is not None
    history = [
        (h["action"], h["from_state"], h["to_state"], h["role"], h["unit_id"])
        for h in got["history"]
    ]
    assert history == [
        ("register", "reported", "registered", "dispatcher", None),
        ("dispatch", "registered", "dispatched", "dispatcher", None),
        ("handle", "dispatched", "handled", "unit", "UA"),
        ("verify", "handled", "closed", "inspector", None),
    ]
    assert got["history"][2]["note"] == "内部：摊主已劝离"

    # the public view: state and public notes, no staff, no internal note, no reporter
    public = client.get(f"/api/tips/{tip_id}").json()["properties"]
    assert public["state"] == "closed" and public["status"] == "closed"
    assert [n["note"] for n in public["notes"]] == ["占道摊位已清理", "核查属实，已结案"]
    text = client.get(f"/api/tips/{tip_id}").text
    for secret in (REPORTER, "内部", "staff_id", tip["receipt"]):
        assert secret not in text


def test_a_unit_returns_a_case_to_the_dispatcher(loop):
    client, tok = loop
    tip_id = post_tip(client)["tip_id"]
    act(client, tok["dispatcher"], tip_id, "register")
    act(client, tok["dispatcher"], tip_id, "dispatch", unit_id="UL")  # not the suggestion
    act(client, tok["unit_a"], tip_id, "return", expect=403, note="不归我们")  # not UA's
    act(client, tok["admin"], tip_id, "return", expect=422)  # a return needs a reason
    got = act(client, tok["admin"], tip_id, "return", note="非路灯问题")
    assert (got["state"], got["unit_id"], got["return_count"], got["step"]) == (
        "registered",
        None,
        1,
        "dispatch",
    )
    got = act(client, tok["dispatcher"], tip_id, "dispatch")  # back to the suggested unit
    assert got["unit_id"] == "UA"


def test_an_inspector_sends_a_case_back_for_rework(loop):
    client, tok = loop
    tip_id = post_tip(client)["tip_id"]
    act(client, tok["dispatcher"], tip_id, "register")
    first = act(client, tok["dispatcher"], tip_id, "dispatch")
    act(client, tok["unit_a"], tip_id, "handle", note="处理了")
    got = act(client, tok["inspector"], tip_id, "rework", note="现场仍有摊位")
    assert (got["state"], got["rework_count"], got["step"]) == ("dispatched", 1, "handle")
    assert got["handle_due_at"] == first["handle_due_at"]  # rework does not move the deadline
    act(client, tok["unit_a"], tip_id, "handle", note="再次清理")
    got = act(client, tok["inspector"], tip_id, "verify")
    assert (got["state"], got["rework_count"]) == ("closed", 1)


def test_reject_as_a_duplicate_of_an_open_case(loop):
    client, tok = loop
    first = post_tip(client)["tip_id"]
    second = post_tip(client, reporter="r_other")["tip_id"]
    act(client, tok["dispatcher"], second, "reject", expect=422, duplicate_of=first)  # no reason
    act(client, tok["dispatcher"], second, "reject", expect=422, note="重复", duplicate_of="T-x")
    act(client, tok["dispatcher"], second, "reject", expect=422, note="重复", duplicate_of=second)
    got = act(client, tok["dispatcher"], second, "reject", note="重复上报", duplicate_of=first)
    assert (got["state"], got["duplicate_of"], got["open311_status"]) == (
        "rejected",
        first,
        "closed",
    )
    act(client, tok["dispatcher"], first, "register")  # the first stays open
    third = post_tip(client, reporter="r_third")["tip_id"]
    act(client, tok["dispatcher"], second, "register", expect=409)  # rejected is final
    # a rejected case is not open: nothing may repeat it
    act(client, tok["dispatcher"], third, "reject", expect=422, note="重复", duplicate_of=second)


def test_the_reporter_says_not_fixed_and_the_case_reopens(loop):
    client, tok = loop
    tip = post_tip(client)
    tip_id, receipt = tip["tip_id"], tip["receipt"]
    feedback = f"/api/tips/{tip_id}/feedback"
    # nothing to answer before it is closed
    assert client.post(feedback, json={"receipt": receipt, "fixed": "no"}).status_code == 409
    for step, who in [("register", "dispatcher"), ("dispatch", "dispatcher")]:
        act(client, tok[who], tip_id, step)
    act(client, tok["unit_a"], tip_id, "handle", note="已处理")
    act(client, tok["inspector"], tip_id, "verify")
    assert client.post(feedback, json={"fixed": "no"}).status_code == 403
    wrong = post_tip(client, reporter="r_other")["receipt"]
    assert client.post(feedback, json={"receipt": wrong, "fixed": "no"}).status_code == 403
    assert client.post(feedback, json={"receipt": receipt, "fixed": "maybe"}).status_code == 422
    r = client.post(feedback, json={"receipt": receipt, "fixed": "no"})
    assert r.status_code == 200, r.text
    assert r.json() == {"tip_id": tip_id, "state": "dispatched", "satisfaction": "no"}
    got = case(client, tok["unit_a"], tip_id)  # back with its unit
    assert (got["state"], got["reopen_count"], got["closed_at"], got["step"]) == (
        "dispatched",
        1,
        None,
        "handle",
    )
    assert got["history"][-1]["action"] == "reopen" and got["history"][-1]["role"] == "reporter"
    act(client, tok["unit_a"], tip_id, "handle", note="彻底清理")
    act(client, tok["inspector"], tip_id, "verify")
    r = client.post(feedback, json={"receipt": receipt, "fixed": "yes"})
    assert r.json()["state"] == "closed" and r.json()["satisfaction"] == "yes"


def test_suspend_and_resume_return_to_the_state_left(loop):
    client, tok = loop
    tip_id = post_tip(client)["tip_id"]
    act(client, tok["dispatcher"], tip_id, "register")
    act(client, tok["dispatcher"], tip_id, "dispatch")
    got = act(client, tok["dispatcher"], tip_id, "suspend", note="等待天气好转")
    assert (got["state"], got["step"], got["due_at"], got["overdue"]) == (
        "suspended",
        None,
        None,
        False,
    )
    act(client, tok["unit_a"], tip_id, "handle", expect=409, note="x")
    got = act(client, tok["dispatcher"], tip_id, "resume")
    assert (got["state"], got["step"], got["suspended_from"]) == ("dispatched", "handle", None)


def test_tokens_roles_and_scopes(loop, unit_city):
    client, tok = loop
    tip_id = post_tip(client)["tip_id"]  # in SUB_A
    path = f"/api/cases/{tip_id}"
    assert client.get(path).status_code == 401
    assert client.get(path).headers["www-authenticate"].startswith("Bearer")
    assert client.get(path, headers={"Authorization": "Bearer yz_wrong"}).status_code == 401
    assert client.get(path, headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/api/cases").status_code == 401
    assert client.get("/api/units").status_code == 401
    assert client.post(f"{path}/actions", json={"action": "register"}).status_code == 401
    # the wrong role, or outside the scope: 403, and nothing changes
    act(client, tok["unit_a"], tip_id, "register", expect=403)
    act(client, tok["inspector"], tip_id, "register", expect=403)
    act(client, tok["dispatcher_b"], tip_id, "register", expect=403)
    r = client.get(path, headers={"Authorization": f"Bearer {tok['dispatcher_b']}"})
    assert r.status_code == 403
    assert case(client, tok["admin"], tip_id)["state"] == "reported"
    # not allowed in this state: 409, and nothing changes
    act(client, tok["admin"], tip_id, "verify", expect=409)
    act(client, tok["admin"], tip_id, "resume", expect=409)
    act(client, tok["dispatcher"], tip_id, "nonsense", expect=422)
    act(client, tok["dispatcher"], "T-missing", "register", expect=404)
    act(client, tok["dispatcher"], tip_id, "dispatch", expect=409)
    assert case(client, tok["admin"], tip_id)["history"] == []
    # a revoked token stops at once
    store = client.app.state.store
    account, token = add_staff(unit_city, store, "临时", role="dispatcher")
    act(client, token, tip_id, "register")
    from api.services.staff import revoke_staff

    revoke_staff(store, account.staff_id)
    assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # a unit sees its own unit's cases only
    act(client, tok["dispatcher"], tip_id, "dispatch")
    assert client.get(path, headers={"Authorization": f"Bearer {tok['unit_b']}"}).status_code == 403
    assert case(client, tok["unit_a"], tip_id)["unit_id"] == "UA"


def test_two_staff_acting_at_once_one_wins(loop):
    client, tok = loop
    tip_id = post_tip(client)["tip_id"]
    start = threading.Barrier(2)
    codes = []

    def register(token):
        start.wait()
        r = client.post(
            f"/api/cases/{tip_id}/actions",
            json={"action": "register"},
            headers={"Authorization": f"Bearer {token}"},
        )
        codes.append(r.status_code)

    threads = [threading.Thread(target=register, args=(tok[k],)) for k in ("dispatcher", "admin")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409]
    assert len(case(client, tok["admin"], tip_id)["history"]) == 1


def test_a_stale_version_changes_nothing(loop):
    from api.stores import CaseConflict

    client, tok = loop
    tip_id = post_tip(client)["tip_id"]
    store = client.app.state.store
    version = store.get_case(tip_id)["version"]
    act(client, tok["dispatcher"], tip_id, "register")
    with pytest.raises(CaseConflict):
        store.apply_action(
            tip_id,
            version=version,
            changes={"state": "rejected"},
            action={
                "action": "reject",
                "from_state": "reported",
                "to_state": "rejected",
                "at": dt.datetime.now(CITY_TZ).isoformat(),
                "role": "dispatcher",
                "unit_id": None,
                "staff_id": None,
                "note": "x",
                "public_note": "",
            },
            event={"tip_id": tip_id},
        )
    got = case(client, tok["admin"], tip_id)
    assert got["state"] == "registered" and len(got["history"]) == 1
    assert store.count_events() == 1  # the register's event only


def test_the_queue_puts_overdue_first_and_keeps_to_the_scope(loop):
    client, tok = loop
    store = client.app.state.store
    now = dt.datetime.now(CITY_TZ)
    old = (now - dt.timedelta(days=3)).isoformat()
    base = {
        "category": "05",
        "description": "",
        "reporter_id": "r",
        "status": "open",
        "grid_code": None,
        "street_name": None,
        "street_distance_m": None,
        "nearest_station_id": None,
        "station_distance_m": None,
        "outside_city": False,
    }
    tips = []
    for tip_id, sub, lon, due in [
        ("T-late-a", SUB_A, 114.001, now - dt.timedelta(hours=2)),
        ("T-later-a", SUB_A, 114.002, now - dt.timedelta(hours=5)),
        ("T-soon-a", SUB_A, 114.003, now + dt.timedelta(hours=1)),
        ("T-late-b", SUB_B, 114.009, now - dt.timedelta(hours=9)),
    ]:
        tips.append(
            {
                **base,
                "tip_id": tip_id,
                "reported_at": old,
                "lon": lon,
                "lat": 30.501,
                "subdistrict_code": sub,
                "case": {"step": "register", "due_at": due.isoformat()},
            }
        )
    assert store.import_tips(tips) == 4

    def queue(token, **params):
        r = client.get("/api/cases", params=params, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return [c["tip_id"] for c in r.json()["cases"]], r.json()

    ids, body = queue(tok["admin"])
    assert ids == ["T-late-b", "T-later-a", "T-late-a", "T-soon-a"]
    assert [c["overdue"] for c in body["cases"]] == [True, True, True, False]
    assert body["numberMatched"] == 4
    assert queue(tok["dispatcher"])[0] == ["T-later-a", "T-late-a", "T-soon-a"]  # SUB_A only
    assert queue(tok["dispatcher"], overdue="false")[0] == ["T-soon-a"]
    assert queue(tok["admin"], overdue="true", subdistrict_code=SUB_B)[0] == ["T-late-b"]
    assert queue(tok["admin"], state="registered")[0] == []
    ids, body = queue(tok["admin"], limit=2)
    assert ids == ["T-late-b", "T-later-a"] and body["links"][0]["rel"] == "next"
    assert queue(tok["unit_a"])[0] == []  # nothing dispatched to UA yet
    r = client.get(
        "/api/cases", params={"state": "open"}, headers={"Authorization": f"Bearer {tok['admin']}"}
    )
    assert r.status_code == 422 and "state" in r.json()["detail"]


def test_staff_me_shows_the_account_not_its_token(loop):
    client, tok = loop
    r = client.get("/api/staff/me", headers={"Authorization": f"Bearer {tok['unit_a']}"})
    me = r.json()
    assert (me["role"], me["role_name"], me["unit_id"], me["subdistricts"]) == (
        "unit",
        "处置单位",
        "UA",
        [],
    )
    assert tok["unit_a"] not in r.text
    assert client.get("/api/staff/me").status_code == 401


def test_units_list_what_each_serves(loop):
    client, tok = loop
    r = client.get("/api/units", headers={"Authorization": f"Bearer {tok['unit_b']}"})
    assert r.status_code == 200
    units = {u["unit_id"]: u for u in r.json()}
    assert set(units) == {"UA", "UB", "UL"}
    assert units["UL"]["categories"] == ["11"] and units["UA"]["subdistricts"] == [SUB_A]
