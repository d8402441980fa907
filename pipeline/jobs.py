"""The provider-neutral domain objects that flow between the stages."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

RGB = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class GenerationSpec:
    """What to generate, independent of any provider's wire format.

    Everything that can change the pixels a provider returns is here, and nothing else:
    the content key is computed from this, the provider and the model.
    """

    prompt: str
    width: int
    height: int
    palette: tuple[RGB, ...] = ()
    background: RGB | None = None
    style: str | None = None
    substyle: str | None = None
    seed: int | None = None

    def canonical(self) -> dict:
        """A JSON-ready dict with a fixed shape (used for keys and reports)."""
        return {
            "prompt": self.prompt,
            "width": self.width,
            "height": self.height,
            "palette": [list(c) for c in self.palette],
            "background": list(self.background) if self.background is not None else None,
            "style": self.style,
            "substyle": self.substyle,
            "seed": self.seed,
        }


@dataclass(frozen=True, slots=True)
class Fit:
    """How a master fills an output of another aspect (DESIGN: "Vector assets, icon sets
    and fit"): `cover` crops to fill; `contain` fits the whole master inside, centred,
    on `pad` (None: transparent, or the background for jpg), shrunk to `safe_zone`."""

    mode: str = "cover"  # cover | contain
    pad: RGB | None = None
    safe_zone: float | None = None  # contain only: the drawing's fraction of the size

    def canonical(self) -> dict:
        return {
            "mode": self.mode,
            "pad": list(self.pad) if self.pad is not None else None,
            "safe_zone": self.safe_zone,
        }


COVER = Fit()


@dataclass(frozen=True, slots=True)
class OutputTarget:
    """One file of the published kit, cut from a job's master image."""

    path: str  # relative POSIX path inside the version folder
    width: int
    height: int
    format: str  # png | jpg | webp | ico | svg | webmanifest | html
    size: str  # the size as the user wrote it: "16:9" or "1200x630"
    fit: Fit = COVER
    ico_sizes: tuple[int, ...] = ()  # an ico's square sizes, largest = width (one file)
    text: str | None = None  # a text output's content (site.webmanifest, head.html)

    def transform(self) -> dict:
        """What, beyond size and format, shapes this output's bytes: only fields that
        differ from the defaults, so keys of plain outputs never change."""
        extra: dict = {}
        if self.fit != COVER:
            extra["fit"] = self.fit.canonical()
        if self.ico_sizes:
            extra["ico_sizes"] = list(self.ico_sizes)
        if self.text is not None:
            extra["text"] = self.text
        return extra

    def transform_digest(self) -> str:
        """The lock's record of `transform()`: 16 hex digits, or "" for a plain output. It
        lets a lost cache tell a published file cut with another fit from this one."""
        extra = self.transform()
        if not extra:
            return ""
        text = json.dumps(extra, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Job:
    """One paid generation: an asset x matrix combination x native size."""

    key: str
    asset: str
    provider: str
    model: str  # the model id as the provider knows it
    spec: GenerationSpec
    outputs: tuple[OutputTarget, ...]
    matrix: tuple[tuple[str, str], ...] = field(default=())
    alias: str | None = None  # the provider-neutral alias, when one was used
    candidates: int = 1  # how many candidate masters (candidates.py); key is candidate 1's
