"""brandkit's command line: thin commands over workflow.py, one error boundary in main()
(exits.py: the exit codes, and how the process ends)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .cache import Cache
from .exits import exit_code, exit_now
from .project import Project

if TYPE_CHECKING:
    from .workflow import BuildResult, Loaded


class Context:
    def __init__(self, directory: str, manifest: str):
        self.project = Project.at(directory, manifest)
        self.manifest_name = manifest
        # The environment, read here once: keys, base URLs and retry settings are passed
        # down from it as values (workflow, execute), never through os.environ.
        self.env = dict(os.environ)

    def stamp(self, provider: str | None, max_jobs: int | None, paths: list[str]) -> None:
        """Record a verified up-to-date state for the no-op fast path (fastpath.py)."""
        from . import fastpath

        version = self.project.latest_version()
        if version is None:
            return
        options = {
            "manifest": self.manifest_name,
            "provider": provider,
            "max_jobs": str(max_jobs) if max_jobs is not None else None,
        }
        fastpath.write(self.project.root, self.project.manifest, options, version, paths)


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="brandkit")
@click.option(
    "-C",
    "directory",
    default=".",
    metavar="DIR",
    show_default=True,
    help="Run as if started in DIR.",
)
@click.option(
    "-f",
    "manifest",
    default="brandkit.yaml",
    metavar="FILE",
    show_default=True,
    help="The manifest, relative to DIR.",
)
@click.pass_context
def cli(ctx: click.Context, directory: str, manifest: str) -> None:
    """make for AI-generated brand assets."""
    ctx.obj = Context(directory, manifest)


def _load(c: Context, provider: str | None = None, max_jobs: int | None = None) -> Loaded:
    from .expand import DEFAULT_MAX_JOBS
    from .workflow import load

    loaded = load(c.project, c.env, provider=provider, max_jobs=max_jobs or DEFAULT_MAX_JOBS)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    return loaded


def _remote(c: Context, loaded: Loaded, cache: Cache, warn: Callable[[str], None]) -> Any:
    """The shared remote cache, if the manifest or environment configures one."""
    from .remote_sync import open_remote

    return open_remote(loaded.manifest, c.env, cache, warn)


provider_option = click.option(
    "--provider", metavar="NAME", help="Use this provider for every asset."
)
only_option = click.option(
    "--only", metavar="GLOB", help="Only assets (or output paths) matching GLOB."
)
max_jobs_option = click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Refuse manifests that expand to more outputs (100000).",
)


@cli.command()
@pass_ctx
def validate(c: Context) -> None:
    """Check the manifest: YAML, schema and templates; every error at once."""
    loaded = _load(c)
    outputs = sum(len(j.outputs) for j in loaded.jobs)
    click.echo(
        f"{c.project.display}: ok ({len(loaded.manifest.assets)} assets, "
        f"{len(loaded.jobs)} generations, {outputs} outputs)"
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--force", is_flag=True, help="Plan as if nothing were cached.")
@click.option("-v", "--verbose", is_flag=True, help="Also list up-to-date jobs and outputs.")
@only_option
@provider_option
@max_jobs_option
@pass_ctx
def plan(
    c: Context,
    as_json: bool,
    force: bool,
    verbose: bool,
    only: str | None,
    provider: str | None,
    max_jobs: int | None,
) -> None:
    """Show what build would do, per job, with why and the estimated cost."""
    from . import report, workflow

    loaded = _load(c, provider, max_jobs)
    with Cache(c.project.cache_dir) as cache:
        remote = _remote(c, loaded, cache, partial(click.echo, err=True))
        the_plan = workflow.plan(loaded, cache, force=force, only=only, remote=remote)
    if as_json:
        report.print_plan_json(the_plan)
    else:
        report.print_plan(the_plan, verbose=verbose)


@cli.command()
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1, max=256),
    metavar="N",
    help="Generations at once (default: per provider).",
)
@only_option
@click.option("--force", is_flag=True, help="Regenerate even what is cached (costs money).")
@click.option("--keep-going", is_flag=True, help="Go on after a failed job (the default).")
@click.option("--fail-fast", is_flag=True, help="Start no new job after the first failure.")
@click.option("--no-wait", is_flag=True, help="Fail at once if another build of the project runs.")
@click.option(
    "--max-wait",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Longest wait for one job's result, polling and Retry-After included (1200).",
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    metavar="USD",
    help="Refuse to start when the estimate is over USD.",
)
@provider_option
@click.option(
    "--replace-paid",
    is_flag=True,
    help="Let another provider replace outputs a paid provider made from the same request "
    "(refused otherwise: e.g. local placeholders over runware images).",
)
@click.option("--dry-run", is_flag=True, help="Plan only; generate and write nothing.")
@max_jobs_option
@pass_ctx
def build(
    c: Context,
    jobs: int | None,
    only: str | None,
    force: bool,
    keep_going: bool,
    fail_fast: bool,
    no_wait: bool,
    max_wait: float | None,
    max_cost: float | None,
    provider: str | None,
    replace_paid: bool,
    dry_run: bool,
    max_jobs: int | None,
) -> None:
    """Generate what changed, cut every size and format, publish a new version."""
    from . import report, workflow

    if keep_going and fail_fast:
        raise click.UsageError("--keep-going and --fail-fast contradict each other")
    loaded = _load(c, provider, max_jobs)
    if dry_run:
        with Cache(c.project.cache_dir) as cache:
            remote = _remote(c, loaded, cache, partial(click.echo, err=True))
            report.print_plan(workflow.plan(loaded, cache, force=force, only=only, remote=remote))
        return
    result = _build(
        c,
        loaded,
        no_wait,
        force=force,
        only=only,
        jobs=jobs,
        keep_going=not fail_fast,
        max_cost=max_cost,
        replace_paid=replace_paid,
        max_wait=max_wait,
    )
    for failure in result.outcome.failures:
        click.echo(report.failure_line(failure), err=True)
    click.echo(report.build_summary(result))
    if result.outcome.failures:
        sys.exit(1)
    if result.published is not None and not only:
        c.stamp(provider, max_jobs, list(result.published.entries))


def _build(
    c: Context,
    loaded: Loaded,
    no_wait: bool,
    *,
    force: bool,
    only: str | None,
    jobs: int | None,
    keep_going: bool,
    max_cost: float | None,
    replace_paid: bool,
    max_wait: float | None,
) -> BuildResult:
    """Plan and build under the project's build lock, the progress on stderr."""
    from . import fastpath, report, workflow
    from .buildlock import build_lock

    say = partial(click.echo, err=True)
    with (
        build_lock(c.project.cache_dir, wait=not no_wait, notify=say),
        Cache(c.project.cache_dir) as cache,
    ):
        fastpath.forget(c.project.root)  # before anything changes: no stale proof survives
        remote = _remote(c, loaded, cache, say)  # nothing is sent until a job needs it
        the_plan = workflow.plan(loaded, cache, force=force, only=only, remote=remote)
        progress = report.ProgressDisplay(the_plan.jobs)
        try:
            return workflow.build(
                loaded,
                cache,
                the_plan,
                c.env,
                jobs=jobs,
                keep_going=keep_going,
                max_cost=max_cost,
                progress=progress,
                notify=say,
                replace_paid=replace_paid,
                max_wait=max_wait,
                remote=remote,
            )
        finally:
            progress.close()


