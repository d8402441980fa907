"""Mutation-testing guarantees for pipeline/keys.py (tests/MUTATION.md)."""

from __future__ import annotations
