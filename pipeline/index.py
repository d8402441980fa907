"""index.json read back: what a published version says it holds, checked before it is used.

Every command that reads a version's index (status, plan, build, versions, diff, gc) gets
either a dict of the documented shape or a one-line error naming the file; a damaged or
hand-edited index never reaches the code that trusts it (which would crash: exit 3).
NaN and infinities (not JSON, but Python's json reads them) are read as null: unknown.
Past this edge an output is an `IndexEntry` (`entries`), written back by `as_json` in the
order the index has always had.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BrandkitError
from .fsutil import relative_path


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One published output, as its version's index.json lists it."""

    path: str
    asset: str | None
    key: str  # the content key of the generation it was cut from
    sha256: str
    width: int
    height: int
    format: str
    provider: str
    model: str
    seed: int | None
    cost_usd: float | None
    credits: float | None
    prompt: str | None
    spec: dict[str, Any] = field(default_factory=dict)  # the request, as canonical JSON
    size: int | None = None
    # LockEntry.transform ("" for a plain cut); None: an older brandkit's index, which did
    # not record it (not written).
    transform: str | None = None

    @classmethod
    def from_json(cls, o: dict[str, Any]) -> IndexEntry:
        """From an output `read_index` has checked (`_output`)."""
        asset, prompt, spec = o.get("asset"), o.get("prompt"), o.get("spec")
        return cls(
            path=o["path"],
            asset=asset if isinstance(asset, str) else None,
            key=o["key"],
            sha256=o["sha256"],
            width=o["width"],
            height=o["height"],
            format=o["format"],
            provider=o["provider"],
            model=o["model"],
            seed=o.get("seed"),
            cost_usd=o.get("cost_usd"),
            credits=o.get("credits"),
            prompt=prompt if isinstance(prompt, str) else None,
            spec=spec if isinstance(spec, dict) else {},
            size=o.get("size"),
            transform=o.get("transform"),
        )

    def as_json(self) -> dict[str, Any]:
        """Its line in index.json, keys in the published order."""
        return {
            "path": self.path,
            "asset": self.asset,
            "key": self.key,
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "provider": self.provider,
            "model": self.model,
            "seed": self.seed,
            "cost_usd": self.cost_usd,
            "credits": self.credits,
            "prompt": self.prompt,
            "spec": self.spec,
            "size": self.size,
        } | ({"transform": self.transform} if self.transform is not None else {})


def entries(index: dict[str, Any] | None) -> dict[str, IndexEntry]:
    """A checked index's outputs by path (none for no index)."""
    if index is None:
        return {}
    return {o["path"]: IndexEntry.from_json(o) for o in index["outputs"]}


_STRINGS = ("path", "sha256", "key", "format", "provider", "model")
_INTS = ("width", "height")
_OPTIONAL_INTS = ("seed", "size")
_NUMBERS = ("cost_usd", "credits")


def read_index(path: Path, name: str) -> dict[str, Any] | None:
    """The index at `path` (`name` is how errors show it); None if there is no file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BrandkitError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    try:
        index = json.loads(data.decode("utf-8"), parse_constant=lambda _: None)
        problem = _shape(index)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        problem = f"not JSON ({exc})"
    if problem:
        raise BrandkitError(
            f"{name}: not a brandkit index ({problem}); restore it from git, or delete "
            f"{Path(name).parent}/ and build again"
        )
    return index  # type: ignore[no-any-return]


def _shape(index: Any) -> str | None:
    """What is wrong with a parsed index's shape, or None."""
    if not isinstance(index, dict):
        return f"expected an object, got {type(index).__name__}"
    outputs = index.get("outputs")
    if not isinstance(outputs, list):
        return "outputs must be a list"
    for name in ("created", "version"):
        if index.get(name) is not None and not isinstance(index[name], str):
            return f"{name} must be a string"
    seen: set[str] = set()
    for i, o in enumerate(outputs):
        problem = _output(o)
        if problem is None and o["path"] in seen:
            problem = f"{o['path']!r} is listed twice"
        if problem:
            return f"outputs[{i}]: {problem}"
        seen.add(o["path"])
    return None


def _output(o: Any) -> str | None:
    if not isinstance(o, dict):
        return f"expected an object, got {type(o).__name__}"
    for name in _STRINGS:
        if not isinstance(o.get(name), str):
            return f"{name} must be a string"
    if not relative_path(o["path"]):
        return f"path {o['path']!r} must be relative, inside the version folder"
    for name in _INTS:
        value = o.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            return f"{name} must be a positive integer"
    for name in _OPTIONAL_INTS:
        value = o.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            return f"{name} must be an integer or null"
    for name in _NUMBERS:
        value = o.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            return f"{name} must be a number or null"
    if o.get("transform") is not None and not isinstance(o["transform"], str):
        return "transform must be a string or absent"
    return None
