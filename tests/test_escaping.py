"""What a provider or a manifest says reaches a terminal escaped, and a key never at all.

Every printed line crosses one boundary (cli.main -> report.SafeStream -> printable): no
ESC, CSI, OSC, BEL, carriage return or other control character from text we did not write
reaches a terminal or a CI log, JSON output stays valid JSON, and a key echoed back by a
provider (raw, repr- or JSON-escaped, percent-encoded) is never printed or written.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from pipeline.providers import PROVIDERS
from pipeline.providers.http import secret_forms
from pipeline.report import SECRET_VARIABLES, SafeStream, printable
from tests.conftest import Run, kit, project, write_manifest
from tests.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\x9b1m\u202eevil\x00\x08\x7f done"
# Nothing of these may reach a terminal: ESC, BEL, CR, C1 CSI, a bidi override, NUL, BS, DEL.
FORBIDDEN = ["\x1b", "\x07", "\r", "\x9b", "\u202e", "\x00", "\x08", "\x7f"]


def assert_clean(text: str) -> None:
    for c in FORBIDDEN:
        assert c not in text, repr(c)


# --- the boundary ---------------------------------------------------------------------


def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable("plain café ☕\tand\nlines") == "plain café ☕\tand\nlines"
    escaped = printable(HOSTILE)
    assert_clean(escaped)
    assert escaped.startswith("\\u001b]0;pwned\\u0007\\u001b[2J")
    assert "\\r" in escaped and "\\u009b1m" in escaped and "\\u202e" in escaped


def test_escaped_json_is_still_json_with_the_same_value() -> None:
    """json escapes C0 itself but writes C1 and bidi characters raw (ensure_ascii=False)."""
    text = json.dumps({"prompt": HOSTILE}, ensure_ascii=False)
    out = printable(text)
    assert_clean(out)
    assert json.loads(out) == {"prompt": HOSTILE}


def test_safe_stream_replaces_secrets_and_hides_its_buffer() -> None:
    raw = io.StringIO()
    stream = SafeStream(raw, ["sk-secret-123"])
    stream.write("echo: sk-secret-123 \x1b[2J\n")
    assert raw.getvalue() == "echo: *** \\u001b[2J\n"
    with pytest.raises(AttributeError):
        stream.buffer  # noqa: B018  (bytes written there would bypass the boundary)
    with pytest.raises(TypeError):
        stream.write(b"bytes")  # type: ignore[arg-type]


def test_secret_variables_are_every_providers_keys() -> None:
    keys = {k for cls in PROVIDERS.values() for k in cls.env_keys}
    assert set(SECRET_VARIABLES) == keys


# --- a provider's words ---------------------------------------------------------------


@pytest.mark.parametrize("provider", ["recraft", "runware", "pixeldojo", "cloudflare"])
def test_a_providers_error_message_is_printed_escaped(
    run: Run, tmp_path: Path, remote: Emulator, provider: str
) -> None:
    remote.inject(provider, "status", times=None, status=400, message=HOSTILE)
    code, out, err = run(project(tmp_path, provider), "build")
    assert code == 1
    assert_clean(out + err)
    assert "failed: " in err and "pwned" in err and "\\u001b]0;pwned\\u0007" in err


def test_raw_bytes_of_a_real_process_hold_no_escape(tmp_path: Path, remote: Emulator) -> None:
    """Not a terminal and NO_COLOR: no ESC or BEL at all, not even our own colours."""
    remote.inject("recraft", "status", times=None, status=400, message=HOSTILE)
    p = project(tmp_path, "recraft")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(p), "build"],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert result.returncode == 1
    raw = result.stdout + result.stderr
    for c in FORBIDDEN:
        assert c.encode() not in raw, repr(c)
    assert b"pwned" in raw


# --- a manifest's words ----------------------------------------------------------------

MATRIX_KIT = (
    "kit: {name: x}\n"
    "defaults: {provider: local}\n"
    "assets:\n"
    "  hero:\n"
    '    prompt: "a {{ subject }}"\n'
    '    sizes: ["1:1"]\n'
    '    matrix: {subject: ["cup \\e]0;pwned\\a\\e[2J\\x9b1m\\u202e\\r end"]}\n'
    '    out: "hero/{{ subject | slug }}-{{ size }}.{{ format }}"\n'
)


def test_manifest_text_in_progress_lines_and_plan_json(run: Run, tmp_path: Path) -> None:
    write_manifest(tmp_path / "p", MATRIX_KIT)
    code, out, err = run(tmp_path / "p", "plan", "--json")
    assert code == 0, err
    assert_clean(out + err)
    prompt = json.loads(out)["jobs"][0]["request"]["prompt"]
    assert prompt == "a cup \x1b]0;pwned\x07\x1b[2J\x9b1m\u202e\r end"  # the same value, escaped
    code, out, err = run(tmp_path / "p", "build")
    assert code == 0, err
    assert_clean(out + err)
    assert "subject=cup \\u001b]0;pwned\\u0007" in err


def test_a_manifest_error_quoting_control_characters(run: Run, tmp_path: Path) -> None:
    write_manifest(
        tmp_path / "p",
        "kit: {name: x}\nassets:\n"
        '  hero: {prompt: "x", sizes: ["1:1"], format: "\\e[2J\\x9bpng"}\n',
    )
    code, out, err = run(tmp_path / "p", "validate")
    assert code == 1
    assert_clean(out + err)
    assert "assets.hero.format" in err


# --- a key echoed back ----------------------------------------------------------------

ODD_KEY = 'rw-"Q7\\zX9%/key'


def all_forms(key: str) -> set[str]:
    return {key, repr(key)[1:-1], json.dumps(key)[1:-1], quote(key, safe=""), quote(key)}


def test_secret_forms_cover_the_escaped_forms() -> None:
    assert all_forms(ODD_KEY) <= set(secret_forms(ODD_KEY))


def test_an_echoed_key_is_never_printed_or_written(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forms = all_forms(ODD_KEY)
    assert len(forms) == 5
    with Emulator(keys={"runware": ODD_KEY}) as emu:
        monkeypatch.setenv("RUNWARE_API_KEY", ODD_KEY)
        monkeypatch.setenv("BRANDKIT_RUNWARE_URL", emu.base_url("runware"))
        monkeypatch.setenv("BRANDKIT_RETRY_BASE", "0.01")
        monkeypatch.setenv("BRANDKIT_POLL_INTERVAL", "0.01")
        emu.inject("runware", "status", status=400, message="bad key: " + " | ".join(forms))
        emu.inject("runware", "job_failed", message=f"echo {ODD_KEY}", times=None)
        p = tmp_path / "p"
        write_manifest(p, kit("runware"))
        printed = ""
        seen: set[str] = set()
        for expected in (1, 1, 0):
            if expected == 0:
                emu.reset()
            code, out, err = run(p, "build")
            assert code == expected, err
            printed += out + err
            seen |= assert_not_written(p, forms)
    assert "bad key: ***" in printed and "echo ***" in printed
    for form in forms:
        assert form not in printed, form
    assert {"brandkit.lock", "index.json"} <= seen  # (the journal is empty, so gone, at the end)


def assert_not_written(p: Path, forms: set[str]) -> set[str]:
    """No form of the key in any file of the project (lock, dist, cache, journal)."""
    written = [f for f in p.rglob("*") if f.is_file() and f.name != "brandkit.yaml"]
    for f in written:
        data = f.read_bytes()
        for form in forms:
            assert form.encode() not in data, (f, form)
    return {f.name for f in written}


def test_an_internal_error_carrying_a_key_prints_and_logs_none_of_it(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from pipeline import workflow

    key = "sk-Zq8vT1nR4kW9xP"
    monkeypatch.setenv("RECRAFT_API_TOKEN", key)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def broken(*args: object, **kw: object) -> None:
        raise RuntimeError(f"boom with {key!r} and {key}\x1b[2J")

    monkeypatch.setattr(workflow, "load", broken)
    write_manifest(tmp_path / "p", kit("local"))
    code, out, err = run(tmp_path / "p", "validate")
    assert code == 3 and "internal error: RuntimeError: boom with" in err
    assert key not in out + err and "\x1b" not in err
    logs = list(tmp_path.glob("brandkit-crash-*.log"))
    assert len(logs) == 1 and "RuntimeError: boom" in logs[0].read_text()
    assert key not in logs[0].read_text()
