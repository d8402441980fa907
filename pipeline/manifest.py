"""validate: a loaded YAML document -> a typed, frozen Manifest, or every problem at once.

Schema errors come from `schemas/manifest.schema.json` (Draft 2020-12), each located by
walking the document's marks along the error's path; then the checks a schema cannot
express (colour names defined, templates exist). Everything is reported together.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from . import hints
from .errors import ManifestError, Problem
from .jobs import RGB
from .load import Document, PathT, load_yaml, read_text, readable_path
from .schema_messages import plain_message

DEFAULT_PROVIDER = "local"
DEFAULT_MODEL = "recraft-v4"
DEFAULT_FORMAT = "png"


@dataclass(frozen=True, slots=True)
class Settings:
    """What an asset inherits from `defaults:` unless it sets its own."""

    provider: str = DEFAULT_PROVIDER
    model: str = DEFAULT_MODEL
    format: str = DEFAULT_FORMAT
    palette: tuple[RGB, ...] = ()
    background: RGB | None = None
    style: str | None = None
    substyle: str | None = None
    seed: int | None = None
    fit: str = "cover"  # cover | contain (jobs.Fit, per output, in expand)
    pad: RGB | None = None
    safe_zone: float | None = None
    candidates: int = 1  # DESIGN "Candidates, review and approval"
    approval: str = "optional"  # defaults only: optional | required


@dataclass(frozen=True, slots=True)
class Asset:
    id: str
    source: str  # the prompt template's text
    source_path: PathT  # where that text stands in the manifest
    vars: dict[str, Any]
    matrix: tuple[tuple[str, tuple[Any, ...]], ...]
    sizes: tuple[str, ...]
    formats: tuple[str, ...]
    out: str | None
    settings: Settings
    preset: str | None = None  # favicon | social (presets.py)


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    concurrency: int | None = None
    base_url: str | None = None
    timeout: float | None = None
    max_json_mb: float | None = None
    max_download_mb: float | None = None
    prices: dict[str, float] = field(default_factory=dict)
    drop_colors: bool = False


@dataclass(frozen=True)
class Manifest:
    file: str
    kit: dict[str, Any]
    brand: dict[str, Any]
    assets: tuple[Asset, ...]
    providers: dict[str, ProviderSettings] = field(default_factory=dict)
    doc: Document | None = None


@functools.cache
def schema_text() -> str:
    """The manifest schema: packaged with the wheel, or beside the source tree."""
    packaged = resources.files("pipeline") / "schemas" / "manifest.schema.json"
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    repo = Path(__file__).resolve().parent.parent / "schemas" / "manifest.schema.json"
    return repo.read_text(encoding="utf-8")


@functools.cache
def schema() -> dict:
    return json.loads(schema_text())


def load_manifest(
    path: Path, display: str | None = None, *, verdict: Path | None = None
) -> Manifest:
    """Read, parse and validate a manifest file. `verdict`: where the key of the last
    manifest that passed is kept (validated.py); this very text is not validated again."""
    display = display or path.name
    try:
        text = read_text(path, display)
    except FileNotFoundError:
        from .errors import BrandkitError

        raise BrandkitError(f"{display}: no such file (create it, or pass -f FILE)") from None
    doc = load_yaml(text, display)
    if verdict is None:
        return validate(doc)
    from .validated import known_valid, remember, verdict_key

    key = verdict_key(text, schema_text())
    if known_valid(verdict, key):
        return _build(doc)
    manifest = validate(doc)
    remember(verdict, key)
    return manifest


def validate(doc: Document) -> Manifest:
    problems = schema_problems(doc)
    if problems:
        raise ManifestError(problems)
    return _build(doc)


# --- schema errors, located and made readable ---------------------------------------------


def schema_problems(doc: Document) -> list[Problem]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema())
    problems: list[Problem] = _non_finite(doc, doc.data, ())
    problems += hints.colour_comments(doc) + hints.unknown_models(doc)
    refused = {p.path for p in problems}  # said once: not also "inf is greater than ..."
    for error in hints.unexplained(validator, list(validator.iter_errors(doc.data))):
        problems.extend(p for p in _describe(doc, error) if p.path not in refused)
    problems.extend(_brand_typos(doc))
    return problems


def _template_data(path: PathT) -> bool:
    """brand, templates, and an asset's vars and matrix: values for templates."""
    if len(path) == 1:
        return path[0] in ("brand", "templates")
    return len(path) == 3 and path[0] == "assets" and path[2] in ("vars", "matrix")


