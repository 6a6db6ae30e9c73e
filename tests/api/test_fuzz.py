"""Schemathesis, a client generated from the OpenAPI document, against the real server: every
operation fuzzed with schema-valid and schema-invalid input, and every answer checked against
the document (status codes, content types, headers and bodies), plus Schemathesis' stateful
checks (a tip created is then found). No answer is a server error, and none carries a reporter.

``positive_data_acceptance`` is the one check left out: it expects every schema-valid request
to succeed, but a position the schema allows (any longitude and latitude) is refused when it
lies far outside the city, by design (``YIZHAN_TIP_MAX_OUTSIDE_M``), as is a ``crs`` that names
an EPSG code pyproj does not know.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import write_pack

SECRET = "r_fuzz_secret_reporter"
SEED = 20261201


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIZHAN_")}
    env.update(
        YIZHAN_DATA=str(write_pack(tmp / "pack")),
        YIZHAN_DB=f"sqlite:///{tmp / 'fuzz.db'}",
        YIZHAN_TIP_RATE_PER_REPORTER_PER_MINUTE="0",
        YIZHAN_TIP_RATE_PER_ADDRESS_PER_MINUTE="0",
    )
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / "server.log").read_text()
            try:
                urllib.request.urlopen(base + "/api/health", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp / "server.log").read_text()
                time.sleep(0.2)
        tip = {"lon": 114.0015, "lat": 30.5015, "category": "11", "reporter_id": SECRET}
        request = urllib.request.Request(
            base + "/api/tips",
            data=json.dumps(tip).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 201
        yield base, tmp
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def test_every_answer_conforms_to_the_openapi_document(server):
    base, tmp = server
    har = tmp / "fuzz.har"
    tool = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert tool, "schemathesis is not installed (pip install '.[test]')"
    done = subprocess.run(
        [
            tool,
            "run",
            f"{base}/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            "40",
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--no-color",
            "--report",
            "har",
            "--report-har-path",
            str(har),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp,  # its own cache folder goes there, not into the checkout
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    entries = json.loads(har.read_text())["log"]["entries"]
    assert len(entries) > 500  # every operation was exercised
    statuses = {e["response"]["status"] for e in entries}
    assert statuses >= {200, 201, 404, 422}
    assert not any(s >= 500 for s in statuses)
    for entry in entries:
        text = entry["response"]["content"].get("text") or ""
        assert SECRET not in text, entry["request"]["url"]
        if "/api/tips" in entry["request"]["url"] and entry["response"]["status"] < 300:
            assert '"reporter_id"' not in text, entry["request"]["url"]
