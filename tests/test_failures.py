"""Failed jobs and failed publishes: nothing half-written, nothing finished lost."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pipeline.errors import ProviderError
from pipeline.providers import PROVIDERS
from pipeline.providers.base import Generated, RunContext
from pipeline.providers.local import LocalProvider
from tests.conftest import Run


class FlakyLocal(LocalProvider):
    """The local provider, refusing any prompt that mentions `fail_word`; records calls."""

    fail_word: ClassVar[str] = "teapot"
    calls: ClassVar[list[str]] = []

    async def generate(self, request: dict[str, Any], model_id: str, ctx: RunContext) -> Generated:
        type(self).calls.append(request["prompt"])
        if self.fail_word in request["prompt"]:
            raise ProviderError("local", "content policy: teapots are not allowed")
        return await super().generate(request, model_id, ctx)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> type[FlakyLocal]:
    FlakyLocal.calls = []
    monkeypatch.setitem(PROVIDERS, "local", FlakyLocal)
    return FlakyLocal


def test_a_failed_job_publishes_nothing_and_keeps_the_rest(
    run: Run, sample: Path, flaky: type[FlakyLocal]
) -> None:
    code, out, err = run(sample, "build")  # keep going is the default
    assert code == 1
    said = "failed: 3 jobs (local): local: content policy: teapots are not allowed (hero@16:9, "
    summary = [x for x in err.splitlines() if not x.startswith("[")]  # not progress lines
    assert said in err and sum("teapots are not allowed" in x for x in summary) == 1
    assert re.search(r"generated 17, .* failed 3", out)  # hero's 3 masters name the teapot
    assert "nothing published" in out
    assert not (sample / "dist").exists() and not (sample / "brandkit.lock").exists()

    flaky.fail_word = "no such word"
    flaky.calls = []
    code, out, _ = run(sample, "build")
    assert code == 0
    assert len(flaky.calls) == 3, "only the failed jobs are generated again"
    flaky.fail_word = "teapot"


def test_fail_fast_starts_no_new_job_after_a_failure(
    run: Run, sample: Path, flaky: type[FlakyLocal]
) -> None:
    code, _, err = run(sample, "build", "-j", "1", "--fail-fast")
    assert code == 1
    assert len(flaky.calls) < 18
    assert "skipped" in err


def test_publish_that_dies_midway_leaves_no_trace(
    run: Run, built_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock_before = (built_sample / "brandkit.lock").read_bytes()
    manifest = built_sample / "brandkit.yaml"
    manifest.write_text(manifest.read_text().replace("#E07A5F", "#E07A50"))

    real_link, calls = os.link, []

    def dying_link(src: Any, dst: Any, **kw: Any) -> None:
        calls.append(dst)
        if len(calls) == 10:
            raise OSError(28, "No space left on device")
        real_link(src, dst, **kw)

    monkeypatch.setattr(os, "link", dying_link)
    code, _, err = run(built_sample, "build")
    assert code == 1
    assert err.splitlines()[-1].startswith("error: No space left on device")
    dist = built_sample / "dist"
    assert sorted(p.name for p in dist.iterdir()) == ["latest", "v0001"], "no partial version"
    assert (built_sample / "brandkit.lock").read_bytes() == lock_before
    monkeypatch.setattr(os, "link", real_link)
    code, out, _ = run(built_sample, "build")
    assert code == 0 and "generated 0" in out and "published dist/v0002" in out
