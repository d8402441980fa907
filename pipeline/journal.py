"""The journal of in-flight jobs: what was submitted and not yet collected.

One append-only file, `.brandkit/journal.jsonl`. Each line is either a whole entry for a
content key or `{"drop": key}`, and the last line about a key wins. An entry is written
*before* a Runware task is sent (with its taskUUID), as soon as PixelDojo answers (its
jobId and statusUrl), and as soon as a synchronous provider's paid answer gives the
image's URL (before it is downloaded). A rerun collects those jobs (getResponse, the
status URL, the image URL) instead of paying for them again. An entry goes when its
image is in the cache or the provider says the job is gone. Entries never hold secrets.

Why one file: creating a file costs an inode, and on some disks that is half a
millisecond. A file per job, on the submit path, was most of what a build spent between
a slot freeing and its next submission. An append is one `write` to an open file.

A line is one `write` of well under a page, so a killed process leaves the lines it
wrote and at most one line cut short. The journal is read whole when a build starts; a
line that does not parse is skipped, and the file is rewritten without it (and without
dropped entries, through fsutil.atomic_write) before anything is appended. So a cut
line can never swallow the line after it. Appends are not fsynced: the journal guards
against a killed process, and the page cache survives that. Only a build writes it,
under the project's build lock.

Entries left in `.brandkit/journal/*.json` by earlier versions (one file per key) are
read and moved into the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from .fsutil import atomic_write

JOURNAL_NAME = "journal.jsonl"
LEGACY_DIR = "journal"


class Journal:
    def __init__(self, root: Path):
        self.root = root
        self.path = root / JOURNAL_NAME
        self._entries: dict[str, dict[str, Any]] | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()

    # -- reading -----------------------------------------------------------------------------
    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is not None:
            return self._entries
        entries: dict[str, dict[str, Any]] = {}
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        lines = data.splitlines()
        clean = not data or data.endswith(b"\n")
        for line in lines:
            item = _parse(line)
            if item is None:
                clean = False  # cut short by a kill, or damaged: worth less than the rest
            elif "drop" in item:
                entries.pop(item["drop"], None)
            else:
                entries[item["key"]] = item
        legacy = self._legacy_entries()
        entries.update(legacy)
        self._entries = entries
        if not clean or legacy or len(lines) != len(entries):
            self._rewrite()
            for key in legacy:  # now in the file
                with contextlib.suppress(OSError):
                    (self.root / LEGACY_DIR / f"{key}.json").unlink()
            with contextlib.suppress(OSError):
                (self.root / LEGACY_DIR).rmdir()
        return entries

    def _legacy_entries(self) -> dict[str, dict[str, Any]]:
        folder = self.root / LEGACY_DIR
        try:
            names = sorted(os.listdir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return {}
        found = {}
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                item = _parse((folder / name).read_bytes())
            except OSError:
                item = None
            if item is not None and "key" in item:
                found[item["key"]] = item
            else:  # a damaged entry is worth less than a clear journal
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
        return found

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._load().get(key)
            return dict(entry) if entry is not None else None

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            entries = self._load()
            return [dict(entries[key]) for key in sorted(entries)]

    # -- writing -----------------------------------------------------------------------------
    def record(self, key: str, **fields: Any) -> None:
        """Merge fields into the key's entry: one line appended, before the caller goes on."""
        with self._lock:
            entries = self._load()
            entry = {**(entries.get(key) or {"key": key, "since": time.time()}), **fields}
            self._append(entry)
            entries[key] = entry

    def drop(self, key: str) -> None:
        with self._lock:
            entries = self._load()
            if key in entries:
                self._append({"drop": key})
                del entries[key]

    def close(self) -> None:
        """Done appending. An empty journal leaves no file (the no-op check looks for one)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._entries is not None and not self._entries:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _append(self, item: dict[str, Any]) -> None:
        line = (json.dumps(item, sort_keys=True) + "\n").encode("utf-8")
        if self._fd is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        written = os.write(self._fd, line)
        if written != len(line):  # a full disk mid-line: never leave the next line glued on
            os.write(self._fd, b"\n")
            raise OSError(f"{self.path}: could not write a whole journal line")

    def _rewrite(self) -> None:
        """The live entries alone, replacing the file at once (or no file, if none)."""
        assert self._entries is not None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if not self._entries:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        lines = "".join(
            json.dumps(self._entries[key], sort_keys=True) + "\n" for key in sorted(self._entries)
        )
        atomic_write(self.path, lines.encode("utf-8"))


def _parse(line: bytes) -> dict[str, Any] | None:
    """An entry (with a string `key`) or a drop (`{"drop": key}`); None for anything else."""
    try:
        item = json.loads(line)
    except ValueError:
        return None
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("key"), str) or (len(item) == 1 and isinstance(item.get("drop"), str)):
        return item
    return None
