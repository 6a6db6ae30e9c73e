"""A city's data pack: read a folder of layers, validate every one, and hand back a :class:`Pack`.

A pack holds ``stations``, ``grid``, ``subdistricts``, ``streets`` and optionally ``tips``, each as
GeoJSON, GeoPackage, Shapefile, GeoParquet, or (points only) CSV with ``lon``/``lat`` columns
whose CRS is stated in ``pack.toml`` under ``[csv_crs]``. Optional tables replace the shipped
defaults: ``categories.csv`` (the tip categories), ``units.csv`` (the units that handle cases,
with the categories and subdistricts each serves) and ``sla.csv`` (the time limits of a case's
steps per category and urgency). Every problem found is reported with its file, row and id; a
pack with problems is refused as a whole (:class:`~geo.errors.InvalidLayer`).

``schema`` says what a pack holds, ``readers`` reads its files, ``rules`` checks each layer and
``tables`` the units and deadlines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo import crs as gcrs
from geo.errors import InvalidLayer, UnknownCRS
from geo.pack import rules, tables
from geo.pack.readers import (
    Problems,
    find_files,
    read_categories,
    read_layer,
    read_manifest,
    read_table,
    read_vector,
    shipped,
)
from geo.pack.rules import parse_amenities, parse_timestamps
from geo.pack.schema import (
    AMENITIES,
    ANY,
    LAYERS,
    SLIVER_AREA_M2,
    STATION_STATUSES,
    STEPS,
    URGENCIES,
    Layer,
    StationStatus,
    Step,
    Urgency,
)

__all__ = [
    "AMENITIES",
    "ANY",
    "STATION_STATUSES",
    "STEPS",
    "URGENCIES",
    "Pack",
    "StationStatus",
    "Step",
    "Urgency",
    "demo_folder",
    "parse_amenities",
    "parse_timestamps",
    "read_pack",
    "read_vector",
]


@dataclass
class Pack:
    """The validated layers of a data pack, all in WGS84, grid sorted by ``grid_code``, and its
    tables: ``categories`` (``code``, ``name``, ...), ``units`` (``unit_id``, ``name``, and
    ``categories`` and ``subdistricts`` as tuples of codes, ``("*",)`` for all) and ``sla``
    (``step``, ``category``, ``urgency``, ``minutes`` as integers)."""

    folder: Path
    name: str
    stations: gpd.GeoDataFrame
    grid: gpd.GeoDataFrame
    subdistricts: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    tips: gpd.GeoDataFrame | None
    categories: pd.DataFrame
    units: pd.DataFrame
    sla: pd.DataFrame
    metric_crs: str
    files: dict[Layer, Path] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the counts of every layer."""
        tips = 0 if self.tips is None else len(self.tips)
        return (
            f"{self.name}: {len(self.stations)} stations, {len(self.grid)} grid cells, "
            f"{len(self.subdistricts)} subdistricts, {len(self.streets)} streets, {tips} tips, "
            f"{len(self.units)} units, metric CRS {self.metric_crs}"
        )


def demo_folder() -> Path:
    """The shipped demo city (江城市)."""
    return shipped("demo")


def read_pack(
    folder: str | Path,
    *,
    metric_crs: str | None = None,
    sliver_area_m2: float = SLIVER_AREA_M2,
) -> Pack:
    """Read and validate a data pack.

    Parameters
    ----------
    folder : path
        The pack folder.
    metric_crs : str, optional
        Override the metric CRS (default: the CGCS2000 Gauss-Kruger zone of the data, or the
        pack's ``metric_crs``).
    sliver_area_m2 : float
        Overlaps between grid cells, and parts of a cell outside its subdistrict, up to this area
        are tolerated as rounding slivers.

    Raises
    ------
    InvalidLayer
        Listing every problem found, each naming the file, the row and the id.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidLayer(f"data folder {str(folder)!r} does not exist or is not a folder")
    problems = Problems()
    manifest = read_manifest(folder, problems)
    files = find_files(folder, problems)
    categories = read_categories(folder, problems)
    units_table, units_path = read_table(folder, "units.csv", problems)
    sla_table, sla_path = read_table(folder, "sla.csv", problems)
    sla = None if sla_table is None else tables.check_sla(sla_table, sla_path, categories, problems)

    frames: dict[Layer, gpd.GeoDataFrame | None] = {}
    for layer in LAYERS:
        path = files.get(layer)
        frames[layer] = None if path is None else read_layer(layer, path, manifest, problems)
    if problems:
        raise InvalidLayer(problems.items)
    subdistricts, grid = frames["subdistricts"], frames["grid"]
    streets, stations = frames["streets"], frames["stations"]
    assert subdistricts is not None and grid is not None  # required: a problem otherwise
    assert streets is not None and stations is not None
    assert units_table is not None and sla is not None

    try:
        chosen = gcrs.metric_crs_for(
            subdistricts.geometry.representative_point().x,
            override=metric_crs or manifest.get("metric_crs"),
        )
    except UnknownCRS as exc:
        raise InvalidLayer(str(exc)) from None

    subdistricts = rules.check_subdistricts(subdistricts, files["subdistricts"], problems)
    grid = rules.check_grid(grid, files["grid"], subdistricts, chosen, sliver_area_m2, problems)
    streets = rules.check_streets(streets, files["streets"], problems)
    stations = rules.check_stations(stations, files["stations"], subdistricts, problems)
    tips = frames["tips"]
    if tips is not None:
        tips = rules.check_tips(tips, files["tips"], categories, problems)
    units = tables.check_units(units_table, units_path, categories, subdistricts, problems)
    if problems:
        raise InvalidLayer(problems.items)
    return Pack(
        folder=folder,
        name=str(manifest.get("name") or folder.name),
        stations=stations,
        grid=grid,
        subdistricts=subdistricts,
        streets=streets,
        tips=tips,
        categories=categories,
        units=units,
        sla=sla,
        metric_crs=chosen,
        files=files,
    )
