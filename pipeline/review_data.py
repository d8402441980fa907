"""What the review page shows, gathered from what exists: the manifest's jobs, the cache
(each candidate's master), the lock (what is published, chosen and approved) and dist.

DESIGN "Candidates, review and approval". Per job: its canonical selector, its status
(`held`, `new`, `changed`, `current`), its prompt, every candidate (generated or not;
chosen and approved marked) and, where what is published is not what the job would
publish now, the image published before. Images are named by where they come from (a
cache blob or a file of dist) so the page module can make small previews of them; this
module reads and never writes.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .cache import Cache, Record
from .jobs import Job
from .keys import content_key
from .lockfile import LockEntry
from .project import Project
from .selectors import job_ratio, selector_of

STATUS_ORDER = ("held", "new", "changed", "current")  # what needs a person first
RASTER = ("png", "jpg", "webp")


@dataclass(frozen=True, slots=True)
class Picture:
    """An image the page shows: its bytes' origin (a cache blob or a file of dist), what
    they hold, and the preview's path relative to dist/ (`review/<key>-<sha>.<ext>`)."""

    source: Path
    sha256: str
    width: int
    height: int
    format: str
    name: str  # the preview's file name under dist/review/

    @property
    def image(self) -> str:
        return f"review/{self.name}"


@dataclass(frozen=True, slots=True)
class ReviewCandidate:
    index: int  # 1-based, as `brandkit pick SELECTOR N` takes it
    key: str  # its content key
    chosen: bool
    approved: bool
    picture: Picture | None  # None: not generated yet (a build pays for it)

    @property
    def generated(self) -> bool:
        return self.picture is not None


@dataclass(frozen=True, slots=True)
class Previous:
    """What is published for a job now (or was, in the version before), shown beside it."""

    label: str  # "published (v0003)"
    picture: Picture


@dataclass
class ReviewJob:
    selector: str
    key: str
    asset: str
    matrix: tuple[tuple[str, str], ...]
    ratio: str
    status: str  # held | new | changed | current
    width: int  # the native size its candidates are generated at
    height: int
    prompt: str
    provider: str
    model: str
    outputs: list[str]
    candidates: list[ReviewCandidate] = field(default_factory=list)
    previous: Previous | None = None

    @property
    def approved(self) -> bool:
        return any(c.approved for c in self.candidates)


@dataclass
class ReviewData:
    title: str
    kit: str
    version: str | None  # dist/latest's version, if any
    assets: list[str]  # manifest order
    jobs: list[ReviewJob]
    command: str = "brandkit"  # how the page's commands start (-f when not brandkit.yaml)

    def by_status(self, status: str) -> list[ReviewJob]:
        return [j for j in self.jobs if j.status == status]


class ChoiceLike(Protocol):
    """What the candidates engine decides for a job (candidates.Choice): the review page
    reads these and nothing else of it."""

    @property
    def keys(self) -> tuple[str, ...]: ...
    @property
    def chosen(self) -> int: ...
    @property
    def approved_key(self) -> str | None: ...
    @property
    def held(self) -> bool: ...


def candidate_count(job: Job, entries: list[LockEntry]) -> int:
    """The job's candidates: the manifest's `candidates` (once the engine carries it on
    the job), or as many as the lock records, at least 1."""
    wanted = getattr(job, "candidates", 1)
    recorded = max((e.candidates for e in entries), default=1)
    return max(1, int(wanted) if isinstance(wanted, int) else 1, recorded)


def candidate_key(job: Job, index: int) -> str:
    return job.key if index == 1 else content_key(job.provider, job.model, job.spec, index)


def gather(
    project: Project,
    jobs: list[Job],
    cache: Cache,
    lock: dict[str, LockEntry],
    *,
    title: str,
    kit: str,
    assets: list[str],
    held: set[str] | None = None,
    choices: Mapping[str, ChoiceLike] | None = None,
) -> ReviewData:
    """The review page's data. `choices`: the candidates engine's Choice per job key
    (its word on candidates, chosen, approved and held), when it has one; `held`: keys of
    jobs the plan reports held. Without them, from the lock: a job is held when it was
    approved and none of its candidates is the approved master any more."""
    version = project.latest_version()
    previous_index = _previous_outputs(project, version)
    order = {a: i for i, a in enumerate(assets)}
    found = [
        _job(project, job, cache, lock, previous_index, held or set(), (choices or {}).get(job.key))
        for job in sorted(jobs, key=lambda j: order.get(j.asset, len(order)))
    ]
    found.sort(key=lambda j: STATUS_ORDER.index(j.status))  # stable: manifest order within
    command = "brandkit"
    if project.manifest.name != "brandkit.yaml":
        command += " -f " + shlex.quote(project.manifest.relative_to(project.root).as_posix())
    return ReviewData(
        title=title, kit=kit, version=version, assets=assets, jobs=found, command=command
    )


