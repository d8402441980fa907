"""Why a job runs, in the user's terms, with old and new values.

A job's reason names what changed since the output was last built, as a person would say
it: `colour signal #F97316 -> #22C55E`, `model recraft-v4 -> recraft-v4.1`,
`seed 1 -> 2`, `provider local -> runware`, `prompt +"walnut" -"oak"`. The old values come
from what the last build recorded (the cached master's record, or the output's entry in
dist/latest/index.json); the new ones from the job. Each change is also data (`Change`:
field, old, new) for `--json`. plan, status and diff all explain through `compare`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .jobs import RGB, Job, OutputTarget
from .manifest import Manifest, parse_color
from .models import MODELS, SIZES_1K, SIZES_2K, find_model

if TYPE_CHECKING:
    from .cache import Record
    from .index import IndexEntry
    from .lockfile import LockEntry

PROMPT_WORDS = 6  # at most this many added or removed phrases are named ...
PHRASE_CHARS = 32  # ... each at most this long


@dataclass(frozen=True, slots=True)
class Change:
    """One field that differs: `old` and `new` as plain JSON values (None: not set)."""

    field: str  # provider | model | prompt | size | palette | background | style | substyle | seed
    old: Any
    new: Any
    text: str  # how `plan` and `status` say it

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class Made:
    """What an image was (or is to be) made from: provider, model id and canonical spec."""

    provider: str
    model: str
    spec: Mapping[str, Any]


def compare(old: Made, new: Made, colours: Mapping[str, RGB] | None = None) -> list[Change]:
    """What differs between two requests, in the user's terms. Fields missing from the old
    spec (an older record) are not compared. `colours`: the manifest's brand colours, to
    name a palette or background entry by its name."""
    changes: list[Change] = []
    if old.provider != new.provider:
        changes.append(Change("provider", old.provider, new.provider,
                              f"provider {old.provider} -> {new.provider}"))  # fmt: skip
    was, now = model_name(old.provider, old.model), model_name(new.provider, new.model)
    if was != now:
        changes.append(Change("model", was, now, f"model {was} -> {now}"))
    o, n = old.spec, new.spec
    if "prompt" in o and o["prompt"] != n.get("prompt"):
        changes.append(Change("prompt", o["prompt"], n.get("prompt"),
                              prompt_text(o["prompt"] or "", n.get("prompt") or "")))  # fmt: skip
    if any(k in o and o[k] != n.get(k) for k in ("width", "height")):
        a = size_name(o.get("width", n.get("width")), o.get("height", n.get("height")))
        b = size_name(n.get("width"), n.get("height"))
        if a == b:  # the same ratio at another resolution (a Pro model's 2K, say)
            a, b = f"{o.get('width')}x{o.get('height')}", f"{n.get('width')}x{n.get('height')}"
        changes.append(Change("size", a, b, f"size {a} -> {b}"))
    names = _names(colours or {})
    if "palette" in o and _rgbs(o["palette"]) != _rgbs(n.get("palette")):
        changes.extend(_palette(_rgbs(o["palette"]), _rgbs(n.get("palette")), names))
    if "background" in o and _rgb(o["background"]) != _rgb(n.get("background")):
        changes.append(_colour("background", _rgb(o["background"]), _rgb(n.get("background")),
                               names))  # fmt: skip
    for name in ("style", "substyle", "seed"):
        if name in o and o[name] != n.get(name):
            text = f"{name} {_shown(o[name])} -> {_shown(n.get(name))}"
            changes.append(Change(name, o[name], n.get(name), text))
    return changes


def why(
    key: str,
    group: list[Job],
    lock: Mapping[str, LockEntry],
    old_request: Callable[[str], Record | IndexEntry | None],
    colours: Mapping[str, RGB] | None = None,
    published: Callable[[str], list[IndexEntry]] | None = None,
) -> tuple[str, list[Change]]:
    """Why a paid generation is needed, in the user's terms, and the changes it names.
    `old_request(path)`: what an output was last made from; `published(asset)`: the
    asset's outputs in dist/latest (to say `size 16:9 added` of a new job)."""
    entries = [lock[o.path] for j in group for o in j.outputs if o.path in lock]
    job = group[0]
    if not entries:
        return added(job, published(job.asset) if published else []), []
    if any(e.key == key for e in entries):
        return MISSING, []
    now = made_of(job)
    changes: list[Change] = []
    for j in group:
        for o in j.outputs:
            old = old_request(o.path)
            if old is not None:
                changes.extend(compare(Made(old.provider, old.model, old.spec), now, colours))
    changes = unique(changes)
    return say(changes), changes


