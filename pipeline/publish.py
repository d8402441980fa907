"""publish: gather every output, then write an immutable `dist/vNNNN/` in one rename.

The version is assembled in a hidden staging folder (files hard-linked from the cache),
with its `index.json` and `index.html`, renamed into place, then `dist/latest` is swapped
atomically and `brandkit.lock` rewritten. A build that changes nothing writes no version.

Every file is verified against the sha256 it is published under before it is linked (a
blob or a carried file with other bytes, or a symlink, is refused), and a build whose
outputs are unchanged but whose dist/latest no longer holds them (a file edited by hand)
publishes them again as a new version rather than call the tree current. Numbers are
written as strict JSON: a cost that is not a finite number is unknown (null).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import __version__
from .approval import with_choices
from .cache import Cache, Record
from .contact_sheet import render_contact_sheet
from .errors import BrandkitError
from .fsutil import atomic_write, fsync_dir
from .index import IndexEntry, entries
from .lockfile import LockEntry, finite, lock_digest, render_lock, whole, write_lock
from .manifest import Manifest
from .plan import JobPlan, OutputPlan, Plan
from .project import Project
from .results import Outcome


@dataclass(frozen=True, slots=True)
class _Output:
    """An output of the version being published, and where its bytes come from."""

    entry: IndexEntry
    carried: bool  # linked from dist/latest as published (else from the cache blob)


@dataclass
class Published:
    version: str | None  # the new version, or None when nothing changed
    entries: dict[str, LockEntry]
    lock_written: bool


def publish(
    project: Project, manifest: Manifest, plan: Plan, outcome: Outcome, cache: Cache
) -> Published:
    index = project.read_index()
    current = entries(index)
    outputs = _gather(plan, outcome, current)
    locked = with_choices(plan, {path: _lock_entry(o.entry) for path, o in outputs.items()})
    lock = render_lock(locked)
    same = index is not None and _same(current, outputs)
    edited = _edited(project, outputs, cache) if same else []
    if edited:
        cache.warn(
            f"{len(edited)} output(s) in dist/latest no longer held the bytes the lock names "
            f"(edited by hand?), e.g. {edited[0]}; publishing them again from the cache"
        )
    elif same:
        written = write_lock(project.lock, lock)
        project.vouch(project.latest_version(), lock_digest(lock))
        return Published(None, locked, written)
    version = _next_version(project)
    _write_version(project, manifest, version, outputs, cache)
    _point_latest(project, version)
    written = write_lock(project.lock, lock)
    project.vouch(version, lock_digest(lock))
    return Published(version, locked, written)


def _gather(plan: Plan, outcome: Outcome, previous: dict[str, IndexEntry]) -> dict[str, _Output]:
    """The new version's outputs by path, each with where its file comes from."""
    outputs: dict[str, _Output] = {}
    if plan.only:  # a partial build keeps everything else as it was
        gone = {e.path for e in plan.removed}  # (pick/approve: outputs now unapproved)
        outputs = {p: _Output(e, carried=True) for p, e in previous.items() if p not in gone}
    for jp in plan.jobs:
        for op in jp.outputs:
            record: Record | None = outcome.records.get(op.target.path)
            if record is None and op.source == "published":  # unchanged: as published
                entry = previous.get(op.target.path) or op.published
                if entry is None:
                    raise BrandkitError(f"{op.target.path}: dist/latest changed during the build")
                entry = replace(entry, asset=op.asset, transform=op.target.transform_digest())
                outputs[op.target.path] = _Output(entry, carried=True)
                continue
            if record is None:  # no job made it, and it is not published: never guess
                raise BrandkitError(f"{op.target.path}: no image was made; nothing published")
            made, before = _made(jp, op, record), previous.get(op.target.path)
            if before is not None and (before.sha256, before.key) == (made.sha256, made.key):
                # The very image dist/latest holds (a --force whose provider gave the same
                # bytes with another seed): as published, so the lock still matches it.
                made = replace(before, asset=op.asset, transform=made.transform)
            outputs[op.target.path] = _Output(made, carried=False)
    return dict(sorted(outputs.items()))


def _made(jp: JobPlan, op: OutputPlan, record: Record) -> IndexEntry:
    """The index entry of an output this build took from the cache."""
    return IndexEntry(
        path=op.target.path,
        asset=op.asset,
        key=jp.job.key,
        sha256=record.sha256,
        width=record.width,
        height=record.height,
        format=op.target.format,
        provider=record.provider or jp.job.provider,
        model=record.model or jp.job.model,
        seed=whole(record.seed),
        cost_usd=finite(record.cost_usd),
        credits=finite(record.credits),
        prompt=jp.job.spec.prompt,
        spec=jp.job.spec.canonical(),
        size=record.size,
        transform=op.target.transform_digest(),
    )


