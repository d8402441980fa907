"""Guarantees of the README and DESIGN.md that no other test pinned end to end.

Each test names its guarantee, and fails when it breaks: tests/GUARANTEES.md lists, for
each, the bug planted by hand in pipeline/ that made it fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from pipeline.cache import Cache, RecordMeta
from tests.conftest import Run, write_manifest
from tests.emulator import Emulator

MANIFEST = """\
kit: {name: guarantees}
brand: {name: Acme, colors: {ink: '#112233', paper: '#F0EEE8', sky: '#3366CC'}}
defaults:
  provider: local
  model: recraft-v4
  palette: [ink, paper]
  background: paper
assets:
  hero: {prompt: 'a hero image', sizes: ['16:9', '1200x675']}
  icon: {prompt: 'an icon', sizes: ['1:1', '32x32'], formats: [png, ico]}
  banner: {prompt: 'a banner', sizes: ['4:3'], format: jpg}
"""


def local(tmp_path: Path, text: str = MANIFEST) -> Path:
    write_manifest(tmp_path / "p", text)
    return tmp_path / "p"


def planned(run: Run, project: Path) -> dict[str, str]:
    """asset -> the status of its job in the plan."""
    return {job["asset"]: job["status"] for job in run.json(project, "plan")["jobs"]}


def edit(project: Path, old: str, new: str) -> None:
    manifest = project / "brandkit.yaml"
    text = manifest.read_text()
    assert old in text, old
    manifest.write_text(text.replace(old, new))


def index(project: Path) -> dict[str, dict]:
    data = json.loads((project / "dist" / "latest" / "index.json").read_text())
    return {o["path"]: o for o in data["outputs"]}


# --- the content key: every input of a generation is in it ---------------------------------


def test_the_content_key_covers_background_so_a_new_background_regenerates(
    run: Run, tmp_path: Path
) -> None:
    p = local(tmp_path)
    assert run(p, "build")[0] == 0
    before = index(p)
    edit(p, "format: jpg}", "format: jpg, background: sky}")
    assert planned(run, p) == {"hero": "reuse", "icon": "reuse", "banner": "generate"}
    code, _, err = run(p, "build")
    assert code == 0, err
    after = index(p)
    banner = "banner/banner-4x3.jpg"
    assert after[banner]["spec"]["background"] == [0x33, 0x66, 0xCC]
    assert after[banner]["key"] != before[banner]["key"]
    assert after[banner]["sha256"] != before[banner]["sha256"], "the placeholder draws it"
    assert {p: o["sha256"] for p, o in after.items() if p != banner} == {
        p: o["sha256"] for p, o in before.items() if p != banner
    }


def test_the_content_key_covers_seed_so_a_new_seed_regenerates(run: Run, tmp_path: Path) -> None:
    p = local(tmp_path)
    assert run(p, "build")[0] == 0
    edit(p, "prompt: 'a hero image',", "prompt: 'a hero image', seed: 7,")
    assert planned(run, p) == {"hero": "generate", "icon": "reuse", "banner": "reuse"}
    assert run(p, "build")[0] == 0
    keys = {index(p)["hero/hero-16x9.png"]["key"]}
    assert index(p)["hero/hero-16x9.png"]["seed"] == 7
    edit(p, "seed: 7", "seed: 8")
    assert planned(run, p) == {"hero": "generate", "icon": "reuse", "banner": "reuse"}
    assert run(p, "build")[0] == 0
    keys.add(index(p)["hero/hero-16x9.png"]["key"])
    assert len(keys) == 2 and index(p)["hero/hero-16x9.png"]["seed"] == 8


# --- the budget: --max-cost counts only what this build would pay for ------------------------


def test_max_cost_counts_only_the_jobs_a_rebuild_pays_for(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = local(tmp_path, MANIFEST.replace("provider: local", "provider: runware"))
    first = run.json(p, "plan")["summary"]
    assert first["generate"] == 3 and first["estimated_cost_usd"] > 0
    one = first["estimated_cost_usd"] / 3  # the seed page's price: one recraft-v4 image
    code, _, err = run(p, "build", "--max-cost", f"{first['estimated_cost_usd']:.4f}")
    assert code == 0, err
    assert remote.paid_by_provider["runware"] == 3
    code, out, err = run(p, "build", "--max-cost", "0")  # nothing to pay for: within 0
    assert code == 0 and "no changes" in out, err
    edit(p, "a banner", "a wider banner")
    summary = run.json(p, "plan")["summary"]
    assert (summary["generate"], summary["reuse"]) == (1, 2)
    assert abs(summary["estimated_cost_usd"] - one) < 1e-9, "reused jobs cost nothing"
    code, _, err = run(p, "build", "--max-cost", f"{one / 2:.4f}")
    assert code == 1 and "--max-cost" in err and "nothing was generated" in err
    assert remote.paid_by_provider["runware"] == 3
    code, _, err = run(p, "build", "--max-cost", f"{one:.4f}")
    assert code == 0, err
    assert remote.paid_by_provider["runware"] == 4


# --- atomic writes: a reader sees the old file or the new, never half ------------------------

# A write that fails partway (the file-size limit stands in for a full disk: writes past it
# fail with EFBIG), in a child process so that the limit touches nothing of pytest's.
FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
    {body}
    try:
        write()
    except OSError as exc:
        print("failed:", exc.errno)
    else:
        print("written")
    """
)


