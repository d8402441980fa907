"""remote_store: the S3 client (obstore) for the remote cache, and how its errors read.

Credentials come from the standard AWS environment chain, read by obstore (Rust's
object_store): AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, web
identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, as GitHub's OIDC gives), container
and instance roles; a named profile (AWS_PROFILE: SSO, assumed roles, credential_process)
through boto3's chain when boto3 is installed. Never from the manifest.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from typing import Any

from .remote_config import RemoteSettings

MASTERS = "masters"
CLAIMS = "claims"


class Down(Exception):
    """The remote failed (already warned about): carry on without it."""


class Conflict(Exception):
    """A conditional write found the object already there."""


def master_path(key: str) -> str:
    return f"{MASTERS}/{key}"


def claim_path(key: str) -> str:
    return f"{CLAIMS}/{key}"


def is_conflict(exc: BaseException) -> bool:
    from obstore.exceptions import AlreadyExistsError, PreconditionError

    # AWS answers 409 ConditionalRequestConflict to a write racing another one's: lost too
    text = str(exc)
    return isinstance(exc, AlreadyExistsError | PreconditionError) or (
        "ConditionalRequestConflict" in text
    )


def is_unsupported(exc: BaseException) -> bool:
    """A store that refuses `If-None-Match: *` (501 Not Implemented, or a 400 naming it)."""
    from obstore.exceptions import NotSupportedError

    text = str(exc)
    return (
        isinstance(exc, NotSupportedError)
        or "NotImplemented" in text
        or ("Not Implemented" in text)
    )


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "no answer in time"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def number(text: str | None, kind: type) -> Any:
    try:
        return kind(text) if text is not None else None
    except ValueError:
        return None


def open_store(settings: RemoteSettings) -> Any:
    """The obstore client: credentials from the AWS environment chain (through boto3's
    chain for a named profile, when boto3 is installed), never from the manifest."""
    from obstore.store import S3Store

    # Each call is bounded by the caller (RemoteCache.call: `timeout` for a request, for
    # each chunk of a body, and in proportion to the size of an upload); this is a cap.
    timeout = timedelta(seconds=settings.timeout)
    options: dict[str, Any] = {
        "timeout": timedelta(seconds=max(settings.timeout, 300.0)),
        "connect_timeout": timedelta(seconds=min(settings.timeout, 5.0)),
    }
    config: dict[str, Any] = {}
    if settings.endpoint:
        config["endpoint"] = settings.endpoint
        options["allow_http"] = settings.endpoint.startswith("http://")
    if settings.region:
        config["region"] = settings.region
    retry = {"max_retries": 2, "retry_timeout": timeout}
    return S3Store(
        settings.bucket,
        prefix=settings.prefix or None,
        config=config,  # type: ignore[arg-type]
        client_options=options,  # type: ignore[arg-type]
        retry_config=retry,  # type: ignore[arg-type]
        credential_provider=profile_credentials(),
    )


def profile_credentials() -> Any:
    """boto3's credential chain for a named profile (SSO, assumed roles, credential_process);
    None (obstore's own environment chain) otherwise, or without boto3."""
    if not os.environ.get("AWS_PROFILE") or os.environ.get("AWS_ACCESS_KEY_ID"):
        return None
    try:
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        return None
    return Boto3CredentialProvider()
