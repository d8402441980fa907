"""validate: the mistakes people make in a manifest, said once and in their terms.

- An unquoted `#RRGGBB` is a YAML comment: `ink: #112233` leaves `ink` empty. Said as
  "quote it", at the `#`, instead of "expected a colour, got nothing".
- A model name in brandkit's alias namespace (`recraft-v...`) that is no alias is an
  error listing the aliases, before anything is sent (a provider's own model ids, which
  look otherwise, are still passed through).
- A misspelt key is one error: the schema's complaints about the key it stands for
  (`'sizes' is required` beside `unknown key 'szes'`) are dropped when renaming the
  misspelt key would satisfy them.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from .errors import Location, Problem
from .load import Document, PathT, readable_path
from .models import MODELS

# A model name in brandkit's alias namespace; outside it, a name is a provider's own id.
_ALIAS_SHAPED = re.compile(r"recraft-v\d")
_CUTOFF = 0.6  # as manifest._unknown_key's "did you mean"


def colour_comments(doc: Document) -> list[Problem]:
    """One problem per empty value whose line goes on with an unquoted colour."""
    return [
        Problem(
            Location(doc.file, line, column),
            readable_path(path),
            f'{colour} is read as a YAML comment here, leaving this empty; quote it: "{colour}"',
        )
        for path, (line, column, colour) in sorted(doc.colour_comments.items())
    ]


def unknown_models(doc: Document) -> list[Problem]:
    data = doc.data if isinstance(doc.data, dict) else {}
    places: list[tuple[PathT, Any]] = []
    defaults = data.get("defaults")
    if isinstance(defaults, dict) and "model" in defaults:
        places.append((("defaults", "model"), defaults["model"]))
    assets = data.get("assets")
    for asset_id, asset in assets.items() if isinstance(assets, dict) else []:
        if isinstance(asset, dict) and "model" in asset:
            places.append((("assets", asset_id, "model"), asset["model"]))
    raw_ids = {i for m in MODELS.values() for i in m.ids.values()}
    problems = []
    for path, name in places:
        if not isinstance(name, str) or not _ALIAS_SHAPED.match(name):
            continue
        if name in MODELS or name in raw_ids:
            continue
        close = difflib.get_close_matches(name, list(MODELS), n=1, cutoff=_CUTOFF)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = (
            f"unknown model {name!r}{hint}; known aliases: {', '.join(MODELS)} "
            "(or a provider's own model id, e.g. recraft:v4@0 on runware)"
        )
        problems.append(Problem(doc.locate(path), readable_path(path), message))
    return problems


def unexplained(validator: Any, errors: list[Any]) -> list[Any]:
    """`errors` (jsonschema's) without those that a misspelt key explains: an error on a
    mapping with a misspelt key that renaming the key to its close match would fix."""
    renames: dict[PathT, dict[str, str]] = {}
    for error in errors:
        if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
            continue
        known = list(error.schema.get("properties", {}))
        for key in error.instance:
            close = difflib.get_close_matches(key, known, n=1, cutoff=_CUTOFF)
            if key not in known and close and close[0] not in error.instance:
                renames.setdefault(tuple(error.absolute_path), {})[key] = close[0]
    return [
        e
        for e in errors
        if e.validator == "additionalProperties"
        or not _fixed_by(validator, e, renames.get(tuple(e.absolute_path)))
    ]


def _fixed_by(validator: Any, error: Any, renames: dict[str, str] | None) -> bool:
    if not renames or not isinstance(error.instance, dict):
        return False
    renamed = {renames.get(k, k): v for k, v in error.instance.items()}
    try:
        check = validator.evolve(schema={error.validator: error.validator_value})
        return bool(check.is_valid(renamed))
    except Exception:  # a keyword that needs more of the schema than itself: keep the error
        return False
