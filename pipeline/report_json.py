"""The `--json` shapes of validate, status, versions and diff: plain dicts from the
same result objects the text reporters print. Each shape is documented by a JSON Schema
in `schemas/` (validate, status, versions, diff; plan's is report.plan_json), and
tests/test_cli_json.py checks real output against them. Stable: fields are only added."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .errors import Problem
    from .history import Diff, VersionInfo
    from .workflow import Loaded, Status


def emit(data: dict[str, Any], out: TextIO | None = None) -> None:
    """One JSON object on one line of stdout."""
    (out or sys.stdout).write(json.dumps(data, ensure_ascii=False) + "\n")


def problem_json(p: Problem) -> dict[str, Any]:
    loc = p.location
    return {"file": loc.file, "line": loc.line, "column": loc.column, "path": p.path,
            "message": p.message}  # fmt: skip


def validate_json(manifest: str, loaded: Loaded | None, problems: list[Problem]) -> dict[str, Any]:
    return {
        "manifest": manifest,
        "valid": loaded is not None,
        "assets": len(loaded.manifest.assets) if loaded else None,
        "jobs": len(loaded.jobs) if loaded else None,
        "outputs": sum(len(j.outputs) for j in loaded.jobs) if loaded else None,
        "warnings": list(loaded.warnings) if loaded else [],
        "errors": [problem_json(p) for p in problems],
    }


def status_json(status: Status, version: str | None) -> dict[str, Any]:
    return {
        "current": status.current,
        "version": version,
        "reasons": list(status.reasons),
        "advice": None if status.current else status.advice,
        "held": list(status.waiting.held) if status.waiting else [],
        "pending_approval": list(status.waiting.pending) if status.waiting else [],
        "changes": list(status.changes),
    }


def versions_json(rows: list[VersionInfo]) -> dict[str, Any]:
    latest = next((v.name for v in rows if v.latest), None)
    return {
        "versions": [
            {"name": v.name, "created": v.created, "outputs": v.outputs, "latest": v.latest}
            for v in rows
        ],
        "latest": latest,
    }


def diff_json(d: Diff | None, note: str | None) -> dict[str, Any]:
    """`d` None: no version at all. Each output is an object (fields may be added)."""
    from .output_log import changed_json, output_json

    return {
        "a": d.a if d else None,
        "b": d.b if d else None,
        "added": [output_json(d.new[p]) for p in d.added] if d else [],
        "changed": [changed_json(d.old[p], d.new[p]) for p in d.changed] if d else [],
        "removed": [output_json(d.old[p]) for p in d.removed] if d else [],
        "moved": [{"from": m.old, "to": m.new, "key": m.key} for m in d.moved] if d else [],
        "note": note,
    }
