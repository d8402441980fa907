"""Estimated cost per image, from the dated price table in data/prices.json."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any


@functools.cache
def price_table() -> dict[str, Any]:
    return json.loads((resources.files("pipeline") / "data" / "prices.json").read_text("utf-8"))


def price(
    provider: str, alias: str | None, model_id: str, overrides: dict[str, float] | None = None
) -> float | None:
    """USD per image: the manifest's override, the provider's own price, the list price."""
    for name in (alias, model_id):
        if overrides and name is not None and name in overrides:
            return float(overrides[name])
    table = price_table()
    if provider in table.get("unpriced", {}):
        return None
    per_provider = table.get("providers", {}).get(provider, {})
    for name in (alias, model_id, "*"):
        if name is not None and name in per_provider:
            return float(per_provider[name])
    if alias is not None and alias in table["models"]:
        return float(table["models"][alias])
    return None
