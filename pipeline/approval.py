"""Approval over a plan: mark each JobPlan with its job's choice (candidates.py), show
held jobs as `held`, and say what is waiting for review (status, build, pick, approve).

What a plan exposes for the review page and `plan --json` (docs/architecture.md):
`Plan.choices` (one Choice per expanded job: its candidate keys, chosen, approved_key,
state) and on each JobPlan `choice` and `candidate` (which candidate its master is;
None for an approved master of the job's earlier inputs).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .cache import Cache
from .candidates import Choice, choose, lock_fields, plan_jobs, read_picks
from .errors import BrandkitError
from .jobs import Job
from .lockfile import LockEntry
from .manifest import Manifest
from .plan import JobPlan, Plan, make_plan
from .project import Project
from .selectors import selector_of


def required_assets(manifest: Manifest) -> set[str]:
    return {a.id for a in manifest.assets if a.settings.approval == "required"}


def choices_for(
    project: Project, manifest: Manifest, jobs: list[Job], lock: dict[str, LockEntry]
) -> list[Choice]:
    return choose(jobs, lock, required_assets(manifest), read_picks(project.cache_dir))


def plan_with_choices(
    project: Project,
    manifest: Manifest,
    jobs: list[Job],
    cache: Cache,
    lock: dict[str, LockEntry],
    choices: list[Choice] | None = None,
    **options: object,
) -> Plan:
    """make_plan over the live and candidate jobs of `choices` (by default, the lock's)."""
    if choices is None:
        choices = choices_for(project, manifest, jobs, lock)
    the_plan = make_plan(project, plan_jobs(choices), cache, lock, **options)  # type: ignore[arg-type]
    annotate(the_plan, choices)
    return the_plan


def annotate(the_plan: Plan, choices: list[Choice]) -> None:
    """Each JobPlan's choice and candidate; a held job's reuse is `held`. A held job
    whose approved image is gone (not cached, not published) cannot be made again from
    today's inputs: an error that says what to do (never a silent loss of the approval)."""
    the_plan.choices = choices
    live = {c.live_key: c for c in choices if c.live_key is not None}
    masters = {k: (c, i) for c in choices for i, k in enumerate(c.keys, 1)}
    for jp in the_plan.jobs:
        key = jp.job.key
        if jp.job.outputs and key in live:
            c = jp.choice = live[key]
            jp.candidate = c.candidate_of(key)
            if c.held and jp.candidate is None and jp.status == "generate":
                _keep_published(the_plan, jp, c)  # never made again from today's inputs
            if c.held and jp.status == "reuse":
                jp.status = "held"
                jp.reason = f"approved image stays live; candidate {c.chosen} awaits approval"
        elif key in masters:
            jp.choice, jp.candidate = masters[key]
            jp.reason = f"candidate {jp.candidate} of {len(jp.choice.keys)}" + (
                f" ({jp.reason})" if jp.status == "generate" and jp.reason != "new" else ""
            )


def _keep_published(the_plan: Plan, jp: JobPlan, c: Choice) -> None:
    """A held job's approved outputs as published (`--force` regenerates candidates,
    never an approved image of earlier inputs); an error when they are not there."""
    lock = the_plan.lock
    if not the_plan.force or any(
        o.target.path not in lock or lock[o.target.path].key != jp.job.key for o in jp.outputs
    ):
        raise BrandkitError(_lost(c))
    jp.status, jp.reason = "held", "approved image stays live (--force regenerates candidates)"
    for o in jp.outputs:
        o.source = "published"


def _lost(c: Choice) -> str:
    name = selector_of(c.job)
    return (
        f"{name} is approved, but its approved image is neither in the cache nor in "
        f"dist/latest, and its inputs changed, so it cannot be made again; restore "
        f"dist/ or .brandkit/, or run brandkit unapprove {name} (then pick and approve "
        "a new candidate)"
    )


@dataclass
class Waiting:
    """What waits for a person: held and pending jobs, by canonical selector."""

    held: list[str]
    pending: list[str]

    def lines(self) -> list[str]:
        out = [f"held: {s} (approved image live; pick and approve a new one)" for s in self.held]
        out += [f"awaiting approval: {s} (not published)" for s in self.pending]
        return out

    @property
    def advice(self) -> str:
        return (
            "run brandkit review to compare candidates, then brandkit pick SELECTOR N "
            "and brandkit approve SELECTOR"
        )


def waiting(choices: list[Choice]) -> Waiting:
    held = [selector_of(c.job) for c in choices if c.held]
    pending = [selector_of(c.job) for c in choices if c.pending]
    return Waiting(held=list(dict.fromkeys(held)), pending=list(dict.fromkeys(pending)))


def notes(the_plan: Plan) -> list[str]:
    """What build says about held and unpublished jobs (stderr)."""
    w = waiting(the_plan.choices)
    out = []
    if w.held:
        out.append(
            f"{len(w.held)} job(s) held, their approved images stay live: "
            f"{', '.join(w.held[:5])}; {w.advice}"
        )
    if w.pending:
        n = sum(len(c.job.outputs) for c in the_plan.choices if c.pending)
        out.append(
            f"approval required: {n} output(s) of {len(w.pending)} job(s) not published "
            f"until approved: {', '.join(w.pending[:5])}; {w.advice}"
        )
    return out


def with_choices(the_plan: Plan, locked: dict[str, LockEntry]) -> dict[str, LockEntry]:
    """The lock entries publish writes, with each job's candidate, candidates and
    approved_key; an output carried as published keeps what its lock line said."""
    extras: dict[str, dict[str, object]] = {}
    for jp in the_plan.jobs:
        if jp.choice is not None:
            for o in jp.outputs:
                extras.setdefault(o.target.path, lock_fields(jp.choice))
    out = {}
    for path, entry in locked.items():
        extra = extras.get(path)
        old = the_plan.lock.get(path)
        if extra is None and old is not None and old.key == entry.key:
            extra = lock_fields_of(old)
        out[path] = replace(entry, **extra) if extra else entry  # type: ignore[arg-type]
    return out


def lock_fields_of(entry: LockEntry) -> dict[str, object]:
    return {
        "candidate": entry.candidate,
        "candidates": entry.candidates,
        "approved_key": entry.approved_key,
    }
