"""Synthetic brandkit projects (and a matching Makefile) for the benchmarks.

Every generator returns a `Kit`: the manifest text plus the counts the benchmark checks
its results against. Nothing here runs brandkit; `run.py` does.

The no-op kit (`noop_kit`) is shaped like a real one: 10 prompt templates, assets with
a 2-key matrix, and per combination two generations (1:1 and 16:9) cut into 5 sizes in
2 formats, so one combination is 2 jobs and 10 outputs and several outputs share each
master. Exactly 1% of its jobs have the colour `signal` in their palette (the `accent`
asset), so editing `signal` must replan exactly those jobs.

    python bench/kits.py noop 1000 /tmp/kit     # write a kit to look at (or build by hand)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

TEMPLATES = 10
ACCENT_COLOUR = "signal"
ACCENT_HEX = "#E4572E"
ACCENT_HEX_EDITED = "#E4572F"  # one step of blue: a real colour change, nothing else

# Per combination: the 1:1 job gives 1:1 and 256x256, the 16:9 job 16:9, 320x180 and
# 160x90 (nearest to 16:9); each in png and webp -> 2 jobs, 10 outputs. The exact sizes
# are small because a no-op costs the same for any pixel size while the first build
# (cutting and encoding every output) costs much less.
NOOP_SIZES = ["1:1", "256x256", "16:9", "320x180", "160x90"]
NOOP_FORMATS = ["png", "webp"]
JOBS_PER_COMBO = 2
OUTPUTS_PER_COMBO = 10

_BRAND = """\
brand:
  name: Benchmark Goods
  colors:
    ink: "#1B1B1F"
    paper: "#F4F1EA"
    moss: "#5B7F4A"
    clay: "#B5654A"
    sky: "#7FA7C9"
    {accent}: "{accent_hex}"
  voice: plain, precise, warm
