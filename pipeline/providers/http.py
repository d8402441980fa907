"""Images from providers: downloads, inline base64, and the temp files they land in; and
the one place providers import the HTTP layer from.

Images are fetched from a URL (never with the API key), base64 or a data URI, streamed to
a temp file, and checked to be a whole PNG/JPEG/WEBP (or to start like an SVG document,
for a vector model: sanitised before it is stored) before anyone sees them. The rest of
the HTTP layer has a module per job: sending JSON with retries (send.py), when to retry
and how long to wait (policy.py), the deadline and size caps of each request (bounds.py),
where keys may go (keyguard.py).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # httpx is imported only when something is sent
    import httpx


from ..errors import ProviderError
from ..images import check_image, svg_head  # they live in images.py (imported from here too)
from .bounds import MB, Bounds, TooLarge, mb, refuse_declared, too_late
from .keyguard import KeyGuard, secret_forms
from .policy import RETRYABLE_STATUS, PollPolicy, RetryPolicy, retry_after
from .send import (
    MAY_HAVE_BEEN_CHARGED,
    describe,
    import_httpx,
    plain_error,
    send_json,
    sleep,
    transport_error,
)

__all__ = [  # the HTTP layer, as providers and the executor import it
    "MAY_HAVE_BEEN_CHARGED",
    "MB",
    "Bounds",
    "KeyGuard",
    "PollPolicy",
    "RetryPolicy",
    "check_image",
    "decode_inline",
    "download",
    "import_httpx",
    "plain_error",
    "remove_parts",
    "retry_after",
    "secret_forms",
    "send_json",
    "svg_head",
    "write_temp",
]

# Images on their way into the cache, in its tmp folder (a build clears what a killed
# build left there: see remove_parts).
PART_PREFIX, PART_SUFFIX = "dl-", ".part"


# --- images ---------------------------------------------------------------------------------


def remove_parts(tmp_dir: Path) -> int:
    """Remove what downloads cut short left behind (a build killed mid-transfer); only
    call it holding the project's build lock, which no other writer of `tmp_dir` holds."""
    try:
        names = os.listdir(tmp_dir)
    except FileNotFoundError:
        return 0
    removed = 0
    for name in names:
        if name.startswith(PART_PREFIX) and name.endswith(PART_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(tmp_dir, name))
                removed += 1
    return removed


def write_temp(tmp_dir: Path, data: bytes) -> Path:
    fd, name = _new_part(tmp_dir)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return Path(name)


def decode_inline(provider: str, value: str, tmp_dir: Path) -> Path:
    """A base64 string or a data URI, checked and written to a temp file."""
    if value.startswith("data:"):
        value = value.partition(",")[2]
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError(provider, "the inline image is not valid base64") from None
    if check_image(data[:16], data[-16:], len(data)) is None and not svg_head(data[:HEAD]):
        raise ProviderError(provider, "the inline image is not a whole PNG, JPEG, WEBP or SVG")
    return write_temp(tmp_dir, data)


HEAD = 64  # bytes of a download kept to tell its format (svg_head)


async def download(
    client: httpx.AsyncClient, provider: str, url: str, tmp_dir: Path, *, policy: RetryPolicy
) -> tuple[Path, str]:
    """Stream an image URL to a temp file, hashing it on the way (so the cache need not
    read it again); retry transport errors and broken files. Returns (path, sha256).
    A failure is retryable: the image is paid for, and a journaled job can be collected
    again by the next build. Each attempt ends at the deadline and the size cap."""
    import asyncio

    last, status = "", None
    bounds = policy.bounds
    for attempt in range(1, policy.attempts + 1):
        deadline = asyncio.timeout(bounds.timeout)
        try:
            async with deadline:
                return await _download_once(client, url, tmp_dir, bounds.max_download)
        except TimeoutError:
            if not deadline.expired():
                raise
            last, status = too_late(provider, bounds.timeout), None
        except transport_error() as exc:
            last, status = f"network error: {describe(exc)}", None
        except TooLarge as exc:
            last = (
                f"it is larger than the {mb(bounds.max_download)} allowed ({exc}; "
                f"providers.{provider}.max_download_mb sets the limit)"
            )
            break
        except _BadDownload as exc:
            last, status = str(exc), exc.status
            if not exc.retryable:
                break
        if attempt < policy.attempts:
            await sleep(policy.backoff(attempt))
    raise ProviderError(
        provider, f"could not download the image: {last}", retryable=True, status=status
    )


def _new_part(tmp_dir: Path) -> tuple[int, str]:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=tmp_dir, prefix=PART_PREFIX, suffix=PART_SUFFIX)


class _BadDownload(Exception):
    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


async def _download_once(
    client: httpx.AsyncClient, url: str, tmp_dir: Path, cap: int
) -> tuple[Path, str]:
    import asyncio

    # Creating a file costs an inode (0.5 ms on some disks): not on the event loop.
    fd, name = await asyncio.to_thread(_new_part, tmp_dir)
    path = Path(name)
    try:
        head, tail, size, digest = b"", b"", 0, hashlib.sha256()
        async with client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise _BadDownload(
                    f"HTTP {response.status_code} from the image URL",
                    retryable=response.status_code in RETRYABLE_STATUS,
                    status=response.status_code,
                )
            refuse_declared(response, cap)
            with os.fdopen(fd, "wb") as f:
                fd = -1
                async for chunk in response.aiter_bytes(1 << 16):
                    size += len(chunk)
                    if size > cap:
                        raise TooLarge(f"more than {cap} bytes came")
                    if len(head) < HEAD:
                        head = (head + chunk)[:HEAD]
                    tail = (tail + chunk)[-16:]
                    digest.update(chunk)
                    f.write(chunk)
        if check_image(head, tail, size) is None and not svg_head(head):
            kind = response.headers.get("content-type", "?")
            raise _BadDownload(f"not a whole PNG, JPEG, WEBP or SVG ({size} bytes of {kind})")
        return path, digest.hexdigest()
    except BaseException:
        if fd != -1:
            os.close(fd)
        path.unlink(missing_ok=True)
        raise
