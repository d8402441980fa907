"""plan: what build would do, per job, and why; computed against the cache, lock and dist.

Each distinct content key is one JobPlan (assets that ask for the same image share it).
Status: `reuse` (every output is already cached or published), `derive` (the master is
cached, some sizes or formats must be cut), `generate` (a paid image is needed), with
the reason (`new`, `prompt changed`, `--force`, ...). Outputs in the lock that the
manifest no longer asks for are `remove`. Planning reads; it never writes.

A job that would replace outputs published from a paid provider when nothing but the
provider changed (a plain `build` after `build --provider runware`, with a manifest that
says `local`) says so: `build` refuses it unless told `--replace-paid`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .cache import Cache, Record
from .candidates import Choice
from .errors import BrandkitError
from .index import IndexEntry, entries
from .jobs import RGB, Job, OutputTarget
from .keys import content_key, derived_key
from .lockfile import LockEntry, lock_digest
from .moves import Move, find_moves, moves_are_up_to_date
from .prices import price
from .project import Project
from .providers import get_provider
from .reasons import CUT_CHANGED, MISSING, Change, added_outputs, recut_outputs, why

if TYPE_CHECKING:
    from .remote_cache import RemoteCache


@dataclass
class OutputPlan:
    target: OutputTarget
    asset: str
    cache_key: str  # where its bytes live in the cache: (master key, transform)
    source: str  # published | cache | dist | derive | generate
    record: Record | None = None  # when source == cache
    published: IndexEntry | None = None  # when source == published: its index entry, if read
    dist_sha: str | None = None  # when source == dist: verified against the lock


@dataclass
class JobPlan:
    job: Job
    assets: list[str]
    status: str  # reuse | derive | remote | generate
    reason: str
    request: dict[str, Any]
    outputs: list[OutputPlan]
    unit_cost_usd: float | None
    master: Record | None = None
    # Lock entries of outputs published from a paid provider that this job would replace
    # although only the provider differs (see paid_replacements).
    replaces_paid: list[LockEntry] = field(default_factory=list)
    # Candidates (candidates.py, set by approval.annotate): the job's choice, and which
    # of its candidates this plan's master is (a job with no outputs is a master only).
    choice: Choice | None = None
    candidate: int | None = 1  # None: an approved master of the job's earlier inputs
    changes: list[Change] = field(default_factory=list)  # what the reason names, as data

    @property
    def estimated_cost_usd(self) -> float:
        return (self.unit_cost_usd or 0.0) if self.status == "generate" else 0.0


@dataclass
class Plan:
    jobs: list[JobPlan]
    removed: list[LockEntry]
    lock: dict[str, LockEntry]
    only: str | None = None
    force: bool = False
    unknown_prices: set[str] = field(default_factory=set)
    choices: list[Choice] = field(default_factory=list)  # per expanded job (candidates.py)
    moved: list[Move] = field(default_factory=list)  # same output, new path (moves.py)

    def count(self, status: str) -> int:
        return sum(1 for j in self.jobs if j.status == status)

    @property
    def estimated_cost_usd(self) -> float:
        return round(sum(j.estimated_cost_usd for j in self.jobs), 4)

    @property
    def outputs(self) -> list[OutputPlan]:
        return [o for j in self.jobs for o in j.outputs]

    def from_cache(self) -> set[str]:
        """Paths whose bytes the cache holds but dist/latest does not publish (a revert,
        a fit changed back): not made, but changed. A move's new path is not one."""
        moved = {m.new for m in self.moved}
        return {
            o.target.path
            for o in self.outputs
            if o.source == "cache" and o.target.path not in moved
        }

    def paid_replacements(self) -> dict[tuple[str, str], int]:
        """Outputs published from a paid provider that this plan would replace with another
        provider's images, nothing else having changed: (old, new provider) -> count."""
        counts: dict[tuple[str, str], int] = {}
        for j in self.jobs:
            for e in j.replaces_paid:
                pair = (e.provider, j.job.provider)
                counts[pair] = counts.get(pair, 0) + 1
        return counts


def cache_key_for(job_key: str, target: OutputTarget) -> str:
    return derived_key(job_key, target.width, target.height, target.format, target.transform())


def merge_jobs(jobs: list[Job]) -> dict[str, list[Job]]:
    """Jobs by content key, in manifest order: identical requests are generated once."""
    by_key: dict[str, list[Job]] = {}
    for job in jobs:
        by_key.setdefault(job.key, []).append(job)
    return by_key


