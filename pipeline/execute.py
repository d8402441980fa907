"""execute: run a Plan; every finished image goes into the cache at once.

Generations run on asyncio with one bounded semaphore per provider (`-j` overrides) and
one shared HTTP client; cutting sizes and formats runs in worker threads (Pillow releases
the GIL). A failed job stops new submissions unless --keep-going; in-flight work is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import Cache, Record
from .errors import BrandkitError, ProviderError
from .manifest import Manifest
from .plan import JobPlan, OutputPlan, Plan
from .providers import get_provider
from .providers.base import Generated, RunContext
from .providers.http import PollPolicy, RetryPolicy


@dataclass
class Failure:
    job: JobPlan
    message: str


@dataclass
class Outcome:
    records: dict[str, Record] = field(default_factory=dict)  # output path -> record
    failures: list[Failure] = field(default_factory=list)
    generated: int = 0
    derived: int = 0
    reused: int = 0
    skipped: int = 0
    cost_usd: float = 0.0


Progress = Callable[[str, JobPlan, str], None]  # (event, job, detail)


class Executor:
    def __init__(
        self,
        plan: Plan,
        cache: Cache,
        manifest: Manifest,
        published: Path,
        *,
        jobs: int | None = None,
        keep_going: bool = False,
        progress: Progress | None = None,
        env: dict[str, str] | None = None,
    ):
        self.plan = plan
        self.cache = cache
        self.manifest = manifest
        self.published = published  # the current dist/latest, where `dist` outputs are
        self.jobs = jobs
        self.keep_going = keep_going
        self.progress = progress or (lambda event, job, detail: None)
        self.env = dict(os.environ) if env is None else env
        self.outcome = Outcome()
        self._stop = False
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._contexts: dict[str, RunContext] = {}
        self._secrets: list[str] = []
        self._cpu = asyncio.Semaphore(max(1, min(4, os.cpu_count() or 1)))

    def limit(self, provider: str) -> asyncio.Semaphore:
        if provider not in self._limits:
            settings = self.manifest.providers.get(provider)
            n = self.jobs or (
                settings.concurrency
                if settings and settings.concurrency
                else get_provider(provider).default_concurrency
            )
            self._limits[provider] = asyncio.Semaphore(n)
        return self._limits[provider]

    async def run(self) -> Outcome:
        generating = {j.job.provider for j in self.plan.jobs if j.status == "generate"}
        async with self._client(generating - {"local"}) as client:
            for name in generating:
                self._contexts[name] = self._context(name, client)
            await asyncio.gather(*(self.run_job(j) for j in self.plan.jobs))
        return self.outcome

    def _client(self, remote: set[str]) -> Any:
        if not remote:
            return contextlib.nullcontext()
        import httpx

        timeouts = [
            s.timeout for n, s in self.manifest.providers.items() if n in remote and s.timeout
        ]
        read = max(timeouts) if timeouts else 300.0
        return httpx.AsyncClient(
            timeout=httpx.Timeout(read, connect=15.0),
            follow_redirects=True,
            headers={"User-Agent": _user_agent()},
        )

    def _context(self, name: str, client: Any) -> RunContext:
        provider = get_provider(name)
        settings = self.manifest.providers.get(name)
        keys = provider.keys(self.env)
        self._secrets.extend(v for v in keys.values() if len(v) >= 4)
        return RunContext(
            client=client,
            keys=keys,
            base_url=provider.base_url(settings.base_url if settings else None, self.env),
            tmp_dir=self.cache.tmp,
            retry=RetryPolicy.from_env(self.env),
            poll=PollPolicy.from_env(self.env),
            timeout=settings.timeout if settings else None,
        )

    async def run_job(self, jp: JobPlan) -> None:
        try:
            if jp.status == "generate":
                master = await self.generate(jp)
                if master is None:
                    return
            else:
                master = jp.master
            await self.realise_outputs(jp, master)
            self.progress("done", jp, "")
        except (ProviderError, BrandkitError, OSError, ValueError) as exc:
            self.fail(jp, str(exc))

    def fail(self, jp: JobPlan, message: str) -> None:
        message = self.redact(message)
        self.outcome.failures.append(Failure(jp, message))
        self.progress("failed", jp, message)
        if not self.keep_going:
            self._stop = True

    def redact(self, text: str) -> str:
        """Never let a key reach a message, even if a provider echoes it back."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def generate(self, jp: JobPlan) -> Record | None:
        job = jp.job
        async with self.limit(job.provider):
            if self._stop:
                self.outcome.skipped += 1
                self.progress("skipped", jp, "")
                return None
            self.progress("start", jp, "")
            provider = get_provider(job.provider)
            result = await provider.generate(jp.request, job.model, self._contexts[job.provider])
        record = await asyncio.to_thread(self._store_master, jp, result)
        self.outcome.generated += 1
        self.outcome.cost_usd += result.cost_usd or 0.0
        return record

    def _store_master(self, jp: JobPlan, result: Generated) -> Record:
        from .derive import image_size, sniff_format

        head = result.data[:16] if result.data is not None else _head(result.path)
        fmt = sniff_format(head)
        if fmt is None:
            if result.path is not None:
                result.path.unlink(missing_ok=True)
            raise ProviderError(jp.job.provider, "the response is not an image (bad magic bytes)")
        source = result.data if result.data is not None else result.path
        assert source is not None
        width, height = image_size(source)
        meta = dict(
            width=width,
            height=height,
            format=fmt,
            provider=jp.job.provider,
            model=jp.job.model,
            seed=result.seed,
            cost_usd=result.cost_usd,
            credits=result.credits,
            spec=jp.job.spec.canonical(),
        )
        if result.data is not None:
            return self.cache.put(jp.job.key, result.data, **meta)
        assert result.path is not None
        return self.cache.put_file(jp.job.key, result.path, **meta)

    async def realise_outputs(self, jp: JobPlan, master: Record | None) -> None:
        """Put every output of a job in the cache: reuse, adopt from dist, or cut."""
        master_bytes: bytes | None = None
        for op in jp.outputs:
            record = op.record if op.source == "cache" and jp.status != "generate" else None
            if record is None and op.source == "dist" and jp.status != "generate":
                record = self._adopt(jp, op)
            if record is None:
                if master is None:
                    raise BrandkitError(f"{op.target.path}: the master image is missing")
                if master_bytes is None:
                    master_bytes = await asyncio.to_thread(self.cache.read, master)
                async with self._cpu:
                    record = await asyncio.to_thread(self._cut, master, master_bytes, op)
                self.outcome.derived += 1
            else:
                self.outcome.reused += 1
            self.outcome.records[op.target.path] = record

    def _adopt(self, jp: JobPlan, op: OutputPlan) -> Record | None:
        entry = self.plan.lock[op.target.path]
        source = self.published / op.target.path
        return self.cache.adopt(
            op.cache_key,
            source,
            entry.sha256,
            width=entry.width,
            height=entry.height,
            format=entry.format,
            provider=entry.provider,
            model=entry.model,
            seed=entry.seed,
            cost_usd=entry.cost_usd,
            credits=entry.credits,
            spec=jp.job.spec.canonical(),
        )

    def _cut(self, master: Record, data: bytes, op: OutputPlan) -> Record:
        from .derive import derive

        t = op.target
        meta = dict(
            width=t.width,
            height=t.height,
            format=t.format,
            provider=master.provider,
            model=master.model,
            seed=master.seed,
            cost_usd=master.cost_usd,
            credits=master.credits,
            spec=master.spec,
        )
        if (master.format, master.width, master.height) == (t.format, t.width, t.height):
            return self.cache.put(op.cache_key, data, **meta)  # the master itself: same blob
        return self.cache.put(op.cache_key, derive(data, t.width, t.height, t.format), **meta)


def _head(path: Path | None) -> bytes:
    assert path is not None
    with open(path, "rb") as f:
        return f.read(16)


def _user_agent() -> str:
    from . import __version__

    return f"brandkit/{__version__}"


def execute(
    plan: Plan, cache: Cache, manifest: Manifest, published: Path, **options: Any
) -> Outcome:
    return asyncio.run(Executor(plan, cache, manifest, published, **options).run())
