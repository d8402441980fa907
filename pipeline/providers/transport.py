"""The build's HTTP transport: httpx's own, with a cheaper check of idle connections.

Before each request, httpcore asks every pooled connection whether its socket is
readable (a server that closed it). Through anyio, each ask builds a dict of every
socket attribute, with a getpeername() system call, to hand back the one socket it
wanted: about 50 us per pooled connection per request. With the eight connections of a
build's downloads, that was a fifth of the CPU each download cost (1.5 ms -> 1.2 ms
measured with eight at once). The streams here look up their socket once and answer
`is_readable` themselves; everything else is anyio's, through httpcore's public
network-backend interface.

httpx (0.28) takes no network backend, so the transport's connection pool is replaced by
one built with the same settings and this backend. Should a later httpx keep its pool
elsewhere, the transport is left as httpx made it: slower, never wrong.
"""

from __future__ import annotations

import select
import socket
import sys
from typing import Any


def transport(httpx: Any) -> Any:
    """An httpx.AsyncHTTPTransport with httpx's default limits and TLS settings."""
    import httpcore

    limits = httpx.Limits()  # httpx's defaults, as an AsyncClient would use
    made = httpx.AsyncHTTPTransport(limits=limits)
    pool = getattr(made, "_pool", None)
    if type(pool) is not httpcore.AsyncConnectionPool or not hasattr(pool, "_ssl_context"):
        return made
    made._pool = httpcore.AsyncConnectionPool(
        ssl_context=pool._ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=False,
        network_backend=_backend(httpcore),
    )
    return made


def _backend(httpcore: Any) -> Any:
    """The backend class is made when httpcore is imported (a plan never imports it)."""

    class Stream(httpcore.AsyncNetworkStream):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            self._inner = inner
            self._socket = inner.get_extra_info("socket")  # once, not once per request

        async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            data: bytes = await self._inner.read(max_bytes, timeout)
            return data

        async def write(self, buffer: bytes, timeout: float | None = None) -> None:
            await self._inner.write(buffer, timeout)

        async def aclose(self) -> None:
            await self._inner.aclose()

        async def start_tls(
            self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
        ) -> Any:
            return Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

        def get_extra_info(self, info: str) -> Any:
            if info == "is_readable":
                return is_socket_readable(self._socket)
            return self._inner.get_extra_info(info)

    class Backend(httpcore.AsyncNetworkBackend):  # type: ignore[misc]
        def __init__(self) -> None:
            self._inner = httpcore.AnyIOBackend()

        async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            return Stream(await self._inner.connect_tcp(host, port, *args, **kwargs))

        async def connect_unix_socket(self, path: str, *args: Any, **kwargs: Any) -> Any:
            return Stream(await self._inner.connect_unix_socket(path, *args, **kwargs))

        async def sleep(self, seconds: float) -> None:
            await self._inner.sleep(seconds)

    return Backend()


def is_socket_readable(sock: socket.socket | None) -> bool:
    """Would recv() return at once (data, or the b"" of a closed connection)? As
    httpcore's own check: a socket that is gone counts as readable."""
    fd = None if sock is None else sock.fileno()
    if fd is None or fd < 0:
        return True
    if sys.platform == "win32" or getattr(select, "poll", None) is None:
        readable, _, _ = select.select([fd], [], [], 0)
        return bool(readable)
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))
