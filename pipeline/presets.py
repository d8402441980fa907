"""Fit, icons and presets: the outputs of an asset beyond one file per size and format.

DESIGN "Vector assets, icon sets and fit". Everything here is sugar over ordinary
`OutputTarget`s, which expand.py groups by native ratio like any other output, so
`plan --json` lists what a preset expanded to, and each file is cut from its job's master:

- `fit` (`cover` | `contain`), `pad` and `safe_zone` of an asset become each output's
  `Fit`. A cover output's Fit is `COVER` whatever `pad` says, so its key is unchanged.
  An uncovered jpg is padded with the background (it has no transparency).
- `ico` is one file per asset and matrix combination, holding every declared square
  exact size from 16 to 256 (`ico_sizes`, sorted smallest first; its width and height
  are the largest), cut from the 1:1 native master.
- `preset: favicon` and `preset: social` add the files of `FAVICON` and `SOCIAL`, named
  as browsers and social sites expect, in the asset's folder. `site.webmanifest` and
  `head.html` are text outputs of the job (their content is in their key, so a new
  `brand.name` rewrites only them); a text output has no pixels: it is 1x1 in the index
  and the lock, which hold positive sizes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape

from .jobs import COVER, RGB, Fit, OutputTarget
from .manifest import Asset, Settings, hex_color
from .models import MODELS, native_size

MAX_SIDE = 8192  # pixels, for an exact size (cut from a master of at most 3072)
ICO_MIN, ICO_MAX = 16, 256
FAVICON_ICO = (16, 32, 48)
MASKABLE_SAFE_ZONE = 0.8
OPAQUE_FALLBACK: RGB = (255, 255, 255)  # an opaque icon with neither pad nor background
SOCIAL = (
    ("og-1200x630.png", 1200, 630),
    ("x-1600x900.png", 1600, 900),
    ("square-1080x1080.png", 1080, 1080),
    ("story-1080x1920.png", 1080, 1920),
)
FAVICON_FILES = (
    "favicon.ico", "favicon.svg", "apple-touch-icon.png", "icon-192.png", "icon-512.png",
    "icon-maskable-512.png", "site.webmanifest", "head.html",
)  # fmt: skip
PRESET_FILES = {"favicon": len(FAVICON_FILES), "social": len(SOCIAL)}


def sizes_and_files(asset: Asset) -> int:
    """How many sizes and preset files an asset declares (its outputs, within a few)."""
    return len(asset.sizes) + PRESET_FILES.get(asset.preset or "", 0)


def vector_aliases() -> list[str]:
    return [alias for alias, info in MODELS.items() if info.vector]


def fit_problems(asset: Asset, model: str, vector: bool) -> list[tuple[str, str]]:
    """What the asset asks of fit and formats that cannot be: (setting, message)."""
    problems = []
    settings = asset.settings
    if settings.safe_zone is not None and settings.fit != "contain":
        problems.append(
            (
                "safe_zone",
                f"safe_zone applies only with fit: contain ({asset.id} has fit: "
                f"{settings.fit}): set fit: contain, or remove safe_zone",
            )
        )
    if "svg" in asset.formats and not vector:
        models = ", ".join(vector_aliases()) or "an alias ending in -vector"
        problems.append(
            (
                "formats",
                f"svg is an output format of vector models only, and {model} draws raster "
                f"images: use a vector model ({models}), or the formats png, jpg, webp, ico",
            )
        )
    return problems


def size_dims(sizes: dict[str, tuple[int, int]], size: str) -> tuple[tuple[int, int] | None, str]:
    """An asset's size in pixels (a ratio's native size, or an exact size), or None and
    why not."""
    if ":" in size:
        native = native_size(sizes, size)
        why = (
            f"{size!r} is not a native aspect ratio of this model; use one of "
            f'{", ".join(sizes)}, or an exact size like "1200x630"'
        )
        return native, "" if native else why
    w, h = (int(x) for x in size.split("x"))
    if max(w, h) > MAX_SIDE:
        return None, f"{size!r} is too large: exact sizes are at most {MAX_SIDE} pixels a side"
    return (w, h), ""


def output_fit(settings: Settings, fmt: str) -> Fit:
    """The Fit of an ordinary output of this format."""
    if settings.fit != "contain":
        return COVER
    pad = settings.pad
    if pad is None and fmt == "jpg":
        pad = settings.background
    zone = float(settings.safe_zone) if settings.safe_zone is not None else None
    return Fit("contain", pad, zone)


def ico_target(squares: Iterable[int], settings: Settings) -> OutputTarget | None:
    """The asset's one ico (path filled in by expand), or None without a square size
    from 16 to 256. A single size keeps `ico_sizes` empty: the plain ico it always was."""
    sizes = sorted({s for s in squares if ICO_MIN <= s <= ICO_MAX})
    if not sizes:
        return None
    side = sizes[-1]
    return OutputTarget(
        path="",
        width=side,
        height=side,
        format="ico",
        size=f"{side}x{side}",
        fit=output_fit(settings, "ico"),
        ico_sizes=tuple(sizes) if len(sizes) > 1 else (),
    )


def preset_targets(
    asset: Asset, brand_name: str, vector: bool, square: tuple[int, int]
) -> list[OutputTarget]:
    """The files of the asset's preset, each `path` its file name in the asset's folder.
    `square`: the model's native 1:1 size (favicon.svg is the master itself)."""
    if asset.preset == "social":
        return [_png(name, w, h, output_fit(asset.settings, "png")) for name, w, h in SOCIAL]
    if asset.preset != "favicon":
        return []
    s = asset.settings
    opaque = s.pad or s.background or OPAQUE_FALLBACK
    side = FAVICON_ICO[-1]
    targets = [
        OutputTarget(
            "favicon.ico",
            side,
            side,
            "ico",
            f"{side}x{side}",
            fit=output_fit(s, "ico"),
            ico_sizes=FAVICON_ICO,
        ),
        OutputTarget("favicon.svg", square[0], square[1], "svg", "1:1"),
        _png("apple-touch-icon.png", 180, 180, Fit("contain", opaque)),
        _png("icon-192.png", 192, 192, output_fit(s, "png")),
        _png("icon-512.png", 512, 512, output_fit(s, "png")),
        _png("icon-maskable-512.png", 512, 512, Fit("contain", opaque, MASKABLE_SAFE_ZONE)),
        _text("site.webmanifest", "webmanifest", webmanifest(brand_name, s)),
        _text("head.html", "html", head_html(vector)),
    ]
    return [t for t in targets if vector or t.format != "svg"]


