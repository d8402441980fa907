"""Where keys may go: each provider's keys to its own base origin, nowhere else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ProviderError

if TYPE_CHECKING:  # httpx is imported only when something is sent
    import httpx


def origin(url: Any) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL (an httpx.URL or a string), the port made explicit."""
    import httpx

    url = httpx.URL(url) if isinstance(url, str) else url
    scheme = url.scheme.lower()
    return scheme, (url.host or "").lower(), url.port or {"https": 443}.get(scheme, 80)


class KeyGuard:
    """Each provider's keys go to its base origin (scheme, host, port) and nowhere else.

    Installed as the build's HTTP client's request hook, it sees every request the client
    sends, each hop of a redirect included, whatever headers a caller attached: a header
    that holds a key is removed from a request to any other origin (and Authorization
    from a request to an origin that is no provider's base), and a request to another
    origin whose URL or body holds a key is refused (ProviderError) before it is sent.
    """

    MIN_SECRET = 4  # shorter values would match by chance

    def __init__(self) -> None:
        self._allowed: dict[tuple[str, str, int], set[str]] = {}
        self._secrets: dict[str, tuple[str, str]] = {}  # value -> (provider, variable)

    def allow(self, provider: str, base_url: str, keys: dict[str, str]) -> None:
        """`keys` (variable -> value) may go to `base_url`'s origin."""
        allowed = self._allowed.setdefault(origin(base_url), set())
        for variable, value in keys.items():
            if len(value) >= self.MIN_SECRET:
                self._secrets.setdefault(value, (provider, variable))
                allowed.add(value)

    async def __call__(self, request: httpx.Request) -> None:
        self.check(request)

    def check(self, request: httpx.Request) -> None:
        where = origin(request.url)
        allowed = self._allowed.get(where)
        if allowed is None:
            request.headers.pop("authorization", None)
            request.headers.pop("proxy-authorization", None)
        body: bytes | None = None
        for secret, (provider, variable) in self._secrets.items():
            if allowed is not None and secret in allowed:
                continue
            for name, value in list(request.headers.items()):
                if secret in value:
                    del request.headers[name]
            if body is None:
                body = _body_of(request)
            if _holds(secret, str(request.url).encode(), body):
                raise ProviderError(
                    provider,
                    f"refused to send {variable} to {where[1]}:{where[2]}, which is not "
                    f"{provider}'s base URL (the request was not sent)",
                )


def _body_of(request: httpx.Request) -> bytes:
    import httpx

    try:
        return request.content
    except httpx.RequestNotRead:  # a redirect's copy of the body: a byte stream
        stream = request.stream
        return b"".join(stream) if isinstance(stream, httpx.ByteStream) else b""


def _holds(secret: str, *texts: bytes) -> bool:
    """Does any text hold the secret in any of its forms?"""
    encoded = [f.encode() for f in secret_forms(secret)]
    return any(form in text for text in texts for form in encoded)


def secret_forms(secret: str) -> list[str]:
    """A secret as it may appear in text: raw, repr- and JSON-escaped, percent-encoded
    (longest first, so a replacement never leaves a part of a longer form behind)."""
    import json
    from urllib.parse import quote

    forms = {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote(secret),
    }
    return sorted(forms, key=len, reverse=True)
