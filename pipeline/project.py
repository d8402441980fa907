"""Where a project's files live: the manifest, the lock, the cache and the output tree."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import CACHE_DIR
from .errors import BrandkitError
from .fsutil import atomic_write
from .lockfile import LOCK_NAME, LockEntry, read_lock

VERSION_RE = re.compile(r"v(\d{4,})\Z")


@dataclass(frozen=True)
class Project:
    root: Path
    manifest: Path
    # How messages name the manifest when that differs from its path in the project (one
    # found in a folder above the current one: `../brandkit.yaml`).
    shown: str | None = field(default=None, compare=False)

    @classmethod
    def at(cls, directory: str | Path, manifest: str = "brandkit.yaml") -> Project:
        root = Path(directory).resolve()
        return cls(root=root, manifest=root / manifest)

    @classmethod
    def find(cls, start: str | Path = ".", name: str = "brandkit.yaml") -> Project:
        """The project whose manifest is in `start` or the nearest folder above it, as git
        finds `.git`; its root is the manifest's folder."""
        here = Path(start).resolve()
        for folder in (here, *here.parents):
            if (folder / name).is_file():
                shown = os.path.relpath(folder / name, here)
                return cls(root=folder, manifest=folder / name, shown=shown)
        raise BrandkitError(
            f"no {name} in {here} or any folder above it (create one with `brandkit init`, "
            "or name it with -C DIR / -f FILE)"
        )

    @property
    def display(self) -> str:
        """The manifest's name as errors show it (relative to the project, or to the
        current folder when it was found above it)."""
        if self.shown is not None:
            return self.shown
        try:
            return str(self.manifest.relative_to(self.root))
        except ValueError:
            return str(self.manifest)

    @property
    def lock(self) -> Path:
        return self.root / LOCK_NAME

    @property
    def cache_dir(self) -> Path:
        return self.root / CACHE_DIR

    def read_lock(self) -> dict[str, LockEntry]:
        """The lock's entries, through a parsed copy in the cache dir once there is one."""
        parsed = self.cache_dir / "lock.parsed" if self.cache_dir.is_dir() else None
        return read_lock(self.lock, parsed)

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    @property
    def latest(self) -> Path:
        return self.dist / "latest"

    def versions(self) -> list[str]:
        """Published versions, oldest first."""
        if not self.dist.is_dir():
            return []
        names = [p.name for p in self.dist.iterdir() if VERSION_RE.match(p.name) and p.is_dir()]
        return sorted(names, key=lambda n: int(n[1:]))

    def latest_version(self) -> str | None:
        """The version dist/latest names: only a link to a version folder beside it (a
        link anywhere else, even to a folder called vNNNN, is no version of ours)."""
        try:
            target = os.readlink(self.latest)
        except OSError:
            return None
        if not VERSION_RE.match(target):
            return None
        folder = self.dist / target
        return target if folder.is_dir() and not folder.is_symlink() else None

    @property
    def vouch_file(self) -> Path:
        return self.cache_dir / "published.json"

    def vouch(self, version: str | None, lock_sha256: str) -> None:
        """Record that the lock with this digest describes dist/<version> exactly, so a
        plan can trust the lock for what is published without reading index.json."""
        if version is None:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"version": version, "lock_sha256": lock_sha256}).encode()
        atomic_write(self.vouch_file, data)

    def vouched(self) -> tuple[str, str] | None:
        """(version, lock digest) from the last publish, if recorded."""
        try:
            v = json.loads(self.vouch_file.read_bytes())
            return str(v["version"]), str(v["lock_sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def read_index(self, version: str | None = None) -> dict[str, Any] | None:
        """A version's index.json (latest's by default); None if there is none. One that
        is there but damaged or of the wrong shape is an error naming it (index.py)."""
        from .index import read_index

        version = version or self.latest_version()
        if version is None:
            return None
        return read_index(self.dist / version / "index.json", f"dist/{version}/index.json")
