"""execute: run a Plan; every finished image goes into the cache at once.

Generations run on asyncio with one bounded semaphore per provider (`-j` overrides) and
one shared HTTP client (session.py); a job's master is obtained, fetched and stored
(obtain.py), then its outputs are cut from it (realise.py). Jobs journaled by an
interrupted build are collected, not paid for again. A failed job does not stop the
others unless --fail-fast. The first Ctrl-C (or SIGTERM) submits nothing new, lets paid
synchronous requests finish and leaves journaled ones to the next build; a second one
abandons everything at once. What a provider can do is read from its capabilities
(providers/base.py), never from its name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Coroutine, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import Cache, Record
from .errors import ProviderError
from .handoff import Handoff
from .jobs import Job
from .journal import Journal, JournalEntry
from .manifest import Manifest
from .obtain import (
    UNEXPECTED,
    Masters,
    answer,
    collectable,
    drop_stored,
    landed,
    remove_unkept,
    sweep,
)
from .plan import JobPlan, Plan
from .providers import get_provider
from .providers.base import Generated, JobGone
from .providers.http import remove_parts
from .realise import Realiser
from .results import Failure, Outcome, Refusal, describe, is_bug
from .session import Session

if TYPE_CHECKING:
    from .remote_cache import RemoteCache

Progress = Callable[[str, JobPlan, str], None]  # (event, job, detail)
PAID = frozenset({"generate", "remote"})  # statuses whose master this build obtains
ODD_LIMIT = 3  # builds in a row that could not read a journaled job's answer
ACCOUNT_REFUSED = frozenset({401, 402, 403})  # a bad key, no credit, no permission


class Executor:
    def __init__(
        self,
        plan: Plan,
        cache: Cache,
        manifest: Manifest,
        published: Path,
        *,
        jobs: int | None = None,
        keep_going: bool = True,
        progress: Progress | None = None,
        env: dict[str, str] | None = None,
        notify: Callable[[str], None] | None = None,
        max_wait: float | None = None,
        remote: RemoteCache | None = None,
    ):
        self.plan = plan
        self.remote = remote
        self.cache = cache
        self.manifest = manifest
        self.jobs = jobs
        self.keep_going = keep_going
        self.progress = progress or (lambda event, job, detail: None)
        self.notify = notify or (lambda message: None)
        env = dict(os.environ) if env is None else env
        self.session = Session(manifest, env, cache.tmp, max_wait)
        self.journal = Journal(cache.root)
        self.masters = Masters(cache, self.journal, self.notify)
        self.outcome = Outcome()
        self.realiser = Realiser(cache, plan.lock, published, self.outcome)
        self.realiser.cutter.expect(
            sum(op.source in ("derive", "generate") for jp in plan.jobs for op in jp.outputs)
        )
        self._stop = False
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._transfers: dict[str, asyncio.Semaphore] = {}
        self._handoffs: dict[str, Handoff] = {}
        self._tasks: dict[asyncio.Task[None], str] = {}  # task -> its provider
        self._refused: dict[str, Refusal] = {}  # providers that said 401, 402 or 403

    # -- slots -------------------------------------------------------------------------------
    def limit(self, provider: str) -> asyncio.Semaphore:
        if provider not in self._limits:
            settings = self.manifest.providers.get(provider)
            n = self.jobs or (
                settings.concurrency
                if settings and settings.concurrency
                else get_provider(provider).default_concurrency
            )
            self._limits[provider] = asyncio.Semaphore(n)
            self._transfers[provider] = asyncio.Semaphore(n)
        return self._limits[provider]

    def transfer(self, provider: str) -> asyncio.Semaphore:
        """Downloads of finished images: as many at once as generations, but apart from
        them, so a slow transfer never keeps the provider's next generation waiting."""
        self.limit(provider)
        return self._transfers[provider]

    def handoff(self, provider: str) -> Handoff:
        """An asynchronous provider's jobs between taking a slot and submitting (handoff.py)."""
        if provider not in self._handoffs:
            self._handoffs[provider] = Handoff()
        return self._handoffs[provider]

    # -- the run -----------------------------------------------------------------------------
    async def run(self) -> Outcome:
        with self.journal:
            generating = {j.job.provider for j in self.plan.jobs if j.status == "generate"}
            generating |= {  # a remote job falls back to paying if its master is not whole
                j.job.provider
                for j in self.plan.jobs
                if j.status == "remote" and self.session.keys_available(j.job.provider)
            }
            orphans = self._sweep_journal()
            remove_parts(self.cache.tmp)  # a killed build's half-downloaded images
            remove_unkept(self.cache.tmp, {e.key for e in self.journal.entries()})
            async with self.session.open(generating | {e.provider for e in orphans}):
                for jp in self.plan.jobs:
                    self._spawn(self.run_job(jp), jp.job.provider)
                for entry in orphans:
                    self._spawn(self.collect_orphan(entry), entry.provider)
                try:
                    with self._signals():
                        await asyncio.gather(*self._tasks, return_exceptions=True)
                finally:
                    await self.realiser.close()  # no cutting process outlives the build
            self._settle_stored()
            self.outcome.pending = len(self.journal.entries())
        for refusal in self._refused.values():
            if refusal.failure is not None and (refusal.refused or refusal.not_sent):
                refusal.failure.message += refusal.tally()
        return self.outcome

    def _settle_stored(self) -> None:
        """A job cancelled as its master landed (obtain.landed): generated, not in flight."""
        self.outcome.generated += drop_stored(self.journal, self.cache)

    def _sweep_journal(self) -> list[JournalEntry]:
        """Settle what earlier builds left (obtain.sweep): the paid jobs to collect."""
        wanted = {j.job.key for j in self.plan.jobs if j.status == "generate"}
        return sweep(self.journal, self.cache, wanted, self.session.keys_available, self.notify)

    def _spawn(self, coro: Coroutine[Any, Any, None], provider: str) -> None:
        self._tasks[asyncio.ensure_future(coro)] = provider

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.interrupt)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or a platform without it
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def interrupt(self) -> None:
        """First time: stop submitting; paid sync requests finish, journaled ones wait for
        the next build (and jobs that cost nothing stop). Second time: abandon everything."""
        first = not self.outcome.interrupted
        self.outcome.interrupted = True
        self._stop = True
        if first:
            self.notify(
                "interrupted: submitting nothing new; finishing paid requests "
                "(press Ctrl-C again to abandon them)"
            )
        for task, provider in self._tasks.items():
            p = get_provider(provider)
            if not first or p.asynchronous or p.free:
                task.cancel()

    # -- one job -----------------------------------------------------------------------------
    async def run_job(self, jp: JobPlan) -> None:
        try:
            if jp.status in PAID:
                master = await self.master(jp)
                if master is None:
                    return
            else:
                master = jp.master
            await self.realiser.realise(jp, master)
            self.progress("done", jp, "")
        except ProviderError as exc:
            self.fail(jp, str(exc) + (self._settle(jp.job.key, exc) if jp.status in PAID else ""))
        except Exception as exc:  # every exception is this job's failure, never the build's
            # The disk, the cache, or a bug of ours: what the provider may have charged
            # stays journaled, for the next build to collect; the other jobs go on.
            message = f"internal error: {describe(exc)}" if is_bug(exc) else describe(exc)
            if jp.status in PAID and collectable(self.journal.get(jp.job.key)):
                message += "; the provider's job is journaled: the next build collects it"
            self.fail(jp, message)
            if is_bug(exc):
                self.outcome.bugs.append(exc)

    def _settle(self, key: str, exc: ProviderError) -> str:
        """A failed generation's journal entry: dropped when the provider has said its
        last word, kept when the answer could not be read (the next build asks again)
        until ODD_LIMIT builds in a row could not read it. Returns what to add to the
        failure's message."""
        try:
            if not exc.retryable:
                self.journal.drop(key)
                return ""
            entry = self.journal.get(key)
            if exc.code != UNEXPECTED or entry is None or not collectable(entry):
                return ""
            if entry.odd + 1 >= ODD_LIMIT:
                self.journal.drop(key)
                return (
                    f"; {ODD_LIMIT} builds could not read its answer, so the next build "
                    "generates it again"
                )
            self.journal.record(key, odd=entry.odd + 1)
        except OSError:  # a full disk: the entry stays as it was, which is safe
            return ""
        return "; the provider's job is journaled: the next build asks for it again"

    def fail(self, jp: JobPlan, message: str) -> None:
        message = self.session.redact(message)
        refusal = self._refused.get(jp.job.provider)
        if refusal is not None and id(jp) in refusal.jobs and refusal.failure is not None:
            refusal.refused += 1  # the same refusal again: said once, by the first job
            self.progress("failed", jp, "")
            return
        self.outcome.failures.append(Failure(jp, message))
        if refusal is not None and id(jp) in refusal.jobs:
            refusal.failure = self.outcome.failures[-1]  # its message: in the final report
            message = (
                f"{jp.job.provider} refused the account (HTTP {refusal.status}): "
                f"its jobs not sent yet will not be sent"
            )
        self.progress("failed", jp, message)
        if not self.keep_going:
            self._stop = True

    # -- a master: from the remote cache, or generated (and then shared) --------------------
    async def master(self, jp: JobPlan) -> Record | None:
        job, remote = jp.job, self.remote
        if remote is None or not remote.shares(job):
            return await self.generate(jp)
        from .remote_claims import obtain

        planned = jp.status == "remote"
        generate = partial(self._generate_here, jp)
        drawn = self._self_drawn(job)
        return await obtain(remote, job, planned, generate, drawn, force=self.plan.force)

    async def _generate_here(self, jp: JobPlan) -> Record | None:
        """A job planned `remote` whose master the remote no longer serves: paid here,
        which needs the provider's key (MissingKeyError says which, if it is not set)."""
        if jp.job.provider not in self.session.contexts:
            get_provider(jp.job.provider).keys(self.session.env)
        return await self.generate(jp)

    def _self_drawn(self, job: Job) -> bool:
        return get_provider(job.provider).self_drawn

    # -- a generation: obtain -> fetch -> store ----------------------------------------------
    async def generate(self, jp: JobPlan) -> Record | None:
        job = jp.job
        async with self.limit(job.provider):
            if not self._may_send(jp):
                return None
            self.progress("start", jp, "")
            result, resumed = await self._obtain(jp)
        result = await self._fetch(job.key, job.provider, result)
        provider = get_provider(job.provider)
        record = await landed(
            self.masters.store(
                job.key,
                job.provider,
                job.model,
                job.spec.canonical(),
                result,
                self_drawn=provider.self_drawn,
            )
        )
        self.journal.drop(job.key)
        self.outcome.generated += 1
        self.outcome.resumed += resumed
        self.outcome.cost_usd += result.cost_usd or 0.0
        return record

    def _may_send(self, jp: JobPlan) -> bool:
        """Not after an interrupt, a --fail-fast failure, or the provider's refusal."""
        name = jp.job.provider
        if not self._stop and name not in self._refused:
            return True
        if name in self._refused:
            self._refused[name].not_sent += 1
        self.outcome.skipped += 1
        self.progress("skipped", jp, "")
        return False

    async def _obtain(self, jp: JobPlan) -> tuple[Generated, bool]:
        name = jp.job.provider
        provider = get_provider(name)
        starting = (
            self.handoff(name).starting()
            if provider.asynchronous
            else contextlib.nullcontext(lambda: None)
        )
        with starting as started, self._watch_account(jp, started) as submitted:
            ctx = self.masters.job_context(jp.job, self.session.contexts[name], submitted)
            return await self.masters.obtain(jp, provider, ctx)

    async def _fetch(self, key: str | None, name: str, result: Generated) -> Generated:
        handoff = self.handoff(name) if get_provider(name).asynchronous else None
        ctx = self.session.contexts[name]
        return await self.masters.fetch(key, name, result, ctx, self.transfer(name), handoff)

    @contextlib.contextmanager
    def _watch_account(
        self, jp: JobPlan, submitted: Callable[[], None]
    ) -> Iterator[Callable[[], None]]:
        """Around a job's exchange with its provider (not the image download): a 401, 402
        or 403 refuses the account, so the provider's jobs not sent yet are not sent. A job
        the provider had accepted stays journaled, for a later build to collect."""
        accepted = False

        def accept() -> None:
            nonlocal accepted
            accepted = True
            submitted()

        try:
            yield accept
        except ProviderError as exc:
            if exc.status not in ACCOUNT_REFUSED:
                raise
            self._refused.setdefault(jp.job.provider, Refusal(exc.status)).jobs.add(id(jp))
            if not accepted or exc.retryable:
                raise
            raise ProviderError(  # retryable: run_job keeps the journal entry
                exc.provider, exc.message, retryable=True, status=exc.status, code=exc.code
            ) from None

    # -- a job an earlier build paid for, that this plan no longer asks for ------------------
    async def collect_orphan(self, entry: JournalEntry) -> None:
        """Keep its image in the cache (a revert will find it) rather than lose it."""
        name = entry.provider
        provider = get_provider(name)
        keep = False  # a disk error or an odd answer: the next build tries again
        try:
            async with self.limit(name):
                ctx = self.session.contexts[name]
                result = await answer(name, self.masters.recover(entry, provider, ctx))
            result = await self._fetch(None, name, result)
            await self.masters.store(
                entry.key, name, entry.model, entry.spec, result, self_drawn=provider.self_drawn
            )
            self.outcome.resumed += 1
        except JobGone as exc:
            message = self.session.redact(str(exc))
            self.notify(f"could not collect an earlier build's job: {message}")
        except Exception as exc:  # never the build's failure: this job isn't even wanted
            keep = exc.retryable if isinstance(exc, ProviderError) else True
            message = self.session.redact(describe(exc))
            self.notify(f"could not collect an earlier build's job: {message}")
            if is_bug(exc):
                self.outcome.bugs.append(exc)
        if not keep:
            self.journal.drop(entry.key)


def execute(
    plan: Plan, cache: Cache, manifest: Manifest, published: Path, **options: Any
) -> Outcome:
    """Run the plan. A bug of brandkit's own in one job fails that job while the others
    finish and are cached; then it is raised (an internal error, exit 3)."""
    outcome = asyncio.run(Executor(plan, cache, manifest, published, **options).run())
    if outcome.bugs:
        raise outcome.bugs[0]
    return outcome
