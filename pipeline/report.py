"""Reporters: the same result objects rendered as text or JSON.

Results go to stdout; progress and logs to stderr. Colour and progress bars only on a
terminal and never with NO_COLOR; plain lines in CI.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .execute import Failure, Outcome
    from .jobs import Job
    from .plan import JobPlan, Plan
    from .workflow import BuildResult


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "jobs": [_job_json(j) for j in plan.jobs],
        "removed": [e.path for e in plan.removed],
        "summary": {
            "jobs": len(plan.jobs),
            "generate": plan.count("generate"),
            "derive": plan.count("derive"),
            "reuse": plan.count("reuse"),
            "remove": len(plan.removed),
            "outputs": len(plan.outputs),
            "estimated_cost_usd": plan.estimated_cost_usd,
            "unknown_prices": sorted(plan.unknown_prices),
        },
    }


def _job_json(j: JobPlan) -> dict[str, Any]:
    return {
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
    for j in plan.jobs:
        if j.status == "reuse" and not verbose:
            continue
        spec = j.job.spec
        cost = f"  ${j.estimated_cost_usd:.3f}" if j.status == "generate" else ""
        shared = f" (+{', '.join(j.assets[1:])})" if len(j.assets) > 1 else ""
        out.write(
            f"{j.status:<8} {j.job.asset}{shared} {spec.width}x{spec.height} "
            f"[{j.job.provider}/{j.job.model}] {j.reason}{cost}\n"
        )
        for o in j.outputs:
            if verbose or o.source not in ("cache", "dist"):
                out.write(f"         -> {o.target.path}\n")
    for e in plan.removed:
        out.write(f"remove   {e.path}\n")
    out.write(plan_summary(plan) + "\n")


def plan_summary(plan: Plan) -> str:
    parts = [
        f"{len(plan.jobs)} jobs: {plan.count('generate')} to generate, "
        f"{plan.count('derive')} to derive, {plan.count('reuse')} up to date"
    ]
    if plan.removed:
        parts.append(f"{len(plan.removed)} outputs to remove")
    parts.append(f"estimated cost ${plan.estimated_cost_usd:.2f}")
    if plan.unknown_prices:
        parts.append(f"(no price known for {', '.join(sorted(plan.unknown_prices))})")
    return "; ".join(parts)


def build_summary(result: BuildResult) -> str:
    o: Outcome = result.outcome
    # A job an earlier (stopped) build paid for and this one collected is generated here,
    # and its cost counted here; say so, or the rerun looks like it paid for it again.
    earlier = f" ({o.resumed} collected from an earlier build)" if o.resumed else ""
    text = (
        f"generated {o.generated}{earlier}, derived {o.derived}, reused {o.reused}, "
        f"failed {len(o.failures)}, cost ${o.cost_usd:.2f}"
    )
    if result.published is None:
        text += "; nothing published (finished images are cached: rerun to resume)"
    elif result.published.version:
        text += f"; published dist/{result.published.version}"
    else:
        text += "; no changes, no new version"
    return text


def job_label(job: Job) -> str:
    """`social[subject=beans]@1:1`: the asset, its matrix combination and the native
    ratio it is generated at (`WxH` when the ratio has no name), printable whatever the
    values hold."""
    from .models import SIZES_1K, SIZES_2K

    dims = (job.spec.width, job.spec.height)
    ratio = next(
        (name for table in (SIZES_1K, SIZES_2K) for name, d in table.items() if d == dims),
        f"{dims[0]}x{dims[1]}",
    )
    combo = ",".join(f"{k}={_printable(v)}" for k, v in job.matrix)
    return f"{job.asset}{f'[{combo}]' if combo else ''}@{ratio}"


def failure_line(failure: Failure) -> str:
    """`failed: social[subject=beans]@1:1 (runware): <cause>`"""
    job = failure.job.job
    return f"failed: {job_label(job)} ({job.provider}): {failure.message}"


def _printable(text: str) -> str:
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def use_terminal(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


class Progress:
    """Progress of a build: a rich bar on a terminal, plain lines otherwise."""

    def __init__(self, jobs: list[JobPlan], stream: TextIO | None = None):
        stream = stream or sys.stderr
        self.watched = {id(j) for j in jobs if j.status != "reuse"}
        total = self.total = len(self.watched)
        self.done = 0
        self.stream = stream
        self._bar: Any = None
        if total and use_terminal(stream):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            console = Console(file=stream, no_color=bool(os.environ.get("NO_COLOR")))
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
                self._bar.console.print(line, markup=False, highlight=False)
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
    verb = {"reuse": "reused", "derive": "derived"}.get(verb, verb)
    tail = f": {detail}" if detail else ""
    return f"[{done}/{total}] {verb} {what}{tail}"
