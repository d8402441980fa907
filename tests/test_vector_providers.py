"""Vector models across providers: each alias's id, wire request and answer, and the SVG
master's way from the wire into the cache (sanitised before it is stored).

Where each pinned value comes from (read 2026-11-29; also in pipeline/models.py):
- Runware: runware.ai/docs/models/recraft-v4-vector and .../recraft-v4-pro-vector
  (`taskType: vectorize`, `outputFormat` default and only value `SVG`, 1K / 2K size tables,
  $0.08 / $0.30) and the SDK's generated task map (Runware/runware-python
  runware/types/task_map.py: RecraftV4VectorParams takes positivePrompt, width, height,
  providerSettings, outputType, outputFormat, includeCost, deliveryMethod; no V4.1 vector).
- Cloudflare: developers.cloudflare.com/ai/models/recraft/recraftv4-vector/ (and
  recraftv4-pro-vector, recraftv4-1-vector, recraftv4-1-pro-vector): the raster input
  schema `{prompt, size, controls}`; `result.image` a URL to image/svg+xml.
- Recraft: recraft.ai/docs/api-reference/models/recraft-v4.md and recraft-v4-1.md
  (`recraftv4_vector` ... `recraftv4_1_pro_vector`, same endpoint and body).
- PixelDojo: pixeldojo.ai/api-platform/recraft-v4-pro-svg (recraft-v4's inputs, 8 credits).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.jobs import GenerationSpec
from pipeline.models import MODELS, SIZES_1K, SIZES_2K, is_vector, serving
from pipeline.providers import get_provider
from tests.conftest import Run, write_manifest
from tests.emulator import Emulator

VECTOR_IDS = {
    "recraft-v4-vector": {
        "runware": "recraft:v4@vector",
        "cloudflare": "recraft/recraftv4-vector",
        "recraft": "recraftv4_vector",
    },
    "recraft-v4-pro-vector": {
        "runware": "recraft:v4-pro@vector",
        "cloudflare": "recraft/recraftv4-pro-vector",
        "pixeldojo": "recraft-v4-pro-svg",
        "recraft": "recraftv4_pro_vector",
    },
    "recraft-v4.1-vector": {
        "cloudflare": "recraft/recraftv4-1-vector",
        "recraft": "recraftv4_1_vector",
    },
    "recraft-v4.1-pro-vector": {
        "cloudflare": "recraft/recraftv4-1-pro-vector",
        "recraft": "recraftv4_1_pro_vector",
    },
}
PALETTE = ((17, 34, 51), (240, 238, 232))
BACKGROUND = (240, 238, 232)


def spec(width: int, height: int) -> GenerationSpec:
    return GenerationSpec(
        prompt="a fox mark for Acme",
        width=width,
        height=height,
        palette=PALETTE,
        background=BACKGROUND,
        style=None,
        substyle=None,
        seed=None,
    )


def request(provider: str, alias: str, width: int, height: int) -> dict:
    resolved = get_provider(provider).resolve_model(alias)
    return get_provider(provider).build_request(
        spec(width, height), resolved.model_id, resolved.alias
    )


# --- the model table ---------------------------------------------------------------------


def test_each_vector_alias_maps_to_the_ids_its_providers_document() -> None:
    for alias, ids in VECTOR_IDS.items():
        assert MODELS[alias].ids == ids
        assert MODELS[alias].vector
        assert set(serving(alias)) == set(ids)
        for provider, model_id in ids.items():
            assert is_vector(provider, model_id), (provider, model_id)
    raster = [a for a, m in MODELS.items() if not m.vector]
    assert raster and not any(is_vector("recraft", MODELS[a].ids["recraft"]) for a in raster)


def test_vector_models_take_the_size_table_of_the_raster_model_of_their_tier() -> None:
    assert MODELS["recraft-v4-vector"].sizes == MODELS["recraft-v4"].sizes == SIZES_1K
    assert MODELS["recraft-v4.1-vector"].sizes == SIZES_1K
    assert MODELS["recraft-v4-pro-vector"].sizes == MODELS["recraft-v4-pro"].sizes == SIZES_2K
    assert MODELS["recraft-v4.1-pro-vector"].sizes == SIZES_2K


def test_a_raw_vector_id_the_table_does_not_know_is_taken_as_vector() -> None:
    assert is_vector("recraft", "recraftv4_1_utility_vector")
    assert not is_vector("recraft", "recraftv4_1_utility")


# --- the wire request of each alias, per provider ------------------------------------------


@pytest.mark.parametrize(
    ("alias", "model_id", "size"),
    [
        ("recraft-v4-vector", "recraft:v4@vector", (1024, 1024)),
        ("recraft-v4-pro-vector", "recraft:v4-pro@vector", (2688, 1536)),
    ],
)
def test_runware_asks_for_a_vectorize_task_with_svg_output(
    alias: str, model_id: str, size: tuple[int, int]
) -> None:
    # taskType and outputFormat: the model pages; colours under providerSettings.recraft
    # (the V4 family's place; RecraftV4VectorParams has providerSettings, no settings).
    assert request("runware", alias, *size) == {
        "taskType": "vectorize",
        "model": model_id,
        "positivePrompt": "a fox mark for Acme",
        "width": size[0],
        "height": size[1],
        "providerSettings": {
            "recraft": {
                "colors": [{"rgb": [17, 34, 51]}, {"rgb": [240, 238, 232]}],
                "backgroundColor": {"rgb": [240, 238, 232]},
            }
        },
        "outputFormat": "SVG",
        "includeCost": True,
        "deliveryMethod": "async",
    }


@pytest.mark.parametrize("alias", list(VECTOR_IDS))
def test_cloudflare_sends_a_vector_model_the_raster_input_schema(alias: str) -> None:
    width, height = MODELS[alias].sizes["1:1"]
    assert request("cloudflare", alias, width, height) == {
        "model": VECTOR_IDS[alias]["cloudflare"],
        "input": {
            "prompt": "a fox mark for Acme",
            "size": f"{width}x{height}",
            "controls": {
                "colors": [{"rgb": [17, 34, 51]}, {"rgb": [240, 238, 232]}],
                "background_color": {"rgb": [240, 238, 232]},
            },
        },
    }


@pytest.mark.parametrize("alias", list(VECTOR_IDS))
def test_recraft_sends_a_vector_model_no_raster_image_format(alias: str) -> None:
    width, height = MODELS[alias].sizes["1:1"]
    assert request("recraft", alias, width, height) == {
        "prompt": "a fox mark for Acme",
        "model": VECTOR_IDS[alias]["recraft"],
        "size": f"{width}x{height}",
        "n": 1,
        "response_format": "b64_json",
        "controls": {
            "colors": [{"rgb": [17, 34, 51]}, {"rgb": [240, 238, 232]}],
            "background_color": {"rgb": [240, 238, 232]},
        },
    }
    raster = request("recraft", alias.removesuffix("-vector"), width, height)
    assert raster["image_format"] == "png"  # the raster sibling still asks for a PNG


def test_pixeldojo_names_a_2k_vector_size_by_its_ratio() -> None:
    # 2688x1536 is the 2K table's 16:9, one of PixelDojo's eight aspect ratios.
    assert request("pixeldojo", "recraft-v4-pro-vector", 2688, 1536) == {
        "prompt": "a fox mark for Acme",
        "aspect_ratio": "16:9",
    }


# --- validation: an unserved model costs nothing --------------------------------------------


def vector_kit(provider: str, model: str, *, formats: str = "[png]", extra: str = "") -> str:
    palette = "" if provider == "pixeldojo" else "  palette: [ink, paper]\n  background: paper\n"
    return (
        "kit: {name: vec}\n"
        "brand: {name: Acme, colors: {ink: '#112233', paper: '#F0EEE8'}}\n"
        f"defaults:\n  provider: {provider}\n  model: {model}\n{palette}{extra}"
        "assets:\n"
        f"  logo: {{prompt: 'a fox mark for {{{{ brand.name }}}}', sizes: ['1:1'], "
        f"formats: {formats}}}\n"
    )


@pytest.mark.parametrize(
    ("provider", "model", "served"),
    [
        ("runware", "recraft-v4.1-vector", "cloudflare, recraft, local"),
        ("runware", "recraft-v4.1-pro-vector", "cloudflare, recraft, local"),
        ("pixeldojo", "recraft-v4-vector", "runware, cloudflare, recraft, local"),
    ],
)
def test_an_unserved_vector_model_fails_validation_naming_who_serves_it(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, model: str, served: str
) -> None:
    write_manifest(tmp_path, vector_kit(provider, model))
    for command in ("validate", "plan", "build"):
        code, out, err = run(tmp_path, command)
        assert code == 1, (command, out, err)
        assert re.search(
            rf"brandkit.yaml:\d+:\d+: defaults.model: {provider} does not serve '{model}'; "
            rf"it offers .*; '{re.escape(model)}' is served by {served}$",
            err,
            re.MULTILINE,
        ), err
        assert "Traceback" not in err
    assert remote.requests == [] and remote.paid_generations == 0


@pytest.mark.parametrize(
    ("provider", "alias"),
    [(p, a) for a, ids in VECTOR_IDS.items() for p in ids],
)
def test_plan_shows_the_vector_request_each_provider_would_receive(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, alias: str
) -> None:
    write_manifest(tmp_path, vector_kit(provider, alias))
    (job,) = run.json(tmp_path, "plan")["jobs"]
    width, height = MODELS[alias].sizes["1:1"]
    expected = request(provider, alias, width, height)
    if provider == "pixeldojo":  # no colour controls: the plan's spec carries none
        expected = {"prompt": "a fox mark for Acme", "aspect_ratio": "1:1"}
    assert job["model"] == VECTOR_IDS[alias][provider]
    assert job["request"] == expected
    assert remote.requests == []


# --- what comes back: anything but an SVG is the provider's error ----------------------------

REMOTE_VECTOR = [  # one alias each (every alias's request is pinned above); 2K only where
    ("runware", "recraft-v4-vector"),  # the provider serves nothing else: renders cost
    ("cloudflare", "recraft-v4.1-vector"),
    ("pixeldojo", "recraft-v4-pro-vector"),
    ("recraft", "recraft-v4.1-vector"),
]


@pytest.mark.parametrize(("provider", "alias"), REMOTE_VECTOR)
@pytest.mark.parametrize("body", ["png", "garbage"])
def test_a_vector_model_answering_anything_but_an_svg_fails_its_job_once_paid(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, alias: str, body: str
) -> None:
    write_manifest(tmp_path, vector_kit(provider, alias))
    remote.inject(provider, "not_svg", body=body)
    code, out, err = run(tmp_path, "build")
    assert code == 1, out + err
    assert remote.paid_generations == 1  # paid, as the provider charged: not asked again
    expected = (
        "a vector model answered a PNG image, not an SVG document"
        if body == "png"
        else "not a whole PNG, JPEG, WEBP or SVG"
    )
    assert re.search(rf"logo.*{provider}: .*{re.escape(expected)}", err), err
    assert "Traceback" not in err
    assert not (tmp_path / "dist").exists()
    blobs = [p for p in (tmp_path / ".brandkit").rglob("*") if p.is_file()]
    assert not any(p.read_bytes().startswith(b"\x89PNG") for p in blobs)


@pytest.mark.parametrize(("provider", "alias"), REMOTE_VECTOR[:3])
def test_an_svg_download_is_read_only_up_to_the_providers_size_cap(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, alias: str
) -> None:
    # The emulator's SVG is ~300 bytes; a cap of 100 bytes refuses it, unread past the cap.
    cap = f"providers:\n  {provider}: {{max_download_mb: 0.0001}}\n"
    write_manifest(tmp_path, vector_kit(provider, alias).replace("assets:\n", cap + "assets:\n"))
    code, _, err = run(tmp_path, "build")
    assert code == 1
    assert f"providers.{provider}.max_download_mb sets the limit" in err, err
    assert remote.paid_generations == 1


def test_recraft_inline_svg_is_read_only_up_to_the_json_cap(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    cap = "providers:\n  recraft: {max_json_mb: 0.0001}\n"
    text = vector_kit("recraft", "recraft-v4-vector").replace("assets:\n", cap + "assets:\n")
    write_manifest(tmp_path, text)
    code, _, err = run(tmp_path, "build")
    assert code == 1 and "max_json_mb" in err, err


@pytest.mark.parametrize(
    ("provider", "alias", "cost"),
    [
        (p, a, {"pixeldojo": None}.get(p, price))
        for a, price in [
            ("recraft-v4-vector", 0.08),
            ("recraft-v4-pro-vector", 0.30),
            ("recraft-v4.1-vector", 0.08),
            ("recraft-v4.1-pro-vector", 0.30),
        ]
        for p in VECTOR_IDS[a]
    ]
    + [("local", "recraft-v4-vector", 0.0)],
)
def test_plan_prices_a_vector_job_at_its_list_price(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, alias: str, cost: float | None
) -> None:
    # Recraft's model pages (Runware's the same for its two); PixelDojo charges credits at
    # an unpublished rate: no USD estimate.
    write_manifest(tmp_path, vector_kit(provider, alias))
    plan = run.json(tmp_path, "plan")
    (job,) = plan["jobs"]
    assert job["estimated_cost_usd"] == (cost or 0.0)
    assert bool(plan["summary"]["unknown_prices"]) == (cost is None)


def test_the_runware_emulator_refuses_a_vector_model_as_an_image_inference_task(
    remote: Emulator,
) -> None:
    import uuid

    import httpx

    task = {
        **request("runware", "recraft-v4-vector", 1024, 1024),
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
    }
    answer = httpx.post(
        remote.base_url("runware"), json=[task], headers={"Authorization": "Bearer rw-test-key"}
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "invalidTaskType"
    assert remote.paid_generations == 0


# --- local: a placeholder SVG, offline ------------------------------------------------------


def test_local_draws_a_deterministic_svg_in_the_brand_palette_at_the_native_size() -> None:
    import xml.etree.ElementTree as ET

    from pipeline.providers.placeholder_svg import render_placeholder_svg

    drawn = render_placeholder_svg(spec(2688, 1536))
    assert drawn == render_placeholder_svg(spec(2688, 1536))  # the same spec, the same bytes
    assert drawn != render_placeholder_svg(spec(1536, 2688))
    root = ET.fromstring(drawn)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 2688 1536"
    fills = {e.get("fill") for e in root.iter() if e.get("fill")}
    assert {"#112233", "#F0EEE8"} <= fills  # the palette and the background
    text = drawn.decode()
    assert not re.search(r"script|href|on\w+=|foreignObject|url\(", text)


def test_local_serves_every_vector_alias_and_generates_an_svg_for_it() -> None:
    import asyncio

    from pipeline.providers.base import RunContext

    local = get_provider("local")
    for alias in VECTOR_IDS:
        resolved = local.resolve_model(alias)
        assert resolved.sizes == MODELS[alias].sizes
        width, height = resolved.sizes["1:1"]
        body = local.build_request(spec(width, height), resolved.model_id, resolved.alias)
        result = asyncio.run(local.generate(body, resolved.model_id, RunContext()))
        assert result.data is not None and result.data.startswith(b"<svg ")
        assert result.cost_usd == 0.0
    raster = local.build_request(spec(1024, 1024), "recraft-v4", "recraft-v4")
    drawn = asyncio.run(local.generate(raster, "recraft-v4", RunContext())).data
    assert drawn is not None and drawn.startswith(b"\x89PNG")  # raster models: still a PNG


def test_an_unserved_vector_model_named_by_provider_override_sends_nothing(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    write_manifest(tmp_path, vector_kit("cloudflare", "recraft-v4.1-pro-vector"))
    code, _, err = run(tmp_path, "build", "--provider", "runware")
    assert code == 1
    assert "runware does not serve 'recraft-v4.1-pro-vector'" in err
    assert remote.requests == []


@pytest.mark.parametrize("provider", ["runware", "cloudflare", "recraft"])
def test_a_raster_model_answering_an_svg_fails_its_job(
    run: Run, tmp_path: Path, remote: Emulator, provider: str
) -> None:
    # The hostile SVG, served for a raster model: an image is not what came back.
    write_manifest(tmp_path, vector_kit(provider, "recraft-v4"))
    remote.inject(provider, "hostile_svg")
    code, out, err = run(tmp_path, "build")
    assert code == 1, out + err
    assert f"{provider}: the response is not an image" in err, err
    assert remote.paid_generations == 1
    assert remote.foreign.received == []


# --- the SVG master on its way into the cache ------------------------------------------------


def test_a_vector_master_is_cached_as_the_sanitised_document_of_the_asked_aspect() -> None:
    pytest.importorskip("pipeline.svg_safe")
    from pipeline.errors import ProviderError
    from pipeline.images import check_vector_master
    from tests.emulator.images import clean_svg, hostile_svg

    beacon = "http://127.0.0.1:9/beacon"
    clean, width, height = check_vector_master(
        "x", hostile_svg(1024, 1024, (1, 2, 3), beacon), (1024, 1024)
    )
    assert (width, height) == (1024, 1024)
    assert b"<svg" in clean and b"viewBox" in clean
    for word in (b"script", b"onload", b"onclick", b"foreignObject", b"beacon", b"@import"):
        assert word not in clean
    assert check_vector_master("x", clean, None)[1:] == (1024, 1024)  # its viewBox
    with pytest.raises(ProviderError, match="another aspect ratio than the 1344x768"):
        check_vector_master("x", clean_svg(1024, 1024, (1, 2, 3)), (1344, 768))
    bomb = b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg>&a;</svg>'
    with pytest.raises(ProviderError, match="refused by the sanitiser"):
        check_vector_master("x", bomb, (1024, 1024))
    with pytest.raises(ProviderError, match="not an SVG document"):
        check_vector_master("x", b"<html><body>hi</body></html>", (1024, 1024))


# --- end to end: a vector asset built against the emulator ----------------------------------


def _available() -> tuple[bool, bool]:
    """Is svg's derive (svg_render.py) here, and the `svg` output format (fitpresets'
    schema, with one multi-size ico per asset)?"""
    import importlib.util

    from pipeline.manifest import schema_text

    return importlib.util.find_spec("pipeline.svg_render") is not None, '"svg"' in schema_text()


RENDERS, SVG_FORMAT = _available()
needs_rendering = pytest.mark.skipif(not RENDERS, reason="issue 14's SVG rendering is not here")
needs_svg_format = pytest.mark.skipif(
    not (RENDERS and SVG_FORMAT), reason="issue 14's `svg` output format is not here yet"
)

FORBIDDEN = (
    b"script",
    b"onload",
    b"onclick",
    b"foreignObject",
    b"beacon",
    b"@import",
    b"127.0.0.1",
)
EXTERNAL_HREF = re.compile(rb"""href\s*=\s*["'](?!#|data:image/)""")


