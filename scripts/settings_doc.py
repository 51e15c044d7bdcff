"""The README's configuration table, from the Settings model.

python scripts/settings_doc.py           # print it
python scripts/settings_doc.py --write   # put it into README.md between the settings markers
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from viral.settings import REPO_ROOT, Settings


def table() -> str:
    rows = ["| Variable | Default | What it does |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "(unset)" if default is None else str(default).replace(str(REPO_ROOT), ".")
        if isinstance(default, dict | list):
            shown = "see settings.py"
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name.upper()}` | `{shown}` | {description} |")
    return "\n".join(rows)


START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def with_table(readme: str) -> str:
    """README text with the generated table between the markers."""
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    if "--write" in sys.argv:
        path = REPO_ROOT / "README.md"
        path.write_text(with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(table())
