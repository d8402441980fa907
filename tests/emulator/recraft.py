"""Recraft official API emulation: `POST {base}/images/generations` (providers.md §4)."""

from __future__ import annotations

import base64
import time
from typing import Any

from . import catalog
from .catalog import Tier
from .wire import NO_JSON, Context, Phase, Request, Response, json_response, phrase, text_response

# model -> (size tier, API units charged per image)
MODELS: dict[str, tuple[Tier, int]] = {
    "recraftv4": ("1K", 40),
    "recraftv4_pro": ("2K", 250),
    "recraftv4_1": ("1K", 35),
    "recraftv4_1_pro": ("2K", 210),
    # Vector models (recraft.ai/docs/api-reference/models/recraft-v4(.md), -v4-1): SVG;
    # V4.1 Pro Vector's price is not legible on Recraft's page: $0.30 as fal.ai lists.
    "recraftv4_vector": ("1K", 80),
    "recraftv4_pro_vector": ("2K", 300),
    "recraftv4_1_vector": ("1K", 80),
    "recraftv4_1_pro_vector": ("2K", 300),
}
DEFAULT_MODEL = "recraftv4_1"
FIELDS = frozenset(
    {
        "prompt",
        "model",
        "n",
        "size",
        "style",
        "substyle",
        "style_id",
        "negative_prompt",
        "response_format",
        "controls",
        "text_layout",
        "random_seed",
        "image_format",
        "block_nsfw",
        "expire",
        "calculate_features",
    }
)
CONTROL_FIELDS = frozenset({"colors", "background_color", "no_text", "artistic_level"})
IMAGE_FORMATS = {"png": "PNG", "webp": "WEBP"}
# Recraft documents no default for `image_format` (providers.md 4.1): the emulator answers
# WEBP when it is absent, so a client that stops asking for PNG is caught.
DEFAULT_IMAGE_FORMAT = "webp"
# V3 parameters the V4 models do not take: style work goes to the V4 Styles models
# (`style_id`), and unsupported parameters are "rejected or ignored" (providers.md 4.3).
# The emulator rejects them, so a client that sends them is caught.
V3_STYLE_FIELDS = ("style", "substyle")


def rc_error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"code": code, "message": message})


class Recraft:
    name = "recraft"

    def __init__(self, keys: dict[str, str]) -> None:
        self._keys = keys

    def authorized(self, request: Request) -> bool:
        return request.bearer() == self._keys["recraft"]

    def unauthorized(self, request: Request) -> Response:
        return text_response(401, "request unauthorized")

    def phase(self, request: Request) -> Phase:
        return "submit" if request.method == "POST" else "other"

    def error(
        self, status: int, request: Request, code: Any = None, message: str | None = None
    ) -> Response:
        if status == 401:
            return text_response(401, message or "request unauthorized")
        if status == 404:
            return text_response(404, message or "404 page not found")
        if status >= 500:  # gateway-style plain-text bodies
            return text_response(status, message or phrase(status))
        defaults = {
            402: ("not_enough_credits", "Not enough API units on the balance"),
            429: ("rate_limit_exceeded", "Too many requests"),
        }
        default_code, default_message = defaults.get(status, ("invalid_request", phrase(status)))
        return rc_error(status, str(code or default_code), message or default_message)

    def reset(self) -> None:
        pass

    def handle(self, request: Request, ctx: Context) -> Response:
        if request.path.rstrip("/") != "/images/generations":
            return text_response(404, "404 page not found")
        if request.method != "POST":
            return text_response(405, "method not allowed")
        body = request.json
        if body is NO_JSON or not isinstance(body, dict):
            return rc_error(400, "invalid_request", "request body must be a JSON object")
        model_id = body.get("model", DEFAULT_MODEL)
        if model_id not in MODELS:
            return rc_error(400, "invalid_model", f"unknown model {model_id!r}")
        tier, units = MODELS[model_id]
        problem = input_problem(body, tier)
        if problem is None and model_id.endswith("_vector") and "image_format" in body:
            # png|webp means nothing for an SVG; Recraft says unsupported parameters are
            # "rejected or ignored" ([RC-agents]): rejected, to catch a client that sends it.
            problem = ("invalid_request", "image_format is not supported by vector models")
        if problem:
            return rc_error(400, *problem)
        fault = ctx.take_provider_fault()
        if fault is not None and fault.kind == "content_refusal":
            message = fault.params.get("message", "The prompt violates the content policy")
            return rc_error(400, str(fault.params.get("code", "content_policy_violation")), message)
        count = body.get("n", 1)
        if fault is None or fault.params.get("paid", True):
            ctx.charge(count)
        ctx.sleep(ctx.latency)
        if fault is not None and fault.kind == "no_image":  # paid, answer without image
            return json_response(200, {"created": int(time.time()), "credits": units, "data": []})
        if fault is not None:  # job_failed
            message = fault.params.get("message", "image generation failed")
            return rc_error(500, fault.params.get("code", "generation_failed"), message)
        width, height = (
            catalog.parse_size(body["size"], tier, allow_ratio=True)
            if "size" in body
            else catalog.default_size(tier)
        ) or (0, 0)
        vector = model_id.endswith("_vector")
        fmt = "SVG" if vector else IMAGE_FORMATS[body.get("image_format", DEFAULT_IMAGE_FORMAT)]
        data = []
        for _ in range(count):
            record = ctx.register_image(body["prompt"], width, height, fmt)
            item: dict[str, Any] = {"image_id": record.file_id}
            if body.get("response_format", "url") == "b64_json":
                item["b64_json"] = base64.b64encode(ctx.image_bytes(record)).decode()
            else:
                item["url"] = ctx.file_url(record)
            data.append(item)
        payload = {"created": int(time.time()), "credits": units * count, "data": data}
        return json_response(200, payload)


