"""Publish guarantees that mutation testing found unpinned (tests/MUTATION.md).

Each test names the guarantee; each kills one or more mutmut mutants of pipeline/publish.py
that tests/test_publish.py lets through. (Started: most publish survivors are still to
be read, see tests/MUTATION.md.)"""

from __future__ import annotations

import json
import math

from pipeline.publish import index_json


def test_a_non_finite_number_anywhere_in_the_index_is_written_as_null() -> None:
    index = {
        "version": "v0001",
        "cost_usd": math.nan,
        "outputs": [
            {"path": "a.png", "cost_usd": math.inf, "sizes": [1.5, -math.inf], "box": (2.5,)},
            {"path": "b.png", "cost_usd": 0.25},
        ],
    }
    text = index_json(index)
    assert json.loads(text) == {
        "version": "v0001",
        "cost_usd": None,
        "outputs": [
            {"path": "a.png", "cost_usd": None, "sizes": [1.5, None], "box": [2.5]},
            {"path": "b.png", "cost_usd": 0.25},
        ],
    }
    assert "NaN" not in text and "Infinity" not in text


def test_an_index_with_finite_numbers_is_written_as_it_is() -> None:
    index = {"version": "v0002", "outputs": [{"path": "a.png", "cost_usd": 0.5}]}
    assert json.loads(index_json(index)) == index


def test_a_non_finite_number_only_in_the_head_or_only_in_an_output_is_null() -> None:
    head_only = {"version": "v0001", "cost_usd": math.nan, "outputs": [{"path": "a.png"}]}
    assert json.loads(index_json(head_only))["cost_usd"] is None
    output_only = {"version": "v0001", "outputs": [{"path": "a.png", "cost_usd": math.inf}]}
    assert json.loads(index_json(output_only))["outputs"] == [{"path": "a.png", "cost_usd": None}]


def test_the_index_is_the_head_indented_and_each_output_on_a_line_of_its_own() -> None:
    index = {"version": "v0003", "outputs": [{"path": "a.png"}, {"path": "b.png"}]}
    assert index_json(index) == (
        "{\n"
        '  "version": "v0003",\n'
        '  "outputs": [\n'
        '    {"path": "a.png"},\n'
        '    {"path": "b.png"}\n'
        "  ]\n"
        "}\n"
    )
    assert index_json({"version": "v0004", "outputs": []}) == (
        '{\n  "version": "v0004",\n  "outputs": []\n}\n'
    )