def _non_finite(doc: Document, value: Any, path: PathT) -> list[Problem]:
    """Infinities and NaNs (`.inf`, `.nan`, or a number too large for a float, like
    1e400) in a setting: no bound in the schema catches NaN, and neither belongs in a
    price, a timeout or a count. Template data (brand, vars, matrix) may hold them."""
    if isinstance(value, float):
        if math.isfinite(value):
            return []
        what = "NaN" if math.isnan(value) else "infinite (too large, or .inf)"
        message = f"not a finite number ({what}): write a plain number"
        return [Problem(doc.locate(path), readable_path(path), message)]
    if isinstance(value, dict):
        return [
            p
            for k, v in value.items()
            if not _template_data((*path, k))
            for p in _non_finite(doc, v, (*path, k))
        ]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(doc, v, (*path, i))]
    return []


def _describe(doc: Document, error: Any) -> list[Problem]:
    path = tuple(error.absolute_path)
    where = readable_path(path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in known]
        return [
            Problem(
                doc.locate((*path, k), key=True), readable_path((*path, k)), _unknown_key(k, known)
            )
            for k in extra
        ]
    if "propertyNames" in error.relative_schema_path:
        return _property_name_problems(doc, path, error)
    message = (
        error.schema.get(f"x-message-{error.validator}")
        or error.schema.get("x-message")
        or plain_message(error)
    )
    return [Problem(doc.locate(path), where, message)]


def _property_name_problems(doc: Document, path: PathT, error: Any) -> list[Problem]:
    names = error.schema  # the propertyNames subschema; the instance is the offending name
    bad = error.instance
    if "enum" in names:
        message = f"unknown name {bad!r}; valid: {', '.join(names['enum'])}"
    else:
        message = f"the name {bad!r} is not allowed: use letters, digits, '-' and '_'"
        if "pattern" in names and names["pattern"].startswith("^[a-z0-9]"):
            message = (
                f"the id {bad!r} is not allowed: use lowercase letters, digits, "
                "'-' and '_', starting with a letter or digit"
            )
    return [Problem(doc.locate((*path, bad), key=True), readable_path((*path, bad)), message)]


