"""Packaging hook: fetch the page assets that are published only on npm.

Leaflet and MarkerCluster come from PyPI (XStatic packages). ``leaflet.heat`` exists only on npm,
so building Yizhan runs ``npm pack`` for the pinned versions in ``maps/npm_assets.json``, checks
each tarball against its pinned integrity hash, and unpacks the listed files into
``maps/static/vendor/`` (git-ignored), from where they ship as package data. Nothing is fetched
when the files are already there. Everything else is in ``pyproject.toml``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "maps" / "npm_assets.json"
VENDOR = ROOT / "maps" / "static" / "vendor"


def fetch_npm_assets() -> None:
    """Unpack every pinned npm file that is missing under maps/static/vendor."""
    for package, item in json.loads(MANIFEST.read_text(encoding="utf-8")).items():
        wanted = {member: VENDOR / target for member, target in item["files"].items()}
        if all(path.exists() for path in wanted.values()):
            continue
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(
                f"building yizhan needs npm to fetch {package} for the map pages "
                "(apt-get install npm), or copy its files into maps/static/vendor/"
            )
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(
                [npm, "pack", package, "--pack-destination", tmp, "--json", "--silent"],
                check=True,
                capture_output=True,
                text=True,
            )
            tarball = Path(tmp) / json.loads(done.stdout)[-1]["filename"]
            algorithm, expected = item["integrity"].split("-", 1)
            digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest())
            if digest.decode() != expected:
                raise SystemExit(f"{package}: integrity check failed for {tarball.name}")
            with tarfile.open(tarball) as tar:
                for member, target in wanted.items():
                    source = tar.extractfile(member)
                    if source is None:
                        raise SystemExit(f"{package}: {member} is not in {tarball.name}")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(source.read())


class BuildPy(build_py):
    """build_py that fetches the npm assets first."""

    def run(self):
        fetch_npm_assets()
        super().run()


setup(cmdclass={"build_py": BuildPy})
