"""What `pip install .` ships: every package, the demo city and the page assets."""

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_is_shipped():
    shipped = set(find_packages(ROOT, include=CONFIG["packages"]["find"]["include"]))
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("geo", "api", "maps", "data")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk <= shipped


def test_page_assets_and_demo_are_package_data():
    data = CONFIG["package-data"]
    assert "static/*" in data["maps"] and "demo/*" in data["data"]
    assert (ROOT / "maps" / "static" / "finder.js").exists()
