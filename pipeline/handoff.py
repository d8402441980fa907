"""Submissions before downloads, at an asynchronous provider.

When a poll sees a task done, its job gives its slot up and goes on to download the
image, and the slot wakes the next job, which submits. Left alone, the eight jobs a poll
round finished would each start their download (about 1-2 ms of CPU apiece) before the
first job they woke even ran: the provider's slots stood idle for 15-25 ms a round.
Holding each download until the jobs woken with it have handed their requests over
turns that around: a download waits a few milliseconds, off the critical path, and the
slots are busy again sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

# A download never waits longer than this for submissions (one being retried, say).
MAX_HOLD = 2.0


class Handoff:
    """The jobs of one provider that hold a slot but have not yet handed their request
    over (see RunContext.submitted); downloads `wait()` until there are none."""

    def __init__(self) -> None:
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def starting(self) -> Iterator[Callable[[], None]]:
        """Count a job as starting; the callable (or leaving the block) says it has
        handed its request over. Calling it again is harmless."""
        done = False

        def submitted() -> None:
            nonlocal done
            if not done:
                done = True
                self._pending -= 1
                if not self._pending:
                    self._idle.set()

        self._pending += 1
        self._idle.clear()
        try:
            yield submitted
        finally:
            submitted()

    async def wait(self) -> None:
        # First let the jobs this job's slot woke run: they count themselves as starting
        # in the turns of the event loop their wake-ups were queued for, ahead of ours.
        await asyncio.sleep(0)
        if not self._idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), MAX_HOLD)
