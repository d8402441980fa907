"""What a run of the plan produced: the records it cached, its failures (one line each),
its counts. The executor fills an Outcome; publish and the report read it."""

from __future__ import annotations

from dataclasses import dataclass, field

from .cache import Record
from .errors import BrandkitError
from .plan import JobPlan


@dataclass
class Failure:
    job: JobPlan
    message: str


@dataclass
class Refusal:
    """A provider that refused the account (401, 402, 403): every job of it that had not
    been sent yet is not sent, and the first failure says so, once."""

    status: int | None
    jobs: set[int] = field(default_factory=set)  # id() of the JobPlans it refused
    failure: Failure | None = None  # the first of them
    refused: int = 0  # the others, in flight at the same time
    not_sent: int = 0

    def tally(self) -> str:
        """`: 7 more jobs not sent`, `: 1 more job refused, 7 not sent`."""
        first, n = ("refused", self.refused) if self.refused else ("not sent", self.not_sent)
        text = f": {n} more job{'s' if n != 1 else ''} {first}"
        return text + (f", {self.not_sent} not sent" if self.refused and self.not_sent else "")


@dataclass
class Outcome:
    records: dict[str, Record] = field(default_factory=dict)  # output path -> record
    failures: list[Failure] = field(default_factory=list)
    generated: int = 0
    resumed: int = 0  # of those, collected from a previous build's journal
    derived: int = 0
    reused: int = 0
    skipped: int = 0
    cost_usd: float = 0.0
    interrupted: bool = False
    pending: int = 0  # journaled jobs left for the next build to collect
    bugs: list[BaseException] = field(default_factory=list)  # brandkit's own: exit 3 at the end


def describe(exc: BaseException) -> str:
    """An exception as one line for a job's failure: its cause, in the user's terms."""
    if isinstance(exc, BrandkitError):
        return str(exc)
    if isinstance(exc, OSError):
        if exc.strerror:  # "No space left on device: .brandkit/blobs/..."
            return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
        return str(exc) or type(exc).__name__
    if is_disk(exc):
        return f"the cache's index could not be written: {exc}"
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def is_disk(exc: BaseException) -> bool:
    """The cache's SQLite index failing (a full disk, a locked or damaged file)."""
    return type(exc).__module__ == "sqlite3" or any(
        c.__module__ == "sqlite3" for c in type(exc).__mro__
    )


def is_bug(exc: BaseException) -> bool:
    """Brandkit's own mistake (exit 3 once the other jobs are done), not something a
    provider, the disk or the manifest caused."""
    return not isinstance(exc, BrandkitError | OSError | ValueError | MemoryError) and not (
        is_disk(exc)
    )