def make_plan(
    project: Project,
    jobs: list[Job],
    cache: Cache,
    lock: dict[str, LockEntry],
    *,
    force: bool = False,
    only: str | None = None,
    prices: dict[str, dict[str, float]] | None = None,
    remote: RemoteCache | None = None,
    colours: dict[str, RGB] | None = None,
) -> Plan:
    """`prices`: the manifest's per-provider overrides of the price table; `colours`: its
    brand colours (a reason names a changed colour by its name)."""
    planner = _Planner(project, cache, lock, force)
    planner.colours = colours or {}
    plans: list[JobPlan] = []
    wanted_paths: set[str] = set()
    for key, group in merge_jobs(jobs).items():
        wanted_paths.update(o.path for j in group for o in j.outputs)
        if only and not any(_selected(j, only) for j in group):
            continue
        plan = planner.job(key, group)
        plan.unit_cost_usd = price(
            plan.job.provider, plan.job.alias, plan.job.model, (prices or {}).get(plan.job.provider)
        )
        plans.append(plan)
    if remote is not None and not force:  # what the shared remote cache holds costs nothing
        shared = [p for p in plans if p.status == "generate" and remote.shares(p.job)]
        held = remote.present(p.job.key for p in shared)  # a HEAD each, nothing more
        for p in (p for p in shared if p.job.key in held):
            p.status, p.reason = "remote", "in the shared remote cache"
    removed = [] if only else [e for p, e in sorted(lock.items()) if p not in wanted_paths]
    moved, removed = find_moves(removed, plans, lock)
    moves_are_up_to_date(plans, {m.new for m in moved})
    unknown = {
        f"{p.job.provider}/{p.job.model}"
        for p in plans
        if p.unit_cost_usd is None and p.status == "generate"
    }
    return Plan(
        jobs=plans, removed=removed, lock=lock, only=only, force=force, unknown_prices=unknown,
        moved=moved,
    )  # fmt: skip


def _selected(job: Job, pattern: str) -> bool:
    return fnmatch.fnmatchcase(job.asset, pattern) or any(
        fnmatch.fnmatchcase(o.path, pattern) for o in job.outputs
    )


class _Planner:
    """Where each output's bytes will come from, cheapest proof first: already published
    as the lock says (a stat), in the cache, cut from a cached master, or generated.

    dist/latest's index.json (megabytes at 10,000 outputs) is read only when needed: when
    the last publish recorded that this very lock describes dist/latest (a digest in
    `.brandkit/published.json`), the lock's sizes and hashes are the proof, and the old
    request of a changed job comes from its cached master's record."""

    def __init__(self, project: Project, cache: Cache, lock: dict[str, LockEntry], force: bool):
        self.project = project
        self.cache = cache
        self.lock = lock
        self.force = force
        self.vouched = _lock_vouched(project)
        self._previous: dict[str, IndexEntry] | None = None
        self.latest = project.latest  # a Path built once, not once per output
        self.cached = set() if force else set(cache.all_keys())  # one scan, not a query each
        self.colours: dict[str, RGB] = {}

    @property
    def previous(self) -> dict[str, IndexEntry]:
        """dist/latest's index entries by path, read on first use."""
        if self._previous is None:
            self._previous = entries(self.project.read_index())
        return self._previous

    def job(self, key: str, group: list[Job]) -> JobPlan:
        job = group[0]
        outputs = [self.output(key, j.asset, t) for j in group for t in j.outputs]
        master = None
        if not self.force and any(o.source == "generate" for o in outputs) and key in self.cached:
            master = self.cache.get(key)
            for o in outputs:
                if master is not None and o.source == "generate":
                    o.source = "derive"
        needs = {o.source for o in outputs}
        if not outputs and key not in self.cached:  # a candidate master, no outputs
            needs = {"generate"}
        changes: list[Change] = []
        if self.force:
            status, reason = "generate", "--force"
        elif "generate" in needs:
            status = "generate"
            reason, changes = why(
                key, group, self.lock, self.old_request, self.colours, self.published_of
            )
            if reason == MISSING and recut_outputs([(o.target, True) for o in outputs], self.lock):
                reason = f"{CUT_CHANGED}, and the master is in no cache"
        elif "derive" in needs:
            status, reason = "derive", self.to_cut(outputs)
        elif "cache" in needs:  # nothing to make, but dist/latest changes (a revert, say)
            status, reason = "reuse", self.from_cache(key, group, outputs)
        else:
            status, reason = "reuse", "up to date"
        replaced = self.paid_replaced(key, group)
        if replaced:
            old, n = replaced[0].provider, _outputs(len(replaced))
            reason = (
                f"provider changed {old} -> {job.provider}: would replace {n} "
                f"published from {old} (build refuses without --replace-paid)"
            )
        return JobPlan(
            job=job,
            assets=sorted({j.asset for j in group}),
            status=status,
            reason=reason,
            request=get_provider(job.provider).build_request(job.spec, job.model, job.alias),
            outputs=outputs,
            unit_cost_usd=None,
            master=master,
            replaces_paid=replaced,
            changes=changes,
        )

    def to_cut(self, outputs: list[OutputPlan]) -> str:
        """Why outputs are cut from a cached master: added, cut another way, or missing."""
        cuts = [(o.target, o.source == "derive") for o in outputs]
        return (
            added_outputs(cuts, self.lock)
            or recut_outputs(cuts, self.lock)
            or f"{sum(o.source == 'derive' for o in outputs)} output(s) to cut from the master"
        )

    def from_cache(self, key: str, group: list[Job], outputs: list[OutputPlan]) -> str:
        """Why outputs the cache holds differ from what dist/latest publishes."""
        cuts = [(o.target, o.source == "cache") for o in outputs]
        said = recut_outputs(cuts, self.lock) or added_outputs(cuts, self.lock)
        if said is None:
            said, _ = why(key, group, self.lock, self.old_request, self.colours, self.published_of)
        if said == MISSING:  # the lock names this very image: dist/latest lost or changed it
            said = "dist/latest does not hold it"
        return f"from the cache: {said}"

    def paid_replaced(self, key: str, group: list[Job]) -> list[LockEntry]:
        """The lock entries of this job's outputs that a paid provider made from the very
        same request (see only_provider_differs)."""
        if not self.lock:
            return []
        keys = KeysUnder()
        return [
            entry
            for j in group
            for o in j.outputs
            if (entry := self.lock.get(o.path)) is not None
            and entry.key != key
            and only_provider_differs(j, o, entry, keys)
        ]

    def output(self, key: str, asset: str, target: OutputTarget) -> OutputPlan:
        ck = cache_key_for(key, target)
        plan = OutputPlan(target=target, asset=asset, cache_key=ck, source="generate")
        if self.force:
            return plan
        published, indexed = self._published(key, target, ck)
        if published and ck in self.cached:
            plan.source, plan.published = "published", indexed
            return plan
        record = self.cache.get(ck) if ck in self.cached else None
        if record is not None:
            plan.source, plan.record = "cache", record
            return plan
        entry = self.lock.get(target.path)
        if entry is not None and published:  # (its bytes already verified)
            plan.source, plan.dist_sha = "dist", entry.sha256  # the cache was lost: re-seed it
        return plan

    def _published(self, key: str, target: OutputTarget, ck: str) -> tuple[bool, IndexEntry | None]:
        """Is this exact output in dist/latest, the lock vouching for it and the file there
        holding the bytes the lock names? With its index entry, when the index was read."""
        entry = self.lock.get(target.path)
        if entry is None or (entry.key, entry.width, entry.height, entry.format) != (
            key,
            target.width,
            target.height,
            target.format,
        ):
            return False, None
        indexed: IndexEntry | None = None
        if not (self.vouched and entry.size is not None):
            indexed = self.previous.get(target.path)  # same bytes and the same source: a text
            if indexed is None or (indexed.sha256, indexed.key) != (entry.sha256, entry.key):
                return False, None  # output's bytes may outlive a change of its master
        # Its bytes, not only its size: a file edited by hand is not what the lock says.
        # (Remembered by stat, so an unchanged tree costs an lstat per output.)
        if self.cache.hashes.sha256(f"{self.latest}/{target.path}") != entry.sha256:
            return False, None
        if entry.transform is not None:  # fit, ico, text: cut as this output is cut now?
            return entry.transform == target.transform_digest(), indexed
        if target.transform() and key in self.cached:  # a version-1 lock: the cut, if cached
            return getattr(self.cache.get(ck), "sha256", None) == entry.sha256, indexed
        return True, indexed

    def published_of(self, asset: str) -> list[IndexEntry]:
        """The asset's outputs in dist/latest (none when nothing was ever locked)."""
        if not self.lock:
            return []
        return [e for e in self.previous.values() if e.asset == asset]

    def old_request(self, path: str) -> Record | IndexEntry | None:
        """What an output was last published with (its provider, model and spec): the
        cached master of its lock entry when there is one, else its index entry."""
        entry = self.lock.get(path)
        if entry is not None and entry.key in self.cached:
            record = self.cache.get(entry.key)
            if record is not None and record.spec:
                return record
        return self.previous.get(path)


