"""A loaded city: the validated layers of its data pack plus the spatial indexes built on them.

:class:`City` is a container. The questions asked of a city (assignment, nearest stations,
coverage, site suggestion) live above it, in the modules that take a City.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TypedDict, overload

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from geo import crs as gcrs
from geo.lines import LineIndex, build_line_index
from geo.lookup import GridLookup, build_grid_lookup
from geo.nearest import StationIndex
from geo.network import StreetNetwork, build_network
from geo.pack import AMENITIES, Pack, demo_folder, read_pack
from geo.sla import SlaTable

FloatArray = npt.NDArray[np.float64]


class StationRecord(TypedDict):
    """What a query answers about one station (built once per city)."""

    row: int
    station_id: str
    name: str
    address: str
    amenities: tuple[str, ...]
    opening_hours: str
    status: str
    operator: str
    phone: str
    last_confirmed: dt.date | None
    lon: float
    lat: float


@dataclass
class City:
    """Reference layers in WGS84 (grid sorted by ``grid_code``) and their indexes.

    Indexes are built once, on first use (``warm()`` builds them all, e.g. at service start).
    """

    pack: Pack
    lookup_pixel_m: float = 10.0
    segment_m: float = 25.0
    nearest_cache_stations: int = 1_000_000

    @property
    def name(self) -> str:
        return self.pack.name

    @property
    def metric_crs(self) -> str:
        return self.pack.metric_crs

    @property
    def stations(self) -> gpd.GeoDataFrame:
        return self.pack.stations

    @property
    def grid(self) -> gpd.GeoDataFrame:
        return self.pack.grid

    @property
    def subdistricts(self) -> gpd.GeoDataFrame:
        return self.pack.subdistricts

    @property
    def streets(self) -> gpd.GeoDataFrame:
        return self.pack.streets

    @property
    def categories(self) -> pd.DataFrame:
        return self.pack.categories

    @property
    def units(self) -> pd.DataFrame:
        """The units that handle cases (``unit_id``, ``name``, ``categories``, ``subdistricts``:
        tuples of codes, ``("*",)`` for all); see :func:`geo.units.route_unit`."""
        return self.pack.units

    @cached_property
    def sla(self) -> SlaTable:
        """The time limits of a case's steps; see :func:`geo.sla.step_due`."""
        return SlaTable(self.pack.sla)

    @cached_property
    def grid_lookup(self) -> GridLookup:
        """Raster + STRtree point-in-grid lookup (lon/lat)."""
        return build_grid_lookup(self.grid.geometry.array, pixel_m=self.lookup_pixel_m)

    @cached_property
    def subdistrict_tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.subdistricts.geometry.array)

    @cached_property
    def street_index(self) -> LineIndex:
        """Nearest-street index in the metric CRS."""
        lines = self.streets.to_crs(self.metric_crs).geometry.array
        return build_line_index(lines, max_segment_m=self.segment_m)

    @cached_property
    def street_network(self) -> StreetNetwork:
        """The street graph for network distances."""
        return build_network(self.street_index)

    @cached_property
    def cell_xy(self) -> tuple[FloatArray, FloatArray]:
        """Grid cell centroids in the metric CRS."""
        centroids = self.grid.to_crs(self.metric_crs).geometry.centroid
        return centroids.x.to_numpy(), centroids.y.to_numpy()

    @cached_property
    def cell_lonlat(self) -> pd.DataFrame:
        """Grid cell centroids (computed in metres) as WGS84 ``lon``/``lat``, by ``grid_code``."""
        x, y = self.cell_xy
        lon, lat = gcrs.unproject(x, y, self.metric_crs)
        return pd.DataFrame({"lon": lon, "lat": lat}, index=self.grid["grid_code"].to_numpy())

    @cached_property
    def cell_people(self) -> FloatArray:
        """People per cell: ``population`` if the grid has it, else ``households``, else 0."""
        for column in ("population", "households"):
            if column in self.grid.columns:
                values = pd.to_numeric(self.grid[column], errors="coerce")
                people: FloatArray = values.fillna(0.0).to_numpy(float)
                return people
        return np.zeros(len(self.grid))

    @cached_property
    def station_xy(self) -> tuple[FloatArray, FloatArray]:
        pts = self.stations.geometry.array
        return gcrs.project(shapely.get_x(pts), shapely.get_y(pts), self.metric_crs)

    @cached_property
    def station_index(self) -> StationIndex:
        """Nearest-station index in the metric CRS, with amenity/status/hours filters."""
        x, y = self.station_xy
        return StationIndex(
            x,
            y,
            amenities=self.stations["amenities"].tolist(),
            status=self.stations["status"].tolist(),
            opening_hours=self.stations["opening_hours"].tolist(),
            amenity_codes=list(AMENITIES),
            cache_stations=self.nearest_cache_stations,
        )

    @cached_property
    def station_records(self) -> list[StationRecord]:
        """Per station, the attributes a nearest query returns (built once)."""
        st = self.stations
        return [
            {
                "row": row,
                "station_id": str(r.station_id),
                "name": str(r.name),
                "address": str(r.address),
                "amenities": tuple(r.amenities),
                "opening_hours": str(r.opening_hours),
                "status": str(r.status),
                "operator": str(r.operator),
                "phone": str(r.phone),
                "last_confirmed": r.last_confirmed,
                "lon": float(r.geometry.x),
                "lat": float(r.geometry.y),
            }
            for row, r in enumerate(st.itertuples(index=False))
        ]

    @cached_property
    def grid_codes(self) -> npt.NDArray[np.object_]:
        codes: npt.NDArray[np.object_] = self.grid["grid_code"].to_numpy(dtype=object)
        return codes

    @cached_property
    def grid_subdistricts(self) -> npt.NDArray[np.object_]:
        codes: npt.NDArray[np.object_] = self.grid["subdistrict_code"].to_numpy(dtype=object)
        return codes

    def warm(self) -> City:
        """Build every index now, and the station search for open stations with any amenity
        (the courier's default: 0.5 s with 100,000 stations, not paid by the first request)."""
        names = ("grid_lookup", "subdistrict_tree", "street_index", "station_index")
        for name in (*names, "station_records", "sla"):
            getattr(self, name)
        self.station_index.prepare()
        return self

    @overload
    def to_metric(self, lon: float, lat: float) -> tuple[float, float]: ...
    @overload
    def to_metric(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]: ...
    def to_metric(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike
    ) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
        """WGS84 lon/lat to metres in the city's metric CRS."""
        return gcrs.project(lon, lat, self.metric_crs)


def load_city(
    folder: str | Path | None = None,
    *,
    metric_crs: str | None = None,
    lookup_pixel_m: float = 10.0,
    nearest_cache_stations: int = 1_000_000,
) -> City:
    """Read, validate and index a city data pack (the shipped demo city by default).

    Raises
    ------
    InvalidLayer
        Listing every problem in the pack.
    """
    pack = read_pack(demo_folder() if folder is None else folder, metric_crs=metric_crs)
    return City(
        pack=pack, lookup_pixel_m=lookup_pixel_m, nearest_cache_stations=nearest_cache_stations
    )
