"""PixelDojo: always asynchronous; submit, then poll the job's statusUrl.

`POST {base}/models/{apiId}/run` with the inputs at the top level (prompt, aspect_ratio,
seed) answers 202 with a jobId and statusUrl; we poll it with backoff until `completed`
(then download `output.images[0]`) or `failed`. Only `recraft-v4` is served, at eight
aspect ratios, and there are no colour controls.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ProviderError
from ..jobs import GenerationSpec
from ..models import ModelInfo
from .base import Generated, JobGone, ProviderBase, RunContext, as_number, bearer
from .http import plain_error, send_json

ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "4:5")
_FAILED = frozenset({"failed", "error", "canceled", "cancelled", "expired"})


class PixelDojoProvider(ProviderBase):
    name: ClassVar[str] = "pixeldojo"
    supports_colors: ClassVar[bool] = False
    supports_style: ClassVar[bool] = False
    supports_seed: ClassVar[bool] = True
    asynchronous: ClassVar[bool] = True
    env_keys: ClassVar[tuple[str, ...]] = ("PIXELDOJO_API_KEY",)
    default_concurrency: ClassVar[int] = 4
    default_base_url: ClassVar[str] = "https://pixeldojo.ai/api/v1"

    def sizes_for(self, info: ModelInfo) -> dict[str, tuple[int, int]]:
        return {r: d for r, d in info.sizes.items() if r in ASPECT_RATIOS}

    def build_request(
        self, spec: GenerationSpec, model_id: str, alias: str | None
    ) -> dict[str, Any]:
        from ..models import MODELS, reduce_ratio

        ratio = "{}:{}".format(*reduce_ratio(spec.width, spec.height))
        for name, dims in MODELS["recraft-v4"].sizes.items():
            if dims == (spec.width, spec.height):
                ratio = name
        body: dict[str, Any] = {"prompt": spec.prompt, "aspect_ratio": ratio}
        if spec.seed is not None:
            body["seed"] = spec.seed
        return body

    async def generate(self, request: dict[str, Any], model_id: str, ctx: RunContext) -> Generated:
        job = await send_json(
            ctx.client,
            self.name,
            "POST",
            f"{ctx.base_url}/models/{model_id}/run",
            json=request,
            headers=self._auth(ctx),
            policy=ctx.retry,
            parse_error=plain_error,
        )
        if not isinstance(job, dict) or not job.get("statusUrl"):
            raise ProviderError(self.name, f"unexpected answer to a submission: {str(job)[:200]}")
        ctx.note(jobId=job.get("jobId"), statusUrl=job["statusUrl"])
        ctx.submitted()
        return await self.collect(job, ctx)

    async def resume(self, entry: dict[str, Any], ctx: RunContext) -> Generated:
        if not entry.get("statusUrl"):
            raise JobGone("no job was submitted")
        try:
            return await self.collect(entry, ctx)
        except ProviderError as exc:
            if exc.status == 404:
                raise JobGone(exc.message) from None
            raise

    async def collect(self, job: dict[str, Any], ctx: RunContext) -> Generated:
        """Poll a submitted job (also how an interrupted build resumes one)."""
        import asyncio  # only when something is sent: a plan needn't import it

        status_url = job["statusUrl"]
        for delay in ctx.poll.intervals():
            await asyncio.sleep(delay)
            state = await send_json(
                ctx.client,
                self.name,
                "GET",
                status_url,
                headers=self._auth(ctx),
                policy=ctx.retry,
                parse_error=plain_error,
            )
            status = str(state.get("status", "")).lower() if isinstance(state, dict) else ""
            if status == "completed":
                return self._image(state)
            if status in _FAILED:
                raise ProviderError(
                    self.name,
                    f"job {job.get('jobId')} {status}: "
                    f"{state.get('error') or state.get('message') or 'no reason'}",
                )
        raise ProviderError(
            self.name,
            f"job {job.get('jobId')} did not finish in "
            f"{ctx.poll.deadline:.0f}s (BRANDKIT_POLL_DEADLINE)",
        )

    def _image(self, state: dict[str, Any]) -> Generated:
        images = (state.get("output") or {}).get("images") or [
            a.get("url") for a in state.get("assets") or [] if isinstance(a, dict)
        ]
        if not images or not isinstance(images[0], str):
            raise ProviderError(self.name, "the completed job carries no image")
        credits = state.get("creditCost")
        return Generated(
            url=images[0],
            seed=state.get("seed"),
            meta={"jobId": state.get("jobId")},
            credits=as_number(credits),
        )

    def _auth(self, ctx: RunContext) -> dict[str, str]:
        return bearer(ctx.keys["PIXELDOJO_API_KEY"])
