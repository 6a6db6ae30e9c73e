"""The desk (/desk) in a real headless Chromium on a desktop screen, against the installed
``yizhan serve`` on the small city of ``tests/conftest.py`` with a SQLite store of its own.
Staff accounts are made with ``add_staff`` on that store while the server runs; tips come in
through ``POST /api/tips``. Tiles are blocked: the map must work without them.

A dispatcher registers and dispatches a tip, its unit handles it, an inspector verifies it, and
the closed count and 结案率 of its subdistrict change on the page. Also: a wrong or revoked
token, a conflict (409) and a refused field (422), and descriptions and names that are HTML.

Set ``YIZHAN_UPDATE_DOCS_SCREENSHOT=1`` to copy the screenshot into ``docs/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
import test_finder_browser as finder
from conftest import SUB_A, SUB_B, write_pack
from playwright.sync_api import expect
from test_finder_browser import ARTIFACTS, ROOT, cjk_fonts, new_page

from api.services.cases import ACTION_NAMES, STATE_NAMES
from api.services.intake import TipSubmission, submit_tip
from api.services.staff import add_staff, revoke_staff
from api.settings import Settings
from api.stores import open_store
from geo.city import load_city
from geo.hours import CITY_TZ

browser = finder.browser

DESKTOP = {"width": 1280, "height": 800}
HOSTILE = "<img src=x onerror=\"alert('desk')\">"
UNITS = f"""unit_id,name,categories,subdistricts
UA,东湖街道城管中队,*,{SUB_A}
UB,西湖街道城管中队,*,{SUB_B}
UL,{HOSTILE.replace('"', "")}路灯所,11,*
"""
IN_A = {"lon": 114.0012, "lat": 30.5011, "crs": "wgs84", "category": "05"}
IN_B = {"lon": 114.0091, "lat": 30.5011, "crs": "wgs84", "category": "05"}
LATE_RED = "rgb(217, 48, 37)"  # #d93025
DISPATCHED_PURPLE = "rgb(147, 52, 230)"  # #9334e6


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    folder = write_pack(tmp_path_factory.mktemp("desk") / "pack")
    (folder / "units.csv").write_text(UNITS, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def served(tmp_path_factory, pack):
    """The server's URL and its store, opened beside it (SQLite in WAL: both may write)."""
    db = tmp_path_factory.mktemp("desk-db") / "desk.db"
    with finder.serve(tmp_path_factory, "--data", str(pack), db=db) as base:
        store = open_store(f"sqlite:///{db}")
        try:
            yield base, store
        finally:
            store.close()


@pytest.fixture(scope="module")
def server(served):
    return served[0]


@pytest.fixture(scope="module")
def city(pack):
    return load_city(pack)


@pytest.fixture(scope="module")
def old_tip(served, city) -> str:
    """A tip that came in through the intake path months ago, in SUB_B: its case is still to
    be registered, long overdue."""
    submission = TipSubmission(114.0105, 30.5045, "11", "r-old", description="路灯不亮，已很久")
    at = dt.datetime(2026, 6, 1, 9, 0, tzinfo=CITY_TZ)
    return submit_tip(city, served[1], Settings(), submission, now=at).tip["tip_id"]


@pytest.fixture(scope="module")
def staff(served, city):
    """A token for each account: an unscoped dispatcher, units UA and UB, an inspector of
    SUB_A."""
    store = served[1]
    tokens = {}
    for key, name, role, subs, unit in [
        ("dispatcher", "张调度", "dispatcher", (), None),
        ("unit_a", "东湖中队王五", "unit", (), "UA"),
        ("inspector", "李核查", "inspector", (SUB_A,), None),
    ]:
        _, tokens[key] = add_staff(city, store, name, role=role, subdistricts=subs, unit_id=unit)
    return tokens


@pytest.fixture
def open_desk(browser, server):
    """Open /desk in fresh desktop contexts (each its own browser session); afterwards, no
    alert opened, no <img src=x> exists, and the console stayed clean."""
    pages, dialogs = [], []

    def opener():
        page = new_page(browser, server, viewport=DESKTOP)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server + "/desk")
        page.wait_for_selector("body[data-state=signin]")
        pages.append(page)
        return page

    yield opener
    for page in pages:
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
        page.context.close()
        assert page.console.errors == []
    assert dialogs == []


