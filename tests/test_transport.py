"""The build's HTTP transport: a connection the server closed is never reused."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pipeline.providers.http import import_httpx
from pipeline.providers.transport import transport

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


@pytest.fixture
def closing_server() -> Iterator[tuple[str, list[int]]]:
    """Answers each request on a connection it then closes, without saying so
    (no `Connection: close`): the client's pool still holds the connection as idle."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(RESPONSE)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/", connections
    listener.close()


def test_a_connection_the_server_closed_is_not_reused(
    closing_server: tuple[str, list[int]],
) -> None:
    url, connections = closing_server
    httpx = import_httpx()

    async def two_requests() -> list[str]:
        async with httpx.AsyncClient(transport=transport(httpx)) as client:
            first = await client.get(url)
            time.sleep(0.05)  # the server has closed it by now
            second = await client.get(url)
            return [first.text, second.text]

    assert asyncio.run(two_requests()) == ["ok", "ok"]
    assert len(connections) == 2


def test_every_client_verifies_tls_with_one_context_made_once_per_process() -> None:
    import ssl

    from pipeline.providers.transport import _tls_context

    httpx = import_httpx()
    context = _tls_context(httpx)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() or context.cert_store_stats()["x509_ca"], "a CA bundle"
    assert _tls_context(httpx) is context  # made once: ~50 ms of CPU a client otherwise
    one, two = transport(httpx), transport(httpx)
    assert one is not two  # each client has its own pool
