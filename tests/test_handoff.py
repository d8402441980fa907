"""Handoff: downloads wait for the submissions of the jobs that freed slots woke."""

from __future__ import annotations

import asyncio

import pytest

from pipeline import handoff
from pipeline.handoff import Handoff


def test_a_download_waits_until_every_starting_job_has_submitted() -> None:
    async def scenario() -> list[str]:
        h, events = Handoff(), []

        async def job(name: str, delay: float) -> None:
            with h.starting() as submitted:
                await asyncio.sleep(delay)
                events.append(f"{name} submitted")
                submitted()
                submitted()  # twice is harmless
                await asyncio.sleep(0.05)  # still generating: no longer holds anything

        async def download() -> None:
            await h.wait()
            events.append("download")

        await asyncio.gather(job("a", 0.01), job("b", 0.02), download())
        return events

    assert asyncio.run(scenario()) == ["a submitted", "b submitted", "download"]


def test_a_job_woken_in_the_same_turn_counts_before_the_download_looks() -> None:
    """The job a released slot wakes runs before the download that released it looks."""

    async def scenario() -> list[str]:
        h, slot, events = Handoff(), asyncio.Semaphore(1), []
        await slot.acquire()

        async def waiting_job() -> None:
            async with slot:
                with h.starting() as submitted:
                    await asyncio.sleep(0.01)
                    events.append("submitted")
                    submitted()

        async def finishing_job() -> None:
            await asyncio.sleep(0.01)
            slot.release()
            await h.wait()
            events.append("download")

        await asyncio.gather(waiting_job(), finishing_job())
        return events

    assert asyncio.run(scenario()) == ["submitted", "download"]


def test_a_job_that_fails_before_submitting_holds_nothing() -> None:
    async def scenario() -> None:
        h = Handoff()

        async def failing() -> None:
            with h.starting():
                raise RuntimeError("refused")

        with pytest.raises(RuntimeError):
            await failing()
        await asyncio.wait_for(h.wait(), 0.5)

    asyncio.run(scenario())


def test_a_download_waits_no_longer_than_max_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff, "MAX_HOLD", 0.05)

    async def scenario() -> float:
        h = Handoff()
        loop = asyncio.get_running_loop()
        with h.starting():  # a submission being retried, say
            started = loop.time()
            await h.wait()
            return loop.time() - started

    assert 0.04 <= asyncio.run(scenario()) < 1.0
