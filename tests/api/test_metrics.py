"""The rates (综合评价) from the store, on SQLite and on PostGIS: fourteen cases with known
states, deadlines, times, rework and satisfaction (:data:`CASES`), every number counted by hand.

What each case is for: A2 was handled after its deadline (and reworked); A4 is open and past
its deadline, so it counts against the on-time rate; A5 is suspended, so it is left out of it;
A3's reporter said "unknown", which the satisfaction rate leaves out; B3 and B4 have deadlines
still to come; B5 is an imported closed case, never registered, with no deadline; X1 lies
outside every subdistrict. Subdistrict B has four closed cases (2, 10, 24 and 34 hours to close:
the median is the mean of the middle two), the city eight.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pandas as pd
import pytest
from conftest import SUB_A, SUB_B, write_pack
from fastapi.testclient import TestClient

from api.app import create_app
from api.services.metrics import case_metrics
from api.services.staff import add_staff
from api.settings import Settings
from api.stores import MetricsQuery, open_store
from geo.city import load_city

UNITS = """unit_id,name,categories,subdistricts
UA,东湖街道城管中队,*,420100001
UB,西湖街道城管中队,*,420100002
UL,区路灯所,11,*
"""
# Times are 2026, city time (03-02T08 is 2026-03-02T08:00+08:00); 2099 is a deadline still to
# come; "-" is none. rw: rework_count; says: the reporter's answer (satisfaction).
CASES = """
id  sub  cat  unit  source         state       reported  due       handled   closed    rw  says
A1  A    05   UA    courier        closed      03-02T08  03-04T18  03-03T10  03-03T18  0   yes
A2  A    05   UA    hotline_12345  closed      03-05T09  03-06T18  03-07T12  03-07T19  1   no
A3  A    11   UL    grid_worker    closed      03-10T08  03-12T18  03-12T09  03-12T20  1   unknown
A4  A    05   UA    courier        dispatched  04-01T08  04-03T18  -         -         0   -
A5  A    05   UA    courier        suspended   04-02T08  04-05T18  -         -         0   -
A6  A    05   -     courier        reported    04-10T08  -         -         -         0   -
A7  A    05   -     hotline_12345  rejected    04-11T08  -         -         -         0   -
B1  B    05   UB    courier        closed      03-03T08  03-05T18  03-03T20  03-04T08  0   yes
B2  B    11   UL    hotline_12345  closed      03-20T10  03-23T18  03-21T08  03-21T20  0   yes
B3  B    05   UB    courier        handled     04-15T08  2099      04-15T12  -         0   -
B4  B    05   UB    courier        dispatched  04-20T08  2099      -         -         0   -
B5  B    05   -     city_app       closed      04-21T08  -         -         04-21T10  0   -
B6  B    05   UB    grid_worker    closed      04-22T08  04-24T18  04-22T12  04-22T18  0   no
X1  -    05   UA    courier        closed      03-25T08  03-27T18  03-25T12  03-25T14  0   -
"""
NOT_REGISTERED = {"A6", "A7", "B5"}
SUBDISTRICTS = {"A": SUB_A, "B": SUB_B, "-": None}
COUNTS = ("cases", "registered", "closed", "closed_on_time", "due", "reworked", "handled")
COUNTS += ("satisfied", "rated")
RATES = ("closed_rate", "on_time_rate", "rework_rate", "satisfied_rate", "median_hours_to_close")


def when(text: str) -> str | None:
    if text == "-":
        return None
    if text == "2099":
        return "2099-01-01T00:00:00+08:00"
    return f"2026-{text}:00:00+08:00"


def tips() -> list[dict]:
    """The cases of :data:`CASES` as tips with their ``case`` columns, for ``import_tips``."""
    out = []
    lines = CASES.strip().splitlines()
    names = lines[0].split()
    for line in lines[1:]:
        c = dict(zip(names, line.split(), strict=True))
        sub = SUBDISTRICTS[c["sub"]]
        registered = None if c["id"] in NOT_REGISTERED else when(c["reported"])
        out.append(
            {
                "tip_id": c["id"],
                "reported_at": when(c["reported"]),
                "category": c["cat"],
                "description": "",
                "reporter_id": "r",
                "status": "closed" if c["state"] in ("closed", "rejected") else "open",
                "lon": {"A": 114.0015, "B": 114.0105}.get(c["sub"], 114.02),
                "lat": 30.5015,
                "grid_code": None,
                "subdistrict_code": sub,
                "outside_city": sub is None,
                "case": {
                    "state": c["state"],
                    "source": c["source"],
                    "unit_id": None if c["unit"] == "-" else c["unit"],
                    "suspended_from": "dispatched" if c["state"] == "suspended" else None,
                    "registered_at": registered,
                    "dispatched_at": registered if c["due"] != "-" else None,
                    "handle_due_at": when(c["due"]),
                    "handled_at": when(c["handled"]),
                    "closed_at": when(c["closed"]),
                    "rework_count": int(c["rw"]),
                    "satisfaction": None if c["says"] == "-" else c["says"],
                },
            }
        )
    return out


def expect(*counts: int, rates: tuple) -> dict:
    """A group's numbers in the order of COUNTS and RATES."""
    return dict(zip(COUNTS, counts, strict=True)) | dict(zip(RATES, rates, strict=True))


