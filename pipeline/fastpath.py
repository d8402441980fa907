"""The no-op fast path: prove nothing changed without loading the manifest.

After a build (or a status check) finds everything current, a stamp records what that
verdict rests on: the bytes of the manifest and the lock, brandkit's own code, the
options that shape the jobs, an empty journal, and a stat (size, mtime, inode) of every
published output. If all of that is unchanged, `build` and `status --check` have their
answer from a few hashes and one stat per output, importing nothing beyond the standard
library. Anything that could change a content key or an output defeats it; a build
removes the stamp before it touches anything, so an interrupted build leaves none.
Only the standard library may be imported here.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

STAMP_VERSION = 1
_PACKAGE = Path(__file__).resolve().parent


def stamp_path(root: Path) -> Path:
    return root / ".brandkit" / "stamp.json"


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _code_fingerprint() -> str:
    """brandkit's own version and source files (so a development checkout that changes
    the code, without a version bump, is not fooled)."""
    from . import __version__

    h = hashlib.sha256(__version__.encode())
    for path in sorted(_PACKAGE.rglob("*")):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            st = path.stat()
            h.update(f"{path.relative_to(_PACKAGE)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def inputs(root: Path, manifest: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Everything the verdict depends on, except the published files themselves."""
    journal = root / ".brandkit" / "journal"
    pending = journal.is_dir() and any(p.suffix == ".json" for p in journal.iterdir())
    return {
        "stamp": STAMP_VERSION,
        "manifest": _sha256(manifest),
        "lock": _sha256(root / "brandkit.lock"),
        "code": _code_fingerprint(),
        "options": options,
        "journal_pending": pending,
    }


def _stat(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def write(
    root: Path, manifest: Path, options: dict[str, Any], version: str, paths: list[str]
) -> None:
    """Record a verified up-to-date state (called by the full path only)."""
    folder = root / "dist" / version
    stamp = {
        **inputs(root, manifest, options),
        "version": version,
        "outputs": [[p, *_stat(folder / p)] for p in sorted(paths)],
    }
    target = stamp_path(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".stamp.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(stamp, separators=(",", ":")), "utf-8")
    os.replace(tmp, target)


def forget(root: Path) -> None:
    stamp_path(root).unlink(missing_ok=True)


def check(root: Path, manifest: Path, options: dict[str, Any]) -> dict[str, Any] | None:
    """The stamp, if it still proves the published tree current; else None."""
    try:
        stamp = json.loads(stamp_path(root).read_text("utf-8"))
        now = inputs(root, manifest, options)  # hashes and a walk of the package: once
        if {k: stamp.get(k) for k in now} != now or stamp["manifest"] is None:
            return None
        version = stamp["version"]
        if os.readlink(root / "dist" / "latest") != version:
            return None
        folder = root / "dist" / version
        for path, *recorded in stamp["outputs"]:
            if _stat(folder / path) != recorded:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return stamp


# --- the command line, as far as the fast path understands it ------------------------------

_BUILD_VALUED = {"-j", "--jobs", "--max-cost", "--max-wait", "--provider", "--max-jobs"}
_BUILD_FLAGS = {"--keep-going", "--fail-fast", "--no-wait"}
_STATUS_VALUED = {"--provider"}
_STATUS_FLAGS = {"--check"}


def parse(argv: list[str]) -> tuple[Path, Path, str, dict[str, Any]] | None:
    """(root, manifest, command, options) for a plain `build` or `status`, else None."""
    directory, manifest_name, rest = ".", "brandkit.yaml", list(argv)
    while rest and rest[0] in ("-C", "-f") and len(rest) > 1:
        if rest[0] == "-C":
            directory = rest[1]
        else:
            manifest_name = rest[1]
        rest = rest[2:]
    if not rest or rest[0] not in ("build", "status"):
        return None
    command, args = rest[0], rest[1:]
    valued, flags = (
        (_BUILD_VALUED, _BUILD_FLAGS) if command == "build" else (_STATUS_VALUED, _STATUS_FLAGS)
    )
    options: dict[str, Any] = {"manifest": manifest_name, "provider": None, "max_jobs": None}
    seen_flags: set[str] = set()
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
        elif arg in flags:
            seen_flags.add(arg)
        else:
            return None  # anything else (--force, --only, --dry-run, -h...) takes the full path
    root = Path(directory).resolve()
    options["check"] = "--check" in seen_flags
    return root, root / manifest_name, command, options


def stamp_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options that shape the jobs (not -j, --max-cost, --check...)."""
    return {k: options.get(k) for k in ("manifest", "provider", "max_jobs")}


def try_noop(argv: list[str]) -> int | None:
    """Answer a no-op `build` / `status` from the stamp, or None to take the full path."""
    parsed = parse(argv)
    if parsed is None:
        return None
    root, manifest, command, options = parsed
    stamp = check(root, manifest, stamp_options(options))
    if stamp is None:
        return None
    if command == "build":
        n = len(stamp["outputs"])
        print(
            f"generated 0, derived 0, reused {n}, failed 0, cost $0.00; no changes, no new version"
        )
    else:
        print(f"up to date: dist/{stamp['version']}")
    return 0
