"""Runware: a JSON array of `imageInference` tasks, delivered asynchronously.

Each task gets a fresh UUID v4 `taskUUID` at submission, journaled before it is sent;
with `deliveryMethod: "async"` the POST is acknowledged at once and the result is
collected with `getResponse`, so a lost connection never costs a second image: Runware
refuses a `taskUUID` it already has with `conflictTaskUUID`, which on a retry means the
lost attempt got through (collect it), as Runware's own SDK takes it [RW-sdkpy-base];
on a first attempt it is a real error. A failed task may come back in `errors[]` or as
a `data` item with `"status": "error"` and an `error` object; either fails the job at
once. Tasks are submitted and polled several to a request (runware_batch.py). Colours
go in `providerSettings.recraft` for V4 / V4 Pro and in `settings` for V4.1 / V4.1 Pro.
The master is requested as PNG; `cost` is reported with `includeCost`; the image URL is
fetched by the executor. A vector model (`recraft:v4@vector`, `recraft:v4-pro@vector`) is
a `vectorize` task instead, with `outputFormat: "SVG"` (its only value), the same prompt,
size and colour fields, and an SVG document at the image URL (or inline).
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any, ClassVar

from ..errors import ProviderError
from ..jobs import GenerationSpec
from ..models import is_vector
from .base import (
    Generated,
    JobGone,
    ProviderBase,
    RunContext,
    as_number,
    bearer,
    rgb_list,
)
from .http import decode_inline
from .runware_wire import CONFLICT, find, parse_error, task_error
from .send import send_json


class RunwareProvider(ProviderBase):
    name: ClassVar[str] = "runware"
    supports_colors: ClassVar[bool] = True
    supports_style: ClassVar[bool] = False
    supports_seed: ClassVar[bool] = False
    asynchronous: ClassVar[bool] = True
    journals_id: ClassVar[bool] = True
    journal_ids: ClassVar[tuple[str, ...]] = ("taskUUID",)
    env_keys: ClassVar[tuple[str, ...]] = ("RUNWARE_API_KEY",)
    default_concurrency: ClassVar[int] = 4
    default_base_url: ClassVar[str] = "https://api.runware.ai/v1"

    def build_request(
        self, spec: GenerationSpec, model_id: str, alias: str | None
    ) -> dict[str, Any]:
        """The imageInference task, without its random taskUUID (added at submission)."""
        vector = is_vector(self.name, model_id)
        task: dict[str, Any] = {
            # Vector models are `vectorize` tasks whose only output format is SVG
            # (runware.ai/docs/models/recraft-v4-vector and -pro-vector; the SDK's task map).
            "taskType": "vectorize" if vector else "imageInference",
            "model": model_id,
            "positivePrompt": spec.prompt,
            "width": spec.width,
            "height": spec.height,
        }
        colors: dict[str, Any] = {}
        if spec.palette:
            colors["colors"] = rgb_list(spec.palette)
        if spec.background is not None:
            colors["backgroundColor"] = {"rgb": list(spec.background)}
        if colors:
            if _is_v41(model_id, alias):
                task["settings"] = colors
            else:
                task["providerSettings"] = {"recraft": colors}
        output = "SVG" if vector else "PNG"
        task.update(outputFormat=output, includeCost=True, deliveryMethod="async")
        return task

    async def generate(self, request: dict[str, Any], model_id: str, ctx: RunContext) -> Generated:
        task = {"taskUUID": str(uuid.uuid4()), **request}
        ctx.note(taskUUID=task["taskUUID"])  # before sending: a kill can't lose what we pay for
        return await self.collect(task, ctx, submit=True)

    async def resume(self, entry: dict[str, Any], ctx: RunContext) -> Generated:
        if not entry.get("taskUUID"):
            raise JobGone("no task was submitted")
        try:
            return await self.collect({"taskUUID": entry["taskUUID"]}, ctx, submit=False)
        except ProviderError as exc:
            if exc.code == "taskFailedOrNotFound":
                raise JobGone(exc.message) from None
            raise

    async def collect(self, task: dict[str, Any], ctx: RunContext, *, submit: bool) -> Generated:
        """Submit (unless resuming) and wait for the build's poller to see the task done.
        The wait is bounded as a whole, from here (ctx.poll.deadline, --max-wait)."""
        import asyncio  # only when something is sent

        from .runware_batch import Poller, Submitter

        since = asyncio.get_running_loop().time()
        if submit:
            submitter = ctx.state(
                Submitter,
                lambda: Submitter(partial(self._send, ctx=ctx), partial(self._submit, ctx=ctx)),
            )
            await submitter.submit(task)
            ctx.submitted()
        poller = ctx.state(Poller, lambda: Poller(partial(self._send, ctx=ctx), ctx.poll))
        item = await poller.wait(task["taskUUID"], submitted=submit, since=since)
        return self._image(item, ctx)

    async def _submit(self, task: dict[str, Any], ctx: RunContext, resent: bool = False) -> None:
        """Submit one task on its own (runware_batch.Submitter sends several). `resent`:
        it was in a refused batch, which may have created it: a conflict means it did."""
        retried = False

        async def retrying() -> None:
            nonlocal retried
            retried = True  # a lost answer may hide an accepted task: conflict = accepted

        try:
            body = await self._send([task], ctx, before_retry=retrying)
        except ProviderError as exc:
            if exc.code == CONFLICT and (retried or resent):
                return  # an earlier attempt got through after all: collect that one
            raise
        _, error = find(body, task["taskUUID"])
        if error is not None and not (error.get("code") == CONFLICT and (retried or resent)):
            raise task_error(self.name, error)

    async def _send(self, tasks: list[dict[str, Any]], ctx: RunContext, **kw: Any) -> Any:
        return await send_json(
            ctx.client,
            self.name,
            "POST",
            ctx.base_url,
            json=tasks,
            headers=bearer(ctx.keys["RUNWARE_API_KEY"]),
            policy=ctx.retry,
            parse_error=parse_error,
            **kw,
        )

    def _image(self, item: dict[str, Any], ctx: RunContext) -> Generated:
        """The finished task's image: a URL for the executor to fetch, or inline data."""
        meta = {"imageUUID": item.get("imageUUID"), "taskUUID": item.get("taskUUID")}
        url, path = item.get("imageURL"), None
        if not url and (item.get("imageBase64Data") or item.get("imageDataURI")):
            inline = item.get("imageBase64Data") or item["imageDataURI"]
            path = decode_inline(self.name, inline, ctx.tmp_dir)
        elif not url:
            raise ProviderError(self.name, "the result carries no image")
        cost = item.get("cost")  # garbled: recorded as unknown, the image kept
        return Generated(
            path=path,
            url=url or None,
            seed=item.get("seed"),
            meta=meta,
            cost_usd=as_number(cost),
        )


def _is_v41(model_id: str, alias: str | None) -> bool:
    return (alias or "").startswith("recraft-v4.1") or "v4.1" in model_id
