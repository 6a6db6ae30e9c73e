"""GeoJSON for stations and tips, built from records prepared once at start."""

from __future__ import annotations

import json
from typing import Literal, get_args

from geo import crs as gcrs
from geo.assign import ASSIGNMENT_COLUMNS
from geo.city import City
from geo.errors import InvalidInput, check_choice
from geo.nav import amap_nav_url
from geo.pack import AMENITIES

OutCrs = Literal["wgs84", "gcj02", "bd09"]
OUT_CRS: tuple[OutCrs, ...] = get_args(OutCrs)


def check_out_crs(out_crs: str) -> OutCrs:
    """An output CRS: ``wgs84``, ``gcj02`` or ``bd09`` (any spelling :func:`parse_crs` knows)."""
    name = gcrs.parse_crs(out_crs)
    if name not in OUT_CRS:
        raise InvalidInput(f"out_crs must be one of {', '.join(OUT_CRS)}, got {out_crs!r}")
    return check_choice("out_crs", name, OUT_CRS)


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` in WGS84, or None."""
    if bbox is None or bbox == "":
        return None
    try:
        values = tuple(float(v) for v in bbox.split(","))
    except ValueError:
        values = ()
    ok = len(values) == 4 and all(v == v for v in values)
    if ok:
        minx, miny, maxx, maxy = values
        ok = -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
    if not ok:
        raise InvalidInput(f"bbox must be minlon,minlat,maxlon,maxlat in degrees, got {bbox!r}")
    return values  # type: ignore[return-value]


class StationCatalog:
    """Per station: JSON-ready properties and its position in each output CRS."""

    def __init__(self, city: City):
        self.city = city
        self.records = city.station_records
        self.row_of = {r["station_id"]: i for i, r in enumerate(self.records)}
        lon = [r["lon"] for r in self.records]
        lat = [r["lat"] for r in self.records]
        self.coords = {"wgs84": list(zip(lon, lat, strict=True))}
        for name in ("gcj02", "bd09"):
            x, y = gcrs.from_wgs84(lon, lat, crs=name)
            self.coords[name] = list(zip(x.tolist(), y.tolist(), strict=True))
        self.props = []
        for i, r in enumerate(self.records):
            gx, gy = self.coords["gcj02"][i]
            confirmed = r["last_confirmed"]
            self.props.append(
                {
                    "station_id": r["station_id"],
                    "name": r["name"],
                    "address": r["address"],
                    "amenities": list(r["amenities"]),
                    "amenity_labels": [AMENITIES.get(a, a) for a in r["amenities"]],
                    "opening_hours": r["opening_hours"],
                    "status": r["status"],
                    "operator": r["operator"],
                    "phone": r["phone"],
                    "last_confirmed": confirmed.isoformat() if confirmed else None,
                    "nav_url": amap_nav_url(r["name"], gx, gy),
                }
            )
        self._json = self._serialise()

    def feature(
        self,
        row: int,
        *,
        open_now: bool,
        out_crs: str = "wgs84",
        distance_m: float | None = None,
    ) -> bytes:
        """One station as GeoJSON (UTF-8): the static part serialised once at start, then only
        ``open_now`` and ``distance_m`` per request."""
        head = self._json[out_crs][row]
        tail = b',"open_now":true' if open_now else b',"open_now":false'
        if distance_m is None:
            return head + tail + b"}}"
        distance = repr(round(float(distance_m), 1)).encode()
        return b"".join((head, tail, b',"distance_m":', distance, b"}}"))

    def collection(self, features: list[bytes]) -> bytes:
        """A FeatureCollection of features made by :meth:`feature`."""
        return b'{"type":"FeatureCollection","features":[' + b",".join(features) + b"]}"

    def _serialise(self) -> dict[str, list[bytes]]:
        """Each station's static GeoJSON text per output CRS, ending inside ``properties``.

        Built once at start (a lazy build made the first request after start wait seconds with
        100,000 stations); the properties are serialised once and shared by the three CRSs."""
        heads = []
        for props in self.props:
            text = json.dumps(props, ensure_ascii=False, separators=(",", ":"))
            ident = json.dumps(props["station_id"], ensure_ascii=False)
            heads.append((f'{{"type":"Feature","id":{ident},"geometry":', text[:-1]))
        out = {}
        for name, coords in self.coords.items():
            out[name] = [
                (
                    f'{head}{{"type":"Point","coordinates":[{round(x, 7)!r},{round(y, 7)!r}]}},'
                    f'"properties":{props}'
                ).encode()
                for (head, props), (x, y) in zip(heads, coords, strict=True)
            ]
        return out


PUBLIC_TIP_FIELDS = (
    "tip_id",
    "reported_at",
    "category",
    "description",
    "status",
    *ASSIGNMENT_COLUMNS,
)


def public_tip(tip: dict, categories: dict[str, str]) -> dict:
    """A tip as anyone may see it: no reporter identity."""
    out = {k: tip.get(k) for k in PUBLIC_TIP_FIELDS}
    out["category_name"] = categories.get(tip["category"], "")
    for key in ("street_distance_m", "station_distance_m"):
        value = out[key]
        if value is not None:
            out[key] = round(float(value), 1)
    out["lon"], out["lat"] = round(tip["lon"], 7), round(tip["lat"], 7)
    return out


def tip_feature(tip: dict, categories: dict[str, str], *, out_crs: str = "wgs84") -> dict:
    props = public_tip(tip, categories)
    lon, lat = props.pop("lon"), props.pop("lat")
    if out_crs != "wgs84":
        lon, lat = (round(v, 7) for v in gcrs.from_wgs84(lon, lat, crs=out_crs))
    return {
        "type": "Feature",
        "id": tip["tip_id"],
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }
