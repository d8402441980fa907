"""The one small interface every provider implements.

Building the request is pure (spec in, wire body out), so `plan --json` can show the exact
body before a cent is spent; `generate` sends it and returns the image, sharing one HTTP
client the executor owns (tests point it at the loopback emulator).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ..errors import MissingKeyError
from ..jobs import GenerationSpec
from ..models import SIZES_1K, SIZES_2K, ModelInfo, find_model


@dataclass(frozen=True, slots=True)
class Generated:
    """A finished generation: the image bytes and what the provider said about them."""

    data: bytes
    seed: int | None = None
    cost_usd: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    model_id: str  # what the provider calls it
    alias: str | None  # the provider-neutral alias, when known
    sizes: dict[str, tuple[int, int]]


@dataclass
class RunContext:
    """What a provider may use while generating: the shared client and its settings."""

    client: Any = None  # httpx.AsyncClient for remote providers
    base_url: str | None = None
    timeout: float | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))


class Provider(Protocol):
    name: ClassVar[str]
    supports_colors: ClassVar[bool]
    asynchronous: ClassVar[bool]
    env_keys: ClassVar[tuple[str, ...]]
    default_concurrency: ClassVar[int]

    def resolve_model(self, model: str) -> ResolvedModel: ...

    def build_request(self, spec: GenerationSpec, model_id: str) -> dict[str, Any]: ...

    async def generate(self, request: dict[str, Any], ctx: RunContext) -> Generated: ...


class ProviderBase:
    """Shared behaviour: model resolution against the alias table, key lookup."""

    name: ClassVar[str] = ""
    supports_colors: ClassVar[bool] = True
    asynchronous: ClassVar[bool] = False
    env_keys: ClassVar[tuple[str, ...]] = ()
    default_concurrency: ClassVar[int] = 4

    def resolve_model(self, model: str) -> ResolvedModel:
        info: ModelInfo | None = find_model(self.name, model)
        if info is not None:
            return ResolvedModel(info.ids.get(self.name, info.alias), info.alias, info.sizes)
        # A raw id we do not know (a newer model): trust it, guessing the size tier.
        pro = "pro" in model.lower()
        return ResolvedModel(model, None, SIZES_2K if pro else SIZES_1K)

    def keys(self, env: dict[str, str]) -> dict[str, str]:
        """The provider's secrets from the environment, or MissingKeyError naming them."""
        missing = tuple(k for k in self.env_keys if not env.get(k))
        if missing:
            raise MissingKeyError(self.name, missing)
        return {k: env[k] for k in self.env_keys}
