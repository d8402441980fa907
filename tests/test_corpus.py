"""Hostile input: every broken manifest in tests/corpus/broken is refused by `validate`.

The contract, for each file: exit 1 (never 2, never 3), no traceback, no hang, one line
per problem as `brandkit.yaml:LINE:COL: [field.path: ]message`, then `N error(s) in the
manifest`. Each corpus file starts with comment lines that say what to expect:

    # expect: <a substring of the error output>          (required)
    # location: LINE:COL                                 (verified by running)
    # xfail: <why brandkit fails the contract today>     (a known bug, strict xfail)
    # isolate: subprocess                                (may crash or block the interpreter)

A few cases cannot be stored as a small file with a comment header (an empty file, a
megabyte string, UTF-16, 100,000 levels of nesting); they are generated below.
"""

from __future__ import annotations

import _thread
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.cli import main

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus" / "broken"
FILES = sorted(CORPUS.glob("*.yaml"))
# Seconds per validate: a hang is the failure we catch, not slowness. Generous on purpose:
# 10 s was too little for the alias-bomb file on a loaded 2-core machine (it took 10.2 s).
BUDGET = 60.0
ERROR_LINE = re.compile(r"brandkit\.yaml:\d+:\d+: \S")
COUNT_LINE = re.compile(r"(\d+) errors? in the manifest")
HEADER = re.compile(rb"# (expect|location|xfail|isolate|slow): (.*)")


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    expect: str
    location: str | None = None
    xfail: str | None = None
    isolate: bool = False
    slow: str | None = None  # why it takes long: run by `pytest -m slow` only


def parse(name: str, data: bytes) -> Case:
    """The leading `# key: value` comment lines of a corpus file, as a Case."""
    headers: dict[str, str] = {}
    for line in data.split(b"\n"):
        match = HEADER.fullmatch(line.rstrip(b"\r"))
        if match is None:
            break
        headers[match[1].decode()] = match[2].decode().strip()
    return Case(
        name=name,
        data=data,
        expect=headers.get("expect", ""),
        location=headers.get("location"),
        xfail=headers.get("xfail"),
        isolate=headers.get("isolate") == "subprocess",
        slow=headers.get("slow"),
    )


GENERATED = [
    Case("gen-empty-file", b"", "the file is empty", location="1:1"),
    Case("gen-whitespace-only", b"\n   \n\n", "the file is empty", location="1:1"),
    Case(
        "gen-megabyte-string-value",
        b'kit: {name: acme}\nassets:\n  hero:\n    sizes: ["1:1"]\n    prompt: "'
        + b"x" * 2**20
        + b'"\n',
        "the prompt must be 1 to 10,000 characters, got 1,048,576",
        location="5:13",
    ),
    Case(
        "gen-megabyte-explicit-key",
        b"kit: {name: acme}\n? "
        + b"k" * 2**20
        + b'\n: 1\nassets: {a: {prompt: x, sizes: ["1:1"]}}\n',
        "unknown key 'kkkk",
        location="2:3",
    ),
    Case(
        "gen-megabyte-implicit-key",  # YAML caps implicit keys at 1024 characters
        b"kit: {name: acme}\n" + b"k" * 2**20 + b': 1\nassets: {a: {prompt: x, sizes: ["1:1"]}}\n',
        "could not find expected ':'",
        location="2:1048577",
    ),
    Case(
        "gen-utf16-file",
        'kit: {name: acme}\nassets: {a: {prompt: x, sizes: ["1:1"]}}\n'.encode("utf-16"),
        "not valid UTF-8 (byte 0xff)",
        location="1:1",
    ),
    Case(
        "gen-deep-flow-nesting",
        b"kit: {name: acme}\nbrand: {x: " + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        "the document is nested too deeply",
        location="2:75",  # the 65th level
        isolate=True,  # the C parser once crashed the process on this
    ),
    Case(
        "gen-deep-flow-nesting-behind-a-hash",  # `a#` is text, not a comment
        b"kit: {name: acme}\nbrand: {x: " + b"[a#," * 100_000 + b"b" + b"]" * 100_000 + b"}\n",
        "the document is nested too deeply",
        location="2:261",
        isolate=True,
    ),
    Case(
        "gen-deep-flow-nesting-after-a-comment-and-cr-line-breaks",
        b"kit: {name: acme} # note\rbrand: {x: " + b"[" * 100_000 + b"]" * 100_000 + b"}\r",
        "nested too deeply",
        location="2:75",
        isolate=True,
    ),
    Case(
        "gen-deep-flow-nesting-after-a-comment-and-u2028",
        "kit: {name: acme} # note\u2028brand: {x: ".encode()
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}\n",
        "nested too deeply",
        location="2:75",
        isolate=True,
    ),
]