def full_disk(tmp_path: Path, body: str) -> str:
    script = FULL_DISK.format(body=textwrap.dedent(body))
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_atomic_write_that_fails_midway_leaves_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "brandkit.lock"
    target.write_bytes(b"old\n" * 100)
    body = f"""
    from pipeline.fsutil import atomic_write
    def write():
        atomic_write(Path({str(target)!r}), b"new" * 100_000)
    """
    assert full_disk(tmp_path, body) == "failed: 27"  # EFBIG
    assert target.read_bytes() == b"old\n" * 100
    assert sorted(f.name for f in tmp_path.iterdir()) == ["brandkit.lock"], "no temp left"


def test_a_cache_put_that_fails_midway_stores_no_blob_and_no_entry(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    Cache(root).close()  # the index exists before the limit (it is small; blobs are not)
    data_expr = 'b"\\x89PNG" + bytes(range(256)) * 400'
    body = f"""
    from pipeline.cache import Cache, RecordMeta
    def write():
        cache = Cache(Path({str(root)!r}))
        try:
            cache.put("k" * 64, {data_expr}, RecordMeta(width=1, height=1, format="png"))
        finally:
            cache.close()
    """
    assert full_disk(tmp_path, body) == "failed: 27"  # EFBIG
    cache = Cache(root)
    try:
        assert cache.get("k" * 64) is None
        assert [f for f in cache.blobs.rglob("*") if f.is_file()] == [], "no half blob"
        data = eval(data_expr)  # the same bytes, stored whole once there is room
        record = cache.put("k" * 64, data, RecordMeta(width=1, height=1, format="png"))
        assert cache.blob_path(record.sha256).read_bytes() == data
    finally:
        cache.close()


# --- gc: frees what nothing needs, never what latest needs -----------------------------------


def blobs(p: Path) -> set[str]:
    return {f.name for f in (p / ".brandkit" / "blobs").glob("*/*")}


def test_gc_frees_the_blobs_only_dropped_versions_used_and_keeps_all_latest_needs(
    run: Run, tmp_path: Path
) -> None:
    p = local(tmp_path)
    assert run(p, "build")[0] == 0
    old = index(p)["banner/banner-4x3.jpg"]
    cache = Cache(p / ".brandkit")
    try:
        old_master = cache.get(old["key"])
    finally:
        cache.close()
    assert old_master is not None
    edit(p, "a banner", "a wider banner")
    assert run(p, "build")[0] == 0
    before = blobs(p)
    assert {old["sha256"], old_master.sha256} <= before
    code, out, err = run(p, "gc", "-y", "--keep", "1")
    assert code == 0, err
    assert out.startswith("removed 1 version(s)") and "2 cache blob(s)" in out, out
    after = blobs(p)
    assert before - after == {old["sha256"], old_master.sha256}, "exactly the unneeded two"
    assert {o["sha256"] for o in index(p).values()} <= after, "latest keeps its blobs"
    assert sorted(x.name for x in (p / "dist").glob("v*")) == ["v0002"]
    code, out, _ = run(p, "build")  # every live job still in the cache: nothing to redo
    assert code == 0 and "generated 0" in out and "no changes" in out
    edit(p, "a wider banner", "a banner")  # the dropped one is gone: it is made again
    assert planned(run, p)["banner"] == "generate"


# --- reuse and derive: what the cache holds is never paid for again --------------------------


def test_a_new_size_or_format_is_cut_from_the_cached_master_without_paying(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = local(tmp_path, MANIFEST.replace("provider: local", "provider: runware"))
    assert run(p, "build")[0] == 0
    assert remote.paid_by_provider["runware"] == 3
    edit(p, "sizes: ['16:9', '1200x675']", "sizes: ['16:9', '1200x675', '640x360']")
    edit(p, "formats: [png, ico]", "formats: [png, ico, webp]")
    assert planned(run, p) == {"hero": "derive", "icon": "derive", "banner": "reuse"}
    code, out, err = run(p, "build")
    assert code == 0 and "generated 0" in out, err
    assert remote.paid_by_provider["runware"] == 3
    outputs = index(p)
    assert outputs["hero/hero-640x360.png"]["key"] == outputs["hero/hero-16x9.png"]["key"]
    assert outputs["icon/icon-1x1.webp"]["key"] == outputs["icon/icon-1x1.png"]["key"]


def test_a_removed_asset_brought_back_is_reused_from_the_cache_without_paying(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    text = MANIFEST.replace("provider: local", "provider: runware")
    p = local(tmp_path, text)
    assert run(p, "build")[0] == 0
    banner = "  banner: {prompt: 'a banner', sizes: ['4:3'], format: jpg}\n"
    write_manifest(p, text.replace(banner, ""))
    assert run(p, "build")[0] == 0 and "banner/banner-4x3.jpg" not in index(p)
    write_manifest(p, text)
    assert planned(run, p)["banner"] == "reuse"
    code, out, err = run(p, "build")
    assert code == 0 and "generated 0" in out, err
    assert remote.paid_by_provider["runware"] == 3
    assert "banner/banner-4x3.jpg" in index(p)
