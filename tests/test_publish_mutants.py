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