def published(project: Path) -> dict[str, dict]:
    import json

    index = json.loads((project / "dist" / "latest" / "index.json").read_text("utf-8"))
    return {o["path"]: o for o in index["outputs"]}


def cached_blobs(project: Path) -> list[bytes]:
    return [p.read_bytes() for p in (project / ".brandkit").rglob("*") if p.is_file()]


@needs_rendering
@pytest.mark.parametrize(("provider", "alias"), REMOTE_VECTOR)
def test_a_hostile_svg_is_published_sanitised_paid_once_and_nothing_it_names_is_fetched(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, alias: str
) -> None:
    formats = "[svg, png]" if SVG_FORMAT else "[png]"
    write_manifest(tmp_path, vector_kit(provider, alias, formats=formats))
    remote.inject(provider, "hostile_svg")
    foreign = remote.foreign  # where everything the SVG references points: hits recorded
    code, out, err = run(tmp_path, "build")
    assert code == 0, out + err
    assert remote.paid_generations == 1
    outputs = published(tmp_path)
    svgs = [p for p, o in outputs.items() if o["format"] == "svg"]
    assert bool(svgs) == SVG_FORMAT and any(o["format"] == "png" for o in outputs.values())
    for path in svgs:
        data = (tmp_path / "dist" / "latest" / path).read_bytes()
        assert b"<svg" in data and b"viewBox" in data
        assert not [w for w in FORBIDDEN if w in data], path
        assert not EXTERNAL_HREF.search(data), path
    blobs = cached_blobs(tmp_path)
    assert any(b"<svg" in blob for blob in blobs)  # the master, cached sanitised:
    assert not any(b"beacon" in blob or b"<script" in blob for blob in blobs)
    code, out, err = run(tmp_path, "build")
    assert code == 0 and "generated 0" in out, out + err
    assert remote.paid_generations == 1  # the rebuild pays nothing
    assert foreign.received == []  # nothing the SVG named was fetched, in either build