BY_SUBDISTRICT = {
    # cases, registered, closed, closed_on_time, due, reworked, handled, satisfied, rated
    SUB_A: expect(7, 5, 3, 2, 4, 2, 3, 1, 2, rates=(3 / 5, 2 / 4, 2 / 3, 1 / 2, 58.0)),
    SUB_B: expect(6, 5, 4, 3, 3, 0, 4, 2, 3, rates=(4 / 5, 3 / 3, 0 / 4, 2 / 3, 17.0)),
    None: expect(1, 1, 1, 1, 1, 0, 1, 0, 0, rates=(1.0, 1.0, 0.0, None, 6.0)),
}
CITY = expect(14, 11, 8, 6, 8, 2, 8, 3, 5, rates=(8 / 11, 6 / 8, 2 / 8, 3 / 5, 29.0))
BY_MONTH = {
    "2026-03": expect(6, 6, 6, 5, 6, 2, 6, 3, 4, rates=(1.0, 5 / 6, 2 / 6, 3 / 4, 34.0)),
    "2026-04": expect(8, 5, 2, 1, 2, 0, 2, 0, 1, rates=(2 / 5, 1 / 2, 0.0, 0.0, 6.0)),
}
BY_UNIT = {
    "UA": expect(5, 5, 3, 2, 4, 1, 3, 1, 2, rates=(3 / 5, 2 / 4, 1 / 3, 1 / 2, 34.0)),
    "UB": expect(4, 4, 2, 2, 2, 0, 3, 1, 2, rates=(2 / 4, 1.0, 0.0, 1 / 2, 17.0)),
    "UL": expect(2, 2, 2, 2, 2, 1, 2, 1, 1, rates=(1.0, 1.0, 1 / 2, 1.0, 47.0)),
    None: expect(3, 0, 1, 0, 0, 0, 0, 0, 0, rates=(None, None, None, None, 2.0)),
}


@pytest.fixture(scope="module")
def unit_city(tmp_path_factory):
    folder = write_pack(tmp_path_factory.mktemp("metrics") / "pack")
    (folder / "units.csv").write_text(UNITS, encoding="utf-8")
    return folder, load_city(folder)


@pytest.fixture
def rates(store_url, unit_city):
    """A client on a store holding the fourteen cases, and tokens: an admin, a dispatcher of
    SUB_A, unit UA."""
    _, city = unit_city
    with TestClient(create_app(Settings(db=store_url), city=city)) as client:
        store = client.app.state.store
        assert store.import_tips(tips()) == 14
        tokens = {}
        for key, role, subs, unit in [
            ("admin", "admin", (), None),
            ("dispatcher_a", "dispatcher", (SUB_A,), None),
            ("unit_a", "unit", (), "UA"),
        ]:
            _, tokens[key] = add_staff(city, store, key, role=role, subdistricts=subs, unit_id=unit)
        yield client, tokens


