"""Runware REST emulation: `POST {base}` with a JSON array of tasks (providers.md §1)."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import catalog
from .runware_validate import RunwareModel, TaskError, validate
from .wire import NO_JSON, Context, Phase, Request, Response, json_response

ERROR_CODES = {
    400: ("invalidRequestBody", "The request body is invalid."),
    401: ("invalidApiKey", "Invalid API key. Get one at https://runware.ai/signup"),
    402: ("insufficientCredits", "Insufficient credits to run this task."),
    403: ("forbidden", "The API key has no permission for this operation."),
    404: ("notFound", "Not found."),
    408: ("timeoutProvider", "The request timed out."),
    429: ("rateLimitExceeded", "Too many requests, please slow down."),
    500: ("internalServerError", "Internal server error."),
    502: ("serviceUnavailable", "Bad gateway."),
    503: ("serviceUnavailable", "The service is temporarily unavailable."),
    504: (
        "timeoutProvider",
        "The external provider did not respond within the timeout window.",
    ),
}


@dataclass
class Job:
    task_uuid: str
    done_at: float = float("inf")
    items: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    error_in_data: bool = False  # reported as a `data` item with status "error"
    task_type: str = "imageInference"  # or "vectorize"


def _tasks(body: Any) -> list[Any]:
    """The tasks of a request body, without a leading `authentication` task."""
    if not isinstance(body, list):
        return []
    if body and isinstance(body[0], dict) and body[0].get("taskType") == "authentication":
        return body[1:]
    return body


class Runware:
    name = "runware"

    def __init__(self, keys: dict[str, str]) -> None:
        self._keys = keys
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        # Tasks answered `{"data": []}` for ever, like a running task (the `unknown` fault).
        self._ghosts: set[str] = set()

    # -- protocol hooks -------------------------------------------------------------------------

    def authorized(self, request: Request) -> bool:
        key = self._keys["runware"]
        if request.bearer() == key:
            return True
        body = request.json
        if isinstance(body, list) and body and isinstance(body[0], dict):
            first = body[0]
            return first.get("taskType") == "authentication" and first.get("apiKey") == key
        return False

    def unauthorized(self, request: Request) -> Response:
        code, message = ERROR_CODES[401]
        error = {"code": code, "message": message, "parameter": "apiKey"}
        return json_response(401, {"errors": [{**error, "taskType": "authentication"}]})

    def phase(self, request: Request) -> Phase:
        types = {t.get("taskType") for t in _tasks(request.json) if isinstance(t, dict)}
        if "getResponse" in types and not types & {"imageInference", "vectorize"}:
            return "poll"
        return "submit"

    def error(
        self, status: int, request: Request, code: Any = None, message: str | None = None
    ) -> Response:
        default_code, default_message = ERROR_CODES.get(
            status, ("internalServerError" if status >= 500 else "invalidRequestBody", "Error.")
        )
        tasks = _tasks(request.json)
        error = TaskError(str(code or default_code), message or default_message)
        return json_response(status, {"errors": [error.item(tasks[0] if tasks else None)]})

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._ghosts.clear()

    # -- request handling -----------------------------------------------------------------------

    def handle(self, request: Request, ctx: Context) -> Response:
        if request.path not in ("", "/"):
            return self.error(404, request, "notFound", f"Unknown path {request.path!r}.")
        if request.method != "POST":
            return self.error(405, request, "methodNotAllowed", "Only POST is supported.")
        body = request.json
        tasks = _tasks(body)
        if body is NO_JSON or not isinstance(body, list) or not tasks:
            return self.error(400, request, "invalidRequestBody", "Expected a JSON array of tasks.")
        data: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        statuses: list[int] = []
        polled = False
        seen: set[str] = set()
        for task in tasks:
            try:
                task_type = task.get("taskType") if isinstance(task, dict) else None
                if task_type in ("imageInference", "vectorize"):
                    data.extend(self._inference(task, ctx, seen))
                elif task_type == "getResponse":
                    polled = True
                    items, failures = self._get_response(task, ctx)
                    data.extend(items)
                    errors.extend(failures)
                else:
                    raise TaskError(
                        "unsupportedTaskType", f"Unsupported taskType {task_type!r}.", "taskType"
                    )
            except TaskError as err:
                errors.append(err.item(task))
                statuses.append(err.status)
        payload: dict[str, Any] = {}
        if data or polled or not errors:
            payload["data"] = data
        if errors:
            payload["errors"] = errors
        status = statuses[0] if statuses and not data else 200
        return json_response(status, payload)

    def _inference(
        self, task: dict[str, Any], ctx: Context, seen: set[str]
    ) -> list[dict[str, Any]]:
        model = validate(task)
        task_uuid: str = task["taskUUID"]
        job = Job(task_uuid, task_type=model.task_type)
        with self._lock:
            if task_uuid in self._jobs or task_uuid in self._ghosts or task_uuid in seen:
                # [RW-sdkpy-base]: the code; HTTP 400 per a third-party adapter (unsure).
                raise TaskError(
                    "conflictTaskUUID",
                    f"A task with taskUUID {task_uuid} already exists.",
                    "taskUUID",
                )
            self._jobs[task_uuid] = job
        seen.add(task_uuid)
        is_async = task.get("deliveryMethod") == "async"
        fault = ctx.take_provider_fault()
        if fault is not None and fault.kind == "content_refusal":
            code = str(fault.params.get("code", "contentPolicyViolation"))
            message = fault.params.get(
                "message", "The prompt was flagged by the provider's content policy."
            )
            if fault.params.get("at_submit"):  # refused in the submission's own answer
                with self._lock:
                    del self._jobs[task_uuid]
                raise TaskError(code, message, "positivePrompt")
            job.error = {"code": code, "message": message}
            job.done_at = time.monotonic()
            if is_async:
                return []  # ack now, the refusal shows up in getResponse; not paid
            raise TaskError(code, message, "positivePrompt")
        count = task.get("numberResults", 1)
        if fault is None or fault.params.get("paid", True):
            ctx.charge(count)
        if fault is not None:  # job_failed
            job.error = {
                "code": fault.params.get("code", "inferenceError"),
                "message": fault.params.get("message", "The provider failed to generate."),
            }
            job.error_in_data = bool(fault.params.get("in_data", False))
        else:
            job.items = [self._result(task, model, index, ctx) for index in range(count)]
        if is_async:
            job.done_at = time.monotonic() + ctx.latency
            return []
        ctx.sleep(ctx.latency)
        job.done_at = time.monotonic()
        if job.error:
            raise TaskError(job.error["code"], job.error["message"], status=500)
        return [dict(item) for item in job.items]

    def _result(
        self, task: dict[str, Any], model: RunwareModel, index: int, ctx: Context
    ) -> dict[str, Any]:
        vector = model.task_type == "vectorize"
        fmt = task.get("outputFormat", "SVG" if vector else "JPG")
        width, height = task.get("width"), task.get("height")
        if width is None or height is None:  # optional for vectorize: the 1:1 size
            width, height = catalog.default_size(model.tier)
        record = ctx.register_image(task["positivePrompt"], width, height, fmt)
        seed_source = f"{task['taskUUID']}:{index}".encode()
        item: dict[str, Any] = {
            "taskType": model.task_type,
            "taskUUID": task["taskUUID"],
            "imageUUID": record.file_id,
        }
        output_type = task.get("outputType", "URL")
        if output_type == "URL":
            item["imageURL"] = ctx.file_url(record)
        else:
            encoded = base64.b64encode(ctx.image_bytes(record)).decode()
            if output_type == "base64Data":
                item["imageBase64Data"] = encoded
            else:
                item["imageDataURI"] = f"data:{record.content_type};base64,{encoded}"
        if not vector:  # a vectorize result has no seed nor NSFWContent (the SDK's task map)
            item["seed"] = int.from_bytes(hashlib.sha256(seed_source).digest()[:4]) % 2**31
            item["NSFWContent"] = False
        if task.get("includeCost") is True:
            item["cost"] = model.cost
        return item

    def _get_response(
        self, task: dict[str, Any], ctx: Context
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        task_uuid = task.get("taskUUID")
        fault = ctx.take_provider_fault()
        kind = fault.kind if fault is not None else None
        with self._lock:
            if kind in ("expired", "unknown") and isinstance(task_uuid, str):
                self._jobs.pop(task_uuid, None)
                if kind == "unknown":
                    self._ghosts.add(task_uuid)
            job = self._jobs.get(task_uuid) if isinstance(task_uuid, str) else None
            ghost = isinstance(task_uuid, str) and task_uuid in self._ghosts
        if ghost:  # a task Runware does not know, answered like a running one
            return [], []
        if job is None:
            return [], [
                {
                    "code": "taskFailedOrNotFound",
                    "message": f"Task {task_uuid} not found, expired or failed.",
                    "status": "error",
                    "taskType": "getResponse",
                    "taskUUID": task_uuid,
                }
            ]
        if time.monotonic() < job.done_at:
            processing = {"taskType": job.task_type, "taskUUID": job.task_uuid}
            return [{**processing, "status": "processing"}], []
        if job.error is not None and job.error_in_data:
            failed = {
                "taskType": job.task_type,
                "taskUUID": job.task_uuid,
                "imageUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, job.task_uuid)),
                "status": "error",
                "error": dict(job.error),
            }
            return [failed], []
        if job.error is not None:
            return [], [
                {
                    **job.error,
                    "status": "error",
                    "taskType": job.task_type,
                    "taskUUID": job.task_uuid,
                }
            ]
        return [{**item, "status": "success"} for item in job.items], []
