"""Validation of Runware `imageInference` tasks for the four Recraft models (providers.md §1.2),
and of `vectorize` tasks for the two vector models Runware serves."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import catalog
from .catalog import Tier


@dataclass(frozen=True)
class RunwareModel:
    tier: Tier
    colour_key: str  # "providerSettings" (V4 family) or "settings" (V4.1 family)
    cost: float
    task_type: str = "imageInference"  # vector models: "vectorize"


MODELS: dict[str, RunwareModel] = {
    "recraft:v4@0": RunwareModel("1K", "providerSettings", 0.04),
    "recraft:v4-pro@0": RunwareModel("2K", "providerSettings", 0.25),
    "recraft:v4.1@0": RunwareModel("1K", "settings", 0.04),  # price not documented: guessed
    "recraft:v4.1-pro@0": RunwareModel("2K", "settings", 0.25),
    # runware.ai/docs/models/recraft-v4-vector and -pro-vector; the SDK's task map
    # (Runware/runware-python runware/types/task_map.py): a `vectorize` task, positivePrompt,
    # width/height (optional), providerSettings, outputFormat SVG only, no numberResults.
    "recraft:v4@vector": RunwareModel("1K", "providerSettings", 0.08, "vectorize"),
    "recraft:v4-pro@vector": RunwareModel("2K", "providerSettings", 0.30, "vectorize"),
}

BASE_FIELDS = frozenset(
    {
        "taskType",
        "taskUUID",
        "model",
        "positivePrompt",
        "width",
        "height",
        "numberResults",
        "outputType",
        "outputFormat",
        "outputQuality",
        "includeCost",
        "deliveryMethod",
        "webhookURL",
        "uploadEndpoint",
        "ttl",
        "safety",
    }
)
# What a vectorize task takes besides its colours (RecraftV4VectorParams in the SDK).
VECTORIZE_FIELDS = frozenset(
    {
        "taskType",
        "taskUUID",
        "model",
        "positivePrompt",
        "width",
        "height",
        "outputType",
        "outputFormat",
        "includeCost",
        "deliveryMethod",
        "webhookURL",
        "uploadEndpoint",
        "ttl",
    }
)
OUTPUT_TYPES = ("URL", "base64Data", "dataURI")
OUTPUT_FORMATS = ("JPG", "PNG", "WEBP")
VECTOR_FORMATS = ("SVG",)


class TaskError(Exception):
    def __init__(
        self, code: str, message: str, parameter: str | None = None, status: int = 400
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.parameter, self.status = code, message, parameter, status

    def item(self, task: object) -> dict[str, Any]:
        item: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.parameter:
            item["parameter"] = self.parameter
        if isinstance(task, dict):
            item["taskType"] = task.get("taskType")
            item["taskUUID"] = task.get("taskUUID")
        return item


def validate(task: dict[str, Any]) -> RunwareModel:
    """Validate an imageInference task like Runware does; raise TaskError on the first problem."""
    task_uuid = task.get("taskUUID")
    try:
        uuid.UUID(str(task_uuid))
    except ValueError:
        raise TaskError("invalidTaskUUID", "taskUUID must be a UUID v4.", "taskUUID") from None
    if not isinstance(task_uuid, str):
        raise TaskError("invalidTaskUUID", "taskUUID must be a UUID v4.", "taskUUID")
    model_id = task.get("model")
    if model_id is None:
        raise TaskError("missingParameter", "Missing required parameter 'model'.", "model")
    model = MODELS.get(model_id) if isinstance(model_id, str) else None
    if model is None:
        raise TaskError("unknownModel", f"Unknown model {model_id!r}.", "model")
    if task.get("taskType") != model.task_type:
        raise TaskError(
            "invalidTaskType",
            f"{model_id} is run with taskType {model.task_type!r}, not {task.get('taskType')!r}.",
            "taskType",
        )
    fields = VECTORIZE_FIELDS if model.task_type == "vectorize" else BASE_FIELDS
    for key in task:
        if key not in fields and key != model.colour_key:
            raise TaskError(
                "unknownParameter", f"Parameter {key!r} is not supported by {model_id}.", key
            )
    problem = catalog.prompt_problem(task.get("positivePrompt"))
    if problem:
        raise TaskError(
            "invalidPositivePrompt", problem.replace("prompt", "positivePrompt"), "positivePrompt"
        )
    if model.task_type != "vectorize" or "width" in task or "height" in task:
        _validate_dimensions(task, model)
    _validate_options(task)
    formats = VECTOR_FORMATS if model.task_type == "vectorize" else OUTPUT_FORMATS
    if task.get("outputFormat", formats[0]) not in formats:
        raise TaskError(
            "invalidOutputFormat", f"'outputFormat' must be one of {formats}.", "outputFormat"
        )
    _validate_colours(task, model)
    return model


def _validate_dimensions(task: dict[str, Any], model: RunwareModel) -> None:
    for name in ("width", "height"):
        if not catalog.is_int(task.get(name)):
            raise TaskError(
                f"invalid{name.title()}",
                f"'{name}' is required, must be an integer and is paired with the other dimension.",
                name,
            )
    if (task["width"], task["height"]) not in catalog.allowed_sizes(model.tier):
        raise TaskError(
            "unsupportedDimensions",
            f"{task['width']}x{task['height']} is not a supported size for {task['model']}.",
            "width",
        )


def _int_between(low: int, high: int) -> Callable[[Any], bool]:
    return lambda value: catalog.is_int(value) and low <= value <= high


def _safety_ok(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) <= {"checkContent", "mode"}
        and isinstance(value.get("checkContent", False), bool)
        and value.get("mode", "none") in ("none", "fast")
    )


OPTION_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "numberResults": (_int_between(1, 20), "an integer 1-20"),
    "outputType": (lambda v: v in OUTPUT_TYPES, f"one of {OUTPUT_TYPES}"),
    "outputQuality": (_int_between(20, 99), "an integer 20-99"),
    "includeCost": (lambda v: isinstance(v, bool), "a boolean"),
    "deliveryMethod": (lambda v: v in ("sync", "async"), "'sync' or 'async'"),
    "ttl": (_int_between(60, 2**31), "an integer >= 60"),
    "webhookURL": (lambda v: isinstance(v, str), "a URI"),
    "uploadEndpoint": (lambda v: isinstance(v, str), "a URI"),
    "safety": (_safety_ok, "an object {checkContent: bool, mode: 'none'|'fast'}"),
}


def _validate_options(task: dict[str, Any]) -> None:
    for name, (ok, expected) in OPTION_CHECKS.items():
        if name in task and not ok(task[name]):
            code = f"invalid{name[0].upper()}{name[1:]}"
            raise TaskError(code, f"'{name}' must be {expected}.", name)


def _validate_colours(task: dict[str, Any], model: RunwareModel) -> None:
    key = model.colour_key
    if key not in task:
        return
    block = task[key]
    path = key
    if key == "providerSettings":
        if not isinstance(block, dict):
            raise TaskError("invalidProviderSettings", "'providerSettings' must be an object.", key)
        for provider in block:
            if provider != "recraft":
                raise TaskError(
                    "unknownProviderSettingsProvider",
                    f"providerSettings.{provider} does not apply to {task['model']}.",
                    f"providerSettings.{provider}",
                )
        block = block.get("recraft", {})
        path = "providerSettings.recraft"
    if not isinstance(block, dict):
        raise TaskError(f"invalid{key[0].upper()}{key[1:]}", f"'{path}' must be an object.", path)
    for name in block:
        if name not in ("colors", "backgroundColor"):
            where = f"{path}.{name}"
            raise TaskError("unknownParameter", f"Unknown parameter '{where}'.", where)
    if "colors" in block:
        problem = catalog.colors_problem(block["colors"])
        if problem:
            raise TaskError("invalidColors", problem, f"{path}.colors")
    if "backgroundColor" in block:
        problem = catalog.rgb_problem(block["backgroundColor"])
        if problem:
            raise TaskError("invalidBackgroundColor", problem, f"{path}.backgroundColor")
