"""Extract the example request bodies from the providers' pages in shared/seeds/.

Run `python tests/vectors/extract.py [SEEDS_DIR]` to refresh `seed_requests.json`;
tests/test_seed_vectors.py checks that the stored copy still matches the seeds.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SEEDS = HERE.parent.parent.parent / "shared" / "seeds"
RUNWARE = {"000_2fce1a43683ffd9a.txt": "runware", "001_32a8d653a5ca0df4.txt": "runware"}
CLOUDFLARE = ("002_a5c4522a63d766a4.txt", "004_badff4ed2ec518db.txt")


def runware_requests(text: str) -> list[dict[str, Any]]:
    """Every ```json block that follows a `**Request**:` line."""
    blocks = re.findall(r"\*\*Request\*\*:\s*```json\s*(\{.*?\})\s*```", text, re.S)
    return [json.loads(b) for b in blocks]


def cloudflare_requests(text: str) -> list[dict[str, Any]]:
    """The bodies of the `curl ... --data '{...}'` examples (blank lines folded away)."""
    bodies = re.findall(r"--data '(\{.*?\})'", text, re.S)
    out = []
    for body in bodies:
        compact = "\n".join(line for line in body.splitlines() if line.strip())
        out.append(json.loads(compact))
    return out


def worker_requests(text: str) -> list[dict[str, Any]]:
    """`env.AI.run('model', {...JS object...}, ...)` examples, as REST bodies {model, input}."""
    calls = re.findall(r"env\.AI\.run\(\s*'([^']+)',\s*(\{.*?\n  \}),", text, re.S)
    out = []
    for model, literal in calls:
        js = re.sub(r"'((?:[^'\\]|\\.)*)'", lambda m: json.dumps(m.group(1)), literal)
        js = re.sub(r"(?m)^(\s*)([A-Za-z_]\w*):", r'\1"\2":', js)
        js = re.sub(r"\{\s*([A-Za-z_]\w*):", r'{"\1":', js)
        js = re.sub(r",(\s*[}\]])", r"\1", js)
        out.append({"model": model, "input": json.loads(js)})
    return out


def extract(seeds: Path) -> dict[str, list[dict[str, Any]]]:
    vectors: dict[str, list[dict[str, Any]]] = {}
    for name in RUNWARE:
        vectors[name] = runware_requests((seeds / name).read_text(encoding="utf-8"))
    for name in CLOUDFLARE:
        text = (seeds / name).read_text(encoding="utf-8")
        vectors[name] = cloudflare_requests(text) or worker_requests(text)
    return vectors


if __name__ == "__main__":
    seeds = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SEEDS
    data = extract(seeds)
    (HERE / "seed_requests.json").write_text(json.dumps(data, indent=2) + "\n")
    print({k: len(v) for k, v in data.items()})
