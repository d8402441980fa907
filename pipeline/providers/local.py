"""local: the embedded, offline, deterministic provider (no key, no network).

It draws a placeholder in the brand palette at the model's native size, with the prompt's
words on it, so a new user and every test can run the whole pipeline for free.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, ClassVar

from ..jobs import GenerationSpec
from ..models import MODELS
from .base import Generated, ProviderBase, RunContext


class LocalProvider(ProviderBase):
    name: ClassVar[str] = "local"
    supports_colors: ClassVar[bool] = True
    asynchronous: ClassVar[bool] = False
    env_keys: ClassVar[tuple[str, ...]] = ()
    default_concurrency: ClassVar[int] = 2

    def build_request(self, spec: GenerationSpec, model_id: str) -> dict[str, Any]:
        return {"model": model_id, **spec.canonical()}

    async def generate(self, request: dict[str, Any], ctx: RunContext) -> Generated:
        spec = spec_from_request(request)
        seed = spec.seed if spec.seed is not None else _seed_for(request)
        data = await asyncio.to_thread(_render, spec)
        return Generated(data=data, seed=seed, cost_usd=0.0)


def spec_from_request(request: dict[str, Any]) -> GenerationSpec:
    return GenerationSpec(
        prompt=request["prompt"],
        width=request["width"],
        height=request["height"],
        palette=tuple(tuple(c) for c in request["palette"]),  # type: ignore[misc]
        background=tuple(request["background"]) if request["background"] else None,  # type: ignore[arg-type]
        style=request["style"],
        substyle=request["substyle"],
        seed=request["seed"],
    )


def _seed_for(request: dict[str, Any]) -> int:
    """A stable seed, reported like a real provider's, derived from the request."""
    digest = hashlib.sha256(repr(sorted(request.items())).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _render(spec: GenerationSpec) -> bytes:
    from .placeholder import render_placeholder

    return render_placeholder(spec)


KNOWN_MODELS = tuple(MODELS)
