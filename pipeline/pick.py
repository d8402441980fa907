"""`pick`, `approve`, `unapprove`: change jobs' choices, record them in the lock, and
publish what is now live (DESIGN "Candidates, review and approval").

Nothing is generated: every master a change makes live must already be cached (`build`
pays for every candidate), or the command stops before anything is written. The new
version is partial, like `build --only`: other outputs are carried from dist/latest as
published, and every lock line of other jobs is kept exactly as it was (a lock changed
by a merge stays intact).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .approval import choices_for, plan_with_choices
from .cache import Cache
from .candidates import Choice, read_picks, write_picks
from .errors import BrandkitError
from .lockfile import LockEntry, render_lock, write_lock
from .project import Project
from .selectors import SelectorError, select_all, selector_of
from .workflow import Loaded, build


@dataclass
class Change:
    selectors: list[str]  # as the user typed them; none: every job (approve, unapprove)
    action: str  # pick | approve | unapprove
    candidate: int | None = None  # pick's N


@dataclass
class Changed:
    jobs: list[Choice]  # the changed choices
    version: str | None  # the version published, or None when dist/latest was already it


def apply(
    loaded: Loaded,
    cache: Cache,
    env: dict[str, str],
    change: Change,
    notify: Callable[[str], None] | None = None,
) -> Changed:
    project = loaded.project
    lock = project.read_lock()
    choices = choices_for(project, loaded.manifest, loaded.jobs, lock)
    wanted = (
        {j.key for j in select_all(change.selectors, [c.job for c in choices])}
        if change.selectors
        else {c.job.key for c in choices}
    )
    new = [_changed(c, change, cache) if c.job.key in wanted else c for c in choices]
    changed = [c for c, old in zip(new, choices, strict=True) if c is not old]
    the_plan = plan_with_choices(project, loaded.manifest, loaded.jobs, cache, lock, changed)
    the_plan.jobs = [jp for jp in the_plan.jobs if jp.job.outputs]  # never a candidate master
    for jp in the_plan.jobs:
        if jp.status == "generate":
            raise BrandkitError(
                f"{selector_of(jp.choice.job if jp.choice else jp.job)}: candidate "
                f"{jp.candidate} is not generated yet (not in the cache); run brandkit "
                "build first, then run this again"
            )
    live = {o.target.path for jp in the_plan.jobs for o in jp.outputs}
    touched = {o.path for c in changed for o in c.job.outputs}
    the_plan.removed = [e for p, e in lock.items() if p in touched and p not in live]
    the_plan.only = change.action  # a partial version: everything else carried as published
    _keep_picks(project.cache_dir, changed, lock)
    result = build(loaded, cache, the_plan, env, notify=notify)
    published = result.published
    if published is None:  # an output could not be cut: nothing was written
        said = "; ".join(f"{f.job.job.asset}: {f.message}" for f in result.outcome.failures[:3])
        raise BrandkitError(f"{said}; nothing was published, the lock is unchanged")
    merged = {p: e for p, e in lock.items() if p not in touched}
    merged.update({p: e for p, e in published.entries.items() if p in touched})
    _write_merged(project, merged, published.entries)
    return Changed(changed, published.version)


def _changed(c: Choice, change: Change, cache: Cache) -> Choice:
    if change.action == "approve":
        return replace(c, approved_key=c.chosen_key)
    if change.action == "unapprove":
        return replace(c, approved_key=None)
    n = change.candidate or 1
    name = selector_of(c.job)
    if n > len(c.keys):
        raise SelectorError(
            f"{name} has {len(c.keys)} candidate(s) (1-{len(c.keys)}): there is no "
            f"candidate {n}; set candidates: {n} on the asset and build to make more"
        )
    if cache.get(c.keys[n - 1]) is None:
        raise BrandkitError(
            f"{name}: candidate {n} is not generated yet (not in the cache); run brandkit "
            "build first, then pick it"
        )
    return replace(c, chosen=n)


def _keep_picks(cache_dir: Path, changed: list[Choice], lock: dict[str, LockEntry]) -> None:
    """The picks of jobs with no lock lines (not published) go to .brandkit/picks.json."""
    picks = read_picks(cache_dir)
    before = dict(picks)
    for c in changed:
        if c.live_key is None and not any(o.path in lock for o in c.job.outputs):
            picks[c.job.key] = c.chosen
        else:
            picks.pop(c.job.key, None)
    if picks != before:
        write_picks(cache_dir, picks)


def _write_merged(
    project: Project, merged: dict[str, LockEntry], written: dict[str, LockEntry]
) -> None:
    """The lock with every other job's lines as they were. When that is not what publish
    wrote (the lock had changed, e.g. by a merge), it is written; its digest then differs
    from the one publish vouched for, so plan no longer trusts it for dist/latest."""
    if merged != written:
        write_lock(project.lock, render_lock(merged))