def all_cases() -> list[pytest.param]:
    cases = [parse(p.name, p.read_bytes()) for p in FILES] + GENERATED
    params = []
    for case in cases:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        marks += [pytest.mark.slow] if case.slow else []
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


def validate_in_process(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int | None, str, float]:
    """`brandkit -C project validate` in this interpreter, interrupted after BUDGET seconds.

    A watchdog thread, not SIGALRM: brandkit's own render timer uses SIGALRM (and disarms
    it). The interrupt lands as KeyboardInterrupt in pure-Python code (a loop in a
    template); a single long C call cannot be interrupted, hence `# isolate: subprocess`.
    """
    capsys.readouterr()
    done = threading.Event()

    def watchdog() -> None:
        if not done.wait(BUDGET):
            _thread.interrupt_main()

    thread = threading.Thread(target=watchdog, daemon=True)
    code: int | None = None
    start = time.monotonic()
    try:
        thread.start()
        try:
            code = main(["-C", str(project), "validate"])
        finally:
            done.set()
            thread.join()
    except KeyboardInterrupt:
        code = None
    elapsed = time.monotonic() - start
    out, err = capsys.readouterr()
    return code, out + err, elapsed


def validate_in_subprocess(project: Path, tmp_path: Path) -> tuple[int | None, str, float]:
    """The same in a child interpreter, for inputs that may crash or block this one."""
    script = "import sys; from pipeline.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "TMPDIR": str(tmp_path), "NO_COLOR": "1"}
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script, "-C", str(project), "validate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=BUDGET,
        )
    except subprocess.TimeoutExpired as exc:  # the child is killed by subprocess.run
        output = b"".join(
            s if isinstance(s, bytes) else s.encode() for s in (exc.stdout, exc.stderr) if s
        )
        return None, output.decode(errors="replace"), time.monotonic() - start
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


def check(case: Case, code: int | None, output: str, elapsed: float) -> None:
    assert case.expect, "a case without an expected message would match any output"
    shown = output if len(output) < 3000 else output[:3000] + "..."
    assert code not in (None, 130) and elapsed < BUDGET, (
        f"validate did not finish within {BUDGET:.0f} s (a hang)"
    )
    assert "Traceback" not in output, shown
    assert code == 1, f"exit {code} (expected 1: an invalid manifest):\n{shown}"
    *problems, last = output.rstrip("\n").split("\n")
    count = COUNT_LINE.fullmatch(last)
    assert count is not None, f"the last line is not the error count:\n{shown}"
    assert problems, "no problem was reported"
    unlocated = [line for line in problems if not ERROR_LINE.match(line)]
    assert not unlocated, f"lines without brandkit.yaml:LINE:COL:\n{shown}"
    assert int(count[1]) == len(problems), shown
    assert case.expect in output, f"{case.expect!r} is not in:\n{shown}"
    if case.location:
        prefix = f"brandkit.yaml:{case.location}: "
        assert any(line.startswith(prefix) and case.expect in line for line in problems), (
            f"no line starts with {prefix!r} and contains {case.expect!r}:\n{shown}"
        )