def get(client, token, **params):
    r = client.get("/api/metrics", params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def numbers(row: dict) -> dict:
    return {k: row[k] for k in (*COUNTS, *RATES)}


def assert_rows(body: dict, expected: dict) -> None:
    got = {g["key"]: numbers(g) for g in body["groups"]}
    assert list(got) == list(expected)  # sorted by key, no key last
    for key, numbers_ in expected.items():
        assert got[key] == numbers_, key


def test_rates_per_subdistrict_and_for_the_city(rates):
    client, tok = rates
    body = get(client, tok["admin"], group_by="subdistrict")
    assert body["group_by"] == "subdistrict"
    assert (body["since"], body["until"]) == (None, None)
    assert_rows(body, BY_SUBDISTRICT)
    assert [g["name"] for g in body["groups"]] == ["东湖街道", "西湖街道", "城市范围外"]
    assert numbers(body["city"]) == CITY
    assert (body["city"]["key"], body["city"]["name"]) == ("city", "全市")
    assert body["scope"] == {"subdistricts": None, "unit_id": None}
    # the cases the rules single out, one by one
    a = next(g for g in body["groups"] if g["key"] == SUB_A)
    assert a["due"] == 4  # A4, open and overdue, counts against; A5, suspended, is left out
    assert a["rated"] == 2  # A3's unknown is left out
    b = next(g for g in body["groups"] if g["key"] == SUB_B)
    assert b["median_hours_to_close"] == 17.0  # 2, 10, 24, 34: the mean of the middle two
    assert b["due"] == 3  # B3 and B4's deadlines are still to come; B5 never had one


def test_rates_per_month_and_per_unit(rates):
    client, tok = rates
    body = get(client, tok["admin"], group_by="month")
    assert_rows(body, BY_MONTH)
    assert [g["name"] for g in body["groups"]] == ["2026年3月", "2026年4月"]
    assert numbers(body["city"]) == CITY

    body = get(client, tok["admin"], group_by="unit")
    assert_rows(body, BY_UNIT)  # no unit: nothing registered, handled or rated: null rates
    assert [g["name"] for g in body["groups"]] == [
        "东湖街道城管中队",
        "西湖街道城管中队",
        "区路灯所",
        "未派单位",
    ]
    assert numbers(body["city"]) == CITY


def test_group_names_of_sources_and_categories(rates):
    client, tok = rates
    body = get(client, tok["admin"], group_by="source")
    names = {g["key"]: (g["name"], g["cases"]) for g in body["groups"]}
    assert names == {
        "city_app": ("city_app", 1),  # a source without a name keeps its own
        "courier": ("快递员/骑手", 8),
        "grid_worker": ("网格员", 2),
        "hotline_12345": ("12345热线", 3),
    }
    body = get(client, tok["admin"], group_by="category")
    assert [(g["key"], g["name"], g["cases"]) for g in body["groups"]] == [
        ("05", "街面秩序", 12),
        ("11", "公用设施", 2),
    ]


def test_the_period_counts_cases_by_their_report(rates):
    client, tok = rates
    body = get(client, tok["admin"], group_by="month", since="2026-04-01", until="2026-05-01")
    assert [g["key"] for g in body["groups"]] == ["2026-04"]
    assert numbers(body["city"]) == BY_MONTH["2026-04"]
    assert body["since"] == "2026-04-01T00:00:00+08:00"
    # until is exclusive: A1 was reported at 2026-03-02T08:00
    body = get(client, tok["admin"], until="2026-03-02T08:00:00+08:00")
    assert body["groups"] == [] and body["city"]["cases"] == 0
    assert all(body["city"][rate] is None for rate in RATES)
    body = get(client, tok["admin"], since="2026-03-02T00:00:00Z", until="2026-03-02T00:00:01Z")
    assert body["city"]["cases"] == 1  # 08:00 at +08:00 is 00:00 UTC


def test_a_scoped_account_sees_only_its_cases(rates):
    client, tok = rates
    body = get(client, tok["dispatcher_a"], group_by="subdistrict")
    assert [g["key"] for g in body["groups"]] == [SUB_A]
    assert numbers(body["city"]) == BY_SUBDISTRICT[SUB_A]
    assert (body["city"]["name"], body["scope"]) == (
        "合计",
        {"subdistricts": [SUB_A], "unit_id": None},
    )
    body = get(client, tok["unit_a"], group_by="subdistrict")
    assert [(g["key"], g["cases"]) for g in body["groups"]] == [(SUB_A, 4), (None, 1)]
    assert numbers(body["city"]) == BY_UNIT["UA"]
    assert body["scope"] == {"subdistricts": None, "unit_id": "UA"}


def test_staff_only_and_bad_parameters_named(rates):
    client, tok = rates
    r = client.get("/api/metrics")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/metrics", headers={"Authorization": "Bearer yz_no"}).status_code == 401
    auth = {"Authorization": f"Bearer {tok['admin']}"}
    r = client.get("/api/metrics", params={"group_by": "district"}, headers=auth)
    assert r.status_code == 422
    assert r.json()["detail"].startswith("group_by: Input should be 'subdistrict'")
    assert "'district'" in r.json()["detail"]
    r = client.get("/api/metrics", params={"since": "yesterday"}, headers=auth)
    assert r.status_code == 422 and r.json()["detail"].startswith("since: 'yesterday'")
    r = client.get(
        "/api/metrics", params={"since": "2026-04-01", "until": "2026-03-01"}, headers=auth
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("until: '2026-03-01'")
    r = client.get("/api/metrics", params={"until": "0001-01-01T00:00"}, headers=auth)
    assert r.status_code == 422 and r.json()["detail"].startswith("until:")


def test_the_openapi_document_lists_the_groupings(rates):
    client, _ = rates
    operation = client.get("/openapi.json").json()["paths"]["/api/metrics"]["get"]
    group_by = next(p for p in operation["parameters"] if p["name"] == "group_by")
    assert group_by["schema"]["enum"] == ["subdistrict", "unit", "category", "month", "source"]
    assert {"200", "401", "403", "422"} <= set(operation["responses"])


def test_the_command_line_writes_the_sheet(store_url, unit_city, tmp_path):
    folder, _ = unit_city
    store = open_store(store_url)
    try:
        store.import_tips(tips())
    finally:
        store.close()

    def yizhan(*args):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "api.cli",
                "metrics",
                "--db",
                store_url,
                "--data",
                folder,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done

    sheet = tmp_path / "rates.xlsx"
    yizhan("-o", sheet, "--group-by", "subdistrict")
    table = pd.read_excel(sheet, dtype={"代码": str})
    assert list(table.columns) == [
        "代码",
        "街道",
        "案件数",
        "立案数",
        "结案数",
        "结案率",
        "按期结案率",
        "返工率",
        "满意率",
        "结案中位时长(小时)",
    ]
    assert table["街道"].tolist() == ["东湖街道", "西湖街道", "城市范围外", "全市"]
    assert table["代码"].fillna("").tolist() == [SUB_A, SUB_B, "", ""]
    columns = {
        "案件数": "cases",
        "立案数": "registered",
        "结案数": "closed",
        "结案率": "closed_rate",
        "按期结案率": "on_time_rate",
        "返工率": "rework_rate",
        "满意率": "satisfied_rate",
        "结案中位时长(小时)": "median_hours_to_close",
    }
    for i, expected in enumerate([*BY_SUBDISTRICT.values(), CITY]):
        for title, name in columns.items():
            cell = table.at[i, title]
            if expected[name] is None:
                assert pd.isna(cell), (i, title)
            else:
                assert cell == expected[name], (i, title)

    yizhan("-o", tmp_path / "rates.csv", "--group-by", "month", "--since", "2026-04-01")
    csv = pd.read_csv(tmp_path / "rates.csv", dtype={"代码": str})
    assert csv["月份"].tolist() == ["2026年4月", "全市"] and csv["案件数"].tolist() == [8, 8]

    shown = yizhan("--group-by", "unit").stdout  # no -o: a table
    for text in ("处置单位", "区路灯所", "未派单位", "全市", "75.0%", "47.0"):
        assert text in shown


def test_the_command_line_refuses_a_map_format(tmp_path):
    """Before it opens any store."""
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "metrics", "-o", tmp_path / "x.gpkg"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "the rates are a table; use .xlsx or .csv" in done.stderr


def test_the_service_counts_overdue_at_its_now(store_url, unit_city):
    """``now`` decides which open cases are overdue: before A4's deadline it is not counted."""
    _, city = unit_city
    store = open_store(store_url)
    try:
        store.import_tips(tips())
        before = dt.datetime.fromisoformat("2026-04-03T17:59:59+08:00")
        answer = case_metrics(city, store, None, group_by="subdistrict", now=before)
    finally:
        store.close()
    a = next(g for g in answer["groups"] if g["key"] == SUB_A)
    assert (a["due"], a["on_time_rate"]) == (3, 2 / 3)  # A4 is not overdue yet
    assert answer["as_of"] == "2026-04-03T17:59:59+08:00"


def test_medians_match_a_plain_median(store_url):
    """Many closed cases in few hours of duration (so that the bins SQLite selects from are
    crowded, and the middle ranks fall inside them), to the microsecond: the store's medians
    are those of :func:`statistics.median`, per group and in all."""
    import random
    import statistics

    rng = random.Random(7)
    start = dt.datetime(2026, 3, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    durations: dict[str, list[dt.timedelta]] = {"A": [], "B": [], "C": []}
    rows = []
    for i in range(300):
        group = rng.choice("AAB" if i % 50 else "C")
        took = dt.timedelta(hours=rng.choice([3, 3, 3, 4, 30]), microseconds=rng.randrange(10**9))
        if i % 17 == 0:
            took = dt.timedelta(hours=3, minutes=30)  # ties
        reported = start + dt.timedelta(minutes=i, microseconds=rng.randrange(10**6))
        if i % 5 == 0:  # a fraction SQLite's date functions would round up to the next second
            reported = reported.replace(microsecond=999_700)
            took = dt.timedelta(hours=rng.choice([3, 4]), microseconds=300_100)
        durations[group].append(took)
        rows.append(
            {
                "tip_id": f"T{i:04d}",
                "reported_at": reported.isoformat(),
                "category": "05",
                "description": "",
                "reporter_id": "r",
                "status": "closed",
                "lon": 114.0015,
                "lat": 30.5015,
                "subdistrict_code": group,
                "case": {"state": "closed", "closed_at": (reported + took).isoformat()},
            }
        )
    store = open_store(store_url)
    try:
        store.import_tips(rows)
        groups, total = store.case_metrics(
            MetricsQuery(now=dt.datetime.now(dt.UTC), group_by="subdistrict")
        )
    finally:
        store.close()

    def hours(values) -> float:
        micro = [d // dt.timedelta(microseconds=1) for d in values]
        return float(statistics.median(micro)) / 3.6e9

    # to the microsecond: PostgreSQL's mean of two intervals is one
    micro_h = 1e-6 / 3600
    got = {g["key"]: g["median_hours_to_close"] for g in groups}
    assert got.keys() == durations.keys()
    for key, values in durations.items():
        assert got[key] == pytest.approx(hours(values), rel=0, abs=micro_h), key
    everything = [d for values in durations.values() for d in values]
    assert total["median_hours_to_close"] == pytest.approx(hours(everything), rel=0, abs=micro_h)
    assert {len(v) % 2 for v in durations.values()} == {0, 1}  # odd and even sizes, and 300
