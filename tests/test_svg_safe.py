"""The untrusted-SVG layer: what a provider's SVG may keep, and what is refused, in
bounded time and memory, without touching the network or the disk."""

from __future__ import annotations

import http.server
import re
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from pipeline.svg_safe import MAX_BYTES, SvgRejected, is_svg, sanitise
from tests.emulator.foreign import POLL_INTERVAL

SVG = "http://www.w3.org/2000/svg"
OPEN = f'<svg xmlns="{SVG}" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 64 64">'
RECRAFT_LIKE = (
    f'<svg xmlns="{SVG}" version="1.1" width="2048" height="2048" viewBox="0 0 2048 2048">'
    '<path d="M0 0 C682.67 0 1365.33 0 2048 0 C2048 682.67 2048 1365.33 2048 2048 '
    'C1365.33 2048 682.67 2048 0 2048 C0 1365.33 0 682.67 0 0 Z" fill="#F4F1EA" '
    'transform="translate(0,0)"/>'
    '<path d="M1024 400 L1600 1500 L448 1500 Z" fill="#1F6F5C" '
    'transform="translate(0,0)"/>'
    '<linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" '
    'stop-color="#E0A030"/><stop offset="1" stop-color="#B05020"/></linearGradient>'
    '<circle cx="1024" cy="1100" r="200" fill="url(#g)" style="opacity:0.9"/>'
    "</svg>"
)


class Requests(http.server.BaseHTTPRequestHandler):
    """A loopback server that records every request it gets (none is the goal)."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'<!ENTITY x "leaked">')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[tuple[str, list[str]]]:
    """(base URL, the paths requested so far) of a loopback HTTP server."""
    seen: list[str] = []
    handler = type("Handler", (Requests,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(POLL_INTERVAL,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def _refused(data: bytes, reason: str) -> None:
    with pytest.raises(SvgRejected, match=reason):
        sanitise(data)


def test_script_elements_are_removed_and_the_drawing_kept() -> None:
    out = sanitise(f'{OPEN}<script>alert(1)</script><rect width="8" height="8"/></svg>'.encode())
    assert b"script" not in out and b"alert" not in out
    assert _tree(out).find(f"{{{SVG}}}rect").get("width") == "8"


def test_event_handler_attributes_are_removed_in_any_case() -> None:
    out = sanitise(
        f'<svg xmlns="{SVG}" onload="alert(1)"><rect onClick="x()" OnMouseOver="y()" '
        'width="8" height="8"/></svg>'.encode()
    )
    assert b"alert" not in out and b"x()" not in out and b"y()" not in out
    assert _tree(out).find(f"{{{SVG}}}rect").attrib == {"width": "8", "height": "8"}


def test_foreign_object_and_its_html_are_removed() -> None:
    out = sanitise(
        f'{OPEN}<foreignObject width="10" height="10"><div xmlns="http://www.w3.org/1999/xhtml">'
        '<img src="http://example.invalid/x.png"/></div></foreignObject></svg>'.encode()
    )
    assert b"foreignObject" not in out and b"example.invalid" not in out


def test_animation_cannot_set_a_javascript_href() -> None:
    out = sanitise(
        f'{OPEN}<a href="#x"><set attributeName="href" to="javascript:alert(1)"/>'
        '<rect width="1" height="1"/></a></svg>'.encode()
    )
    assert b"javascript" not in out and b"<set" not in out


@pytest.mark.parametrize(
    "href",
    [
        "http://example.invalid/logo.png",
        "file:///etc/passwd",
        " javascript:alert(1)",
        "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
        "data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;",
        "logo.png",
    ],
)
def test_external_file_and_script_hrefs_are_dropped(href: str) -> None:
    for attribute in ("href", "xlink:href"):
        out = sanitise(f'{OPEN}<image {attribute}="{href}" width="4" height="4"/></svg>'.encode())
        image = _tree(out).find(f"{{{SVG}}}image")
        assert image.attrib == {"width": "4", "height": "4"}, attribute


def _data_uri(fmt: str, size: tuple[int, int] = (4, 4), claim: int | None = None) -> str:
    """A real PNG/JPEG/GIF as a data: URI; `claim` patches a JPEG's SOF to that size."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, fmt.upper())
    raw = buffer.getvalue()
    if claim is not None:
        sof = raw.index(b"\xff\xc0")
        raw = raw[: sof + 5] + claim.to_bytes(2, "big") * 2 + raw[sof + 9 :]
    return f"data:image/{fmt};base64," + base64.b64encode(raw).decode()


