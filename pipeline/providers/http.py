"""The one place that talks HTTP: retries, backoff, Retry-After, downloads.

Every provider sends through `send_json` with its own error parser. Retried: transport
errors, 408, 425, 429 and 5xx (exponential backoff with full jitter, honouring
`Retry-After` up to `max_wait`); never 400/401/402/403/404, never a 200 whose body is not
JSON (the work behind it is done, and may be charged). A synchronous provider
(`retry_unsent_only`) has no way to ask whether a lost request ran, so only what provably
never reached generation is sent again: a refused connection, 429, 503 with Retry-After.
Images are fetched from a URL
(never with the API key), base64 or a data URI, streamed to a temp file, and checked to
be a whole PNG/JPEG/WEBP before anyone sees them.

Whatever a provider sends, a request ends: each attempt has a total deadline (`Bounds`:
from sending it to the last byte of its answer, not only between two reads), and an
answer is read only up to a size cap (a Content-Length over it is refused unread).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # httpx is imported only when something is sent
    import httpx


from ..errors import ProviderError
from ..images import check_image  # it lives in images.py (imported from here too)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Images on their way into the cache, in its tmp folder (a build clears what a killed
# build left there: see remove_parts).
PART_PREFIX, PART_SUFFIX = "dl-", ".part"
ErrorParser = Callable[["httpx.Response"], tuple[str, str | None]]  # -> (message, code)


# `build --max-wait S`: the longest one job waits for its result, from its submission to
# the finished image (polling and Retry-After sleeps included). Default 20 minutes, as
# Runware's SDK waits for a task [RW-sdk-client].
MAX_WAIT = 20 * 60.0

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


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base: float = 1.0  # first backoff ceiling, seconds
    cap: float = 30.0  # largest backoff ceiling
    max_wait: float = MAX_WAIT  # longest Retry-After we are willing to sleep (--max-wait)
    bounds: Bounds = Bounds()  # of each attempt

    @classmethod
    def from_env(cls, env: dict[str, str], max_wait: float | None = None) -> RetryPolicy:
        """Tests and impatient users can shorten the waits (never the attempt count).
        `max_wait` is `build --max-wait`; BRANDKIT_MAX_WAIT stands in for it."""
        base = float(env.get("BRANDKIT_RETRY_BASE", cls.base))
        if max_wait is None:
            max_wait = float(env.get("BRANDKIT_MAX_WAIT", cls.max_wait))
        return cls(base=base, cap=max(base, min(cls.cap, base * 30)), max_wait=max_wait)

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class PollPolicy:
    """How often to ask whether a job is done: never more often than `first`, never less
    often than `cap`, and otherwise every `fraction` of the time it has been running, so
    a finished job is noticed within about 5% of its own duration (a 20 s job, within
    1 s) for a handful of polls, and a slot is not held idle waiting for the next one.

    `deadline` bounds the whole wait for one job's result, from its submission (or its
    resumption from the journal) to the finished image (`build --max-wait`): a job past
    it fails, its id kept in the journal for the next build to collect. A task resumed
    from an earlier build's journal that is not once reported (running, finished or
    failed) in its first `unseen_polls` polls is taken as never received (Runware
    answers a task it does not know exactly like a running one, `{"data": []}`), and
    submitted once more. `pace`: the shortest gap between two polls of one provider
    across the whole build (PixelDojo's rate limit; see pixeldojo.py)."""

    first: float = 1.0
    fraction: float = 0.05
    cap: float = 10.0
    deadline: float = MAX_WAIT
    unseen_polls: int = 5
    pace: float = 0.5

    @classmethod
    def from_env(cls, env: dict[str, str], max_wait: float | None = None) -> PollPolicy:
        """`max_wait` is `build --max-wait`; without it, BRANDKIT_POLL_DEADLINE, then
        BRANDKIT_MAX_WAIT. The pace is half the first interval (BRANDKIT_POLL_INTERVAL)
        unless BRANDKIT_POLL_PACE says otherwise: tests that poll fast pace fast."""
        first = float(env.get("BRANDKIT_POLL_INTERVAL", cls.first))
        if max_wait is None:
            max_wait = float(
                env.get("BRANDKIT_POLL_DEADLINE") or env.get("BRANDKIT_MAX_WAIT") or cls.deadline
            )
        return cls(
            first=first,
            cap=max(first, min(cls.cap, first * 10)),
            deadline=max_wait,
            pace=float(env.get("BRANDKIT_POLL_PACE", first * cls.pace / cls.first)),
        )

    def delay(self, elapsed: float) -> float:
        """How long to wait before the next poll of a job running for `elapsed` seconds."""
        return min(self.cap, max(self.first, elapsed * self.fraction))


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    import email.utils  # only for a Retry-After date (it pulls in socket and datetime)

    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def plain_error(response: httpx.Response) -> tuple[str, str | None]:
    """A short message from any error body: JSON `message`/`error`, or the text itself."""
    text = response.text.strip()
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            for key in ("message", "error", "detail"):
                if isinstance(body.get(key), str):
                    code = body.get("code")
                    return body[key], str(code) if code is not None else None
    return (text[:300] or f"HTTP {response.status_code}"), None


async def send_json(
    client: httpx.AsyncClient,
    provider: str,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    parse_error: ErrorParser = plain_error,
    json: Any = None,
    headers: dict[str, str] | None = None,
    no_retry_codes: frozenset[str] = frozenset(),
    before_retry: Callable[[], Any] | None = None,
    retry_unsent_only: bool = False,
) -> Any:
    """Send a request and return its JSON body, retrying what is worth retrying.

    `before_retry` (async) may return a result to use instead of sending again: how an
    idempotent resubmission first asks whether the lost attempt went through.
    `retry_unsent_only`: a request that may have reached generation is never sent again
    (a synchronous POST: sent twice, it may be paid twice); it fails once, saying so.
    """
    last: ProviderError | None = None
    for attempt in range(1, policy.attempts + 1):
        if attempt > 1 and before_retry is not None:
            found = await before_retry()
            if found is not None:
                return found
        wait: float | None = None
        try:
            response = await _request(
                client, provider, method, url, policy.bounds, json=json, headers=headers
            )
        except _transport_error() as exc:
            last = ProviderError(provider, f"network error: {_describe(exc)}", retryable=True)
            if retry_unsent_only and not isinstance(exc, _unsent_error()):
                raise _maybe_charged(last) from None
        else:
            if response.is_success:
                try:
                    return response.json()
                except ValueError:
                    # Never sent again: the work is done (Runware's and PixelDojo's jobs
                    # are journaled, so the next build collects them).
                    raise ProviderError(
                        provider,
                        f"the answer (HTTP {response.status_code}) is not valid JSON; "
                        f"{MAY_HAVE_BEEN_CHARGED}",
                        retryable=not retry_unsent_only,
                        status=response.status_code,
                    ) from None
            else:
                message, code = parse_error(response)
                if code and code not in message:
                    message = f"{message} ({code})"
                retryable = response.status_code in RETRYABLE_STATUS and code not in no_retry_codes
                wait = retry_after(response)
                if retryable and retry_unsent_only and not _never_ran(response.status_code, wait):
                    raise _maybe_charged(
                        ProviderError(
                            provider,
                            f"{message} (HTTP {response.status_code})",
                            status=response.status_code,
                            code=code,
                        )
                    )
                last = ProviderError(
                    provider,
                    f"{message} (HTTP {response.status_code})",
                    retryable=retryable,
                    status=response.status_code,
                    code=code,
                    retry_after=wait,
                    body=_json_or_none(response),
                )
                if not retryable:
                    raise last
                if wait is not None and wait > policy.max_wait:
                    raise ProviderError(
                        provider,
                        f"{message}: rate limited, retry after "
                        f"{wait:.0f}s, longer than the {policy.max_wait:.0f}s "
                        "we wait (--max-wait)",
                        status=response.status_code,
                        code=code,
                        retry_after=wait,
                    )
        if attempt < policy.attempts:
            await _sleep(wait if wait is not None else policy.backoff(attempt))
    assert last is not None
    raise ProviderError(
        provider,
        f"{last.message}; gave up after {policy.attempts} attempts",
        retryable=not retry_unsent_only,  # unsent every time: nothing to collect later
        status=last.status,
        code=last.code,
    )


MAY_HAVE_BEEN_CHARGED = "it may have been charged, so it is not sent again"


def _never_ran(status: int, wait: float | None) -> bool:
    """An answer that says the request was turned away before any generation: a rate
    limit, or a service unavailable for a stated time."""
    return status == 429 or (status == 503 and wait is not None)


def _maybe_charged(error: ProviderError) -> ProviderError:
    """A synchronous request that reached the provider and failed: not sent again (no
    way to ask whether it ran), and not retryable (nothing to collect later)."""
    return ProviderError(
        error.provider,
        f"{error.message}; {MAY_HAVE_BEEN_CHARGED}",
        status=error.status,
        code=error.code,
    )


async def _request(
    client: httpx.AsyncClient,
    provider: str,
    method: str,
    url: str,
    bounds: Bounds,
    **kwargs: Any,
) -> httpx.Response:
    """One attempt, its whole answer read within the deadline and the JSON size cap.
    The deadline is raised as httpx's ReadTimeout, so it is retried as one; an answer over
    the cap is the provider's error, not retried (the request may have been charged: the
    journal keeps what can be collected later)."""
    import asyncio

    httpx = import_httpx()
    deadline = asyncio.timeout(bounds.timeout)
    try:
        async with deadline, client.stream(method, url, **kwargs) as response:
            body = await _read_capped(response, bounds.max_json)
    except TimeoutError:
        if not deadline.expired():
            raise
        raise httpx.ReadTimeout(_late(provider, bounds.timeout)) from None
    except _TooLarge as exc:
        raise ProviderError(
            provider,
            f"the answer is larger than the {_mb(bounds.max_json)} allowed ({exc}; "
            f"providers.{provider}.max_json_mb sets the limit)",
            retryable=True,
            status=response.status_code,
        ) from None
    headers = [(k, v) for k, v in response.headers.multi_items() if k != "content-encoding"]
    return httpx.Response(  # type: ignore[no-any-return]
        response.status_code, headers=headers, content=body, request=response.request
    )


class _TooLarge(Exception):
    """An answer over its size cap (the message says how it was found out)."""


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    """The (decoded) body, or _TooLarge as soon as it is over `cap` bytes: a declared
    Content-Length over it is refused before reading a byte."""
    _refuse_declared(response, cap)
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise _TooLarge(f"more than {cap} bytes came")
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse_declared(response: httpx.Response, cap: int) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _TooLarge(f"it declares {int(declared)} bytes")


def _late(provider: str, timeout: float) -> str:
    return f"no whole answer within {timeout:g}s (providers.{provider}.timeout)"


def _mb(size: int) -> str:
    return f"{size / MB:g} MB"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def import_httpx() -> Any:
    """httpx, without its command-line client. With click and rich installed (brandkit
    needs both), `import httpx` also imports httpx._main, and with it rich's console and
    pygments: about 100 ms of every build that sends anything, for a CLI never run here.
    A None in sys.modules makes that one import fail, as httpx allows (it then defines a
    stub `main`); the entry is removed afterwards, so nothing else is affected."""
    import sys

    if "httpx" in sys.modules:
        return sys.modules["httpx"]
    blocked = sys.modules.setdefault("httpx._main", None) is None  # type: ignore[arg-type]
    try:
        import httpx
    finally:
        if blocked and sys.modules.get("httpx._main", 0) is None:
            del sys.modules["httpx._main"]
    return httpx


def _transport_error() -> type[Exception]:
    import httpx

    return httpx.TransportError


def _unsent_error() -> tuple[type[Exception], ...]:
    """Transport errors raised before a byte of the request left: no connection was made
    (refused, unreachable, a connect timeout), or none was free in the pool."""
    import httpx

    return (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


# --- where keys may go ------------------------------------------------------------------------


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
    if check_image(data[:16], data[-16:], len(data)) is None:
        raise ProviderError(provider, "the inline image is not a whole PNG, JPEG or WEBP")
    return write_temp(tmp_dir, data)


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
            last, status = _late(provider, bounds.timeout), None
        except _transport_error() as exc:
            last, status = f"network error: {_describe(exc)}", None
        except _TooLarge as exc:
            last = (
                f"it is larger than the {_mb(bounds.max_download)} allowed ({exc}; "
                f"providers.{provider}.max_download_mb sets the limit)"
            )
            break
        except _BadDownload as exc:
            last, status = str(exc), exc.status
            if not exc.retryable:
                break
        if attempt < policy.attempts:
            await _sleep(policy.backoff(attempt))
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
            _refuse_declared(response, cap)
            with os.fdopen(fd, "wb") as f:
                fd = -1
                async for chunk in response.aiter_bytes(1 << 16):
                    size += len(chunk)
                    if size > cap:
                        raise _TooLarge(f"more than {cap} bytes came")
                    if len(head) < 16:
                        head = (head + chunk)[:16]
                    tail = (tail + chunk)[-16:]
                    digest.update(chunk)
                    f.write(chunk)
        if check_image(head, tail, size) is None:
            kind = response.headers.get("content-type", "?")
            raise _BadDownload(f"not a whole PNG, JPEG or WEBP ({size} bytes of {kind})")
        return path, digest.hexdigest()
    except BaseException:
        if fd != -1:
            os.close(fd)
        path.unlink(missing_ok=True)
        raise
