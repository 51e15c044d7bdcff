"""The README stays true: its configuration table is the Settings model, its route table covers the API."""

from __future__ import annotations

import importlib.util
import json

from tests.events import ROOT


def _settings_doc() -> object:
    spec = importlib.util.spec_from_file_location("settings_doc", ROOT / "scripts" / "settings_doc.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_configuration_table_is_generated_from_settings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    doc = _settings_doc()
    assert doc.with_table(readme) == readme, "run: .venv/bin/python scripts/settings_doc.py --write"  # type: ignore[attr-defined]


def test_readme_mentions_every_api_path() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paths = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]
    missing = [p for p in paths if p.split("/{")[0] not in readme]
    assert missing == []
