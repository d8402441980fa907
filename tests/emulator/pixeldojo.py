"""PixelDojo job API emulation: `POST {base}/models/{apiId}/run`, `GET {base}/jobs/{jobId}`.

Source: providers.md §3 and seed 003. The `processing` / `failed` states are not confirmed by the
docs; they are emulated as the reference suggests.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import catalog
from .wire import NO_JSON, Context, Phase, Request, Response, json_response, phrase

API_ID = "recraft-v4"
# apiId -> (size tier, image format, credits): recraft-v4-pro-svg takes recraft-v4's
# inputs and costs 8 credits (pixeldojo.ai/api-platform/recraft-v4-pro-svg); which size
# it draws at is not documented: the 2K table of V4 Pro (a guess).
MODELS: dict[str, tuple[catalog.Tier, str, int]] = {
    API_ID: ("1K", "PNG", 1),
    "recraft-v4-pro-svg": ("2K", "SVG", 8),
}
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "4:5")
FIELDS = frozenset({"prompt", "aspect_ratio", "size", "seed"})
CREDIT_COST = 1
INITIAL_CREDITS = 1000
# How a completed job carries its image [PD-seed], [PD-docs]: "documented" is
# `output.images` plus the TS SDK's `assets` (both); "images", "image" (a single
# `output.image` string, seen in a third-party integration) and "assets" serve one alone.
OUTPUT_SHAPES = ("documented", "images", "image", "assets")
_RUN_PATH = re.compile(r"^/models/([^/]+)/run/?$")
_JOB_PATH = re.compile(r"^/jobs/([^/]+)/?$")


@dataclass
class PdJob:
    job_id: str
    done_at: float
    expires_at: float
    expires_iso: str
    credit_cost: int
    image_url: str | None = None
    error: str | None = None
    polls: int = 0

    def view(self, status: str) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "status": status,
            "creditCost": self.credit_cost,
            "expiresAt": self.expires_iso,
        }


def pd_error(status: int, error: str, message: str, **extra: Any) -> Response:
    return json_response(status, {"error": error, "message": message, **extra})


class PixelDojo:
    name = "pixeldojo"

    def __init__(self, keys: dict[str, str]) -> None:
        self._keys = keys
        self._lock = threading.Lock()
        self._jobs: dict[str, PdJob] = {}
        self.credits = INITIAL_CREDITS
        self.job_ttl = 3600.0  # seconds until a job (and its statusUrl) expires
        self.output_shape = "documented"  # one of OUTPUT_SHAPES
        # Hostile mode: the statusUrl points at this base (another origin) instead of ours.
        self.status_url_base: str | None = None

    def authorized(self, request: Request) -> bool:
        return request.bearer() == self._keys["pixeldojo"]

    def unauthorized(self, request: Request) -> Response:
        return pd_error(401, "Unauthorized", "Invalid or missing API key")

    def phase(self, request: Request) -> Phase:
        if request.method == "POST" and _RUN_PATH.match(request.path):
            return "submit"
        if request.method == "GET" and _JOB_PATH.match(request.path):
            return "poll"
        return "other"

    def error(
        self, status: int, request: Request, code: Any = None, message: str | None = None
    ) -> Response:
        if status == 402:
            return pd_error(
                402,
                "Insufficient credits",
                message or "Not enough credits for this request",
                credits_remaining=self.credits,
            )
        short = "Rate limit exceeded" if status == 429 else phrase(status)
        return pd_error(status, str(code or short), message or short)

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()
            self.credits = INITIAL_CREDITS
            self.output_shape = "documented"
            self.status_url_base = None

    def handle(self, request: Request, ctx: Context) -> Response:
        run = _RUN_PATH.match(request.path)
        if run and request.method == "POST":
            return self._submit(run.group(1), request, ctx)
        job = _JOB_PATH.match(request.path)
        if job and request.method == "GET":
            return self._poll(job.group(1), ctx)
        return pd_error(404, "Not found", f"No route for {request.method} {request.path}")

    def _submit(self, api_id: str, request: Request, ctx: Context) -> Response:
        if api_id not in MODELS:
            return pd_error(404, "Model not found", f"Unknown model '{api_id}'")
        tier, fmt, cost = MODELS[api_id]
        body = request.json
        if body is NO_JSON or not isinstance(body, dict):
            return pd_error(400, "Invalid input", "Request body must be a JSON object")
        problem = input_problem(body)
        if problem:
            return pd_error(400, "Invalid input", problem)
        if "size" in body:
            width, height = catalog.parse_size(body["size"], "1K") or (0, 0)
        else:
            width, height = catalog.SIZE_TABLES[tier][body.get("aspect_ratio", "1:1")]
        fault = ctx.take_provider_fault()
        paid = fault is None or (fault.kind == "job_failed" and fault.params.get("paid", True))
        now = time.monotonic()
        job = PdJob(
            job_id=f"job_{secrets.token_hex(12)}",
            done_at=now + ctx.latency,
            expires_at=now + self.job_ttl,
            expires_iso=(datetime.now(UTC) + timedelta(seconds=self.job_ttl)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            credit_cost=cost if paid else 0,
        )
        if fault is None:
            record = ctx.register_image(body["prompt"], width, height, fmt)
            job.image_url = ctx.file_url(record)
        elif fault.kind == "content_refusal":
            job.error = fault.params.get("message", "Content policy violation")
        else:
            job.error = fault.params.get("message", "Generation failed")
        with self._lock:
            self._jobs[job.job_id] = job
            if paid:
                self.credits -= cost
            remaining = self.credits
        if paid:
            ctx.charge()
        status_base = self.status_url_base or ctx.base_url(self.name)
        status_url = f"{status_base}/jobs/{job.job_id}"
        payload = {
            **job.view("pending"),
            "statusUrl": status_url,
            "creditCost": cost,
            "creditsRemaining": remaining,
        }
        return json_response(202, payload)

    def _poll(self, job_id: str, ctx: Context) -> Response:
        fault = ctx.take_provider_fault()
        now = time.monotonic()
        with self._lock:
            if fault is not None and fault.kind == "expired":
                self._jobs.pop(job_id, None)
            job = self._jobs.get(job_id)
            if job is not None and now >= job.expires_at:
                del self._jobs[job_id]
                job = None
            if job is None:
                return json_response(404, {"error": "Job not found"})
            first_poll = job.polls == 0
            job.polls += 1
        if now < job.done_at:
            return json_response(200, job.view("pending" if first_poll else "processing"))
        if job.error is not None:
            return json_response(200, {**job.view("failed"), "error": job.error})
        assert job.image_url is not None
        return json_response(200, {**job.view("completed"), **self._output(job.image_url)})

    def _output(self, url: str) -> dict[str, Any]:
        shape = self.output_shape
        if shape not in OUTPUT_SHAPES:
            raise ValueError(f"output_shape must be one of {OUTPUT_SHAPES}, not {shape!r}")
        fields: dict[str, Any] = {}
        if shape in ("documented", "images"):
            fields["output"] = {"images": [url]}
        if shape == "image":
            fields["output"] = {"image": url}
        if shape in ("documented", "assets"):
            fields["assets"] = [{"url": url}]
        return fields


def input_problem(body: dict[str, Any]) -> str | None:
    extra = set(body) - FIELDS
    if extra:
        return f"Unknown parameter '{sorted(extra)[0]}'"
    problem = catalog.prompt_problem(body.get("prompt"))
    if problem:
        return problem
    if "aspect_ratio" in body and body["aspect_ratio"] not in ASPECT_RATIOS:
        return f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}"
    if "size" in body and catalog.parse_size(body["size"], "1K") is None:
        return f"size {body['size']!r} is not supported (use WxH from the 1K size table)"
    if "seed" in body and not catalog.is_int(body["seed"]):
        return "seed must be an integer"
    return None