# -------------------------------------------------------------------------------------- helpers


def call(server: str, path: str, *, token: str | None = None, body=None, **params):
    """The API's answer (status, JSON) to a GET, or a POST of ``body``."""
    query = urllib.parse.urlencode(params, doseq=True)
    request = urllib.request.Request(
        f"{server}{path}{'?' + query if query else ''}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def post_tip(server: str, where: dict, description: str) -> dict:
    status, tip = call(
        server, "/api/tips", body={**where, "description": description, "reporter_id": "r-desk"}
    )
    assert status == 201, tip
    return tip


def loads(page) -> int:
    return int(page.evaluate("document.body.dataset.loads || '0'"))


def wait_loaded_after(page, before: int) -> None:
    """Until a load that started after ``before`` loads had finished has finished too."""
    page.wait_for_function(
        "(n) => document.body.dataset.ready === 'true' && Number(document.body.dataset.loads) > n",
        arg=before,
    )


def sign_in(page, token: str) -> None:
    before = loads(page)
    page.fill("#yzd-token", token)
    page.click("#yzd-signin-submit")
    wait_loaded_after(page, before)
    expect(page.locator("#yzd-signin")).to_be_hidden()


def queue_ids(page) -> list[str]:
    return page.eval_on_selector_all("#yzd-q-list .yzd-row", "rows => rows.map(r => r.dataset.tip)")


def open_case(page, tip_id: str, *, by: str = "row") -> None:
    if by == "row":
        page.click(f'#yzd-q-list .yzd-row[data-tip="{tip_id}"]')
    else:
        page.click(f'path.yzd-case[data-tip="{tip_id}"]')
    page.wait_for_selector(f'#yzd-case[data-state=ready] #yzd-c-body[data-tip="{tip_id}"]')


def buttons(page) -> list[str]:
    return page.eval_on_selector_all(
        "#yzd-c-actions .yzd-act", "bs => bs.map(b => b.dataset.action)"
    )


def act(page, action: str, **fields: str) -> None:
    """Take ``action`` in the open panel with ``fields`` (by input name); wait for the queue,
    the map and the rates to load again."""
    page.click(f'#yzd-c-actions .yzd-act[data-action="{action}"]')
    form = page.locator(f'.yzd-act-form[data-action="{action}"]')
    for name, value in fields.items():
        box = form.locator(f'[name="{name}"]')
        if box.evaluate("b => b.tagName") == "SELECT":
            box.select_option(value)
        else:
            box.fill(value)
    before = loads(page)
    form.locator("button[type=submit]").click()
    wait_loaded_after(page, before)
    expect(page.locator("#yzd-c-msg")).to_have_text("已完成：" + ACTION_NAMES[action])


def panel_state(page) -> str:
    return page.get_attribute("#yzd-c-body .yzd-c-status .yzd-badge", "data-state")


def history(page) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#yzd-c-history tbody tr",
        "rows => rows.map(r => [...r.cells].slice(1).map(c => c.textContent))",
    )


def rate_cell(page, key: str, column: str):
    return page.locator(f'#yzd-r-sub tr[data-key="{key}"] td[data-col="{column}"]')


# ---------------------------------------------------------------------------------------- tests


