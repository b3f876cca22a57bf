"""The package list in pyproject.toml must name every package folder, or installs miss code."""

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "kstreamy").rglob("__init__.py")
    }
    assert found <= listed
    assert config["package-dir"]["kstreamy_cli"] == "cli"
    assert "kstreamy_cli" in listed
