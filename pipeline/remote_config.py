"""Where the shared remote cache is, from the manifest's `cache:` block and the environment.

`cache: {remote: "s3://BUCKET/PREFIX", endpoint: URL, region: NAME, read_only: BOOL}`,
overridden by `BRANDKIT_REMOTE`, `BRANDKIT_REMOTE_ENDPOINT` and
`BRANDKIT_REMOTE_READ_ONLY=1`. Never credentials: those come from the standard AWS
environment and credential chain, read by the client library (remote_cache.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import BrandkitError

# s3://BUCKET[/PREFIX]: a bucket name as S3 allows it (3-63 characters).
REMOTE_RE = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?\Z")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class RemoteSettings:
    url: str  # s3://BUCKET/PREFIX, as configured (printed in messages; holds no secret)
    bucket: str
    prefix: str  # without leading or trailing slashes; "" for the bucket's root
    endpoint: str | None = None
    region: str | None = None
    read_only: bool = False
    timeout: float = 10.0  # seconds for one request, retries included
    wait: float = 600.0  # longest a build waits for another machine's claimed master
    claim_ttl: float = 900.0  # a claim older than this is a crashed machine's: ignored


def remote_settings(manifest_data: Any, env: dict[str, str]) -> RemoteSettings | None:
    """The remote cache's settings, or None when none is configured. A malformed
    environment value is a BrandkitError naming the variable (the manifest's own values
    were checked by the schema, with their line)."""
    block = manifest_data.get("cache") if isinstance(manifest_data, dict) else None
    block = block if isinstance(block, dict) else {}
    url = env.get("BRANDKIT_REMOTE") or block.get("remote")
    if not url:
        return None
    source = "BRANDKIT_REMOTE" if env.get("BRANDKIT_REMOTE") else "cache.remote"
    match = REMOTE_RE.match(str(url))
    if match is None:
        raise BrandkitError(
            f"{source}: {str(url)[:80]!r} is not a remote cache; write s3://BUCKET/PREFIX "
            "(a bucket name of 3-63 lowercase letters, digits, '.' and '-')"
        )
    endpoint = env.get("BRANDKIT_REMOTE_ENDPOINT") or block.get("endpoint") or None
    if endpoint is not None and not re.match(r"https?://[^\s/]+", endpoint):
        raise BrandkitError(
            f"BRANDKIT_REMOTE_ENDPOINT: {endpoint[:80]!r} is not a URL; write "
            "https://HOST[:PORT] (http:// for a server on this machine)"
        )
    return RemoteSettings(
        url=str(url),
        bucket=match.group(1),
        prefix=(match.group(2) or "").strip("/"),
        endpoint=endpoint.rstrip("/") if endpoint else None,
        region=block.get("region") or None,
        read_only=_flag(env, "BRANDKIT_REMOTE_READ_ONLY", bool(block.get("read_only"))),
        timeout=_seconds(env, "BRANDKIT_REMOTE_TIMEOUT", 10.0),
        wait=_seconds(env, "BRANDKIT_REMOTE_WAIT", 600.0),
        claim_ttl=_seconds(env, "BRANDKIT_REMOTE_CLAIM_TTL", 900.0),
    )


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise BrandkitError(f"{name}: {value[:40]!r} is not a yes/no value; write 1 or 0")


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if value is None or not value.strip():
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e6:
        raise BrandkitError(f"{name}: {value[:40]!r} is not a number of seconds; write e.g. 30")
    return seconds