def _unknown_key(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; valid keys: {', '.join(known)}"


def _brand_typos(doc: Document) -> list[Problem]:
    brand = doc.data.get("brand") if isinstance(doc.data, dict) else None
    if not isinstance(brand, dict):
        return []
    known = ["name", "colors", "voice"]
    problems = []
    for key in brand:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        if close and close[0] not in brand:
            problems.append(
                Problem(
                    doc.locate(("brand", key), key=True),
                    f"brand.{key}",
                    f"unknown key {key!r} (did you mean {close[0]!r}?)",
                )
            )
    return problems


# --- building the typed manifest, with the checks a schema cannot make ---------------------


def parse_color(value: str | list[int]) -> RGB:
    if isinstance(value, list):
        r, g, b = (int(c) for c in value)  # JSON Schema's integer admits 1.0
        return (r, g, b)
    hexdigits = value[1:]
    if len(hexdigits) == 3:
        hexdigits = "".join(c * 2 for c in hexdigits)
    return (int(hexdigits[0:2], 16), int(hexdigits[2:4], 16), int(hexdigits[4:6], 16))


def hex_color(rgb: RGB) -> str:
    return "#{:02X}{:02X}{:02X}".format(*rgb)


class _ManifestBuilder:
    """The parsed document to a Manifest: colours resolved, templates found, every problem kept."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.problems: list[Problem] = []
        brand = self.data.get("brand") or {}
        self.colors = {n: parse_color(c) for n, c in (brand.get("colors") or {}).items()}

    def problem(self, path: PathT, message: str) -> None:
        self.problems.append(Problem(self.doc.locate(path), readable_path(path), message))

    def color_ref(self, value: Any, path: PathT) -> RGB | None:
        if isinstance(value, list) or (isinstance(value, str) and value.startswith("#")):
            return parse_color(value)
        if value in self.colors:
            return self.colors[value]
        known = ", ".join(self.colors) or "none are defined"
        self.problem(
            path,
            f"{value!r} is not a colour defined in brand.colors ({known}); "
            'use a defined name or a literal like "#3B2417"',
        )
        return None

    def settings(self, raw: dict[str, Any], base: Settings, path: PathT) -> Settings:
        palette = base.palette
        if "palette" in raw:
            resolved = [
                self.color_ref(v, (*path, "palette", i)) for i, v in enumerate(raw["palette"])
            ]
            palette = tuple(c for c in resolved if c is not None)
        background = base.background
        if "background" in raw:
            background = self.color_ref(raw["background"], (*path, "background"))
        pad = base.pad
        if "pad" in raw:
            pad = self.color_ref(raw["pad"], (*path, "pad"))
        return Settings(
            provider=raw.get("provider", base.provider),
            model=raw.get("model", base.model),
            format=raw.get("format", base.format),
            palette=palette,
            background=background,
            style=raw.get("style", base.style),
            substyle=raw.get("substyle", base.substyle),
            seed=raw.get("seed", base.seed),
            fit=raw.get("fit", base.fit),
            pad=pad,
            safe_zone=raw.get("safe_zone", base.safe_zone),
            candidates=raw.get("candidates", base.candidates),
            approval=raw.get("approval", base.approval),
        )

    def asset(self, asset_id: str, raw: dict[str, Any], defaults: Settings) -> Asset:
        path: PathT = ("assets", asset_id)
        templates = self.data.get("templates") or {}
        if "template" in raw:
            name = raw["template"]
            source = templates.get(name, "")
            source_path: PathT = ("templates", name)
            if name not in templates:
                known = ", ".join(templates) or "none are defined"
                self.problem(
                    (*path, "template"), f"no template named {name!r} in templates ({known})"
                )
        else:
            source, source_path = raw["prompt"], (*path, "prompt")
        settings = self.settings(raw, defaults, path)
        formats = tuple(raw.get("formats") or (settings.format,))
        return Asset(
            id=asset_id,
            source=source,
            source_path=source_path,
            vars=dict(raw.get("vars") or {}),
            matrix=tuple((k, tuple(v)) for k, v in (raw.get("matrix") or {}).items()),
            sizes=tuple(raw.get("sizes") or ()),
            formats=formats,
            out=raw.get("out"),
            settings=settings,
            preset=raw.get("preset"),
        )

    def build(self) -> Manifest:
        defaults = self.settings(self.data.get("defaults") or {}, Settings(), ("defaults",))
        assets = tuple(self.asset(i, raw, defaults) for i, raw in self.data["assets"].items())
        providers = {
            name: ProviderSettings(**cfg)
            for name, cfg in (self.data.get("providers") or {}).items()
        }
        if self.problems:
            raise ManifestError(self.problems)
        return Manifest(
            file=self.doc.file,
            kit=dict(self.data["kit"]),
            brand=dict(self.data.get("brand") or {}),
            assets=assets,
            providers=providers,
            doc=self.doc,
        )


def _build(doc: Document) -> Manifest:
    return _ManifestBuilder(doc).build()
