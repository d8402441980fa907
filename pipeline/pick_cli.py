"""The `pick`, `approve` and `unapprove` commands (pick.py does the work). cli.py
registers them on its group; they share its Context (ctx.obj) and take the build lock,
as build does, so they never publish over a running build."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from .cli import Context
    from .pick import Change, Changed


def _run(c: Context, change: Change) -> Changed:
    from . import fastpath
    from .buildlock import build_lock
    from .cache import Cache
    from .pick import apply
    from .workflow import load

    say = partial(click.echo, err=True)
    loaded = load(c.project, c.env)
    for warning in loaded.warnings:
        say(f"warning: {warning}")
    with build_lock(c.project.cache_dir, notify=say), Cache(c.project.cache_dir) as cache:
        fastpath.forget(c.project.root)
        return apply(loaded, cache, c.env, change, notify=say)


def _report(verb: str, result: Changed) -> None:
    from .selectors import selector_of

    for choice in result.jobs:
        state = {
            "held": ", held: the approved image stays live",
            "pending": ", not published (approval required)",
        }.get(choice.state, "")
        click.echo(
            f"{verb} {selector_of(choice.job)}: candidate {choice.chosen} of "
            f"{len(choice.keys)}{state}"
        )
    published = f"published dist/{result.version}" if result.version else "dist/latest unchanged"
    click.echo(f"{len(result.jobs)} job(s) {verb}; {published}; brandkit.lock updated")


@click.command()
@click.argument("selector")
@click.argument("n", type=click.IntRange(min=1, max=8), metavar="N")
@click.pass_obj
def pick(c: Context, selector: str, n: int) -> None:
    """Publish candidate N of the jobs SELECTOR names (already paid: generates nothing)."""
    from .pick import Change

    _report("picked", _run(c, Change([selector], "pick", n)))


@click.command()
@click.argument("selectors", nargs=-1, metavar="[SELECTOR...]")
@click.pass_obj
def approve(c: Context, selectors: tuple[str, ...]) -> None:
    """Approve the chosen candidate of these jobs (all jobs if none) and publish it."""
    from .pick import Change

    _report("approved", _run(c, Change(list(selectors), "approve")))


@click.command()
@click.argument("selectors", nargs=-1, metavar="[SELECTOR...]")
@click.pass_obj
def unapprove(c: Context, selectors: tuple[str, ...]) -> None:
    """Remove the approval of these jobs (all jobs if none)."""
    from .pick import Change

    _report("unapproved", _run(c, Change(list(selectors), "unapprove")))
