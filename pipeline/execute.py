"""execute: run a Plan; every finished image goes into the cache at once.

Generations run on asyncio with one bounded semaphore per provider (`-j` overrides) and
one shared HTTP client; each job's outputs are then cut from its master (realise.py).
Jobs journaled by an interrupted build are collected, not paid for again. A failed job
does not stop the others unless --fail-fast. The first Ctrl-C (or SIGTERM) submits
nothing new, lets paid synchronous requests finish and leaves journaled ones to the
next build; a second one abandons everything at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from .cache import Cache, Record
from .errors import BrandkitError, ProviderError
from .handoff import Handoff
from .journal import Journal
from .manifest import Manifest
from .plan import JobPlan, Plan
from .providers import get_provider
from .providers.base import Generated, JobGone, RunContext
from .providers.http import (
    Bounds,
    KeyGuard,
    PollPolicy,
    RetryPolicy,
    download,
    import_httpx,
    remove_parts,
    secret_forms,
)
from .providers.trust import accept, clean_fields
from .realise import Realiser
from .results import Failure, Outcome, Refusal, describe, is_bug, is_disk

Progress = Callable[[str, JobPlan, str], None]  # (event, job, detail)
T = TypeVar("T")


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
    ):
        self.plan = plan
        self.cache = cache
        self.manifest = manifest
        self.published = published  # the current dist/latest, where `dist` outputs are
        self.jobs = jobs
        self.keep_going = keep_going
        self.progress = progress or (lambda event, job, detail: None)
        self.notify = notify or (lambda message: None)
        self.env = dict(os.environ) if env is None else env
        self.max_wait = max_wait  # build --max-wait: the whole wait for one job's result
        self.journal = Journal(cache.root)
        self.outcome = Outcome()
        self._stop = False
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._transfers: dict[str, asyncio.Semaphore] = {}
        self._handoffs: dict[str, Handoff] = {}
        self._contexts: dict[str, RunContext] = {}
        self._secrets: list[str] = []
        self._guard = KeyGuard()  # each provider's keys to its own base origin only
        self._tasks: dict[asyncio.Task[None], str] = {}  # task -> its provider
        self._refused: dict[str, Refusal] = {}  # providers that said 401, 402 or 403
        self.realiser = Realiser(cache, plan.lock, published, self.outcome)

    # -- set-up ------------------------------------------------------------------------------
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

    def _client(self, remote: set[str]) -> Any:
        if not remote:
            return contextlib.nullcontext()
        httpx = import_httpx()

        timeouts = [
            s.timeout for n, s in self.manifest.providers.items() if n in remote and s.timeout
        ]
        read = max(timeouts) if timeouts else 300.0
        from .providers.transport import transport

        return httpx.AsyncClient(
            timeout=httpx.Timeout(read, connect=15.0),
            follow_redirects=True,
            headers={"User-Agent": _user_agent()},
            transport=transport(httpx),
            event_hooks={"request": [self._guard]},
        )

    def _context(self, name: str, client: Any) -> RunContext:
        provider = get_provider(name)
        settings = self.manifest.providers.get(name)
        keys = provider.keys(self.env)
        self._secrets.extend(v for v in keys.values() if len(v) >= 4)
        base_url = provider.base_url(settings.base_url if settings else None, self.env)
        if keys:
            self._guard.allow(name, base_url, keys)
        return RunContext(
            client=client,
            keys=keys,
            base_url=base_url,
            tmp_dir=self.cache.tmp,
            retry=replace(
                RetryPolicy.from_env(self.env, self.max_wait), bounds=_bounds(settings)
            ),
            poll=PollPolicy.from_env(self.env, self.max_wait),
            timeout=settings.timeout if settings else None,
        )

    # -- the run -----------------------------------------------------------------------------
    async def run(self) -> Outcome:
        with self.journal:
            generating = {j.job.provider for j in self.plan.jobs if j.status == "generate"}
            orphans = self._sweep_journal()
            remove_parts(self.cache.tmp)  # a killed build's half-downloaded images
            _remove_unkept(self.cache.tmp, {e["key"] for e in self.journal.entries()})
            remote = (generating | {e["provider"] for e in orphans}) - {"local"}
            async with self._client(remote) as client:
                for name in generating | {e["provider"] for e in orphans}:
                    self._contexts[name] = self._context(name, client)
                for jp in self.plan.jobs:
                    self._spawn(self.run_job(jp), jp.job.provider)
                for entry in orphans:
                    self._spawn(self.collect_orphan(entry), entry["provider"])
                with self._signals():
                    await asyncio.gather(*self._tasks, return_exceptions=True)
            self.outcome.pending = len(self.journal.entries())
        for refusal in self._refused.values():
            if refusal.failure is not None and (refusal.refused or refusal.not_sent):
                refusal.failure.message += refusal.tally()
        return self.outcome

    def _sweep_journal(self) -> list[dict[str, Any]]:
        """Settle what earlier builds left: drop what is done, report what was lost, and
        return the paid jobs this plan no longer asks for (still worth collecting)."""
        wanted = {j.job.key for j in self.plan.jobs if j.status == "generate"}
        orphans, lost = [], 0
        for entry in self.journal.entries():
            key, provider = entry["key"], entry.get("provider", "")
            if self.cache.get(key) is not None:
                self.journal.drop(key)  # stored, but the process died before saying so
            elif not _collectable(entry):
                lost += 1  # sent, but no id came back: the provider may have charged it
                self.journal.drop(key)
            elif key not in wanted and self._keys_available(provider):
                orphans.append(entry)
        if lost:
            self.notify(
                f"note: {lost} request(s) were on their way to a provider when an earlier "
                "build stopped; they may have been charged, and cannot be collected "
                "(no id came back)"
            )
        return orphans

    def _spawn(self, coro: Any, provider: str) -> None:
        self._tasks[asyncio.ensure_future(coro)] = provider

    @contextlib.contextmanager
    def _signals(self) -> Any:
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
        the next build. Second time: abandon everything now."""
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
            if not first or p.asynchronous or provider == "local":
                task.cancel()

    def _keys_available(self, provider: str) -> bool:
        try:
            get_provider(provider).keys(self.env)
        except BrandkitError:
            return False
        return True

    # -- one job -----------------------------------------------------------------------------
    async def run_job(self, jp: JobPlan) -> None:
        try:
            if jp.status == "generate":
                master = await self.generate(jp)
                if master is None:
                    return
            else:
                master = jp.master
            await self.realiser.realise(jp, master)
            self.progress("done", jp, "")
        except ProviderError as exc:
            self.fail(
                jp, str(exc) + (self._settle(jp.job.key, exc) if jp.status == "generate" else "")
            )
        except Exception as exc:  # every exception is this job's failure, never the build's
            # The disk, the cache, or a bug of ours: what the provider may have charged
            # stays journaled, for the next build to collect; the other jobs go on.
            message = f"internal error: {describe(exc)}" if is_bug(exc) else describe(exc)
            if jp.status == "generate" and _collectable(self.journal.get(jp.job.key) or {}):
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
            if exc.code != UNEXPECTED or entry is None or not _collectable(entry):
                return ""
            odd = entry.get("odd")
            odd = odd + 1 if isinstance(odd, int) and not isinstance(odd, bool) else 1
            if odd >= ODD_LIMIT:
                self.journal.drop(key)
                return (
                    f"; {ODD_LIMIT} builds could not read its answer, so the next build "
                    "generates it again"
                )
            self.journal.record(key, odd=odd)
        except OSError:  # a full disk: the entry stays as it was, which is safe
            return ""
        return "; the provider's job is journaled: the next build asks for it again"

    def fail(self, jp: JobPlan, message: str) -> None:
        message = self.redact(message)
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

    def redact(self, text: str) -> str:
        """Never let a key reach a message, even if a provider echoes it back (raw,
        repr- or JSON-escaped, percent-encoded); and one message is one line."""
        for secret in self._secrets:
            for form in secret_forms(secret):
                text = text.replace(form, "***")
        return text.replace("\r\n", "\n").replace("\n", "\\n")

    def _accept(self, provider: str, result: Generated) -> Generated:
        """A provider's result as it may be journaled and stored (trust.accept)."""
        result, warnings = accept(provider, result)
        for warning in warnings:
            self.notify(f"warning: {provider}: {warning}")
        return result

    def _note(self, key: str, provider: str, model: str, spec: Any, **fields: Any) -> None:
        """Journal what it takes to collect a job; ids a provider sent are checked first
        (the result's own fields were checked by _accept)."""
        checked = {k: v for k, v in fields.items() if k in _ACCEPTED}
        kept, dropped = clean_fields({k: v for k, v in fields.items() if k not in _ACCEPTED})
        for name in dropped:
            self.notify(f"warning: {provider}: ignored the {name} it returned (not a short id)")
        self.journal.record(key, provider=provider, model=model, spec=spec, **kept, **checked)

    async def generate(self, jp: JobPlan) -> Record | None:
        job = jp.job
        async with self.limit(job.provider):
            if self._stop or job.provider in self._refused:
                if job.provider in self._refused:
                    self._refused[job.provider].not_sent += 1
                self.outcome.skipped += 1
                self.progress("skipped", jp, "")
                return None
            self.progress("start", jp, "")
            provider = get_provider(job.provider)
            starting = (
                self.handoff(job.provider).starting()
                if provider.asynchronous
                else contextlib.nullcontext(lambda: None)
            )
            with starting as started, self._watch_account(jp, started) as submitted:
                ctx = replace(
                    self._contexts[job.provider],
                    note=partial(
                        self._note,
                        job.key,
                        provider=job.provider,
                        model=job.model,
                        spec=job.spec.canonical(),
                    ),
                    submitted=submitted,
                )
                result = await _answer(job.provider, self._resume(job.key, provider, ctx))
                resumed = result is not None  # counted once it is stored
                if result is None and job.provider != "local" and not provider.journals_id:
                    ctx.note()  # the intent, before anything that may be charged is sent
                if result is None:
                    result = self._accept(
                        job.provider,
                        await _answer(job.provider, provider.generate(jp.request, job.model, ctx)),
                    )
                    if result.url is not None and not provider.asynchronous:
                        # Paid, not fetched yet, and a synchronous provider can't be asked
                        # again: the URL is the way back to the image if this build stops.
                        ctx.note(url=result.url, **_journaled(result))
                    elif result.path is not None and not provider.asynchronous:
                        # Paid, and its bytes came with the answer: the temp file is kept
                        # under the key's name until stored, so a disk that fills first
                        # (or a kill) costs nothing twice.
                        kept = _keep(result.path, job.key)
                        result = replace(result, path=kept)
                        ctx.note(file=kept.name, **_journaled(result))
        try:
            result = await _answer(job.provider, self._fetch(job.provider, result))
        except ProviderError as exc:
            if exc.status in _GONE and (self.journal.get(job.key) or {}).get("url"):
                raise ProviderError(  # not retryable: the journal entry goes with it
                    job.provider,
                    f"{exc.message}; the image's link has expired, so the next build "
                    "generates it again",
                    status=exc.status,
                ) from None
            raise
        if result.data is None and result.path is None:
            raise ProviderError(job.provider, "the answer carries no image")
        record = await _answer(
            job.provider,
            asyncio.to_thread(
                self._store_master, job.key, job.provider, job.model, job.spec.canonical(), result
            ),
            image=True,
        )
        self.journal.drop(job.key)
        self.outcome.generated += 1
        self.outcome.resumed += resumed
        self.outcome.cost_usd += result.cost_usd or 0.0
        return record

    @contextlib.contextmanager
    def _watch_account(self, jp: JobPlan, submitted: Callable[[], None]) -> Any:
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

    async def _resume(self, key: str, provider: Any, ctx: RunContext) -> Generated | None:
        entry = self.journal.get(key)
        if entry is None:
            return None
        ctx.submitted()  # nothing to submit: already with the provider, or its URL known
        try:
            result = await self._recover(entry, provider, ctx)
        except JobGone:
            self.journal.drop(key)
            return None
        return result

    async def _recover(self, entry: dict[str, Any], provider: Any, ctx: RunContext) -> Generated:
        """An earlier build's paid job: the image file it kept or the image URL it
        journaled (a synchronous provider, stopped before storing it), else whatever
        the provider can say (or JobGone)."""
        if entry.get("file") and not provider.asynchronous:
            path = _kept(self.cache.tmp, entry["key"])
            if path is None or not path.is_file():
                raise JobGone("the image an earlier build kept is gone")
            result = Generated(
                path=path,
                seed=entry.get("seed"),
                cost_usd=entry.get("cost_usd"),
                credits=entry.get("credits"),
                meta=entry.get("meta") or {},
            )
        elif entry.get("url") and not provider.asynchronous:
            result = Generated(
                url=entry["url"],
                seed=entry.get("seed"),
                cost_usd=entry.get("cost_usd"),
                credits=entry.get("credits"),
                meta=entry.get("meta") or {},
            )
        else:
            result = await provider.resume(entry, ctx)
        return self._accept(provider.name, result)

    async def collect_orphan(self, entry: dict[str, Any]) -> None:
        """A job paid for by an earlier build whose manifest entry has since changed: keep
        the image in the cache (a revert will find it) rather than lose it."""
        name = entry["provider"]
        provider = get_provider(name)
        keep = False  # a disk error or an odd answer: the next build tries again
        try:
            async with self.limit(name):
                result = await _answer(name, self._recover(entry, provider, self._contexts[name]))
            result = await _answer(name, self._fetch(name, result))
            if result.data is None and result.path is None:
                raise ProviderError(name, "the answer carries no image")
            await _answer(
                name,
                asyncio.to_thread(
                    self._store_master,
                    entry["key"],
                    name,
                    entry.get("model", ""),
                    entry.get("spec") or {},
                    result,
                ),
                image=True,
            )
            self.outcome.resumed += 1
        except JobGone as exc:
            self.notify(f"could not collect an earlier build's job: {self.redact(str(exc))}")
        except Exception as exc:  # never the build's failure: this job isn't even wanted
            keep = exc.retryable if isinstance(exc, ProviderError) else True
            self.notify(f"could not collect an earlier build's job: {self.redact(describe(exc))}")
            if is_bug(exc):
                self.outcome.bugs.append(exc)
        if not keep:
            self.journal.drop(entry["key"])

    async def _fetch(self, provider: str, result: Generated) -> Generated:
        """Download an image the provider has finished, outside its generation slot."""
        if result.url is None or result.path is not None or result.data is not None:
            return result
        ctx = self._contexts[provider]
        if get_provider(provider).asynchronous:
            await self.handoff(provider).wait()  # the next submissions first
        async with self.transfer(provider):
            path, sha256 = await download(
                ctx.client, provider, result.url, ctx.tmp_dir, policy=ctx.retry
            )
        return replace(result, path=path, sha256=sha256, url=None)

    def _store_master(
        self, key: str, provider: str, model: str, spec: dict[str, Any], result: Generated
    ) -> Record:
        from .images import check_master

        source = result.data if result.data is not None else result.path
        assert source is not None
        try:  # decoded whole, of the size asked for, or the provider's error
            fmt, width, height = check_master(
                provider, source, _asked(spec), decode=provider != "local"
            )
        except ProviderError:
            if result.path is not None:
                result.path.unlink(missing_ok=True)
            raise
        meta = dict(
            width=width,
            height=height,
            format=fmt,
            provider=provider,
            model=model,
            seed=result.seed,
            cost_usd=result.cost_usd,
            credits=result.credits,
            spec=spec,
        )
        if result.data is not None:
            return self.cache.put(key, result.data, **meta)
        assert result.path is not None
        return self.cache.put_file(key, result.path, sha256=result.sha256, **meta)


