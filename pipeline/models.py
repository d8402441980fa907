"""The Recraft V4 model family: aliases, provider ids and native size tables.

Source: shared/seeds/providers.md section 0 (identical on every provider that validates).

The vector models (master: an SVG document) were confirmed on each provider's own pages
(read 2026-11-29); a provider missing from a model's `ids` does not serve it:

- Recraft: `recraftv4_vector`, `recraftv4_pro_vector`
  (https://www.recraft.ai/docs/api-reference/models/recraft-v4.md), `recraftv4_1_vector`,
  `recraftv4_1_pro_vector` (https://www.recraft.ai/docs/api-reference/models/recraft-v4-1.md);
  the same endpoint and body as the raster models, only `model` changes.
- Runware: `recraft:v4@vector` (https://runware.ai/docs/models/recraft-v4-vector, 1K table)
  and `recraft:v4-pro@vector` (https://runware.ai/docs/models/recraft-v4-pro-vector, 2K
  table), both `taskType: "vectorize"` with `outputFormat: "SVG"` (its only value). Runware
  lists no V4.1 vector model: neither its model pages nor its SDK's generated task map
  (Runware/runware-python `runware/types/task_map.py`, schemas 20260623) name one.
- Cloudflare: `recraft/recraftv4-vector`, `recraft/recraftv4-pro-vector`,
  `recraft/recraftv4-1-vector`, `recraft/recraftv4-1-pro-vector`
  (https://developers.cloudflare.com/ai/models/recraft/<id>/): the raster models' input
  schema; `result.image` is a URL whose media type is image/svg+xml.
- PixelDojo: `recraft-v4-pro-svg` only (https://pixeldojo.ai/api-platform/recraft-v4-pro-svg:
  `POST /api/v1/models/recraft-v4-pro-svg/run`, the same inputs as `recraft-v4`: prompt,
  aspect_ratio, size, seed; 8 credits). No V4, V4.1 or V4.1 Pro vector model is listed.

Vector models take the size table of the raster model of the same tier (1K or 2K).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd, log

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


# Why `style`/`substyle` are refused for the V4 family (providers.md 2.1 "Styles", 4.3).
V4_STYLES = "Recraft serves styles through the separate V4 Styles models (style_id)"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    alias: str
    sizes: dict[str, tuple[int, int]]
    ids: dict[str, str]  # provider name -> that provider's model id
    # Takes V3's `style`/`substyle`? Not the V4 family: Recraft points V4 users to the
    # separate V4 Styles models, and a provider may ignore them (yet charge).
    v3_style: bool = False
    vector: bool = False  # the master is an SVG document, not a raster image


MODELS: dict[str, ModelInfo] = {
    m.alias: m
    for m in (
        ModelInfo(
            "recraft-v4",
            SIZES_1K,
            {
                "runware": "recraft:v4@0",
                "cloudflare": "recraft/recraftv4",
                "pixeldojo": "recraft-v4",
                "recraft": "recraftv4",
            },
        ),
        ModelInfo(
            "recraft-v4-pro",
            SIZES_2K,
            {
                "runware": "recraft:v4-pro@0",
                "cloudflare": "recraft/recraftv4-pro",
                "recraft": "recraftv4_pro",
            },
        ),
        ModelInfo(
            "recraft-v4.1",
            SIZES_1K,
            {
                "runware": "recraft:v4.1@0",
                "cloudflare": "recraft/recraftv4-1",
                "recraft": "recraftv4_1",
            },
        ),
        ModelInfo(
            "recraft-v4.1-pro",
            SIZES_2K,
            {
                "runware": "recraft:v4.1-pro@0",
                "cloudflare": "recraft/recraftv4-1-pro",
                "recraft": "recraftv4_1_pro",
            },
        ),
        ModelInfo(
            "recraft-v4-vector",
            SIZES_1K,
            {
                "runware": "recraft:v4@vector",
                "cloudflare": "recraft/recraftv4-vector",
                "recraft": "recraftv4_vector",
            },
            vector=True,
        ),
        ModelInfo(
            "recraft-v4-pro-vector",
            SIZES_2K,
            {
                "runware": "recraft:v4-pro@vector",
                "cloudflare": "recraft/recraftv4-pro-vector",
                "pixeldojo": "recraft-v4-pro-svg",
                "recraft": "recraftv4_pro_vector",
            },
            vector=True,
        ),
        ModelInfo(
            "recraft-v4.1-vector",
            SIZES_1K,
            {"cloudflare": "recraft/recraftv4-1-vector", "recraft": "recraftv4_1_vector"},
            vector=True,
        ),
        ModelInfo(
            "recraft-v4.1-pro-vector",
            SIZES_2K,
            {"cloudflare": "recraft/recraftv4-1-pro-vector", "recraft": "recraftv4_1_pro_vector"},
            vector=True,
        ),
    )
}


def find_model(provider: str, model: str) -> ModelInfo | None:
    """The model family entry for an alias or a raw provider id, if known."""
    if model in MODELS:
        return MODELS[model]
    for info in MODELS.values():
        if info.ids.get(provider) == model:
            return info
    return None


def serving(alias: str) -> tuple[str, ...]:
    """The hosted providers that serve a model alias (`local` stands in for every one)."""
    info = MODELS.get(alias)
    return tuple(info.ids) if info is not None else ()


def is_vector(provider: str, model: str) -> bool:
    """Is the master of this model an SVG? A raw id we do not know is taken as vector
    when its name says so (`recraftv4_1_utility_vector`, `recraft:v4@vector`)."""
    info = find_model(provider, model)
    if info is not None:
        return info.vector
    return "vector" in model.lower() or "svg" in model.lower()


def reduce_ratio(w: int, h: int) -> tuple[int, int]:
    g = gcd(w, h)
    return w // g, h // g


def native_size(sizes: dict[str, tuple[int, int]], ratio: str) -> tuple[int, int] | None:
    """The native dimensions for an aspect ratio written "W:H" (reduced before matching)."""
    w, h = (int(x) for x in ratio.split(":"))
    if w <= 0 or h <= 0:
        return None
    want = reduce_ratio(w, h)
    for name, dims in sizes.items():
        a, b = (int(x) for x in name.split(":"))
        if reduce_ratio(a, b) == want:
            return dims
    return None


def nearest_ratio(sizes: dict[str, tuple[int, int]], width: int, height: int) -> str:
    """The native aspect ratio closest (in log space) to an exact output size."""
    target = log(width / height)

    def distance(name: str) -> tuple[float, str]:
        w, h = sizes[name]
        return abs(log(w / h) - target), name

    return min(sizes, key=distance)
