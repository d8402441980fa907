"""The derive stage over the cache: every output of a job, from its cached master.

An output is reused (already cached, or in dist/latest as the lock says), adopted from
the published tree, aliased (an output that is the master itself shares its blob) or
cut from the master's bytes by derive.py. Cutting holds a CPU slot for as long as the
master's bytes are in memory, so at most a few masters are held at once however many
jobs finish together; it runs in worker threads (Pillow releases the GIL).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import Cache, Record, RecordMeta
from .errors import BrandkitError
from .jobs import OutputTarget
from .lockfile import LockEntry
from .plan import JobPlan, OutputPlan
from .results import Outcome, describe


@dataclass
class Realiser:
    cache: Cache
    lock: dict[str, LockEntry]  # the plan's: what dist/latest holds
    published: Path  # the current dist/latest
    outcome: Outcome  # counts and records go here
    cpu: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(max(1, min(4, os.cpu_count() or 1)))
    )

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
            master_bytes = await asyncio.to_thread(self.cache.read, master)
            for op in cut:
                self._done(op, await asyncio.to_thread(self._cut, master, master_bytes, op))

    def _adopt(self, jp: JobPlan, op: OutputPlan) -> Record | None:
        entry = self.lock[op.target.path]  # its shape is the target's (plan.py)
        source = self.published / op.target.path
        meta = _output_meta(entry, op.target, jp.job.spec.canonical())
        return self.cache.adopt(op.cache_key, source, entry.sha256, meta)

    def _cut(self, master: Record, data: bytes, op: OutputPlan) -> Record:
        from .derive import derive

        t = op.target
        meta = _output_meta(master, t, master.spec)
        if _is_master(master, t):  # the master itself (its blob was gone): same bytes
            return self.cache.put(op.cache_key, data, meta)
        try:
            cut = derive(
                data, t.width, t.height, t.format,
                fit=t.fit, ico_sizes=t.ico_sizes, text=t.text,
            )
        except (OSError, MemoryError):
            raise
        except Exception as exc:  # Pillow on bytes a provider sent: the image's fault
            raise BrandkitError(
                f"{t.path}: could not be cut from its master image ({describe(exc)})"
            ) from exc
        return self.cache.put(op.cache_key, cut, meta)


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