_ACCEPTED = frozenset({"seed", "cost_usd", "credits", "meta"})  # checked by trust.accept


async def _answer(provider: str, step: Awaitable[T], *, image: bool = False) -> T:
    """What a provider answered (`image`: the image it sent, being stored), or a
    ProviderError naming what was odd about it: an answer of a shape we did not expect
    fails its job, never the build. An odd answer keeps the job journaled (it may be
    collected later); an image that cannot be read is the provider's last word."""
    try:
        return await step
    except (BrandkitError, OSError, JobGone, MemoryError):
        raise
    except Exception as exc:
        if is_disk(exc):
            raise
        what = "the image could not be read" if image else "unexpected answer"
        raise ProviderError(
            provider, f"{what} ({describe(exc)})", retryable=not image, code=UNEXPECTED
        ) from exc


UNEXPECTED = "brandkit:unexpected-answer"  # ProviderError.code of an answer we could not read
ODD_LIMIT = 3  # builds in a row that could not read a journaled job's answer


def _collectable(entry: dict[str, Any]) -> bool:
    """Does the entry say how to find the job again (a task UUID, a status URL, the
    image's own URL, the file it was kept in)? Only as text: an id of another type
    (an odd answer, journaled as it came) finds nothing."""
    return any(
        isinstance(entry.get(name), str) and entry[name]
        for name in ("taskUUID", "statusUrl", "url", "file")
    )


