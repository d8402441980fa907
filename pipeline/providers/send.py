"""Sending a JSON request and reading its answer, retrying what is worth retrying.

Every provider sends through `send_json` with its own error parser. Retried: transport
errors, 408, 425, 429 and 5xx (exponential backoff with full jitter, honouring
`Retry-After` up to `max_wait`: policy.py); never 400/401/402/403/404, never a 200 whose
body is not JSON (the work behind it is done, and may be charged). A synchronous provider
(`retry_unsent_only`) has no way to ask whether a lost request ran, so only what provably
never reached generation is sent again: a refused connection, 429, 503 with Retry-After.
Each attempt is bounded in time and size (bounds.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ProviderError
from .bounds import Bounds, TooLarge, mb, read_capped, too_late
from .policy import RETRYABLE_STATUS, RetryPolicy, retry_after

if TYPE_CHECKING:  # httpx is imported only when something is sent
    import httpx

ErrorParser = Callable[["httpx.Response"], tuple[str, str | None]]  # -> (message, code)
MAY_HAVE_BEEN_CHARGED = "it may have been charged, so it is not sent again"


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
    judge = _Judge(provider, policy, parse_error, no_retry_codes, retry_unsent_only)
    last: ProviderError | None = None
    for attempt in range(1, policy.attempts + 1):
        if attempt > 1 and before_retry is not None:
            found = await before_retry()
            if found is not None:
                return found
        try:
            response = await request(
                client, provider, method, url, policy.bounds, json=json, headers=headers
            )
        except transport_error() as exc:
            last = judge.lost(exc)
        else:
            if response.is_success:
                return judge.body(response)
            last = judge.refused(response)
        if attempt < policy.attempts:
            wait = last.retry_after
            await sleep(wait if wait is not None else policy.backoff(attempt))
    assert last is not None
    raise judge.gave_up(last)


@dataclass(frozen=True)
class _Judge:
    """What one attempt's outcome means for `send_json`: the error to keep (and retry),
    or the error to raise at once."""

    provider: str
    policy: RetryPolicy
    parse_error: ErrorParser
    no_retry_codes: frozenset[str]
    retry_unsent_only: bool

    def lost(self, exc: Exception) -> ProviderError:
        """A transport error: retried, unless the request may have gone out unanswered."""
        error = ProviderError(self.provider, f"network error: {describe(exc)}", retryable=True)
        if self.retry_unsent_only and not isinstance(exc, _unsent_error()):
            raise _maybe_charged(error) from None
        return error

    def body(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            # Never sent again: the work is done (Runware's and PixelDojo's jobs are
            # journaled, so the next build collects them).
            raise ProviderError(
                self.provider,
                f"the answer (HTTP {response.status_code}) is not valid JSON; "
                f"{MAY_HAVE_BEEN_CHARGED}",
                retryable=not self.retry_unsent_only,
                status=response.status_code,
            ) from None

    def refused(self, response: httpx.Response) -> ProviderError:
        """An error status: the error to retry (its `retry_after` the wait), else raised."""
        message, code = self.parse_error(response)
        if code and code not in message:
            message = f"{message} ({code})"
        status = response.status_code
        retryable = status in RETRYABLE_STATUS and code not in self.no_retry_codes
        wait = retry_after(response)
        said = f"{message} (HTTP {status})"
        if retryable and self.retry_unsent_only and not _never_ran(status, wait):
            raise _maybe_charged(ProviderError(self.provider, said, status=status, code=code))
        error = ProviderError(
            self.provider,
            said,
            retryable=retryable,
            status=status,
            code=code,
            retry_after=wait,
            body=_json_or_none(response),
        )
        if not retryable:
            raise error
        if wait is not None and wait > self.policy.max_wait:
            raise ProviderError(
                self.provider,
                f"{message}: rate limited, retry after {wait:.0f}s, longer than the "
                f"{self.policy.max_wait:.0f}s we wait (--max-wait)",
                status=status,
                code=code,
                retry_after=wait,
            )
        return error

    def gave_up(self, last: ProviderError) -> ProviderError:
        return ProviderError(
            self.provider,
            f"{last.message}; gave up after {self.policy.attempts} attempts",
            retryable=not self.retry_unsent_only,  # unsent every time: nothing to collect later
            status=last.status,
            code=last.code,
        )


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


async def request(
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
            body = await read_capped(response, bounds.max_json)
    except TimeoutError:
        if not deadline.expired():
            raise
        raise httpx.ReadTimeout(too_late(provider, bounds.timeout)) from None
    except TooLarge as exc:
        raise ProviderError(
            provider,
            f"the answer is larger than the {mb(bounds.max_json)} allowed ({exc}; "
            f"providers.{provider}.max_json_mb sets the limit)",
            retryable=True,
            status=response.status_code,
        ) from None
    headers = [(k, v) for k, v in response.headers.multi_items() if k != "content-encoding"]
    return httpx.Response(  # type: ignore[no-any-return]
        response.status_code, headers=headers, content=body, request=response.request
    )


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


async def sleep(seconds: float) -> None:
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


def transport_error() -> type[Exception]:
    import httpx

    return httpx.TransportError


def _unsent_error() -> tuple[type[Exception], ...]:
    """Transport errors raised before a byte of the request left: no connection was made
    (refused, unreachable, a connect timeout), or none was free in the pool."""
    import httpx

    return (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text
