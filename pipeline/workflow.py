"""The flow, end to end: load -> validate -> expand -> plan -> execute -> publish.

Each command in cli.py is one call here; each function reads top to bottom as the stages.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import fsutil
from .cache import Cache
from .errors import BrandkitError, Interrupted
from .expand import DEFAULT_MAX_JOBS, Expander
from .jobs import Job, OutputTarget
from .manifest import Manifest, load_manifest
from .moves import status_moves
from .paid_words import describe_paid_replacements, paid_choices
from .plan import KeysUnder, Plan, only_provider_differs
from .project import VERSION_RE, Project
from .reasons import CUT_CHANGED, brand_colours, explain_outputs

if TYPE_CHECKING:
    from .approval import Waiting
    from .execute import Outcome, Progress
    from .publish import Published
    from .remote_cache import RemoteCache


@dataclass
class Loaded:
    project: Project
    manifest: Manifest
    jobs: list[Job]
    warnings: list[str] = field(default_factory=list)


def load(
    project: Project,
    env: dict[str, str],
    *,
    provider: str | None = None,
    model: str | None = None,
    max_jobs: int = DEFAULT_MAX_JOBS,
) -> Loaded:
    """load + validate + expand; raises ManifestError with every problem found. `env`:
    the environment, read once by the caller (it confirms or overrides base URLs)."""
    confine(project)
    manifest = load_manifest(project.manifest, project.display, verdict=project.cache_dir / "valid")
    expander = Expander(
        manifest, provider_override=provider, model_override=model, max_jobs=max_jobs
    )
    jobs = expander.expand()
    from .providers import PROVIDERS
    from .providers.trust import base_url_notes

    notes = base_url_notes(manifest.providers, env, PROVIDERS)
    return Loaded(project, manifest, jobs, [*expander.warnings, *notes])


def confine(project: Project) -> None:
    """Refuse a tree where a symlink would lead a write or a delete out of the project:
    `.brandkit` (or its tmp, blobs, index, journal... or a blob folder) leading outside,
    `dist` leading outside the project, `dist/latest` naming anything but a version folder
    beside it, a version folder that is a symlink. A restored cache or a checkout may
    hold any of these; brandkit links, copies, writes and deletes only inside the project.
    (Links inside a version folder are never followed: publish refuses them, gc unlinks.)"""
    root = project.root
    _inside(root, project.cache_dir, ".brandkit")
    cache = project.cache_dir
    if cache.is_dir():
        for child in cache.iterdir():
            if child.is_symlink():
                raise BrandkitError(_link_message(root, child, "brandkit's cache"))
        blobs = cache / "blobs"
        if blobs.is_dir():
            for child in blobs.iterdir():
                if child.is_symlink():
                    raise BrandkitError(_link_message(root, child, "brandkit's cache"))
    _inside(root, project.dist, "dist")
    if not project.dist.is_dir():
        return
    latest = project.latest
    if latest.is_symlink():
        target = os.readlink(latest)
        if not VERSION_RE.match(target):
            raise BrandkitError(
                f"dist/latest points to {target!r}, not to a version folder inside dist/; "
                "remove it (the next build points it again)"
            )
    elif os.path.lexists(latest):
        raise BrandkitError(
            "dist/latest is not a symlink to a version folder; move it away (the next "
            "build writes it)"
        )
    for child in project.dist.iterdir():
        if VERSION_RE.match(child.name) and child.is_symlink():
            raise BrandkitError(_link_message(root, child, "a version folder"))


def _inside(root: Path, path: Path, name: str) -> None:
    if os.path.lexists(path) and not fsutil.inside(root, path):
        raise BrandkitError(
            f"{name} leads outside the project (to {os.path.realpath(path)}); brandkit "
            "writes only inside the project: make it a folder of its own"
        )


def _link_message(root: Path, path: Path, what: str) -> str:
    rel = path.relative_to(root)
    return (
        f"{rel} is a symlink (to {os.readlink(path)}); {what} must not be one, so nothing "
        "outside the project is ever written or deleted: remove the link"
    )


def plan(
    loaded: Loaded,
    cache: Cache,
    *,
    force: bool = False,
    only: str | None = None,
    remote: RemoteCache | None = None,
) -> Plan:
    from .approval import plan_with_choices

    lock = loaded.project.read_lock()
    prices = {name: s.prices for name, s in loaded.manifest.providers.items() if s.prices}
    return plan_with_choices(
        loaded.project,
        loaded.manifest,
        loaded.jobs,
        cache,
        lock,
        force=force,
        only=only,
        prices=prices,
        remote=remote,
        colours=brand_colours(loaded.manifest),
    )


@dataclass
class BuildResult:
    plan: Plan
    outcome: Outcome
    published: Published | None


def build(
    loaded: Loaded,
    cache: Cache,
    the_plan: Plan,
    env: dict[str, str],
    *,
    jobs: int | None = None,
    keep_going: bool = True,
    max_cost: float | None = None,
    progress: Progress | None = None,
    notify: Callable[[str], None] | None = None,
    replace_paid: bool = False,
    max_wait: float | None = None,
    remote: RemoteCache | None = None,
) -> BuildResult:
    """execute + publish. Nothing is published when a job failed or the build was
    interrupted: finished images stay cached and in-flight ones journaled. Outputs paid
    for at one provider are replaced by another's only when `replace_paid` says so.
    `env`: the environment, read once by the caller (keys, base URLs, retry settings)."""
    from .execute import execute
    from .publish import publish

    refuse_to_start(loaded, the_plan, env, max_cost=max_cost, replace_paid=replace_paid)
    outcome = execute(
        the_plan,
        cache,
        loaded.manifest,
        loaded.project.latest,
        jobs=jobs,
        keep_going=keep_going,
        progress=progress,
        env=env,
        notify=notify,
        max_wait=max_wait,
        remote=remote,
    )
    if outcome.interrupted:
        raise Interrupted(
            f"interrupted: {outcome.generated} generated and cached, "
            f"{outcome.pending} in flight to collect on the next build; nothing published"
        )
    if outcome.failures:
        return BuildResult(the_plan, outcome, None)
    from .approval import notes

    for note in notes(the_plan):
        (notify or (lambda message: None))(note)
    return BuildResult(
        the_plan, outcome, publish(loaded.project, loaded.manifest, the_plan, outcome, cache)
    )


def refuse_to_start(
    loaded: Loaded,
    the_plan: Plan,
    env: dict[str, str],
    *,
    max_cost: float | None,
    replace_paid: bool,
) -> None:
    """What stops a build before anything is paid for (BrandkitError): paid outputs a
    provider change would replace, a cost over --max-cost (or unknown), a missing key
    or an unconfirmed base URL, a damaged index.json (it would stop publish)."""
    replacements = the_plan.paid_replacements()
    if replacements and not replace_paid:
        raise BrandkitError(
            f"{describe_paid_replacements(replacements)} (only the provider changed); "
            f"nothing was generated: {paid_choices(replacements)}"
        )
    if max_cost is not None and the_plan.unknown_prices:
        raise BrandkitError(
            f"no price is known for {', '.join(sorted(the_plan.unknown_prices))}"
            ", so --max-cost cannot be checked; set providers.<name>.prices in "
            "the manifest; nothing was generated"
        )
    if max_cost is not None and the_plan.estimated_cost_usd > max_cost:
        raise BrandkitError(
            f"the plan's estimated cost ${the_plan.estimated_cost_usd:.2f} is over "
            f"--max-cost ${max_cost:.2f}; nothing was generated"
        )
    for provider in {j.job.provider for j in the_plan.jobs if j.status == "generate"}:
        from .providers import get_provider

        get_provider(provider).keys(env)
        settings = loaded.manifest.providers.get(provider)  # a base_url not confirmed: refuse
        get_provider(provider).base_url(settings.base_url if settings else None, env)
    if the_plan.count("generate"):  # a damaged index.json stops publish: say so before paying
        loaded.project.read_index()


@dataclass
class Status:
    current: bool
    reasons: list[str] = field(default_factory=list)
    # outputs published from a paid provider that only a provider change makes stale:
    # (old, new provider) -> count
    paid: dict[tuple[str, str], int] = field(default_factory=dict)
    waiting: Waiting | None = None  # held and pending jobs (approval.py)
    changes: list[dict] = field(default_factory=list)  # {path, field, old, new} (reasons.py)

    @property
    def advice(self) -> str:
        """What to run about it."""
        if self.waiting and (self.waiting.held or self.waiting.pending):
            if len(self.reasons) == len(self.waiting.lines()):
                return self.waiting.advice
            return f"run brandkit build; {self.waiting.advice}"
        if not self.paid:
            return "run brandkit build"
        return (
            f"{describe_paid_replacements(self.paid)}, so a plain build refuses: "
            f"{paid_choices(self.paid)}"
        )


def status(loaded: Loaded) -> Status:
    """Is dist/latest current for the manifest? Compares the jobs with the lock and dist."""
    project = loaded.project
    lock = project.read_lock()
    reasons: list[str] = []
    paid: dict[tuple[str, str], int] = {}
    from .approval import choices_for, waiting
    from .candidates import plan_jobs

    choices = choices_for(project, loaded.manifest, loaded.jobs, lock)
    wanted: dict[str, tuple[Job, OutputTarget]] = {}
    for job in plan_jobs(choices):  # the live jobs: what dist/latest should hold
        for o in job.outputs:
            wanted[o.path] = (job, o)
    keys = KeysUnder()
    changed: list[tuple[str, Job]] = []
    added: list[tuple[str, Job, OutputTarget]] = []
    for path, (job, o) in wanted.items():
        entry = lock.get(path)
        if entry is None:
            added.append((path, job, o))
        elif entry.key != job.key and only_provider_differs(job, o, entry, keys):
            paid[entry.provider, job.provider] = paid.get((entry.provider, job.provider), 0) + 1
            reasons.append(f"provider changed {entry.provider} -> {job.provider}: {path}")
        elif entry.key != job.key or (entry.width, entry.height, entry.format) != (
            o.width,
            o.height,
            o.format,
        ):
            changed.append((path, job))
        elif entry.transform is not None and entry.transform != o.transform_digest():
            reasons.append(f"{CUT_CHANGED}: {path}")
    moved, added, gone = status_moves(added, [e for p, e in lock.items() if p not in wanted])
    reasons[:0] = [f"moved: {m.old} -> {m.new}" for m in moved]
    reasons.extend(f"new: {path}" for path, _, _ in added)
    explained = explain_outputs(changed, project.read_index, brand_colours(loaded.manifest))
    reasons.extend(text for text, _ in explained)
    reasons.extend(f"removed: {e.path}" for e in gone)
    reasons.extend(_dist_problems(project, lock))
    changes = [c for _, cs in explained for c in cs]
    review = waiting(choices)
    reasons.extend(review.lines())
    return Status(current=not reasons, reasons=reasons, paid=paid, waiting=review, changes=changes)


def _dist_problems(project: Project, lock: dict) -> list[str]:
    """Where dist/latest is not what the lock says: its index, and every file's bytes
    (hashed, remembered by stat in `.brandkit/hashes`: a fresh clone hashes each file
    once; an edited file is caught whatever its size)."""
    index = project.read_index()
    if index is None:
        return ["dist/latest: not built yet"]
    published = {o["path"]: o for o in index.get("outputs", [])}
    hashes = fsutil.FileHashes(project.cache_dir / "hashes")
    latest = project.latest
    problems = []
    for path, entry in lock.items():
        o = published.get(path)
        if o is None or o["sha256"] != entry.sha256:
            problems.append(f"dist/latest differs from the lock: {path}")
            continue
        sha = hashes.sha256(latest / path)
        if sha is None:
            problems.append(f"missing from dist/latest (or not a file): {path}")
        elif sha != entry.sha256:
            problems.append(f"modified in dist/latest: {path}")
    hashes.save()
    return problems
