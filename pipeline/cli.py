"""brandkit's command line: thin commands over workflow.py, one error boundary in main().

Exit codes: 0 ok, 1 invalid manifest / failed jobs / stale / over budget, 2 usage,
3 internal error (one line + a log file), 130 interrupted.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__
from .cache import Cache
from .errors import BrandkitError, Interrupted, ManifestError
from .project import Project

if TYPE_CHECKING:
    from .workflow import Loaded


class Context:
    def __init__(self, directory: str, manifest: str):
        self.project = Project.at(directory, manifest)
        self.manifest_name = manifest

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

    loaded = load(c.project, provider=provider, max_jobs=max_jobs or DEFAULT_MAX_JOBS)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    return loaded


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
        the_plan = workflow.plan(loaded, cache, force=force, only=only)
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
    from . import fastpath, report, workflow
    from .buildlock import build_lock

    if keep_going and fail_fast:
        raise click.UsageError("--keep-going and --fail-fast contradict each other")
    loaded = _load(c, provider, max_jobs)
    if dry_run:
        with Cache(c.project.cache_dir) as cache:
            report.print_plan(workflow.plan(loaded, cache, force=force, only=only))
        return
    say = partial(click.echo, err=True)
    with (
        build_lock(c.project.cache_dir, wait=not no_wait, notify=say),
        Cache(c.project.cache_dir) as cache,
    ):
        fastpath.forget(c.project.root)  # before anything changes: no stale proof survives
        the_plan = workflow.plan(loaded, cache, force=force, only=only)
        progress = report.ProgressDisplay(the_plan.jobs)
        try:
            result = workflow.build(
                loaded,
                cache,
                the_plan,
                jobs=jobs,
                keep_going=not fail_fast,
                max_cost=max_cost,
                progress=progress,
                notify=say,
                replace_paid=replace_paid,
                max_wait=max_wait,
            )
        finally:
            progress.close()
    for failure in result.outcome.failures:
        click.echo(report.failure_line(failure), err=True)
    click.echo(report.build_summary(result))
    if result.outcome.failures:
        sys.exit(1)
    if result.published is not None and not only:
        c.stamp(provider, max_jobs, list(result.published.entries))


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


def main(argv: list[str] | None = None) -> int:
    """The one boundary where errors become messages and exit codes, and where every
    line printed passes through report.printable (no terminal escapes) with the keys in
    the environment replaced by ***."""
    import os

    from .report import SECRET_VARIABLES, safe_output

    secrets = [(os.environ.get(name) or "").strip() for name in SECRET_VARIABLES]
    with safe_output(secrets):
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        cli.main(args=argv, prog_name="brandkit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return 130
    except click.exceptions.ClickException as exc:
        exc.show()
        return 2 if isinstance(exc, click.UsageError) else exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except ManifestError as exc:
        click.echo(str(exc), err=True)
        n = len(exc.problems)
        click.echo(f"{n} error{'s' if n != 1 else ''} in the manifest", err=True)
        return exc.exit_code
    except Interrupted as exc:
        click.echo(str(exc), err=True)
        return exc.exit_code
    except BrandkitError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except OSError as exc:  # the machine's problem (disk full, permissions), not a bug
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"error: {exc.strerror or exc}{where}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted: finished images are cached; rerun to resume", err=True)
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # a bug in brandkit: one line for the user, the trace in a log
        log = _crash_log(exc)
        click.echo(
            f"internal error: {type(exc).__name__}: {exc} (details in {log}); please report it",
            err=True,
        )
        return 3
    return 0


def _crash_log(exc: BaseException) -> Path:
    import os
    import tempfile
    import traceback

    from .report import SECRET_VARIABLES

    text = "".join(traceback.format_exception(exc))
    for name in SECRET_VARIABLES:  # a key must not reach a file, even this one
        secret = (os.environ.get(name) or "").strip()
        if len(secret) >= 4:
            text = text.replace(secret, "***").replace(repr(secret)[1:-1], "***")
    fd, path = tempfile.mkstemp(prefix="brandkit-crash-", suffix=".log")
    with open(fd, "w") as f:
        f.write(text)
    return Path(path)


def entry() -> None:
    exit_now(main())


def exit_now(code: int) -> None:
    """Exit without tearing the interpreter down. Freeing every module's objects took
    100-180 ms at the end of each command (importing jsonschema, httpx and jinja2 alone
    costs 95 ms of it), and nothing of ours needs it: files are closed by then, the
    cache's index closed (its WAL checkpointed) and the worker threads joined. Exit
    handlers still run and output is flushed; should another thread still be alive, the
    exit is the usual one, which waits for it, and so it is under a profiler or a
    coverage tracer (which write their results at exit).

    Measured interleaved on sample-project (12 rounds, a loaded 2-core machine):
    `validate` 891 ms against 1005 ms with sys.exit, `plan` 1108 ms against 1316 ms.
    Running the exit handlers needs atexit's private `_run_exitfuncs`: without it (a
    later Python) the exit is the usual one, slower, never wrong, and
    tests/test_cli_process.py::test_exit_now_still_finds_the_exit_handlers says so."""
    import atexit
    import contextlib
    import os
    import threading

    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if (
        run_exit_handlers is None
        or threading.active_count() > 1
        or sys.getprofile()
        or sys.gettrace()
    ):
        sys.exit(code)
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (`brandkit plan | head`): said enough
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
