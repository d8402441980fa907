"""A JSON Schema error in words a manifest's author reads: "expected a list, got a
string 'x'", "'tall' is not valid; use one of: ..."."""

from __future__ import annotations

import json
from typing import Any


def plain_message(error: Any) -> str:
    v, value = error.validator, error.instance
    if v == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return f"expected {article(wanted)}, got {type_name(value)} {short(value)}"
    if v == "enum":
        valid = ", ".join(map(str, error.validator_value))
        return f"{short(value)} is not valid; use one of: {valid}"
    if v == "maxItems":
        return f"at most {error.validator_value} items allowed, got {len(value)}"
    if v == "minItems":
        return f"at least {error.validator_value} item(s) needed"
    if v == "minProperties":
        return f"at least {error.validator_value} entry needed"
    if v == "uniqueItems":
        return "items must not repeat"
    if v == "required":
        return error.message.replace("is a required property", "is required")
    return error.message


def article(word: str) -> str:
    word = {"object": "mapping", "array": "list"}.get(word, word)
    return ("an " if word[0] in "aeiou" else "a ") + word


def type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "nothing",
    }.get(type(value), "a value")


def short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
