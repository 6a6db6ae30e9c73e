"""The README is the front door: it must stay true about settings and commands."""

from pathlib import Path

from api.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [name for name in Settings.model_fields if f"YIZHAN_{name.upper()}" not in README]
    assert missing == []


def test_front_door_commands():
    two = README.split("## Two commands", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert two.splitlines() == ["pip install . && yizhan serve", "bash tests/run.sh"]
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line and not line.startswith(("#", "set "))]
    assert commands == ['cd "$(dirname "$0")/.."', "bash tests/run.sh"]  # that, and nothing else
