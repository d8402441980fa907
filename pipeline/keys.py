"""Content keys: what makes two generations the same, and nothing else.

sha256 of canonical JSON (sorted keys, compact, UTF-8) of {key schema version, provider,
model, GenerationSpec}. Not the asset's name or order, not YAML formatting, comments,
output paths, secrets or random task ids: two assets with the same key share one image.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .jobs import GenerationSpec

KEY_SCHEMA_VERSION = 1
DERIVE_VERSION = 1  # bump when derive.py's pixels change for the same inputs


# One encoder, not one per call (json.dumps builds a new one for non-default options):
# keys are computed for every job on every plan.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> bytes:
    return _CANONICAL.encode(value).encode()


def content_key(provider: str, model: str, spec: GenerationSpec, candidate: int = 1) -> str:
    """The key of one generation. Candidate 1 is the job's key unchanged (adding
    `candidates: 3` never pays again for the image you have); candidate i > 1 adds
    `"candidate": i` to the hashed input (DESIGN: "Candidates, review and approval")."""
    payload: dict = {
        "v": KEY_SCHEMA_VERSION,
        "provider": provider,
        "model": model,
        "spec": spec.canonical(),
    }
    if candidate != 1:
        payload["candidate"] = candidate
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def derived_key(
    master_key: str, width: int, height: int, fmt: str, extra: dict | None = None
) -> str:
    """The cache key of an output cut from a master: (master key, transform).

    The canonical JSON of {format, height, master, v, width}, written out directly (the
    key is hex, the format a fixed word, the rest integers): it is computed for every
    output on every plan, and test_keys pins it to canonical_json's bytes. `extra` (fit,
    ico sizes, text: OutputTarget.transform) joins the JSON only when not empty, so the
    keys of plain outputs are the same as before it existed."""
    if extra:
        payload_dict = {
            "format": fmt,
            "height": int(height),
            "master": master_key,
            "v": DERIVE_VERSION,
            "width": int(width),
            "x": extra,
        }
        return hashlib.sha256(canonical_json(payload_dict)).hexdigest()
    payload = (
        f'{{"format":"{fmt}","height":{int(height)},"master":"{master_key}",'
        f'"v":{DERIVE_VERSION},"width":{int(width)}}}'
    )
    return hashlib.sha256(payload.encode()).hexdigest()
