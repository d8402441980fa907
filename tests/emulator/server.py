"""The `Emulator`: one local HTTP server speaking the Runware, Cloudflare, PixelDojo and Recraft
protocols under path prefixes, with accounting, a request log and fault injection."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .cloudflare import Cloudflare
from .faults import PHASES, Fault, FaultQueue, make_fault
from .foreign import POLL_INTERVAL, ForeignServer
from .handler import Handler
from .images import FileRecord, ImageStore, bad_variant
from .pixeldojo import PixelDojo
from .recraft import Recraft
from .runware import Runware
from .wire import Phase, Provider

DEFAULT_KEYS: dict[str, str] = {
    "runware": "rw-test-key",
    "cloudflare": "cf-test-token",
    "pixeldojo": "pd-test-key",
    "recraft": "rc-test-token",
}
DEFAULT_ACCOUNT_ID = "acct123"
PREFIXES: dict[str, str] = {
    "runware": "/runware/v1",
    "cloudflare": "/cloudflare/client/v4",
    "pixeldojo": "/pixeldojo/api/v1",
    "recraft": "/recraft/v1",
}


@dataclass(frozen=True)
class RequestRecord:
    """One request as received (Authorization header value and Runware apiKey redacted)."""

    provider: str  # "runware" | "cloudflare" | "pixeldojo" | "recraft" | "files"
    method: str
    path: str  # full path including the provider prefix and query string
    json: Any  # parsed JSON body, or None if absent / not JSON
    headers: dict[str, str]  # lower-cased names
    at: float = field(default_factory=time.monotonic)  # when it arrived


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # a real server's backlog; the default 5 resets busy clients

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are expected (faults, impatient clients); anything else is a bug."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            self.emulator._internal_error(traceback.format_exc())


class RequestContext:
    """Implements `wire.Context` for one request of one provider."""

    def __init__(self, emulator: Emulator, provider: str, phase: Phase) -> None:
        self.emulator, self.provider, self.phase = emulator, provider, phase
        self._fault_taken = False
        self._open = phase == "submit"  # generation submits count towards in_flight
        if self._open:
            emulator._enter()

    def release(self) -> None:
        """Leave `in_flight` (idempotent); called just before the response is written."""
        if self._open:
            self._open = False
            self.emulator._leave()

    @property
    def latency(self) -> float:
        return float(self.emulator.latency)

    def base_url(self, provider: str) -> str:
        return self.emulator.base_url(provider)

    def take_fault(self, stage: str, accept: Any = None) -> Fault | None:
        """Consume the head fault for this request's (provider, phase) if it is for `stage`.

        A request consumes at most one fault, so queued faults hit consecutive requests."""
        if self.phase not in PHASES or self._fault_taken:
            return None
        fault = self.emulator._faults.take(self.provider, self.phase, stage, accept)  # type: ignore[arg-type]
        self._fault_taken = fault is not None
        return fault

    def take_provider_fault(self) -> Fault | None:
        return self.take_fault("provider")

    def charge(self, count: int = 1) -> None:
        self.emulator._charge(self.provider, count)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.emulator._stopping.wait(seconds)

    def register_image(self, prompt: str, width: int, height: int, fmt: str) -> FileRecord:
        fault = self.take_fault("image")  # a bad image, for every fetch of this file
        if fault is not None and fault.kind == "hostile_svg":  # its references: here
            self.emulator.images.beacon = f"{self.emulator.foreign.url}/beacon"
        variant = (
            bad_variant(fault.kind, fault.params, width, height) if fault is not None else None
        )
        return self.emulator.images.register(
            self.provider, prompt, width, height, fmt, variant=variant
        )

    def image_bytes(self, record: FileRecord) -> bytes:
        return self.emulator.images.data(record)

    def file_url(self, record: FileRecord) -> str:
        origin = self.emulator.foreign.url if self.emulator.foreign_images else self.emulator.url
        return f"{origin}/files/{record.name}"


class Emulator:
    """Local fake of the four provider APIs. See tests/emulator/README.md for the protocol notes."""

    def __init__(
        self,
        latency: float = 0.0,
        keys: dict[str, str] | None = None,
        *,
        port: int = 0,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        self.latency = latency
        self.keys: dict[str, str] = {**DEFAULT_KEYS, **(keys or {})}
        self.account_id = account_id
        self.images = ImageStore()
        self.providers: dict[str, Provider] = {
            "runware": Runware(self.keys),
            "cloudflare": Cloudflare(self.keys, account_id),
            "pixeldojo": PixelDojo(self.keys),
            "recraft": Recraft(self.keys),
        }
        self.internal_errors: list[str] = []
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._faults = FaultQueue()
        self._paid: dict[str, int] = dict.fromkeys(PREFIXES, 0)
        self._requests: list[RequestRecord] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._foreign: ForeignServer | None = None
        # Hostile mode: image URLs point at the foreign origin (which serves them).
        self.foreign_images = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name="provider-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # wake handler threads blocked on keep-alive reads
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None
        if self._foreign is not None:
            self._foreign.stop()
            self._foreign = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def foreign(self) -> ForeignServer:
        """The foreign origin (another loopback port), started on first use."""
        with self._lock:
            if self._foreign is None:
                self._foreign = ForeignServer(self.images)
            return self._foreign

    def base_url(self, provider: str) -> str:
        """The base URL that replaces the provider's documented base URL."""
        if provider not in PREFIXES:
            raise ValueError(f"unknown provider {provider!r}")
        return self.url + PREFIXES[provider]

    def base_urls(self) -> dict[str, str]:
        return {provider: self.base_url(provider) for provider in PREFIXES}

    # -- faults, accounting, log ----------------------------------------------------------------

    def inject(
        self, provider: str, fault: str, times: int | None = 1, on: str | None = None, **params: Any
    ) -> Fault:
        """Queue a fault for the next matching request(s) of `provider` (see faults.py)."""
        queued = make_fault(provider, fault, times, on, **params)
        self._faults.add(queued)
        return queued

    @property
    def pending_faults(self) -> list[dict[str, Any]]:
        return self._faults.pending()

    @property
    def paid_generations(self) -> int:
        with self._lock:
            return sum(self._paid.values())

    @property
    def paid_by_provider(self) -> dict[str, int]:
        with self._lock:
            return dict(self._paid)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, provider: str) -> list[RequestRecord]:
        return [record for record in self.requests if record.provider == provider]

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    def reset(self) -> None:
        """Clear counters, the request log, queued faults and async jobs."""
        self._faults.clear()
        for provider in self.providers.values():
            provider.reset()
        with self._lock:
            self._paid = dict.fromkeys(PREFIXES, 0)
            self._requests.clear()
            self._max_in_flight = self._in_flight
            self.internal_errors.clear()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "url": self.url,
                "latency": self.latency,
                "paid_generations": sum(self._paid.values()),
                "paid_by_provider": dict(self._paid),
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                "requests": len(self._requests),
                "pending_faults": self._faults.pending(),
                "internal_errors": list(self.internal_errors),
            }

    # -- used by the request handler ------------------------------------------------------------

    def _charge(self, provider: str, count: int) -> None:
        with self._lock:
            self._paid[provider] += count

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _internal_error(self, text: str) -> None:
        with self._lock:
            self.internal_errors.append(text)
