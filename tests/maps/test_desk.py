"""The desk (/desk): a public page whose scripts and styles are all served by the app, carrying
the city's names and the case loop's words as data; the cases themselves only come from the
staff API, with a token."""

from __future__ import annotations

import json
import re

import pytest
from conftest import assert_assets_are_local, subdistrict_features, write_pack
from fastapi.testclient import TestClient

from api.app import create_app
from api.services.cases import ACTIONS, RULES, STATE_NAMES, vocabulary
from api.services.staff import ROLE_NAMES
from api.settings import Settings
from geo.city import load_city
from maps import STATIC_DIR
from maps.desk import desk_page

OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
HOSTILE = "<img src=x onerror=alert(1)>"
TEMPLATE_TEXT = "{{ 7*7 }}{% if true %}!{% endif %}"  # Jinja syntax, to stay text


def page_data(page: str) -> dict:
    """The data the inline script stores for the page's modules (one JSON line)."""
    found = re.findall(r"^\s*data: (\{.*\}),$", page, flags=re.MULTILINE)
    assert len(found) == 1
    return json.loads(found[0])


@pytest.fixture
def client(tmp_path):
    settings = Settings(data=write_pack(tmp_path / "pack"), db=f"sqlite:///{tmp_path / 't.db'}")
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_page_is_public_and_the_cases_are_not(client):
    r = client.get("/desk")  # no token
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<title>案件工作台</title>" in r.text and 'lang="zh-CN"' in r.text
    for label in ("工作人员登录", "待办队列", "办理统计", "只看超时", "各处置单位", "退出登录"):
        assert label in r.text
    for path in ("/api/staff/me", "/api/cases", "/api/units", "/api/cases/T1"):
        assert client.get(path).status_code == 401, path
    # the page holds no case, and no token
    assert "yz_" not in re.sub(r'placeholder="yz_…"', "", r.text)


def test_every_script_and_stylesheet_is_local_and_served(client):
    page = client.get("/desk").text
    urls = assert_assets_are_local(page)
    for url in urls:
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url
    (found,) = re.findall(r'<script type="importmap">(.*?)</script>', page)
    imports = json.loads(found)["imports"]
    modules = sorted((STATIC_DIR / "desk").glob("*.js"))
    assert len(modules) >= 6 and sorted(imports) == [
        f"/static/yizhan/desk/{p.name}" for p in modules
    ]
    assert all("?v=" in url for url in imports.values())
    assert f'<script type="module" src="{imports["/static/yizhan/desk/main.js"]}">' in page
    assert re.search(r'href="/static/yizhan/desk\.css\?v=[0-9a-f]{12}"', page)


def test_the_page_speaks_the_case_loop_in_chinese(client):
    words = page_data(client.get("/desk").text)["words"]
    assert words["states"] == STATE_NAMES
    assert set(ACTIONS) <= set(words["actions"])
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+", name) for name in words["actions"].values())
    assert words["roles"] == {**ROLE_NAMES, "reporter": "上报人"}
    assert set(words["needs_note"]) == {a for a, rule in RULES.items() if rule.needs_note}
    assert words["fields"]["dispatch"] == ["unit_id", "urgency"]
    assert words["fields"]["register"] == ["urgency"]
    assert words["fields"]["reject"] == ["duplicate_of"]
    assert words["fields"]["handle"] == []


def test_names_from_the_pack_are_data_never_markup_or_templates(tmp_path):
    subs = subdistrict_features()
    subs[0]["name"] = HOSTILE + TEMPLATE_TEXT
    city = load_city(write_pack(tmp_path / "pack", subdistricts=subs))
    page = desk_page(city, vocabulary=vocabulary(), tile_url_osm=OSM)
    assert "<img" not in page  # in the page's data as \u003cimg, which no parser reads as a tag
    data = page_data(page)
    assert data["subdistricts"]["name"][0] == HOSTILE + TEMPLATE_TEXT
    assert data["subdistricts"]["code"] == ["420100001", "420100002"]
    assert data["categories"]["11"] == "公用设施"
