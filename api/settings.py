"""Settings from the environment (prefix ``YIZHAN_``), read once through :func:`get_settings`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every limit and location the service and CLI use, each a ``YIZHAN_<NAME>`` variable."""

    model_config = SettingsConfigDict(env_prefix="YIZHAN_", extra="ignore")

    data: Path | None = Field(
        default=None, description="Data pack folder; the shipped demo city when unset."
    )
    metric_crs: str | None = Field(
        default=None,
        description="Metric CRS override (EPSG code); default: the CGCS2000 Gauss-Kruger zone.",
    )
    lookup_pixel_m: float = Field(
        default=10.0, gt=0, description="Pixel size of the grid lookup raster, in metres."
    )
    progress_min_rows: int = Field(
        default=100_000, ge=0, description="Batch inputs larger than this show a progress bar."
    )
    nearest_max_k: int = Field(
        default=50, ge=1, description="Largest k a nearest-station query may ask for."
    )


@lru_cache
def get_settings() -> Settings:
    """The settings, read from the environment once."""
    return Settings()
