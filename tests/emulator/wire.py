"""Plain data types passed between the HTTP server and the provider emulations."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, Protocol

from .faults import Fault
from .images import FileRecord

Phase = Literal["submit", "poll", "download", "other"]

NO_JSON: Any = object()
"""Sentinel for `Request.json` when the body is absent or not valid JSON."""


@dataclass
class Request:
    method: str
    path: str  # the path below the provider prefix, e.g. "/accounts/acct123/ai/run"
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    json: Any = NO_JSON

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), "application/json", dict(headers or {}))


def text_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, text.encode(), "text/plain; charset=utf-8", dict(headers or {}))


class Context(Protocol):
    """What a provider emulation may ask of the emulator while handling one request."""

    @property
    def latency(self) -> float: ...

    def base_url(self, provider: str) -> str: ...

    def take_provider_fault(self) -> Fault | None:
        """Consume a queued provider-stage fault (content_refusal, job_failed, expired), if any."""

    def charge(self, count: int = 1) -> None:
        """Record `count` paid generations for this provider."""

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake early when the emulator stops."""

    def register_image(self, prompt: str, width: int, height: int, fmt: str) -> FileRecord: ...

    def image_bytes(self, record: FileRecord) -> bytes: ...

    def file_url(self, record: FileRecord) -> str: ...


class Provider(Protocol):
    name: str

    def authorized(self, request: Request) -> bool: ...

    def unauthorized(self, request: Request) -> Response: ...

    def phase(self, request: Request) -> Phase: ...

    def handle(self, request: Request, ctx: Context) -> Response: ...

    def error(
        self, status: int, request: Request, code: Any = None, message: str | None = None
    ) -> Response:
        """The provider's own error envelope, used for injected `status` faults."""

    def reset(self) -> None: ...
