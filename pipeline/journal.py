"""The journal of in-flight jobs: what was submitted and not yet collected.

One small JSON file per content key in `.brandkit/journal/`, written atomically *before*
a Runware task is sent (with its taskUUID), as soon as PixelDojo answers (its jobId and
statusUrl), and as soon as a synchronous provider's paid answer gives the image's URL
(before it is downloaded). A rerun collects those jobs (getResponse, the status URL, the
image URL) instead of paying for them again; an entry goes when its image is in the
cache or the provider says the job is gone. Entries never hold secrets.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, root: Path):
        self.dir = root / "journal"

    def _path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            entry = json.loads(self._path(key).read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            self.drop(key)  # a damaged entry is worth less than a clear journal
            return None
        return entry if isinstance(entry, dict) else None

    def entries(self) -> list[dict[str, Any]]:
        if not self.dir.is_dir():
            return []
        found = (self.get(p.stem) for p in sorted(self.dir.glob("*.json")))
        return [e for e in found if e is not None]

    def record(self, key: str, **fields: Any) -> None:
        """Merge fields into the key's entry. Written whole, then renamed into place: a
        SIGKILL leaves the old entry or the new. No fsync: the journal guards against a
        killed process (the page cache survives it), and it sits on the submit path."""
        entry = {**(self.get(key) or {"key": key, "since": time.time()}), **fields}
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(entry, sort_keys=True), "utf-8")
        os.replace(tmp, self._path(key))

    def drop(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()
