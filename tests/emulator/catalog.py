"""Model tables, allowed sizes and small validators shared by all provider emulations.

Source: /work/shared/seeds/providers.md §0 (sizes identical on every provider).
"""

from __future__ import annotations

import re
from typing import Literal

Tier = Literal["1K", "2K"]

SIZES_1K: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:1": (1536, 768),
    "1:2": (768, 1536),
    "3:2": (1280, 832),
    "2:3": (832, 1280),
    "4:3": (1216, 896),
    "3:4": (896, 1216),
    "5:4": (1152, 896),
    "4:5": (896, 1152),
    "6:10": (832, 1344),
    "14:10": (1280, 896),
    "10:14": (896, 1280),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
}
SIZES_2K: dict[str, tuple[int, int]] = {
    "1:1": (2048, 2048),
    "2:1": (3072, 1536),
    "1:2": (1536, 3072),
    "3:2": (2560, 1664),
    "2:3": (1664, 2560),
    "4:3": (2432, 1792),
    "3:4": (1792, 2432),
    "5:4": (2304, 1792),
    "4:5": (1792, 2304),
    "6:10": (1664, 2688),
    "14:10": (2560, 1792),
    "10:14": (1792, 2560),
    "16:9": (2688, 1536),
    "9:16": (1536, 2688),
}

SIZE_TABLES: dict[Tier, dict[str, tuple[int, int]]] = {"1K": SIZES_1K, "2K": SIZES_2K}

PROMPT_MAX = 10_000
MAX_COLORS = 5
_SIZE_RE = re.compile(r"^(\d+)x(\d+)$")


def allowed_sizes(tier: Tier) -> set[tuple[int, int]]:
    return set(SIZE_TABLES[tier].values())


def default_size(tier: Tier) -> tuple[int, int]:
    return SIZE_TABLES[tier]["1:1"]


def parse_size(value: object, tier: Tier, *, allow_ratio: bool = False) -> tuple[int, int] | None:
    """Parse a "WxH" (or, if allowed, "w:h") size string; None if not allowed for the tier."""
    if not isinstance(value, str):
        return None
    match = _SIZE_RE.match(value)
    if match:
        size = (int(match.group(1)), int(match.group(2)))
        return size if size in allowed_sizes(tier) else None
    if allow_ratio:
        return SIZE_TABLES[tier].get(value)
    return None


def prompt_problem(prompt: object) -> str | None:
    """Return a description of what is wrong with a prompt, or None if it is fine."""
    if not isinstance(prompt, str):
        return "prompt must be a string"
    if len(prompt) < 1:
        return "prompt must be at least 1 character"
    if len(prompt) > PROMPT_MAX:
        return f"prompt must be at most {PROMPT_MAX} characters"
    return None


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def rgb_problem(colour: object) -> str | None:
    """Validate a `{"rgb": [r, g, b]}` object (no other keys)."""
    if not isinstance(colour, dict):
        return "colour must be an object"
    extra = set(colour) - {"rgb"}
    if extra:
        return f"unknown colour key {sorted(extra)[0]!r}"
    rgb = colour.get("rgb")
    if not isinstance(rgb, list) or len(rgb) != 3:
        return "rgb must be an array of 3 integers"
    if not all(is_int(v) and 0 <= v <= 255 for v in rgb):
        return "rgb values must be integers 0-255"
    return None


def colors_problem(colors: object) -> str | None:
    if not isinstance(colors, list):
        return "colors must be an array"
    if len(colors) > MAX_COLORS:
        return f"at most {MAX_COLORS} colors are allowed"
    for colour in colors:
        problem = rgb_problem(colour)
        if problem:
            return problem
    return None