def test_fragment_and_raster_data_hrefs_survive() -> None:
    rasters = [_data_uri("png"), _data_uri("jpeg"), _data_uri("gif")]
    images = "".join(f'<image href="{uri}" width="2" height="2"/>' for uri in rasters)
    out = sanitise(
        f'{OPEN}<defs><rect id="r" width="2" height="2"/></defs><use xlink:href="#r"/>'
        f"{images}</svg>".encode()
    )
    tree = _tree(out)
    assert tree.find(f"{{{SVG}}}use").get("{http://www.w3.org/1999/xlink}href") == "#r"
    assert [image.get("href") for image in tree.iter(f"{{{SVG}}}image")] == rasters


def test_css_urls_to_other_documents_are_removed_from_style_attributes() -> None:
    out = sanitise(
        f'{OPEN}<rect width="8" height="8" fill="url(http://example.invalid/#p)" '
        "style=\"fill:red;background:url( 'http://example.invalid/b.png' );stroke:url(#g)\"/>"
        "</svg>".encode()
    )
    rect = _tree(out).find(f"{{{SVG}}}rect")
    assert rect.get("fill") is None
    assert rect.get("style") == "fill:red;stroke:url(#g)"


def test_style_sheets_lose_imports_and_remote_urls() -> None:
    out = sanitise(
        f"{OPEN}<style>@import url(http://example.invalid/a.css); @import 'b.css';"
        ".a{fill:url(http://example.invalid/x)} .b{fill:url(#g)} "
        "@font-face{font-family:X;src:url(file:///etc/passwd)}</style></svg>".encode()
    )
    css = _tree(out).find(f"{{{SVG}}}style").text
    assert "@import" not in css and "example.invalid" not in css and "file:" not in css
    assert ".b{fill:url(#g)}" in css


def test_css_escapes_that_could_spell_url_are_dropped() -> None:
    out = sanitise(
        f"{OPEN}<style>.a{{fill:\\75rl(http://example.invalid/x)}}</style>"
        '<rect width="1" height="1" style="fill:\\75rl(http://example.invalid/y)"/></svg>'.encode()
    )
    assert b"example.invalid" not in out


def test_billion_laughs_is_refused_at_once() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    started = time.perf_counter()
    _refused(f"<!DOCTYPE svg [{entities}]>{OPEN}<text>&lol9;</text></svg>".encode(), "entity")
    assert time.perf_counter() - started < 5


def test_external_entities_are_refused_and_never_read(loopback) -> None:
    base, seen = loopback
    for target in ("file:///etc/passwd", f"{base}/entity"):
        _refused(
            f'<!DOCTYPE svg [<!ENTITY x SYSTEM "{target}">]>{OPEN}<text>&x;</text></svg>'.encode(),
            "entity",
        )
    assert seen == []


def test_a_bare_doctype_is_dropped_without_loading_its_dtd(loopback) -> None:
    base, seen = loopback
    for dtd in (f"{base}/svg11.dtd", "file:///etc/passwd"):
        out = sanitise(
            f'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "{dtd}">'
            f'{OPEN}<rect width="1" height="1"/></svg>'.encode()
        )
        assert b"DOCTYPE" not in out and b"root:" not in out
    assert seen == []


def test_a_doctype_with_declarations_is_refused() -> None:
    _refused(f'<!DOCTYPE svg [<!ATTLIST svg x CDATA "1">]>{OPEN}</svg>'.encode(), "DOCTYPE")


def test_xinclude_is_never_processed() -> None:
    out = sanitise(
        f'{OPEN}<text><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        'href="file:///etc/passwd" parse="text"/></text></svg>'.encode()
    )
    assert b"include" not in out and b"root:" not in out