def test_the_desk_takes_a_tip_from_report_to_closed(open_desk, server, staff, old_tip, tmp_path):
    description = f"占道经营 {HOSTILE} <b>不是粗体</b> {uuid.uuid4().hex[:6]}"
    tip_id = post_tip(server, IN_A, description)["tip_id"]

    # -- the dispatcher: the queue and the map, then register and dispatch
    desk = open_desk()
    assert desk.title() == "案件工作台"
    sign_in(desk, staff["dispatcher"])
    assert desk.inner_text("#yzd-who") == "张调度 · 综治中心"
    # soonest deadline first: the months-old case is overdue, so on top, as the API sorts them
    _, listed = call(server, "/api/cases", token=staff["dispatcher"], limit=50)
    assert queue_ids(desk) == [c["tip_id"] for c in listed["cases"]] == [old_tip, tip_id]
    assert desk.inner_text("#yzd-q-count") == "共 2 件，显示 2 件"
    old = desk.locator(f'#yzd-q-list .yzd-row[data-tip="{old_tip}"]')
    expect(old.locator(".yzd-late")).to_contain_text("超时")
    # markers: coloured by state, the overdue one ringed in red with 超时 in its tooltip
    late = desk.locator(f'path.yzd-case[data-tip="{old_tip}"]')
    assert late.get_attribute("data-overdue") == "true"
    assert late.evaluate("p => getComputedStyle(p).stroke") == LATE_RED
    late.hover()
    expect(desk.locator(".leaflet-tooltip .yzd-tt")).to_contain_text("超时")
    legend = desk.inner_text("#yzd-legend")
    assert all(name in legend for name in STATE_NAMES.values()) and "超时" in legend

    # the description is text, in the list and in the panel
    row = desk.locator(f'#yzd-q-list .yzd-row[data-tip="{tip_id}"]')
    assert row.locator(".yzd-row-desc").text_content() == description
    open_case(desk, tip_id)
    assert desk.text_content('#yzd-c-body dd[data-fact="description"]') == description
    assert desk.locator("#yzd-case img, #yzd-case b").count() == 0
    assert desk.text_content('#yzd-c-body dd[data-fact="subdistrict"]') == "东湖街道"
    # exactly the actions the API lists for this account
    _, fresh = call(server, f"/api/cases/{tip_id}", token=staff["dispatcher"])
    assert buttons(desk) == fresh["actions"] == ["register", "reject"]
    assert desk.inner_text("#yzd-c-actions").split() == ["立案", "不予立案"]

    act(desk, "register", urgency="urgent", note="核实属实")
    assert panel_state(desk) == "registered"
    assert buttons(desk) == ["dispatch", "suspend"]
    assert history(desk)[-1] == ["立案", "待立案 → 已立案", "综治中心", "—", "核实属实"]
    # dispatch: the unit picker starts at the suggested unit (category 05 in SUB_A: UA)
    desk.click('#yzd-c-actions .yzd-act[data-action="dispatch"]')
    picker = desk.locator('.yzd-act-form[data-action="dispatch"] select[name="unit_id"]')
    assert picker.input_value() == "UA"
    assert HOSTILE.replace('"', "") + "路灯所（UL）" in picker.inner_text()  # a name as text
    act(desk, "dispatch", public_note="已派东湖中队")
    assert panel_state(desk) == "dispatched"
    assert desk.text_content('#yzd-c-body dd[data-fact="unit"]') == "东湖街道城管中队（UA）"
    # the queue and the map followed
    expect(row).to_have_attribute("data-state", "dispatched")
    marker = desk.locator(f'path.yzd-case[data-tip="{tip_id}"]')
    expect(marker).to_have_attribute("data-state", "dispatched")
    assert marker.evaluate("p => getComputedStyle(p).fill") == DISPATCHED_PURPLE

    # -- the unit, in a browser session of its own: opens the case from the map and handles it
    unit = open_desk()
    sign_in(unit, staff["unit_a"])
    assert queue_ids(unit) == [tip_id]  # a unit sees its own unit's cases only
    open_case(unit, tip_id, by="marker")
    _, seen = call(server, f"/api/cases/{tip_id}", token=staff["unit_a"])
    assert buttons(unit) == seen["actions"] == ["return", "handle"]
    unit.click('#yzd-c-actions .yzd-act[data-action="handle"]')
    unit.click('.yzd-act-form[data-action="handle"] button[type=submit]')  # no reason yet
    expect(unit.locator("#yzd-c-msg")).to_have_text("请填写处置情况。")
    assert panel_state(unit) == "dispatched"
    act(unit, "handle", note=f"摊位已清理 {HOSTILE}", public_note="已清理")
    assert panel_state(unit) == "handled" and buttons(unit) == []
    assert history(unit)[-1] == [
        "处置",
        "已派遣 → 已处置",
        "处置单位",
        "东湖街道城管中队",
        f"摊位已清理 {HOSTILE}公开：已清理",
    ]

    # -- the inspector verifies it, and the subdistrict's rates change on the page
    inspector = open_desk()
    sign_in(inspector, staff["inspector"])
    inspector.click(".yzd-tab[data-tab=rates]")
    expect(inspector.locator("#yzd-rates")).to_have_attribute("data-state", "ready")
    closed = rate_cell(inspector, SUB_A, "closed")
    closed_before = int(closed.text_content())
    rate_before = rate_cell(inspector, SUB_A, "closed_rate").text_content()
    inspector.click(".yzd-tab[data-tab=queue]")
    open_case(inspector, tip_id)
    assert buttons(inspector) == ["verify", "rework"]
    act(inspector, "verify", public_note="核查属实，已结案")
    assert panel_state(inspector) == "closed" and buttons(inspector) == []
    assert [h[0] for h in history(inspector)] == ["立案", "派遣", "处置", "核查结案"]
    inspector.click(".yzd-tab[data-tab=rates]")
    expect(closed).to_have_text(str(closed_before + 1))
    _, metrics = call(server, "/api/metrics", token=staff["inspector"], group_by="subdistrict")
    group = next(g for g in metrics["groups"] if g["key"] == SUB_A)
    assert group["closed"] == closed_before + 1
    shown_rate = f"{100 * group['closed_rate']:.1f}%"
    assert rate_cell(inspector, SUB_A, "closed_rate").text_content() == shown_rate != rate_before
    bar = inspector.locator(f'#yzd-chart .yzd-bar[data-key="{SUB_A}"]')
    assert float(bar.get_attribute("data-value")) == pytest.approx(group["closed_rate"])
    assert bar.locator("rect.yzd-bar-fg").evaluate("r => r.getBBox().width") > 0

    # -- a screenshot, in Chinese: title and labels on the page, a CJK font to draw them
    assert cjk_fonts()
    for label in ("案件工作台", "待办队列", "办理统计", "各街道", "各处置单位", "结案率"):
        assert label in inspector.inner_text("body")
    path = tmp_path / "desk.png"
    inspector.wait_for_function("document.getAnimations().length === 0")
    inspector.screenshot(path=str(path))
    assert path.stat().st_size > 20_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(path, ARTIFACTS / "desk.png")
    if os.environ.get("YIZHAN_UPDATE_DOCS_SCREENSHOT"):
        from PIL import Image  # with the test extras

        image = Image.open(path).convert("RGB")
        image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
            ROOT / "docs" / "desk.png", optimize=True
        )


