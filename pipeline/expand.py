"""expand: Manifest -> [Job], through sandboxed Jinja.

One Job per asset x matrix combination x native generation size. Templates run in a
`SandboxedEnvironment` with `StrictUndefined`, an explicit filter list, no loader (so no
`include`/`import`/`extends` of files) and bounded string/list arithmetic. Output paths
are checked so they can never leave the version folder.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from . import presets
from .errors import ManifestError, Problem
from .jobs import GenerationSpec, Job, OutputTarget
from .keys import content_key
from .load import PathT, readable_path
from .manifest import Asset, Manifest, Settings, hex_color
from .models import MODELS, V4_STYLES, is_vector, nearest_ratio
from .output_paths import Clashes, output_path_problem, safe_output_path
from .providers import get_provider
from .providers.base import ModelNotAvailable, Provider
from .sandbox import slug
from .templates import Combo, Template, Templates, combo_hint

MAX_PROMPT = 10_000  # characters, as every provider allows
MAX_SIDE = presets.MAX_SIDE  # pixels, for an exact size (cut from a master of at most 3072)
DEFAULT_MAX_JOBS = 100_000


def ratio_label(size: str, ratio_format: str | None) -> str:
    """How a size is written in a default output path: an exact size as it is
    (`1200x630`), a ratio by the kit's `ratio_format` (`16x9` by default, which writes
    a square `1x1`; `{w}-{h}` writes `16-9` and `1-1`)."""
    w, colon, h = size.partition(":")
    if not colon:
        return size
    return (ratio_format or "{w}x{h}").replace("{w}", w).replace("{h}", h)


class Expander:
    """Renders each asset per combination (templates.py), collects every problem."""

    def __init__(
        self,
        manifest: Manifest,
        *,
        provider_override: str | None = None,
        model_override: str | None = None,
        max_jobs: int = DEFAULT_MAX_JOBS,
    ):
        self.manifest = manifest
        self.problems: list[Problem] = []
        self.templates = Templates(self.problems, self.problem)
        self.provider_override = provider_override
        self.model_override = model_override
        self.max_jobs = max_jobs
        self.warnings: list[str] = []
        self._paths: dict[str, tuple[str, Combo]] = {}
        self._clashes = Clashes()
        self._path_problems: set[tuple[PathT, str]] = set()
        self._style_refused: set[PathT] = set()  # reported once, however many assets share it

    # -- problems ----------------------------------------------------------------------------
    def problem(self, path: PathT, message: str, *, key: bool = False) -> None:
        doc = self.manifest.doc
        assert doc is not None
        self.problems.append(Problem(doc.locate(path, key=key), readable_path(path), message))

    # -- the expansion -----------------------------------------------------------------------
    def expand(self) -> list[Job]:
        total = sum(_combinations(a) * presets.sizes_and_files(a) for a in self.manifest.assets)
        if total > self.max_jobs:
            self.problem(
                ("assets",),
                f"the manifest expands to {total:,} outputs, over the "
                f"limit of {self.max_jobs:,} (raise it with --max-jobs if you mean it)",
            )
            raise ManifestError(self.problems)
        jobs: list[Job] = []
        with self.templates.timer:
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
        vector = is_vector(provider_name, resolved.model_id)  # one rule with the providers
        self.check_fit(asset, resolved.alias or resolved.model_id, vector)
        groups = self.group_sizes(asset, resolved.sizes, apath, vector)
        for collision in set(asset.vars) & {k for k, _ in asset.matrix}:
            why = f"{collision!r} is set in both vars and matrix"
            self.problem((*apath, "matrix", collision), why, key=True)
        prompt_tpl = self.templates.compile(asset.source, asset.source_path)
        out_tpl = self.templates.compile(asset.out, (*apath, "out")) if asset.out else None
        for combo in _product(asset):
            base = self.context(asset, combo)
            shared = (
                None if prompt_tpl.uses_size else self.templates.render(prompt_tpl, base, combo)
            )
            stem = "-".join([asset.id, *(slug(v) for _, v in combo)])
            for ratio, (native, targets) in groups.items():
                outputs = tuple(
                    self.output(asset, base, out_tpl, stem, proto, combo) for proto in targets
                )
                if prompt_tpl.uses_size:
                    prompt = self.templates.render(prompt_tpl, {**base, "size": ratio}, combo)
                else:
                    prompt = shared
                if prompt is None or any(o is None for o in outputs):
                    continue
                spec = self.spec(asset, prompt, native, settings, combo)
                if spec is None:
                    continue
                yield Job(
                    key=content_key(provider_name, resolved.model_id, spec),
                    asset=asset.id,
                    provider=provider_name,
                    model=resolved.model_id,
                    spec=spec,
                    outputs=outputs,  # type: ignore[arg-type]
                    matrix=tuple((k, str(v)) for k, v in combo),
                    alias=resolved.alias,
                    candidates=settings.candidates,
                )

    def spec(
        self,
        asset: Asset,
        prompt: str,
        native: tuple[int, int],
        settings: Settings,
        combo: Combo,
    ) -> GenerationSpec | None:
        """What one generation asks for, or None (said) for an empty or too long prompt."""
        prompt = prompt.strip()
        if not 1 <= len(prompt) <= MAX_PROMPT:
            self.problem(
                asset.source_path,
                f"the prompt must be 1 to {MAX_PROMPT:,} "
                f"characters, got {len(prompt):,}{combo_hint(combo)}",
            )
            return None
        return GenerationSpec(
            prompt=prompt,
            width=native[0],
            height=native[1],
            palette=settings.palette,
            background=settings.background,
            style=settings.style,
            substyle=settings.substyle,
            seed=settings.seed,
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

    def check_fit(self, asset: Asset, model: str, vector: bool) -> None:
        """safe_zone without contain, svg from a raster model: said where each was written
        (the asset, or defaults: once)."""
        doc = self.manifest.doc
        assert doc is not None
        for key, message in presets.fit_problems(asset, model, vector):
            path = self.setting_path(asset, key)
            if key == "formats" and path not in doc.marks:  # svg came from `format`
                path = self.setting_path(asset, "format")
            elif key == "formats":
                path = (*path, asset.formats.index("svg"))
            if path not in self._style_refused:
                self._style_refused.add(path)
                self.problem(path, message)

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

    def context(self, asset: Asset, combo: Combo) -> dict[str, Any]:
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
        self, asset: Asset, sizes: dict[str, tuple[int, int]], apath: PathT, vector: bool
    ) -> dict[str, tuple[tuple[int, int], list[OutputTarget]]]:
        """Native ratio -> (native dims, [output without its path]): the asset's sizes in
        each format, its one ico (the 1:1 master's), then its preset's files (named)."""
        groups: dict[str, tuple[tuple[int, int], list[OutputTarget]]] = {}
        squares = []
        for i, size in enumerate(asset.sizes):
            dims, why = presets.size_dims(sizes, size)
            if dims is None:
                self.problem((*apath, "sizes", i), why)
                continue
            w, h = dims
            squares.extend([w] if w == h and ":" not in size else [])
            ratio = _ratio_name(sizes, dims) if ":" in size else nearest_ratio(sizes, w, h)
            for fmt in asset.formats:
                if fmt != "ico":
                    fit = presets.output_fit(asset.settings, fmt)
                    groups.setdefault(ratio, (dims, []))[1].append(
                        OutputTarget("", w, h, fmt, size, fit=fit)
                    )
        ico = presets.ico_target(squares, asset.settings) if "ico" in asset.formats else None
        if "ico" in asset.formats and ico is None and asset.sizes:
            self.problem(
                (*apath, "formats"),
                "ico needs at least one square exact size from "
                '16x16 to 256x256 in sizes (e.g. "32x32")',
            )
        name = str(self.manifest.brand.get("name") or self.manifest.kit["name"])
        extra = presets.preset_targets(asset, name, vector, sizes[nearest_ratio(sizes, 1, 1)])
        for t in [ico, *extra] if ico else extra:
            groups.setdefault(nearest_ratio(sizes, t.width, t.height), ((0, 0), []))[1].append(t)
        return {ratio: (sizes[ratio], targets) for ratio, (_, targets) in groups.items()}

    def output(
        self,
        asset: Asset,
        base: dict[str, Any],
        out_tpl: Template | None,
        stem: str,  # the asset id and the combination's slugs
        proto: OutputTarget,  # path: "" (an asset's size), or a preset's file name
        combo: Combo,
    ) -> OutputTarget | None:
        """One output of a combination, or None (said) where its path would not do."""
        label = ratio_label(proto.size, self.manifest.kit.get("ratio_format"))
        fmt, w, h = proto.format, proto.width, proto.height
        if proto.path:  # a preset's file: its own name, in the asset's (combination's) folder
            folder = f"{asset.id}/{stem}" if combo else asset.id
            clean: str | None = f"{folder}/{proto.path}"
        elif out_tpl is None:  # safe by construction: an id, slugs and a size label
            clean = f"{asset.id}/{stem}.ico" if fmt == "ico" else f"{asset.id}/{stem}-{label}.{fmt}"
        else:
            ctx = {**base, "size": label, "format": fmt, "width": w, "height": h}
            clean = self.rendered_path(asset, out_tpl, ctx, combo)
        if clean is None or not self.claim(asset, clean, combo):
            return None
        if not self.writable(asset, clean, combo):
            return None
        return OutputTarget(clean, w, h, fmt, proto.size, proto.fit, proto.ico_sizes, proto.text)

    def rendered_path(
        self, asset: Asset, out_tpl: Template, ctx: dict[str, Any], combo: Combo
    ) -> str | None:
        """`out:` rendered, if it stays inside the version folder."""
        path = self.templates.render(out_tpl, ctx, combo)
        if path is None:
            return None
        checked = safe_output_path(path)
        if checked is None:
            self.problem(
                ("assets", asset.id, "out"),
                f"the output path {path!r}{combo_hint(combo)} must stay inside the "
                "version folder: a relative path, no '..', no leading '/' or '.'",
            )
        return checked

    def claim(self, asset: Asset, clean: str, combo: Combo) -> bool:
        """The path for this output only; a second output to it is a problem."""
        owner = (asset.id, combo)
        previous = self._paths.get(clean)
        if previous is None:
            self._paths[clean] = owner
            return True
        apath: PathT = ("assets", asset.id, "out")
        this = f"{asset.id}{combo_hint(combo)}"
        if previous != owner:
            self.problem(
                apath if asset.out else ("assets", asset.id),
                f"two outputs would be written to {clean!r}: "
                f"{previous[0]}{combo_hint(previous[1])} and {this}; make `out` include "
                "what differs (e.g. {{ size }})",
            )
        else:
            self.problem(
                apath if asset.out else ("assets", asset.id, "sizes"),
                f"two outputs of {this} would be written to {clean!r}",
            )
        return False

    def writable(self, asset: Asset, clean: str, combo: Combo) -> bool:
        """Can every file system a kit is checked out on hold this path beside the others?
        A problem is said once, not per combination."""
        where: PathT = ("assets", asset.id, "out") if asset.out else ("assets", asset.id)
        problem = output_path_problem(clean) or self._clashes.clash(clean)
        if problem is None:
            return True
        if (where, problem) not in self._path_problems:
            self._path_problems.add((where, problem))
            shown = f" {clean!r}{combo_hint(combo)}" if asset.out else f" {clean!r}"
            self.problem(where, f"the output path{shown}: {problem}", key=not asset.out)
        return False


def _ratio_name(sizes: dict[str, tuple[int, int]], dims: tuple[int, int]) -> str:
    return next(name for name, d in sizes.items() if d == dims)


def _combinations(asset: Asset) -> int:
    return math.prod(len(values) for _, values in asset.matrix) if asset.matrix else 1


def _product(asset: Asset) -> Iterator[Combo]:
    keys = [k for k, _ in asset.matrix]
    for values in itertools.product(*(v for _, v in asset.matrix)):
        yield tuple(zip(keys, values, strict=True))


def expand(manifest: Manifest, **options: Any) -> list[Job]:
    return Expander(manifest, **options).expand()