VECTOR_SIZES = "['1:1', '512x512', '32x32']"


@needs_svg_format
@pytest.mark.parametrize(("provider", "alias"), REMOTE_VECTOR)
def test_a_vector_asset_renders_every_raster_output_from_the_vector_at_its_exact_size(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, alias: str
) -> None:
    from PIL import Image

    from tests.emulator.images import colour_for

    text = vector_kit(provider, alias, formats="[svg, png, ico]")
    write_manifest(tmp_path, text.replace("sizes: ['1:1']", f"sizes: {VECTOR_SIZES}"))
    code, out, err = run(tmp_path, "build")
    assert code == 0, out + err
    assert remote.paid_generations == 1  # one paid vector serves every size and format
    outputs = published(tmp_path)
    native = MODELS[alias].sizes["1:1"]
    pngs = {(o["width"], o["height"]): p for p, o in outputs.items() if o["format"] == "png"}
    assert set(pngs) == {native, (512, 512), (32, 32)}
    left = colour_for("a fox mark for Acme")  # the emulator's SVG: left half, right half
    right = tuple(255 - c for c in left)
    for (width, height), path in pngs.items():
        with Image.open(tmp_path / "dist" / "latest" / path) as image:
            assert image.size == (width, height)
            rgb = image.convert("RGB")
            # Rendered from the vector at this size: every pixel is one of the two colours
            # (a crisp edge at the middle), where a raster resize would blur or ring.
            assert rgb.getpixel((width // 2 - 1, height // 2)) == left
            assert rgb.getpixel((width // 2, height // 2)) == right
            assert set(c for _, c in rgb.getcolors(1 << 16)) == {left, right}
    svgs = [o for o in outputs.values() if o["format"] == "svg"]
    assert (*native,) in {(o["width"], o["height"]) for o in svgs}
    icos = [p for p, o in outputs.items() if o["format"] == "ico"]
    assert icos, outputs
    sizes: set[tuple[int, int]] = set()
    for path in icos:
        with Image.open(tmp_path / "dist" / "latest" / path) as icon:
            sizes |= set(icon.info["sizes"])
    assert (32, 32) in sizes and all(w <= 256 for w, _ in sizes)
    code, out, err = run(tmp_path, "build")
    assert code == 0 and "generated 0" in out, out + err
    assert remote.paid_generations == 1


@needs_rendering
def test_local_builds_a_vector_kit_offline_from_its_placeholder_svg(
    run: Run, tmp_path: Path
) -> None:
    text = vector_kit("local", "recraft-v4-vector", formats="[svg, png]" if SVG_FORMAT else "[png]")
    write_manifest(tmp_path, text.replace("sizes: ['1:1']", "sizes: ['1:1', '180x180']"))
    code, out, err = run(tmp_path, "build")
    assert code == 0, out + err
    outputs = published(tmp_path).values()
    made = {(o["format"], o["width"], o["height"]) for o in outputs}
    assert made >= {("png", 1024, 1024), ("png", 180, 180)}
    assert (("svg", 1024, 1024) in made) == SVG_FORMAT
    code, out, _ = run(tmp_path, "build")
    assert code == 0 and "generated 0" in out
