"""expand: Manifest -> [Job], through sandboxed Jinja.

One Job per asset x matrix combination x native generation size. Templates run in a
`SandboxedEnvironment` with `StrictUndefined`, an explicit filter list, no loader (so no
`include`/`import`/`extends` of files) and bounded string/list arithmetic. Output paths
are checked so they can never leave the version folder.
"""

from __future__ import annotations

import itertools
import math
import posixpath
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SecurityError

from .errors import ManifestError, Problem
from .jobs import GenerationSpec, Job, OutputTarget
from .keys import content_key
from .load import PathT, readable_path
from .manifest import Asset, Manifest, Settings, hex_color
from .models import MODELS, V4_STYLES, native_size, nearest_ratio
from .providers import get_provider
from .providers.base import ModelNotAvailable, Provider
from .sandbox import RenderTimeout, RenderTimer, make_environment, render, slug

MAX_PROMPT = 10_000  # characters, as every provider allows
MAX_SIDE = 8192  # pixels, for an exact size (cut from a master of at most 3072)
DEFAULT_MAX_JOBS = 100_000
_RESERVED = {"index.json", "index.html"}
MAX_NAME_BYTES = 255  # a file or folder name, in UTF-8 (ext4, APFS, NTFS)
_WINDOWS_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10))]
)
_WINDOWS_BAD = '<>"|?*'
# One search of a whole path each (a kit has thousands of outputs); the message is worked
# out only for a path that matches.
_NAME_FAULT = re.compile(
    r'[\x00-\x1f\x7f-\x9f<>"|?*]|[. ](?:/|$)'
    r"|(?:^|/)(?:con|prn|aux|nul|com[1-9]|lpt[1-9]) *(?:[./]|$)",
    re.IGNORECASE,
)


@dataclass
class _Template:
    template: jinja2.Template | None
    path: PathT
    uses_size: bool = True  # does it read `size`? (if not, one render serves every size)
    source: str = ""


