"""The providers' side of one build: the one HTTP client, a RunContext for each provider,
every key sent to its own provider's origin only and kept out of every message."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import BrandkitError
from .manifest import Manifest, ProviderSettings
from .providers import get_provider
from .providers.base import RunContext
from .providers.http import Bounds, KeyGuard, PollPolicy, RetryPolicy, import_httpx, secret_forms

if TYPE_CHECKING:
    import httpx


class Session:
    def __init__(
        self, manifest: Manifest, env: dict[str, str], tmp_dir: Path, max_wait: float | None
    ):
        self.manifest = manifest
        self.env = env
        self.tmp_dir = tmp_dir
        self.max_wait = max_wait  # build --max-wait: the whole wait for one job's result
        self.contexts: dict[str, RunContext] = {}  # provider -> its context, once open
        self._secrets: list[str] = []
        self._guard = KeyGuard()  # each provider's keys to its own base origin only

    @contextlib.asynccontextmanager
    async def open(self, names: set[str]) -> AsyncIterator[None]:
        """A context for each provider named; one HTTP client if any of them needs it."""
        remote = {name for name in names if not get_provider(name).offline}
        async with self._client(remote) as client:
            for name in names:
                self.contexts[name] = self._context(name, client)
            yield

    def _client(
        self, remote: set[str]
    ) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient | None]:
        if not remote:
            return contextlib.nullcontext()
        httpx = import_httpx()

        timeouts = [
            s.timeout for n, s in self.manifest.providers.items() if n in remote and s.timeout
        ]
        read = max(timeouts) if timeouts else 300.0
        from .providers.transport import transport

        return httpx.AsyncClient(
            timeout=httpx.Timeout(read, connect=15.0),
            follow_redirects=True,
            headers={"User-Agent": _user_agent()},
            transport=transport(httpx),
            event_hooks={"request": [self._guard]},
        )

    def _context(self, name: str, client: httpx.AsyncClient | None) -> RunContext:
        provider = get_provider(name)
        settings = self.manifest.providers.get(name)
        keys = provider.keys(self.env)
        self._secrets.extend(v for v in keys.values() if len(v) >= 4)
        base_url = provider.base_url(settings.base_url if settings else None, self.env)
        if keys:
            self._guard.allow(name, base_url, keys)
        return RunContext(
            http=client,
            keys=keys,
            base_url=base_url,
            tmp_dir=self.tmp_dir,
            retry=replace(RetryPolicy.from_env(self.env, self.max_wait), bounds=_bounds(settings)),
            poll=PollPolicy.from_env(self.env, self.max_wait),
            timeout=settings.timeout if settings else None,
        )

    def keys_available(self, provider: str) -> bool:
        try:
            get_provider(provider).keys(self.env)
        except BrandkitError:
            return False
        return True

    def redact(self, text: str) -> str:
        """Never let a key reach a message, even if a provider echoes it back (raw,
        repr- or JSON-escaped, percent-encoded); and one message is one line."""
        for secret in self._secrets:
            for form in secret_forms(secret):
                text = text.replace(form, "***")
        return text.replace("\r\n", "\n").replace("\n", "\\n")


def _bounds(settings: ProviderSettings | None) -> Bounds:
    """A provider's deadline and size caps, from its manifest settings (if any)."""
    if settings is None:
        return Bounds()
    return Bounds.of(settings.timeout, settings.max_json_mb, settings.max_download_mb)


def _user_agent() -> str:
    from . import __version__

    return f"brandkit/{__version__}"