KEPT_PREFIX = "kept-"  # a paid image's bytes, not yet in the cache (Executor._recover)


def _keep(path: Path, key: str) -> Path:
    kept = path.with_name(f"{KEPT_PREFIX}{key}")
    os.replace(path, kept)
    return kept


def _kept(tmp: Path, key: Any) -> Path | None:
    """Where the image of a journaled key was kept; None for a key that is no content key
    (a damaged journal must not name a file elsewhere)."""
    if not isinstance(key, str) or len(key) != 64 or not all(c in _HEX for c in key):
        return None
    return tmp / f"{KEPT_PREFIX}{key}"


_HEX = frozenset("0123456789abcdef")


def _remove_unkept(tmp: Path, journaled: set[str]) -> None:
    """Kept images whose job is no longer journaled (stored, or given up)."""
    try:
        names = os.listdir(tmp)
    except OSError:
        return
    for name in names:
        if name.startswith(KEPT_PREFIX) and name[len(KEPT_PREFIX) :] not in journaled:
            with contextlib.suppress(OSError):
                os.unlink(tmp / name)


_GONE = frozenset({403, 404, 410})  # a journaled image link that no longer answers
ACCOUNT_REFUSED = frozenset({401, 402, 403})  # a bad key, no credit, no permission


def _journaled(result: Generated) -> dict[str, Any]:
    """What the store needs of a result besides its bytes (see Executor._recover)."""
    return {
        "seed": result.seed,
        "cost_usd": result.cost_usd,
        "credits": result.credits,
        "meta": result.meta,
    }


def _bounds(settings: Any) -> Bounds:
    """A provider's deadline and size caps, from its manifest settings (if any)."""
    if settings is None:
        return Bounds()
    return Bounds.of(settings.timeout, settings.max_json_mb, settings.max_download_mb)


def _asked(spec: dict[str, Any]) -> tuple[int, int] | None:
    """The size a job asked for (unknown for a journal entry without its spec)."""
    width, height = spec.get("width"), spec.get("height")
    return (width, height) if isinstance(width, int) and isinstance(height, int) else None


def _user_agent() -> str:
    from . import __version__

    return f"brandkit/{__version__}"


def execute(
    plan: Plan, cache: Cache, manifest: Manifest, published: Path, **options: Any
) -> Outcome:
    """Run the plan. A bug of brandkit's own in one job fails that job while the others
    finish and are cached; then it is raised (an internal error, exit 3)."""
    outcome = asyncio.run(Executor(plan, cache, manifest, published, **options).run())
    if outcome.bugs:
        raise outcome.bugs[0]
    return outcome
