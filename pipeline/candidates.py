"""Candidates and approval: which master each job publishes (DESIGN "Candidates, review
and approval").

A job with `candidates: N` has N candidate masters; candidate 1's content key is the
job's key, candidate i > 1 adds `"candidate": i` (keys.content_key). When the manifest
sets a seed, candidate i asks the provider for seed + i - 1 (mod 2**32), so candidates
differ in what they ask for as well as in their keys.

What a job publishes, its **live** key, follows from the lock:
- `candidate` on the job's lock lines: the chosen candidate (1 unless picked; a number
  above the job's count falls back to 1);
- `approved_key`: once set, the approved master stays live until `approve` records
  another: a job whose chosen candidate is not the approved one is **held** (its inputs
  changed, or someone picked another candidate);
- `approval: required`: a job with no approval is **pending**: built, not published.
A job that is not published has no lock lines: its pick is kept in
`.brandkit/picks.json` (job key -> candidate) until it is.

This module turns expanded jobs into the jobs plan sees: one live job per job (its
outputs cut from the live master) and one master-only job (no outputs) per candidate
that is not live, so build pays for and caches every candidate.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from .fsutil import atomic_write
from .jobs import Job
from .keys import content_key
from .lockfile import LockEntry

SEED_MODULUS = 2**32  # the schema's seed range: 0 .. 4294967295
PICKS_FILE = "picks.json"


@dataclass(frozen=True, slots=True)
class Choice:
    """One expanded job and what it publishes. `keys[i - 1]` is candidate i's key."""

    job: Job
    keys: tuple[str, ...]
    chosen: int = 1
    approved_key: str | None = None
    required: bool = False  # approval: required

    @property
    def chosen_key(self) -> str:
        return self.keys[self.chosen - 1]

    @property
    def approved(self) -> bool:
        """The chosen candidate is the approved one."""
        return self.approved_key is not None and self.approved_key == self.chosen_key

    @property
    def held(self) -> bool:
        """Approved, but the chosen candidate is another: the approved master stays live."""
        return self.approved_key is not None and self.approved_key != self.chosen_key

    @property
    def pending(self) -> bool:
        """approval: required and nothing approved: nothing published."""
        return self.required and self.approved_key is None

    @property
    def live_key(self) -> str | None:
        if self.approved_key is not None:
            return self.approved_key
        return None if self.required else self.chosen_key

    @property
    def state(self) -> str:
        """approved | held | pending | open (no approval, none required)."""
        if self.held:
            return "held"
        if self.approved:
            return "approved"
        return "pending" if self.pending else "open"

    def candidate_of(self, key: str) -> int | None:
        """Which candidate (1-based) a key is, if it is one of this job's."""
        return self.keys.index(key) + 1 if key in self.keys else None


def candidate_job(job: Job, i: int) -> Job:
    """Candidate i of a job, as a master-only job (no outputs): its key, and its seed
    moved by i - 1 when the manifest set one."""
    spec = job.spec
    if i > 1 and spec.seed is not None:
        spec = replace(spec, seed=(spec.seed + i - 1) % SEED_MODULUS)
    key = content_key(job.provider, job.model, job.spec, i)
    return replace(job, key=key, spec=spec, outputs=())


def candidate_keys(job: Job) -> tuple[str, ...]:
    return (
        job.key,
        *(content_key(job.provider, job.model, job.spec, i) for i in range(2, job.candidates + 1)),
    )


def choose(
    jobs: list[Job],
    lock: dict[str, LockEntry],
    required: set[str] | None = None,
    picks: dict[str, int] | None = None,
) -> list[Choice]:
    """Each job's choice, from its lock lines (or `picks` when it has none). `required`:
    the assets whose approval is required."""
    choices = []
    for job in jobs:
        keys = candidate_keys(job)
        lines = [lock[o.path] for o in job.outputs if o.path in lock]
        chosen = lines[0].candidate if lines else (picks or {}).get(job.key, 1)
        approved = next((e.approved_key for e in lines if e.approved_key), None)
        choices.append(
            Choice(
                job=job,
                keys=keys,
                chosen=chosen if 1 <= chosen <= len(keys) else 1,
                approved_key=approved,
                required=job.asset in (required or set()),
            )
        )
    return choices


def plan_jobs(choices: list[Choice]) -> list[Job]:
    """The jobs plan sees: each live job first (manifest order), then every candidate
    master that is not live, with no outputs."""
    live: list[Job] = []
    extra: list[Job] = []
    for c in choices:
        key = c.live_key
        if key == c.job.key:  # candidate 1, as a kit without candidates has it
            live.append(c.job)
        elif key is not None:
            i = c.candidate_of(key)
            job = c.job if i is None else candidate_job(c.job, i)
            live.append(replace(job, key=key, outputs=c.job.outputs))
        extra.extend(candidate_job(c.job, i) for i, k in enumerate(c.keys, 1) if k != key)
    return live + extra


def lock_fields(choice: Choice) -> dict[str, object]:
    """What the lock records of a job on each of its output lines."""
    return {
        "candidate": choice.chosen,
        "candidates": len(choice.keys),
        "approved_key": choice.approved_key,
    }


def read_picks(cache_dir: Path) -> dict[str, int]:
    """The picks of jobs that have no lock lines (not published), by job key."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((cache_dir / PICKS_FILE).read_text())
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if isinstance(v, int) and 1 <= v <= 8}
    return {}


def write_picks(cache_dir: Path, picks: dict[str, int]) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(cache_dir / PICKS_FILE, json.dumps(picks, sort_keys=True).encode())
