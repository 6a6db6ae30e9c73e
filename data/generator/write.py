"""Writing the pack: the GeoJSON layers, the GCJ-02 CSV copy of the tips, the units table and
pack.toml.

The files are byte-for-byte reproducible: GeoJSON is RFC 7946 (WGS84, counter-clockwise
exteriors, no "crs"), one feature per line with keys in a fixed order and 7-decimal coordinates
taken from the lattice; the CSV gives the tips as phones send them, in GCJ-02 with 7 decimals.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from data.generator.frames import lattice_from_local, lonlat_coords
from data.generator.plan import CITY_NAME
from geo.crs import from_wgs84


def point_lattice(pts: np.ndarray) -> np.ndarray:
    return np.rint(lattice_from_local(np.asarray(pts, dtype=float))).astype(np.int64)


def write_geojson(path: Path, features: list[tuple[dict, dict]]) -> None:
    """RFC 7946 FeatureCollection, one feature per line, keys in a fixed order, no "crs"."""
    lines = ['{"type":"FeatureCollection","features":[']
    for i, (props, geometry) in enumerate(features):
        feature = {"type": "Feature", "properties": props, "geometry": geometry}
        text = json.dumps(feature, ensure_ascii=False, separators=(",", ":"))
        lines.append(text + ("," if i < len(features) - 1 else ""))
    lines.append("]}")
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


def write_pack(out: Path, subdistricts, cells, streets, stations, tips, units) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_geojson(
        out / "subdistricts.geojson",
        [
            (
                {"subdistrict_code": s.code, "name": s.name, "district": s.district},
                {"type": "Polygon", "coordinates": [lonlat_coords(s.ring)]},
            )
            for s in subdistricts
        ],
    )
    write_geojson(
        out / "grid.geojson",
        [
            (
                {
                    "grid_code": c.code,
                    "name": c.name,
                    "subdistrict_code": subdistricts[c.subdistrict].code,
                    "households": c.households,
                },
                {"type": "Polygon", "coordinates": [lonlat_coords(c.ring)]},
            )
            for c in cells
        ],
    )
    write_geojson(
        out / "streets.geojson",
        [
            (
                {"street_name": s.name, "road_class": s.road_class},
                {"type": "LineString", "coordinates": lonlat_coords(s.coords)},
            )
            for s in streets
        ],
    )
    st_xy = point_lattice(np.array([s["pt"] for s in stations]))
    write_geojson(
        out / "stations.geojson",
        [
            (s["props"], {"type": "Point", "coordinates": lonlat_coords(xy[None])[0]})
            for s, xy in zip(stations, st_xy, strict=True)
        ],
    )
    tip_xy = point_lattice(np.array([t["pt"] for t in tips]))
    tip_props = [
        {
            "tip_id": t["tip_id"],
            "reported_at": t["when"].isoformat(),
            "category": t["category"],
            "description": t["description"],
            "reporter_id": t["reporter_id"],
            "status": t["status"],
        }
        for t in tips
    ]
    write_geojson(
        out / "tips.geojson",
        [
            (props, {"type": "Point", "coordinates": lonlat_coords(xy[None])[0]})
            for props, xy in zip(tip_props, tip_xy, strict=True)
        ],
    )
    lonlat = np.array(lonlat_coords(tip_xy))
    glon, glat = from_wgs84(lonlat[:, 0], lonlat[:, 1], crs="gcj02")
    with (out / "tips_as_received_gcj02.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(
            [
                "tip_id",
                "reported_at",
                "category",
                "description",
                "reporter_id",
                "status",
                "lon",
                "lat",
            ]
        )
        for props, x, y in zip(tip_props, glon, glat, strict=True):
            writer.writerow([*props.values(), f"{x:.7f}", f"{y:.7f}"])
    with (out / "units.csv").open("w", encoding="utf-8", newline="") as f:
        table = csv.DictWriter(f, fieldnames=list(units[0]), lineterminator="\n")
        table.writeheader()
        table.writerows(units)
    (out / "pack.toml").write_text(
        f'name = "{CITY_NAME}"\n'
        'description = "合成示范数据：虚构城市的街道、网格、路网、68个暖心驿站和2026年上半年'
        "约1200条骑手上报线索。地名、编码、电话和上报人均为虚构，"
        '仅为适用GCJ-02和高斯-克吕格3度带（EPSG:4547）而置于东经114.15°、北纬30.55°附近。"\n'
        "# metric_crs is chosen from the data (EPSG:4547); every layer here is GeoJSON,\n"
        "# so no [csv_crs] table is needed.\n",
        encoding="utf-8",
        newline="\n",
    )
