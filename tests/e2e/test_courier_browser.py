"""The courier's side of the case loop in a real headless Chromium, against the real server on
the demo city with a fresh SQLite store: a report is kept with its receipt in 我的上报; a second
rider at the same place is shown the open case and says 我也遇到; staff close the case through
the API; the first rider answers 否 to 问题解决了吗, and the case is dispatched again."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import urllib.request
import uuid

import pytest
import test_finder_browser as finder
from test_finder_browser import PHONE_CONTEXT, new_page, open_tab, queue

browser = finder.browser
CATEGORY = "11"


@contextlib.contextmanager
def serve(tmp_path_factory):
    """The server on a free port with a fresh SQLite store (without the demo's tips, so that
    only this test's are near), and an admin token made with `yizhan staff add` on the same
    store."""
    db = tmp_path_factory.mktemp("courier") / "courier.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIZHAN_")}
    yizhan = shutil.which("yizhan")
    assert yizhan, "the yizhan command is not installed (pip install .)"
    added = subprocess.run(
        [yizhan, "staff", "add", "e2e 管理员", "--role", "admin", "--db", f"sqlite:///{db}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    with finder.serve(
        tmp_path_factory, db=db, settings={"YIZHAN_IMPORT_PACK_TIPS": "false"}
    ) as base:
        yield base, token


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(tmp_path_factory) as running:
        yield running


def call(base: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers=headers)
    with urllib.request.urlopen(request) as r:
        return json.load(r)


def phone_at_home(browser, base: str):
    """A phone (its own browser context: its own reporter id and reports) on the finder."""
    page = new_page(browser, base, **PHONE_CONTEXT)
    page.goto(base + "/")
    page.wait_for_function("window.YZ && YZ.cluster && YZ.markers.length > 0")
    return page


def report_here(page, description: str) -> None:
    """Fill in a report of CATEGORY at the phone's own position and press 提交上报."""
    open_tab(page, "report")
    page.wait_for_selector("#yz-cat[data-loaded=true]")
    page.select_option("#yz-cat", CATEGORY)
    page.fill("#yz-desc", description)
    page.click("#yz-pos-gps")
    page.wait_for_function(
        "document.getElementById('yz-pos-text').textContent.includes('我的位置')"
    )
    page.click("#yz-submit")


def mine(page) -> list[dict]:
    return page.evaluate("JSON.parse(localStorage.getItem('yizhan.myTips') || '[]')")


def state_shown(page, tip_id: str, name: str) -> None:
    """Until 我的上报 shows the tip in the state named ``name``."""
    page.wait_for_function(
        """([id, name]) => {
            const s = document.querySelector(`.yz-mine-item[data-tip="${id}"] .yz-state`);
            return s !== null && s.textContent === name;
        }""",
        arg=[tip_id, name],
    )


def test_report_me_too_and_not_fixed_sends_the_case_back(browser, server):
    base, token = server
    first = phone_at_home(browser, base)
    second = phone_at_home(browser, base)
    try:
        # the first rider reports; the phone keeps the tip's receipt
        description = f"e2e 井盖缺失 {uuid.uuid4().hex[:8]}"
        report_here(first, description)
        first.wait_for_selector(".yz-result-dl")
        assert "已上报" in first.inner_text("#yz-report-msg")
        (kept,) = mine(first)
        tip_id = kept["tip_id"]
        assert len(kept["receipt"]) == 24 and kept["description"] == description
        assert queue(first) == []
        open_tab(first, "mine")
        state_shown(first, tip_id, "待立案")
        item = first.locator(f'.yz-mine-item[data-tip="{tip_id}"]')
        assert description in item.inner_text()
        assert item.locator(".yz-ask").count() == 0  # nothing to answer yet

        # a second rider at the same place is shown the open case, and says "me too"
        report_here(second, "e2e 这里井盖也没了")
        listed = second.wait_for_selector(f'.yz-dup[data-tip="{tip_id}"]')
        text = listed.inner_text()
        assert "公用设施" in text and "待立案" in text and "0 米" in text
        assert description in text
        assert second.is_visible("#yz-send-anyway")
        finder.ARTIFACTS.mkdir(exist_ok=True)
        second.screenshot(path=str(finder.ARTIFACTS / "finder-nearby.png"))
        listed.query_selector("button.yz-metoo").click()
        second.wait_for_selector(f'.yz-dup[data-tip="{tip_id}"] .yz-dup-done')
        assert "1 人也遇到" in second.inner_text(f'.yz-dup[data-tip="{tip_id}"]')
        assert "已记录“我也遇到”" in second.inner_text("#yz-report-msg")
        assert not second.is_visible("#yz-send-anyway")
        public = call(base, f"/api/tips/{tip_id}")["properties"]
        assert public["confirmations"] == 1
        assert queue(second) == [] and mine(second) == []  # nothing was reported a second time
        assert second.input_value("#yz-desc") == ""

        # the first rider, at the same place again, sees its own report and sends anyway
        report_here(first, "e2e 又看到一次")
        own = first.wait_for_selector(f'.yz-dup[data-tip="{tip_id}"]')
        assert own.query_selector(".yz-dup-mine").inner_text() == "我的上报"
        assert own.query_selector("button") is None
        first.click("#yz-send-anyway")
        first.wait_for_selector(".yz-result-dl")
        assert len(mine(first)) == 2

        # staff close the case
        for action, extra in [
            ("register", {}),
            ("dispatch", {}),
            ("handle", {"note": "已更换井盖", "public_note": "井盖已更换"}),
            ("verify", {}),
        ]:
            case = call(
                base, f"/api/cases/{tip_id}/actions", {"action": action, **extra}, token=token
            )
        assert case["state"] == "closed"

        # 我的上报 shows it closed and asks; 否 sends it back to its unit
        open_tab(first, "mine")
        first.click("#yz-mine-refresh")
        state_shown(first, tip_id, "已结案")
        item = first.locator(f'.yz-mine-item[data-tip="{tip_id}"]')
        assert "处置反馈：井盖已更换" in item.inner_text()
        assert item.locator(".yz-ask-q").inner_text() == "问题解决了吗？"
        assert item.locator(".yz-ask button").all_inner_texts() == ["是", "否", "不清楚"]
        item.locator('button[data-fixed="no"]').click()
        state_shown(first, tip_id, "已派遣")
        assert "重新派给处置单位" in first.inner_text("#yz-mine-msg")
        assert first.locator(f'.yz-mine-item[data-tip="{tip_id}"] .yz-ask').count() == 0
        case = call(base, f"/api/cases/{tip_id}", token=token)
        assert (case["state"], case["reopen_count"], case["satisfaction"]) == (
            "dispatched",
            1,
            "no",
        )
        assert case["history"][-1]["action"] == "reopen"
        first.screenshot(path=str(finder.ARTIFACTS / "finder-mine.png"))
    finally:
        for page in (first, second):
            page.context.close()
    assert first.console.errors == [] and second.console.errors == []
