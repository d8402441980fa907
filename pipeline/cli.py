"""brandkit's command line: thin commands over workflow.py, one error boundary in main()
(exits.py: the exit codes, and how the process ends)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import click

from . import __version__, commands, pick_cli
from .cache import Cache
from .commands import json_option
from .errors import ManifestError, UsageError
from .exits import exit_code, exit_now
from .project import Project

if TYPE_CHECKING:
    from .plan import Plan
    from .workflow import BuildResult, Loaded


class Context:
    def __init__(self, directory: str | None, manifest: str | None):
        self.directory = directory
        self.manifest_given = manifest
        self.manifest_name = manifest or "brandkit.yaml"
        self._project: Project | None = None
        # The environment, read here once: keys, base URLs and retry settings are passed
        # down from it as values (workflow, execute), never through os.environ.
        self.env = dict(os.environ)

    @property
    def project(self) -> Project:
        """With neither -C nor -f, the nearest brandkit.yaml here or above (as git finds
        .git); found when a command first needs it (`init` and `schema` never do)."""
        if self._project is None:
            if self.directory is None and self.manifest_given is None:
                self._project = Project.find(".")
            else:
                self._project = Project.at(self.directory or ".", self.manifest_name)
        return self._project

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
    metavar="DIR",
    help="Run as if started in DIR (default: the folder of the nearest brandkit.yaml, "
    "here or above).",
)
@click.option(
    "-f",
    "manifest",
    metavar="FILE",
    help="The manifest, relative to DIR (default: brandkit.yaml).",
)
@click.pass_context
def cli(ctx: click.Context, directory: str | None, manifest: str | None) -> None:
    """make for AI-generated brand assets."""
    ctx.obj = Context(directory, manifest)


def _load(c: Context, provider: str | None = None, max_jobs: int | None = None) -> Loaded:
    from .expand import DEFAULT_MAX_JOBS
    from .workflow import load

    loaded = load(c.project, c.env, provider=provider, max_jobs=max_jobs or DEFAULT_MAX_JOBS)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    return loaded


def _known_provider(ctx: click.Context, param: click.Parameter, name: str | None) -> str | None:
    if name is not None:
        from .providers import PROVIDERS

        if name not in PROVIDERS:
            known = ", ".join(PROVIDERS)
            raise UsageError(f"unknown provider {name!r} for --provider; known: {known}")
    return name


def _remote(c: Context, loaded: Loaded, cache: Cache, warn: Callable[[str], None]) -> Any:
    """The shared remote cache, if the manifest or environment configures one."""
    from .remote_sync import open_remote

    return open_remote(loaded.manifest, c.env, cache, warn)


provider_option = click.option(
    "--provider",
    metavar="NAME",
    callback=_known_provider,
    help="Use this provider for every asset.",
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
@json_option
@pass_ctx
def validate(c: Context, as_json: bool) -> None:
    """Check the manifest: YAML, schema and templates; every error at once."""
    if as_json:
        from .report_json import emit, validate_json

        try:
            loaded = _load(c)
        except ManifestError as exc:  # the errors as data on stdout; exit 1 all the same
            emit(validate_json(c.project.display, None, exc.problems))
            sys.exit(exc.exit_code)
        emit(validate_json(c.project.display, loaded, []))
        return
    loaded = _load(c)
    outputs = sum(len(j.outputs) for j in loaded.jobs)
    click.echo(
        f"{c.project.display}: ok ({len(loaded.manifest.assets)} assets, "
        f"{len(loaded.jobs)} generations, {outputs} outputs)"
    )


@cli.command()
@json_option
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
    from . import report

    loaded = _load(c, provider, max_jobs)
    with Cache(c.project.cache_dir) as cache:
        remote = _remote(c, loaded, cache, partial(click.echo, err=True))
        the_plan = _plan(loaded, cache, force=force, only=only, remote=remote)
    if as_json:
        report.print_plan_json(the_plan)
    else:
        report.print_plan(the_plan, verbose=verbose)
        from .approval import notes

        for note in notes(the_plan):  # held and unapproved jobs (stderr)
            click.echo(note, err=True)


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
    from . import report
    from .approval import notes

    if keep_going and fail_fast:
        raise click.UsageError("--keep-going and --fail-fast contradict each other")
    loaded = _load(c, provider, max_jobs)
    if dry_run:
        with Cache(c.project.cache_dir) as cache:
            remote = _remote(c, loaded, cache, partial(click.echo, err=True))
            report.print_plan(_plan(loaded, cache, force=force, only=only, remote=remote))
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
    for line in report.failure_lines(result.outcome.failures):
        click.echo(line, err=True)
    click.echo(report.build_summary(result))
    if (step := report.next_step(result)) is not None:
        click.echo(step, err=True)
    if result.outcome.failures:
        sys.exit(1)
    if result.published is not None and not only and not notes(result.plan):
        c.stamp(provider, max_jobs, list(result.published.entries))  # (nothing held)


def _plan(
    loaded: Loaded, cache: Cache, *, force: bool, only: str | None, remote: Any = None
) -> Plan:
    """The plan; --only that selects nothing is a usage error (exit 2), not an empty plan."""
    from . import workflow

    the_plan = workflow.plan(loaded, cache, force=force, only=only, remote=remote)
    if only and not the_plan.jobs:
        ids = [a.id for a in loaded.manifest.assets]
        listed = ", ".join(ids[:10]) + (f", ... ({len(ids)} in all)" if len(ids) > 10 else "")
        raise UsageError(f"--only {only!r} matches no asset id or output path (assets: {listed})")
    return the_plan


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
        the_plan = _plan(loaded, cache, force=force, only=only, remote=remote)
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
@json_option
@provider_option
@pass_ctx
def status(c: Context, check: bool, as_json: bool, provider: str | None) -> None:
    """Is dist/latest current for the manifest?"""
    from . import workflow

    result = workflow.status(_load(c, provider))
    if result.current:
        c.stamp(provider, None, list(c.project.read_lock()))
    if as_json:
        from .report_json import emit, status_json

        emit(status_json(result, c.project.latest_version()))
        sys.exit(1 if check and not result.current else 0)
    if result.current:
        click.echo(f"up to date: dist/{c.project.latest_version()}")
        return
    shown = result.reasons[:20]
    for reason in shown:
        click.echo(f"  {reason}")
    if len(result.reasons) > len(shown):
        click.echo(f"  ... and {len(result.reasons) - len(shown)} more")
    click.echo(f"stale: {len(result.reasons)} file difference(s); {result.advice}")
    if check:
        sys.exit(1)


for _command in (commands.init, commands.schema, commands.versions, commands.diff, commands.gc):
    cli.add_command(_command)
for _command in (pick_cli.pick, pick_cli.approve, pick_cli.unapprove):
    cli.add_command(_command)


from .cli_cache import cache  # noqa: E402  (the `cache` group: cli_cache.py)

cli.add_command(cache)
cli.add_command(commands.log)


def main(argv: list[str] | None = None) -> int:
    """The one boundary where errors become messages and exit codes, and where every
    line printed passes through report.printable (no terminal escapes) with the keys in
    the environment replaced by ***."""
    from .report import REMOTE_SECRET_VARIABLES, SECRET_VARIABLES, safe_output

    run = partial(cli.main, args=argv, prog_name="brandkit", standalone_mode=False)
    if os.environ.get("_BRANDKIT_COMPLETE"):  # shell completion: click writes it as bytes,
        return exit_code(run)  # names of commands, options and files only
    names = (*SECRET_VARIABLES, *REMOTE_SECRET_VARIABLES)
    secrets = [(os.environ.get(name) or "").strip() for name in names]
    with safe_output(secrets):
        return exit_code(run)


def entry() -> None:
    exit_now(main())


cli.add_command(commands.review)  # (apart from the others: branches add commands above)
