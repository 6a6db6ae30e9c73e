"""The shipped demo city: valid, realistic in shape, and exactly reproducible from its generator."""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo import crs as gcrs
from geo.assign import assign_points
from geo.pack import AMENITIES, demo_folder
from geo.units import route_unit

DEMO_DIR = demo_folder()

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():
    from geo.city import load_city

    return load_city()


def test_demo_pack_counts(demo):
    assert 6 <= len(demo.subdistricts) <= 10
    assert 2000 <= len(demo.grid) <= 5000
    assert 200 <= len(demo.streets) <= 600
    assert len(demo.stations) == 68
    assert 1000 <= len(demo.pack.tips) <= 1500
    assert demo.metric_crs == "EPSG:4547"


def test_demo_codes_and_values(demo):
    grid = demo.grid
    assert grid["grid_code"].str.fullmatch(r"\d{14}").all()
    assert (grid["grid_code"].str[:9] == grid["subdistrict_code"]).all()
    assert set(grid["subdistrict_code"]) == set(demo.subdistricts["subdistrict_code"])
    assert set(demo.streets["road_class"]) == {"arterial", "secondary", "local"}
    codes = {c for row in demo.stations["amenities"] for c in row}
    assert codes <= set(AMENITIES)
    status = demo.stations["status"].value_counts()
    assert status["open"] > 55 and status.get("closed", 0) >= 1 and status.get("suspended", 0) >= 1
    tips = demo.pack.tips
    assert tips["reported_at"].min() >= pd.Timestamp("2026-01-01", tz="Asia/Shanghai")
    assert tips["reported_at"].max() < pd.Timestamp("2026-07-01", tz="Asia/Shanghai")
    assert set(tips["category"]) <= set(demo.categories["code"])


def test_demo_units_serve_every_category_in_every_subdistrict(demo):
    names = dict(zip(demo.units["unit_id"], demo.units["name"], strict=True))
    subs = dict(zip(demo.subdistricts["name"], demo.subdistricts["subdistrict_code"], strict=True))
    routed = {
        (category, name): names[route_unit(demo.units, category=category, subdistrict_code=code)]
        for category in demo.categories["code"]
        for name, code in subs.items()
    }
    assert len(routed) == 9 * 8 and len(set(routed.values())) == 17  # every unit has cases
    assert routed["05", "鼓楼街道"] == "江城区城市管理执法局"
    assert routed["05", "白沙街道"] == "南岸区城市管理执法局"
    assert routed["12", "新城街道"] == "江城市公安局交通管理局南岸区大队"
    assert routed["11", "北湖街道"] == "江城市市政设施管理处"
    assert routed["06", "沿江街道"] == "沿江街道办事处"
    # the river-beach office, named for two subdistricts, before the city's parks department
    assert routed["13", "滨江街道"] == "江城市江滩管理办公室"
    assert routed["13", "文昌街道"] == "江城市园林绿化局"


def test_demo_cells_tile_the_subdistricts(demo):
    metric = demo.grid.to_crs(demo.metric_crs)
    subs = demo.subdistricts.to_crs(demo.metric_crs)
    assert metric.area.sum() == pytest.approx(subs.area.sum(), rel=1e-9)
    # irregular: cell areas vary a lot, and are a few hundred metres across
    side = np.sqrt(metric.area)
    assert 80 < np.median(side) < 600
    assert side.std() / side.mean() > 0.2


def test_gcj02_copy_assigns_like_the_wgs84_tips(demo):
    phones = pd.read_csv(DEMO_DIR / "tips_as_received_gcj02.csv", dtype={"category": str})
    tips = demo.pack.tips
    assert list(phones["tip_id"]) == list(tips["tip_id"])
    from_phone = assign_points(demo, phones["lon"], phones["lat"], crs="gcj02")
    truth = assign_points(demo, tips.geometry.x, tips.geometry.y)
    assert (from_phone["grid_code"].fillna("") == truth["grid_code"].fillna("")).all()
    assert from_phone["outside_city"].sum() == truth["outside_city"].sum() == 3
    # read as if it were WGS84, a few hundred tips would land in another cell
    naive = assign_points(demo, phones["lon"], phones["lat"])
    assert (naive["grid_code"] != truth["grid_code"]).sum() > 100
    lon, lat = gcrs.to_wgs84(phones["lon"], phones["lat"], crs="gcj02")
    assert np.abs(lon - tips.geometry.x).max() < 1e-6


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_generator_reproduces_the_shipped_files(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "data.generator", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert digest(tmp_path) == digest(DEMO_DIR)