FREE_PROVIDERS = frozenset({"local"})


class KeysUnder:
    """A job's content key as another provider would have it, computed once per job."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], str | None] = {}

    def of(self, job: Job, provider: str) -> str | None:
        if (job.key, provider) not in self._keys:
            self._keys[job.key, provider] = _key_under(job, provider)
        return self._keys[job.key, provider]


def _key_under(job: Job, provider: str) -> str | None:
    try:
        resolved = get_provider(provider).resolve_model(job.alias or job.model)
    except (BrandkitError, ValueError):  # a provider we no longer know, a model it lacks
        return None
    return content_key(provider, resolved.model_id, job.spec)


def only_provider_differs(
    job: Job, target: OutputTarget, entry: LockEntry, keys: KeysUnder | None = None
) -> bool:
    """Was the published output `entry` made by a paid provider other than the job's, from
    the same prompt, size, colours and model (so the job would replace it only because its
    provider differs)? Moving from the free `local` placeholders to a paid provider is the
    normal upgrade, never this."""
    if entry.provider in FREE_PROVIDERS or entry.provider == job.provider:
        return False
    if (entry.width, entry.height, entry.format) != (target.width, target.height, target.format):
        return False
    return (keys or KeysUnder()).of(job, entry.provider) == entry.key


def _outputs(n: int) -> str:
    return f"{n} output{'s' if n != 1 else ''}"


def _lock_vouched(project: Project) -> bool:
    """Does `.brandkit/published.json` say this lock describes dist/latest as it is?"""
    vouched = project.vouched()
    if vouched is None or project.latest_version() != vouched[0]:
        return False
    try:
        return lock_digest(project.lock.read_bytes()) == vouched[1]
    except OSError:
        return False