def test_the_queue_filters_by_subdistrict_category_state_and_overdue(
    open_desk, server, staff, old_tip
):
    tip_b = post_tip(server, {**IN_B, "category": "01"}, "西湖垃圾堆放")["tip_id"]
    desk = open_desk()
    sign_in(desk, staff["dispatcher"])
    token = staff["dispatcher"]

    def check(**params) -> list[str]:
        _, answer = call(server, "/api/cases", token=token, limit=50, **params)
        expected = [c["tip_id"] for c in answer["cases"]]
        expect(desk.locator("#yzd-queue")).to_have_attribute("data-state", "ready")
        assert queue_ids(desk) == expected
        on_map = desk.eval_on_selector_all("path.yzd-case", "ps => ps.map(p => p.dataset.tip)")
        assert sorted(on_map) == sorted(expected)
        return expected

    desk.select_option("#yzd-f-sub", SUB_B)
    assert set(check(subdistrict_code=SUB_B)) >= {old_tip, tip_b}
    desk.select_option("#yzd-f-cat", "01")
    assert check(subdistrict_code=SUB_B, category="01") == [tip_b]
    desk.select_option("#yzd-f-cat", "")
    desk.check("#yzd-f-overdue")
    assert check(subdistrict_code=SUB_B, overdue="true") == [old_tip]
    desk.uncheck("#yzd-f-overdue")
    desk.select_option("#yzd-f-sub", "")
    desk.select_option("#yzd-f-state", "reported")
    assert tip_b in check(state="reported")
    desk.select_option("#yzd-f-state", "closed")
    check(state="closed")
    # the labels are the case loop's own words
    options = desk.eval_on_selector_all("#yzd-f-state option", "os => os.map(o => o.textContent)")
    assert options == ["全部状态", *STATE_NAMES.values()]


