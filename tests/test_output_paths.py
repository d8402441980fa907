"""Output paths that would fail at publish, after paying, are validation errors instead:
at `validate`, located at the asset's `out:` (or its id), saying what would be valid, and
nothing is paid for by `build`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.expand import output_path_problem
from tests.conftest import Run, write_manifest
from tests.emulator import Emulator

HEAD = "kit: {name: paths}\ndefaults: {provider: runware, model: recraft-v4}\nassets:\n"


def asset(name: str, out: str | None = None, sizes: str = "['1:1']", extra: str = "") -> str:
    text = f"  {name}:\n    prompt: 'a picture of {name}'\n    sizes: {sizes}\n{extra}"
    return text + (f"    out: {out}\n" if out is not None else "")


# (id, assets, the text on the line the problem is located at, words of the message)
CASES = [
    (
        "file-and-folder",
        asset("a", "a/b.png") + asset("b", "a/b.png/c.png"),
        "out: a/b.png/c.png",
        "a path cannot be both",
    ),
    (
        "folder-then-file",
        asset("a", "x/y") + asset("b", "x"),
        "out: x\n",
        "needs a folder of that name",
    ),
    ("long-name", asset("a", "a" * 252 + ".png"), "out: aaaa", "at most 255 bytes"),
    ("long-in-utf8", asset("a", "é" * 126 + ".png"), "out: éé", "256 bytes long in UTF-8"),
    ("long-folder", asset("a", "d" * 256 + "/x.png"), "out: ddd", "at most 255 bytes"),
    ("tab", asset("a", '"a\\tb.png"'), 'out: "a\\tb', "control character '\\t'"),
    ("escape", asset("a", '"a\\eb.png"'), 'out: "a\\eb', "control character '\\x1b'"),
    ("delete", asset("a", '"dir\\x7f/b.png"'), 'out: "dir', "control character '\\x7f'"),
    ("con", asset("a", "CON.png"), "out: CON.png", "reserved on Windows (CON"),
    ("con-bare", asset("a", "assets/con"), "out: assets/con", "reserved on Windows (CON"),
    ("nul-double-ext", asset("a", "nul.tar.gz"), "out: nul.tar.gz", "reserved on Windows (NUL"),
    ("com1-mixed-case", asset("a", "Com1.png"), "out: Com1.png", "reserved on Windows (COM1"),
    ("lpt9-folder", asset("a", "lpt9/x.png"), "out: lpt9/x.png", "reserved on Windows (LPT9"),
    ("aux-space", asset("a", "'aux .png'"), "out: 'aux .png'", "reserved on Windows (AUX"),
    ("prn-asset-id", asset("prn"), "  prn:", "reserved on Windows (PRN"),
    ("trailing-dot", asset("a", "folder./x.png"), "out: folder.", "ends with a dot"),
    ("trailing-space", asset("a", "'folder /x.png'"), "out: 'folder ", "ends with a space"),
    ("windows-char", asset("a", "'what?.png'"), "out: 'what?", "which Windows does not allow"),
    (
        "case-only",
        asset("a", "Logo.png") + asset("b", "logo.png"),
        "out: logo.png",
        "only in case or Unicode normalisation",
    ),
    (
        "normalisation-only",
        asset("a", '"caf\\u00e9.png"') + asset("b", '"cafe\\u0301.png"'),
        'out: "cafe\\u0301',
        "only in case or Unicode normalisation",
    ),
    (
        "case-by-matrix",
        asset("a", "'{{ subject }}.png'", extra="    matrix: {subject: [Beans, beans]}\n"),
        "out: '{{ subject }}",
        "only in case",
    ),
    (
        "case-of-a-folder",
        asset("a", "Icons/a.png") + asset("b", "icons/b.png"),
        "out: icons/b.png",
        "only in case",
    ),
    ("index-folder", asset("a", "index.json/x.png"), "out: index.json", "version's own files"),
    ("index-case", asset("a", "INDEX.HTML"), "out: INDEX.HTML", "version's own files"),
]


@pytest.mark.parametrize(
    ("assets", "marker", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_path_publish_would_refuse_is_refused_before_paying(
    run: Run, tmp_path: Path, remote: Emulator, assets: str, marker: str, words: str
) -> None:
    text = HEAD + assets
    p = write_manifest(tmp_path / "p", text).parent
    line = text[: text.index(marker)].count("\n") + 1
    code, _, err = run(p, "validate")
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err
    assert re.search(
        rf"^brandkit\.yaml:{line}:\d+: assets\.\w+(\.out)?: the output path ", err, re.M
    ), err
    assert words in err, err
    assert len(err.splitlines()) == 2, "one located line, then the count"

    code, _, err = run(p, "build")
    assert code == 1
    assert remote.paid_generations == 0
    assert remote.requests == []


@pytest.mark.parametrize(
    "path",
    [
        "a/b.png",
        "x" * 251 + ".png",  # 255 bytes exactly
        "é" * 125 + ".png",  # 254 bytes
        "console.png",  # CON is reserved; a longer name that starts with it is not
        "com10.png",
        "lpt.png",
        "con-x.png",
        "a.b.c/d e.png",
        "café/logo.png",
    ],
)
def test_a_valid_path_passes(path: str) -> None:
    assert output_path_problem(path) is None


def test_distinct_paths_are_kept(run: Run, tmp_path: Path) -> None:
    """Prefixes that are not whole names, and the same name in two folders, are fine."""
    text = HEAD.replace("runware", "local") + (
        asset("a", "logo/a.png") + asset("b", "logos/a.png") + asset("c", "logo.png.bak/a.png")
    )
    p = write_manifest(tmp_path / "p", text).parent
    code, _, err = run(p, "validate")
    assert code == 0, err
