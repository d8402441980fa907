"""Cloudflare Workers AI emulation: `POST {base}/accounts/{account_id}/ai/run` (providers.md §2)."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator

from . import catalog
from .catalog import Tier
from .wire import NO_JSON, Context, Phase, Request, Response, json_response, phrase

MODELS: dict[str, Tier] = {
    "recraft/recraftv4": "1K",
    "recraft/recraftv4-pro": "2K",
    "recraft/recraftv4-1": "1K",
    "recraft/recraftv4-1-pro": "2K",
}
# Vector models (developers.cloudflare.com/ai/models/recraft/<id>/): the same input
# schema; `result.image` is a URL to an SVG (contentMediaType image/svg+xml).
VECTOR_MODELS: dict[str, Tier] = {
    "recraft/recraftv4-vector": "1K",
    "recraft/recraftv4-pro-vector": "2K",
    "recraft/recraftv4-1-vector": "1K",
    "recraft/recraftv4-1-pro-vector": "2K",
}
MODELS.update(VECTOR_MODELS)

_RGB = {
    "minItems": 3,
    "maxItems": 3,
    "type": "array",
    "items": {"type": "integer", "minimum": 0, "maximum": 255},
}
_COLOUR = {
    "type": "object",
    "properties": {"rgb": _RGB},
    "required": ["rgb"],
    "additionalProperties": False,
}
# Verbatim from the input schema in seed 002 (recraft/recraftv4-pro).
INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "prompt": {"type": "string"},
        "size": {"type": "string"},
        "style": {"type": "string"},
        "substyle": {"type": "string"},
        "controls": {
            "type": "object",
            "properties": {
                "colors": {"maxItems": 5, "type": "array", "items": _COLOUR},
                "background_color": _COLOUR,
            },
            "additionalProperties": False,
        },
    },
    "required": ["prompt"],
    "additionalProperties": False,
}
_VALIDATOR = Draft202012Validator(INPUT_SCHEMA)
_RUN_PATH = re.compile(r"^/accounts/([^/]+)/ai/run/?$")

ERROR_CODES: dict[int, tuple[int, str]] = {
    400: (5004, "Invalid input"),
    401: (10000, "Authentication error"),
    403: (3041, "Not allowed"),
    404: (7000, "No route for that URI"),
    405: (5019, "Method not allowed"),
    408: (3007, "Request timeout"),
    413: (3006, "Request is too large"),
    429: (3040, "No more data centers to forward the request to"),
}
CODE_MESSAGES = {
    3036: "Account limited: you have used up your daily free allocation of 10,000 neurons, "
    "please upgrade to Cloudflare's Workers Paid plan if you would like to continue usage.",
    3040: "No more data centers to forward the request to",
}


def classic(status: int, code: int, message: str) -> Response:
    """The classic Cloudflare v4 API error envelope."""
    payload = {
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": None,
    }
    return json_response(status, payload)


class Cloudflare:
    name = "cloudflare"

    def __init__(self, keys: dict[str, str], account_id: str) -> None:
        self._keys = keys
        self.account_id = account_id

    def authorized(self, request: Request) -> bool:
        return request.bearer() == self._keys["cloudflare"]

    def unauthorized(self, request: Request) -> Response:
        return classic(401, 10000, "Authentication error")

    def phase(self, request: Request) -> Phase:
        return "submit" if request.method == "POST" else "other"

    def error(
        self, status: int, request: Request, code: Any = None, message: str | None = None
    ) -> Response:
        default_code, default_message = ERROR_CODES.get(status, (3043, phrase(status)))
        numeric = int(code) if code is not None else default_code
        text = message or CODE_MESSAGES.get(numeric) or default_message
        return classic(status, numeric, text)

    def reset(self) -> None:
        pass

    def handle(self, request: Request, ctx: Context) -> Response:
        match = _RUN_PATH.match(request.path)
        if not match:
            return classic(404, 7000, "No route for that URI")
        if match.group(1) != self.account_id:
            return classic(
                404,
                7003,
                f"Could not route to /client/v4{request.path}, "
                "perhaps your object identifier is invalid?",
            )
        if request.method != "POST":
            return classic(405, 5019, "Method not allowed")
        body = request.json
        if body is NO_JSON or not isinstance(body, dict):
            return classic(400, 5004, "Invalid input: request body must be a JSON object")
        extra = set(body) - {"model", "input", "options"}
        if extra:
            return classic(400, 5004, f"Invalid input: unknown field {sorted(extra)[0]!r}")
        model = body.get("model")
        tier = MODELS.get(model) if isinstance(model, str) else None
        if tier is None:
            return classic(400, 5007, f"No such model {model} or task")
        problem = input_problem(body.get("input"), tier)
        if problem:
            return classic(400, 5004, f"Invalid input: {problem}")
        inputs: dict[str, Any] = body["input"]
        fault = ctx.take_provider_fault()
        if fault is not None and fault.kind == "content_refusal":
            message = fault.params.get("message", "Input flagged by content policy")
            return classic(400, int(fault.params.get("code", 5004)), message)
        if fault is None or fault.params.get("paid", True):
            ctx.charge()
        ctx.sleep(ctx.latency)
        if fault is not None and fault.kind == "no_image":  # paid, answer without image
            metadata = {"keySource": "Unified"}
            return json_response(
                200, {"gatewayMetadata": metadata, "result": {}, "state": "Completed"}
            )
        if fault is not None:  # job_failed: the Run-API failure form
            error = {
                "code": fault.params.get("code", "provider_error"),
                "message": fault.params.get("message", "The provider failed to generate."),
            }
            return json_response(502, {"state": "Failed", "error": error, "model": model})
        size = catalog.parse_size(inputs.get("size"), tier) or catalog.default_size(tier)
        fmt = "SVG" if model in VECTOR_MODELS else "PNG"
        record = ctx.register_image(inputs["prompt"], size[0], size[1], fmt)
        return json_response(
            200,
            {
                "gatewayMetadata": {"keySource": "Unified"},
                "result": {"image": ctx.file_url(record)},
                "state": "Completed",
            },
        )


def input_problem(inputs: object, tier: Tier) -> str | None:
    """Check `input` against the seed schema, then the prompt length and size table."""
    if not isinstance(inputs, dict):
        return "'input' must be an object"
    error = next(iter(sorted(_VALIDATOR.iter_errors(inputs), key=str)), None)
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "input"
        return f"{where}: {error.message}"
    problem = catalog.prompt_problem(inputs["prompt"])
    if problem:
        return problem
    if "size" in inputs and catalog.parse_size(inputs["size"], tier) is None:
        return f"size {inputs['size']!r} is not supported by this model"
    # The schema allows style/substyle, but these are Recraft's V4 models proxied as is,
    # which take no V3 style (providers.md 2.1 "Styles", 4.3); whether Cloudflare rejects
    # or ignores them is undocumented. The emulator rejects them, to catch a client that
    # sends them.
    for name in ("style", "substyle"):
        if name in inputs:
            return f"{name}: V4 models take no V3 style (use the V4 Styles models)"
    return None
