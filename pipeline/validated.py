"""Manifests already known to pass validation, so a rerun need not validate them again.

Validating costs jsonschema's import (about 70 ms here) and the check itself. That is
paid by every command that loads a manifest, even when the manifest has not changed
since the last command (`plan`, then `build`; a build run again after a failure). The
verdict for the last manifest that passed is kept in `.brandkit/valid`. It is keyed by
everything the verdict depends on:
- the manifest's exact text;
- the schema's text;
- brandkit's code (the same fingerprint as the no-op stamp);
- the installed jsonschema (its package's size and mtime).
A manifest with problems is never remembered. Any doubt (no file, another key, an
unreadable file) means validating as usual.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from .fsutil import atomic_write


def verdict_key(manifest_text: str, schema_text: str) -> str:
    import importlib.util

    from .fastpath import code_fingerprint

    h = hashlib.sha256()
    for part in (manifest_text, schema_text, code_fingerprint()):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    spec = importlib.util.find_spec("jsonschema")
    if spec is None or spec.origin is None:
        h.update(b"no jsonschema")
    else:
        st = os.stat(spec.origin)
        h.update(f"{spec.origin}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def known_valid(path: Path, key: str) -> bool:
    try:
        return path.read_text("ascii") == key
    except (OSError, ValueError):
        return False


def remember(path: Path, key: str) -> None:
    """Keep the verdict, if the cache folder is there: validating a manifest in a folder
    that was never built creates nothing."""
    if path.parent.is_dir():
        with contextlib.suppress(OSError):
            atomic_write(path, key.encode("ascii"), durable=False)  # lost: validate again
