"""The planning maps rendered for the small city: heatmap, coverage and gaps pages, their layers,
legends and data, local assets only, no reporter, and the heatmap's size at 1,000,000 tips."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import assert_assets_are_local, write_pack
from fastapi.testclient import TestClient
from shapely.geometry import MultiPolygon, Point, Polygon, box

from api.app import create_app
from api.settings import Settings
from geo.coverage import Coverage, cell_demand, coverage, gaps, gaps_by_subdistrict
from geo.sites import suggest_sites
from maps.coverage import coverage_page, distance_band, distance_bands
from maps.encode import encode_polygons, heat_table
from maps.gaps import gaps_page
from maps.heatmap import heatmap_page

CELL_0101 = "42010000100101"  # west subdistrict, S1 100 m from its centroid
CELL_0102_EAST = "42010000200102"  # east subdistrict, 333 m south of S3
CELL_0104 = "42010000100104"  # west subdistrict, 370 m from S2
REPORTER = "r_private_7f3a"
DESCRIPTION = "不应出现在热力图上的描述"
HOSTILE = "<img src=x onerror=alert(1)>"
TEMPLATE_TEXT = "{{ 7*7 }}{% if true %}!{% endif %}{# c #}"  # Jinja syntax, to stay text


# ------------------------------------------------------------------------------------- helpers


def page_data(page: str) -> dict:
    """The one JSON object a page hands to planning.js."""
    found = re.findall(r"^\s*var yzp_data = (\{.*\});$", page, flags=re.MULTILINE)
    assert len(found) == 1
    return json.loads(found[0])


def layer_names(page: str) -> set[str]:
    """Overlay names in the layer control."""
    block = re.search(r"overlays :\s*\{(.*?)\},", page, flags=re.DOTALL)
    assert block, "no layer control"
    return {json.loads(name) for name in re.findall(r'^\s*("[^"]*") :', block[1], re.MULTILINE)}


def raw_weights() -> pd.DataFrame:
    """Six tips as the store gives them below the threshold: one row per tip."""
    return pd.DataFrame(
        {
            "lon": [114.001, 114.001, 114.0012, 114.0111, 114.0112, 114.0113],
            "lat": [30.5012, 30.5012, 30.501, 30.5011, 30.5012, 30.5013],
            "month": ["2026-01", "2026-01", "2026-03", "2026-02", "2026-03", "2026-03"],
            "category": ["11", "11", "05", "05", "01", "11"],
            "count": 1,
        }
    )


@pytest.fixture(scope="module")
def cov(small_city):
    # at 300 m: two tips in 0101 (covered), three in the east cell 0102 (333 m from S3) and one
    # in 0104 (370 m from S2), both uncovered
    counts = pd.Series({CELL_0101: 2.0, CELL_0102_EAST: 3.0, CELL_0104: 1.0})
    return coverage(small_city, cell_demand(small_city, counts), radius_m=300)


# ----------------------------------------------------------------------------- shared pieces


def test_distance_bands_are_stepped_in_metres_around_the_radius():
    assert [b["label"] for b in distance_bands(1000)] == [
        "≤ 500 米",
        "≤ 1000 米（覆盖半径）",
        "≤ 2000 米",
        "≤ 3000 米",
        "> 3000 米",
        "不可达",
    ]
    assert [b["upper_m"] for b in distance_bands(1250)][:4] == [625, 1250, 2500, 3750]
    dist = [0, 500, 500.1, 1000, 1000.5, 2000, 3000, 3000.1, np.inf]
    assert distance_band(dist, 1000).tolist() == [0, 0, 1, 1, 2, 2, 3, 4, 5]


def test_polygons_are_encoded_as_metre_integers():
    holed = Polygon(
        [(114.03, 30.0), (114.04, 30.0), (114.04, 30.01), (114.03, 30.0)],
        [[(114.035, 30.001), (114.039, 30.001), (114.039, 30.002)]],
    )
    geoms = [
        box(114.0, 30.0, 114.001, 30.002),
        MultiPolygon([box(114.01, 30, 114.02, 30.01), holed]),
    ]
    origin = (11_400_000, 3_000_000)
    shapes = encode_polygons(geoms, origin)
    # 1e-5 degree steps: the first vertex from the origin, then differences; rings left open
    assert shapes[0] == [[[100, 0, 0, 200, -100, 0, 0, -200]]]
    assert shapes[1] == [
        [[2000, 0, 0, 1000, -1000, 0, 0, -1000]],
        [[3000, 0, 1000, 0, 0, 1000], [3500, 100, 400, 0, 0, 100]],  # the hole is kept
    ]
    assert encode_polygons([], origin) == []


# ----------------------------------------------------------------------------------- heatmap


def test_heat_table_keeps_every_count_by_position_month_and_category(small_city):
    data = heat_table(raw_weights(), small_city.categories)
    assert data["months"] == ["2026-01", "2026-02", "2026-03"]
    assert data["cats"] == ["01", "02", "03", "04", "05", "06", "11", "12", "13"]  # the table's
    assert data["cat_names"][6] == "公用设施"
    assert data["total"] == 6
    # positions in 1e-5 degree from the south-west-most one; the two tips at 114.001, 30.5012
    # share one
    assert (data["scale"], data["x0"], data["y0"]) == (100_000, 11_400_100, 3_050_100)
    assert data["x"] == [0, 20, 1010, 1020, 1030]
    assert data["y"] == [20, 0, 10, 20, 30]
    # one (key, count) run per position; key = month index * 9 + category index
    assert data["dense"] is False
    assert data["r"] == [1, 1, 1, 1, 1]
    assert data["k"] == [0 * 9 + 6, 2 * 9 + 4, 1 * 9 + 4, 2 * 9 + 0, 2 * 9 + 6]
    assert data["n"] == [2, 1, 1, 1, 1]


def test_heat_table_picks_the_dense_layout_when_most_keys_are_filled(small_city):
    codes = list(small_city.categories["code"])
    weights = pd.DataFrame(
        [(114.002, 30.501, "2026-04", c, 1 + i) for i, c in enumerate(codes)]
        + [(114.001, 30.502, "2026-04", c, 9 - i) for i, c in enumerate(codes)]
    )
    weights.columns = ["lon", "lat", "month", "category", "count"]
    data = heat_table(weights, small_city.categories)
    assert data["dense"] is True and "r" not in data and "k" not in data
    assert (data["x0"], data["y0"], data["x"], data["y"]) == (
        11_400_100,
        3_050_100,
        [0, 100],
        [100, 0],
    )
    # one count per position and key, position-major: the west position first
    assert data["n"] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    # every cell, month and category filled: dense, every count kept
    rng = np.random.default_rng(1)
    cells = small_city.cell_lonlat
    rows = [
        (lon, lat, f"2026-0{m}", c, int(rng.integers(1, 9)))
        for lon, lat in zip(cells["lon"], cells["lat"], strict=True)
        for m in (1, 2)
        for c in codes
    ]
    weights = pd.DataFrame(rows, columns=["lon", "lat", "month", "category", "count"])
    data = heat_table(weights, small_city.categories)
    assert data["dense"] is True and len(data["n"]) == 8 * 2 * 9
    assert sum(data["n"]) == data["total"] == weights["count"].sum()
    assert sorted(data["n"]) == sorted(weights["count"])


def test_heatmap_page_layers_months_categories_and_stations(small_city):
    page = heatmap_page(
        small_city, raw_weights(), aggregated=False, categories=small_city.categories
    )
    assert "L.heatLayer(" in page
    assert '<script src="/static/vendor/leaflet-heat/leaflet_heat.min.js"></script>' in page
    assert layer_names(page) == {"隐患热力", "街道边界", "驿站"}
    assert_assets_are_local(page)
    data = page_data(page)
    assert data["aggregated"] is False and data["total"] == 6
    # the month view: 全部 plus one button per month present
    buttons = re.findall(r'data-month="(-?\d+)"[^>]*>([^<]+)</button>', page)
    assert buttons == [("-1", "全部"), ("0", "1月"), ("1", "2月"), ("2", "3月")]
    assert 'title="2026年3月"' in page and "逐月播放" in page
    # the category filter: every category of the table, by its Chinese name
    for name in small_city.categories["name"]:
        assert f"<span>{name}</span>" in page
    assert "每条隐患按上报位置显示" in page
    # stations: in service or not (S4 is closed)
    assert [(r[3], r[2]) for r in data["stations"]] == [("S1", 1), ("S2", 1), ("S3", 1), ("S4", 0)]
    assert [r[5] for r in data["stations"]][-1] == "已关闭"
    assert data["subdistricts"]["name"] == ["东湖街道", "西湖街道"]


def test_heatmap_says_when_it_shows_cells_not_tips(small_city):
    weights = raw_weights().groupby(["lon", "lat", "month", "category"]).sum().reset_index()
    page = heatmap_page(small_city, weights, aggregated=True, categories=small_city.categories)
    assert page_data(page)["aggregated"] is True
    assert "按网格汇总" in page


def test_heatmap_escapes_names_from_the_data(small_city):
    table = small_city.categories.copy()
    table.loc[0, "name"] = HOSTILE
    table.loc[1, "name"] = TEMPLATE_TEXT
    page = heatmap_page(small_city, raw_weights(), aggregated=False, categories=table)
    assert HOSTILE not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the checkbox label, escaped
    assert page_data(page)["cat_names"][0] == HOSTILE  # the JSON, safe in the script (\u003c)
    # Jinja syntax in the data stays text, in the panel and in the script
    assert page_data(page)["cat_names"][1] == TEMPLATE_TEXT
    assert f"<span>{TEMPLATE_TEXT}</span>" in page
    assert "49!" not in page


def test_heatmap_of_a_million_tips_stays_under_two_megabytes(small_city):
    # what heat_weights sends above the threshold for 1,000,000 tips in the demo city:
    # 2,658 cell centroids x 6 months x 9 categories, every combination with tips
    rng = np.random.default_rng(7)
    n_cells, months, cats = (
        2658,
        [f"2026-0{m}" for m in range(1, 7)],
        list(small_city.categories["code"]),
    )
    lon = np.round(114.07 + 0.16 * rng.random(n_cells), 6)
    lat = np.round(30.49 + 0.12 * rng.random(n_cells), 6)
    keys = n_cells * len(months) * len(cats)
    counts = rng.multinomial(1_000_000 - keys, rng.dirichlet(np.full(keys, 0.5))) + 1
    weights = pd.DataFrame(
        {
            "lon": np.repeat(lon, len(months) * len(cats)),
            "lat": np.repeat(lat, len(months) * len(cats)),
            "month": np.tile(np.repeat(months, len(cats)), n_cells),
            "category": np.tile(cats, n_cells * len(months)),
            "count": counts,
        }
    )
    assert weights["count"].sum() == 1_000_000
    page = heatmap_page(small_city, weights, aggregated=True, categories=small_city.categories)
    size = len(page.encode("utf-8"))
    assert size < 2_000_000, f"{size / 1e6:.2f} MB"
    data = page_data(page)
    assert data["total"] == 1_000_000 and len(data["x"]) == n_cells
    assert data["months"] == months


# ---------------------------------------------------------------------------------- coverage


def test_coverage_page_layers_legend_and_summary(small_city, cov):
    page = coverage_page(small_city, cov)
    assert layer_names(page) == {"网格（按距离着色）", "驿站服务范围", "街道边界", "驿站"}
    assert_assets_are_local(page)
    data = page_data(page)
    cells = data["cells"]
    assert cells["code"] == list(small_city.grid["grid_code"])
    assert len(cells["shape"]) == 8
    by_code = dict(zip(cells["code"], range(8), strict=True))
    east = by_code[CELL_0102_EAST]
    assert cells["dist"][east] == 333  # metres, to the nearest open station S3
    assert data["stations"][cells["station"][east]][3] == "S3"
    assert cells["demand"][east] == 3
    # bands at radius 300: <=150, <=300, <=600, <=900, beyond
    assert cells["band"] == distance_band(cov.cells["distance_m"], 300).tolist()
    assert cells["band"][east] == 2 and cells["band"][by_code[CELL_0101]] == 0
    assert data["colours"][2] == "#fee08b"
    # the cell's outline box(114.0, 30.5, 114.003, 30.503) in 1e-5 degree from the city's corner
    assert data["origin"] == [11_400_000, 3_050_000]
    assert cells["shape"][by_code[CELL_0101]] == [[[300, 0, 0, 300, -300, 0, 0, -300]]]
    # one catchment per station that is nearest to some cell; S4 is closed and has none
    nearest = set(cov.cells["nearest_station_id"])
    assert {data["stations"][i][3] for i in data["catchments"]["station"]} == nearest
    assert "S4" not in nearest
    # the legend in metres, with the cell count of each step, and the summary box
    legend = re.findall(r'<li><i style="background: (#\w+)"></i>([^<]+?)\s*<span', page)
    assert [html.unescape(label) for _, label in legend] == [
        "≤ 150 米",
        "≤ 300 米（覆盖半径）",
        "≤ 600 米",
        "≤ 900 米",
        "> 900 米",
        "不可达",
    ]
    s = cov.summary()
    for text in (
        f"<dt>覆盖网格数</dt><dd>{s['cells_covered']} / 8</dd>",
        f"<dt>覆盖需求占比</dt><dd>{100 * s['demand_covered_share']:.1f}%</dd>",
        f"<dt>中位距离</dt><dd>{s['median_distance_m']:.0f} 米</dd>",
        f"<dt>P90 距离</dt><dd>{s['p90_distance_m']:.0f} 米</dd>",
        "<dt>半径</dt><dd>300 米</dd>",
        "<dt>度量</dt><dd>直线</dd>",
    ):
        assert text in page
    assert s["demand_covered_share"] == pytest.approx(2 / 6)


def test_coverage_page_shows_unreachable_cells(small_city, cov):
    # as along the streets from a cell no street reaches: no distance, no nearest station
    cells = cov.cells.assign(distance_m=np.inf, nearest_station_id=None, covered=False)
    page = coverage_page(small_city, Coverage(cells=cells, radius_m=300, metric="network"))
    data = page_data(page)
    assert data["cells"]["dist"] == [None] * 8 and data["cells"]["band"] == [5] * 8
    assert data["cells"]["station"] == [-1] * 8
    assert data["catchments"]["shape"] == []
    assert "<dt>中位距离</dt><dd>不可达</dd>" in page and "<dt>度量</dt><dd>路网</dd>" in page


# -------------------------------------------------------------------------------------- gaps


def test_gaps_page_ranks_sites_and_subdistrict_table(small_city, cov):
    ranked = gaps(cov, top=20)
    table = gaps_by_subdistrict(cov, small_city.subdistricts)
    suggestion = suggest_sites(small_city, cov, count=1, min_spacing_m=50)
    page = gaps_page(small_city, cov, ranked, table, suggestion)
    assert layer_names(page) == {
        "未覆盖网格",
        "缺口最大的网格（前 2 名）",
        "建议新站点",
        "街道边界",
        "驿站",
    }
    assert_assets_are_local(page)
    data = page_data(page)
    assert data["ranked"]["code"] == list(ranked["grid_code"])
    assert data["ranked"]["rank"] == [1, 2]
    # gap score: 3 x (1 + 33 / 300) against 1 x (1 + 70 / 300)
    assert data["ranked"]["code"] == [CELL_0102_EAST, CELL_0104]
    assert data["ranked"]["score"] == [3.33, 1.23]
    assert data["ranked"]["sub"] == ["西湖街道", "东湖街道"]
    assert len(data["ranked"]["at"]) == 2
    assert len(data["uncovered"]["shape"]) == int((~cov.cells["covered"]).sum())
    (site,) = data["sites"]
    row = suggestion.sites.iloc[0]
    assert site["added"] == "3" and site["rank"] == 1
    assert site["sub"] == "西湖街道"
    assert site["cell"].endswith(f"（{row['grid_code']}）")
    assert site["street"].startswith(f"{row['street_name']}（约 ")
    assert site["at"] == [round(row["lat"], 7), round(row["lon"], 7)]
    assert data["radius_m"] == 300  # dashed circles: straight-line radius only
    # the panel: before and after, optimal, solver, and one row per subdistrict, worst first
    assert "现状 33.3% → 新增 1 站后 <b>83.3%</b>" in page
    assert '<b class="yzp-ok">最优</b>' in page and suggestion.optimal
    assert f'<dd id="yzp-solver">{suggestion.solver}</dd>' in page
    body = re.search(r'<table class="yzp-table" id="yzp-subdistricts">(.*?)</table>', page, re.S)
    rows = re.findall(
        r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>\s*<td>(.*?)</td></tr>", body[1]
    )
    assert [r[0] for r in rows] == ["西湖街道", "东湖街道"]
    assert [r[1:] for r in rows] == [("3.3", "3", "2"), ("1.2", "1", "1")]  # east: 0101, 0102
    assert re.findall(r"<th>(.*?)</th>", body[1]) == [
        "街道",
        "缺口得分",
        "未覆盖需求",
        "未覆盖网格",
    ]


def test_gaps_page_without_a_suggestion(small_city, cov):
    page = gaps_page(
        small_city, cov, gaps(cov, top=1), gaps_by_subdistrict(cov, small_city.subdistricts), None
    )
    assert "建议新站点" not in layer_names(page)
    assert page_data(page)["sites"] == []
    assert "未计算新站点建议" in page and "最优" not in page


def test_gaps_page_escapes_names(tmp_path):
    from conftest import subdistrict_features

    from geo.city import load_city

    subs = subdistrict_features()
    subs[1]["name"] = HOSTILE
    city = load_city(write_pack(tmp_path / "pack", subdistricts=subs))
    counts = pd.Series({CELL_0102_EAST: 3.0})
    cov = coverage(city, cell_demand(city, counts), radius_m=300)
    page = gaps_page(city, cov, gaps(cov), gaps_by_subdistrict(cov, city.subdistricts), None)
    assert HOSTILE not in page
    assert "<tr><td>&lt;img src=x onerror=alert(1)&gt;</td>" in page
    assert page_data(page)["ranked"]["sub"] == [HOSTILE]


# ------------------------------------------------------------------------------------ routes


TIPS = [
    {
        "tip_id": f"T{i}",
        "reported_at": f"2026-0{1 + i % 3}-10T09:00:00+08:00",
        "category": "11" if i < 3 else "05",
        "description": DESCRIPTION,
        "reporter_id": REPORTER,
        "status": "open",
        "geometry": Point(lon, lat),
    }
    for i, (lon, lat) in enumerate(
        [(114.001, 30.5012), (114.0012, 30.501), (114.0111, 30.5011), (114.0112, 30.5012)]
    )
]


@pytest.fixture
def client(tmp_path, store_url):
    pack = write_pack(tmp_path / "pack", tips=TIPS)
    settings = Settings(data=pack, db=store_url, heatmap_raw_max=3)
    with TestClient(create_app(settings)) as c:
        yield c


def test_map_routes_answer_html_without_reporters(client):
    for path in ("/maps/heatmap", "/maps/coverage", "/maps/gaps"):
        res = client.get(path, params={"since": "2026-01-01"})
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
        assert REPORTER not in res.text and DESCRIPTION not in res.text
        assert "reporter" not in res.text
        for url in assert_assets_are_local(res.text):
            assert url == "data:," or client.get(url).status_code == 200, url


def test_heatmap_route_filters_and_aggregates_above_the_setting(client):
    # 4 tips > heatmap_raw_max=3: per-cell weights at the cell centroids
    data = page_data(client.get("/maps/heatmap").text)
    assert data["aggregated"] is True and data["total"] == 4
    assert len(data["x"]) == 2  # two cells
    # 2 tips of category 11 before March: raw points
    res = client.get("/maps/heatmap", params={"category": "11", "until": "2026-03-01"})
    data = page_data(res.text)
    assert data["aggregated"] is False and data["total"] == 2
    assert data["months"] == ["2026-01", "2026-02"]
    # at the tips' own positions, (114.001, 30.5012) and (114.0012, 30.501)
    assert (data["x0"], data["y0"], data["x"], data["y"]) == (
        11_400_100,
        3_050_100,
        [0, 20],
        [20, 0],
    )


def test_coverage_and_gaps_routes_take_the_planning_parameters(client):
    data = page_data(client.get("/maps/coverage", params={"radius_m": 300}).text)
    east = data["cells"]["code"].index(CELL_0102_EAST)
    assert data["cells"]["band"][east] == 2 and data["cells"]["demand"][east] == 2
    page = client.get(
        "/maps/gaps", params={"radius_m": 300, "top": 1, "count": 1, "category": "11"}
    ).text
    data = page_data(page)
    assert data["ranked"]["code"] == [CELL_0102_EAST] and len(data["sites"]) == 1
    assert "最优" in page
    none = page_data(client.get("/maps/gaps", params={"radius_m": 300, "count": 0}).text)
    assert none["sites"] == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/maps/heatmap", {"since": "yesterday"}, "since"),
        ("/maps/heatmap", {"category": "99"}, "category"),
        ("/maps/coverage", {"radius_m": "far"}, "radius_m"),
        ("/maps/coverage", {"metric": "manhattan"}, "metric"),
        ("/maps/coverage", {"demand": "cats"}, "demand"),
        ("/maps/gaps", {"top": 0}, "top"),
        ("/maps/gaps", {"count": 10_000}, "count"),
        ("/maps/gaps", {"until": "2026-13-01"}, "until"),
    ],
)
def test_bad_parameters_name_the_field(client, path, params, field):
    res = client.get(path, params=params)
    assert res.status_code == 422
    assert res.json()["detail"].startswith(f"{field}")
