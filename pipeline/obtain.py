"""A job's master image: obtained (collected from the journal, or asked of its provider),
fetched (a finished image's URL downloaded, outside the provider's slot), stored (checked
whole, then put in the cache). Whatever may be charged is journaled before it is asked
for, and what was paid stays journaled until its image is stored."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from .cache import Cache, Record, RecordMeta
from .errors import BrandkitError, ProviderError
from .handoff import Handoff
from .jobs import Job
from .journal import Journal, JournalEntry
from .models import is_vector
from .plan import JobPlan
from .providers import get_provider
from .providers.base import Generated, JobGone, Provider, RunContext
from .providers.http import download
from .providers.trust import accept, clean_fields
from .results import describe, is_disk

T = TypeVar("T")
UNEXPECTED = "brandkit:unexpected-answer"  # ProviderError.code of an answer we could not read
KEPT_PREFIX = "kept-"  # a paid image's bytes, not yet in the cache (Masters.recover)
_GONE = frozenset({403, 404, 410})  # a journaled image link that no longer answers
_ACCEPTED = frozenset({"seed", "cost_usd", "credits", "meta"})  # checked by trust.accept


@dataclass
class Masters:
    cache: Cache
    journal: Journal
    notify: Callable[[str], None]

    def job_context(self, job: Job, ctx: RunContext, submitted: Callable[[], None]) -> RunContext:
        """The provider's context for one job: its notes go to the job's journal entry."""
        note = partial(
            self._note, job.key, provider=job.provider, model=job.model, spec=job.spec.canonical()
        )
        return replace(ctx, note=note, submitted=submitted)

    # -- obtain ------------------------------------------------------------------------------
    async def obtain(
        self, jp: JobPlan, provider: Provider, ctx: RunContext
    ) -> tuple[Generated, bool]:
        """The job's result, and whether an earlier build's journal entry gave it."""
        job = jp.job
        result = await answer(job.provider, self._resume(job.key, provider, ctx))
        if result is not None:
            return result, True
        if not provider.free and not provider.journals_id:
            ctx.note()  # the intent, before anything that may be charged is sent
        result = self.accept(
            job.provider, await answer(job.provider, provider.generate(jp.request, job.model, ctx))
        )
        if result.url is not None and not provider.asynchronous:
            # Paid, not fetched yet, and a synchronous provider can't be asked again:
            # the URL is the way back to the image if this build stops.
            ctx.note(url=result.url, **_journaled(result))
        elif result.path is not None and not provider.asynchronous:
            # Paid, and its bytes came with the answer: the temp file is kept under the
            # key's name until stored, so a disk that fills first (or a kill) costs
            # nothing twice.
            kept = _keep(result.path, job.key)
            result = replace(result, path=kept)
            ctx.note(file=kept.name, **_journaled(result))
        return result, False

    async def _resume(self, key: str, provider: Provider, ctx: RunContext) -> Generated | None:
        entry = self.journal.get(key)
        if entry is None:
            return None
        ctx.submitted()  # nothing to submit: already with the provider, or its URL known
        try:
            result = await self.recover(entry, provider, ctx)
        except JobGone:
            self.journal.drop(key)
            return None
        return result

    async def recover(self, entry: JournalEntry, provider: Provider, ctx: RunContext) -> Generated:
        """An earlier build's paid job: the image file it kept or the image URL it
        journaled (a synchronous provider, stopped before storing it), else whatever
        the provider can say (or JobGone)."""
        if entry.file and not provider.asynchronous:
            path = _kept(self.cache.tmp, entry.key)
            if path is None or not path.is_file():
                raise JobGone("the image an earlier build kept is gone")
            result = _paid(entry, Generated(path=path))
        elif entry.url and not provider.asynchronous:
            result = _paid(entry, Generated(url=entry.url))
        else:
            result = await provider.resume(entry.ids, ctx)
        return self.accept(provider.name, result)

    def accept(self, provider: str, result: Generated) -> Generated:
        """A provider's result as it may be journaled and stored (trust.accept)."""
        result, warnings = accept(provider, result)
        for warning in warnings:
            self.notify(f"warning: {provider}: {warning}")
        return result

    def _note(self, key: str, provider: str, model: str, spec: Any, **fields: Any) -> None:
        """Journal what it takes to collect a job; ids a provider sent are checked first
        (the result's own fields were checked by accept)."""
        checked = {k: v for k, v in fields.items() if k in _ACCEPTED}
        kept, dropped = clean_fields({k: v for k, v in fields.items() if k not in _ACCEPTED})
        for name in dropped:
            self.notify(f"warning: {provider}: ignored the {name} it returned (not a short id)")
        self.journal.record(key, provider=provider, model=model, spec=spec, **kept, **checked)

    # -- fetch -------------------------------------------------------------------------------
    async def fetch(
        self,
        key: str | None,
        provider: str,
        result: Generated,
        ctx: RunContext,
        transfer: asyncio.Semaphore,
        handoff: Handoff | None,
    ) -> Generated:
        """Download an image the provider has finished, outside its generation slot (and,
        at an asynchronous provider, after the next submissions: `handoff`). `key`: the
        job's, when a link the journal holds and that has expired means generating anew."""
        if result.url is None or result.path is not None or result.data is not None:
            return result
        if handoff is not None:
            await handoff.wait()
        try:
            async with transfer:
                path, sha256 = await answer(
                    provider,
                    download(ctx.client, provider, result.url, ctx.tmp_dir, policy=ctx.retry),
                )
        except ProviderError as exc:
            entry = self.journal.get(key) if key is not None else None
            if exc.status in _GONE and entry is not None and entry.url:
                raise ProviderError(  # not retryable: the journal entry goes with it
                    provider,
                    f"{exc.message}; the image's link has expired, so the next build "
                    "generates it again",
                    status=exc.status,
                ) from None
            raise
        return replace(result, path=path, sha256=sha256, url=None)

    # -- store -------------------------------------------------------------------------------
    async def store(
        self,
        key: str,
        provider: str,
        model: str,
        spec: dict[str, Any],
        result: Generated,
        *,
        self_drawn: bool = False,
    ) -> Record:
        """The image checked whole (off the event loop) and cached as the job's master."""
        if result.data is None and result.path is None:
            raise ProviderError(provider, "the answer carries no image")
        store = partial(self._store, key, provider, self_drawn, model, spec, result)
        return await answer(provider, asyncio.to_thread(store), image=True)

    def _store(
        self,
        key: str,
        provider: str,
        self_drawn: bool,
        model: str,
        spec: dict[str, Any],
        result: Generated,
    ) -> Record:
        from .images import check_master, check_vector_master

        source = result.data if result.data is not None else result.path
        assert source is not None
        clean: bytes | None = None  # a vector model's SVG, sanitised: what is cached
        try:  # decoded whole (or sanitised), of the size asked for, or the provider's error
            if is_vector(provider, model):
                clean, width, height = check_vector_master(provider, source, _asked(spec))
                fmt = "svg"
            else:
                fmt, width, height = check_master(
                    provider, source, _asked(spec), decode=not self_drawn
                )
        except ProviderError:
            if result.path is not None:
                result.path.unlink(missing_ok=True)
            raise
        meta = RecordMeta(
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
        if clean is not None:  # never the provider's bytes: the sanitised document
            record = self.cache.put(key, clean, meta)
            if result.path is not None:
                result.path.unlink(missing_ok=True)
            return record
        if result.data is not None:
            return self.cache.put(key, result.data, meta)
        assert result.path is not None
        return self.cache.put_file(key, result.path, meta, sha256=result.sha256)


async def answer(provider: str, step: Awaitable[T], *, image: bool = False) -> T:
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


def collectable(entry: JournalEntry | None) -> bool:
    """Can the journaled job be found again (by its provider's ids, an image URL, or a
    kept file)? A provider this brandkit does not know has no ids to find it by."""
    if entry is None:
        return False
    try:
        ids = get_provider(entry.provider).journal_ids
    except BrandkitError:
        ids = ()
    return entry.collectable(ids)


async def landed(store: Coroutine[Any, Any, Record]) -> Record:
    """A paid image being stored is stored though Ctrl-C cancels its job meanwhile (the
    run then settles its journal entry); a second Ctrl-C stops waiting."""
    storing = asyncio.ensure_future(store)
    try:
        return await asyncio.shield(storing)
    except asyncio.CancelledError:
        await asyncio.wait([storing])
        if not storing.cancelled():
            storing.exception()  # retrieved: its failure is the next build's to see
        raise


def drop_stored(journal: Journal, cache: Cache) -> int:
    """Drop the journal entries whose master is cached (stored, but the job never said
    so: killed, or cancelled while the store's thread finished); how many."""
    stored = [e.key for e in journal.entries() if cache.get(e.key) is not None]
    for key in stored:
        journal.drop(key)
    return len(stored)


def sweep(
    journal: Journal,
    cache: Cache,
    wanted: set[str],
    keys_available: Callable[[str], bool],
    notify: Callable[[str], None],
) -> list[JournalEntry]:
    """Settle what earlier builds left: drop what is done, report what was lost, and
    return the paid jobs not in `wanted` whose keys are set (still worth collecting)."""
    drop_stored(journal, cache)
    orphans, lost = [], 0
    for entry in journal.entries():
        if not collectable(entry):
            lost += 1  # sent, but no id came back: the provider may have charged it
            journal.drop(entry.key)
        elif entry.key not in wanted and keys_available(entry.provider):
            orphans.append(entry)
    if lost:
        notify(
            f"note: {lost} request(s) were on their way to a provider when an earlier "
            "build stopped; they may have been charged, and cannot be collected "
            "(no id came back)"
        )
    return orphans


def _keep(path: Path, key: str) -> Path:
    kept = path.with_name(f"{KEPT_PREFIX}{key}")
    os.replace(path, kept)
    return kept


def _kept(tmp: Path, key: str) -> Path | None:
    """Where the image of a journaled key was kept; None for a key that is no content key
    (a damaged journal must not name a file elsewhere)."""
    if len(key) != 64 or not all(c in _HEX for c in key):
        return None
    return tmp / f"{KEPT_PREFIX}{key}"


_HEX = frozenset("0123456789abcdef")


def remove_unkept(tmp: Path, journaled: set[str]) -> None:
    """Kept images whose job is no longer journaled (stored, or given up)."""
    try:
        names = os.listdir(tmp)
    except OSError:
        return
    for name in names:
        if name.startswith(KEPT_PREFIX) and name[len(KEPT_PREFIX) :] not in journaled:
            with contextlib.suppress(OSError):
                os.unlink(tmp / name)


def _paid(entry: JournalEntry, result: Generated) -> Generated:
    """The result with what the journal says was paid for it."""
    return replace(
        result, seed=entry.seed, cost_usd=entry.cost_usd, credits=entry.credits, meta=entry.meta
    )


def _journaled(result: Generated) -> dict[str, Any]:
    """What the store needs of a result besides its bytes (see Masters.recover)."""
    return {
        "seed": result.seed,
        "cost_usd": result.cost_usd,
        "credits": result.credits,
        "meta": result.meta,
    }


def _asked(spec: dict[str, Any]) -> tuple[int, int] | None:
    """The size a job asked for (unknown for a journal entry without its spec)."""
    width, height = spec.get("width"), spec.get("height")
    return (width, height) if isinstance(width, int) and isinstance(height, int) else None
