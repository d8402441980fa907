"""Faults inside one job: an answer of a shape nobody expected, a full disk after the
provider charged, a bug of brandkit's own. Each is that job's failure, named by asset,
combination and ratio; the other jobs finish and stay cached; what was paid is collected
by the next build, never paid again. Paid counts come from the emulator."""

from __future__ import annotations

import errno
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import pipeline.providers.http
import pipeline.realise
from pipeline.cache import Cache, RecordMeta
from pipeline.journal import JournalEntry
from pipeline.lockfile import read_lock
from pipeline.providers.runware import RunwareProvider
from tests.conftest import Run, journal, project
from tests.emulator import Emulator

LABELS = r"(hero@16:9|icon@1:1|banner@4:3)"  # the three jobs of tests.conftest.kit


def build(run: Run, p: Path, *args: str) -> tuple[int, str, str]:
    return run(p, "build", "-j", "1", *args)


def failed_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("failed: ")]


def cached_masters(run: Run, p: Path) -> int:
    """How many of the plan's jobs would not generate again (their image is cached)."""
    jobs = run.json(p, "plan")["jobs"]
    return sum(1 for j in jobs if j["status"] != "generate")


def once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, exc: BaseException) -> list:
    """Make owner.name raise `exc` the first time it is called, then behave."""
    real = getattr(owner, name)
    calls: list = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def enospc() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", "/full/disk")


# --- 1. answers of a shape nobody expected ------------------------------------------------


# Reading an answer of a shape nobody expected raises something other than a ProviderError
# (the providers are hardened against every shape we know of, so the exception is injected
# where a provider reads a finished task: RunwareProvider._image).
ODD = [
    TypeError("'NoneType' object is not subscriptable"),
    KeyError("imageURL"),
    AttributeError("'list' object has no attribute 'get'"),
    IndexError("list index out of range"),
    ZeroDivisionError("division by zero"),
]


