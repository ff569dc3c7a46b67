"""The requirement catalogue (specs/requirements.yaml), shipped as package data."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

SPECS = Path(__file__).resolve().parents[1] / "specs"


@lru_cache(maxsize=1)
def load_catalogue() -> list[dict]:
    data = yaml.safe_load((SPECS / "requirements.yaml").read_text(encoding="utf-8"))
    return data["requirements"]


def openapi_path() -> Path:
    return SPECS / "openapi.yaml"