def input_problem(body: dict[str, Any], tier: Tier) -> tuple[str, str] | None:
    """(code, message) for the first problem in a generation request, or None."""
    extra = set(body) - FIELDS
    if extra:
        return "invalid_request", f"unknown field {sorted(extra)[0]!r}"
    problem = catalog.prompt_problem(body.get("prompt"))
    if problem:
        return "invalid_prompt", problem
    n = body.get("n", 1)
    if not catalog.is_int(n) or not 1 <= n <= 6:
        return "invalid_request", "n must be an integer from 1 to 6"
    if "size" in body and catalog.parse_size(body["size"], tier, allow_ratio=True) is None:
        return "invalid_size", f"size {body['size']!r} is not supported by this model"
    if body.get("response_format", "url") not in ("url", "b64_json"):
        return "invalid_request", "response_format must be 'url' or 'b64_json'"
    if body.get("image_format", DEFAULT_IMAGE_FORMAT) not in IMAGE_FORMATS:
        return "invalid_request", "image_format must be 'png' or 'webp'"
    for name in ("style", "substyle", "style_id", "negative_prompt"):
        if name in body and not isinstance(body[name], str):
            return "invalid_request", f"{name} must be a string"
    for name in V3_STYLE_FIELDS:
        if name in body:
            return "invalid_request", (
                f"{name} is not supported by V4 models; use a V4 Styles model with style_id"
            )
    return controls_problem(body.get("controls", {}))


def controls_problem(controls: object) -> tuple[str, str] | None:
    if not isinstance(controls, dict):
        return "invalid_request", "controls must be an object"
    extra = set(controls) - CONTROL_FIELDS
    if extra:
        return "invalid_request", f"unknown field 'controls.{sorted(extra)[0]}'"
    if "colors" in controls:
        problem = catalog.colors_problem(controls["colors"])
        if problem:
            return "invalid_request", f"controls.colors: {problem}"
    if "background_color" in controls:
        problem = catalog.rgb_problem(controls["background_color"])
        if problem:
            return "invalid_request", f"controls.background_color: {problem}"
    if "no_text" in controls and not isinstance(controls["no_text"], bool):
        return "invalid_request", "controls.no_text must be a boolean"
    level = controls.get("artistic_level", 0)
    if not catalog.is_int(level) or not 0 <= level <= 5:
        return "invalid_request", "controls.artistic_level must be an integer from 0 to 5"
    return None