@cli.command()
@click.option("--check", is_flag=True, help="Exit 1 when dist/latest is stale.")
@provider_option
@pass_ctx
def status(c: Context, check: bool, provider: str | None) -> None:
    """Is dist/latest current for the manifest?"""
    from . import workflow

    result = workflow.status(_load(c, provider))
    if result.current:
        click.echo(f"up to date: dist/{c.project.latest_version()}")

        c.stamp(provider, None, list(c.project.read_lock()))
        return
    shown = result.reasons[:20]
    for reason in shown:
        click.echo(f"  {reason}")
    if len(result.reasons) > len(shown):
        click.echo(f"  ... and {len(result.reasons) - len(shown)} more")
    click.echo(f"stale: {len(result.reasons)} difference(s); {result.advice}")
    if check:
        sys.exit(1)


@cli.command()
@pass_ctx
def versions(c: Context) -> None:
    """List the published versions."""
    from .history import versions as list_versions

    rows = list_versions(c.project)
    if not rows:
        click.echo("no versions yet (run brandkit build)")
    for v in rows:
        mark = "  <- latest" if v.latest else ""
        click.echo(f"{v.name}  {v.created or '?':<20}  {v.outputs:>5} outputs{mark}")


@cli.command()
@click.argument("a", required=False)
@click.argument("b", required=False)
@pass_ctx
def diff(c: Context, a: str | None, b: str | None) -> None:
    """What was added, changed or removed between two versions (default: the last two)."""
    from .history import diff as diff_versions

    if a is not None and b is None:
        a, b = a, "latest"
    d = diff_versions(c.project, a, b)
    click.echo(
        f"{d.a} -> {d.b}: {len(d.added)} added, {len(d.changed)} changed, {len(d.removed)} removed"
    )
    for sign, paths in (("+", d.added), ("~", d.changed), ("-", d.removed)):
        for path in paths:
            click.echo(f"{sign} {path}")


@cli.command()
@click.option(
    "--keep",
    type=int,
    default=5,
    show_default=True,
    metavar="N",
    help="Versions to keep (the latest is always kept).",
)
@pass_ctx
def gc(c: Context, keep: int) -> None:
    """Prune old versions and cache blobs that nothing references."""
    from .buildlock import build_lock
    from .history import UsageError
    from .history import gc as collect

    if keep < 1:  # before anything is loaded or locked
        raise UsageError("--keep must be at least 1 (the latest version is always kept)")
    loaded = _load(c)
    with (
        build_lock(c.project.cache_dir, notify=partial(click.echo, err=True)),
        Cache(c.project.cache_dir) as cache,
    ):
        result = collect(c.project, cache, loaded.jobs, keep)
    click.echo(
        f"removed {len(result.removed_versions)} version(s), {result.removed_blobs} "
        f"cache blob(s), freed {result.freed_bytes / 1e6:.1f} MB"
    )


from .cli_cache import cache  # noqa: E402  (the `cache` group: cli_cache.py)

cli.add_command(cache)


def main(argv: list[str] | None = None) -> int:
    """The one boundary where errors become messages and exit codes, and where every
    line printed passes through report.printable (no terminal escapes) with the keys in
    the environment replaced by ***."""
    from .report import REMOTE_SECRET_VARIABLES, SECRET_VARIABLES, safe_output

    names = (*SECRET_VARIABLES, *REMOTE_SECRET_VARIABLES)
    secrets = [(os.environ.get(name) or "").strip() for name in names]
    with safe_output(secrets):
        return exit_code(partial(cli.main, args=argv, prog_name="brandkit", standalone_mode=False))


def entry() -> None:
    exit_now(main())
