"""index.html: a self-contained contact sheet of one version, grouped by asset."""

from __future__ import annotations

from html import escape
from typing import Any

from .manifest import Manifest, hex_color, parse_color

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;background:#fafafa;color:#222}
h1{margin:0 0 .25rem}.meta{color:#666;margin-bottom:1rem}
.swatches{display:flex;gap:.5rem;margin:1rem 0 2rem}
.swatch{width:5rem;font-size:11px;text-align:center}
.swatch span{display:block;height:3rem;border-radius:6px;border:1px solid #0002;margin-bottom:4px}
h2{border-bottom:1px solid #ddd;padding-bottom:.25rem;margin-top:2rem}
.grid{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0;background:#fff;border:1px solid #e3e3e3;border-radius:8px;padding:.5rem;
 width:220px}
figure img{width:100%;height:160px;object-fit:contain;background:#eee;border-radius:4px}
figcaption{font-size:12px;word-break:break-all}figcaption .dims{color:#666}
figcaption .prompt{color:#444;font-style:italic;margin-top:2px}
"""


def render_contact_sheet(index: dict[str, Any], manifest: Manifest) -> str:
    title = escape(str(manifest.brand.get("name") or index.get("kit") or "brand kit"))
    parts = [
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{title} "
        f"{escape(index['version'])}</title><style>{_CSS}</style><body>",
        f"<h1>{title}</h1><div class=meta>kit {escape(str(index.get('kit')))} · "
        f"{escape(index['version'])} · {len(index['outputs'])} outputs · "
        f"{escape(index['created'])}</div>",
        _swatches(manifest),
    ]
    by_asset: dict[str, list[dict]] = {}
    for o in index["outputs"]:
        by_asset.setdefault(o.get("asset") or o["path"].split("/")[0], []).append(o)
    for asset, outputs in by_asset.items():
        parts.append(f"<h2>{escape(asset)}</h2><div class=grid>")
        parts.extend(_figure(o) for o in outputs)
        parts.append("</div>")
    parts.append("</body></html>\n")
    return "".join(parts)


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


def _figure(o: dict[str, Any]) -> str:
    path = escape(o["path"], quote=True)
    small = " style='image-rendering:pixelated'" if max(o["width"], o["height"]) <= 64 else ""
    what = f"{o.get('asset') or o['path']}, {o['width']}×{o['height']} {o['format']}"
    alt = escape(what, quote=True)
    img = f"<img src='{path}' loading=lazy alt='{alt}'{small}>"
    prompt = escape(o.get("prompt") or "")
    return (
        f"<figure>{img}<figcaption><a href='{path}'>{escape(o['path'])}</a><br>"
        f"<span class=dims>{o['width']}×{o['height']} {escape(o['format'])} · "
        f"{escape(str(o.get('provider')))}</span><div class=prompt>{prompt}</div>"
        f"</figcaption></figure>"
    )
