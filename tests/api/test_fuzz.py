"""Property-based fuzzing of every operation from the OpenAPI schema: no input gives a 500."""

from __future__ import annotations

import pytest
import schemathesis
from conftest import write_pack
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from api.app import create_app
from api.settings import Settings

SECRET = "r_fuzz_secret_reporter"


@pytest.fixture(scope="module")
def started_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        Settings(
            data=write_pack(tmp / "pack"), db=f"sqlite:///{tmp / 'f.db'}", tip_rate_per_minute=0
        )
    )
    with TestClient(app) as client:  # runs the lifespan: data and store loaded
        tip = {"lon": 114.0015, "lat": 30.5015, "category": "11", "reporter_id": SECRET}
        assert client.post("/api/tips", json=tip).status_code == 201
        yield app


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@pytest.fixture(scope="module")
def fuzz_schema(started_app):
    return schemathesis.openapi.from_asgi("/openapi.json", started_app)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path}: {response.text[:300]}"
    assert SECRET not in response.text
    if case.path.startswith("/api/tips") and response.status_code < 300:
        assert '"reporter_id"' not in response.text
