"""A manifest that passed validation is not validated again until something it depends
on changes (validated.py): its text, the schema, brandkit's code, jsonschema."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import manifest
from tests.conftest import Run


def planned(run: Run, project: Path) -> int:
    code, _, _ = run(project, "plan")
    return code


def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the validations from here on (each still done for real)."""
    calls: list[int] = []
    real = manifest.schema_problems

    def schema_problems(doc: object) -> list:
        calls.append(1)
        return real(doc)  # type: ignore[arg-type]

    monkeypatch.setattr(manifest, "schema_problems", schema_problems)
    return calls


@pytest.mark.slow  # a few seconds of real deadlines: CI runs it (pytest -m slow)
def test_the_same_text_is_not_validated_again(
    run: Run, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(sample, "build")[0] == 0  # validated; no .brandkit yet to keep the verdict in
    assert not (sample / ".brandkit" / "valid").exists()
    assert planned(run, sample) == 0  # validated again, and now remembered
    assert (sample / ".brandkit" / "valid").is_file()
    calls = counted(monkeypatch)
    assert planned(run, sample) == 0
    assert run(sample, "build")[0] == 0
    assert calls == []


def test_an_edit_is_validated_and_a_bad_one_never_remembered(
    run: Run, built_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert planned(run, built_sample) == 0
    path = built_sample / "brandkit.yaml"
    good = path.read_text()
    path.write_text("colour_typo: 1\n" + good)
    for _ in range(2):  # refused each time: a manifest with problems is not remembered
        code, _, err = run(built_sample, "plan")
        assert code == 1 and "colour_typo" in err
    calls = counted(monkeypatch)
    path.write_text(good)  # back to the text that passed: still known
    assert planned(run, built_sample) == 0
    assert calls == []


@pytest.mark.slow  # a few seconds of real deadlines: CI runs it (pytest -m slow)
def test_a_schema_change_means_validating_again(
    run: Run, built_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert planned(run, built_sample) == 0
    text = manifest.schema_text() + " "  # the same schema, other bytes
    monkeypatch.setattr(manifest, "schema_text", lambda: text)
    calls = counted(monkeypatch)
    assert planned(run, built_sample) == 0
    assert calls == [1]


@pytest.mark.slow  # a few seconds of real deadlines: CI runs it (pytest -m slow)
def test_a_verdict_for_other_code_is_not_trusted(
    run: Run, built_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert planned(run, built_sample) == 0
    from pipeline import fastpath

    monkeypatch.setattr(fastpath, "code_fingerprint", lambda: "another brandkit")
    calls = counted(monkeypatch)
    assert planned(run, built_sample) == 0
    assert calls == [1]


def test_validating_a_never_built_folder_creates_nothing(run: Run, sample: Path) -> None:
    assert run(sample, "validate")[0] == 0
    assert not (sample / ".brandkit").exists()
