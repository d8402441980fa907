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

Lines are parsed at this edge: `get` and `entries` hand out JournalEntry records, each
field of the type it should have (a damaged one reads as missing); the provider's own
ids for its job stay as it noted them, in `ids`, for its `resume` to read.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fsutil import atomic_write

JOURNAL_NAME = "journal.jsonl"


@dataclass(frozen=True)
class JournalEntry:
    """One journaled job, as the executor and the providers read it."""

    key: str
    provider: str = ""
    model: str = ""
    spec: dict[str, Any] = field(default_factory=dict)  # the job's canonical spec (JSON)
    url: str | None = None  # a synchronous provider's image, paid for, not yet fetched
    file: str | None = None  # ... or the temp file its bytes were kept in
    seed: int | None = None
    cost_usd: float | None = None
    credits: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    odd: int = 0  # builds in a row that could not read the provider's answer
    since: float | None = None
    ids: dict[str, Any] = field(default_factory=dict)  # the provider's own (ctx.note)

    @classmethod
    def parse(cls, item: dict[str, Any]) -> JournalEntry:
        """An entry as it is on disk (a key, then any fields), typed field by field."""
        get = item.get
        return cls(
            key=item["key"],
            provider=_text(get("provider")) or "",
            model=_text(get("model")) or "",
            spec=_mapping(get("spec")),
            url=_text(get("url")),
            file=_text(get("file")),
            seed=_int(get("seed")),
            cost_usd=_number(get("cost_usd")),
            credits=_number(get("credits")),
            meta=_mapping(get("meta")),
            odd=_int(get("odd")) or 0,
            since=_number(get("since")),
            ids={k: v for k, v in item.items() if k not in _FIELDS},
        )

    def collectable(self, ids: tuple[str, ...]) -> bool:
        """Does the entry say how to find the job again (one of the provider's `ids`, the
        image's own URL, the file it was kept in)? Only as text: an id of another type
        (an odd answer, journaled as it came) finds nothing."""
        return bool(self.url or self.file) or any(
            isinstance(self.ids.get(name), str) and self.ids[name] for name in ids
        )


_FIELDS = frozenset(JournalEntry.__dataclass_fields__)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


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
        self._entries = entries
        if not clean or len(lines) != len(entries):
            self._rewrite()
        return entries

    def get(self, key: str) -> JournalEntry | None:
        with self._lock:
            entry = self._load().get(key)
            return JournalEntry.parse(entry) if entry is not None else None

    def entries(self) -> list[JournalEntry]:
        with self._lock:
            entries = self._load()
            return [JournalEntry.parse(entries[key]) for key in sorted(entries)]

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
