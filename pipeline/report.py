"""Reporters: the same result objects rendered as text or JSON.

Results go to stdout; progress and logs to stderr. Colour and progress bars only on a
terminal and never with NO_COLOR; plain lines in CI.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress

    from .execute import Failure, Outcome
    from .plan import JobPlan, Plan
    from .workflow import BuildResult


# --- the output boundary: what may reach a terminal or a CI log ------------------------------

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides that
# reorder what a terminal shows: ESC, CSI, OSC, BEL, \r and their kin never reach one.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character escaped (`\r`, `\u001b`, ...): a provider's
    or a manifest's words can neither move the cursor, set a title, ring a bell nor hide
    a line. The escapes are also valid inside a JSON string, so JSON stays JSON (json
    escapes C0 controls itself; C1 controls it writes raw)."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    return "\\r" if c == "\r" else f"\\u{ord(c):04x}"


class SafeStream:
    """A text stream that writes everything through `printable`, with the given secrets
    replaced by `***`: the one boundary every printer's text crosses (click.echo,
    print, the reporters). `raw` is the stream beneath, for our own colour codes."""

    def __init__(self, raw: TextIO, secrets: Iterable[str] = ()):
        self.raw = raw
        self._secrets = sorted(set(secrets), key=len, reverse=True)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("SafeStream takes text")  # click then knows it is not binary
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        text = printable(text)
        try:
            self.raw.write(text)
        except UnicodeEncodeError:  # an ASCII-only stream (LANG=C)
            encoding = getattr(self.raw, "encoding", None) or "ascii"
            self.raw.write(text.encode(encoding, "backslashreplace").decode(encoding))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":  # bytes written beneath would bypass the boundary
            raise AttributeError(name)
        return getattr(self.raw, name)


def raw_stream(stream: TextIO) -> TextIO:
    """The stream beneath a SafeStream (for a progress bar's own escape codes)."""
    return stream.raw if isinstance(stream, SafeStream) else stream


# Every provider's env_keys (tests/test_escaping.py checks the two agree); listed here so
# that printing imports no provider module.
SECRET_VARIABLES = (
    "RUNWARE_API_KEY",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID",
    "PIXELDOJO_API_KEY",
    "RECRAFT_API_TOKEN",
)
# The remote cache's credentials: read by its client library from the AWS environment,
# never by brandkit, and hidden like the providers' keys all the same.
REMOTE_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@contextmanager
def safe_output(secrets: Iterable[str] = ()) -> Iterator[None]:
    """Route sys.stdout and sys.stderr through SafeStream for the duration."""
    secrets = [s for s in secrets if len(s) >= 8]
    saved = sys.stdout, sys.stderr
    sys.stdout = SafeStream(raw_stream(saved[0]), secrets)  # type: ignore[assignment]
    sys.stderr = SafeStream(raw_stream(saved[1]), secrets)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "jobs": [_job_json(j) for j in plan.jobs],
        "removed": [e.path for e in plan.removed],
        "moved": [{"from": m.old, "to": m.new, "key": m.key} for m in plan.moved],
        "summary": {
            "jobs": len(plan.jobs),
            "generate": plan.count("generate"),
            "remote": plan.count("remote"),
            "derive": plan.count("derive"),
            "reuse": plan.count("reuse"),
            "held": plan.count("held"),
            "remove": len(plan.removed),
            "move": len(plan.moved),
            "outputs": len(plan.outputs),
            "outputs_to_write": files_to_write(plan),
            "estimated_cost_usd": plan.estimated_cost_usd,
            "unknown_prices": sorted(plan.unknown_prices),
            "replaces_paid": sum(len(j.replaces_paid) for j in plan.jobs),
        },
    }


def _job_json(j: JobPlan) -> dict[str, Any]:
    data = {
        "key": j.job.key,
        "asset": j.job.asset,
        "assets": j.assets,
        "provider": j.job.provider,
        "model": j.job.model,
        "status": j.status,
        "reason": j.reason,
        "request": j.request,
        "outputs": [
            {
                "path": o.target.path,
                "width": o.target.width,
                "height": o.target.height,
                "format": o.target.format,
                "source": o.source,
            }
            for o in j.outputs
        ],
        "estimated_cost_usd": j.estimated_cost_usd,
    }
    if j.choice is not None:  # candidates and approval (approval.py)
        data["candidates"] = len(j.choice.keys)
        data["candidate"] = j.choice.chosen
        data["approved"] = j.choice.approved
        data["state"] = j.choice.state
        data["master_of"] = j.candidate  # which candidate this job's master is
    if j.changes:  # only on changed jobs: a plan of 10,000 jobs stays as small
        data["changes"] = [c.as_json() for c in j.changes]
    if j.replaces_paid:  # only on such jobs: a plan of 10,000 jobs stays as small
        data["replaces_paid"] = [
            {"path": e.path, "provider": e.provider, "model": e.model} for e in j.replaces_paid
        ]
    return data


