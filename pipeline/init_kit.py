"""`brandkit init`: a starter kit that validates and builds offline, and `brandkit schema`.

Writes `brandkit.yaml` (linked to `brandkit.schema.json` beside it, so an editor with
the YAML language server checks it as you type), that schema, and a `.gitignore` naming
`.brandkit/` (the local cache). An existing manifest is never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import BrandkitError
from .fsutil import atomic_write
from .manifest import schema_text

MANIFEST = "brandkit.yaml"
SCHEMA = "brandkit.schema.json"
IGNORED = ".brandkit/"


@dataclass(frozen=True)
class Written:
    folder: Path
    files: tuple[str, ...]  # relative to folder, in the order written


def starter_manifest(kit_name: str, brand_name: str) -> str:
    text = (resources.files("pipeline") / "data" / "starter.yaml").read_text(encoding="utf-8")
    return text.replace("__KIT_NAME__", kit_name).replace("__BRAND_NAME__", brand_name)


def kit_name_for(folder: Path) -> str:
    """The folder's name as a kit name ([a-z0-9][a-z0-9-]*), or `my-kit`."""
    name = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-")
    return name or "my-kit"


def init(folder: Path, shown: str) -> Written:
    """Write the starter kit into `folder` (created if need be); BrandkitError, with
    nothing written, if it already holds a brandkit.yaml. `shown`: how to name the folder."""
    manifest = folder / MANIFEST
    if os.path.lexists(manifest):
        existing = os.path.normpath(os.path.join(shown, MANIFEST))
        raise BrandkitError(
            f"{existing} already exists; nothing was written (`brandkit validate` checks it)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    name = kit_name_for(folder)
    brand = " ".join(w.capitalize() for w in name.split("-"))
    _create(manifest, starter_manifest(name, brand).encode())
    atomic_write(folder / SCHEMA, schema_text().encode())
    written = [MANIFEST, SCHEMA]
    if _ignore_cache(folder / ".gitignore"):
        written.append(".gitignore")
    return Written(folder, tuple(written))


def _create(path: Path, data: bytes) -> None:
    """Write a new file whole, or fail if one appeared meanwhile (a link, not a replace)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            message = f"{path.name} appeared while writing it; it was left as it is"
            raise BrandkitError(message) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _ignore_cache(gitignore: Path) -> bool:
    """Add `.brandkit/` to the .gitignore (created if missing); False if it is there."""
    try:
        text = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    lines = {line.strip() for line in text.splitlines()}
    if lines & {".brandkit", ".brandkit/", "/.brandkit", "/.brandkit/"}:
        return False
    sep = "" if not text or text.endswith("\n") else "\n"
    entry = "# brandkit's local cache (safe to delete)\n.brandkit/\n"
    atomic_write(gitignore, f"{text}{sep}{entry}".encode())
    return True
