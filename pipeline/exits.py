"""Where errors become messages and exit codes, and how the process ends.

Exit codes: 0 ok, 1 invalid manifest / failed jobs / stale / over budget, 2 usage,
3 internal error (one line + a log file), 130 interrupted. cli.main runs every command
through `exit_code`; `exit_now` ends the process.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from .errors import BrandkitError, Interrupted, ManifestError


def exit_code(command: Callable[[], object]) -> int:
    """Run the command; its errors as messages on stderr, and its exit code."""
    try:
        command()
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return 130
    except click.exceptions.UsageError as exc:  # one line, as brandkit's own usage errors
        ctx = exc.ctx
        see = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{see}", err=True)
        return 2
    except click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
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

    from .report import REMOTE_SECRET_VARIABLES, SECRET_VARIABLES

    text = "".join(traceback.format_exception(exc))
    # a key must not reach a file, even this one
    for name in (*SECRET_VARIABLES, *REMOTE_SECRET_VARIABLES):
        secret = (os.environ.get(name) or "").strip()
        if len(secret) >= 4:
            text = text.replace(secret, "***").replace(repr(secret)[1:-1], "***")
    fd, path = tempfile.mkstemp(prefix="brandkit-crash-", suffix=".log")
    with open(fd, "w") as f:
        f.write(text)
    return Path(path)


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
