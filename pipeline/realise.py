"""The derive stage over the cache: every output of a job, from its cached master.

An output is reused (already cached, or in dist/latest as the lock says), adopted from
the published tree, aliased (an output that is the master itself shares its blob) or
cut from the master's bytes by derive.py, on every core (cutpool.py: one task per
master, in a process pool once a build has enough to cut). A job holds a CPU slot while
its master is being cut, so at most two masters per core are queued or read at once
however many jobs finish together. The cache is written here, in this process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import Cache, Record, RecordMeta
from .cutpool import CutError, Cutter, cpu_workers
from .errors import BrandkitError
from .jobs import OutputTarget
from .lockfile import LockEntry
from .plan import JobPlan, OutputPlan
from .results import Outcome


@dataclass
class Realiser:
    cache: Cache
    lock: dict[str, LockEntry]  # the plan's: what dist/latest holds
    published: Path  # the current dist/latest
    outcome: Outcome  # counts and records go here
    cpu: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2 * cpu_workers()))
    cutter: Cutter = field(init=False)

    def __post_init__(self) -> None:
        self.cutter = Cutter(self.cache.root)

    async def close(self) -> None:
        """The end of the build (or its interruption): no cutting process outlives it."""
        await self.cutter.close()

    async def realise(self, jp: JobPlan, master: Record | None) -> None:
        """Put every output of a job in the cache: reuse, adopt from dist, or cut."""
        to_cut = self._reuse(jp)
        if not to_cut:
            return
        if master is None:
            raise BrandkitError(f"{to_cut[0].target.path}: the master image is missing")
        cut = []
        for op in to_cut:  # an output that is the master itself: its blob, no bytes read
            record = None
            if _is_master(master, op.target):
                record = await asyncio.to_thread(
                    self.cache.alias,
                    op.cache_key,
                    master,
                    _output_meta(master, op.target, master.spec),
                )
            if record is None:
                cut.append(op)
            else:
                self._done(op, record)
        if cut:
            await self._cut_all(master, cut)

    def _reuse(self, jp: JobPlan) -> list[OutputPlan]:
        """Count and record the outputs that need no cutting; return the others."""
        to_cut = []
        for op in jp.outputs:
            if op.source == "published" and jp.status != "generate":
                self.outcome.reused += 1  # already in dist/latest, as the lock says
                continue
            record = op.record if op.source == "cache" and jp.status != "generate" else None
            if record is None and op.source == "dist" and jp.status != "generate":
                record = self._adopt(jp, op)
            if record is None:
                to_cut.append(op)
            else:
                self.outcome.reused += 1
                self.outcome.records[op.target.path] = record
        return to_cut

    def _done(self, op: OutputPlan, record: Record) -> None:
        self.outcome.records[op.target.path] = record
        self.outcome.derived += 1

    async def _cut_all(self, master: Record, cut: list[OutputPlan]) -> None:
        async with self.cpu:
            made = await self.cutter.cut(master, [op.target for op in cut])
        stored, error = await asyncio.to_thread(self._store, master, cut, made.outputs)
        for op, record in zip(cut, stored, strict=False):
            self._done(op, record)
        failed = made.error if error is None else error
        if failed is not None:
            raise _failure(cut[len(stored)].target, failed)

    def _store(
        self, master: Record, cut: list[OutputPlan], outputs: list[bytes]
    ) -> tuple[list[Record], BaseException | None]:
        """Put the outputs cut so far in the cache, in order; stop at the first that
        cannot be stored and return why."""
        stored = []
        for op, data in zip(cut, outputs, strict=False):
            try:
                meta = _output_meta(master, op.target, master.spec)
                stored.append(self.cache.put(op.cache_key, data, meta))
            except Exception as exc:
                return stored, exc
        return stored, None

    def _adopt(self, jp: JobPlan, op: OutputPlan) -> Record | None:
        entry = self.lock[op.target.path]  # its shape is the target's (plan.py)
        source = self.published / op.target.path
        meta = _output_meta(entry, op.target, jp.job.spec.canonical())
        return self.cache.adopt(op.cache_key, source, entry.sha256, meta)


def _failure(t: OutputTarget, exc: BaseException) -> BaseException:
    """What a job fails with when output `t` could not be cut (or stored): the disk's or
    memory's error as it is, the image's named by the output's path."""
    if isinstance(exc, CutError):
        return BrandkitError(f"{t.path}: could not be cut from its master image ({exc})")
    return exc


def _is_master(master: Record, t: OutputTarget) -> bool:
    return (master.format, master.width, master.height) == (t.format, t.width, t.height)


def _output_meta(source: Record | LockEntry, t: OutputTarget, spec: dict[str, Any]) -> RecordMeta:
    """What the cache records of output `t`, from what it was cut from (or published as);
    `spec` is the canonical JSON of the job's GenerationSpec (a serialisation edge)."""
    return RecordMeta(
        width=t.width,
        height=t.height,
        format=t.format,
        provider=source.provider,
        model=source.model,
        seed=source.seed,
        cost_usd=source.cost_usd,
        credits=source.credits,
        spec=spec,
    )
