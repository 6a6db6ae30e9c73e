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


def test_store_migrations_are_package_data():
    # the migrations folder is no package: its files ship only as package data
    globs = CONFIG["package-data"]["api.stores"]
    base = ROOT / "api" / "stores"
    files = [
        p.relative_to(base)
        for p in (base / "migrations").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert {"env.py", "0001_release_0_1_0.py"} <= {f.name for f in files}
    assert [f for f in files if not any(f.match(g) for g in globs)] == []
