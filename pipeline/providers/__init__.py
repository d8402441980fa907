"""Providers, registered by name in one literal dict (the schema's enum is tested against it)."""

from __future__ import annotations

from .base import Provider
from .local import LocalProvider

PROVIDERS: dict[str, type] = {
    "local": LocalProvider,
}

REMOTE_PROVIDERS = ("runware", "cloudflare", "pixeldojo", "recraft")


def get_provider(name: str) -> Provider:
    try:
        return PROVIDERS[name]()
    except KeyError:
        from ..errors import BrandkitError

        if name in REMOTE_PROVIDERS:
            raise BrandkitError(
                f"provider {name!r} is not available in this version yet; use provider: local"
            ) from None
        raise BrandkitError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}") from None
