"""Providers, registered by name in one literal dict (the schema's enum is tested against it)."""

from __future__ import annotations

from .base import Provider
from .cloudflare import CloudflareProvider
from .local import LocalProvider
from .pixeldojo import PixelDojoProvider
from .recraft import RecraftProvider
from .runware import RunwareProvider

PROVIDERS: dict[str, type] = {
    "local": LocalProvider,
    "runware": RunwareProvider,
    "cloudflare": CloudflareProvider,
    "pixeldojo": PixelDojoProvider,
    "recraft": RecraftProvider,
}


def get_provider(name: str) -> Provider:
    try:
        return PROVIDERS[name]()  # type: ignore[no-any-return]
    except KeyError:
        from ..errors import BrandkitError

        raise BrandkitError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}") from None
