"""One master opened once for all its outputs (derive.open_master, as cutpool.cut does):
the bytes are exactly those derive makes from the master's bytes, a raster master is
decoded once, a vector master's frames are rendered in one call to resvg's worker, and a
render that fails still fails its output alone, with the outputs before it kept."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

import pipeline.derive
from pipeline import svg_worker
from pipeline.cache import Cache, Record, RecordMeta
from pipeline.cutpool import CutError, cut
from pipeline.derive import derive, open_master
from pipeline.jobs import COVER, Fit, OutputTarget
from pipeline.svg_safe import SvgRejected
from tests.test_svg_render import SQUARE, _clipped_groups

SVG = "http://www.w3.org/2000/svg"
PAD = Fit("contain", (10, 20, 30))
ZONE = Fit("contain", None, 0.8)
OPAQUE_ZONE = Fit("contain", (255, 255, 255), 0.9)


def _encoded(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _rgb() -> bytes:
    image = Image.linear_gradient("L").resize((300, 200)).convert("RGB")
    ImageDraw.Draw(image).ellipse((20, 20, 150, 150), fill=(200, 90, 30))
    return _encoded(image)


def _rgba() -> bytes:
    image = Image.radial_gradient("L").resize((180, 240)).convert("RGBA")
    ImageDraw.Draw(image).rectangle((0, 0, 60, 60), fill=(0, 0, 0, 0))
    return _encoded(image)


def _rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: derive turns it upright
    return _encoded(Image.open(io.BytesIO(_rgb())).convert("RGB"), "JPEG", exif=exif)


DRAWING = (
    f'<svg xmlns="{SVG}" viewBox="0 0 100 60" width="500" height="300">'
    '<rect width="100" height="60" fill="#F4F1EA"/>'
    '<circle cx="30" cy="30" r="20" fill="#1F6F5C" opacity="0.7"/>'
    '<path d="M50 10 Q70 0 90 10 T90 50 L50 50 Z" fill="#c03"/></svg>'
).encode()
MASTERS = {"rgb": _rgb, "rgba": _rgba, "rotated-jpeg": _rotated_jpeg, "svg": lambda: DRAWING}


def _target(w: int, h: int, fmt: str, fit: Fit = COVER, ico: tuple[int, ...] = ()) -> OutputTarget:
    return OutputTarget(f"a/{w}x{h}-{fit.mode}.{fmt}", w, h, fmt, f"{w}x{h}", fit, ico)


TARGETS = [
    _target(64, 64, "png"),
    _target(120, 40, "webp"),
    _target(40, 120, "jpg"),
    _target(200, 100, "png", PAD),
    _target(100, 200, "webp", ZONE),
    _target(77, 33, "jpg", ZONE),
    _target(48, 48, "ico", ico=(16, 32, 48)),
    _target(256, 256, "ico", OPAQUE_ZONE, (16, 48, 256)),
    _target(32, 32, "png"),  # also a frame of the first ico: rendered once, used twice
    _target(64, 64, "png"),  # the same output twice
    OutputTarget("site.webmanifest", 1, 1, "webmanifest", "1x1", text='{"name": "x"}'),
]
SVG_TARGETS = [_target(500, 300, "svg"), _target(100, 100, "svg", PAD), _target(64, 64, "svg")]


def _derive(master: bytes | pipeline.derive.Master, t: OutputTarget) -> bytes:
    fit, ico_sizes, text = t.fit, t.ico_sizes, t.text
    return derive(master, t.width, t.height, t.format, fit=fit, ico_sizes=ico_sizes, text=text)


@pytest.mark.parametrize("name", sorted(MASTERS))
def test_an_opened_master_gives_exactly_the_bytes_derive_makes_from_its_bytes(name: str) -> None:
    data = MASTERS[name]()
    targets = TARGETS + (SVG_TARGETS if name == "svg" else [])
    opened = open_master(data, targets)
    for t in targets:
        assert _derive(opened, t) == _derive(data, t), t.path


def test_a_raster_master_is_decoded_once_for_all_its_outputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decodes = []
    real = pipeline.derive._open_master
    monkeypatch.setattr(pipeline.derive, "_open_master", lambda d: decodes.append(1) or real(d))
    opened = open_master(_rgb(), TARGETS)
    for t in TARGETS:
        _derive(opened, t)
    assert len(decodes) == 1
    _derive(_rgb(), TARGETS[0])
    assert len(decodes) == 2, "from bytes: decoded for that output"


def test_a_vector_masters_frames_are_all_rendered_in_one_call_to_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches: list[int] = []
    real = svg_worker.draw_many
    monkeypatch.setattr(
        svg_worker, "draw_many", lambda svgs, t=None: batches.append(len(svgs)) or real(svgs, t)
    )
    targets = TARGETS + SVG_TARGETS
    opened = open_master(DRAWING, targets)
    for t in targets:
        _derive(opened, t)
    # 6 single frames, the 3 of one ico, the 3 of the other (at another fit: other
    # frames); the 32 px png and the second 64 px png are frames already asked for
    assert batches == [12]


def _cache_master(tmp_path: Path, data: bytes) -> tuple[Cache, Record]:
    cache = Cache(tmp_path / "cache")
    meta = RecordMeta(width=512, height=512, format="svg", provider="local", model="m", spec={})
    return cache, cache.put("master", data, meta)


def test_a_hostile_render_fails_its_output_alone_and_the_outputs_before_it_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(svg_worker, "RENDER_SECONDS", 1.0)
    slow = _clipped_groups(1000)  # minutes at 2048 px, unbounded
    cache, record = _cache_master(tmp_path, slow)
    targets = [_target(16, 16, "png"), _target(2048, 2048, "png"), _target(16, 16, "webp")]
    with cache:
        made = cut(str(cache.root), record, targets)
    assert len(made.outputs) == 1 and made.outputs[0] == _derive(slow, targets[0])
    assert isinstance(made.error, CutError) and "longer than 1 s" in str(made.error)
    assert _derive(SQUARE, _target(16, 16, "png")), "the next render works"


def test_a_batch_stops_at_the_first_render_resvg_refuses_and_the_next_batch_works() -> None:
    drawn, refused = svg_worker.draw_many([SQUARE, b"<svg not xml", SQUARE])
    assert len(drawn) == 1 and drawn[0] == svg_worker.draw(SQUARE)
    assert isinstance(refused, SvgRejected) and "cannot render" in str(refused)
    drawn, refused = svg_worker.draw_many([SQUARE, SQUARE])
    assert refused is None and drawn == [svg_worker.draw(SQUARE)] * 2


def test_a_batch_larger_than_the_limit_is_sent_in_parts_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(svg_worker, "BATCH_BYTES", len(SQUARE) + 1)  # one SVG a batch
    wide = SQUARE.replace(b'viewBox="0 0 100 100"', b'width="32" height="16"')
    drawn, refused = svg_worker.draw_many([SQUARE, wide, SQUARE])
    assert refused is None
    sizes = [Image.open(io.BytesIO(png)).size for png in drawn]
    assert sizes == [(100, 100), (32, 16), (100, 100)]


def test_threads_drawing_at_once_each_get_their_own_pngs() -> None:
    """Workers are shared within a process, one per thread drawing at a time."""
    from concurrent.futures import ThreadPoolExecutor

    docs = [
        SQUARE.replace(b"<svg ", f'<svg width="{s}" height="{s}" '.encode()) for s in range(8, 24)
    ]
    with ThreadPoolExecutor(4) as threads:
        drawn = list(threads.map(lambda doc: svg_worker.draw_many([doc, doc]), docs))
    for side, (pngs, refused) in zip(range(8, 24), drawn, strict=True):
        assert refused is None
        assert [Image.open(io.BytesIO(png)).size for png in pngs] == [(side, side)] * 2
    assert len(svg_worker._idle[os.getpid()]) <= 4
