"""Huge, infinite and not-a-number values in every numeric field of a manifest: a clear,
located validation error (exit 1), never an overflow or an internal error (exit 3), and
never a NaN or Infinity in what brandkit writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import Run, write_manifest

# Too large (or not a number at all) for any field, however it is written.
NEVER = [
    "1.0e+400",  # overflows a float: infinity
    "-1.0e+400",
    ".inf",
    "-.Inf",
    ".nan",
    "9" * 5000,  # more digits than Python converts
    "-" + "9" * 150,
    "0x" + "f" * 5000,
]
# Finite, but out of range for every bounded field.
TOO_BIG = ["99999999999999999999999", "1.0e+30", "4294967296000", "-1", "-1.0e+30"]

# field -> a manifest whose line holding VALUE is where the error must point
BOUNDED = {
    "defaults.seed": "defaults:\n  provider: recraft\n  seed: VALUE\n",
    "asset.seed": "defaults: {provider: recraft}\nASSET\n    seed: VALUE\n",
    "concurrency": "providers:\n  runware:\n    concurrency: VALUE\n",
    "timeout": "providers:\n  recraft:\n    timeout: VALUE\n",
    "prices": "providers:\n  local:\n    prices:\n      recraft-v4: VALUE\n",
    "brand colour": "brand:\n  colors:\n    c: [0, VALUE, 0]\n",
    "palette": "defaults:\n  palette:\n    - [0, 0, VALUE]\n",
    "background": "defaults:\n  background: [VALUE, 0, 0]\n",
}
# Template data (rendered as text): any number but one of more than 100 digits.
DATA = {
    "vars": "ASSET\n    vars:\n      n: VALUE\n",
    "matrix": "ASSET\n    matrix:\n      n: [x,\n        VALUE]\n",
    "brand": "brand:\n  name: x\n  founded: VALUE\n",
}
ASSET = "assets:\n  a:\n    prompt: 'a {{ n | default(1) }}'\n    sizes: ['1:1']"


def manifest(template: str, value: str) -> tuple[str, int]:
    """The manifest's text, and the line the value is on."""
    body = template.replace("ASSET", ASSET)
    if "assets:" not in body:
        body += ASSET + "\n"
    text = "kit: {name: numbers}\n" + body.replace("VALUE", value)
    line = text[: text.index(value)].count("\n") + 1
    return text, line


def assert_refused(run: Run, p: Path, line: int) -> str:
    code, out, err = run(p, "validate")
    assert code == 1, (out, err)
    assert "internal error" not in err and "Traceback" not in err
    assert re.search(rf"^brandkit\.yaml:{line}:\d+: \S+: ", err, re.M), err
    assert all(len(x) < 400 for x in err.splitlines()), "a short message, not the number"
    for command in (("plan",), ("build",)):
        code, _, err = run(p, *command)
        assert code == 1, err
    return err


@pytest.mark.parametrize("value", NEVER + TOO_BIG)
@pytest.mark.parametrize("field", list(BOUNDED))
def test_a_number_out_of_any_range_is_a_located_error(
    run: Run, tmp_path: Path, field: str, value: str
) -> None:
    text, line = manifest(BOUNDED[field], value)
    p = write_manifest(tmp_path / "p", text).parent
    assert_refused(run, p, line)
    assert not (p / "dist").exists()


@pytest.mark.parametrize("value", [v for v in NEVER if len(v) > 100])
@pytest.mark.parametrize("field", list(DATA))
def test_template_data_refuses_numbers_no_field_can_hold(
    run: Run, tmp_path: Path, field: str, value: str
) -> None:
    text, line = manifest(DATA[field], value)
    p = write_manifest(tmp_path / "p", text).parent
    assert_refused(run, p, line)


@pytest.mark.parametrize("value", TOO_BIG + [v for v in NEVER if len(v) <= 100])
@pytest.mark.parametrize("field", list(DATA))
def test_template_data_takes_large_and_non_finite_numbers(
    run: Run, tmp_path: Path, field: str, value: str
) -> None:
    text, _ = manifest(DATA[field], value)
    p = write_manifest(tmp_path / "p", text).parent
    code, out, err = run(p, "plan", "--json")
    assert code == 0, err
    json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in plan --json"))


@pytest.mark.parametrize("value", ["0", "1000", "0.04", "1.0e+2"])
def test_a_price_in_range_is_used_and_written_as_strict_json(
    run: Run, tmp_path: Path, value: str
) -> None:
    text, _ = manifest(BOUNDED["prices"], value)
    p = write_manifest(tmp_path / "p", text).parent
    code, out, err = run(p, "plan", "--json")
    assert code == 0, err
    plan = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in plan --json"))
    assert plan["summary"]["estimated_cost_usd"] == pytest.approx(float(value))
