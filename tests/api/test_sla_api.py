"""``GET /api/sla/due``: the deadline arithmetic over HTTP, and its errors in the one model."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.settings import Settings


def make_client(tmp_path_factory, city, **overrides) -> TestClient:
    db = tmp_path_factory.mktemp("sla") / "t.db"
    return TestClient(create_app(Settings(db=f"sqlite:///{db}", **overrides), city=city))


@pytest.fixture(scope="module")
def api(tmp_path_factory, small_city):
    with make_client(tmp_path_factory, small_city) as c:
        yield c


def due(client, **params):
    params["from"] = params.pop("start")
    return client.get("/api/sla/due", params=params)


def test_normal_case_counts_working_time_across_national_day(api):
    answer = due(api, start="2025-09-30T17:00:00+08:00", step="handle", category="04")
    assert answer.status_code == 200
    assert answer.json() == {
        "from": "2025-09-30T17:00:00+08:00",
        "due_at": "2025-10-09T10:00:00+08:00",
        "step": "handle",
        "category": "04",
        "urgency": "normal",
        "minutes": 120,
        "clock": "working",
        "sla_category": "04",
        "work_hours": "09:00-12:00,13:30-18:00",
        "calendar_covers": True,
    }


def test_urgent_case_counts_calendar_time(api):
    body = due(api, start="2025-10-01T10:00", step="handle", category="11", urgency="urgent").json()
    assert (body["due_at"], body["minutes"], body["clock"]) == (
        "2025-10-01T12:00:00+08:00",
        120,
        "calendar",
    )


def test_times_without_offset_are_city_time_and_utc_is_converted(api):
    local = due(api, start="2025-09-26T18:00", step="register").json()
    utc = due(api, start="2025-09-26T10:00:00Z", step="register").json()
    assert local == utc
    assert local["from"] == "2025-09-26T18:00:00+08:00"
    assert local["due_at"] == "2025-09-28T09:30:00+08:00"  # Sunday the 28th is a working day
    assert (local["category"], local["sla_category"]) == (None, "*")


def test_years_the_calendar_does_not_know_are_flagged(api):
    body = due(api, start="2100-10-01T18:00", step="verify").json()
    assert body["due_at"] == "2100-10-04T10:00:00+08:00"
    assert body["calendar_covers"] is False


def test_work_hours_come_from_the_setting(tmp_path_factory, small_city):
    with make_client(tmp_path_factory, small_city, work_hours="08:00-12:00") as client:
        body = due(client, start="2025-09-30T11:00", step="handle", category="04").json()
    assert body["due_at"] == "2025-10-09T09:00:00+08:00"
    assert body["work_hours"] == "08:00-12:00"


def test_a_bad_work_hours_setting_is_refused_by_name():
    with pytest.raises(ValidationError, match="YIZHAN_WORK_HOURS: '9-5': period '9-5'"):
        Settings(work_hours="9-5")


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"start": "2025-09-30T17:00", "step": "close"},
            "step: Input should be 'register', 'dispatch', 'handle' or 'verify' (got 'close')",
        ),
        (
            {"start": "2025-09-30T17:00", "step": "handle", "urgency": "soon"},
            "urgency: Input should be 'normal' or 'urgent' (got 'soon')",
        ),
        (
            {"start": "yesterday", "step": "handle"},
            "from: 'yesterday' is not an ISO 8601 date or date-time (2026-03-01T08:00)",
        ),
        (
            {"start": "", "step": "handle"},
            "from: an ISO 8601 date-time is required, e.g. 2025-09-30T17:00+08:00",
        ),
        (
            {"start": "9999-12-31T23:00", "step": "handle"},
            "from: '9999-12-31T23:00' is not in the years 1900-2999",
        ),
        (
            {"start": "2025-09-30T17:00", "step": "handle", "category": "99"},
            "category: '99' is not one of 01, 02, 03, 04, 05, 06, 11, 12, 13",
        ),
    ],
)
def test_bad_input_is_422_naming_the_field(api, params, detail):
    answer = due(api, **params)
    assert answer.status_code == 422
    assert answer.json()["detail"] == detail


def test_from_is_required(api):
    answer = api.get("/api/sla/due", params={"step": "handle"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == "from: Field required"


def test_openapi_lists_the_choices(api):
    operation = api.get("/openapi.json").json()["paths"]["/api/sla/due"]["get"]
    schemas = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert schemas["step"]["enum"] == ["register", "dispatch", "handle", "verify"]
    assert schemas["urgency"]["enum"] == ["normal", "urgent"]
    assert schemas["category"]["anyOf"][0]["enum"][:3] == ["01", "02", "03"]
    assert schemas["from"]["format"] == "date-time"
    assert set(operation["responses"]) == {"200", "422"}
