"""index.html: a self-contained contact sheet of one version, grouped by asset.

Icons (an ico, or a raster of at most 256 pixels a side) are shown at their real size,
those of 80 pixels and under beside a magnified view (whole pixels, unsmoothed); an SVG
at 32 pixels (as a favicon is drawn) beside a 160-pixel view. Text outputs
(site.webmanifest, head.html) are listed as links, not as images.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

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
figure .views{display:flex;flex-wrap:wrap;align-items:flex-end;gap:.5rem;min-height:160px}
figure .views img{width:auto;height:auto;max-width:100%;background:#eee}
figure .zoom{display:block;max-width:100%;background:#eee 0 0/100% 100% no-repeat}
.files{font-size:12px}
"""
TEXT_FORMATS = ("webmanifest", "html")
ZOOM = 160  # pixels: the magnified view of an icon


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
        parts.extend(_figure(o) for o in outputs if o["format"] not in TEXT_FORMATS)
        parts.append("</div>")
        texts = [_text_item(o) for o in outputs if o["format"] in TEXT_FORMATS]
        parts.append(f"<ul class=files>{''.join(texts)}</ul>" if texts else "")
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
    img = _icon_views(o, path, alt) or f"<img src='{path}' loading=lazy alt='{alt}'{small}>"
    prompt = escape(o.get("prompt") or "")
    return (
        f"<figure>{img}<figcaption><a href='{path}'>{escape(o['path'])}</a><br>"
        f"<span class=dims>{o['width']}×{o['height']} {escape(o['format'])} · "
        f"{escape(str(o.get('provider')))}</span><div class=prompt>{prompt}</div>"
        f"</figcaption></figure>"
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
        f"title='real size'>{zoom if big[0] >= 2 * real[0] else ''}</div>"
    )


def _scaled(w: int, h: int, side: int) -> tuple[int, int]:
    """(w, h) scaled so the longer side is `side`."""
    return max(1, round(w * side / max(w, h))), max(1, round(h * side / max(w, h)))


def _text_item(o: dict[str, Any]) -> str:
    path = escape(o["path"], quote=True)
    return f"<li><a href='{path}'>{escape(o['path'])}</a> ({escape(o['format'])})</li>"
