"""A second loopback server, on another port: the foreign origin of the hostile modes.

Redirects (the `redirect` fault) and image URLs on a foreign origin (`Emulator.foreign_images`)
point here. It records every request exactly as received (headers unredacted, the query string,
the raw body), so a test can assert that no key reached it in any form, and serves the
emulator's images under `/files/<name>` (a CDN on another host); anything else is a 404.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

# How often a serving loop looks for a stop request: `shutdown()` waits up to this long, once
# per test that starts a server (1,000+ of them; at 0.05 s that was ~25 s of a run).
POLL_INTERVAL = 0.005

if TYPE_CHECKING:
    from .images import ImageStore


@dataclass(frozen=True)
class Received:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # lower-cased names, values as received
    body: bytes

    def raw(self) -> bytes:
        """Everything received, for `key in received.raw()` checks."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path}\n{head}\n\n".encode() + self.body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _any(self) -> None:
        server: ForeignServer = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        server._record(Received(self.command, self.path, headers, body))
        status, content_type, data = 404, "application/json", b'{"error": "not here"}'
        name = self.path.split("?")[0].removeprefix("/files/")
        record = server.images.lookup(name) if self.path.startswith("/files/") else None
        if record is not None:
            status, content_type, data = 200, record.content_type, server.images.data(record)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _any


class ForeignServer:
    def __init__(self, images: ImageStore) -> None:
        self.images = images
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name="foreign-origin",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    def stop(self) -> None:
        self._server.shutdown()
        with contextlib.suppress(OSError):
            self._server.server_close()
        self._thread.join(timeout=5)
