"""Moves: an output renamed or moved (the same image, at a new path) is one move, not a
removal plus an addition, in `plan` and in `diff`.

In a plan, an output of the lock that the manifest no longer asks for moves to a wanted
path the lock does not know when both are the same output: the same generation (content
key), size and format. Between two versions, a path gone and a path new move when they hold
the same generation's very bytes. Each old path moves at most once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .index import IndexEntry
    from .jobs import Job, OutputTarget
    from .lockfile import LockEntry
    from .plan import JobPlan


@dataclass(frozen=True, slots=True)
class Move:
    old: str  # its path before
    new: str  # its path now
    key: str  # the content key of the generation it was cut from


def find_moves(
    removed: list[LockEntry], jobs: Iterable[JobPlan], lock: Mapping[str, LockEntry]
) -> tuple[list[Move], list[LockEntry]]:
    """The removed lock entries that reappear at a new path, as moves; and the rest."""
    if not removed:
        return [], removed
    gone: dict[tuple[str, int, int, str], list[LockEntry]] = {}
    for e in removed:
        gone.setdefault((e.key, e.width, e.height, e.format), []).append(e)
    moves: list[Move] = []
    for jp in jobs:
        for o in jp.outputs:
            t = o.target
            same = gone.get((jp.job.key, t.width, t.height, t.format))
            if same and t.path not in lock:
                moves.append(Move(same.pop(0).path, t.path, jp.job.key))
    moved = {m.old for m in moves}
    return moves, [e for e in removed if e.path not in moved]


def version_moves(
    old: Mapping[str, IndexEntry], new: Mapping[str, IndexEntry]
) -> tuple[list[Move], list[str], list[str]]:
    """Between two versions' outputs: the moves, then the paths added and removed that
    are not moves (each sorted)."""
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    gone: dict[tuple[str, str], list[str]] = {}
    for path in removed:
        gone.setdefault((old[path].key, old[path].sha256), []).append(path)
    moves = []
    for path in added:
        same = gone.get((new[path].key, new[path].sha256))
        if same:
            moves.append(Move(same.pop(0), path, new[path].key))
    olds, news = {m.old for m in moves}, {m.new for m in moves}
    return moves, [p for p in added if p not in news], [p for p in removed if p not in olds]


def status_moves(
    added: list[tuple[str, Job, OutputTarget]], removed: list[LockEntry]
) -> tuple[list[Move], list[tuple[str, Job, OutputTarget]], list[LockEntry]]:
    """`status`'s view: outputs new to the lock that are removed ones at a new path (the
    same generation, size and format), as moves; then the added and removed left."""
    gone: dict[tuple[str, int, int, str], list[LockEntry]] = {}
    for e in removed:
        gone.setdefault((e.key, e.width, e.height, e.format), []).append(e)
    moves, left = [], []
    for path, job, t in added:
        same = gone.get((job.key, t.width, t.height, t.format))
        if same:
            moves.append(Move(same.pop(0).path, path, job.key))
        else:
            left.append((path, job, t))
    olds = {m.old for m in moves}
    return moves, left, [e for e in removed if e.path not in olds]


def moves_are_up_to_date(plans: list[JobPlan], moved: set[str]) -> None:
    """A reused job whose only outputs from the cache are moves (the move says so)."""
    for p in plans:
        cached = [o.target.path for o in p.outputs if o.source == "cache"]
        if p.status == "reuse" and cached and set(cached) <= moved:
            p.reason = "up to date"
