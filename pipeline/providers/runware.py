"""Runware: a JSON array of `imageInference` tasks, delivered asynchronously.

Each task gets a fresh UUID v4 `taskUUID` at submission, journaled before it is sent;
with `deliveryMethod: "async"` the POST is acknowledged at once and the result is
collected with `getResponse`, so a lost connection never costs a second image: a retry
first asks whether the task exists. One poller per build asks about every running task
in one request. Colours go in `providerSettings.recraft` for V4 / V4 Pro and in
`settings` for V4.1 / V4.1 Pro. The master is requested as PNG; `cost` is reported with
`includeCost`; the image URL is fetched by the executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import httpx


from ..errors import ProviderError
from ..jobs import GenerationSpec
from .base import Generated, JobGone, ProviderBase, RunContext, bearer, rgb_list
from .http import PollPolicy, decode_inline, send_json

_IMAGE_FIELDS = ("imageURL", "imageBase64Data", "imageDataURI")


class RunwareProvider(ProviderBase):
    name: ClassVar[str] = "runware"
    supports_colors: ClassVar[bool] = True
    supports_style: ClassVar[bool] = False
    supports_seed: ClassVar[bool] = False
    asynchronous: ClassVar[bool] = True
    journals_id: ClassVar[bool] = True
    env_keys: ClassVar[tuple[str, ...]] = ("RUNWARE_API_KEY",)
    default_concurrency: ClassVar[int] = 4
    default_base_url: ClassVar[str] = "https://api.runware.ai/v1"

    def build_request(
        self, spec: GenerationSpec, model_id: str, alias: str | None
    ) -> dict[str, Any]:
        """The imageInference task, without its random taskUUID (added at submission)."""
        task: dict[str, Any] = {
            "taskType": "imageInference",
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
        task.update(outputFormat="PNG", includeCost=True, deliveryMethod="async")
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
        """Submit (unless resuming) and wait for the build's poller to see the task done."""
        if submit:
            submitter = ctx.shared.get("runware.submitter")
            if submitter is None:
                submitter = ctx.shared["runware.submitter"] = _Submitter(
                    partial(self._send, ctx=ctx), partial(self._submit, ctx=ctx)
                )
            await submitter.submit(task)
        poller = ctx.shared.get("runware.poller")
        if poller is None:
            poller = ctx.shared["runware.poller"] = _Poller(partial(self._send, ctx=ctx), ctx.poll)
        return self._image(await poller.wait(task["taskUUID"]), ctx)

    async def _submit(self, task: dict[str, Any], ctx: RunContext) -> None:
        """Submit one task on its own (see _Submitter for several)."""

        async def already_there() -> Any:
            # A lost answer may hide an accepted task: ask before paying again.
            body = await self._send(
                [{"taskType": "getResponse", "taskUUID": task["taskUUID"]}], ctx
            )
            return body if _find(body, task["taskUUID"])[0] is not None else None

        try:
            body = await self._send([task], ctx, before_retry=already_there)
        except ProviderError as exc:
            if exc.code == "duplicateTaskUUID":
                return  # an earlier attempt got through after all: collect that one
            raise
        _raise_task_errors(self.name, body, task["taskUUID"])

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
        cost = item.get("cost")
        return Generated(
            path=path,
            url=url or None,
            seed=item.get("seed"),
            meta=meta,
            cost_usd=float(cost) if cost is not None else None,
        )


