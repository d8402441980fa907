"""The `brandkit` command's entry point: answer what needs no import, then load the CLI.

`--version` and a no-op `build` or `status --check` are answered with the standard
library alone (see fastpath.py); everything else goes to cli.py.
"""

from __future__ import annotations

import sys


def entry() -> None:
    argv = sys.argv[1:]
    if argv == ["--version"]:
        from . import __version__

        print(f"brandkit, version {__version__}")
        sys.exit(0)
    from .fastpath import try_noop

    code = try_noop(argv)
    if code is not None:
        sys.exit(code)
    from .cli import entry as full

    full()