def explain_outputs(
    changed: list[tuple[str, Job]],
    read_index: Callable[[], dict[str, Any] | None],
    colours: Mapping[str, RGB] | None = None,
) -> list[tuple[str, list[dict[str, Any]]]]:
    """`status`'s line for each changed output, `changed: PATH: <reason>`, and its changes
    as `{path, field, old, new}`: the old request from dist/latest's index.json (read only
    when something changed)."""
    if not changed:
        return []
    from .index import entries

    published = entries(read_index())
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for path, job in changed:
        old = published.get(path)
        if old is None:
            out.append((f"changed: {path}", []))
            continue
        changes = compare(Made(old.provider, old.model, old.spec), made_of(job), colours)
        if not changes and old.key == job.key:  # the same request, another size or format
            out.append((f"changed: {path}", []))
            continue
        data = [{"path": path, **c.as_json()} for c in changes]
        out.append((f"changed: {path}: {say(changes)}", data))
    return out


def made_of(job: Job) -> Made:
    return Made(job.provider, job.model, job.spec.canonical())


def added(job: Job, before: list[IndexEntry]) -> str:
    """A job no output of which was published: `new`, or, when its asset was published in
    other sizes or combinations, `size 16:9 added` / `subject=beans added`."""
    if not before:
        return "new"
    dims = (job.spec.width, job.spec.height)
    if not any((e.spec.get("width"), e.spec.get("height")) == dims for e in before):
        return f"size {size_name(*dims)} added"
    if job.matrix:
        return ",".join(f"{k}={v}" for k, v in job.matrix) + " added"
    return "new"


MISSING = "image missing from cache and dist"
# An output's cut (OutputTarget.transform_digest) is not the one the lock records. The lock
# keeps a digest, not the old values, so the reason names what the digest covers.
CUT_CHANGED = "cut changed (fit, pad, safe_zone, ico sizes or text)"


def recut_outputs(
    outputs: list[tuple[OutputTarget, bool]], lock: Mapping[str, LockEntry]
) -> str | None:
    """CUT_CHANGED when an output to cut (flagged True) was published cut another way."""
    for target, cut in outputs:
        entry = lock.get(target.path)
        if (
            cut
            and entry is not None
            and entry.transform is not None
            and entry.transform != target.transform_digest()
        ):
            return CUT_CHANGED
    return None


def added_outputs(
    outputs: list[tuple[OutputTarget, bool]], lock: Mapping[str, LockEntry]
) -> str | None:
    """`size 1200x630 added`, `format webp added`: the outputs to cut (flagged True) that
    the lock does not know, when it knows the job's others; None otherwise."""
    known = [t for t, _ in outputs if t.path in lock]
    new = [t for t, cut in outputs if cut and t.path not in lock]
    if not known or not new:
        return None
    sizes = {t.size for t in known}
    labels = [f"format {t.format}" if t.size in sizes else f"size {t.size}" for t in new]
    return ", ".join(dict.fromkeys(labels)) + " added"


def say(changes: Iterable[Change]) -> str:
    """The changes as one reason, each said once, in order; `request changed` when nothing
    the user wrote differs (a newer key schema, say)."""
    texts = list(dict.fromkeys(c.text for c in changes))
    return ", ".join(texts) if texts else "request changed"


def unique(changes: Iterable[Change]) -> list[Change]:
    return list({c.text: c for c in changes}.values())


def model_name(provider: str, model: str) -> str:
    """A model as the manifest names it: its alias when it has one, else the raw id."""
    info = find_model(provider, model)
    if info is None:  # an id recorded under another provider's name (a --provider build)
        info = next((m for m in MODELS.values() if model in m.ids.values()), None)
    return info.alias if info is not None else model


