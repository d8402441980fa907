"""Recraft's own API: one synchronous POST to /images/generations.

The body is flat (prompt, model, size "WxH", n, response_format, image_format, controls,
style, substyle, random_seed). We ask for `b64_json` so the image arrives with the answer
(Recraft's URLs expire after about a day anyway), and for `image_format: png`, since no
default between png and webp is documented (providers.md 4.1); a vector model
(`recraftv4_vector`, ...) takes the same body without `image_format` (png|webp means
nothing for an SVG, and Recraft says unsupported parameters are rejected or ignored), and
answers an SVG document, base64 in `b64_json` or at `url`. `credits` are API units:
$1 = 1000. Errors may be plain text (401 `request unauthorized`) or JSON. Nothing that may
have reached the model is sent again (no idempotency key is documented).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ProviderError
from ..jobs import GenerationSpec
from ..models import is_vector
from .base import (
    Generated,
    ProviderBase,
    RunContext,
    as_number,
    bearer,
    recraft_style_and_controls,
)
from .http import MAY_HAVE_BEEN_CHARGED, decode_inline, plain_error, send_json

UNITS_PER_USD = 1000
NO_IMAGE = f"the answer carries no image; {MAY_HAVE_BEEN_CHARGED}"


class RecraftProvider(ProviderBase):
    name: ClassVar[str] = "recraft"
    supports_colors: ClassVar[bool] = True
    supports_style: ClassVar[bool] = True
    supports_seed: ClassVar[bool] = True
    env_keys: ClassVar[tuple[str, ...]] = ("RECRAFT_API_TOKEN",)
    default_concurrency: ClassVar[int] = 2  # 5 requests/s, 100 images/min per user
    default_base_url: ClassVar[str] = "https://external.api.recraft.ai/v1"

    def build_request(
        self, spec: GenerationSpec, model_id: str, alias: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": spec.prompt,
            "model": model_id,
            "size": f"{spec.width}x{spec.height}",
            "n": 1,
            "response_format": "b64_json",
        }
        if not is_vector(self.name, model_id):  # png|webp: nothing documented for an SVG
            body["image_format"] = "png"  # a lossless master; the default is undocumented
        body.update(recraft_style_and_controls(spec))
        if spec.seed is not None:
            body["random_seed"] = spec.seed
        return body

    async def generate(self, request: dict[str, Any], model_id: str, ctx: RunContext) -> Generated:
        body = await send_json(
            ctx.client,
            self.name,
            "POST",
            f"{ctx.base_url}/images/generations",
            json=request,
            headers=bearer(ctx.keys["RECRAFT_API_TOKEN"]),
            policy=ctx.retry,
            parse_error=plain_error,
            retry_unsent_only=True,
        )
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise ProviderError(self.name, NO_IMAGE)
        item = items[0]
        if item.get("b64_json"):
            path, url = decode_inline(self.name, item["b64_json"], ctx.tmp_dir), None
        elif item.get("url"):
            path, url = None, str(item["url"])
        else:
            raise ProviderError(self.name, NO_IMAGE)
        credits = as_number(body.get("credits"))  # garbled: unknown, the image kept
        return Generated(
            path=path,
            url=url,
            meta={"image_id": item.get("image_id")},
            credits=credits,
            cost_usd=credits / UNITS_PER_USD if isinstance(credits, float) else credits,
        )
