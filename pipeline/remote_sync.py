"""`brandkit cache pull | push | status`: the local cache and the shared remote, in bulk.

pull: every master the manifest's jobs need and the local cache lacks, fetched (verified,
streamed to disk, CONCURRENCY at once): CI's warm-up before a build. push: every local
master the manifest uses that the remote lacks, uploaded. status: how many masters are
here, there, or nowhere. Masters of the free `local` provider are never shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .cache import Cache
from .jobs import Job
from .manifest import Manifest
from .remote_cache import CONCURRENCY, RemoteCache, RemoteError, bounded
from .remote_config import remote_settings


@dataclass
class SyncResult:
    """What a pull or push did, by content key."""

    done: list[str] = field(default_factory=list)  # fetched, or uploaded
    already: list[str] = field(default_factory=list)  # nothing to do: there already
    missing: list[str] = field(default_factory=list)  # nowhere to take it from
    failed: list[str] = field(default_factory=list)  # refused (corrupt), or the remote failed


@dataclass
class CacheStatus:
    configured: bool
    url: str | None = None
    read_only: bool = False
    reachable: bool | None = None  # None: not asked (nothing configured)
    error: str | None = None
    needed: int = 0  # distinct shared masters the manifest's jobs need
    local: int = 0
    remote: int = 0
    missing: int = 0  # in neither

    def as_json(self) -> dict[str, Any]:
        return {
            "configured": self.configured,
            "remote": self.url,
            "read_only": self.read_only,
            "reachable": self.reachable,
            "error": self.error,
            "counts": {
                "needed": self.needed,
                "local": self.local,
                "remote": self.remote,
                "missing": self.missing,
            },
        }


def open_remote(
    manifest: Manifest, env: dict[str, str], cache: Cache, warn: Callable[[str], None]
) -> RemoteCache | None:
    """The remote tier the manifest and environment configure, or None. Opening it sends
    nothing: the first request goes when a job needs the remote."""
    settings = remote_settings(manifest.doc.data if manifest.doc is not None else {}, env)
    return RemoteCache(settings, cache, warn) if settings is not None else None


def shared_jobs(remote: RemoteCache, jobs: list[Job]) -> dict[str, Job]:
    """One job per content key, of the jobs whose masters are shared."""
    found: dict[str, Job] = {}
    for job in jobs:
        if remote.shares(job):
            found.setdefault(job.key, job)
    return found


def local_keys(cache: Cache, keys: list[str]) -> set[str]:
    """Which of these masters the local cache holds whole."""
    indexed = set(cache.all_keys())
    return {k for k in keys if k in indexed and cache.get(k) is not None}


def pull(remote: RemoteCache, cache: Cache, jobs: list[Job]) -> SyncResult:
    """Fetch what the manifest needs and the local cache lacks. RemoteError when the
    remote cannot be used at all."""
    wanted = shared_jobs(remote, jobs)
    here = local_keys(cache, list(wanted))
    result = SyncResult(already=sorted(here))
    todo = [k for k in wanted if k not in here]
    from .providers import get_provider

    async def one(key: str, gate: asyncio.Semaphore) -> str:
        job = wanted[key]
        drawn = get_provider(job.provider).self_drawn
        if await remote.fetch(job, self_drawn=drawn, gate=gate):
            return "done"
        return "failed" if remote.down or remote.refused(key) else "missing"

    async def every() -> list[str]:
        gate = asyncio.Semaphore(CONCURRENCY)  # transfers at once; checks run beside them
        return list(await asyncio.gather(*(one(k, gate) for k in todo)))

    outcomes = asyncio.run(every()) if todo else []
    for key, outcome in zip(todo, outcomes, strict=True):
        getattr(result, outcome).append(key)
    _raise_if_down(remote)
    return result


def push(remote: RemoteCache, cache: Cache, jobs: list[Job]) -> SyncResult:
    """Upload every local master the manifest uses that the remote lacks."""
    if remote.read_only:
        raise RemoteError(
            f"remote cache {remote.settings.url} is read-only here (cache.read_only or "
            "BRANDKIT_REMOTE_READ_ONLY): cache push writes nothing"
        )
    wanted = shared_jobs(remote, jobs)
    there = asyncio.run(remote.listing())
    result = SyncResult(already=sorted(k for k in wanted if k in there))
    records = {k: cache.get(k) for k in wanted if k not in there}
    result.missing = sorted(k for k, r in records.items() if r is None)
    todo = [k for k, r in records.items() if r is not None]

    async def one(key: str) -> bool:
        record = records[key]
        assert record is not None
        return await remote.upload(key, record)

    uploaded = asyncio.run(bounded(todo, one)) if todo else []
    for key, ok in zip(todo, uploaded, strict=True):
        (result.done if ok else result.failed).append(key)
    _raise_if_down(remote)
    return result


def status(manifest_data: Any, env: dict[str, str], cache: Cache, jobs: list[Job]) -> CacheStatus:
    """Configured? reachable? and the counts (a LIST of the remote's masters)."""
    remote = open_remote(manifest_data, env, cache, lambda message: None)
    if remote is None:
        return CacheStatus(configured=False)
    wanted = shared_jobs(remote, jobs)
    here = local_keys(cache, list(wanted))
    report = CacheStatus(True, remote.settings.url, remote.read_only, needed=len(wanted))
    report.local = len(here)
    try:
        there = asyncio.run(remote.listing())
    except RemoteError:
        report.reachable, report.error = False, remote.down
        report.missing = len(wanted) - len(here)
        return report
    report.reachable = True
    report.remote = sum(1 for k in wanted if k in there)
    report.missing = sum(1 for k in wanted if k not in here and k not in there)
    return report


def _raise_if_down(remote: RemoteCache) -> None:
    if remote.down is not None:
        raise RemoteError(f"remote cache {remote.settings.url}: {remote.down}")