def size_name(width: Any, height: Any) -> str:
    """`16:9` for a native size, else `1200x630`."""
    dims = (width, height)
    for table in (SIZES_1K, SIZES_2K):
        for name, native in table.items():
            if native == dims:
                return name
    return f"{width}x{height}"


# --- the prompt: words added and removed --------------------------------------------------

_WORD = re.compile(r"\S+")


def prompt_text(old: str, new: str) -> str:
    """`prompt +"walnut" -"oak"`: the phrases added and removed (runs of words, as a diff
    of the two word lists finds them), at most PROMPT_WORDS of them, each bounded; a change
    of spacing or order alone is `prompt reworded`."""
    a, b = _WORD.findall(old), _WORD.findall(new)
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("insert", "replace"):
            parts.append("+" + _quoted(b[j1:j2]))
        if op in ("delete", "replace"):
            parts.append("-" + _quoted(a[i1:i2]))
    if not parts:
        return "prompt reworded"
    more = len(parts) - PROMPT_WORDS
    shown = " ".join(parts[:PROMPT_WORDS]) + (f" (+{more} more)" if more > 0 else "")
    return f"prompt {shown}"


def _quoted(words: list[str]) -> str:
    phrase = " ".join(words)
    if len(phrase) > PHRASE_CHARS:
        phrase = phrase[: PHRASE_CHARS - 3] + "..."
    return '"' + phrase.replace('"', "'") + '"'


# --- colours ------------------------------------------------------------------------------


def brand_colours(manifest: Manifest) -> dict[str, RGB]:
    """The manifest's brand colours by name (a reason names a colour by its name)."""
    colours: dict[str, RGB] = {}
    for name, value in ((manifest.brand or {}).get("colors") or {}).items():
        try:
            colours[str(name)] = parse_color(value)
        except (TypeError, ValueError, IndexError):  # validated before; never fatal here
            continue
    return colours


def hex_of(rgb: RGB | None) -> str | None:
    return None if rgb is None else "#{:02X}{:02X}{:02X}".format(*rgb)


def _rgb(value: Any) -> RGB | None:
    if isinstance(value, list | tuple) and len(value) == 3:
        return (int(value[0]), int(value[1]), int(value[2]))
    return None


def _rgbs(value: Any) -> list[RGB]:
    return [c for c in (_rgb(v) for v in value or []) if c is not None]


def _names(colours: Mapping[str, RGB]) -> dict[RGB, str]:
    names: dict[RGB, str] = {}
    for name, rgb in colours.items():
        names.setdefault(tuple(rgb), name)  # type: ignore[arg-type]
    return names


def _colour(field: str, old: RGB | None, new: RGB | None, names: dict[RGB, str]) -> Change:
    """`colour signal #F97316 -> #22C55E` (the brand colour's value changed),
    `background crema -> espresso` (another colour named), `background #FFFFFF -> #000000`."""
    a, b = hex_of(old), hex_of(new)
    was = names.get(old) if old is not None else None
    now = names.get(new) if new is not None else None
    if old is None:
        text = f"{field} {now or b} added"
    elif new is None:
        text = f"{field} {was or a} removed"
    elif now is not None and was is None:
        text = f"colour {now} {a} -> {b}"
    elif now is not None and was is not None:
        text = f"{field} {was} -> {now}"
    else:
        text = f"{field} {a} -> {b}"
    return Change(field, a, b, text)


def _palette(old: list[RGB], new: list[RGB], names: dict[RGB, str]) -> list[Change]:
    if len(old) == len(new):
        return [_colour("palette", a, b, names) for a, b in zip(old, new, strict=True) if a != b]
    gone = [c for c in old if c not in new]
    came = [c for c in new if c not in old]
    changes = [_colour("palette", None, c, names) for c in came]
    changes += [_colour("palette", c, None, names) for c in gone]
    if not changes:  # the same colours, reordered
        changes.append(Change("palette", [hex_of(c) for c in old], [hex_of(c) for c in new],
                              "palette reordered"))  # fmt: skip
    return changes


def _shown(value: Any) -> str:
    return "none" if value is None else str(value)
