"""When to send again, and how long to wait: retries with backoff, Retry-After, polling.

Retried (send.py): transport errors, 408, 425, 429 and 5xx, with exponential backoff and
full jitter, honouring `Retry-After` up to `max_wait`. The environment's settings are
parsed once, at the build's edge (`from_env`), and passed down as these values.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .bounds import Bounds

if TYPE_CHECKING:  # httpx is imported only when something is sent
    import httpx

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

# `build --max-wait S`: the longest one job waits for its result, from its submission to
# the finished image (polling and Retry-After sleeps included). Default 20 minutes, as
# Runware's SDK waits for a task [RW-sdk-client].
MAX_WAIT = 20 * 60.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base: float = 1.0  # first backoff ceiling, seconds
    cap: float = 30.0  # largest backoff ceiling
    max_wait: float = MAX_WAIT  # longest Retry-After we are willing to sleep (--max-wait)
    bounds: Bounds = field(default_factory=Bounds)  # of each attempt

    @classmethod
    def from_env(cls, env: dict[str, str], max_wait: float | None = None) -> RetryPolicy:
        """Tests and impatient users can shorten the waits (never the attempt count).
        `max_wait` is `build --max-wait`; BRANDKIT_MAX_WAIT stands in for it."""
        base = float(env.get("BRANDKIT_RETRY_BASE", cls.base))
        if max_wait is None:
            max_wait = float(env.get("BRANDKIT_MAX_WAIT", cls.max_wait))
        return cls(base=base, cap=max(base, min(cls.cap, base * 30)), max_wait=max_wait)

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class PollPolicy:
    """How often to ask whether a job is done: never more often than `first`, never less
    often than `cap`, and otherwise every `fraction` of the time it has been running, so
    a finished job is noticed within about 5% of its own duration (a 20 s job, within
    1 s) for a handful of polls, and a slot is not held idle waiting for the next one.

    `deadline` bounds the whole wait for one job's result, from its submission (or its
    resumption from the journal) to the finished image (`build --max-wait`): a job past
    it fails, its id kept in the journal for the next build to collect. A task resumed
    from an earlier build's journal that is not once reported (running, finished or
    failed) in its first `unseen_polls` polls is taken as never received (Runware
    answers a task it does not know exactly like a running one, `{"data": []}`), and
    submitted once more. `pace`: the shortest gap between two polls of one provider
    across the whole build (PixelDojo's rate limit; see pixeldojo.py)."""

    first: float = 1.0
    fraction: float = 0.05
    cap: float = 10.0
    deadline: float = MAX_WAIT
    unseen_polls: int = 5
    pace: float = 0.5

    @classmethod
    def from_env(cls, env: dict[str, str], max_wait: float | None = None) -> PollPolicy:
        """`max_wait` is `build --max-wait`; without it, BRANDKIT_POLL_DEADLINE, then
        BRANDKIT_MAX_WAIT. The pace is half the first interval (BRANDKIT_POLL_INTERVAL)
        unless BRANDKIT_POLL_PACE says otherwise: tests that poll fast pace fast."""
        first = float(env.get("BRANDKIT_POLL_INTERVAL", cls.first))
        if max_wait is None:
            max_wait = float(
                env.get("BRANDKIT_POLL_DEADLINE") or env.get("BRANDKIT_MAX_WAIT") or cls.deadline
            )
        return cls(
            first=first,
            cap=max(first, min(cls.cap, first * 10)),
            deadline=max_wait,
            pace=float(env.get("BRANDKIT_POLL_PACE", first * cls.pace / cls.first)),
        )

    def delay(self, elapsed: float) -> float:
        """How long to wait before the next poll of a job running for `elapsed` seconds."""
        return min(self.cap, max(self.first, elapsed * self.fraction))


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    import email.utils  # only for a Retry-After date (it pulls in socket and datetime)

    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None
