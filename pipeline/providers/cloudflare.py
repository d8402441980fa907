"""Cloudflare Workers AI (AI Gateway, proxied Recraft models): one synchronous POST.

`POST {base}/accounts/{account_id}/ai/run` with `{"model", "input": {...}}`, where input
holds only what its schema allows (additionalProperties is false): prompt, size "WxH",
style, substyle, controls {colors (max 5), background_color}. The answer carries
`result.image`, a URL we then download. 429 with code 3036 (daily quota) is not retried,
nor is anything that may have reached the model (no idempotency key is documented).

The token needs the AI Gateway permission, and the account credits loaded (Unified
Billing; providers.md 2.1 Auth): a 401 or 403 says what to check.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import httpx


from ..errors import ProviderError
from ..jobs import GenerationSpec
from .base import Generated, ProviderBase, RunContext, bearer, recraft_style_and_controls
from .http import MAY_HAVE_BEEN_CHARGED, decode_inline, send_json

DAILY_QUOTA = "3036"
AUTH_HINT = (
    "check that CLOUDFLARE_API_TOKEN is valid and has the AI Gateway permission (Read "
    "and Edit) and Workers AI Read, that credits are loaded (dashboard: AI Gateway > "
    "Credits), and that CLOUDFLARE_ACCOUNT_ID is the token's account"
)


class CloudflareProvider(ProviderBase):
    name: ClassVar[str] = "cloudflare"
    supports_colors: ClassVar[bool] = True
    supports_style: ClassVar[bool] = True
    supports_seed: ClassVar[bool] = False
    env_keys: ClassVar[tuple[str, ...]] = ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID")
    default_concurrency: ClassVar[int] = 4
    default_base_url: ClassVar[str] = "https://api.cloudflare.com/client/v4"

    def build_request(
        self, spec: GenerationSpec, model_id: str, alias: str | None
    ) -> dict[str, Any]:
        inputs: dict[str, Any] = {"prompt": spec.prompt, "size": f"{spec.width}x{spec.height}"}
        inputs.update(recraft_style_and_controls(spec))
        return {"model": model_id, "input": inputs}

    async def generate(self, request: dict[str, Any], model_id: str, ctx: RunContext) -> Generated:
        account = ctx.keys["CLOUDFLARE_ACCOUNT_ID"]
        try:
            body = await send_json(
                ctx.client,
                self.name,
                "POST",
                f"{ctx.base_url}/accounts/{account}/ai/run",
                json=request,
                headers=bearer(ctx.keys["CLOUDFLARE_API_TOKEN"]),
                policy=ctx.retry,
                parse_error=parse_error,
                no_retry_codes=frozenset({DAILY_QUOTA}),
                retry_unsent_only=True,
            )
        except ProviderError as exc:
            if exc.status in (401, 403):
                raise ProviderError(
                    self.name, f"{exc.message}: {AUTH_HINT}", status=exc.status, code=exc.code
                ) from None
            raise
        image = _image_of(body)
        if image.startswith("data:"):
            return Generated(path=decode_inline(self.name, image, ctx.tmp_dir))
        return Generated(url=image)


def _image_of(body: Any) -> str:
    if isinstance(body, dict) and body.get("state") == "Failed":
        error = body.get("error") or {}
        raise ProviderError(
            "cloudflare",
            f"{error.get('message', 'failed')} ({error.get('code')})",
            code=str(error.get("code")),
        )
    result = body.get("result") if isinstance(body, dict) else None
    image = result.get("image") if isinstance(result, dict) else None
    if not isinstance(image, str) or not image:
        raise ProviderError(
            "cloudflare", f"the answer has no result.image; {MAY_HAVE_BEEN_CHARGED}"
        )
    return image


def parse_error(response: httpx.Response) -> tuple[str, str | None]:
    """The classic `{"errors": [{code, message}]}` or the gateway's `{"error": {...}}`."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text.strip()[:300] or f"HTTP {response.status_code}", None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            e = errors[0]
            return str(e.get("message")), str(e.get("code"))
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message")), str(error.get("code"))
    return str(body)[:300], None
