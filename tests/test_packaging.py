"""What `pip install .` ships: every runtime package, the demo city and the page assets."""

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_runtime_package_is_shipped_but_not_the_generator():
    find = CONFIG["packages"]["find"]
    shipped = set(find_packages(ROOT, include=find["include"], exclude=find.get("exclude", ())))
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("geo", "api", "maps", "data")
        for p in (ROOT / top).rglob("__init__.py")
    }
    generator = {name for name in on_disk if (name + ".").startswith("data.generator.")}
    assert "data.generator" in generator and "data" in on_disk - generator
    assert on_disk - generator <= shipped
    assert not generator & shipped
    # nor as package data of data, should a manifest or an SCM plugin list its files
    assert "generator/*" in CONFIG["exclude-package-data"]["data"]


def test_page_assets_templates_and_demo_are_package_data():
    data = CONFIG["package-data"]
    assert "demo/*" in data["data"]
    maps = ROOT / "maps"
    on_disk = {p for folder in ("static", "templates") for p in (maps / folder).rglob("*")}
    on_disk = {p.relative_to(maps).as_posix() for p in on_disk if p.is_file()}
    # matched as setuptools matches them: a pattern does not reach into subfolders
    shipped = {p.relative_to(maps).as_posix() for g in data["maps"] for p in maps.glob(g)}
    assert {"static/finder/main.js", "templates/finder_panel.html"} <= on_disk
    assert sorted(on_disk - shipped) == []


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
