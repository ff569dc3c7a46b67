"""Write a benchmark's document and its table into the README, between its markers."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def publish(name: str, doc: str, table: str) -> None:
    """``docs/<name>.md`` gets ``doc``; the README's ``<!-- name:start -->`` block gets ``table``."""
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / f"{name}.md").write_text(doc, encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = f"<!-- {name}:start -->\n{table}\n<!-- {name}:end -->"
    new = re.sub(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", lambda m: block, readme, flags=re.S)
    if new == readme and block not in readme:
        raise SystemExit(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> block")
    (ROOT / "README.md").write_text(new, encoding="utf-8")
