"""HTTP request handler: routing, authentication, fault application and response writing."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import struct
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .faults import Fault
from .wire import NO_JSON, Phase, Request, Response, json_response, phrase, text_response

if TYPE_CHECKING:
    from .server import Emulator, RequestContext

ErrorFactory = Callable[[int, Any, "str | None"], Response]


def _garbles(fault: Fault, response: Response) -> bool:
    """Does a fault apply to this answer? `garble` only to JSON holding its field."""
    if fault.kind != "garble":
        return True
    try:
        body = json.loads(response.body)
    except ValueError:
        return False
    return _holds(body, fault.params["field"])


def _holds(body: Any, name: str) -> bool:
    if isinstance(body, dict):
        return name in body or any(_holds(v, name) for v in body.values())
    return isinstance(body, list) and any(_holds(v, name) for v in body)


def _garble(body: Any, name: str, value: Any) -> Any:
    """The answer with every `name` field set to `value` (an unexpected type or value)."""
    if isinstance(body, dict):
        return {k: value if k == name else _garble(v, name, value) for k, v in body.items()}
    if isinstance(body, list):
        return [_garble(v, name, value) for v in body]
    return body


def _redact(body: Any) -> Any:
    """Copy of a JSON body with Runware `authentication` task keys hidden."""
    if isinstance(body, list):
        return [
            {**item, "apiKey": "<redacted>"}
            if isinstance(item, dict) and "apiKey" in item
            else item
            for item in body
        ]
    return body


def _tampered(response: Response, fields: dict[str, Any]) -> Response:
    """A JSON answer with `fields` replaced wherever their key appears; a key that appears
    nowhere is added to the top-level object and to each object in its `data` list. Values
    may be NaN or Infinity (written as Python's json writes them)."""
    body = json.loads(response.body)

    def walk(node: Any) -> set[str]:
        seen: set[str] = set()
        if isinstance(node, dict):
            for key in list(node):
                if key in fields:
                    node[key] = fields[key]
                    seen.add(key)
                else:
                    seen |= walk(node[key])
        elif isinstance(node, list):
            for item in node:
                seen |= walk(item)
        return seen

    missing = set(fields) - walk(body)
    if missing and isinstance(body, dict):
        items = body.get("data") if isinstance(body.get("data"), list) else []
        for target in [body, *[i for i in items if isinstance(i, dict)]]:
            target.update({k: fields[k] for k in missing})
    data = json.dumps(body).encode()
    return Response(response.status, data, response.content_type, dict(response.headers))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    disable_nagle_algorithm = True  # headers and body are separate writes

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator  # type: ignore[attr-defined,no-any-return]

    def setup(self) -> None:
        super().setup()
        self.emulator._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.emulator._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- dispatch -------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
            path = urlsplit(self.path).path
            if path.startswith("/_emulator/"):
                self._send(self._control(path, body))
            elif path.startswith("/files/"):
                self._download(path[len("/files/") :])
            else:
                self._provider_request(path, body)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:  # an emulator bug: report it to the client and to the tests
            self.emulator._internal_error(traceback.format_exc())
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send(text_response(500, "emulator internal error"))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    def _provider_request(self, path: str, body: bytes) -> None:
        from .server import PREFIXES, RequestContext

        matches = [p for p, prefix in PREFIXES.items() if f"{path}/".startswith(f"{prefix}/")]
        name = matches[0] if matches else None
        if name is None:
            self._send(text_response(404, "not found"))
            return
        provider = self.emulator.providers[name]
        try:
            parsed: Any = json.loads(body) if body else NO_JSON
        except ValueError:
            parsed = NO_JSON
        headers = self._headers()
        request = Request(self.command, path[len(PREFIXES[name]) :], headers, body, parsed)
        self._log(name, parsed, headers)
        if not provider.authorized(request):
            self._send(provider.unauthorized(request))
            return
        phase: Phase = provider.phase(request)
        ctx = RequestContext(self.emulator, name, phase)
        try:
            self._serve(
                ctx,
                lambda: provider.handle(request, ctx),
                lambda status, code, message: provider.error(status, request, code, message),
            )
        finally:
            ctx.release()

    def _download(self, name: str) -> None:
        from .server import RequestContext

        record = self.emulator.images.lookup(name)
        self._log(record.provider if record else "files", None, self._headers())
        if record is None:
            self._send(text_response(404, "file not found"))
            return
        ctx = RequestContext(self.emulator, record.provider, "download")
        self._serve(
            ctx,
            lambda: Response(200, self.emulator.images.data(record), record.content_type),
            lambda status, code, message: text_response(status, message or "download failed"),
        )

    def _log(self, provider: str, parsed: Any, headers: dict[str, str]) -> None:
        from .server import RequestRecord

        logged = dict(headers)
        if "authorization" in logged:
            logged["authorization"] = "<redacted>"
        body = None if parsed is NO_JSON else _redact(parsed)
        self.emulator._record(RequestRecord(provider, self.command, self.path, body, logged))

    # -- faults ---------------------------------------------------------------------------------

    def _serve(
        self, ctx: RequestContext, produce: Callable[[], Response], error: ErrorFactory
    ) -> None:
        before = ctx.take_fault("before")
        if before is not None:
            if before.kind != "slow":
                ctx.release()
                self._apply(before, None, error)
                return
            ctx.sleep(float(before.params["seconds"]))
        response = produce()
        after = (
            ctx.take_fault("after", accept=lambda f: _garbles(f, response))
            if 200 <= response.status < 300
            else None
        )
        ctx.release()
        if after is None:
            self._send(response)
        else:
            self._apply(after, response, error)

    def _apply(self, fault: Fault, response: Response | None, error: ErrorFactory) -> None:
        kind, params = fault.kind, fault.params
        if kind == "status":
            failure = error(params["status"], params.get("code"), params.get("message"))
            if "retry_after" in params:
                retry_after = params["retry_after"]
                failure.headers["Retry-After"] = str(
                    int(retry_after) if float(retry_after).is_integer() else retry_after
                )
            self._send(failure)
        elif kind == "redirect":
            location = self.emulator.foreign.url + self.path
            self._send(Response(params["status"], b"", "text/plain", {"Location": location}))
        elif kind == "drop":
            self.close_connection = True
        elif kind == "reset":
            self._reset_connection()
        elif kind == "wrong_content_type":
            self._send(Response(200, b"<html><body>Not an image</body></html>", "text/html"))
        elif response is not None and kind == "tamper":
            self._send(_tampered(response, params["fields"]))
        elif response is not None and kind == "malformed_json":
            cut = response.body[: max(1, len(response.body) // 2)]
            self._send(Response(200, cut, "application/json"))
        elif response is not None and kind == "garble":
            body = _garble(json.loads(response.body), params["field"], params["value"])
            self._send(Response(200, json.dumps(body).encode(), "application/json"))
        elif response is not None and kind == "truncated_image":
            self._send(response, truncate=True)
        elif response is not None and kind == "trickle":
            self._trickle(response, params)
        elif response is not None and kind == "endless":
            self._endless(response, params)
        elif response is not None and kind == "huge":
            self._huge(response, params)
        elif response is not None:
            self._send(response)

    def _reset_connection(self) -> None:
        """Close with SO_LINGER 0 so the peer sees a TCP RST instead of a FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drop the makefile reference so close() really closes the socket
        self.connection.close()

    # -- output ---------------------------------------------------------------------------------

    def _send(self, response: Response, truncate: bool = False) -> None:
        body = response.body
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if truncate or self.close_connection:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if truncate else body)
        self.wfile.flush()

    # -- hostile answers: each ends when the client goes (a write fails), when the emulator
    # stops, or after `seconds` at most ------------------------------------------------------

    def _trickle(self, response: Response, params: dict[str, Any]) -> None:
        """The real answer a byte at a time, `interval` seconds apart (its status line and
        headers too with headers=True): each read is quick, the whole never is."""
        head = self._head(response, {"Content-Length": str(len(response.body))})
        if not params.get("headers"):
            self.wfile.write(head)
            head = b""
        data = head + response.body
        pieces = (data[i : i + 1] for i in range(len(data)))
        self._drip(pieces, float(params.get("interval", 0.5)), float(params.get("seconds", 30)))

    def _endless(self, response: Response, params: dict[str, Any]) -> None:
        """A chunked answer that never ends: the first half of the real body, then chunks
        of spaces, `interval` seconds apart (0: as fast as the client reads)."""
        self.wfile.write(self._head(response, {"Transfer-Encoding": "chunked"}))
        filler = b" " * int(params.get("chunk", 1 << 16))
        pieces = itertools.chain(
            [response.body[: len(response.body) // 2]], itertools.repeat(filler)
        )
        chunks = (b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
        self._drip(chunks, float(params.get("interval", 0.0)), float(params.get("seconds", 30)))

    def _huge(self, response: Response, params: dict[str, Any]) -> None:
        """The real answer followed by spaces up to `mb` MB (still valid JSON), with that
        Content-Length declared, or with declare=False none (the end is the connection's)."""
        total = max(len(response.body), int(float(params.get("mb", 40)) * (1 << 20)))
        declared = {"Content-Length": str(total)} if params.get("declare", True) else {}
        self.wfile.write(self._head(response, declared))
        block, left = b" " * (1 << 16), total - len(response.body)
        sizes = itertools.chain([len(block)] * (left // len(block)), [left % len(block)])
        pieces = itertools.chain([response.body], (block[:n] for n in sizes))
        self._drip(pieces, 0.0, float("inf"))

    def _head(self, response: Response, headers: dict[str, str]) -> bytes:
        """Status line and headers, written by hand; the connection closes after the body."""
        self.close_connection = True
        lines = [
            f"HTTP/1.1 {response.status} {phrase(response.status)}",
            f"Content-Type: {response.content_type}",
            *(f"{name}: {value}" for name, value in {**response.headers, **headers}.items()),
            "Connection: close",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _drip(self, pieces: Iterator[bytes], interval: float, seconds: float) -> None:
        end = time.monotonic() + seconds
        stopping = self.emulator._stopping
        for piece in pieces:
            if time.monotonic() > end or stopping.is_set():
                return
            if interval > 0 and stopping.wait(interval):
                return
            self.wfile.write(piece)

    # -- control endpoints ----------------------------------------------------------------------

    def _control(self, path: str, body: bytes) -> Response:
        emulator = self.emulator
        action = path[len("/_emulator/") :].strip("/")
        if self.command == "GET" and action == "stats":
            return json_response(200, emulator.stats())
        if self.command != "POST":
            return json_response(404, {"error": f"no control endpoint {self.command} {path}"})
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return json_response(400, {"error": "body must be JSON"})
        try:
            if action == "faults":
                specs = payload if isinstance(payload, list) else [payload]
                faults = [emulator.inject(**spec).describe() for spec in specs]
                return json_response(200, {"queued": faults})
            if action == "config":
                if "latency" in payload:
                    emulator.latency = float(payload["latency"])
                return json_response(200, {"latency": emulator.latency})
            if action == "reset":
                emulator.reset()
                return json_response(200, {"ok": True})
        except (TypeError, ValueError) as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(404, {"error": f"no control endpoint {self.command} {path}"})
