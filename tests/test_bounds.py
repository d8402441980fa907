"""Bounded, whatever the provider sends (issue 12, section 3).

A provider that trickles, never stops, sends more than any image needs, or sends an
image that is a bomb, garbage or of another size: the job fails with a message that
says so, within a generous bound, and nothing of it is cached or published. Paid counts
come from the emulator; where the paid image can still be collected (the journal keeps
it), a later build collects it without paying again.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from pipeline.cache import Cache
from pipeline.errors import ProviderError
from pipeline.images import MAX_PIXELS, check_master, close_enough
from pipeline.providers.http import MB, Bounds
from tests.conftest import Run, journal, kit, write_manifest
from tests.emulator import Emulator
from tests.emulator.images import bad_png, encode

ROOT = Path(__file__).resolve().parent.parent
GENEROUS = 60.0  # seconds: what "ends" means in these tests, on a busy 2-core machine


def make(tmp_path: Path, provider: str, settings: str = "") -> Path:
    extra = f"providers:\n  {provider}: {{{settings}}}\n" if settings else ""
    write_manifest(tmp_path / "p", kit(provider, palette=provider != "pixeldojo", extra=extra))
    return tmp_path / "p"


def build(run: Run, p: Path) -> tuple[int, str, str, float]:
    start = time.monotonic()
    code, out, err = run(p, "build", "--only", "hero", "-j", "1")
    return code, out, err, time.monotonic() - start


def failure(err: str) -> str:
    (line,) = [x for x in err.splitlines() if x.startswith("failed: ")]
    return line


def nothing_kept(p: Path) -> None:
    """Nothing of the job was cached, published or left in the cache's temp folder."""
    assert not (p / "dist").exists()
    assert not (p / "brandkit.lock").exists()
    with Cache(p / ".brandkit") as cache:
        assert cache.all_keys() == []
    assert not list((p / ".brandkit" / "tmp").glob("*"))


# --- size caps --------------------------------------------------------------------------


@pytest.mark.parametrize("declare", [True, False])
def test_a_json_answer_over_the_cap_is_refused(
    run: Run, tmp_path: Path, remote: Emulator, declare: bool
) -> None:
    remote.inject("recraft", "huge", mb=2, declare=declare)
    p = make(tmp_path, "recraft", "max_json_mb: 1")
    code, _, err, _ = build(run, p)
    assert code == 1
    line = failure(err)
    assert "the answer is larger than the 1 MB allowed" in line
    assert "providers.recraft.max_json_mb" in line
    # refused unread when declared; otherwise read up to the cap and no further
    assert ("declares 2097152 bytes" if declare else f"more than {MB} bytes came") in line
    assert remote.paid_by_provider["recraft"] == 1
    assert len(remote.requests_for("recraft")) == 1, "a paid answer is not asked again"
    nothing_kept(p)


