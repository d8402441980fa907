"""local: the embedded, offline, deterministic provider (no key, no network).

It draws a placeholder in the brand palette at the model's native size, with the prompt's
words on it, so a new user and every test can run the whole pipeline for free; for a
vector model, an SVG of shapes in the brand palette (placeholder_svg.py).
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from ..jobs import GenerationSpec
from ..models import is_vector
from .base import Generated, ProviderBase, ResolvedModel, RunContext


class LocalProvider(ProviderBase):
    name: ClassVar[str] = "local"
    supports_colors: ClassVar[bool] = True
    supports_style: ClassVar[bool] = True
    supports_seed: ClassVar[bool] = True
    default_concurrency: ClassVar[int] = 2
    offline: ClassVar[bool] = True
    free: ClassVar[bool] = True
    self_drawn: ClassVar[bool] = True

    def resolve_model(self, model: str) -> ResolvedModel:
        from ..models import find_model

        info = find_model(self.name, model)
        if info is None:  # a raw id of any provider: local stands in for that model family
            for provider in ("runware", "cloudflare", "pixeldojo", "recraft"):
                info = info or find_model(provider, model)
        if info is not None:
            return ResolvedModel(info.alias, info.alias, info.sizes)
        return super().resolve_model(model)

    def build_request(
        self, spec: GenerationSpec, model_id: str, alias: str | None
    ) -> dict[str, Any]:
        return {"model": model_id, **spec.canonical()}

    async def generate(self, request: dict[str, Any], model_id: str, ctx: RunContext) -> Generated:
        spec = spec_from_request(request)
        seed = spec.seed if spec.seed is not None else _seed_for(request)
        import asyncio

        vector = is_vector(self.name, str(request.get("model", "")))
        data = await asyncio.to_thread(_render_svg if vector else _render, spec)
        return Generated(data=data, seed=seed, cost_usd=0.0)


def spec_from_request(request: dict[str, Any]) -> GenerationSpec:
    palette = tuple((c[0], c[1], c[2]) for c in request["palette"])
    bg = request["background"]
    return GenerationSpec(
        prompt=request["prompt"],
        width=request["width"],
        height=request["height"],
        palette=palette,
        background=(bg[0], bg[1], bg[2]) if bg else None,
        style=request["style"],
        substyle=request["substyle"],
        seed=request["seed"],
    )


def _seed_for(request: dict[str, Any]) -> int:
    """A stable seed, reported like a real provider's, derived from the request."""
    digest = hashlib.sha256(repr(sorted(request.items())).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _render_svg(spec: GenerationSpec) -> bytes:
    from .placeholder_svg import render_placeholder_svg

    return render_placeholder_svg(spec)


def _render(spec: GenerationSpec) -> bytes:
    from .placeholder import render_placeholder

    return render_placeholder(spec)
