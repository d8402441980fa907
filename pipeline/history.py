"""versions, diff and gc: reading and pruning the published history."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from .cache import Cache
from .errors import BrandkitError, UsageError
from .index import IndexEntry, entries
from .jobs import Job
from .moves import Move, version_moves
from .plan import cache_key_for
from .project import Project


@dataclass
class VersionInfo:
    name: str
    created: str | None
    outputs: int
    latest: bool


def versions(project: Project) -> list[VersionInfo]:
    latest = project.latest_version()
    out = []
    for name in project.versions():
        index = project.read_index(name) or {}
        out.append(
            VersionInfo(name, index.get("created"), len(index.get("outputs", [])), name == latest)
        )
    return out


@dataclass
class Diff:
    a: str | None  # None: b is the first version, there is nothing to compare it with
    b: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    moved: list[Move] = field(default_factory=list)  # the same image at a new path
    old: dict[str, IndexEntry] = field(default_factory=dict, repr=False)  # a's outputs
    new: dict[str, IndexEntry] = field(default_factory=dict, repr=False)  # b's outputs


def diff(project: Project, a: str | None = None, b: str | None = None) -> Diff:
    names = project.versions()
    b = _resolve(project, b or "latest", names)
    if a is None:
        earlier = [n for n in names if int(n[1:]) < int(b[1:])]
        if not earlier:
            return Diff(None, b)
        a = earlier[-1]
    a = _resolve(project, a, names)
    old, new = entries(project.read_index(a)), entries(project.read_index(b))
    moved, added, removed = version_moves(old, new)
    return Diff(
        a,
        b,
        added=added,
        removed=removed,
        changed=sorted(p for p in set(old) & set(new) if old[p].sha256 != new[p].sha256),
        moved=moved,
        old=old,
        new=new,
    )


def resolve(project: Project, name: str) -> str:
    """A version as the user names it (`latest`, `3`, `v3`, `v0003`); exit 2 if none."""
    return _resolve(project, name, project.versions())


def _resolve(project: Project, name: str, names: list[str]) -> str:
    if name == "latest":
        latest = project.latest_version()
        if latest is None:
            raise BrandkitError("no version has been published yet (run brandkit build)")
        return latest
    if name.isdigit() or (name[:1] == "v" and name[1:].isdigit()):
        name = f"v{int(name.lstrip('v')):04d}"  # 3, v3 and v0003 all name v0003
    if name not in names:
        raise UsageError(f"no version {name!r}; published: {', '.join(names) or 'none'}")
    return name


def _outputs(project: Project, version: str) -> dict[str, str]:
    return {path: e.sha256 for path, e in entries(project.read_index(version)).items()}


@dataclass
class GcResult:
    removed_versions: list[str]
    removed_blobs: int
    freed_bytes: int
    dry_run: bool = False  # then nothing was removed: this is what would go


def gc(
    project: Project, cache: Cache, live_jobs: list[Job], keep: int, *, dry_run: bool = False
) -> GcResult:
    """Keep the newest `keep` versions (and latest); drop cache entries nobody needs.
    `dry_run`: delete nothing, say what would go."""
    if keep < 1:
        raise UsageError("--keep must be at least 1 (the latest version is always kept)")
    names = project.versions()
    latest = project.latest_version()
    kept = set(names[-keep:]) | ({latest} if latest else set())
    removed = [n for n in names if n not in kept]
    # What the kept versions hold, read first: a damaged index stops gc before it deletes.
    referenced = {sha for n in kept for sha in _outputs(project, n).values()}
    for name in [] if dry_run else removed:
        folder = project.dist / name
        if folder.is_symlink():  # never followed: the link goes, what it points at stays
            folder.unlink()
        else:  # read-only files go: their folder is writable (links inside: unlinked)
            shutil.rmtree(folder)
    live_keys = {j.key for j in live_jobs}
    live_keys |= {cache_key_for(j.key, o) for j in live_jobs for o in j.outputs}
    in_use = set(referenced)
    for key in cache.all_keys():
        sha = (cache.index.get(key) or {}).get("sha256")
        if key in live_keys or sha in referenced:
            in_use.add(str(sha))
        elif not dry_run:
            cache.forget(key)
    count, freed = 0, 0
    for blob in _blobs(cache):
        if blob.name not in in_use:
            freed += blob.stat(follow_symlinks=False).st_size
            if not dry_run:
                os.unlink(blob.path)  # a name in the cache's own folder: never a link's target
            count += 1
    return GcResult(removed, count, freed, dry_run)


def _blobs(cache: Cache) -> list[os.DirEntry[str]]:
    """Every entry of the cache's blob folders, following no symlink: a link planted in
    place of a folder is not walked (nothing outside the cache is ever deleted)."""
    if cache.blobs.is_symlink() or not cache.blobs.is_dir():
        return []
    found: list[os.DirEntry[str]] = []
    with os.scandir(cache.blobs) as folders:
        for folder in folders:
            if folder.is_dir(follow_symlinks=False):
                with os.scandir(folder.path) as entries:
                    found.extend(e for e in entries if not e.is_dir(follow_symlinks=False))
    return found