def _job(
    project: Project,
    job: Job,
    cache: Cache,
    lock: dict[str, LockEntry],
    previous_index: dict[str, tuple[str, str]],
    held: set[str],
    choice: ChoiceLike | None = None,
) -> ReviewJob:
    entries = [e for o in job.outputs if (e := lock.get(o.path)) is not None]
    if choice is not None:
        keys, chosen, approved_key = list(choice.keys), choice.chosen, choice.approved_key
        if choice.held:
            held = held | {job.key}
    else:
        n = candidate_count(job, entries)
        keys = [candidate_key(job, i) for i in range(1, n + 1)]
        chosen = max((e.candidate for e in entries), default=1)
        approved_key = next((e.approved_key for e in entries if e.approved_key), None)
    candidates = [
        ReviewCandidate(
            index=i,
            key=key,
            chosen=i == chosen,
            approved=key == approved_key,
            picture=_master_picture(cache, key) or _published_picture(project, entries, key),
        )
        for i, key in enumerate(keys, 1)
    ]
    status = _status(job, entries, set(keys), approved_key, held)
    return ReviewJob(
        selector=selector_of(job),
        key=job.key,
        asset=job.asset,
        matrix=job.matrix,
        ratio=job_ratio(job),
        status=status,
        width=job.spec.width,
        height=job.spec.height,
        prompt=job.spec.prompt,
        provider=job.provider,
        model=job.model,
        outputs=[o.path for o in job.outputs],
        candidates=candidates,
        previous=_previous(project, job, cache, entries, set(keys), previous_index),
    )


def _status(
    job: Job,
    entries: list[LockEntry],
    keys: set[str],
    approved_key: str | None,
    held: set[str],
) -> str:
    if job.key in held or (approved_key is not None and approved_key not in keys):
        return "held"
    if not entries:
        return "new"
    if any(e.key not in keys for e in entries):
        return "changed"
    return "current"


def _master_picture(cache: Cache, key: str) -> Picture | None:
    record = cache.get(key)
    if record is None:
        return None
    return _picture(cache.blob_path(record.sha256), record.sha256, record, key)


def _published_picture(project: Project, entries: list[LockEntry], key: str) -> Picture | None:
    """Where the cache does not hold a master (a fresh clone, a cleared cache): the
    largest output published from it, as dist/latest holds it."""
    mine = sorted((e for e in entries if e.key == key), key=lambda e: -e.width * e.height)
    for e in mine:
        picture = _picture(project.latest / e.path, e.sha256, e, key)
        if picture is not None:
            return picture
    return None


def _picture(source: Path, sha256: str, dims: Record | LockEntry, key: str) -> Picture | None:
    """A picture of `source` (its width, height and format from `dims`), or None for a
    format no browser shows (ico) or a file that is not there."""
    fmt = dims.format
    if fmt not in (*RASTER, "svg") or not source.is_file():
        return None
    ext = "svg" if fmt == "svg" else "webp"
    return Picture(
        source=source,
        sha256=sha256,
        width=dims.width,
        height=dims.height,
        format=fmt,
        name=f"{key[:16]}-{sha256[:12]}.{ext}",
    )


def _previous(
    project: Project,
    job: Job,
    cache: Cache,
    entries: list[LockEntry],
    keys: set[str],
    previous_index: dict[str, tuple[str, str]],
) -> Previous | None:
    """For a job whose published outputs are not its candidates' (inputs changed, or
    held): the master published now. For a current job that changed in the latest
    version: the image the version before published, read from that version's folder."""
    version = project.latest_version() or "?"
    stale = [e for e in entries if e.key not in keys]
    if stale:
        picture = _master_picture(cache, stale[0].key)
        for e in stale:
            picture = picture or _picture(project.latest / e.path, e.sha256, e, e.key)
        label = "approved, published" if any(e.approved_key for e in entries) else "published"
        return Previous(f"{label} now ({version})", picture) if picture else None
    for e in entries:
        before = previous_index.get(e.path)
        if before is None or before[1] == e.sha256:
            continue
        old_version, old_sha = before
        picture = _picture(project.dist / old_version / e.path, old_sha, e, e.key)
        if picture is not None:
            return Previous(f"before ({old_version})", picture)
    return None


def _previous_outputs(project: Project, latest: str | None) -> dict[str, tuple[str, str]]:
    """The version before latest: its outputs by path, as (version, sha256)."""
    versions = project.versions()
    if latest is None or latest not in versions or versions.index(latest) == 0:
        return {}
    before = versions[versions.index(latest) - 1]
    index = project.read_index(before) or {}
    return {o["path"]: (before, o["sha256"]) for o in index.get("outputs", [])}