def print_plan_json(plan: Plan, out: TextIO | None = None) -> None:
    """One object; each job on a line of its own (indent= would force json's pure-Python
    encoder, ten times slower on a large plan)."""
    out = out or sys.stdout
    data = plan_json(plan)
    encode = json.JSONEncoder(ensure_ascii=False).encode  # one encoder for every line
    jobs = ",\n".join(encode(j) for j in data.pop("jobs"))
    rest = json.dumps(data, ensure_ascii=False)[1:]
    out.write(f'{{"jobs": [\n{jobs}\n], {rest}\n' if jobs else f'{{"jobs": [], {rest}\n')


def print_plan(plan: Plan, out: TextIO | None = None, *, verbose: bool = False) -> None:
    out = out or sys.stdout
    from_cache = plan.from_cache()
    for j in plan.jobs:
        changes_dist = any(o.target.path in from_cache for o in j.outputs)
        if j.status == "reuse" and not verbose and not j.replaces_paid and not changes_dist:
            continue
        spec = j.job.spec
        cost = f"  ${j.estimated_cost_usd:.3f}" if j.status == "generate" else ""
        shared = f" (+{', '.join(j.assets[1:])})" if len(j.assets) > 1 else ""
        out.write(
            f"{j.status:<8} {j.job.asset}{shared} {spec.width}x{spec.height} "
            f"[{j.job.provider}/{j.job.model}] {j.reason}{cost}\n"
        )
        for o in j.outputs:
            if verbose or o.source in ("derive", "generate") or o.target.path in from_cache:
                out.write(f"         -> {o.target.path}\n")
    for m in plan.moved:
        out.write(f"move     {m.old} -> {m.new}\n")
    for e in plan.removed:
        out.write(f"remove   {e.path}\n")
    out.write(plan_summary(plan) + "\n")


def files_to_write(plan: Plan) -> int:
    """Outputs whose bytes must be made (cut from a master, or generated)."""
    return sum(o.source in ("derive", "generate") for o in plan.outputs)


def _from_cache(plan: Plan) -> str:
    """Reused outputs that are not what dist/latest holds (a revert, a fit changed back)."""
    cached = len(plan.from_cache())
    return f" ({cached} from the cache)" if cached else ""


def plan_summary(plan: Plan) -> str:
    """Jobs (generations) and files (outputs) counted apart, each named."""
    files, cut = len(plan.outputs), files_to_write(plan)
    parts = [
        f"{len(plan.jobs)} jobs: {plan.count('generate')} to generate, "
        f"{plan.count('derive')} to derive, {plan.count('reuse')} up to date"
        + (f", {plan.count('remote')} from the remote cache" if plan.count("remote") else "")
        + f" ({files} files: {cut} to write, {files - cut} reused{_from_cache(plan)})"
    ]
    if plan.count("held"):
        parts.append(f"{plan.count('held')} held (approved images stay live)")
    if plan.moved:
        parts.append(f"{len(plan.moved)} files to move")
    if plan.removed:
        parts.append(f"{len(plan.removed)} files to remove")
    parts.append(f"estimated cost ${plan.estimated_cost_usd:.2f}")
    if plan.unknown_prices:
        parts.append(f"(no price known for {', '.join(sorted(plan.unknown_prices))})")
    replacements = plan.paid_replacements()
    if replacements:
        from .paid_words import describe_paid_replacements

        parts.append(
            f"{describe_paid_replacements(replacements)}: build refuses without --replace-paid"
        )
    return "; ".join(parts)


