"""PixelDojo: always asynchronous; submit, then poll the job until it is done.

`POST {base}/models/{apiId}/run` with the inputs at the top level (prompt, aspect_ratio,
seed) answers 202 with a jobId and statusUrl [PD-seed]; we poll `GET {base}/jobs/{jobId}`
(what the statusUrl documents) with backoff until `completed` or `failed`. The poll URL
is built from the configured base and the jobId, never taken from the answer: a
statusUrl on another origin would otherwise receive the API key. A completed job's
image is `output.images[0]` (documented), `output.image` or `assets[0].url` (both seen
in clients) [PD-seed], [PD-docs]. Only `recraft-v4` and the vector `recraft-v4-pro-svg`
(same inputs, an SVG answer) are served, at eight aspect ratios, with no colour controls.

Rate limit: PixelDojo documents none in a form we could read (providers.md 3), so polls
are paced across the whole build: at most 2 poll requests a second (120 a minute; one
every `PollPolicy.pace`, 0.5 s), however many jobs are running. A build of 50 jobs at
`-j 50` asks 2 a second, not 50; its 50 submissions (one per job, each the start of a
paid job) are not paced. A 429 is still retried, honouring Retry-After.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

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
    journal_ids: ClassVar[tuple[str, ...]] = ("statusUrl",)  # noted with the jobId
    env_keys: ClassVar[tuple[str, ...]] = ("PIXELDOJO_API_KEY",)
    default_concurrency: ClassVar[int] = 4
    default_base_url: ClassVar[str] = "https://pixeldojo.ai/api/v1"

    def sizes_for(self, info: ModelInfo) -> dict[str, tuple[int, int]]:
        return {r: d for r, d in info.sizes.items() if r in ASPECT_RATIOS}

    def build_request(
        self, spec: GenerationSpec, model_id: str, alias: str | None
    ) -> dict[str, Any]:
        from ..models import MODELS, find_model, reduce_ratio

        ratio = "{}:{}".format(*reduce_ratio(spec.width, spec.height))
        info = find_model(self.name, model_id) or MODELS["recraft-v4"]
        for name, dims in info.sizes.items():  # 2688x1536 is "16:9", not "7:4"
            if dims == (spec.width, spec.height):
                ratio = name
        body: dict[str, Any] = {"prompt": spec.prompt, "aspect_ratio": ratio}
        if spec.seed is not None:
            body["seed"] = spec.seed
        return body

    async def generate(self, request: dict[str, Any], model_id: str, ctx: RunContext) -> Generated:
        import asyncio  # only when something is sent: a plan needn't import it

        since = asyncio.get_running_loop().time()
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
        url = poll_url(job, ctx.base_url) if isinstance(job, dict) else None
        if url is None:
            raise ProviderError(self.name, f"unexpected answer to a submission: {str(job)[:200]}")
        ctx.note(jobId=job.get("jobId"), statusUrl=url)
        ctx.submitted()
        return await self.collect(job, ctx, since=since)

    async def resume(self, entry: dict[str, Any], ctx: RunContext) -> Generated:
        if not (entry.get("jobId") or entry.get("statusUrl")):
            raise JobGone("no job was submitted")
        try:
            return await self.collect(entry, ctx)
        except ProviderError as exc:
            if exc.status == 404:
                raise JobGone(exc.message) from None
            raise

    async def collect(
        self, job: dict[str, Any], ctx: RunContext, since: float | None = None
    ) -> Generated:
        """Poll a submitted job (also how an interrupted build resumes one), for at most
        ctx.poll.deadline (--max-wait) from `since` (its submission), paced build-wide."""
        import asyncio

        url = poll_url(job, ctx.base_url)
        if url is None:
            raise ProviderError(self.name, f"job {job.get('jobId')}: no way to ask about it")
        loop = asyncio.get_running_loop()
        started = loop.time() if since is None else since
        pacer = ctx.state(Pacer, lambda: Pacer(ctx.poll.pace))
        deadline = started + ctx.poll.deadline
        while (now := loop.time()) < deadline:
            await asyncio.sleep(min(ctx.poll.delay(now - started), deadline - now))
            await pacer.wait()
            state = await send_json(
                ctx.client,
                self.name,
                "GET",
                url,
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
            f"job {job.get('jobId')}: no result after {ctx.poll.deadline:g}s (--max-wait); "
            "PixelDojo may have charged for it. Its jobId stays in .brandkit/journal.jsonl: "
            "run `brandkit build` again to collect it",
            retryable=True,
        )

    def _image(self, state: dict[str, Any]) -> Generated:
        """The completed job's image: `output.images[0]`, `output.image` or `assets[0].url`."""
        output = state.get("output")
        output = output if isinstance(output, dict) else {}
        images = output.get("images")
        assets = state.get("assets")
        candidates = [
            images[0] if isinstance(images, list) and images else None,
            output.get("image"),
            assets[0].get("url")
            if isinstance(assets, list) and assets and isinstance(assets[0], dict)
            else None,
        ]
        url = next((c for c in candidates if isinstance(c, str) and c), None)
        if url is None:
            raise ProviderError(self.name, "the completed job carries no image")
        credits = state.get("creditCost")
        return Generated(
            url=url,
            seed=state.get("seed"),
            meta={"jobId": state.get("jobId")},
            credits=as_number(credits),
        )

    def _auth(self, ctx: RunContext) -> dict[str, str]:
        return bearer(ctx.keys["PIXELDOJO_API_KEY"])


def poll_url(job: dict[str, Any], base_url: str) -> str | None:
    """`{base}/jobs/{jobId}`: the documented poll URL, on the configured base. An answer
    without a jobId is polled at its statusUrl only if that is on the base's own origin
    (the key goes nowhere else); otherwise None."""
    job_id = job.get("jobId")
    if isinstance(job_id, int) and not isinstance(job_id, bool):
        job_id = str(job_id)
    if isinstance(job_id, str) and job_id.strip():
        return f"{base_url}/jobs/{quote(job_id, safe='')}"
    status_url = job.get("statusUrl")
    if isinstance(status_url, str) and _origin(status_url) == _origin(base_url):
        return status_url
    return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class Pacer:
    """Spaces the requests that wait on it `spacing` seconds apart, across a build."""

    def __init__(self, spacing: float):
        self._spacing = spacing
        self._next = 0.0

    async def wait(self) -> None:
        import asyncio

        now = asyncio.get_running_loop().time()
        at = max(now, self._next)
        self._next = at + self._spacing
        if at > now:
            await asyncio.sleep(at - now)