def _lock_entry(o: IndexEntry) -> LockEntry:
    return LockEntry(
        path=o.path,
        key=o.key,
        sha256=o.sha256,
        width=o.width,
        height=o.height,
        format=o.format,
        provider=o.provider,
        model=o.model,
        seed=whole(o.seed),
        cost_usd=finite(o.cost_usd),
        credits=finite(o.credits),
        size=whole(o.size),
        transform=o.transform,
    )


def _edited(project: Project, outputs: dict[str, _Output], cache: Cache) -> list[str]:
    """Outputs taken from the cache (not carried as published) whose file in dist/latest
    does not hold their bytes: a version that changes nothing would leave them wrong."""
    latest, hashes = project.latest, cache.hashes
    return [
        path
        for path, o in outputs.items()
        if not o.carried and hashes.sha256(latest / path) != o.entry.sha256
    ]


def _same(current: dict[str, IndexEntry], outputs: dict[str, _Output]) -> bool:
    before = {p: (e.sha256, e.key) for p, e in current.items()}
    return before == {p: (o.entry.sha256, o.entry.key) for p, o in outputs.items()}


def _next_version(project: Project) -> str:
    versions = project.versions()
    return f"v{int(versions[-1][1:]) + 1 if versions else 1:04d}"


def _write_version(
    project: Project, manifest: Manifest, version: str, outputs: dict[str, _Output], cache: Cache
) -> None:
    project.dist.mkdir(parents=True, exist_ok=True)
    for stale in project.dist.glob(".staging-*"):  # left by a build that was killed
        if stale.is_symlink():
            stale.unlink()  # the link, never what it points at
        else:
            shutil.rmtree(stale, ignore_errors=True)
    staging = project.dist / f".staging-{version}-{os.getpid()}"
    staging.mkdir()
    try:
        previous, hashes = project.latest, cache.hashes
        for path, o in outputs.items():
            sha = o.entry.sha256
            source = (previous / path) if o.carried else cache.blob_path(sha)
            if hashes.sha256(source) != sha:
                raise BrandkitError(_unverified(path, o.carried))
            _link(source, staging / path)
            hashes.remember(staging / path, sha)
        index = _index(manifest, version, outputs)
        atomic_write(staging / "index.json", index_json(index).encode())
        sheet = render_contact_sheet(index, manifest, previous)  # badges: changed since
        atomic_write(staging / "index.html", sheet.encode())
        os.rename(staging, project.dist / version)
        fsync_dir(project.dist)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _unverified(path: str, carried: bool) -> str:
    if carried:
        return (
            f"dist/latest/{path} does not hold the bytes brandkit.lock names (edited by "
            "hand, or not a regular file); nothing was published; run a full "
            "`brandkit build` (without --only) to publish it again"
        )
    return (
        f"{path}: its cache blob changed while the build ran (it no longer holds the "
        "bytes it was stored with); nothing was published; run brandkit build again"
    )


_NO_HARD_LINKS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.ENOSYS}


def _link(source: Path, dest: Path) -> None:
    """Hard-link from the cache (the blobs are read-only); copy across file systems. A
    symlink is never followed: what is linked is the verified file itself."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise  # a full disk or a permission problem is not a reason to copy
        shutil.copyfile(source, dest, follow_symlinks=False)
        os.chmod(dest, 0o444, follow_symlinks=False)


def _index(manifest: Manifest, version: str, outputs: dict[str, _Output]) -> dict[str, Any]:
    """index.json's content, as JSON values (what is written, and what the sheet shows)."""
    return {
        "kit": manifest.kit.get("name"),
        "kit_version": manifest.kit.get("version"),
        "version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tool": f"brandkit {__version__}",
        "brand": {"name": manifest.brand.get("name"), "colors": manifest.brand.get("colors") or {}},
        "outputs": [o.entry.as_json() for o in outputs.values()],
    }


def index_json(index: dict[str, Any]) -> str:
    """index.json: the top indented, each output on a line of its own. (indent= for the
    whole would force json's pure-Python encoder: 90 ms of a 300-output publish.)
    Strict JSON: a NaN or infinity anywhere is written as null."""
    try:
        return _index_json(index)
    except ValueError:  # a non-finite number slipped in: never written as NaN
        return _index_json(_strict(index))


def _strict(value: Any) -> Any:
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def _index_json(index: dict[str, Any]) -> str:
    outputs = index["outputs"]
    head = json.dumps({k: v for k, v in index.items() if k != "outputs"}, indent=2, allow_nan=False)
    encode = json.JSONEncoder(allow_nan=False).encode
    lines = ",\n".join(f"    {encode(o)}" for o in outputs)
    body = f"[\n{lines}\n  ]" if outputs else "[]"
    return f'{head[:-2]},\n  "outputs": {body}\n}}\n'


def _point_latest(project: Project, version: str) -> None:
    """Swap dist/latest to the new version in one rename of a fresh symlink."""
    tmp = project.dist / f".latest-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(version, tmp)
    os.replace(tmp, project.latest)
    fsync_dir(project.dist)
