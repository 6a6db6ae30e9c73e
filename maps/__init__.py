"""Folium maps built from ``geo`` results, with every asset served locally."""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