def webmanifest(name: str, settings: Settings) -> str:
    """site.webmanifest: the app's name, colours and icons (paths beside it)."""
    icons = [
        {"src": "icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "icon-512.png", "sizes": "512x512", "type": "image/png"},
        {
            "src": "icon-maskable-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    data: dict = {"name": name, "short_name": name, "icons": icons}
    colour = settings.background or settings.pad
    if colour is not None:
        data["theme_color"] = data["background_color"] = hex_color(colour)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def head_html(vector: bool) -> str:
    """head.html: the link tags of the favicon set, relative to the page."""
    sizes = " ".join(f"{s}x{s}" for s in FAVICON_ICO)
    tags = [f'<link rel="icon" href="favicon.ico" sizes="{escape(sizes)}">']
    if vector:
        tags.append('<link rel="icon" href="favicon.svg" type="image/svg+xml">')
    tags.append('<link rel="apple-touch-icon" href="apple-touch-icon.png">')
    tags.append('<link rel="manifest" href="site.webmanifest">')
    return "\n".join(tags) + "\n"


def _png(name: str, width: int, height: int, fit: Fit) -> OutputTarget:
    return OutputTarget(name, width, height, "png", f"{width}x{height}", fit=fit)


def _text(name: str, fmt: str, text: str) -> OutputTarget:
    return OutputTarget(name, 1, 1, fmt, "text", text=text)
