"""Content keys are a contract: changing them makes every user pay for their kit again.

The golden values below pin the definition of DESIGN.md (sha256 of canonical JSON of
{key schema version, provider, model, GenerationSpec}). If one changes, that must be a
deliberate KEY_SCHEMA_VERSION bump with a migration note, never a side effect.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from pipeline.jobs import GenerationSpec
from pipeline.keys import KEY_SCHEMA_VERSION, canonical_json, content_key, derived_key

SPEC = GenerationSpec(
    prompt="a latte for Northwind Coffee",
    width=1344,
    height=768,
    palette=((59, 36, 23), (233, 223, 205)),
    background=(233, 223, 205),
)


def test_golden_content_key() -> None:
    assert KEY_SCHEMA_VERSION == 1
    assert canonical_json(
        {"v": 1, "provider": "runware", "model": "recraft:v4@0", "spec": SPEC.canonical()}
    ) == (
        b'{"model":"recraft:v4@0","provider":"runware","spec":{"background":[233,223,205],'
        b'"height":768,"palette":[[59,36,23],[233,223,205]],"prompt":"a latte for Northwind '
        b'Coffee","seed":null,"style":null,"substyle":null,"width":1344},"v":1}'
    )
    assert content_key("runware", "recraft:v4@0", SPEC) == (
        "87f2513a760a914b9ecaa0d8da1cae73245ba8037e9fc56150a1f3060943800b"
    )


def test_golden_derived_key() -> None:
    assert derived_key("ab" * 32, 1200, 630, "png") == (
        "585e439a1a1c559ab75eb9482c8c179ba28df0e9c34fce61749d609a54a5da87"
    )


def test_every_spec_field_and_the_provider_and_model_change_the_key() -> None:
    base = content_key("runware", "recraft:v4@0", SPEC)
    variants = [
        replace(SPEC, prompt="a latte"),
        replace(SPEC, width=1216),
        replace(SPEC, height=896),
        replace(SPEC, palette=((59, 36, 23),)),
        replace(SPEC, palette=((233, 223, 205), (59, 36, 23))),  # order matters
        replace(SPEC, background=None),
        replace(SPEC, style="icon"),
        replace(SPEC, substyle="flat"),
        replace(SPEC, seed=7),
    ]
    keys = {content_key("runware", "recraft:v4@0", v) for v in variants}
    keys |= {
        content_key("recraft", "recraft:v4@0", SPEC),
        content_key("runware", "recraft:v4-pro@0", SPEC),
    }
    assert base not in keys and len(keys) == len(variants) + 2


def test_unicode_is_hashed_as_utf8_not_escaped() -> None:
    spec = replace(SPEC, prompt="café ☕")
    payload = canonical_json({"v": 1, "provider": "local", "model": "m", "spec": spec.canonical()})
    assert "café ☕".encode() in payload
    assert content_key("local", "m", spec) == hashlib.sha256(payload).hexdigest()


def test_derived_key_is_the_canonical_json_of_its_fields() -> None:
    for master, w, h, fmt in (
        ("ab" * 32, 1200, 630, "png"),
        ("0" * 64, 16, 16, "ico"),
        ("f" * 64, 8192, 1, "webp"),
    ):
        payload = {"v": 1, "master": master, "width": w, "height": h, "format": fmt}
        assert derived_key(master, w, h, fmt) == hashlib.sha256(canonical_json(payload)).hexdigest()


def test_candidate_one_keeps_the_job_key_so_adding_candidates_never_repays() -> None:
    """DESIGN "Candidates, review and approval": candidate 1's key is the job's key."""
    assert content_key("runware", "recraft:v4@0", SPEC, candidate=1) == content_key(
        "runware", "recraft:v4@0", SPEC
    )


def test_golden_candidate_key_adds_the_candidate_number_to_the_hashed_input() -> None:
    payload = {
        "v": 1, "provider": "runware", "model": "recraft:v4@0", "spec": SPEC.canonical(),
        "candidate": 2,
    }  # fmt: skip
    expected = hashlib.sha256(canonical_json(payload)).hexdigest()
    assert content_key("runware", "recraft:v4@0", SPEC, candidate=2) == expected
    keys = {content_key("runware", "recraft:v4@0", SPEC, candidate=i) for i in range(1, 9)}
    assert len(keys) == 8, "every candidate of a job is its own paid image"


def test_a_transform_joins_the_derived_key_as_x_and_an_empty_one_changes_nothing() -> None:
    """OutputTarget.transform (fit, ico sizes) is hashed under "x" beside the plain fields."""
    extra = {"fit": "contain", "bg": "#ffffff"}
    payload = {
        "v": 1, "master": "ab" * 32, "width": 1200, "height": 630, "format": "png", "x": extra,
    }  # fmt: skip
    expected = hashlib.sha256(canonical_json(payload)).hexdigest()
    assert expected == "935d986769a8da46beb8049416835d5c63217f39f8343c409ffb4c9fdb130456"
    assert derived_key("ab" * 32, 1200, 630, "png", extra) == expected
    assert derived_key("ab" * 32, 1200.0, 630.0, "png", extra) == expected  # type: ignore[arg-type]
    assert derived_key("ab" * 32, 1200, 630, "png", {}) == derived_key("ab" * 32, 1200, 630, "png")
