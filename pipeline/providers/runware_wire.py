"""Runware's envelope, read the same way by one request (runware.py) and by the batches
(runware_batch.py): a task's data item and its error, in `errors[]` or in the item."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

from ..errors import ProviderError

IMAGE_FIELDS = ("imageURL", "imageBase64Data", "imageDataURI")
# The answer to a taskUUID Runware already has [RW-sdkpy-base]: on a retry, "submitted".
CONFLICT = "conflictTaskUUID"


def find(body: Any, task_uuid: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The data item and the error for a task, from a Runware envelope. The error is an
    item of `errors[]` or a `data` item with `"status": "error"` and an `error` object
    {code, message} [RW-sdk-client]: either is the task's end, even if others succeeded."""
    data = body.get("data") if isinstance(body, dict) else None
    errors = body.get("errors") if isinstance(body, dict) else None
    items = [d for d in data or [] if isinstance(d, dict) and d.get("taskUUID") == task_uuid]
    error = next(
        (e for e in errors or [] if isinstance(e, dict) and e.get("taskUUID") in (task_uuid, None)),
        None,
    )
    if error is None:
        error = next((_item_error(d) for d in items if d.get("status") == "error"), None)
    return (items[0] if items else None), error


def _item_error(item: dict[str, Any]) -> dict[str, Any]:
    """A failed `data` item's error, shaped like an `errors[]` item."""
    inner = item.get("error")
    error = inner if isinstance(inner, dict) else {}
    code = error.get("code") or item.get("code") or "error"
    message = error.get("message") or item.get("message") or "the task failed"
    return {"code": str(code), "message": str(message), "taskUUID": item.get("taskUUID")}


def raise_task_errors(provider: str, body: Any, task_uuid: str) -> None:
    _, error = find(body, task_uuid)
    if error is not None:
        raise task_error(provider, error)


def task_error(provider: str, error: dict[str, Any]) -> ProviderError:
    """A task's own error item: the provider's last word on that task."""
    code = error.get("code")
    return ProviderError(
        provider, f"{error.get('message') or code} ({code})", code=code, retryable=False
    )


def parse_error(response: httpx.Response) -> tuple[str, str | None]:
    """`{"errors": [{"code", "message", ...}]}`, or whatever text came back."""
    try:
        body = response.json()
        error = body["errors"][0]
        return str(error.get("message") or error.get("code")), error.get("code")
    except (ValueError, KeyError, IndexError, TypeError):
        return response.text.strip()[:300] or f"HTTP {response.status_code}", None