class Expander:
    """Compiles each template once, renders per combination, collects every problem."""

    def __init__(
        self,
        manifest: Manifest,
        *,
        provider_override: str | None = None,
        model_override: str | None = None,
        max_jobs: int = DEFAULT_MAX_JOBS,
    ):
        self.manifest = manifest
        self.env = make_environment()
        self.problems: list[Problem] = []
        self.provider_override = provider_override
        self.model_override = model_override
        self.max_jobs = max_jobs
        self._compiled: dict[tuple[PathT, str], _Template] = {}
        self.warnings: list[str] = []
        self._paths: dict[str, tuple[str, tuple[tuple[str, Any], ...]]] = {}
        self._folded: dict[str, str] = {}  # case- and normalisation-folded path -> path
        self._folders: dict[str, tuple[str, str]] = {}  # folded -> (folder, a path in it)
        self._path_problems: set[tuple[PathT, str]] = set()
        self._folders_ok: set[str] = set()  # folders (as spelt) already checked
        self._rendering: dict[tuple[PathT, str, str, str], tuple[int, str, int]] = {}
        self.timer = RenderTimer()
        self._style_refused: set[PathT] = set()  # reported once, however many assets share it

    # -- problems ----------------------------------------------------------------------------
    def problem(self, path: PathT, message: str, *, key: bool = False) -> None:
        doc = self.manifest.doc
        assert doc is not None
        self.problems.append(Problem(doc.locate(path, key=key), readable_path(path), message))

    # -- templates ---------------------------------------------------------------------------
    def compile(self, source: str, path: PathT) -> _Template:
        cache_key = (path, source)
        if cache_key in self._compiled:
            return self._compiled[cache_key]
        result = _Template(None, path, source=source)
        try:
            ast = self.env.parse(source)
            forbidden = next(
                iter(ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))),
                None,
            )
            if forbidden is not None:
                tag = type(forbidden).__name__.lower().replace("fromimport", "from-import")
                self.problem(
                    path,
                    f"`{tag}` is not allowed in templates: a template can "
                    "only use the manifest's own values",
                )
            else:
                # from the tree already parsed (from_string would parse the source again)
                code = self.env.compile(ast)
                result.template = self.env.template_class.from_code(
                    self.env, code, self.env.make_globals(None)
                )
                result.uses_size = "size" in meta.find_undeclared_variables(ast)
        except jinja2.TemplateSyntaxError as exc:
            self.problem(
                path, f"template syntax error{_line_hint(source, exc.lineno)}: {exc.message}"
            )
        except (SyntaxError, RecursionError, MemoryError):  # Python refused the compiled code
            self.problem(path, "template syntax error: the template is nested too deeply")
        self._compiled[cache_key] = result
        return result

    def render(
        self, tpl: _Template, context: dict[str, Any], combo: tuple[tuple[str, Any], ...] = ()
    ) -> str | None:
        if tpl.template is None:
            return None
        try:
            self.timer.arm()
            try:
                return render(tpl.template, context, tpl.source)
            finally:
                self.timer.disarm()
        except jinja2.UndefinedError as exc:
            names = ", ".join(sorted(k for k in context if k != "brand"))
            self.render_problem(
                tpl, context, combo, exc.message or "", f"(available: brand, {names})"
            )
        except (SecurityError, RenderTimeout) as exc:
            self.render_problem(tpl, context, combo, "refused by the template sandbox", f": {exc}")
            if self.timer.spent > self.timer.total:
                raise ManifestError(self.problems) from None  # no time left for the rest
        except RecursionError:
            self.render_problem(tpl, context, combo, "template error", ": it recurses too deeply")
        except MemoryError:
            self.render_problem(
                tpl, context, combo, "template error", ": it builds too much to hold in memory"
            )
        except Exception as exc:  # anything a user's template does wrong is the template's
            detail = str(exc) or type(exc).__name__
            self.render_problem(tpl, context, combo, "template error", f": {detail}")
        return None

    def render_problem(
        self,
        tpl: _Template,
        context: dict[str, Any],
        combo: tuple[tuple[str, Any], ...],
        what: str,
        detail: str,
    ) -> None:
        """A template that failed to render, said once per asset: the first combination
        that failed, and how many more did the same (a 6x4 matrix is one line, not 24).
        A template under `templates:` is shared, so the line names the asset. The line
        reads `{what}[ for asset 'id'][ (with k=v, ...)]{detail}`."""
        asset = context.get("asset")
        at = f" for asset {asset!r}" if tpl.path[0] == "templates" and asset else ""
        seen = (tpl.path, at, what, detail)
        if seen in self._rendering:
            index, text, more = self._rendering[seen]
            more += 1
            self._rendering[seen] = (index, text, more)
            noun = "combination" if more == 1 else "combinations"
            self.problems[index] = replace(
                self.problems[index], message=f"{text}; and {more} more {noun}"
            )
            return
        space = " " if detail.startswith("(") else ""
        text = f"{what}{at}{_combo_hint(combo)}{space}{detail}"
        self._rendering[seen] = (len(self.problems), text, 0)
        self.problem(tpl.path, text)

    # -- the expansion -----------------------------------------------------------------------
    def expand(self) -> list[Job]:
        total = sum(_combinations(asset) * len(asset.sizes) for asset in self.manifest.assets)
        if total > self.max_jobs:
            self.problem(
                ("assets",),
                f"the manifest expands to {total:,} outputs, over the "
                f"limit of {self.max_jobs:,} (raise it with --max-jobs if you mean it)",
            )
            raise ManifestError(self.problems)
        jobs: list[Job] = []
        with self.timer:
            for asset in self.manifest.assets:
                jobs.extend(self.expand_asset(asset))
        if self.problems:
            raise ManifestError(self.problems)
        return jobs

    def expand_asset(self, asset: Asset) -> Iterator[Job]:
        provider_name = self.provider_override or asset.settings.provider
        provider = get_provider(provider_name)
        try:
            resolved = provider.resolve_model(self.model_override or asset.settings.model)
        except ModelNotAvailable as exc:
            self.problem(self.setting_path(asset, "model"), str(exc))
            return
        settings = self.capable_settings(asset, provider, resolved.alias)
        apath: PathT = ("assets", asset.id)
        groups = self.group_sizes(asset, resolved.sizes, apath)
        for collision in set(asset.vars) & {k for k, _ in asset.matrix}:
            self.problem(
                (*apath, "matrix", collision),
                f"{collision!r} is set in both vars and matrix",
                key=True,
            )
        prompt_tpl = self.compile(asset.source, asset.source_path)
        out_tpl = self.compile(asset.out, (*apath, "out")) if asset.out else None
        for combo in _product(asset):
            base = self.context(asset, combo)
            shared = None if prompt_tpl.uses_size else self.render(prompt_tpl, base, combo)
            stem = None if out_tpl else "-".join([asset.id, *(slug(v) for _, v in combo)])
            for ratio, (native, targets) in groups.items():
                outputs = tuple(
                    self.output(asset, base, out_tpl, stem, size, w, h, fmt, combo)
                    for size, w, h, fmt in targets
                )
                if prompt_tpl.uses_size:
                    prompt = self.render(prompt_tpl, {**base, "size": ratio}, combo)
                else:
                    prompt = shared
                if prompt is None or any(o is None for o in outputs):
                    continue
                prompt = prompt.strip()
                if not 1 <= len(prompt) <= MAX_PROMPT:
                    self.problem(
                        asset.source_path,
                        f"the prompt must be 1 to {MAX_PROMPT:,} "
                        f"characters, got {len(prompt):,}{_combo_hint(combo)}",
                    )
                    continue
                spec = GenerationSpec(
                    prompt=prompt,
                    width=native[0],
                    height=native[1],
                    palette=settings.palette,
                    background=settings.background,
                    style=settings.style,
                    substyle=settings.substyle,
                    seed=settings.seed,
                )
                yield Job(
                    key=content_key(provider_name, resolved.model_id, spec),
                    asset=asset.id,
                    provider=provider_name,
                    model=resolved.model_id,
                    spec=spec,
                    outputs=outputs,  # type: ignore[arg-type]
                    matrix=tuple((k, str(v)) for k, v in combo),
                    alias=resolved.alias,
                )

    def setting_path(self, asset: Asset, key: str) -> PathT:
        """Where a setting an asset uses was written: on the asset, or in defaults."""
        doc = self.manifest.doc
        assert doc is not None
        own: PathT = ("assets", asset.id, key)
        return own if own in doc.marks or ("defaults", key) not in doc.marks else ("defaults", key)

    def capable_settings(self, asset: Asset, provider: Provider, alias: str | None) -> Settings:
        """The asset's settings as the provider can honour them; nothing dropped silently."""
        settings = asset.settings
        refused = self.refuse_v3_style(asset, alias)
        how = f" (--provider {provider.name})" if self.provider_override else ""
        if (settings.palette or settings.background) and not provider.supports_colors:
            configured = self.manifest.providers.get(provider.name)
            if configured is not None and configured.drop_colors:
                self.warnings.append(
                    f"{asset.id}: {provider.name} has no colour controls; "
                    "generating without palette/background (drop_colors)"
                )
                settings = replace(settings, palette=(), background=None)
            else:
                key = "palette" if settings.palette else "background"
                self.problem(
                    self.setting_path(asset, key),
                    f"{provider.name}{how} has no colour controls: remove palette and "
                    f"background for this asset, or set providers.{provider.name}."
                    "drop_colors: true to generate without them",
                )
        for key, supported in (
            ("style", provider.supports_style),
            ("substyle", provider.supports_style),
            ("seed", provider.supports_seed),
        ):
            if getattr(settings, key) is not None and not supported and key not in refused:
                self.problem(
                    self.setting_path(asset, key),
                    f"{provider.name}{how} does not accept `{key}` for these models",
                )
        return settings

    def refuse_v3_style(self, asset: Asset, alias: str | None) -> set[str]:
        """`style`/`substyle` on a model that takes none: the V4 family, on every provider
        (local too, so a kit that validates locally cannot fail, or pay for an image that
        ignores them, on a real one). A raw id we do not know may be another family."""
        info = MODELS.get(alias) if alias else None
        if info is None or info.v3_style:
            return set()
        keys = {k for k in ("style", "substyle") if getattr(asset.settings, k) is not None}
        for key in sorted(keys):
            path = self.setting_path(asset, key)
            if path not in self._style_refused:
                self._style_refused.add(path)
                self.problem(
                    path,
                    f"{info.alias} takes no V3 style/substyle (remove `{key}`); {V4_STYLES}",
                )
        return keys

    def context(self, asset: Asset, combo: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
        brand = dict(self.manifest.brand)
        return {
            "brand": brand,
            "kit": dict(self.manifest.kit),
            "asset": asset.id,
            "palette": [hex_color(c) for c in asset.settings.palette],
            "background": (
                hex_color(asset.settings.background) if asset.settings.background else None
            ),
            **asset.vars,
            **dict(combo),
        }

    def group_sizes(
        self, asset: Asset, sizes: dict[str, tuple[int, int]], apath: PathT
    ) -> dict[str, tuple[tuple[int, int], list[tuple[str, int, int, str]]]]:
        """Native ratio -> (native dims, [(size label, width, height, format)])."""
        groups: dict[str, tuple[tuple[int, int], list[tuple[str, int, int, str]]]] = {}
        ico_ok = False
        for i, size in enumerate(asset.sizes):
            if ":" in size:
                native = native_size(sizes, size)
                if native is None:
                    self.problem(
                        (*apath, "sizes", i),
                        f"{size!r} is not a native aspect ratio "
                        f"of this model; use one of {', '.join(sizes)}, or an exact "
                        'size like "1200x630"',
                    )
                    continue
                ratio, (w, h) = _ratio_name(sizes, native), native
            else:
                w, h = (int(x) for x in size.split("x"))
                if max(w, h) > MAX_SIDE:
                    self.problem(
                        (*apath, "sizes", i),
                        f"{size!r} is too large: exact sizes are at most {MAX_SIDE} pixels a side",
                    )
                    continue
                ratio = nearest_ratio(sizes, w, h)
            for fmt in asset.formats:
                if fmt == "ico":
                    if ":" in size or w != h or not 16 <= w <= 256:
                        continue  # ico is written only for square exact sizes up to 256
                    ico_ok = True
                groups.setdefault(ratio, (sizes[ratio], []))[1].append((size, w, h, fmt))
        if "ico" in asset.formats and not ico_ok and asset.sizes:
            self.problem(
                (*apath, "formats"),
                "ico needs at least one square exact size from "
                '16x16 to 256x256 in sizes (e.g. "32x32")',
            )
        return groups

    def output(
        self,
        asset: Asset,
        base: dict[str, Any],
        out_tpl: _Template | None,
        stem: str | None,  # without a template: the asset id and the combination's slugs
        size: str,
        w: int,
        h: int,
        fmt: str,
        combo: tuple[tuple[str, Any], ...],
    ) -> OutputTarget | None:
        label = size.replace(":", "x")
        apath: PathT = ("assets", asset.id, "out")
        if out_tpl is None:  # safe by construction: an id, slugs and a size label
            clean = f"{asset.id}/{stem}-{label}.{fmt}"
        else:
            ctx = {**base, "size": label, "format": fmt, "width": w, "height": h}
            path = self.render(out_tpl, ctx, combo)
            if path is None:
                return None
            checked = safe_output_path(path)
            if checked is None:
                self.problem(
                    apath,
                    f"the output path {path!r}{_combo_hint(combo)} must stay inside the "
                    "version folder: a relative path, no '..', no leading '/' or '.'",
                )
                return None
            clean = checked
        owner = (asset.id, combo)
        previous = self._paths.get(clean)
        if previous is not None:
            this = f"{asset.id}{_combo_hint(combo)}"
            if previous != owner:
                self.problem(
                    apath if asset.out else ("assets", asset.id),
                    f"two outputs would be written to {clean!r}: "
                    f"{previous[0]}{_combo_hint(previous[1])} and {this}; make `out` include "
                    "what differs (e.g. {{ size }})",
                )
            else:
                self.problem(
                    apath if asset.out else ("assets", asset.id, "sizes"),
                    f"two outputs of {this} would be written to {clean!r}",
                )
            return None
        self._paths[clean] = owner
        where: PathT = apath if asset.out else ("assets", asset.id)
        problem = output_path_problem(clean) or self.clash(clean)
        if problem is not None:
            if (where, problem) not in self._path_problems:  # once, not per combination
                self._path_problems.add((where, problem))
                shown = f" {clean!r}{_combo_hint(combo)}" if asset.out else f" {clean!r}"
                self.problem(where, f"the output path{shown}: {problem}", key=not asset.out)
            return None
        return OutputTarget(path=clean, width=w, height=h, format=fmt, size=size)

    def clash(self, path: str) -> str | None:
        """Two outputs that one file system could not hold both of: the same name but for
        case or Unicode normalisation (macOS, Windows), or a file where another output
        needs a folder."""
        folded = _fold(path)
        if folded in _RESERVED or _fold(path.split("/", 1)[0]) in _RESERVED:
            return "index.json and index.html are the version's own files; choose another name"
        other = self._folded.get(folded)
        if other is not None:
            return (
                f"it differs from {other!r} only in case or Unicode normalisation, so one "
                "would overwrite the other on macOS and Windows; make the names differ"
            )
        if folded in self._folders:
            return (
                f"{self._folders[folded][1]!r} needs a folder of that name; a path cannot be "
                "both a file and a folder: rename one of them"
            )
        head = path.rpartition("/")[0]
        if not head or head in self._folders_ok:  # a file added since is checked above
            self._folded[folded] = path
            return None
        parts, names = folded.split("/"), path.split("/")
        folders = [("/".join(parts[:i]), "/".join(names[:i])) for i in range(1, len(parts))]
        for key, folder in folders:
            if key in self._folded:
                return (
                    f"it needs a folder named {self._folded[key]!r}, which is also an "
                    "output file; a path cannot be both: rename one of them"
                )
            seen = self._folders.get(key)
            if seen is not None and seen[0] != folder:
                return (
                    f"its folder {folder!r} differs from {seen[0]!r} only in case or Unicode "
                    "normalisation, which macOS and Windows would merge; spell them alike"
                )
        self._folded[folded] = path
        for key, folder in folders:
            self._folders.setdefault(key, (folder, path))
        self._folders_ok.add(head)
        return None


def safe_output_path(path: str) -> str | None:
    """A normalised relative POSIX path that stays in the version folder, or None."""
    path = path.strip()
    if not path or "\\" in path or "\x00" in path or path.startswith("/") or ":" in path:
        return None
    parts = path.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    clean = posixpath.normpath(path)
    if clean in _RESERVED or len(clean) > 400:
        return None
    return clean


def output_path_problem(path: str) -> str | None:
    """Why a relative output path could not be written everywhere a kit is checked out
    (Linux, macOS, Windows), or None. Said before anything is paid for, not at publish."""
    short = MAX_NAME_BYTES // 4  # a name this long fits in 255 bytes whatever it holds
    if _NAME_FAULT.search(path) is None and (
        len(path) <= short or max(map(len, path.split("/"))) <= short
    ):
        return None
    for name in path.split("/"):
        if not name.isprintable():
            bad = next((c for c in name if unicodedata.category(c) == "Cc"), None)
            if bad is not None:
                return (
                    f"the name {name!r} holds the control character {bad!r}: "
                    "use printable characters only"
                )
        if len(name) > short and len(name.encode("utf-8")) > MAX_NAME_BYTES:
            return (
                f"the name {name[:40]!r}... is {len(name.encode('utf-8'))} bytes long in UTF-8: "
                f"a file or folder name is at most {MAX_NAME_BYTES} bytes"
            )
        if name[-1] in ". ":
            what = "a dot" if name[-1] == "." else "a space"
            return f"the name {name!r} ends with {what}, which Windows drops: remove it"
        bad = next((c for c in _WINDOWS_BAD if c in name), None)
        if bad is not None:
            return (
                f"the name {name!r} holds {bad!r}, which Windows does not allow in a name "
                '(nor any of < > " | ? *)'
            )
        stem = name.split(".", 1)[0].rstrip(" ").upper()
        if stem in _WINDOWS_NAMES:
            return (
                f"the name {name!r} is reserved on Windows ({stem}, with any extension and "
                "in any case: CON, PRN, AUX, NUL, COM1-9, LPT1-9): choose another"
            )
    return None


def _fold(path: str) -> str:
    """A path as a case-insensitive, normalisation-insensitive file system sees it."""
    if path.isascii():
        return path.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", path).casefold())


def _ratio_name(sizes: dict[str, tuple[int, int]], dims: tuple[int, int]) -> str:
    return next(name for name, d in sizes.items() if d == dims)


def _combinations(asset: Asset) -> int:
    return math.prod(len(values) for _, values in asset.matrix) if asset.matrix else 1


def _product(asset: Asset) -> Iterator[tuple[tuple[str, Any], ...]]:
    keys = [k for k, _ in asset.matrix]
    for values in itertools.product(*(v for _, v in asset.matrix)):
        yield tuple(zip(keys, values, strict=True))


def _combo_hint(combo: tuple[tuple[str, Any], ...]) -> str:
    """` (with flavour=sencha, season=spring)`: one line, however odd the values."""
    if not combo:
        return ""
    shown = []
    for k, v in combo:
        text = str(v)
        if len(text) > 40 or not text.isprintable():
            text = repr(text[:37] + "..." if len(text) > 40 else text)
        shown.append(f"{k}={text}")
    return f" (with {', '.join(shown)})"


def _line_hint(source: str, lineno: int | None) -> str:
    return f" on line {lineno} of the template" if lineno and "\n" in source.strip() else ""


def expand(manifest: Manifest, **options: Any) -> list[Job]:
    return Expander(manifest, **options).expand()