def test_the_default_json_cap_stops_a_body_that_never_declares_its_size(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.inject("cloudflare", "huge", mb=40, declare=False)
    p = make(tmp_path, "cloudflare")
    code, _, err, elapsed = build(run, p)
    assert code == 1
    assert f"more than {32 * MB} bytes came" in failure(err)
    assert elapsed < GENEROUS
    nothing_kept(p)


def test_a_huge_but_valid_answer_passes_under_a_raised_cap(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    """The cap, not the shape of the fault, is what refused it above."""
    remote.inject("recraft", "huge", mb=2)
    p = make(tmp_path, "recraft", "max_json_mb: 3")
    code, _, err, _ = build(run, p)
    assert code == 0, err
    assert remote.paid_by_provider["recraft"] == 1


def test_an_endless_poll_answer_ends_at_the_cap_and_is_collected_later(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.inject("runware", "endless", on="poll")
    p = make(tmp_path, "runware", "max_json_mb: 1")
    code, _, err, elapsed = build(run, p)
    assert code == 1
    assert f"more than {MB} bytes came" in failure(err)
    assert elapsed < GENEROUS
    nothing_kept(p)
    assert len(journal(p)) == 1, "the paid task is kept for the next build"
    code, out, err, _ = build(run, p)
    assert code == 0, err
    assert "1 collected from an earlier build" in out
    assert remote.paid_by_provider["runware"] == 1


@pytest.mark.parametrize("fault", ["declared", "endless"])
def test_a_download_over_the_cap_is_refused_and_collected_once_raised(
    run: Run, tmp_path: Path, remote: Emulator, fault: str
) -> None:
    if fault == "endless":
        remote.inject("runware", "endless", on="download")
        settings = "max_download_mb: 1"
    else:  # the emulator's 1344x768 PNG is about 15 KB
        settings = "max_download_mb: 0.01"
    p = make(tmp_path, "runware", settings)
    code, _, err, elapsed = build(run, p)
    assert code == 1
    line = failure(err)
    assert "could not download the image: it is larger than the" in line
    assert "providers.runware.max_download_mb" in line
    assert ("it declares" if fault == "declared" else f"more than {MB} bytes came") in line
    assert elapsed < GENEROUS
    downloads = [r for r in remote.requests_for("runware") if r.path.startswith("/files/")]
    assert len(downloads) == 1, "a download over the cap is not fetched again"
    nothing_kept(p)
    p.joinpath("brandkit.yaml").write_text(kit("runware"), "utf-8")  # the default caps
    code, out, err, _ = build(run, p)
    assert code == 0, err
    assert "1 collected from an earlier build" in out
    assert remote.paid_by_provider["runware"] == 1


# --- the total deadline -----------------------------------------------------------------


@pytest.mark.parametrize("provider", ["cloudflare", "recraft"])
def test_a_trickling_answer_ends_at_the_deadline(
    run: Run, tmp_path: Path, remote: Emulator, provider: str
) -> None:
    """A byte every 0.2 s never trips a per-read timeout of 1 s; the total one ends it."""
    remote.inject(provider, "trickle", interval=0.2, seconds=300, times=None)
    p = make(tmp_path, provider, "timeout: 1")
    code, _, err, elapsed = build(run, p)
    assert code == 1
    assert f"no whole answer within 1s (providers.{provider}.timeout)" in failure(err)
    assert elapsed < GENEROUS
    # each answered request was a paid generation; however many were sent, no more
    assert remote.paid_by_provider[provider] == len(remote.requests_for(provider)) <= 5
    nothing_kept(p)


@pytest.mark.slow  # a few seconds of real deadlines: CI runs it (pytest -m slow)
def test_trickling_headers_of_a_poll_end_at_the_deadline(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.inject("runware", "trickle", on="poll", headers=True, seconds=300, times=None)
    p = make(tmp_path, "runware", "timeout: 1")
    code, _, err, elapsed = build(run, p)
    assert code == 1
    assert "no whole answer within 1s (providers.runware.timeout)" in failure(err)
    assert elapsed < GENEROUS
    assert remote.paid_by_provider["runware"] == 1
    nothing_kept(p)


@pytest.mark.slow  # a few seconds of real deadlines: CI runs it (pytest -m slow)
def test_a_trickling_download_ends_at_the_deadline_and_is_collected_later(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.inject("runware", "trickle", on="download", interval=0.2, seconds=300, times=5)
    p = make(tmp_path, "runware", "timeout: 1")
    code, _, err, elapsed = build(run, p)
    assert code == 1
    line = failure(err)
    assert "could not download the image: no whole answer within 1s" in line
    assert elapsed < GENEROUS
    nothing_kept(p)
    code, out, err, _ = build(run, p)
    assert code == 0, err
    assert "1 collected from an earlier build" in out
    assert remote.paid_by_provider["runware"] == 1


@pytest.mark.slow  # a few seconds of real deadlines: CI runs it (pytest -m slow)
def test_ctrl_c_waits_for_a_trickling_paid_answer_no_longer_than_its_deadline(
    tmp_path: Path, remote: Emulator
) -> None:
    """A paid synchronous request is let finish after Ctrl-C; a trickle used to make
    that forever."""
    remote.inject("recraft", "trickle", interval=0.2, seconds=300, times=None)
    p = make(tmp_path, "recraft", "timeout: 1")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "1"}
    command = [sys.executable, "-m", "pipeline", "-C", str(p), "build", "--only", "hero"]
    build = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(int(GENEROUS / 0.05)):  # until the request is at the provider
            if remote.requests_for("recraft") or build.poll() is not None:
                break
            time.sleep(0.05)
        assert remote.requests_for("recraft"), "the build never sent its request"
        build.send_signal(signal.SIGTERM)
        _, err = build.communicate(timeout=GENEROUS)
    finally:
        if build.poll() is None:
            build.kill()
            build.communicate()
    assert build.returncode == 130, err.decode()
    nothing_kept(p)


# --- the image itself -------------------------------------------------------------------

IMAGE_MESSAGES = {
    "bomb": f"the image claims more than {MAX_PIXELS} pixels",
    "wrong_size": "the image is 768x1344, but 1344x768 was asked for",
    "undecodable": "the image cannot be decoded",
}


@pytest.mark.parametrize("provider", ["runware", "cloudflare", "pixeldojo", "recraft"])
@pytest.mark.parametrize("fault", list(IMAGE_MESSAGES))
def test_a_bad_image_is_the_providers_error_and_never_published(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, fault: str
) -> None:
    remote.inject(provider, fault)  # recraft's comes inline (b64_json); the others' by URL
    p = make(tmp_path, provider)
    code, _, err, _ = build(run, p)
    assert code == 1
    line = failure(err)
    assert f"({provider}): {provider}: {IMAGE_MESSAGES[fault]}" in line
    assert remote.paid_by_provider[provider] == 1
    nothing_kept(p)
    assert journal(p) == {}, "the provider's answer is final: the next build asks again"
    code, _, err, _ = build(run, p)
    assert code == 0, err
    assert remote.paid_by_provider[provider] == 2


# --- units ------------------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    return encode(width, height, (10, 20, 30), "PNG")


def test_rounding_passes_another_size_or_aspect_does_not() -> None:
    assert close_enough((1344, 768), (1344, 768))
    assert close_enough((1344, 756), (1344, 768))  # 16:9 rounded: within 2%
    assert close_enough((1030, 1018), (1024, 1024))  # a few pixels on a small side
    assert not close_enough((1024, 1024), (1344, 768))  # another aspect
    assert not close_enough((2688, 1536), (1344, 768))  # the same aspect, twice the size
    assert not close_enough((1344, 740), (1344, 768))  # 28 px short: cropped, not rounded
    assert check_master("recraft", png(1340, 770), (1344, 768)) == ("png", 1340, 770)
    with pytest.raises(ProviderError, match="is 768x1344, but 1344x768 was asked for"):
        check_master("recraft", png(768, 1344), (1344, 768))


def test_a_bomb_is_refused_unread_even_below_pillows_own_error() -> None:
    """Between the limit and twice it Pillow only warns; that is an error here too, and
    the largest native size (3072x1536) passes."""
    assert MAX_PIXELS == 2 * 3072 * 1536
    for side in (3100, 40000):
        with pytest.raises(ProviderError, match="decompression bomb"):
            check_master("runware", bad_png("bomb", side, side), None)
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS, "set (lazily) before anything is decoded"
    assert check_master("runware", png(3072, 1536), (3072, 1536))[1:] == (3072, 1536)


def test_a_valid_header_and_trailer_around_garbage_is_not_an_image(tmp_path: Path) -> None:
    data = bad_png("undecodable", 64, 64)
    assert data.endswith(b"IEND\xaeB`\x82")
    path = tmp_path / "x.png"
    path.write_bytes(data)
    for source in (data, path):
        with pytest.raises(ProviderError, match="cannot be decoded"):
            check_master("pixeldojo", source, (64, 64))
    cut = io.BytesIO(png(64, 64)).getvalue()[:-40] + b"IEND\xaeB`\x82"
    with pytest.raises(ProviderError, match="cannot be decoded"):
        check_master("pixeldojo", cut, (64, 64))


def test_the_defaults_and_the_manifests_settings() -> None:
    assert Bounds() == Bounds(timeout=300.0, max_json=32 * MB, max_download=64 * MB)
    assert Bounds.of(None, None, None) == Bounds()
    assert Bounds.of(5, 0.5, 128) == Bounds(timeout=5, max_json=MB // 2, max_download=128 * MB)


@pytest.mark.parametrize(
    "setting", ["max_json_mb: 0", "max_download_mb: -1", "max_json_mb: lots", "timeout: 0"]
)
def test_bad_settings_are_validation_errors(run: Run, tmp_path: Path, setting: str) -> None:
    p = make(tmp_path, "recraft", setting)
    code, _, err = run(p, "validate")
    assert code == 1
    assert f"providers.recraft.{setting.split(':')[0]}" in err
