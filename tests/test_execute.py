"""The executor on its own (no CLI, no publish): a plan in, an Outcome and a cache out.

A fake provider that records its calls stands in for `local`, registered the way every
provider is (PROVIDERS). Its capabilities are set per test: the executor must act on
them (asynchronous, free, journal_ids...), never on the provider's name."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import pipeline.derive
from pipeline import workflow
from pipeline.cache import Cache
from pipeline.errors import ProviderError
from pipeline.execute import Executor
from pipeline.journal import Journal
from pipeline.plan import Plan
from pipeline.project import Project
from pipeline.providers import PROVIDERS
from pipeline.providers.base import Generated, JobGone, RunContext
from pipeline.providers.local import LocalProvider
from pipeline.results import Outcome
from tests.conftest import write_manifest


class Fake(LocalProvider):
    """`local`'s images, with every call recorded; `fail` in a prompt fails that job."""

    calls: ClassVar[list[str]] = []  # the prompts generated
    resumed: ClassVar[list[dict[str, Any]]] = []  # the ids resume was given
    during: ClassVar[Callable[[], None] | None] = None  # run inside the first generation

    async def generate(self, request: dict[str, Any], model_id: str, ctx: RunContext) -> Generated:
        type(self).calls.append(request["prompt"])
        if type(self).during is not None:
            hook, type(self).during = type(self).during, None
            hook()
        if "fail" in request["prompt"]:
            raise ProviderError(self.name, "content policy: no failing")
        ctx.note(ticket=f"t-{len(type(self).calls)}")
        return await super().generate(request, model_id, ctx)

    async def resume(self, ids: dict[str, Any], ctx: RunContext) -> Generated:
        type(self).resumed.append(ids)
        raise JobGone("not known here")  # the test that collects one replaces this


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Fake]]:
    """A fresh Fake class, registered as `local` for this test only."""
    cls = type("Fake", (Fake,), {"calls": [], "resumed": [], "during": None})
    monkeypatch.setitem(PROVIDERS, "local", cls)
    yield cls


ASSETS = {
    "hero": "{prompt: 'a hero', sizes: ['16:9']}",
    "icon": "{prompt: 'an icon', sizes: ['1:1'], formats: [png, webp, jpg]}",
    "bad": "{prompt: 'a fail', sizes: ['1:1']}",
}


def setup(tmp_path: Path, *names: str) -> tuple[Project, Cache, Plan, workflow.Loaded]:
    assets = "".join(f"  {n}: {ASSETS[n]}\n" for n in names)
    write_manifest(
        tmp_path,
        "kit: {name: t}\nbrand: {name: Acme, colors: {ink: '#112233'}}\n"
        f"defaults: {{provider: local, model: recraft-v4, palette: [ink]}}\nassets:\n{assets}",
    )
    project = Project.at(tmp_path)
    loaded = workflow.load(project, {})
    cache = Cache(project.cache_dir)
    return project, cache, workflow.plan(loaded, cache), loaded


def run(tmp_path: Path, *names: str, **options: Any) -> tuple[Outcome, Cache]:
    project, cache, plan, loaded = setup(tmp_path, *names)
    executor = Executor(plan, cache, loaded.manifest, project.latest, env={}, **options)
    return asyncio.run(executor.run()), cache


def test_a_job_is_generated_once_and_stored(tmp_path: Path, fake: type[Fake]) -> None:
    outcome, cache = run(tmp_path, "hero")
    assert fake.calls == ["a hero"]
    assert (outcome.generated, outcome.failures, outcome.pending) == (1, [], 0)
    (record,) = outcome.records.values()
    assert cache.read(record)[:8] == b"\x89PNG\r\n\x1a\n"
    cache.close()
    again, _ = run(tmp_path, "hero")
    assert fake.calls == ["a hero"], "cached: not generated again"
    assert again.generated == 0 and len(again.records) == 1


def test_outputs_of_one_master_read_it_once(
    tmp_path: Path, fake: type[Fake], monkeypatch: pytest.MonkeyPatch
) -> None:
    """png (the master itself: its blob, not cut), webp and jpg (cut from one read)."""
    reads, cuts = [], []
    real_read, real_derive = Cache.read, pipeline.derive.derive
    monkeypatch.setattr(Cache, "read", lambda self, r: reads.append(r) or real_read(self, r))
    monkeypatch.setattr(
        pipeline.derive, "derive", lambda *a, **k: cuts.append(a[3]) or real_derive(*a, **k)
    )
    outcome, _ = run(tmp_path, "icon")
    assert fake.calls == ["an icon"]
    assert (outcome.generated, outcome.derived) == (1, 3)
    assert len(reads) == 1 and sorted(cuts) == ["jpg", "webp"]
    assert sorted(p.rsplit(".", 1)[1] for p in outcome.records) == ["jpg", "png", "webp"]


