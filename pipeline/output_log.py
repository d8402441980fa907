"""What happened to each output, across published versions: `diff` per output (key, size,
bytes and the reason, moves apart) and `log` (one output's history: version, key,
reason, provider, cost). Read from the versions' index.json files only: the history is
what was published, whatever the manifest says today."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .reasons import CUT_CHANGED, Change, Made, compare, say

if TYPE_CHECKING:
    from .history import Diff
    from .index import IndexEntry
    from .jobs import Job
    from .project import Project


def explain(old: IndexEntry, new: IndexEntry) -> tuple[str, list[Change]]:
    """Why an output's bytes differ between two versions."""
    if old.key == new.key:
        if (old.width, old.height, old.format) != (new.width, new.height, new.format):
            size = f"{old.width}x{old.height} {old.format} -> {new.width}x{new.height} {new.format}"
            return f"cut again: {size}", []
        if None not in (old.transform, new.transform) and old.transform != new.transform:
            return CUT_CHANGED, []
        return "cut again from the same master", []
    changes = compare(
        Made(old.provider, old.model, old.spec), Made(new.provider, new.model, new.spec)
    )
    return say(changes), changes


# --- diff, per output -----------------------------------------------------------------------


def output_json(e: IndexEntry) -> dict[str, Any]:
    return {"path": e.path, "key": e.key, "size": f"{e.width}x{e.height}", "bytes": e.size}


def changed_json(old: IndexEntry, new: IndexEntry) -> dict[str, Any]:
    reason, changes = explain(old, new)
    return {
        **output_json(new),
        "old_key": old.key,
        "old_size": f"{old.width}x{old.height}",
        "old_bytes": old.size,
        "reason": reason,
        "changes": [c.as_json() for c in changes],
    }


def diff_lines(d: Diff) -> list[str]:
    """The text `diff` prints after its count line: one line per output."""
    lines = []
    for path in d.added:
        e = d.new[path]
        lines.append(f"+ {path}  {_short(e)}")
    for path in d.changed:
        old, new = d.old[path], d.new[path]
        reason, _ = explain(old, new)
        lines.append(
            f"~ {path}  key {_was(old.key[:8], new.key[:8])}, {_was(_dims(old), _dims(new))}, "
            f"{_was(_bytes(old.size), _bytes(new.size))}: {reason}"
        )
    for m in d.moved:
        lines.append(f"> {m.old} -> {m.new}  key {m.key[:8]}")
    for path in d.removed:
        lines.append(f"- {path}  {_short(d.old[path])}")
    return lines


def _was(old: str, new: str) -> str:
    return new if old == new else f"{old} -> {new}"


def _short(e: IndexEntry) -> str:
    return f"key {e.key[:8]}, {_dims(e)}, {_bytes(e.size)}"


def _dims(e: IndexEntry) -> str:
    return f"{e.width}x{e.height}"


def _bytes(n: int | None) -> str:
    if n is None:
        return "? bytes"
    return f"{n} bytes" if n < 10_000 else f"{n / 1000:.1f} kB"


# --- log: one output's history --------------------------------------------------------------

_VERSION_DIR = re.compile(r"^(?:\./)?dist/(?:latest|v[0-9]{4,})/")


@dataclass
class Event:
    version: str
    path: str
    key: str | None  # None: removed in this version
    sha256: str | None
    provider: str | None
    model: str | None
    cost_usd: float | None
    reason: str
    changes: list[Change] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "path": self.path,
            "key": self.key,
            "sha256": self.sha256,
            "provider": self.provider,
            "model": self.model,
            "cost_usd": self.cost_usd,
            "reason": self.reason,
            "changes": [c.as_json() for c in self.changes],
        }


def history(project: Project, paths: list[str]) -> dict[str, list[Event]]:
    """Each path's events, oldest first: the versions in which it appeared, changed or went."""
    out: dict[str, list[Event]] = {p: [] for p in paths}
    last: dict[str, IndexEntry | None] = dict.fromkeys(paths)
    from .index import entries

    for version in project.versions():
        published = entries(project.read_index(version))
        for path in paths:
            now, before = published.get(path), last[path]
            event = _event(version, path, before, now)
            if event is not None:
                out[path].append(event)
            last[path] = now
    return out


def _event(
    version: str, path: str, before: IndexEntry | None, now: IndexEntry | None
) -> Event | None:
    if now is None:
        if before is None:
            return None
        return Event(version, path, None, None, None, None, None, "removed")
    if before is not None and before.sha256 == now.sha256:
        return None
    reason, changes = ("new", []) if before is None else explain(before, now)
    return Event(
        version, path, now.key, now.sha256, now.provider, now.model, now.cost_usd, reason,
        changes,
    )  # fmt: skip


def published_paths(project: Project) -> set[str]:
    from .index import entries

    found: set[str] = set()
    for version in project.versions():
        found.update(entries(project.read_index(version)))
    return found


def log_paths(project: Project, target: str, jobs: list[Job] | None) -> list[str]:
    """The output paths `log TARGET` follows: TARGET as a path (relative to the version
    folder, or under dist/latest/ or dist/vNNNN/) that some version published, else as a
    selector over the manifest's jobs (`jobs`; None: the manifest could not be read).
    Neither: a usage error (exit 2) naming what exists."""
    from .selectors import SelectorError, parse_selector, select

    path = _VERSION_DIR.sub("", target)
    known = published_paths(project)
    if path in known:
        return [path]
    if jobs is not None:
        try:
            chosen = select(parse_selector(target), jobs)
        except SelectorError:
            if "/" not in target and "." not in target:
                raise
        else:
            return sorted({o.path for j in chosen for o in j.outputs})
    near = sorted(p for p in known if p.startswith(path.rsplit("/", 1)[0] + "/"))[:5]
    shown = ", ".join(near or sorted(known)[:5]) or "none (run brandkit build)"
    assets = sorted({j.asset for j in jobs or []})
    selectors = f"; or a selector: an asset ({', '.join(assets)}), ASSET@W:H" if assets else ""
    raise UsageError(f"no output {target!r} in any version; published: {shown}{selectors}")


def log_lines(events: dict[str, list[Event]]) -> list[str]:
    lines = []
    for path, rows in events.items():
        lines.append(path)
        if not rows:
            lines.append("  (never published)")
        for e in rows:
            made = f"{e.provider}/{e.model}" if e.provider else "-"
            cost = f"${e.cost_usd:.3f}" if e.cost_usd is not None else "$?"
            key = e.key[:8] if e.key else "-"
            lines.append(f"  {e.version}  {key:<8}  {made}  {cost}  {e.reason}")
    return lines


def log_json(target: str, events: dict[str, list[Event]]) -> dict[str, Any]:
    return {
        "target": target,
        "outputs": [
            {"path": path, "history": [e.as_json() for e in rows]} for path, rows in events.items()
        ],
    }
