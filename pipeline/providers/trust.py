"""Trust at the edges of a provider: its keys, where they may go, and what it hands back.

- A key is stripped of surrounding whitespace; one with whitespace or a control
  character inside is refused before anything is sent (BadKeyError, which never holds
  any part of the value).
- A `base_url` that only the manifest names (not the documented base) is where anyone
  who can edit the manifest could send the key: it is used only when the environment
  confirms it, with BRANDKIT_<PROVIDER>_URL or BRANDKIT_ALLOW_BASE_URL (exact URLs or
  hosts, comma-separated). `validate` and `plan` show it (base_url_notes).
- What a provider returns (seed, cost, credits, ids, the image URL) is checked before
  anything journals or stores it (accept).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import BrandkitError, ProviderError

if TYPE_CHECKING:
    from .base import Generated

ALLOW_BASE_URL = "BRANDKIT_ALLOW_BASE_URL"


class BadKeyError(BrandkitError):
    """A key with whitespace or a control character inside it. The message names the
    variable and never holds any part of its value."""

    def __init__(self, provider: str, variable: str):
        self.provider = provider
        self.variable = variable
        super().__init__(
            f"{variable} (provider {provider!r}) has whitespace, a control character or a "
            "non-ASCII character inside it (two values, or a line break pasted into it?); "
            f"set {variable} to the key alone; nothing was sent"
        )


class UnconfirmedBaseUrl(BrandkitError):
    """The manifest sends a provider's key to a host that only the manifest names."""

    def __init__(self, provider: str, url: str):
        self.provider = provider
        self.url = url
        var = f"BRANDKIT_{provider.upper()}_URL"
        super().__init__(
            f"the manifest's providers.{provider}.base_url would send your {provider} key "
            f"to {host_of(url)}, which only the manifest names; nothing was sent. If you "
            f"trust it, confirm it in the environment: {ALLOW_BASE_URL}={url} (exact URLs "
            f"or hosts, comma-separated), or {var}={url}"
        )


def host_of(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).netloc or url
    except ValueError:
        return url


def base_url_allowed(url: str, allowed: str) -> bool:
    """Does BRANDKIT_ALLOW_BASE_URL (exact URLs or hosts, host:port, comma-separated)
    name `url`?"""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, netloc = (parts.hostname or "").lower(), parts.netloc.lower()
    except ValueError:
        return False
    for entry in (e.strip() for e in allowed.split(",")):
        if not entry:
            continue
        if "://" in entry:
            if entry.rstrip("/") == url.rstrip("/"):
                return True
        elif entry.lower().rstrip("/") in (host, netloc):
            return True
    return False


def base_url_notes(
    settings: dict[str, Any], env: dict[str, str], registry: dict[str, type]
) -> list[str]:
    """A line per provider whose base_url the manifest sets (not the documented one):
    where its key would go, and whether the environment has confirmed it. `registry`
    is providers.PROVIDERS, passed in (this module is imported by the providers)."""
    notes = []
    for name, s in sorted(settings.items()):
        url = getattr(s, "base_url", None)
        if not url or name not in registry:
            continue
        provider = registry[name]()
        if not provider.env_keys or provider.is_documented(url):
            continue
        var = f"BRANDKIT_{name.upper()}_URL"
        if (env.get(var) or "").strip():
            state = f"not used: {var} is set and wins"
        elif base_url_allowed(url, env.get(ALLOW_BASE_URL, "")):
            state = f"confirmed by {ALLOW_BASE_URL}"
        else:
            state = f"build will refuse it until {ALLOW_BASE_URL} or {var} confirms it"
        notes.append(
            f"providers.{name}.base_url sends the {name} key to {host_of(url)} "
            f"({url}), a host only the manifest names; {state}"
        )
    return notes


# --- what a provider hands back, checked before anything stores it --------------------------

MAX_SEED = 2**63 - 1
MAX_ID = 256  # characters of an id we journal (taskUUID, jobId, image ids)
MAX_URL = 8192


def accept(provider: str, result: Generated) -> tuple[Generated, list[str]]:
    """A provider's result as it may be stored: seed an int in [0, 2**63), cost and
    credits finite and non-negative, ids short printable strings. What fails is dropped
    (recorded as unknown) and named in a warning; an image URL that is not a plain
    http(s) URL is a provider error. Applied by the executor to every result, before it
    is journaled or cached."""
    warnings: list[str] = []
    seed = result.seed
    if seed is not None and not (type(seed) is int and 0 <= seed <= MAX_SEED):
        warnings.append(f"ignored the seed the provider returned ({_kind(seed)})")
        seed = None
    cost = _amount(result.cost_usd, "cost", warnings)
    credits = _amount(result.credits, "credits", warnings)
    meta, dropped = clean_fields(result.meta)
    warnings.extend(
        f"ignored the {name} the provider returned (not a short id)" for name in dropped
    )
    if result.url is not None:
        check_url(provider, result.url)
    changed = (seed, cost, credits, meta) != (
        result.seed,
        result.cost_usd,
        result.credits,
        result.meta,
    )
    if not changed:
        return result, warnings
    return replace(result, seed=seed, cost_usd=cost, credits=credits, meta=meta), warnings


def _amount(value: Any, name: str, warnings: list[str]) -> float | None:
    if value is None:
        return None
    if type(value) in (int, float) and math.isfinite(value) and 0 <= value < 1e9:
        return float(value)
    warnings.append(
        f"ignored the {name} the provider returned ({_kind(value)}); recorded as unknown"
    )
    return None


def _kind(value: Any) -> str:
    """What a rejected value was, without echoing it (it may be huge or hostile)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer out of range"
    if isinstance(value, float):
        return "not a finite non-negative number" if not math.isnan(value) else "NaN"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def clean_fields(fields: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Ids and URLs a provider handed back, as they may be journaled or stored: short
    printable strings (URLs: http(s), bounded), integers, or None; the rest dropped."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in fields.items():
        if _storable(name, value):
            kept[name] = value
        else:
            dropped.append(name)
    return kept, dropped


def _storable(name: str, value: Any) -> bool:
    if value is None or (type(value) is int and abs(value) <= MAX_SEED):
        return True
    limit = MAX_URL if _is_url_field(name) else MAX_ID
    return isinstance(value, str) and _printable(value, limit)


def _is_url_field(name: str) -> bool:
    return name.lower().endswith("url")


def _printable(text: str, limit: int) -> bool:
    return 0 < len(text) <= limit and all("!" <= c <= "~" for c in text)


def check_url(provider: str, url: Any) -> None:
    """An image URL a provider returned must be a plain http(s) URL."""
    ok = isinstance(url, str) and _printable(url, MAX_URL)
    if ok:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            ok = False
    if not ok:
        raise ProviderError(provider, "the image URL it returned is not an http(s) URL")
