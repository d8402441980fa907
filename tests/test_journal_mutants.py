"""Mutation-testing guarantees for pipeline/journal.py (tests/MUTATION.md)."""

from __future__ import annotations
