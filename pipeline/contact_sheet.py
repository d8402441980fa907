"""index.html: a self-contained contact sheet of one version, grouped by asset.

Icons (an ico, or a raster of at most 256 pixels a side) are shown at their real size,
those of 80 pixels and under beside a magnified view (whole pixels, unsmoothed); an SVG
at 32 pixels (as a favicon is drawn) beside a 160-pixel view. Text outputs
(site.webmanifest, head.html) are listed as links, not as images.

Assets come in manifest order, an asset's outputs in numeric order of their names (16
before 180 before 1024), every image at its true aspect ratio, each with its model and
the cost of the generation it was cut from, and a badge on what is new or changed since
the version before (read from that version's index.json, when there is one).
"""

from __future__ import annotations

import contextlib
import json
import re
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .manifest import Manifest, hex_color, parse_color

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:clamp(.75rem,4vw,2rem);background:#fafafa;
 color:#222}
h1{margin:0 0 .25rem}.meta{color:#666;margin-bottom:1rem}
.swatches{display:flex;gap:.5rem;margin:1rem 0 2rem}
.swatch{width:5rem;font-size:11px;text-align:center}
.swatch span{display:block;height:3rem;border-radius:6px;border:1px solid #0002;margin-bottom:4px}
h2{border-bottom:1px solid #ddd;padding-bottom:.25rem;margin-top:2rem}
.grid{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0;background:#fff;border:1px solid #e3e3e3;border-radius:8px;padding:.5rem;
 width:220px;max-width:100%;position:relative}
figure img{display:block;width:auto;height:auto;max-width:100%;max-height:200px;
 background:#eee;border-radius:4px}
figcaption{font-size:12px}figcaption .dims{color:#595959}
figcaption a{overflow-wrap:anywhere}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:0 .35rem;margin:0 0 .3rem;
 border-radius:4px;border:1px solid}
.badge.changed{color:#8a3c00}.badge.new{color:#0b5394}
figcaption .prompt{color:#444;font-style:italic;margin-top:2px}
figure .views{display:flex;flex-wrap:wrap;align-items:flex-end;gap:.5rem;min-height:160px}
figure .views img{width:auto;height:auto;max-width:100%;max-height:none;background:#eee}
figure .zoom{display:block;max-width:100%;background:#eee 0 0/100% 100% no-repeat}
.files{font-size:12px}
"""
TEXT_FORMATS = ("webmanifest", "html")
ZOOM = 160  # pixels: the magnified view of an icon


def render_contact_sheet(
    index: dict[str, Any], manifest: Manifest, previous: Path | dict[str, Any] | None = None
) -> str:
    """The sheet of `index`; `previous`: the version before (its folder, as dist/latest
    names it while a new version is written, or its index), for the changed badges."""
    before = _outputs_before(previous)
    title = escape(str(manifest.brand.get("name") or index.get("kit") or "brand kit"))
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{title} "
        f"{escape(index['version'])}</title><style>{_CSS}</style><body>",
        f"<h1>{title}</h1><div class=meta>kit {escape(str(index.get('kit')))} · "
        f"{escape(index['version'])} · {len(index['outputs'])} outputs · "
        f"{escape(index['created'])}</div>",
        _swatches(manifest),
    ]
    for asset, outputs in _by_asset(index["outputs"], manifest).items():
        parts.append(f"<h2>{escape(asset)}</h2><div class=grid>")
        parts.extend(_figure(o, before) for o in outputs if o["format"] not in TEXT_FORMATS)
        parts.append("</div>")
        texts = [_text_item(o) for o in outputs if o["format"] in TEXT_FORMATS]
        parts.append(f"<ul class=files>{''.join(texts)}</ul>" if texts else "")
    parts.append("</body></html>\n")
    return "".join(parts)


def _by_asset(outputs: list[dict[str, Any]], manifest: Manifest) -> dict[str, list[dict]]:
    """Outputs by asset in manifest order (assets it no longer names last), each asset's
    in the numeric order of their paths."""
    groups: dict[str, list[dict]] = {}
    for o in outputs:
        groups.setdefault(o.get("asset") or o["path"].split("/")[0], []).append(o)
    order = {a.id: i for i, a in enumerate(manifest.assets)}
    ranked = sorted(groups, key=lambda a: (order.get(a, len(order)), a))
    return {a: sorted(groups[a], key=lambda o: natural(o["path"])) for a in ranked}


def natural(text: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that reads digits as numbers: icon-16 < icon-180 < icon-1024."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part
    )


class Before:
    """The version before: its name and each output's sha256 by path."""

    def __init__(self, version: str, shas: dict[str, str | None]):
        self.version, self.shas = version, shas

    def badge(self, o: dict[str, Any]) -> str:
        sha = self.shas.get(o["path"])
        if sha == o.get("sha256"):
            return ""
        kind, word = ("new", "new") if sha is None else ("changed", "changed")
        return f"<span class='badge {kind}'>{word} since {escape(self.version)}</span><br>"


def _outputs_before(previous: Path | dict[str, Any] | None) -> Before | None:
    """The version before, from its index.json; None where there is none or it cannot be
    read (a badge is a courtesy: it never stops a publish)."""
    index: Any = previous
    if isinstance(previous, Path):
        index = None
        with contextlib.suppress(OSError, ValueError):
            index = json.loads((previous / "index.json").read_text("utf-8"))
    if not isinstance(index, dict) or not isinstance(index.get("outputs"), list):
        return None
    shas = {
        o["path"]: o.get("sha256")
        for o in index["outputs"]
        if isinstance(o, dict) and isinstance(o.get("path"), str)
    }
    return Before(str(index.get("version") or "the last version"), shas)


def _cost(o: dict[str, Any]) -> str:
    cost, credits = o.get("cost_usd"), o.get("credits")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        return "free" if cost == 0 else f"${cost:.3f}"
    if isinstance(credits, int | float) and not isinstance(credits, bool):
        return f"{credits:g} credits"
    return "cost unknown"


def _swatches(manifest: Manifest) -> str:
    colors = manifest.brand.get("colors") or {}
    if not colors:
        return ""
    cells = []
    for name, value in colors.items():
        hexa = hex_color(parse_color(value))
        cells.append(
            f"<div class=swatch><span style='background:{hexa}'></span>"
            f"{escape(name)}<br>{hexa}</div>"
        )
    return f"<div class=swatches>{''.join(cells)}</div>"


def _figure(o: dict[str, Any], before: Before | None = None) -> str:
    path = escape(o["path"], quote=True)
    w, h = o["width"], o["height"]
    small = " style='image-rendering:pixelated'" if max(w, h) <= 64 else ""
    what = f"{o.get('asset') or o['path']}, {w}×{h} {o['format']}"
    alt = escape(what, quote=True)
    views = _icon_views(o, path, alt)
    img = views or f"<img src='{path}' loading=lazy alt='{alt}'{small}>"
    wide = _views_width(o) if views else 0
    size = f" style='width:{wide}px'" if wide > 220 else ""  # an icon never shrinks
    prompt = escape(o.get("prompt") or "")
    model = f"{o.get('provider')}/{o.get('model')}"
    return (
        f"<figure{size}>{before.badge(o) if before else ''}{img}<figcaption>"
        f"<a href='{path}'>{escape(o['path'])}</a><br>"
        f"<span class=dims>{w}×{h} {escape(o['format'])} · {escape(model)} · "
        f"<span title='the generation it was cut from'>{escape(_cost(o))}</span></span>"
        f"<div class=prompt>{prompt}</div></figcaption></figure>"
    )


def _icon_views(o: dict[str, Any], path: str, alt: str) -> str | None:
    """An icon or an SVG at its real size (its one <img>) beside a magnified view (a
    background, so the sheet keeps one image per output; none for an icon already over
    half the view's size); None for other images."""
    w, h, fmt = o["width"], o["height"], o["format"]
    if fmt == "svg":  # no pixels of its own: drawn as an icon is, and large
        real, big, style = _scaled(w, h, 32), _scaled(w, h, ZOOM), ""
    elif fmt == "ico" or max(w, h) <= 256:
        k = ZOOM // max(w, h)
        real, big, style = (w, h), (w * k, h * k), "image-rendering:pixelated;"
    else:
        return None
    url = escape(quote(o["path"]), quote=True)  # %-encoded: no quote ends the CSS string
    zoom = (
        f"<span class=zoom title='magnified' style='width:{big[0]}px;aspect-ratio:"
        f'{big[0]}/{big[1]};background-image:url("{url}");{style}\'></span>'
    )
    return (
        f"<div class=views><img src='{path}' width={real[0]} height={real[1]} alt='{alt}' "
        f"style='width:{real[0]}px;height:{real[1]}px;{style}' title='real size'>"  # (an SVG
        f"{zoom if big[0] >= 2 * real[0] else ''}</div>"  # has its own size: not this one)
    )


def _views_width(o: dict[str, Any]) -> int:
    """The figure's width that shows an icon at real size beside its magnified view."""
    w, h = o["width"], o["height"]
    if o["format"] == "svg":
        real, big = _scaled(w, h, 32)[0], _scaled(w, h, ZOOM)[0]
    else:
        real, big = w, w * (ZOOM // max(w, h))
    return real + (big + 8 if big >= 2 * real else 0) + 18  # gap, padding and border


def _scaled(w: int, h: int, side: int) -> tuple[int, int]:
    """(w, h) scaled so the longer side is `side`."""
    return max(1, round(w * side / max(w, h))), max(1, round(h * side / max(w, h)))


def _text_item(o: dict[str, Any]) -> str:
    path = escape(o["path"], quote=True)
    return f"<li><a href='{path}'>{escape(o['path'])}</a> ({escape(o['format'])})</li>"
