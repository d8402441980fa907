"""The no-op fast path: prove nothing changed without loading the manifest.

After a build (or a status check) finds everything current, a stamp records what that
verdict rests on: the bytes of the manifest and the lock, brandkit's own code, the
options that shape the jobs, an empty journal, and a stat (size, mtime, inode) of every
published output and of the version's index.json. A stamp is written only over files
whose bytes were verified (hashed) against the lock. If all of that is unchanged, `build`
and `status --check` have their answer from two hashes and one stat per output. Anything
that could change a content key or an output defeats it; a build removes the stamp before
it touches anything, so an interrupted build leaves none.

Start-up is most of a no-op's cost, so this module imports only `os`, `sys` and
`hashlib`: no pathlib, typing, json or re (each costs more than the whole check of a
thousand outputs). The stamp is therefore a flat list of strings joined by NUL, a byte
no path, option or digest can hold, and is only ever compared, never interpreted.
"""

from __future__ import annotations

import hashlib
import os
import sys

STAMP_MAGIC = "brandkit-stamp/3"
_SEP = "\0"
_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_OPTION_NAMES = ("manifest", "provider", "max_jobs")


def stamp_path(root: str | os.PathLike[str]) -> str:
    return os.path.join(root, ".brandkit", "stamp")


def _sha256(path: str | os.PathLike[str]) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return "-"


_fingerprint: list[str] = []  # this process's, once made


def code_fingerprint() -> str:
    """brandkit's version, the interpreter's, and brandkit's source files (so a development
    checkout that changes the code, without a version bump, is not fooled). Made once per
    process, from the files as they were then: the code this process runs."""
    if not _fingerprint:
        _fingerprint.append(_code_fingerprint())
    return _fingerprint[0]


def _code_fingerprint() -> str:
    from . import __version__

    h = hashlib.sha256(f"{__version__}\n{sys.version}\n".encode())
    for folder, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".json")):
                st = os.stat(os.path.join(folder, name))
                rel = os.path.relpath(os.path.join(folder, name), _PACKAGE)
                h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _journal_pending(root: str) -> bool:
    """Jobs in flight: a journal file with entries (a build removes it when it empties)."""
    try:
        return os.stat(os.path.join(root, ".brandkit", "journal.jsonl")).st_size > 0
    except FileNotFoundError:
        return False


def inputs(
    root: str | os.PathLike[str], manifest: str | os.PathLike[str], options: dict[str, str | None]
) -> list[str]:
    """Everything the verdict depends on, except the published files themselves."""
    root = os.fspath(root)
    return [
        STAMP_MAGIC,
        _sha256(manifest),
        _sha256(os.path.join(root, "brandkit.lock")),
        code_fingerprint(),
        repr(tuple(options.get(k) for k in _OPTION_NAMES)),
        "journal pending" if _journal_pending(root) else "journal empty",
    ]


def _stat(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def write(
    root: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    options: dict[str, str | None],
    version: str,
    paths: list[str],
) -> None:
    """Record a verified up-to-date state (called by the full path only)."""
    root = os.fspath(root)
    folder = os.path.join(root, "dist", version)
    # index.json too: a damaged or edited index defeats the stamp (the full path says why)
    fields = [*inputs(root, manifest, options), version, _stat(os.path.join(folder, "index.json"))]
    for p in sorted(paths):
        fields += (p, _stat(os.path.join(folder, p)))
    fields.append(f"end:{len(paths)}")  # a stamp cut short proves nothing
    if any(_SEP in field for field in fields):
        return  # can't be recorded unambiguously: no stamp, the full path it is
    target = stamp_path(root)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(_SEP.join(fields))
    os.replace(tmp, target)


def forget(root: str | os.PathLike[str]) -> None:
    try:  # noqa: SIM105 (contextlib would be one more import on the fast path)
        os.unlink(stamp_path(root))
    except FileNotFoundError:
        pass


def check(
    root: str | os.PathLike[str], manifest: str | os.PathLike[str], options: dict[str, str | None]
) -> tuple[str, int] | None:
    """(version, number of outputs) if the stamp still proves the published tree current;
    else None."""
    root = os.fspath(root)
    try:
        with open(stamp_path(root), encoding="utf-8") as f:
            fields = f.read().split(_SEP)
        now = inputs(root, manifest, options)  # two hashes and a walk of the package
        head = len(now)
        outputs, odd = divmod(len(fields) - head - 3, 2)
        if fields[:head] != now or now[1] == "-" or odd or fields[-1] != f"end:{outputs}":
            return None
        version = fields[head]
        if os.readlink(os.path.join(root, "dist", "latest")) != version:
            return None
        prefix = os.path.join(root, "dist", version, "")
        if _stat(prefix + "index.json") != fields[head + 1]:
            return None
        stat = os.stat
        for i in range(head + 2, len(fields) - 1, 2):
            st = stat(prefix + fields[i])
            if f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}" != fields[i + 1]:
                return None
    except (OSError, ValueError):  # no stamp, a missing output, bytes that aren't UTF-8...
        return None
    return version, outputs


# --- the command line, as far as the fast path understands it ------------------------------

_BUILD_VALUED = {"-j", "--jobs", "--max-cost", "--max-wait", "--provider", "--max-jobs"}
_BUILD_FLAGS = {"--keep-going", "--fail-fast", "--no-wait"}
_STATUS_VALUED = {"--provider"}
_STATUS_FLAGS = {"--check"}


def parse(argv: list[str]) -> tuple[str, str, str, dict[str, str | None]] | None:
    """(root, manifest, command, options) for a plain `build` or `status`, else None.
    Options are those that shape the jobs (not -j, --max-cost, --check...)."""
    directory, manifest_name, rest = ".", "brandkit.yaml", list(argv)
    named = False  # -C or -f given; else the manifest is found here or above (project.py)
    while rest and rest[0] in ("-C", "-f") and len(rest) > 1:
        if rest[0] == "-C":
            directory = rest[1]
        else:
            manifest_name = rest[1]
        rest, named = rest[2:], True
    if not rest or rest[0] not in ("build", "status"):
        return None
    command, args = rest[0], rest[1:]
    valued, flags = (
        (_BUILD_VALUED, _BUILD_FLAGS) if command == "build" else (_STATUS_VALUED, _STATUS_FLAGS)
    )
    options: dict[str, str | None] = {"manifest": manifest_name, "provider": None, "max_jobs": None}
    while args:
        arg = args.pop(0)
        name, eq, value = arg.partition("=")
        if name in valued:
            if not eq:
                if not args:
                    return None
                value = args.pop(0)
            if name == "--provider":
                options["provider"] = value
            elif name == "--max-jobs":
                options["max_jobs"] = value
        elif arg not in flags:
            return None  # anything else (--force, --only, --dry-run, -h...) takes the full path
    root = os.path.realpath(directory)
    while not named and not os.path.isfile(os.path.join(root, manifest_name)):
        parent = os.path.dirname(root)
        if parent == root:
            return None  # none anywhere: the full path says so
        root = parent
    return root, os.path.join(root, manifest_name), command, options


def try_noop(argv: list[str]) -> int | None:
    """Answer a no-op `build` / `status` from the stamp, or None to take the full path."""
    parsed = parse(argv)
    if parsed is None:
        return None
    root, manifest, command, options = parsed
    verdict = check(root, manifest, options)
    if verdict is None:
        return None
    version, outputs = verdict
    if command == "build":
        print(
            f"generated 0, failed 0, every job up to date; {outputs} files: 0 written, "
            f"{outputs} reused; cost $0.00; no changes, no new version"
        )
    else:
        print(f"up to date: dist/{version}")
    return 0
