"""The provider-neutral domain objects that flow between the stages."""

from __future__ import annotations

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
class OutputTarget:
    """One file of the published kit, cut from a job's master image."""

    path: str  # relative POSIX path inside the version folder
    width: int
    height: int
    format: str  # png | jpg | webp | ico
    size: str  # the size as the user wrote it: "16:9" or "1200x630"


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
