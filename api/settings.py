"""Settings from the environment (prefix ``YIZHAN_``), read once through :func:`get_settings`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.errors import InvalidInput
from geo.sla import DEFAULT_WORK_HOURS, WorkHours

if TYPE_CHECKING:
    from geo.city import City


class Basemaps(TypedDict):
    """The basemap options of a map page."""

    basemap: str
    tianditu_key: str
    tile_url_osm: str


class Settings(BaseSettings):
    """Every limit and location the service and CLI use, each a ``YIZHAN_<NAME>`` variable."""

    model_config = SettingsConfigDict(env_prefix="YIZHAN_", extra="ignore", populate_by_name=True)

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
    nearest_cache_stations: int = Field(
        default=1_000_000,
        ge=1,
        description="Stations held in all by the cached per-filter nearest-station indexes "
        "(~270 bytes each); the least recently used filters are dropped beyond it.",
    )
    db: str = Field(
        default="sqlite:///yizhan.db",
        description="Tip store: sqlite:///path.db (embedded) or postgresql://user@host/db.",
    )
    host: str = Field(default="127.0.0.1", description="Address `yizhan serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `yizhan serve` listens on.")
    basemap: str = Field(
        default="osm", pattern="^(osm|gaode|tianditu)$", description="Default basemap of the page."
    )
    tianditu_key: str = Field(default="", description="Tianditu tile key; empty hides Tianditu.")
    tile_url_osm: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png", description="OSM tile URL."
    )
    import_pack_tips: bool = Field(
        default=True, description="Copy the pack's tips layer into the store at start (once)."
    )
    description_max_chars: int = Field(
        default=500, ge=1, description="Longest tip description accepted."
    )
    reporter_id_max_chars: int = Field(default=64, ge=1, description="Longest reporter_id.")
    note_max_chars: int = Field(
        default=1000, ge=1, description="Longest note of a case action (internal or public)."
    )
    cases_page_max: int = Field(default=500, ge=1, description="Most cases one page may hold.")
    idempotency_key_max_chars: int = Field(default=128, ge=8, description="Longest key.")
    tip_max_outside_m: float = Field(
        default=5000.0,
        ge=0,
        description="Tips further than this from every street are refused as outside the city.",
    )
    tips_page_default: int = Field(default=100, ge=1, description="Tips per page by default.")
    tips_page_max: int = Field(default=1000, ge=1, description="Most tips one page may hold.")
    max_body_bytes: int = Field(
        default=65_536, ge=1024, description="Largest request body accepted, in bytes."
    )
    nearby_max_radius_m: float = Field(
        default=1000.0,
        gt=0,
        description="The largest radius_m a nearby-cases query may ask for, in metres.",
    )
    nearby_max_days: int = Field(
        default=30, ge=1, description="The most days back a nearby-cases query may look."
    )
    nearby_max_cases: int = Field(
        default=20, ge=1, description="The most cases a nearby-cases query answers, nearest first."
    )
    suggest_max_count: int = Field(
        default=200, ge=1, description="Most new sites one suggestion may ask for."
    )
    suggest_time_limit_s: float = Field(
        default=30.0, gt=0, description="Solver time limit for a site suggestion, in seconds."
    )
    heatmap_raw_max: int = Field(
        default=5000,
        ge=0,
        description="Above this many tips the heatmap sends per-cell weights, not points.",
    )
    tip_rate_per_reporter_per_minute: int = Field(
        default=10, ge=0, description="Tips one reporter_id may post per minute (0: no limit)."
    )
    tip_rate_per_address_per_minute: int = Field(
        default=600,
        ge=0,
        validation_alias=AliasChoices(
            "YIZHAN_TIP_RATE_PER_ADDRESS_PER_MINUTE", "YIZHAN_TIP_RATE_PER_MINUTE"
        ),
        description="Tips one client address may post per minute, high enough for the riders "
        "behind one carrier-grade NAT (0: no limit; YIZHAN_TIP_RATE_PER_MINUTE is its old name).",
    )

    webhook_url: str = Field(
        default="",
        description="Where case events are POSTed (http:// or https://); empty: no webhook.",
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, description="Timeout of one webhook request, in seconds."
    )
    webhook_retry_max_s: float = Field(
        default=300.0,
        gt=0,
        description="Longest wait between two attempts at an event (before jitter), in seconds.",
    )
    webhook_poll_s: float = Field(
        default=1.0, gt=0, description="How long the webhook sender idles between passes."
    )
    webhook_batch: int = Field(
        default=100, ge=1, description="Most events one webhook pass reads from the outbox."
    )

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, url: str) -> str:
        url = url.strip()
        if not url:
            return url
        if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
            raise ValueError(
                f"YIZHAN_WEBHOOK_URL must be ASCII with no spaces or control characters "
                f"(percent-encode them), got {url!r}"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"YIZHAN_WEBHOOK_URL must be an http:// or https:// URL with a host (or empty "
                f"for no webhook), got {url!r}"
            )
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "YIZHAN_WEBHOOK_URL must not hold a user or password (they are not sent); "
                "put a token in its path or query instead"
            )
        try:
            parts.port  # noqa: B018 - raises on a port that is no number or out of range
        except ValueError:
            raise ValueError(f"YIZHAN_WEBHOOK_URL has a bad port, got {url!r}") from None
        return url

    work_hours: str = Field(
        default=DEFAULT_WORK_HOURS,
        description="The working periods of a working day, HH:MM-HH:MM separated by commas; "
        "normal cases' deadlines count only these minutes, on working days.",
    )

    @field_validator("work_hours")
    @classmethod
    def _work_hours_parse(cls, value: str) -> str:
        try:
            return str(WorkHours.parse(value))
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    def working_hours(self) -> WorkHours:
        """``work_hours``, parsed (once per value: every deadline asks for it)."""
        return _work_hours(self.work_hours)

    def basemaps(self) -> Basemaps:
        """The basemap options every map page takes (``basemap``, ``tianditu_key``,
        ``tile_url_osm``)."""
        return {
            "basemap": self.basemap,
            "tianditu_key": self.tianditu_key,
            "tile_url_osm": self.tile_url_osm,
        }

    def load_city(self, data: Path | None = None) -> City:
        """Read, validate and index the data pack (``data``, else ``self.data``, else the demo
        city) with these settings."""
        from geo.city import load_city

        return load_city(
            data or self.data,
            metric_crs=self.metric_crs,
            lookup_pixel_m=self.lookup_pixel_m,
            nearest_cache_stations=self.nearest_cache_stations,
        )


@lru_cache
def get_settings() -> Settings:
    """The settings, read from the environment once."""
    return Settings()


@lru_cache(maxsize=16)
def _work_hours(text: str) -> WorkHours:
    return WorkHours.parse(text)