def test_a_conflict_reloads_the_case_and_a_refused_field_is_named(open_desk, server, staff):
    tip_id = post_tip(server, IN_A, "共享单车乱停")["tip_id"]
    desk = open_desk()
    desk.console.allowed_local.append("/api/cases/")  # Chromium logs the 409 and 422
    sign_in(desk, staff["dispatcher"])
    open_case(desk, tip_id)

    # 422: the server's reason, and the field it names marked
    desk.click('#yzd-c-actions .yzd-act[data-action="reject"]')
    form = desk.locator('.yzd-act-form[data-action="reject"]')
    form.locator('[name="note"]').fill("重复上报")
    form.locator('[name="duplicate_of"]').fill("T-nope")
    form.locator("button[type=submit]").click()
    expect(desk.locator("#yzd-c-msg")).to_contain_text("请检查输入：duplicate_of: 'T-nope'")
    expect(form.locator('[name="duplicate_of"]')).to_have_class("yzd-invalid")
    assert panel_state(desk) == "reported"

    # 409: someone registered it meanwhile; the page says so and shows the case as it is now
    status, _ = call(
        server,
        f"/api/cases/{tip_id}/actions",
        token=staff["dispatcher"],
        body={"action": "register"},
    )
    assert status == 200
    before = loads(desk)
    desk.click('#yzd-c-actions .yzd-act[data-action="register"]')
    desk.click('.yzd-act-form[data-action="register"] button[type=submit]')
    wait_loaded_after(desk, before)
    expect(desk.locator("#yzd-c-msg")).to_contain_text("案件已被他人办理或状态已变化")
    assert "not allowed in state 'registered'" in desk.inner_text("#yzd-c-msg")
    assert panel_state(desk) == "registered"
    assert buttons(desk) == ["dispatch", "suspend"]
    expect(desk.locator(f'#yzd-q-list .yzd-row[data-tip="{tip_id}"]')).to_have_attribute(
        "data-state", "registered"
    )


def test_sign_in_keeps_the_token_for_the_session_only(open_desk, served, staff, city):
    server, store = served
    desk = open_desk()
    desk.console.allowed_local += ["/api/staff/me", "/api/units", "/api/cases", "/api/metrics"]
    # a wrong token: back at the form, with the reason
    desk.fill("#yzd-token", "yz_" + "x" * 43)
    desk.click("#yzd-signin-submit")
    expect(desk.locator("#yzd-signin-msg")).to_have_text("令牌无效，请检查后重新输入。")
    assert desk.get_attribute("body", "data-state") == "signin"
    assert desk.evaluate("sessionStorage.length") == 0
    desk.fill("#yzd-token", "令牌")
    desk.click("#yzd-signin-submit")
    expect(desk.locator("#yzd-signin-msg")).to_contain_text("令牌格式不对")

    # signed in: the token is in this session's storage only, and survives a reload
    account, token = add_staff(city, store, "临时调度", role="dispatcher")
    sign_in(desk, token)
    assert desk.evaluate("sessionStorage.getItem('yizhan.deskToken')") == token
    assert desk.evaluate("localStorage.length") == 0
    desk.reload()
    desk.wait_for_selector("body[data-state=ready]")
    assert desk.inner_text("#yzd-who").startswith("临时调度")
    # another browser session starts signed out
    other = open_desk()
    assert other.get_attribute("body", "data-state") == "signin"

    # revoked while signed in: the next answer is a 401, and the page signs out
    revoke_staff(store, account.staff_id)
    desk.select_option("#yzd-f-state", "reported")
    desk.wait_for_selector("body[data-state=signin]")
    expect(desk.locator("#yzd-signin-msg")).to_have_text(
        "登录已失效（令牌有误或已被吊销），请重新登录。"
    )
    assert desk.evaluate("sessionStorage.length") == 0
    assert desk.locator("#yzd-q-list .yzd-row").count() == 0

    # sign-out
    sign_in(desk, staff["dispatcher"])
    desk.click("#yzd-signout")
    desk.wait_for_selector("body[data-state=signin]")
    expect(desk.locator("#yzd-signin-msg")).to_have_text("已退出登录。")
    assert desk.evaluate("sessionStorage.length") == 0
    assert desk.locator("path.yzd-case").count() == 0
