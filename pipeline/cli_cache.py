"""`brandkit cache pull | push | status`: the shared remote cache (remote_sync.py), as
thin commands; registered on the main group by cli.py. Exit 0, or 1 on a remote error."""

from __future__ import annotations

import json
import sys
from functools import partial
from typing import Any

import click

from .cache import Cache


@click.group()
def cache() -> None:
    """The shared remote cache (S3-compatible): pull, push, status."""


def _loaded(c: Any) -> Any:
    """load + validate + expand (cli.Context `c`), warnings on stderr."""
    from .workflow import load

    loaded = load(c.project, c.env)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    return loaded


def _remote(c: Any, local: Cache) -> tuple[Any, Any]:
    from .remote_cache import RemoteError
    from .remote_sync import open_remote

    loaded = _loaded(c)
    remote = open_remote(loaded.manifest, c.env, local, partial(click.echo, err=True))
    if remote is None:
        raise RemoteError(
            "no remote cache is configured: set cache.remote in the manifest "
            "(s3://BUCKET/PREFIX) or BRANDKIT_REMOTE"
        )
    return remote, loaded


@cache.command("pull")
@click.pass_obj
def pull(c: Any) -> None:
    """Fetch every master the manifest needs into the local cache (CI warm-up)."""
    from .buildlock import build_lock
    from .remote_sync import pull as pull_masters

    say = partial(click.echo, err=True)
    with build_lock(c.project.cache_dir, notify=say), Cache(c.project.cache_dir) as local:
        remote, loaded = _remote(c, local)
        result = pull_masters(remote, local, loaded.jobs)
    click.echo(
        f"pulled {len(result.done)}, already here {len(result.already)}, not on the remote "
        f"{len(result.missing)}, refused {len(result.failed)}"
    )
    if result.failed:
        sys.exit(1)


@cache.command("push")
@click.pass_obj
def push(c: Any) -> None:
    """Upload every local master the manifest uses that the remote lacks."""
    from .remote_sync import push as push_masters

    with Cache(c.project.cache_dir) as local:
        remote, loaded = _remote(c, local)
        result = push_masters(remote, local, loaded.jobs)
    click.echo(
        f"pushed {len(result.done)}, already there {len(result.already)}, not in the local "
        f"cache {len(result.missing)}, failed {len(result.failed)}"
    )
    if result.failed:
        sys.exit(1)


@cache.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(c: Any, as_json: bool) -> None:
    """Is a remote configured and reachable? Masters here, there, and nowhere."""
    from .remote_sync import status as cache_status

    loaded = _loaded(c)
    with Cache(c.project.cache_dir) as local:
        result = cache_status(loaded.manifest, c.env, local, loaded.jobs)
    if as_json:
        click.echo(json.dumps(result.as_json()))
    elif not result.configured:
        click.echo("no remote cache configured (cache.remote in the manifest, or BRANDKIT_REMOTE)")
    else:
        mode = " (read-only)" if result.read_only else ""
        reach = "reachable" if result.reachable else f"unreachable: {result.error}"
        click.echo(f"remote cache {result.url}{mode}: {reach}")
        click.echo(
            f"{result.needed} masters needed: {result.local} local, {result.remote} remote, "
            f"{result.missing} missing"
        )
    if result.configured and not result.reachable:
        sys.exit(1)