def build_summary(result: BuildResult) -> str:
    o: Outcome = result.outcome
    # A job an earlier (stopped) build paid for and this one collected is generated here,
    # and its cost counted here; say so, or the rerun looks like it paid for it again.
    earlier = f" ({o.resumed} collected from an earlier build)" if o.resumed else ""
    jobs = result.plan.jobs
    if o.generated or o.failures or o.skipped or o.derived:
        text = (
            f"generated {o.generated}{earlier}, "
            + (f"cut from cached masters {cut}, " if (cut := _count(jobs, "derive")) else "")
            + f"up to date {_count(jobs, 'reuse')}, failed {len(o.failures)}"
            + (f", not sent {o.skipped}" if o.skipped else "")
            + f" ({len(jobs)} jobs); "
        )
    else:  # as fastpath says it, knowing only the files
        text = "generated 0, failed 0, every job up to date; "
    text += (
        f"{o.derived + o.reused} files: {o.derived} written, {o.reused} reused; "
        f"cost ${o.cost_usd:.2f}"
    )
    if result.published is None:
        text += "; nothing published (finished images are cached: rerun to resume)"
    elif result.published.version:
        text += f"; published dist/{result.published.version}"
    else:
        text += "; no changes, no new version"
    return text


def _count(jobs: list[JobPlan], status: str) -> int:
    return sum(j.status == status for j in jobs)


def failure_line(failure: Failure) -> str:
    """`failed: social[subject=beans]@1:1 (runware): <cause>`"""
    from .selectors import selector_of

    job = failure.job.job
    return f"failed: {selector_of(job)} ({job.provider}): {failure.message}"


def failure_lines(failures: list[Failure]) -> list[str]:
    """One line per distinct cause: a failure alone as `failure_line` says it; the same
    cause from one provider for several jobs once, with a count and their selectors:
    `failed: 3 jobs (runware): <cause> (hero@16:9, hero@1:1, logo@1:1)`."""
    from .selectors import selector_of

    groups: dict[tuple[str, str], list[Failure]] = {}
    for f in failures:
        groups.setdefault((f.job.job.provider, f.message), []).append(f)
    lines = []
    for (provider, message), same in groups.items():
        if len(same) == 1:
            lines.append(failure_line(same[0]))
            continue
        names = [selector_of(f.job.job) for f in same]
        shown = ", ".join(names[:NAMED_FAILURES]) + (
            f", and {len(names) - NAMED_FAILURES} more" if len(names) > NAMED_FAILURES else ""
        )
        lines.append(f"failed: {len(same)} jobs ({provider}): {message} ({shown})")
    return lines


NAMED_FAILURES = 8  # selectors named on a line of identical failures


def next_step(result: BuildResult) -> str | None:
    """What to do after a build with failures: fix the cause, build again; what is kept."""
    o = result.outcome
    if not o.failures:
        return None
    done = len(result.plan.jobs) - len({id(f.job) for f in o.failures}) - o.skipped
    kept = f"the {done} jobs done are kept" if done != 1 else "the 1 job done is kept"
    kept = kept if done > 0 else ""
    again = "fix the cause above and run brandkit build again"
    return f"next: {again}" + (f": {kept} (cached), only what failed is retried" if kept else "")


def use_terminal(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


class ProgressDisplay:
    """Progress of a build: a rich bar on a terminal, plain lines otherwise."""

    def __init__(self, jobs: list[JobPlan], stream: TextIO | None = None):
        stream = stream or sys.stderr
        self.watched = {id(j) for j in jobs if j.status != "reuse"}
        total = self.total = len(self.watched)
        self.done = 0
        self.stream = stream
        self._bar: Progress | None = None
        if total and use_terminal(stream):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            console = Console(file=raw_stream(stream), no_color=bool(os.environ.get("NO_COLOR")))
            self._bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task("building", total=total)
            self._bar.start()

    def __call__(self, event: str, job: JobPlan, detail: str) -> None:
        if id(job) not in self.watched:
            return
        if event in ("done", "failed", "skipped"):
            self.done += 1
        line = _event_line(event, job, detail, self.done, self.total)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=f"{job.job.asset}")
            if event == "failed":
                self._bar.console.print(printable(line), markup=False, highlight=False)
        elif line and event != "start":
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _event_line(event: str, job: JobPlan, detail: str, done: int, total: int) -> str:
    spec = job.job.spec
    combo = f" ({', '.join(f'{k}={v}' for k, v in job.job.matrix)})" if job.job.matrix else ""
    what = f"{job.job.asset}{combo} {spec.width}x{spec.height}"
    verb = {
        "done": job.status if job.status != "generate" else "generated",
        "failed": "FAILED",
        "skipped": "skipped",
    }.get(event, event)
    verb = {"reuse": "reused", "derive": "derived", "remote": "fetched"}.get(verb, verb)
    tail = f": {detail}" if detail else ""
    return f"[{done}/{total}] {verb} {what}{tail}"
