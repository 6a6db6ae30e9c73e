"""The shipped demo city data pack and the default tables."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
DEMO_DIR = DATA_DIR / "demo"
CATEGORIES_CSV = DATA_DIR / "categories.csv"
