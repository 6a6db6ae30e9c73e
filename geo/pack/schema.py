"""What a data pack holds: its layers, their columns and geometry types, its tables (units,
deadlines) and the code tables (amenities, station statuses, case steps, urgencies) every layer
and table is checked against."""

from __future__ import annotations

from typing import Literal, get_args

Layer = Literal["stations", "grid", "subdistricts", "streets", "tips"]
LAYERS: tuple[Layer, ...] = get_args(Layer)
REQUIRED_LAYERS: tuple[Layer, ...] = ("stations", "grid", "subdistricts", "streets")
SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".parquet", ".geoparquet", ".csv")

AMENITIES: dict[str, str] = {
    "rest": "休息",
    "water": "饮水",
    "toilet": "如厕",
    "meal_heating": "餐食加热",
    "phone_charging": "手机充电",
    "ebike_charging": "电动车充电",
    "battery_swap": "换电",
    "reading": "读书阅览",
    "first_aid": "应急药箱",
    "cooling_heating": "纳凉取暖",
    "rain_shelter": "避雨",
    "wifi": "无线网络",
}
StationStatus = Literal["open", "closed", "suspended"]
STATION_STATUSES: tuple[StationStatus, ...] = get_args(StationStatus)

COLUMNS: dict[Layer, tuple[str, ...]] = {
    "stations": ("station_id", "name", "address", "amenities", "opening_hours", "status"),
    "grid": ("grid_code", "subdistrict_code"),
    "subdistricts": ("subdistrict_code", "name"),
    "streets": ("street_name",),
    "tips": ("tip_id", "reported_at", "category"),
}
OPTIONAL_COLUMNS: dict[Layer, dict[str, object]] = {
    "stations": {"operator": "", "phone": "", "last_confirmed": None},
    "grid": {"name": ""},
    "subdistricts": {"district": ""},
    "streets": {"road_class": ""},
    "tips": {"description": "", "reporter_id": "", "status": "open"},
}
GEOMETRY_TYPES: dict[Layer, tuple[str, ...]] = {
    "stations": ("Point",),
    "tips": ("Point",),
    "grid": ("Polygon", "MultiPolygon"),
    "subdistricts": ("Polygon", "MultiPolygon"),
    "streets": ("LineString", "MultiLineString"),
}
ID_COLUMN: dict[Layer, str] = {
    "stations": "station_id",
    "grid": "grid_code",
    "subdistricts": "subdistrict_code",
    "streets": "street_name",
    "tips": "tip_id",
}

# The tables of a pack (CSV), each replacing a shipped default: their required columns.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "categories.csv": ("code", "name"),
    "units.csv": ("unit_id", "name", "categories", "subdistricts"),
    "sla.csv": ("step", "category", "urgency", "minutes"),
}
ANY = "*"  # in units.csv and sla.csv: every category (or subdistrict)

# The steps of a case that run against a deadline, in order, and the urgencies of a case.
Step = Literal["register", "dispatch", "handle", "verify"]
STEPS: tuple[Step, ...] = get_args(Step)
Urgency = Literal["normal", "urgent"]
URGENCIES: tuple[Urgency, ...] = get_args(Urgency)
# The longest limit sla.csv may give a step: a year of calendar minutes.
SLA_MAX_MINUTES = 366 * 24 * 60

# Overlaps or cells outside their subdistrict smaller than this are rounding slivers, not errors.
SLIVER_AREA_M2 = 1.0
