"""The one small interface every provider implements.

Building the request is pure (spec in, wire body out), so `plan --json` can show the exact
body before a cent is spent; `generate` sends it and returns the image, through the one
HTTP client the executor owns (tests point it at the loopback emulator). Capabilities are
plain attributes, checked before anything is sent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, cast

from ..errors import MissingKeyError
from ..jobs import GenerationSpec
from ..models import MODELS, SIZES_1K, SIZES_2K, ModelInfo, find_model
from .http import PollPolicy, RetryPolicy
from .trust import ALLOW_BASE_URL, BadKeyError, UnconfirmedBaseUrl, base_url_allowed

if TYPE_CHECKING:
    import httpx

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Generated:
    """A finished generation: the image as bytes, a temp file the caller now owns, or the
    URL to fetch it from (the executor downloads it outside the provider's slot)."""

    data: bytes | None = None
    path: Path | None = None
    url: str | None = None
    sha256: str | None = None  # of the file at `path`, when known (hashed while streamed)
    seed: int | None = None
    cost_usd: float | None = None  # what the provider says it charged, in USD
    credits: float | None = None  # ... or in the provider's own units
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    model_id: str  # what the provider calls it
    alias: str | None  # the provider-neutral alias, when known
    sizes: dict[str, tuple[int, int]]


@dataclass
class RunContext:
    """What a provider may use while generating."""

    http: httpx.AsyncClient | None = None  # the shared client; none for an offline provider
    base_url: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    tmp_dir: Path = Path(".")
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    poll: PollPolicy = field(default_factory=PollPolicy)
    timeout: float | None = None
    # Journals what it takes to collect this job later (taskUUID, jobId...), before the
    # provider can charge for it; the executor gives each job its own.
    note: Callable[..., None] = field(default=lambda **fields: None)
    # An asynchronous provider says its job's request is with the provider (running
    # there): until the jobs a freed slot let start have said so, the executor holds
    # back downloads of finished images, so the next submission goes out first.
    submitted: Callable[[], None] = field(default=lambda: None)
    # Per-build state a provider shares between its jobs (a poller), one object of each
    # type (see `state`); copies of the context made for each job share this one dict.
    shared: dict[type, object] = field(default_factory=dict)

    @property
    def client(self) -> httpx.AsyncClient:
        """The build's one HTTP client (the executor opens it for any provider that is
        not `offline`)."""
        if self.http is None:
            raise RuntimeError("no HTTP client: the provider is marked offline")
        return self.http

    def state(self, kind: type[S], make: Callable[[], S]) -> S:
        """The build's one `kind` for this provider, made on first use, shared by its jobs."""
        if kind not in self.shared:
            self.shared[kind] = make()
        return cast(S, self.shared[kind])


class Provider(Protocol):
    name: ClassVar[str]
    supports_colors: ClassVar[bool]
    supports_style: ClassVar[bool]
    supports_seed: ClassVar[bool]
    asynchronous: ClassVar[bool]
    journals_id: ClassVar[bool]
    journal_ids: ClassVar[tuple[str, ...]]
    offline: ClassVar[bool]
    free: ClassVar[bool]
    self_drawn: ClassVar[bool]
    env_keys: ClassVar[tuple[str, ...]]
    default_concurrency: ClassVar[int]
    default_base_url: ClassVar[str]

    def resolve_model(self, model: str) -> ResolvedModel: ...

    def build_request(
        self, spec: GenerationSpec, model_id: str, alias: str | None
    ) -> dict[str, Any]: ...

    async def generate(
        self, request: dict[str, Any], model_id: str, ctx: RunContext
    ) -> Generated: ...

    def keys(self, env: dict[str, str]) -> dict[str, str]: ...

    async def resume(self, ids: dict[str, Any], ctx: RunContext) -> Generated: ...

    def base_url(self, configured: str | None, env: dict[str, str]) -> str: ...


class JobGone(Exception):
    """A journaled job the provider no longer knows (expired, or never arrived)."""


class ModelNotAvailable(ValueError):
    """The model is not served by this provider (the message lists what is)."""


class ProviderBase:
    """Shared behaviour: model resolution against the alias table, key lookup."""

    name: ClassVar[str] = ""
    supports_colors: ClassVar[bool] = True
    supports_style: ClassVar[bool] = False
    supports_seed: ClassVar[bool] = False
    asynchronous: ClassVar[bool] = False
    # Journals its own job id (ctx.note) before sending anything that may be charged, so
    # the executor need not journal the bare intent first.
    journals_id: ClassVar[bool] = False
    # The fields of its ctx.note that find a journaled job again (as text): an entry
    # with none of them (nor an image URL or kept file) cannot be collected.
    journal_ids: ClassVar[tuple[str, ...]] = ()
    offline: ClassVar[bool] = False  # sends nothing over the network: no HTTP client
    # Charges nothing: no intent is journaled before it is asked, and the first Ctrl-C
    # abandons its jobs (there is nothing paid to finish).
    free: ClassVar[bool] = False
    # Its images are drawn by brandkit's own code: their header is checked, they are
    # not decoded whole like a provider's.
    self_drawn: ClassVar[bool] = False
    env_keys: ClassVar[tuple[str, ...]] = ()
    default_concurrency: ClassVar[int] = 4
    default_base_url: ClassVar[str] = ""

    def sizes_for(self, info: ModelInfo) -> dict[str, tuple[int, int]]:
        return info.sizes

    def resolve_model(self, model: str) -> ResolvedModel:
        info = find_model(self.name, model)
        if info is not None:
            if self.name not in info.ids:
                offered = [a for a, m in MODELS.items() if self.name in m.ids]
                served = ", ".join([*info.ids, "local"])
                raise ModelNotAvailable(
                    f"{self.name} does not serve {model!r}; it offers {', '.join(offered)}; "
                    f"{model!r} is served by {served}"
                )
            return ResolvedModel(info.ids[self.name], info.alias, self.sizes_for(info))
        # A raw id we do not know (a newer model): trust it, guessing the size tier.
        pro = "pro" in model.lower()
        return ResolvedModel(model, None, SIZES_2K if pro else SIZES_1K)

    async def resume(self, ids: dict[str, Any], ctx: RunContext) -> Generated:
        """Collect a job journaled by an interrupted build; JobGone if there is none.
        `ids`: the fields it journaled through ctx.note (JournalEntry.ids), unchecked."""
        raise JobGone(f"{self.name} jobs cannot be resumed")

    def keys(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """The provider's secrets from the environment, or MissingKeyError naming them.

        Whitespace around a value (a key file saved with CRLF, a pasted newline) is
        stripped; whitespace or a control character inside one is refused (BadKeyError)
        before anything is sent, without a word of the value."""
        env = dict(os.environ) if env is None else env
        values = {k: (env.get(k) or "").strip() for k in self.env_keys}
        missing = tuple(k for k, v in values.items() if not v)
        if missing:
            raise MissingKeyError(self.name, missing)
        for variable, value in values.items():
            if not all("!" <= c <= "~" for c in value):
                raise BadKeyError(self.name, variable)
        return values

    def base_url(self, configured: str | None, env: dict[str, str]) -> str:
        """BRANDKIT_<NAME>_URL, else the manifest's base_url, else the documented base.

        A manifest's base_url other than the documented base is where anyone who can
        edit the manifest could send this provider's key: it is used only once the
        environment confirms it (BRANDKIT_ALLOW_BASE_URL), else UnconfirmedBaseUrl."""
        override = (env.get(f"BRANDKIT_{self.name.upper()}_URL") or "").strip()
        if override:
            return override.rstrip("/")
        if configured and self.env_keys and not self.is_documented(configured):
            if not base_url_allowed(configured, env.get(ALLOW_BASE_URL, "")):
                raise UnconfirmedBaseUrl(self.name, configured)
            return configured.rstrip("/")
        return self.default_base_url.rstrip("/")

    def is_documented(self, url: str) -> bool:
        return url.rstrip("/") == self.default_base_url.rstrip("/")


def recraft_style_and_controls(spec: GenerationSpec) -> dict[str, Any]:
    """Recraft's own field names (also Cloudflare's): style, substyle, controls{...}."""
    fields: dict[str, Any] = {}
    if spec.style:
        fields["style"] = spec.style
    if spec.substyle:
        fields["substyle"] = spec.substyle
    controls: dict[str, Any] = {}
    if spec.palette:
        controls["colors"] = rgb_list(spec.palette)
    if spec.background is not None:
        controls["background_color"] = {"rgb": list(spec.background)}
    if controls:
        fields["controls"] = controls
    return fields


def rgb_list(palette: tuple[tuple[int, int, int], ...]) -> list[dict[str, list[int]]]:
    return [{"rgb": list(c)} for c in palette]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def as_number(value: Any) -> Any:
    """A cost or credit count the provider echoed, as a float where it reads as one, and
    otherwise as it came: never an exception here (a garbled cost must not cost the image
    it came with). trust.accept then refuses what is not a sane amount, with a warning,
    and records it as unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float
        return math.inf
    except ValueError:
        return value
