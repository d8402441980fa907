"""Runware at volume: the tasks of a build submitted and polled together.

A Runware request is an array of tasks, so the jobs that start in the same turn of the
event loop share one submission, and every running task is asked about in one
`getResponse` request a round. Imported only when a build sends something (asyncio is
no cost a plan should pay).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ProviderError
from .base import JobGone
from .policy import PollPolicy
from .runware_wire import CONFLICT, IMAGE_FIELDS, find, raise_task_errors, task_error


class Submitter:
    """The tasks of jobs that start in the same turn of the event loop (the slots a poll
    round freed) go to Runware in one request: one POST for eight tasks, not eight.

    A task's error (in the answer, or in the refusal of the request) fails only that
    task, except `conflictTaskUUID` when the request was retried: an earlier attempt got
    through (the task exists: collect it) [RW-sdkpy-base]. On a first attempt a conflict
    is a real error. The tasks a refusal does not name are sent again one by one, so one
    bad task can't fail the others (one the refused request did create answers
    `conflictTaskUUID`, and is collected); a refusal naming no task (a bad key) fails them
    all. A request that fails after all its retries fails its tasks as retryable: the
    journal lets the next build ask for them."""

    def __init__(
        self,
        send: Callable[..., Awaitable[Any]],
        submit_one: Callable[..., Awaitable[None]],
    ):
        self._send = send
        self._submit_one = submit_one
        self._queue: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._sending: set[asyncio.Task[None]] = set()  # a strong reference while it runs

    async def submit(self, task: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((task, future))
        if len(self._queue) == 1:
            # Its first step runs in the next turn of the loop, after every job woken in
            # this one (the slots a poll round freed) has queued its task: one request.
            # Waiting longer measured worse: downloads get in ahead of the submission.
            sending = asyncio.ensure_future(self._flush())
            self._sending.add(sending)
            sending.add_done_callback(self._sending.discard)
        await future

    async def _flush(self) -> None:
        batch, self._queue = self._queue, []
        try:
            if len(batch) == 1:
                await self._one(*batch[0])
                return
            retried = False

            async def retrying() -> None:
                nonlocal retried
                retried = True  # the lost attempt may have created them: conflict = created

            try:
                body = await self._send([task for task, _ in batch], before_retry=retrying)
            except ProviderError as exc:
                if exc.retryable:
                    for _, future in batch:
                        _resolve(future, exc)
                    return
                body, accepted = exc.body, False  # refused: was any task created at all?
                refusal = exc.status
            else:
                accepted, refusal = True, None
            again = []
            for task, future in batch:
                _, error = find(body, task["taskUUID"])
                if error is None:
                    if accepted:
                        _resolve(future, None)
                    else:  # not named in the refusal: on its own (a conflict if it exists)
                        again.append(self._one(task, future, resent=True))
                elif error.get("code") == CONFLICT and retried:
                    _resolve(future, None)  # an earlier attempt got through: collect that
                else:
                    _resolve(future, _task_error(error, refusal))
            await asyncio.gather(*again)
        except BaseException as exc:  # never leave a job waiting on a request that died
            stopped = exc if isinstance(exc, Exception) else ProviderError("runware", "stopped")
            for _, future in batch:
                _resolve(future, stopped)
            raise

    async def _one(
        self, task: dict[str, Any], future: asyncio.Future[None], resent: bool = False
    ) -> None:
        try:
            await self._submit_one(task, resent=resent)
        except Exception as exc:
            _resolve(future, exc)
        else:
            _resolve(future, None)


def _task_error(error: dict[str, Any], status: int | None) -> ProviderError:
    """A task's error item; in a refused request, with the request's HTTP status (a 401,
    402 or 403 stops the provider's other jobs: execute.py)."""
    exc = task_error("runware", error)
    if status is None:
        return exc
    return ProviderError("runware", f"{exc.message} (HTTP {status})", code=exc.code, status=status)


def _resolve(future: asyncio.Future[Any], error: BaseException | None, result: Any = None) -> None:
    """Settle a job's future, unless the job was cancelled meanwhile."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[dict[str, Any]]
    started: float
    due: float
    submitted: bool  # by this build, just now: its run time so far is its run time
    seen: bool = False  # Runware has reported it at least once (running, done or failed)
    polls: int = 0


class Poller:
    """One `getResponse` request for every task of the build that is due to be asked
    about (a Runware request is an array of tasks), not one request per task: eight
    running tasks cost one request a round, so polling often enough to notice a finished
    task within a few percent of its run time stays cheap for both sides.

    Each task keeps its own schedule (`PollPolicy.delay`), four times as dense around
    the run times at which recent tasks were seen done (where the next is likely to
    finish: noticed a few percent sooner, for a few more shared rounds); a round also
    takes the tasks due within half the first interval, so schedules that drift apart
    still share requests. A task's error fails only that task; a request that fails as a whole after
    its retries fails the tasks it asked about (a non-retryable one with more than one
    task is first re-asked task by task, so one task's error cannot fail the others).

    Runware answers a task it does not know exactly like a running one (`{"data": []}`,
    providers.md 1.3), so no task is polled for ever: each waits at most
    `policy.deadline` (--max-wait) from its submission, then fails with its id left in
    the journal; and a task resumed from an earlier build that is not once reported in
    its first `policy.unseen_polls` polls is taken as never received (JobGone: the
    executor submits it once more). A task this build submitted is never resubmitted."""

    def __init__(self, send: Callable[[list[dict[str, Any]]], Awaitable[Any]], policy: PollPolicy):
        self._send = send
        self._policy = policy
        self._waiting: dict[str, _Waiter] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._finished: list[float] = []  # how long recent tasks ran until seen done

    async def wait(
        self, task_uuid: str, *, submitted: bool = True, since: float | None = None
    ) -> dict[str, Any]:
        """The task's finished data item, or its error raised as ProviderError.
        `submitted`: False for a task of an earlier build (its run time is unknown).
        `since`: when the job's wait began (its submission), in the loop's time."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        started = now if since is None else min(since, now)
        due = now + self._policy.delay(now - started)
        waiter = _Waiter(loop.create_future(), started, due, submitted)
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
                for task_uuid, waiter in due.items():  # settled: not asked about again
                    if waiter.future.done() and self._waiting.get(task_uuid) is waiter:
                        del self._waiting[task_uuid]
        except BaseException as exc:  # never leave a job waiting on a poller that died
            for waiter in self._waiting.values():
                if not waiter.future.done():
                    waiter.future.set_exception(
                        exc if isinstance(exc, Exception) else ProviderError("runware", "stopped")
                    )
            raise

    def _next(self, elapsed: float) -> float:
        """The wait before asking again about a task running for `elapsed` seconds: the
        policy's, but four times as often around when most recent tasks were seen done."""
        delay = self._policy.delay(elapsed)
        if self._finished:  # the middle half of them: an outlier can't widen the window
            seen = sorted(self._finished)
            low, high = seen[len(seen) // 4], seen[3 * len(seen) // 4]
            if low - self._policy.first <= elapsed + delay and elapsed <= high:
                return min(delay, self._policy.first / 4)
        return delay

    async def _round(self, due: dict[str, _Waiter]) -> None:
        asks = [{"taskType": "getResponse", "taskUUID": u} for u in due]
        # The next ask is timed from when this one went out, not from its answer: an
        # interval of 5 ms is 5 ms, not 5 ms plus the round trip.
        sent = asyncio.get_running_loop().time()
        try:
            body = await self._send(asks)
        except ProviderError as exc:
            if len(due) > 1 and not exc.retryable:
                for task_uuid, waiter in due.items():
                    await self._round({task_uuid: waiter})
                return
            for waiter in due.values():
                _resolve(waiter.future, exc)
            return
        now = asyncio.get_running_loop().time()
        for task_uuid, waiter in due.items():
            try:
                seen, item = _state(body, task_uuid)
            except ProviderError as exc:
                _resolve(waiter.future, exc)
                continue
            waiter.polls += 1
            waiter.seen = waiter.seen or seen
            elapsed = now - waiter.started
            if item is not None:
                if waiter.submitted:
                    self._finished = [*self._finished[-31:], elapsed]
                _resolve(waiter.future, None, item)
            elif not waiter.submitted and not waiter.seen:
                if waiter.polls >= self._policy.unseen_polls:
                    _resolve(waiter.future, JobGone(_never_seen(task_uuid, waiter.polls)))
                else:
                    waiter.due = sent + self._next(elapsed)
            elif elapsed >= self._policy.deadline:
                _resolve(waiter.future, _too_long(task_uuid, self._policy.deadline))
            else:
                deadline = waiter.started + self._policy.deadline
                waiter.due = min(sent + self._next(elapsed), max(deadline, sent))


def _never_seen(task_uuid: str, polls: int) -> str:
    return (
        f"task {task_uuid} of an earlier build was not reported in {polls} polls: "
        "taken as never received"
    )


def _too_long(task_uuid: str, deadline: float) -> ProviderError:
    """Past --max-wait: the job fails, retryable, so its journal entry (the taskUUID) stays."""
    return ProviderError(
        "runware",
        f"task {task_uuid}: no result after {deadline:g}s (--max-wait); Runware may "
        "have charged for it. Its taskUUID stays in .brandkit/journal.jsonl: run "
        "`brandkit build` again to collect it",
        retryable=True,
    )


def _state(body: Any, task_uuid: str) -> tuple[bool, dict[str, Any] | None]:
    """Whether the answer mentions the task at all, and its data item if it is done;
    its error raised."""
    raise_task_errors("runware", body, task_uuid)
    item, _ = find(body, task_uuid)
    if item is None:
        return False, None
    done = item.get("status") == "success" or (
        item.get("status") is None and any(k in item for k in IMAGE_FIELDS)
    )
    return True, (item if done else None)
