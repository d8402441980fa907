"""Pytest fixture `emulator`: a started `Emulator` (latency 0) per test function.

Use it from another test package with `pytest_plugins = ["tests.emulator.fixture"]` in the root
conftest.py, or `from tests.emulator.fixture import emulator` in a conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu
    assert emu.internal_errors == [], "the emulator itself failed:\n" + "\n".join(
        emu.internal_errors
    )