@pytest.mark.parametrize("exc", ODD, ids=[type(e).__name__ for e in ODD])
def test_an_odd_answer_fails_its_job_by_name_and_the_rerun_collects_it(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    once(monkeypatch, RunwareProvider, "_image", exc)
    p = project(tmp_path, "runware")
    code, out, err = build(run, p)
    assert code == 1, err
    assert "internal error" not in err
    (line,) = failed_lines(err)
    assert re.match(rf"failed: {LABELS} \(runware\): runware: unexpected answer \(", line), line
    assert type(exc).__name__ in line
    assert "the next build asks for it again" in line
    assert "nothing published" in out
    assert remote.paid_by_provider["runware"] == 3
    assert cached_masters(run, p) == 2, "the other jobs' images are cached"
    assert len(journal(p)) == 1, "the odd job stays journaled: it was paid for"

    code, out, err = build(run, p)
    assert code == 0, err
    assert "1 collected from an earlier build" in out
    assert remote.paid_by_provider["runware"] == 3, "collected, not paid again"
    assert len(read_lock(p / "brandkit.lock")) == 6


def test_an_odd_answer_without_its_image_is_reported_as_maybe_charged(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    """Recraft's image comes inside its answer: garbled there, it is gone. The job fails
    by name; the next build says the request may have been charged, and generates it."""
    remote.inject("recraft", "garble", field="b64_json", value=12345)
    p = project(tmp_path, "recraft")
    code, _, err = build(run, p)
    assert code == 1
    (line,) = failed_lines(err)
    assert re.match(rf"failed: {LABELS} \(recraft\): recraft: unexpected answer \(", line), line
    code, _out, err = build(run, p)
    assert code == 0, err
    assert "may have been charged" in err
    assert remote.paid_by_provider["recraft"] == 4


def test_an_answer_that_stays_unreadable_is_given_up_after_three_builds(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never paying twice must not mean never getting the image: a journaled job whose
    answer three builds in a row could not read is submitted anew by the fourth (here
    the answer stays unreadable, so that one fails too)."""

    def unreadable(*args: Any) -> Any:
        raise TypeError("'int' object is not iterable")

    monkeypatch.setattr(RunwareProvider, "_image", unreadable)
    p = project(tmp_path, "runware")
    tails = []
    for _ in range(3):
        code, _, err = build(run, p, "--only", "hero")
        assert code == 1, err
        (line,) = failed_lines(err)
        assert "unexpected answer" in line
        tails.append(line)
    assert "the next build asks for it again" in tails[0] and "asks" in tails[1]
    assert "3 builds could not read its answer" in tails[2]
    assert remote.paid_by_provider["runware"] == 1, "three builds asked, none paid again"
    code, out, _ = build(run, p, "--only", "hero")
    assert remote.paid_by_provider["runware"] == 2, "the fourth submits it anew"
    assert "collected" not in out


def test_only_an_id_of_text_is_collectable() -> None:
    """An id of another type (an odd answer, journaled as it came) finds nothing: the
    next build says the request may have been charged instead of polling it forever."""

    def collectable(**fields: Any) -> bool:
        entry = JournalEntry.parse({"key": "k", "provider": "runware", **fields})
        return entry.collectable(RunwareProvider.journal_ids)

    assert not collectable(taskUUID=5, statusUrl=["x"], url={"a": 1}, file=None)
    assert not collectable(taskUUID="")
    assert collectable(taskUUID="0b9c4e1e-4a4f-4b1e-9d35-3f1f5d0c2a77")
    assert collectable(file=f"kept-{'ab' * 32}")


@pytest.mark.parametrize(
    ("provider", "on", "field", "value"),
    [
        ("runware", "poll", "cost", "n/a"),
        ("runware", "poll", "cost", [1, 2]),
        ("runware", "poll", "cost", "1e999"),  # parses, but not a finite number
        ("recraft", "submit", "credits", "lots"),
        ("recraft", "submit", "credits", {"units": 40}),
        ("pixeldojo", "poll", "creditCost", "NaN"),
    ],
)
def test_a_garbled_cost_keeps_the_image_with_the_cost_unknown(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, on: str, field: str, value: Any
) -> None:
    remote.inject(provider, "garble", on=on, field=field, value=value)
    p = project(tmp_path, provider)
    code, _out, err = build(run, p)
    assert code == 0, err
    assert remote.paid_by_provider[provider] == 3
    assert remote.pending_faults == []
    lock = read_lock(p / "brandkit.lock")
    unknown = {e.key for e in lock.values() if e.cost_usd is None and e.credits is None}
    assert len(unknown) == 1, "one job's cost is unknown; its image is published all the same"
    text = (p / "brandkit.lock").read_text("utf-8")
    assert "NaN" not in text and "Infinity" not in text


# --- 2. a full disk after the provider charged ---------------------------------------------

WHERE = ("download", "store", "index")


@pytest.mark.parametrize(
    ("provider", "where"),
    [
        *((p, w) for p in ("runware", "pixeldojo", "cloudflare") for w in WHERE),
        # Recraft's image comes in its answer: kept as a file until it is stored
        ("recraft", "store"),
        ("recraft", "index"),
    ],
)
def test_a_full_disk_after_paying_keeps_the_journal_and_the_rerun_collects(
    run: Run,
    tmp_path: Path,
    remote: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    where: str,
) -> None:
    if where == "download":  # the temp file for the image's bytes
        once(monkeypatch, pipeline.providers.http, "_new_part", enospc())
    elif where == "store":  # moving the downloaded image into the cache
        once(monkeypatch, Cache, "put_file", enospc())
    else:  # the cache's SQLite index
        once(monkeypatch, Cache, "put_file", sqlite3.OperationalError("database or disk is full"))
    p = project(tmp_path, provider)
    code, out, err = build(run, p)
    assert code == 1, err
    assert "internal error" not in err
    (line,) = failed_lines(err)
    assert re.match(rf"failed: {LABELS} \({provider}\): ", line), line
    cause = "database or disk is full" if where == "index" else "No space left on device"
    assert cause in line
    assert "the next build collects it" in line
    assert remote.paid_by_provider[provider] == 3
    (entry,) = journal(p).values()
    assert entry["provider"] == provider

    code, out, err = build(run, p)
    assert code == 0, err
    assert "1 collected from an earlier build" in out
    assert remote.paid_by_provider[provider] == 3, "the image paid for is collected"
    assert journal(p) == {}
    assert not list((p / ".brandkit" / "tmp").iterdir()), "nothing kept or half-written"


def test_a_full_disk_while_cutting_outputs_keeps_the_master(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    once(monkeypatch, Cache, "put", enospc())
    p = project(tmp_path, "runware")
    code, _, err = build(run, p)
    assert code == 1
    (line,) = failed_lines(err)
    assert "No space left on device" in line
    assert cached_masters(run, p) == 3, "every master is cached; only an output is missing"
    code, out, err = build(run, p)
    assert code == 0, err
    assert "generated 0" in out
    assert remote.paid_by_provider["runware"] == 3


# --- 1. a bug of brandkit's own ---------------------------------------------------------------


def test_a_bug_in_one_job_exits_3_after_the_others_are_cached(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline.realise._output_meta

    def buggy(source: Any, t: Any, spec: dict) -> RecordMeta:
        if t.path.startswith("banner/"):
            raise KeyError("a bug")
        return real(source, t, spec)

    monkeypatch.setattr(pipeline.realise, "_output_meta", buggy)
    p = project(tmp_path, "runware")
    code, _, err = build(run, p)
    assert code == 3
    assert "internal error: KeyError" in err
    assert remote.paid_by_provider["runware"] == 3
    assert cached_masters(run, p) == 3, "every paid image is cached, the buggy job's too"
    assert not (p / "dist").exists()

    monkeypatch.setattr(pipeline.realise, "_output_meta", real)
    code, _out, err = build(run, p)
    assert code == 0, err
    assert remote.paid_by_provider["runware"] == 3


def test_the_failure_label_names_the_combination(run: Run, tmp_path: Path) -> None:
    from pipeline.providers import PROVIDERS
    from pipeline.providers.local import LocalProvider

    class Odd(LocalProvider):
        async def generate(self, request: dict, model_id: str, ctx: Any) -> Any:
            if "beans" in request["prompt"]:
                # what parsing an answer of an unexpected type raises
                raise TypeError("'NoneType' object is not subscriptable")
            return await super().generate(request, model_id, ctx)

    p = tmp_path / "p"
    p.mkdir()
    (p / "brandkit.yaml").write_text(
        "kit: {name: k}\n"
        "assets:\n"
        "  social:\n"
        "    prompt: 'a cup of {{ subject }}'\n"
        "    matrix: {subject: [beans, pour-over]}\n"
        "    sizes: ['1:1']\n",
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(PROVIDERS, "local", Odd)
        code, out, err = run(p, "build")
    assert code == 1, err
    (line,) = failed_lines(err)
    assert line.startswith("failed: social[subject=beans]@1:1 (local): "), line
    assert "generated 1," in out


def test_a_kept_image_no_journal_entry_names_is_removed(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "recraft")
    tmp = p / ".brandkit" / "tmp"
    tmp.mkdir(parents=True)
    stale = tmp / f"kept-{'ab' * 32}"
    stale.write_bytes(b"an image nobody journals")
    code, _, err = build(run, p)
    assert code == 0, err
    assert not stale.exists()
    assert remote.paid_by_provider["recraft"] == 3
