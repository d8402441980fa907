"""More of cli.py's commands, kept apart so that each module reads at once: `init` and
`schema` (the kit itself), and those over the published history: `versions`, `diff`,
`gc`. cli.py registers them on its group; they share its Context (ctx.obj)."""

from __future__ import annotations

import os
import sys
from functools import partial
from typing import TYPE_CHECKING

import click

from .errors import UsageError

if TYPE_CHECKING:
    from .cache import Cache
    from .cli import Context
    from .history import GcResult
    from .workflow import Loaded

json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object (its shape: schemas/<command>.schema.json).",
)


@click.command()
@click.argument("directory", metavar="[DIR]", default=".", type=click.Path(file_okay=False))
@click.pass_obj
def init(c: Context, directory: str) -> None:
    """Start a kit: brandkit.yaml (builds offline), its schema beside it, a .gitignore."""
    import shlex
    from pathlib import Path

    from .init_kit import init as write_kit

    shown = os.path.normpath(os.path.join(c.directory or ".", directory))
    for name in write_kit(Path(shown), shown).files:
        click.echo(f"wrote {os.path.normpath(os.path.join(shown, name))}")
    where = "" if shown == "." else f"-C {shlex.quote(shown)} "
    click.echo(f"next: brandkit {where}build   (offline placeholders; then set a provider)")


@click.command()
def schema() -> None:
    """Print the manifest's JSON Schema (what brandkit.schema.json holds)."""
    from .manifest import schema_text

    click.echo(schema_text(), nl=False)


@click.command()
@json_option
@click.pass_obj
def versions(c: Context, as_json: bool) -> None:
    """List the published versions."""
    from .history import versions as list_versions
    from .report_json import emit, versions_json

    rows = list_versions(c.project)
    if as_json:
        emit(versions_json(rows))
        return
    if not rows:
        click.echo("no versions yet (run brandkit build)")
    for v in rows:
        mark = "  <- latest" if v.latest else ""
        click.echo(f"{v.name}  {v.created or '?':<20}  {v.outputs:>5} outputs{mark}")


@click.command()
@click.argument("a", required=False)
@click.argument("b", required=False)
@json_option
@click.pass_obj
def diff(c: Context, a: str | None, b: str | None, as_json: bool) -> None:
    """What was added, changed, moved or removed between two versions, per output: key,
    size, bytes and why (default: the last two)."""
    from .history import diff as diff_versions
    from .report_json import diff_json, emit

    if a is not None and b is None:
        a, b = a, "latest"
    note: str | None = None
    if a is None and c.project.latest_version() is None:
        d, note = None, "no version published yet: nothing to compare (run brandkit build)"
    else:
        d = diff_versions(c.project, a, b)
        note = f"{d.b} is the only version: nothing to compare it with" if d.a is None else None
    if as_json:
        emit(diff_json(d, note))
        return
    if d is None or d.a is None:
        click.echo(note)
        return
    from .output_log import diff_lines

    moved = f", {len(d.moved)} moved" if d.moved else ""
    click.echo(
        f"{d.a} -> {d.b}: {len(d.added)} added, {len(d.changed)} changed, "
        f"{len(d.removed)} removed{moved}"
    )
    for line in diff_lines(d):
        click.echo(line)


@click.command(name="log")
@click.argument("target", metavar="SELECTOR|PATH")
@json_option
@click.pass_obj
def log(c: Context, target: str, as_json: bool) -> None:
    """One output's history across versions: version, key, reason, provider, cost."""
    from .errors import ManifestError
    from .output_log import history, log_json, log_lines, log_paths
    from .report_json import emit

    try:
        jobs = _load(c).jobs
    except ManifestError:  # a path still works while the manifest is broken
        jobs = None
    events = history(c.project, log_paths(c.project, target, jobs))
    if as_json:
        emit(log_json(target, events))
        return
    for line in log_lines(events):
        click.echo(line)


@click.command()
@click.option(
    "--keep",
    type=int,
    default=5,
    show_default=True,
    metavar="N",
    help="Versions to keep (the latest is always kept).",
)
@click.option("--dry-run", is_flag=True, help="List what would go; delete nothing.")
@click.option("-y", "--yes", is_flag=True, help="Delete without asking (needed off a terminal).")
@click.pass_obj
def gc(c: Context, keep: int, dry_run: bool, yes: bool) -> None:
    """Prune old versions and cache blobs that nothing references (asks first)."""
    from .buildlock import build_lock
    from .cache import Cache

    if keep < 1:  # before anything is loaded or locked
        raise UsageError("--keep must be at least 1 (the latest version is always kept)")
    asks = not (dry_run or yes)
    if asks and not sys.stdin.isatty():
        raise UsageError(
            "gc deletes only when confirmed: pass -y (or --yes) to delete without asking, "
            "or --dry-run to list what would go"
        )
    loaded = _load(c)
    with (
        build_lock(c.project.cache_dir, notify=partial(click.echo, err=True)),
        Cache(c.project.cache_dir) as cache,
    ):
        result = _collect(loaded, cache, keep, dry_run=dry_run or asks)
        if asks and (result.removed_versions or result.removed_blobs):
            _say_what_goes(result)
            if not click.confirm("delete them?", default=False, err=True):
                click.echo("nothing deleted", err=True)
                sys.exit(1)
            result = _collect(loaded, cache, keep, dry_run=False)
    if result.dry_run and not asks:
        _say_what_goes(result)
    else:
        click.echo(
            f"removed {len(result.removed_versions)} version(s), {result.removed_blobs} "
            f"cache blob(s), freed {result.freed_bytes / 1e6:.1f} MB"
        )


def _collect(loaded: Loaded, cache: Cache, keep: int, *, dry_run: bool) -> GcResult:
    from .history import gc as collect

    return collect(loaded.project, cache, loaded.jobs, keep, dry_run=dry_run)


def _say_what_goes(result: GcResult) -> None:
    names = ", ".join(result.removed_versions) or "none"
    click.echo(f"would remove {len(result.removed_versions)} version(s): {names}")
    click.echo(
        f"would remove {result.removed_blobs} cache blob(s), {result.freed_bytes / 1e6:.1f} MB"
    )


def _load(c: Context) -> Loaded:
    from .workflow import load

    loaded = load(c.project, c.env)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    return loaded


@click.command()
@click.option("--open", "open_it", is_flag=True, help="Open the page in the system browser.")
@click.pass_obj
def review(c: Context, open_it: bool) -> None:
    """Write dist/review.html: every job's candidates, and the pick/approve commands."""
    from .cache import Cache
    from .review_page import make_review

    loaded = _load(c)
    with Cache(c.project.cache_dir) as cache:
        page = make_review(loaded, cache)
    here = os.path.abspath(".")
    shown = os.path.relpath(page) if str(page).startswith(here + os.sep) else str(page)
    click.echo(shown)
    if open_it:
        click.launch(page.as_uri())
