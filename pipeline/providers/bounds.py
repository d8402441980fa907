"""Whatever a provider sends, a request ends: each attempt has a total deadline (from
sending it to the last byte of its answer, not only between two reads), and an answer is
read only up to a size cap (a Content-Length over it is refused unread)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # httpx is imported only when something is sent
    import httpx

MB = 1 << 20


@dataclass(frozen=True)
class Bounds:
    """How long one request may take and how much of an answer is read (per provider:
    `timeout`, `max_json_mb` and `max_download_mb` in the manifest's providers block).
    JSON bodies may carry an inline base64 image; a 2K PNG is at most about 20 MB."""

    timeout: float = 300.0  # seconds, from sending a request to its answer's last byte
    max_json: int = 32 * MB  # bytes of a JSON answer
    max_download: int = 64 * MB  # bytes of an image download

    @classmethod
    def of(cls, timeout: float | None, json_mb: float | None, download_mb: float | None) -> Bounds:
        """From the manifest's settings (None: the default)."""
        default = cls()
        return cls(
            timeout=timeout or default.timeout,
            max_json=int(json_mb * MB) if json_mb else default.max_json,
            max_download=int(download_mb * MB) if download_mb else default.max_download,
        )


class TooLarge(Exception):
    """An answer over its size cap (the message says how it was found out)."""


async def read_capped(response: httpx.Response, cap: int) -> bytes:
    """The (decoded) body, or TooLarge as soon as it is over `cap` bytes: a declared
    Content-Length over it is refused before reading a byte."""
    refuse_declared(response, cap)
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise TooLarge(f"more than {cap} bytes came")
        chunks.append(chunk)
    return b"".join(chunks)


def refuse_declared(response: httpx.Response, cap: int) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise TooLarge(f"it declares {int(declared)} bytes")


def too_late(provider: str, timeout: float) -> str:
    return f"no whole answer within {timeout:g}s (providers.{provider}.timeout)"


def mb(size: int) -> str:
    return f"{size / MB:g} MB"
