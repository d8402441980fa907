"""Mutation-testing guarantees for pipeline/cache.py (tests/MUTATION.md)."""

from __future__ import annotations