@pytest.mark.parametrize("case", all_cases())
def test_broken_manifest_is_refused_with_located_errors(
    case: Case,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # crash logs of known bugs
    project = tmp_path / "p"
    project.mkdir()
    (project / "brandkit.yaml").write_bytes(case.data)
    if case.isolate:
        code, output, elapsed = validate_in_subprocess(project, tmp_path)
    else:
        code, output, elapsed = validate_in_process(project, capsys)
    check(case, code, output, elapsed)


def test_corpus_has_at_least_45_files() -> None:
    assert len(FILES) >= 45, [p.name for p in FILES]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_file_headers_are_well_formed(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"# expect: "), "the first line must be `# expect: <substring>`"
    case = parse(path.name, data)
    assert case.expect, "empty `# expect:`"
    assert case.location is None or re.fullmatch(r"[1-9]\d*:[1-9]\d*", case.location)
    assert b"# isolate:" not in data or case.isolate, "only `# isolate: subprocess` exists"
    assert len(data) < 64 * 1024, "corpus files stay small; generate big inputs in the test"


# --- hostile but valid: accepted, without a crash ---------------------------------------------

ODD_BUT_VALID = {
    "float-colour-components": (
        "kit: {name: acme}\nbrand: {name: Acme, colors: {ink: [1.0, 2, 3]}}\n"
        "defaults: {palette: [ink], background: [255.0, 0, 0]}\n"
        'assets:\n  hero: {prompt: "x", sizes: ["1:1"]}\n'
    ),
    "yaml-1.1-words-stay-strings": (
        "kit: {name: acme}\nbrand: {name: no, voice: on}\n"
        'assets:\n  hero: {prompt: "{{ brand.name }} {{ brand.voice }}", sizes: ["1:1"]}\n'
    ),
    "bom-and-crlf": (
        '\ufeffkit: {name: acme}\r\nassets:\r\n  hero: {prompt: "x", sizes: ["1:1"]}\r\n'
    ),
    "odd-matrix-values": (
        "kit: {name: acme}\nassets:\n  hero:\n"
        '    prompt: "{{ m }}"\n    matrix: {m: ["a\\nb", .nan, .inf, -0.0, true, "é/../x"]}\n'
        '    sizes: ["1:1"]\n'
    ),
    "sandbox-refusal-in-a-branch-never-taken": (
        "kit: {name: acme}\nassets:\n  hero:\n"
        "    prompt: \"{% if false %}{{ ''.__class__ }}{% endif %}x\"\n    sizes: ['1:1']\n"
    ),
}


@pytest.mark.parametrize("text", list(ODD_BUT_VALID.values()), ids=list(ODD_BUT_VALID))
def test_odd_but_valid_manifest_is_accepted(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "brandkit.yaml").write_text(text, encoding="utf-8", newline="")
    code, output, elapsed = validate_in_process(tmp_path, capsys)
    assert elapsed < BUDGET
    assert "Traceback" not in output
    assert code == 0, output
    assert output.startswith("brandkit.yaml: ok ("), output


# --- memory: a template's strings stay near prompt size ---------------------------------------

BIG = 200_000_000  # characters: 200 MB, 20,000 times the longest prompt


def doubling(join: str, start: str = "'x' * 9999", times: int = 20) -> str:
    """`{% set a1 = a0 ~ a0 %}` twenty times: a line of source asking for gigabytes.
    `join` is an operator, or an expression of `A` (the previous value)."""
    step = join if "A" in join else f"A {join} A"
    lines = [f"{{% set a0 = {start} %}}"]
    lines += [f"{{% set a{i + 1} = {step.replace('A', f'a{i}')} %}}" for i in range(times)]
    return "".join(lines) + f"{{{{ a{times} | length }}}}"


@pytest.mark.parametrize(
    "template",
    [
        pytest.param(f"{{{{ brand.name | center({BIG}) }}}}", id="center-filter"),
        pytest.param(f"{{{{ brand.name | indent({BIG}) }}}}", id="indent-filter"),
        pytest.param(f"{{{{ brand.name.ljust({BIG}) }}}}", id="str-ljust"),
        pytest.param(f"{{{{ '%{BIG}s' | format(brand.name) }}}}", id="format-filter"),
        pytest.param(f"{{{{ '%(a){BIG}s' % {{'a': brand.name}} }}}}", id="percent-mapping-key"),
        pytest.param("{{ range(20000) | join('x' * 9999) }}", id="join-filter"),
        pytest.param("{{ ('y' * 10000).join('z' * 10000) }}", id="str-join"),
        pytest.param("{{ ('y' * 9999).replace('y', 'z' * 9999) }}", id="str-replace"),
        pytest.param("{{ ('y' * 9999) | replace('y', 'z' * 9999) }}", id="replace-filter"),
        pytest.param("{{ ('x' * 9999).translate({120: 'y' * 9999}) }}", id="str-translate"),
        pytest.param("{{ ('x' * 9999).translate(['y' * 9999] * 200) }}", id="translate-list"),
        pytest.param("{% for i in range(6000) %}{{ 'x' * 9999 }}{% endfor %}", id="loop-output"),
        pytest.param(
            "{% set b %}{% for i in range(6000) %}{{ 'x' * 9999 }}{% endfor %}{% endset %}"
            "{{ b | length }}",
            id="block-set",
        ),
        pytest.param(
            "{% macro m() %}{% for i in range(6000) %}{{ 'x' * 9999 }}{% endfor %}{% endmacro %}"
            "{{ m() | length }}",
            id="macro-output",
        ),
        pytest.param(doubling("~"), id="tilde-doubling"),
        pytest.param(doubling("+"), id="plus-doubling"),
        pytest.param(doubling("+", "range(9999) | list"), id="list-doubling"),
        pytest.param(doubling("'{0}{0}'.format(A)"), id="format-doubling"),
        pytest.param(doubling("'{x}{x}'.format_map({'x': A})"), id="format-map-doubling"),
        pytest.param(doubling("'%s%s' % (A, A)"), id="percent-doubling"),
        pytest.param(doubling("'%(a)s%(a)s' % {'a': A}"), id="percent-mapping-doubling"),
        pytest.param(doubling("'%s%s' | format(A, A)"), id="format-filter-doubling"),
        pytest.param("{{ ('\\n' * 9999) | indent(20000, blank=true) }}", id="indent-blank"),
        pytest.param("{{ ('\\n' * 9999) | indent('y' * 20000) }}", id="indent-by-text"),
        pytest.param("{{ ('\\t' * 9999).expandtabs(20000) }}", id="str-expandtabs"),
        pytest.param("{{ ('\\t' * 9999).expandtabs(tabsize=9999) }}", id="expandtabs-keyword"),
        pytest.param("{{ ['x' * 9999] * 10000 }}", id="print-a-list"),
        pytest.param("{{ (['x' * 9999] * 10000) | string }}", id="list-to-string"),
        pytest.param("{{ (['x' * 9999] * 10000) | upper }}", id="list-upper"),
        pytest.param("{{ 'a' ~ (['x' * 9999] * 10000) }}", id="tilde-a-list"),
        pytest.param("{{ '{}'.format(['x' * 9999] * 10000) }}", id="format-a-list"),
        pytest.param("{{ '%s' % ((['x' * 9999] * 10000),) }}", id="percent-a-list"),
        pytest.param("{{ {'k': ['x' * 9999] * 10000} }}", id="print-a-dict"),
        pytest.param(doubling("*", "10 ** 99"), id="int-squaring"),
        pytest.param("{{ ('x' * 9999).encode() * 20000 }}", id="bytes-repeat"),
        pytest.param("{{ 'x'.encode().ljust(200000000) }}", id="bytes-ljust"),
        pytest.param("{{ (5).to_bytes(200000000, 'big') }}", id="int-to-bytes"),
    ],
)
def test_a_template_cannot_build_hundreds_of_megabytes(
    template: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "brandkit.yaml").write_text(
        "kit: {name: acme}\nbrand: {name: Acme}\n"
        f"assets:\n  hero:\n    sizes: ['1:1']\n    prompt: \"{template}\"\n",
        encoding="utf-8",
    )
    tracemalloc.start()
    try:
        code, output, _ = validate_in_process(tmp_path, capsys)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "Traceback" not in output
    assert code == 1 and "hero.prompt: refused by the template sandbox" in output, output
    assert peak < 50_000_000, f"validate peaked at {peak / 1e6:.0f} MB of Python memory"
