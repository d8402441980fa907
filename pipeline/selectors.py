"""Selectors: how a person names jobs on the command line (`pick`, `approve`, `log`).

DESIGN "Candidates, review and approval": an asset id, optionally narrowed to a matrix
combination and a native ratio, `social[flavour=sencha,season=spring]@1:1`, or a job key
prefix of at least 8 hex digits (as `plan`, `status` and the review page print). Every
job has one canonical selector (`selector_of`) that names it and it alone, so the review
page can print a command that picks exactly that job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import BrandkitError
from .jobs import Job
from .models import find_model, reduce_ratio

KEY_PREFIX_MIN = 8
_KEY = re.compile(r"[0-9a-f]{8,64}")
_SELECTOR = re.compile(
    r"(?P<asset>[a-z0-9][a-z0-9_-]*)"
    r"(?:\[(?P<matrix>[^\]]*)\])?"
    r"(?:@(?P<ratio>[0-9]+:[0-9]+))?"
)


class SelectorError(BrandkitError):
    """A selector that is malformed or matches nothing: a usage error (exit 2)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Selector:
    text: str
    asset: str | None = None
    matrix: tuple[tuple[str, str], ...] = ()
    ratio: str | None = None  # reduced "W:H"
    key_prefix: str | None = None


def parse_selector(text: str) -> Selector:
    """`asset[k=v,...]@W:H` (both parts optional) or a hex key prefix of 8+ digits."""
    raw = text.strip()
    if _KEY.fullmatch(raw.lower()):
        # 8+ hex digits: a key prefix, unless an asset has that very name (`select` asks)
        asset = raw if _SELECTOR.fullmatch(raw) else None
        return Selector(text=raw, asset=asset, key_prefix=raw.lower())
    found = _SELECTOR.fullmatch(raw)
    if found is None:
        raise SelectorError(
            f"bad selector {text!r}: expected ASSET, ASSET[name=value,...], ASSET@W:H, "
            f"or a job key prefix of at least {KEY_PREFIX_MIN} hex digits"
        )
    ratio = found["ratio"]
    if ratio is not None:
        w, h = (int(x) for x in ratio.split(":"))
        if w == 0 or h == 0:
            raise SelectorError(f"bad selector {text!r}: the ratio {ratio} has a zero side")
        rw, rh = reduce_ratio(w, h)
        ratio = f"{rw}:{rh}"
    return Selector(
        text=raw, asset=found["asset"], matrix=_matrix(text, found["matrix"]), ratio=ratio
    )


def _matrix(text: str, body: str | None) -> tuple[tuple[str, str], ...]:
    if body is None:
        return ()
    pairs: dict[str, str] = {}
    for part in body.split(","):
        name, eq, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name or not value:
            raise SelectorError(
                f"bad selector {text!r}: inside [...] write name=value pairs separated "
                f"by commas, e.g. [flavour=sencha,season=spring]"
            )
        if name in pairs:
            raise SelectorError(f"bad selector {text!r}: {name} is given twice")
        pairs[name] = value
    return tuple(sorted(pairs.items()))


def job_ratio(job: Job) -> str:
    """The native aspect ratio a job was generated at, as the manifest names it ("16:9",
    not 1344x768's reduced 7:4); for a raw model with no size table, the reduced ratio."""
    dims = (job.spec.width, job.spec.height)
    info = find_model(job.provider, job.alias or job.model)
    if info is not None:
        for name, native in info.sizes.items():
            if native == dims:
                return name
    w, h = reduce_ratio(*dims)
    return f"{w}:{h}"


def selector_of(job: Job) -> str:
    """The canonical selector that names exactly this job (the review page prints it)."""
    text = job.asset
    if job.matrix:
        text += "[" + ",".join(f"{k}={v}" for k, v in job.matrix) + "]"
    return f"{text}@{job_ratio(job)}"


def select(selector: Selector, jobs: Sequence[Job]) -> list[Job]:
    """The jobs a selector names, in the order given; none is a SelectorError that says
    what exists (assets, matrix names and values, ratios), so a typo is easy to fix."""
    if selector.key_prefix is not None and selector.asset is not None:
        named = any(job.asset == selector.asset for job in jobs)  # an asset named in hex
        prefix = None if named else selector.key_prefix
        asset = selector.asset if named else None
        selector = Selector(text=selector.text, asset=asset, key_prefix=prefix)
    chosen = [job for job in jobs if _matches(selector, job)]
    if chosen:
        return chosen
    raise SelectorError(f"{selector.text!r} matches no job; {_what_exists(selector, jobs)}")


def select_all(texts: Iterable[str], jobs: Sequence[Job]) -> list[Job]:
    """The jobs named by any of several selectors, each once, in the order of `jobs`."""
    keys = {job.key for text in texts for job in select(parse_selector(text), jobs)}
    return [job for job in jobs if job.key in keys]


def _matches(selector: Selector, job: Job) -> bool:
    if selector.key_prefix is not None:
        return job.key.startswith(selector.key_prefix)
    if job.asset != selector.asset:
        return False
    combo = dict(job.matrix)
    if any(combo.get(name) != value for name, value in selector.matrix):
        return False
    if selector.ratio is None:
        return True
    w, h = (int(x) for x in job_ratio(job).split(":"))
    rw, rh = reduce_ratio(w, h)
    return f"{rw}:{rh}" == selector.ratio


def _what_exists(selector: Selector, jobs: Sequence[Job]) -> str:
    if selector.key_prefix is not None:
        return "job keys are printed by `brandkit plan` and on the review page"
    assets = sorted({job.asset for job in jobs})
    mine = [job for job in jobs if job.asset == selector.asset]
    if not mine:
        return "assets: " + (", ".join(assets) or "none")
    names: dict[str, set[str]] = {}
    for job in mine:
        for name, value in job.matrix:
            names.setdefault(name, set()).add(value)
    parts = [f"{name}: {', '.join(sorted(values))}" for name, values in sorted(names.items())]
    parts.append("ratios: " + ", ".join(sorted({job_ratio(job) for job in mine})))
    return f"{selector.asset} has " + "; ".join(parts)
