"""load: YAML with marks, YAML 1.2 scalars, refused tags, duplicate keys, bombs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ManifestError
from pipeline.load import load_yaml, read_text, readable_path


def problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_yaml(text, "brandkit.yaml")
    return [str(p) for p in info.value.problems]


def test_marks_point_at_values_and_keys() -> None:
    doc = load_yaml("kit:\n  name: x\nassets:\n  hero:\n    sizes: ['1:1', '2:1']\n", "b.yaml")
    assert str(doc.locate(("assets", "hero", "sizes", 1))) == "b.yaml:5:20"
    assert str(doc.locate(("assets", "hero"), key=True)) == "b.yaml:4:3"
    # a path that does not exist falls back to its nearest ancestor
    assert str(doc.locate(("assets", "hero", "nope"))) == "b.yaml:5:5"


def test_yaml_1_1_surprises_stay_strings() -> None:
    doc = load_yaml(
        "a: no\nb: yes\nc: on\nd: 2024-01-01\ne: 1_000\nf: 0o17\ng: true\nh: ~\ni: 1.5\nj: '12'\n",
        "b.yaml",
    )
    assert doc.data == {
        "a": "no",
        "b": "yes",
        "c": "on",
        "d": "2024-01-01",
        "e": "1_000",
        "f": 15,
        "g": True,
        "h": None,
        "i": 1.5,
        "j": "12",
    }


def test_duplicate_keys_are_located() -> None:
    assert problems("kit: {name: a}\nassets: {}\nkit: {name: b}\n") == [
        "brandkit.yaml:3:1: kit: duplicate key 'kit'"
    ]


@pytest.mark.parametrize(
    "tag", ["!!python/object/apply:os.system ['ls']", "!custom x", "!!python/name:os.system"]
)
def test_unsafe_and_unknown_tags_are_refused(tag: str) -> None:
    (msg,) = problems(f"kit: {tag}\n")
    assert msg.startswith("brandkit.yaml:1:6: kit: the YAML tag")
    assert "not allowed" in msg


def test_syntax_error_has_line_and_column() -> None:
    (msg,) = problems("kit:\n  name: [unclosed\nassets: {}\n")
    assert msg.startswith("brandkit.yaml:3:")
    assert "YAML syntax error" in msg


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    (msg,) = problems("\n".join(lines) + "\n")
    # g (line 7) is the first anchor whose expansion passes 1,000,000 values: 9^6 lols
    assert msg.startswith("brandkit.yaml:7:4: g: this value expands to more than 1,000,000")
    assert "alias bomb" in msg


def test_a_document_whose_parts_together_pass_the_budget_is_refused_at_its_top() -> None:
    lines = ["b: &b [" + ",".join(["x"] * 999) + "]"]  # 1,000 values
    lines += ["m: &m [" + ",".join(["*b"] * 100) + "]"]  # 100,001
    lines += [f"c{i}: *m" for i in range(10)]  # 11 x 100,001 in all: none alone is a bomb
    (msg,) = problems("\n".join(lines) + "\n")
    assert msg.startswith("brandkit.yaml:1:1: this value expands to more than 1,000,000")


def test_an_anchor_used_often_within_the_budget_loads_whole() -> None:
    text = "base: &b {x: 1, y: [2, 3]}\n" + "".join(f"k{i}: *b\n" for i in range(5_000))
    data = load_yaml(text, "b.yaml").data
    assert len(data) == 5_001 and data["k4999"] == {"x": 1, "y": [2, 3]}


def test_recursive_alias_is_refused() -> None:
    (msg,) = problems("a: &x [*x]\n")
    assert "recursive alias" in msg


def test_merge_keys_work() -> None:
    doc = load_yaml("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", "b.yaml")
    assert doc.data["m"] == {"x": 1, "y": 3}


def test_empty_file() -> None:
    assert problems("# only a comment\n") == ["brandkit.yaml:1:1: the file is empty"]


def test_non_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(b"kit:\n  name: caf\xe9\n")
    with pytest.raises(ManifestError) as info:
        read_text(path, "m.yaml")
    assert str(info.value.problems[0]).startswith("m.yaml:2:12:")
    assert "UTF-8" in str(info.value)


def test_readable_path() -> None:
    assert readable_path(("assets", "hero", "sizes", 2)) == "assets.hero.sizes[2]"
    assert readable_path(("brand", "a b")) == "brand['a b']"


DEEP = "the document is nested too deeply (more than 64 levels)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the 65th level is where it is refused: not at 1:1, not after 50,000 levels
        ("a: " + "[" * 50_000 + "]" * 50_000, f"brandkit.yaml:1:68: {DEEP}"),
        ("a: " + "{b: " * 50_000 + "}" * 50_000, f"brandkit.yaml:1:257: {DEEP}"),
        (
            "a:\n" + "".join(" " * i + "- \n" for i in range(0, 600, 2)),
            f"brandkit.yaml:66:129: {DEEP}",
        ),
    ],
)
def test_very_deep_nesting_is_an_error_not_a_crash(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_control_characters_are_located() -> None:
    (msg,) = problems("kit:\n  name: a\x07b\n")
    assert msg == (
        "brandkit.yaml:2:10: the control character U+0007 is not allowed in YAML "
        '(write it escaped, as "\\x..")'
    )