def test_100_mb_of_paths_is_refused_by_size_before_parsing() -> None:
    data = f'<svg xmlns="{SVG}">'.encode() + b'<path d="M0 0L1 1"/>' * 5_000_000 + b"</svg>"
    assert len(data) > 100_000_000
    started = time.perf_counter()
    _refused(data, "larger than")
    assert time.perf_counter() - started < 1
    _refused(b" " * (MAX_BYTES + 1), "larger than")


def test_too_many_elements_and_too_deep_nesting_are_refused() -> None:
    _refused(f'<svg xmlns="{SVG}">{"<g/>" * 60_000}</svg>'.encode(), "elements|tags")
    _refused(f'<svg xmlns="{SVG}">{"<g>" * 70}{"</g>" * 70}</svg>'.encode(), "deeper")
    _refused(f'<svg xmlns="{SVG}">{"<g>" * 300}{"</g>" * 300}</svg>'.encode(), "depth")


def test_use_bombs_are_refused() -> None:
    groups = "".join(f'<g id="a{i + 1}">' + f'<use href="#a{i}"/>' * 10 + "</g>" for i in range(9))
    _refused(f'{OPEN}<g id="a0"><rect width="1" height="1"/></g>{groups}</svg>'.encode(), "use")
    _refused(f'{OPEN}<g id="a"><use href="#a"/></g></svg>'.encode(), "itself")


@pytest.mark.parametrize(
    "attributes",
    [
        'viewBox="0 0 1000000 1000000"',
        'viewBox="0 0 1e400 10"',
        'viewBox="0 0 0 10"',
        'viewBox="0 0 nan 10"',
        'viewBox="0 0 10"',
        'width="1000000"',
        'height="-5"',
        'width="12qq"',
    ],
)
def test_huge_or_malformed_viewbox_and_size_are_refused(attributes: str) -> None:
    _refused(f'<svg xmlns="{SVG}" {attributes}/>'.encode(), "viewBox|width|height")


def test_nested_svg_viewboxes_are_bounded_too() -> None:
    _refused(f'{OPEN}<svg viewBox="0 0 5000000 10"/></svg>'.encode(), "viewBox")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "XML"),
        (b"not xml at all", "XML"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "UTF-8"),
        (f'<svg xmlns="{SVG}">'.encode(), "XML"),
        (b"<html><body/></html>", "not an SVG"),
        (b"<svg><rect/></svg>", "not an SVG"),  # no SVG namespace
        (f'<svg xmlns="{SVG}"/>'.encode("utf-16"), "UTF-8"),
    ],
)
def test_anything_but_an_svg_is_refused(data: bytes, reason: str) -> None:
    _refused(data, reason)


def test_the_same_input_always_gives_the_same_bytes() -> None:
    hostile = (
        f'{OPEN}<script>x</script><rect onload="y" width="1" height="1" '
        'style="fill:url(http://e/);stroke:red"/><!-- c --><?pi x?></svg>'
    ).encode()
    first = sanitise(hostile)
    assert all(sanitise(hostile) == first for _ in range(5))
    assert sanitise(first) == first  # sanitising is idempotent


def test_a_recraft_like_svg_keeps_its_drawing_intact() -> None:
    original = _tree(RECRAFT_LIKE.encode())
    kept = _tree(sanitise(RECRAFT_LIKE.encode()))
    assert kept.attrib == original.attrib
    pairs = list(zip(original.iter(), kept.iter(), strict=True))
    assert all(a.tag == b.tag and a.attrib == b.attrib for a, b in pairs)


def test_is_svg_sniffs_svg_documents_only() -> None:
    assert is_svg(RECRAFT_LIKE.encode())
    assert is_svg(b'\xef\xbb\xbf<?xml version="1.0"?>\n' + RECRAFT_LIKE.encode())
    assert not is_svg(b"\x89PNG\r\n\x1a\n")
    assert not is_svg(b"<html></html>")