def test_a_failed_job_does_not_stop_the_others(tmp_path: Path, fake: type[Fake]) -> None:
    outcome, _ = run(tmp_path, "hero", "bad", "icon", jobs=1)
    (failure,) = outcome.failures
    assert failure.job.job.spec.prompt == "a fail"
    assert failure.message == "local: content policy: no failing"
    assert outcome.generated == 2 and len(outcome.records) == 4
    assert Journal(tmp_path / ".brandkit").entries() == [], "a final refusal is not kept"


def test_fail_fast_sends_nothing_after_a_failure(tmp_path: Path, fake: type[Fake]) -> None:
    outcome, _ = run(tmp_path, "bad", "hero", "icon", jobs=1, keep_going=False)
    assert len(outcome.failures) == 1 and outcome.skipped == 2
    assert fake.calls == ["a fail"]


def test_a_journaled_job_is_collected_not_sent_again(
    tmp_path: Path, fake: type[Fake], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An asynchronous provider that says which of its noted fields find a job: the
    executor hands them to its resume, whatever the provider is called."""
    monkeypatch.setattr(fake, "asynchronous", True)
    monkeypatch.setattr(fake, "free", False)
    monkeypatch.setattr(fake, "journals_id", True)
    monkeypatch.setattr(fake, "journal_ids", ("ticket",))
    project, cache, plan, loaded = setup(tmp_path, "hero")
    (jp,) = plan.jobs
    image = asyncio.run(LocalProvider().generate(jp.request, jp.job.model, RunContext()))

    async def resume(self: Fake, ids: dict[str, Any], ctx: RunContext) -> Generated:
        fake.resumed.append(ids)
        return image

    monkeypatch.setattr(fake, "resume", resume)
    with Journal(cache.root) as journal:  # what an interrupted build left
        journal.record(jp.job.key, provider="local", model=jp.job.model, ticket="t-9")
    outcome = asyncio.run(Executor(plan, cache, loaded.manifest, project.latest, env={}).run())
    assert fake.calls == [] and fake.resumed == [{"ticket": "t-9"}]
    assert (outcome.generated, outcome.resumed, outcome.pending) == (1, 1, 0)
    assert Journal(cache.root).entries() == []


def test_an_entry_without_the_providers_ids_is_dropped_as_lost(
    tmp_path: Path, fake: type[Fake], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake, "journal_ids", ("ticket",))
    project, cache, plan, loaded = setup(tmp_path, "hero")
    with Journal(cache.root) as journal:
        journal.record("ab" * 32, provider="local", other="x")  # not wanted, no ticket
    notes: list[str] = []
    executor = Executor(plan, cache, loaded.manifest, project.latest, env={}, notify=notes.append)
    outcome = asyncio.run(executor.run())
    assert fake.resumed == [] and outcome.generated == 1
    assert any("1 request(s) were on their way" in n for n in notes)
    assert Journal(cache.root).entries() == []


def test_an_interrupt_finishes_a_paid_request_and_sends_no_other(
    tmp_path: Path, fake: type[Fake], monkeypatch: pytest.MonkeyPatch
) -> None:
    """First Ctrl-C: a paid synchronous request in flight finishes and is stored; no
    other job is sent. A free provider's jobs are simply abandoned (next test)."""
    monkeypatch.setattr(fake, "free", False)
    project, cache, plan, loaded = setup(tmp_path, "hero", "icon", "bad")
    executor = Executor(plan, cache, loaded.manifest, project.latest, env={}, jobs=1)
    fake.during = executor.interrupt
    outcome = asyncio.run(executor.run())
    assert outcome.interrupted and len(fake.calls) == 1
    assert (outcome.generated, outcome.skipped, outcome.pending) == (1, 2, 0)


def test_an_interrupt_abandons_a_free_providers_jobs(tmp_path: Path, fake: type[Fake]) -> None:
    project, cache, plan, loaded = setup(tmp_path, "hero", "icon")
    executor = Executor(plan, cache, loaded.manifest, project.latest, env={}, jobs=1)
    fake.during = executor.interrupt
    outcome = asyncio.run(executor.run())
    assert outcome.interrupted and len(fake.calls) == 1
    assert outcome.generated == 0 and outcome.records == {}
