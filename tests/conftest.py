"""A small city with answers that can be checked by hand, written as a data pack.

Eight grid cells, 0.003 degree square (about 288 m x 333 m at 30.5 N), in two rows of four::

    lat 30.506 +------+------+------+------+
               | 0103 | 0104 | 0103 | 0104 |
    lat 30.503 +------+------+------+------+   <- street 中山路 along lat 30.503
               | 0101 | 0102 | 0101 | 0102 |
    lat 30.500 +------+------+------+------+
            114.000 114.003 114.006 114.009 114.012
               subdistrict 420100001 | 420100002      <- street 解放路 along lon 114.006

Grid codes are the subdistrict code + community 001 + the two digits above.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from shapely.geometry import LineString, Point, box, mapping

from geo import crs as gcrs

LON = [114.000, 114.003, 114.006, 114.009, 114.012]
LAT = [30.500, 30.503, 30.506]
SUB_A, SUB_B = "420100001", "420100002"
METRIC = "EPSG:4547"


def cell_code(sub: str, n: int) -> str:
    return f"{sub}001{n:02d}"


def grid_features() -> list[dict]:
    feats = []
    for col in range(4):
        sub = SUB_A if col < 2 else SUB_B
        for row in range(2):
            n = 1 + (col % 2) + 2 * row
            geom = box(LON[col], LAT[row], LON[col + 1], LAT[row + 1])
            feats.append(
                {
                    "grid_code": cell_code(sub, n),
                    "name": f"网格{n:02d}",
                    "subdistrict_code": sub,
                    "households": 100 * (col + 1),
                    "geometry": geom,
                }
            )
    return feats


def subdistrict_features() -> list[dict]:
    return [
        {
            "subdistrict_code": SUB_A,
            "name": "东湖街道",
            "district": "测试区",
            "geometry": box(114.000, 30.500, 114.006, 30.506),
        },
        {
            "subdistrict_code": SUB_B,
            "name": "西湖街道",
            "district": "测试区",
            "geometry": box(114.006, 30.500, 114.012, 30.506),
        },
    ]


def street_features() -> list[dict]:
    return [
        {
            "street_name": "中山路",
            "road_class": "arterial",
            "geometry": LineString([(114.000, 30.503), (114.012, 30.503)]),
        },
        {
            "street_name": "解放路",
            "road_class": "secondary",
            "geometry": LineString([(114.006, 30.500), (114.006, 30.506)]),
        },
    ]


def metric_point(dx_m: float, dy_m: float, origin=(114.0015, 30.5015)) -> tuple[float, float]:
    """The WGS84 point ``dx_m`` east and ``dy_m`` north of ``origin`` in the metric CRS."""
    x, y = gcrs.project(origin[0], origin[1], METRIC)
    lon, lat = gcrs.unproject(x + dx_m, y + dy_m, METRIC)
    return float(lon), float(lat)


def station_features() -> list[dict]:
    # S1 is 100 m east of the probe point (114.0015, 30.5015), S2 101 m north of it.
    s1 = metric_point(100.0, 0.0)
    s2 = metric_point(0.0, 101.0)
    return [
        {
            "station_id": "S1",
            "name": "一号驿站",
            "address": "中山路1号",
            "amenities": "rest;water",
            "opening_hours": "Mo-Su 08:00-20:00",
            "operator": "总工会",
            "phone": "027-1",
            "status": "open",
            "last_confirmed": "2026-05-01",
            "geometry": Point(s1),
        },
        {
            "station_id": "S2",
            "name": "二号驿站",
            "address": "中山路2号",
            "amenities": "rest;water;ebike_charging",
            "opening_hours": "24/7",
            "operator": "顺丰",
            "phone": "027-2",
            "status": "open",
            "last_confirmed": "2026-05-02",
            "geometry": Point(s2),
        },
        {
            "station_id": "S3",
            "name": "三号驿站",
            "address": "解放路3号",
            "amenities": "rest;toilet",
            "opening_hours": "Mo-Fr 09:00-12:00,14:00-18:00; Sa,Su off",
            "operator": "街道",
            "phone": "027-3",
            "status": "open",
            "last_confirmed": "2026-05-03",
            "geometry": Point(114.0105, 30.5045),
        },
        {
            "station_id": "S4",
            "name": "四号驿站",
            "address": "解放路4号",
            "amenities": "rest;water;ebike_charging",
            "opening_hours": "24/7",
            "operator": "街道",
            "phone": "027-4",
            "status": "closed",
            "last_confirmed": "2026-05-04",
            "geometry": Point(*metric_point(50.0, 0.0)),
        },
    ]


def write_layer(path: Path, features: list[dict]) -> None:
    out = {"type": "FeatureCollection", "features": []}
    for feat in features:
        props = {k: v for k, v in feat.items() if k != "geometry"}
        out["features"].append(
            {"type": "Feature", "properties": props, "geometry": mapping(feat["geometry"])}
        )
    path.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")


def write_pack(folder: Path, **layers: list[dict]) -> Path:
    """Write the small city (any layer replaced by a keyword argument) to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    base = {
        "grid": grid_features(),
        "subdistricts": subdistrict_features(),
        "streets": street_features(),
        "stations": station_features(),
    }
    base.update(layers)
    for name, feats in base.items():
        if feats is not None:
            write_layer(folder / f"{name}.geojson", feats)
    (folder / "pack.toml").write_text('name = "测试城"\n', encoding="utf-8")
    return folder


@pytest.fixture
def pack_dir(tmp_path) -> Path:
    return write_pack(tmp_path / "pack")


@pytest.fixture(scope="session")
def small_city(tmp_path_factory):
    from geo.city import load_city

    return load_city(write_pack(tmp_path_factory.mktemp("city") / "pack"))


# -- tip stores: every store and API test runs on SQLite and on PostGIS -----------------------

POSTGIS_URL = os.environ.get(
    "YIZHAN_TEST_POSTGIS_URL", "postgresql:///yizhan_test?host=/var/run/postgresql"
)
_unreachable: list[str] = []  # why PostGIS cannot be used, found once per session


def _postgis_admin():
    from api.stores import redact

    if _unreachable:
        pytest.fail(_unreachable[0], pytrace=False)
    try:
        import psycopg

        return psycopg.connect(POSTGIS_URL, autocommit=True, connect_timeout=5)
    except Exception as e:  # ImportError, psycopg.Error
        reason = " ".join(str(e).split()).rstrip(".")
    _unreachable.append(
        f"PostGIS is not reachable at YIZHAN_TEST_POSTGIS_URL={redact(POSTGIS_URL)!r}: "
        f"{reason}. Run .ci/postgres.sh (or point YIZHAN_TEST_POSTGIS_URL at a database "
        "with PostGIS)."
    )
    pytest.fail(_unreachable[0], pytrace=False)


@pytest.fixture(params=["sqlite", "postgis"])
def store_url(request, tmp_path):
    """The URL of a fresh, empty store of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tips.db'}"
        return
    with _postgis_admin() as admin:
        schema = f"test_{uuid.uuid4().hex[:12]}"
        path = admin.execute("SHOW search_path").fetchone()[0].replace(" ", "")
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in POSTGIS_URL else "?"
            yield f"{POSTGIS_URL}{sep}options={quote(f'-c search_path={schema},{path}')}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