def test_filters_markers_and_dashes_are_dropped_and_their_elements_kept() -> None:
    out = sanitise(
        f'{OPEN}<defs><filter id="f"><feTurbulence numOctaves="100000"/></filter>'
        '<marker id="m"><circle r="1"/></marker></defs>'
        "<style>.a{filter:url(#f);fill:red} .b{stroke-dasharray:1 1;marker-mid:url(#m)}</style>"
        '<rect class="a" width="8" height="8" filter="url(#f)" marker-end="url(#m)" '
        'stroke-dasharray="0.1" style="filter:url(#f);stroke-dasharray:0.1;fill:blue"/>'
        "</svg>".encode()
    )
    tree = _tree(out)
    assert b"filter" not in out and b"marker" not in out and b"dasharray" not in out
    assert tree.find(f"{{{SVG}}}rect").attrib == {
        "class": "a",
        "width": "8",
        "height": "8",
        "style": "fill:blue",
    }
    assert ".a{fill:red}" in tree.find(f"{{{SVG}}}style").text


def _png_claiming(width: int, height: int) -> str:
    import base64
    import struct
    import zlib

    def chunk(tag: bytes, payload: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + payload))
        return struct.pack(">I", len(payload)) + tag + payload + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_embedded_rasters_that_claim_too_many_pixels_are_dropped() -> None:
    bomb, small = _png_claiming(30000, 30000), _png_claiming(64, 64)
    jpeg_bomb = _data_uri("jpeg", claim=30000)
    out = sanitise(
        f'{OPEN}<image href="{bomb}" width="1" height="1"/>'
        f'<image href="{small}" width="1" height="1"/>'
        f'<image href="{jpeg_bomb}" width="1" height="1"/>'
        '<image href="data:image/png;base64,not-base64!" width="1" height="1"/></svg>'.encode()
    )
    hrefs = [image.get("href") for image in _tree(out).iter(f"{{{SVG}}}image")]
    assert hrefs == [None, small, None, None]


def test_css_urls_may_only_name_a_fragment() -> None:
    out = sanitise(
        f'{OPEN}<rect width="1" height="1" style="fill:url(data:image/png;base64,AAAA)"/>'
        "</svg>".encode()
    )
    assert b"data:" not in out


TAGS = ["g", "rect", "path", "script", "foreignObject", "filter", "use", "image", "style", "a"]
ATTRIBUTES = ["onload", "href", "xlink:href", "style", "fill", "filter", "id", "width"]
VALUES = ["#a", "http://x/y", "file:///etc/passwd", "url(http://x)", "url(#a)", "1", "", "a;b"]


@st.composite
def _svgs(draw: st.DrawFn) -> str:
    def element(depth: int) -> str:
        tag = draw(st.sampled_from(TAGS))
        names = draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=3, unique=True))
        attributes = "".join(f' {name}="{draw(st.sampled_from(VALUES))}"' for name in names)
        children = draw(st.lists(st.just(None), max_size=3 if depth < 3 else 0))
        inner = "".join(element(depth + 1) for _ in children)
        text = draw(st.sampled_from(["", "x", "@import url(http://x);", "a{fill:url(http://x)}"]))
        return f"<{tag}{attributes}>{text}{inner}</{tag}>"

    return f"{OPEN}{element(0)}</svg>"


@settings(max_examples=50, deadline=None)
@given(_svgs())
def test_whatever_survives_is_safe_and_a_fixed_point(svg: str) -> None:
    try:
        out = sanitise(svg.encode())
    except SvgRejected:
        return  # e.g. a <use> that references itself
    assert sanitise(out) == out
    for element in _tree(out).iter():
        assert etree.QName(element).localname not in ("script", "foreignObject", "filter")
        for name, value in element.attrib.items():
            assert not etree.QName(name).localname.startswith("on")
            if etree.QName(name).localname == "href":
                assert value.startswith("#")
            assert not re.search(r"url\(\s*['\"]?[^#'\"\s]", value), value
        if etree.QName(element).localname == "style":
            css = element.text or ""
            assert "@import" not in css and not re.search(r"url\(\s*['\"]?[^#'\"\s]", css)
