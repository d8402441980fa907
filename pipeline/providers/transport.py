"""The build's HTTP transport: httpx's own, with httpx's default limits.

An earlier version replaced httpx's private connection pool with one whose streams
answered httpcore's idle-connection check themselves. Measured interleaved (200 streamed
1024x1024 GETs from the loopback emulator, eight at once, 7 rounds): 1.96 ms of CPU per
GET against httpx's own 2.10 ms (0.14 ms saved per download, against generations of
15-36 s) and no gain in wall time. Too little for code that depends on httpx's internals.
"""

from __future__ import annotations

from typing import Any


def transport(httpx: Any) -> Any:
    """An httpx.AsyncHTTPTransport with httpx's default limits and TLS settings."""
    return httpx.AsyncHTTPTransport(limits=httpx.Limits())
