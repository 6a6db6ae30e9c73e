"""The README is the front door: it must stay true about settings and commands."""

from pathlib import Path

from api.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [name for name in Settings.model_fields if f"YIZHAN_{name.upper()}" not in README]
    assert missing == []


def test_front_door_commands():
    assert "pip install . && yizhan serve" in README
    assert "pip install '.[test]' && pytest" in README
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert ci.rstrip().endswith("\npip install '.[test]' && pytest")