class _Submitter:
    """The tasks of jobs that start in the same turn of the event loop (the slots a poll
    round freed) go to Runware in one request: one POST for eight tasks, not eight.

    A task's error (in the answer, or in the refusal of the request) fails only that
    task, and `duplicateTaskUUID` means an earlier attempt got through (the task exists:
    collect it). The tasks a refusal does not name are sent again one by one, so one bad
    task can't fail the others (one the refused request did create answers
    `duplicateTaskUUID`); a refusal naming no task (a bad key) fails them all. A request
    that fails after all its retries fails its tasks as retryable: the journal lets the
    next build ask for them."""

    def __init__(
        self,
        send: Callable[[list[dict[str, Any]]], Awaitable[Any]],
        submit_one: Callable[[dict[str, Any]], Awaitable[None]],
    ):
        self._send = send
        self._submit_one = submit_one
        self._queue: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._sending: set[asyncio.Task[None]] = set()  # a strong reference while it runs

    async def submit(self, task: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((task, future))
        if len(self._queue) == 1:
            sending = asyncio.ensure_future(self._flush())
            self._sending.add(sending)
            sending.add_done_callback(self._sending.discard)
        await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # one turn of the loop: the jobs started with this one join
        batch, self._queue = self._queue, []
        try:
            if len(batch) == 1:
                await self._one(*batch[0])
                return
            try:
                body = await self._send([task for task, _ in batch])
            except ProviderError as exc:
                if exc.retryable:
                    for _, future in batch:
                        _resolve(future, exc)
                    return
                body, accepted = exc.body, False  # refused: was any task created at all?
            else:
                accepted = True
            again = []
            for task, future in batch:
                _, error = _find(body, task["taskUUID"])
                if error is None:
                    if accepted:
                        _resolve(future, None)
                    else:  # not named in the refusal: on its own (duplicateTaskUUID if it exists)
                        again.append(self._one(task, future))
                elif error.get("code") == "duplicateTaskUUID":
                    _resolve(future, None)  # an earlier attempt got through: collect that
                else:
                    _resolve(future, _task_error("runware", error))
            await asyncio.gather(*again)
        except BaseException as exc:  # never leave a job waiting on a request that died
            stopped = exc if isinstance(exc, Exception) else ProviderError("runware", "stopped")
            for _, future in batch:
                _resolve(future, stopped)
            raise

    async def _one(self, task: dict[str, Any], future: asyncio.Future[None]) -> None:
        try:
            await self._submit_one(task)
        except Exception as exc:
            _resolve(future, exc)
        else:
            _resolve(future, None)


def _resolve(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # its job was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(None)


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[dict[str, Any]]
    started: float
    due: float


class _Poller:
    """One `getResponse` request for every task of the build that is due to be asked
    about (a Runware request is an array of tasks), not one request per task: eight
    running tasks cost one request a round, so polling often enough to notice a finished
    task within a few percent of its run time stays cheap for both sides.

    Each task keeps its own schedule (`PollPolicy.delay`); a round also takes the tasks
    due within half the first interval, so schedules that drift apart still share
    requests. A task's error fails only that task; a request that fails as a whole after
    its retries fails the tasks it asked about (a non-retryable one with more than one
    task is first re-asked task by task, so one task's error cannot fail the others)."""

    def __init__(self, send: Callable[[list[dict[str, Any]]], Awaitable[Any]], policy: PollPolicy):
        self._send = send
        self._policy = policy
        self._waiting: dict[str, _Waiter] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def wait(self, task_uuid: str) -> dict[str, Any]:
        """The task's finished data item, or its error raised as ProviderError."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        waiter = _Waiter(loop.create_future(), now, now + self._policy.delay(0.0))
        self._waiting[task_uuid] = waiter
        self._changed.set()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        try:
            return await waiter.future
        finally:
            if self._waiting.get(task_uuid) is waiter:
                del self._waiting[task_uuid]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                self._changed.clear()
                delay = min(w.due for w in self._waiting.values()) - loop.time()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), delay)
                    continue  # a task came or went, or one is due: look again
                horizon = loop.time() + self._policy.delay(0.0) / 2
                due = {u: w for u, w in self._waiting.items() if w.due <= horizon}
                await self._round(due)
        except BaseException as exc:  # never leave a job waiting on a poller that died
            for waiter in self._waiting.values():
                if not waiter.future.done():
                    waiter.future.set_exception(
                        exc if isinstance(exc, Exception) else ProviderError("runware", "stopped")
                    )
            raise

    async def _round(self, due: dict[str, _Waiter]) -> None:
        asks = [{"taskType": "getResponse", "taskUUID": u} for u in due]
        try:
            body = await self._send(asks)
        except ProviderError as exc:
            if len(due) > 1 and not exc.retryable:
                for task_uuid, waiter in due.items():
                    await self._round({task_uuid: waiter})
                return
            for waiter in due.values():
                _settle(waiter, error=exc)
            return
        now = asyncio.get_running_loop().time()
        for task_uuid, waiter in due.items():
            try:
                item = _finished(body, task_uuid)
            except ProviderError as exc:
                _settle(waiter, error=exc)
                continue
            elapsed = now - waiter.started
            if item is not None:
                _settle(waiter, item=item)
            elif elapsed >= self._policy.deadline:
                _settle(
                    waiter,
                    error=ProviderError(
                        "runware",
                        f"task {task_uuid} did not finish in {self._policy.deadline:.0f}s "
                        "(BRANDKIT_POLL_DEADLINE)",
                    ),
                )
            else:
                waiter.due = now + self._policy.delay(elapsed)


def _settle(
    waiter: _Waiter, *, item: dict[str, Any] | None = None, error: Exception | None = None
) -> None:
    if waiter.future.done():  # its job was cancelled meanwhile
        return
    if error is not None:
        waiter.future.set_exception(error)
    else:
        waiter.future.set_result(item or {})


def _finished(body: Any, task_uuid: str) -> dict[str, Any] | None:
    """The task's data item if it is done, None while it runs; its error raised."""
    _raise_task_errors("runware", body, task_uuid)
    item, _ = _find(body, task_uuid)
    if item is None:
        return None
    done = item.get("status") == "success" or (
        item.get("status") is None and any(k in item for k in _IMAGE_FIELDS)
    )
    return item if done else None


def _is_v41(model_id: str, alias: str | None) -> bool:
    return (alias or "").startswith("recraft-v4.1") or "v4.1" in model_id


def _find(body: Any, task_uuid: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The data item and the error item for a task, from a Runware envelope."""
    data = body.get("data") if isinstance(body, dict) else None
    errors = body.get("errors") if isinstance(body, dict) else None
    item = next(
        (d for d in data or [] if isinstance(d, dict) and d.get("taskUUID") == task_uuid), None
    )
    error = next(
        (e for e in errors or [] if isinstance(e, dict) and e.get("taskUUID") in (task_uuid, None)),
        None,
    )
    return item, error


def _raise_task_errors(provider: str, body: Any, task_uuid: str) -> None:
    _, error = _find(body, task_uuid)
    if error is not None:
        raise _task_error(provider, error)


def _task_error(provider: str, error: dict[str, Any]) -> ProviderError:
    """A task's own error item: the provider's last word on that task."""
    code = error.get("code")
    return ProviderError(
        provider, f"{error.get('message') or code} ({code})", code=code, retryable=False
    )


def parse_error(response: httpx.Response) -> tuple[str, str | None]:
    """`{"errors": [{"code", "message", ...}]}`, or whatever text came back."""
    try:
        body = response.json()
        error = body["errors"][0]
        return str(error.get("message") or error.get("code")), error.get("code")
    except (ValueError, KeyError, IndexError, TypeError):
        return response.text.strip()[:300] or f"HTTP {response.status_code}", None