"""
_PALETTES = (["ink", "paper", "moss"], ["ink", "paper", "clay"], ["ink", "sky", "moss"])
_SUBJECTS = ("mug", "tote", "poster", "badge", "card", "sign", "box", "label", "flag", "pin")


@dataclass(frozen=True)
class Kit:
    """A generated manifest and what its expansion must contain."""

    manifest: str
    jobs: int  # generations (plan --json "jobs")
    outputs: int  # published files
    accent_jobs: int = 0  # jobs whose palette contains ACCENT_COLOUR

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "brandkit.yaml").write_text(self.manifest, "utf-8")
        return directory


def _factor(n: int) -> tuple[int, int]:
    """n = a * b with a <= b and a as large as possible (a 2-key matrix of n combinations)."""
    a = math.isqrt(n)
    while n % a:
        a -= 1
    return a, n // a


def _split(total: int, parts: int) -> list[int]:
    """`total` as `parts` near-equal positive integers."""
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def _templates() -> str:
    lines = ["templates:"]
    for i in range(TEMPLATES):
        lines.append(
            f'  t{i}: "{{{{ subject }}}}, {{{{ variant }}}} edition: {{{{ topic }}}} for '
            f'{{{{ brand.name }}}}, {{{{ brand.voice }}}}, layout {i}"'
        )
    return "\n".join(lines) + "\n"


def _asset(
    name: str,
    template: int,
    combos: int,
    palette: list[str],
    sizes: list[str],
    formats: list[str],
) -> str:
    rows, cols = _factor(combos)
    subjects = [f"{_SUBJECTS[i % len(_SUBJECTS)]}-{i}" for i in range(rows)]
    variants = [f"v{j}" for j in range(cols)]
    return (
        f"  {name}:\n"
        f"    template: t{template % TEMPLATES}\n"
        f'    vars: {{topic: "the {name} series"}}\n'
        f"    matrix:\n"
        f"      subject: [{', '.join(subjects)}]\n"
        f"      variant: [{', '.join(variants)}]\n"
        f"    palette: [{', '.join(palette)}]\n"
        f"    sizes: [{', '.join(_quote(s) for s in sizes)}]\n"
        f"    formats: [{', '.join(formats)}]\n"
    )


def _quote(size: str) -> str:
    return f'"{size}"'


def _header(name: str, provider: str, model: str, settings: str) -> str:
    return (
        f'kit:\n  name: {name}\n  version: "bench"\n'
        + _BRAND.format(accent=ACCENT_COLOUR, accent_hex=ACCENT_HEX)
        + f"defaults:\n  provider: {provider}\n  model: {model}\n  format: png\n"
        + "  palette: [ink, paper, moss]\n  background: paper\n"
        + f"providers:\n{settings}"
    )


def noop_kit(outputs: int, *, model: str = "recraft-v4") -> Kit:
    """A local-provider kit whose expansion has exactly `outputs` outputs.

    `outputs` must be a multiple of 1,000 so that 1% of the jobs is a whole number of
    matrix combinations (2 jobs each) of the accent asset."""
    if outputs <= 0 or outputs % 1000:
        raise ValueError("outputs must be a positive multiple of 1000")
    combos = outputs // OUTPUTS_PER_COMBO
    jobs = combos * JOBS_PER_COMBO
    accent_combos = combos // 100  # 1% of the jobs, 2 jobs per combination
    rest = combos - accent_combos
    parts = _split(rest, max(1, min(4 * TEMPLATES, rest // 20)))
    assets = [
        _asset(
            "accent", 0, accent_combos, ["ink", "paper", ACCENT_COLOUR], NOOP_SIZES, NOOP_FORMATS
        )
    ]
    for i, n in enumerate(parts):
        palette = _PALETTES[i % len(_PALETTES)]
        assets.append(_asset(f"a{i:02d}", i + 1, n, palette, NOOP_SIZES, NOOP_FORMATS))
    manifest = (
        _header(f"bench-noop-{outputs}", "local", model, "  local: {concurrency: 2}\n")
        + _templates()
        + "assets:\n"
        + "".join(assets)
    )
    return Kit(manifest, jobs=jobs, outputs=outputs, accent_jobs=accent_combos * JOBS_PER_COMBO)


def provider_kit(
    jobs: int,
    *,
    provider: str = "runware",
    model: str = "recraft-v4",
    size: str = "1:1",
    concurrency: int = 8,
) -> Kit:
    """`jobs` generations with one output each (the master itself, png), for a provider."""
    if jobs <= 0:
        raise ValueError("jobs must be positive")
    parts = _split(jobs, max(1, min(TEMPLATES, jobs // 10)))
    assets = [
        _asset(f"p{i:02d}", i, n, _PALETTES[i % len(_PALETTES)], [size], ["png"])
        for i, n in enumerate(parts)
    ]
    settings = f"  {provider}: {{concurrency: {concurrency}}}\n"
    manifest = (
        _header(f"bench-{provider}-{jobs}", provider, model, settings)
        + _templates()
        + "assets:\n"
        + "".join(assets)
    )
    return Kit(manifest, jobs=jobs, outputs=jobs)


# The derive kit: every job's master (stored in the cache by the harness, not generated)
# is cut into five square sizes, none of them the master's own, in png or webp.
DERIVE_SIZES = ["128x128", "96x96", "64x64", "48x48", "32x32"]
DERIVE_FORMATS = (["png"], ["webp"])


def derive_kit(masters: int) -> Kit:
    """`masters` jobs (local provider) of five outputs each, all cut from the master."""
    if masters <= 0 or masters % 2:
        raise ValueError("masters must be a positive even number")
    parts = _split(masters, max(2, min(TEMPLATES, masters // 100)))
    assets = [
        _asset(
            f"d{i:02d}",
            i,
            n,
            _PALETTES[i % len(_PALETTES)],
            DERIVE_SIZES,
            DERIVE_FORMATS[i % 2],
        )
        for i, n in enumerate(parts)
    ]
    manifest = (
        _header(f"bench-derive-{masters}", "local", "recraft-v4", "  local: {concurrency: 2}\n")
        + _templates()
        + "assets:\n"
        + "".join(assets)
    )
    return Kit(manifest, jobs=masters, outputs=masters * len(DERIVE_SIZES))


def edit_accent(manifest: str) -> str:
    """The manifest with the accent colour changed (and nothing else)."""
    old = f'{ACCENT_COLOUR}: "{ACCENT_HEX}"'
    if manifest.count(old) != 1:
        raise ValueError("the manifest does not define the accent colour exactly once")
    return manifest.replace(old, f'{ACCENT_COLOUR}: "{ACCENT_HEX_EDITED}"')


def write_make_tree(directory: Path, files: int) -> Path:
    """A Makefile with one explicit rule per output (`out/N.png: src/N.txt`), all up to
    date: sources are written first and outputs after, with a later mtime."""
    src, out = directory / "src", directory / "out"
    src.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"f{i:05d}" for i in range(files)]
    for name in names:
        (src / f"{name}.txt").write_text(name)
    for name in names:
        (out / f"{name}.png").write_text(name)
    old = 1_000_000_000  # sources from 2001: the order is explicit, not left to the clock
    for name in names:
        os.utime(src / f"{name}.txt", (old, old))
    rules = [f"all: {' '.join(f'out/{n}.png' for n in names)}\n", ".PHONY: all\n"]
    rules += [f"out/{n}.png: src/{n}.txt\n\tcp $< $@\n" for n in names]
    (directory / "Makefile").write_text("".join(rules))
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["noop", "runware", "make"])
    parser.add_argument("size", type=int, help="outputs (noop, make) or jobs (runware)")
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.kind == "make":
        write_make_tree(args.directory, args.size)
    else:
        kit = noop_kit(args.size) if args.kind == "noop" else provider_kit(args.size)
        kit.write(args.directory)
        print(f"{kit.jobs} jobs, {kit.outputs} outputs, {kit.accent_jobs} accent jobs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
