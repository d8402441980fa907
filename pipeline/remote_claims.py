"""remote_claims: two machines building the same new job pay once.

Before paying for a shared job, a build creates `PREFIX/claims/<content key>` with
`If-None-Match: *` (a conditional write: exactly one creator wins) holding an expiry;
the winner generates, uploads the master, then deletes the claim. A loser waits for the
winner's master, bounded by the claim's expiry and `wait` (BRANDKIT_REMOTE_WAIT), then
pays itself rather than wait forever. A store that refuses conditional writes, a
read-only build and a remote that is down make no claims: the build pays.

Conditional writes (`If-None-Match: *` on PutObject), as documented: AWS S3 since August
2024 (412 when the key exists, 409 on a concurrent conflict: both are a lost claim here);
Cloudflare R2 (its S3 API's PutObject takes If-None-Match); MinIO (PutObject with
If-None-Match: *, 2024 releases on); moto's server: 412 (measured). Backblaze B2's S3
PutObject reference lists no conditional header: a store that refuses it (501, or
NotImplemented) makes this build pay without claims, with one warning; a store that
silently ignores it lets both builds believe they won, and both pay (never a wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable

from .cache import Record
from .jobs import Job
from .remote_cache import RemoteCache
from .remote_store import Conflict, Down, claim_path, is_conflict, is_unsupported


async def claim(remote: RemoteCache, key: str) -> bool:
    """Try to become the one machine that pays for `key`: True when this one should
    generate it (the claim is ours, or claims cannot be made), False when another
    machine's live claim holds it."""
    if remote.read_only or not remote.claims_work or remote.down is not None:
        return True
    for _ in range(2):  # a second try after clearing an expired claim
        try:
            if await remote.call("claim", lambda: _create_claim(remote, key)):
                remote.claimed.add(key)
            return True
        except Down:
            return True
        except Conflict:
            expires = await _claim_expiry(remote, key)
            if expires is not None and expires > time.time():
                return False
            with contextlib.suppress(Down, Conflict):
                await release(remote, key)
    return True


async def _create_claim(remote: RemoteCache, key: str) -> bool:
    """True once the claim object is created; False where the store cannot."""
    import obstore

    body = json.dumps({"expires_at": time.time() + remote.settings.claim_ttl}).encode()
    try:
        await obstore.put_async(remote.store, claim_path(key), body, mode="create")
        return True
    except Exception as exc:
        if is_conflict(exc) or not is_unsupported(exc):
            raise
        if not remote.claims_work:
            return False  # said once (claims run concurrently)
        remote.claims_work = False  # a store without conditional writes: pay, never wait
        remote.warn(
            f"warning: remote cache {remote.settings.url} does not support conditional "
            "writes (If-None-Match); two machines building a new job at once may both pay"
        )
        return False


async def _claim_expiry(remote: RemoteCache, key: str) -> float | None:
    """When another machine's claim on `key` expires; None if there is none (or it
    cannot be read: then it is no reason to wait)."""
    import obstore

    try:
        result = await remote.call(
            "claim", lambda: obstore.get_async(remote.store, claim_path(key))
        )
        if result is None:
            return None
        body = await remote.call("claim", result.bytes_async)
        return float(json.loads(bytes(body))["expires_at"])
    except (Down, Conflict, ValueError, KeyError, TypeError):
        return None


async def release(remote: RemoteCache, key: str) -> None:
    import obstore

    remote.claimed.discard(key)
    if remote.read_only or remote.down is not None:
        return
    with contextlib.suppress(Down, Conflict):
        await remote.call("release", lambda: obstore.delete_async(remote.store, claim_path(key)))


async def wait_for(remote: RemoteCache, job: Job, *, self_drawn: bool = False) -> Record | None:
    """Another machine claimed this job: its master once it is uploaded, or None past
    the bound (the claim's expiry or `wait`), or when the claim goes without one."""
    deadline = time.monotonic() + remote.settings.wait
    pause = 0.1
    while time.monotonic() < deadline and remote.down is None:
        if await remote.exists(job.key):
            return await remote.fetch(job, self_drawn=self_drawn)
        expires = await _claim_expiry(remote, job.key)
        if expires is None or expires <= time.time():
            return await remote.fetch(job, self_drawn=self_drawn)  # uploaded just now?
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 2.0)
    return None


async def obtain(
    remote: RemoteCache,
    job: Job,
    planned: bool,
    generate: Callable[[], Awaitable[Record | None]],
    self_drawn: bool,
    *,
    force: bool = False,
) -> Record | None:
    """A shared job's master: the remote's (`planned`: plan saw it there), else another
    machine's that claimed it first (waited for, bounded), else generated here under
    our claim and uploaded before the job reports done. `force` (build --force):
    generated here whatever the remote holds, and uploaded over it."""
    key = job.key
    if force:
        if (record := await generate()) is not None:
            await remote.upload(key, record)
        return record
    if planned and (record := await remote.fetch(job, self_drawn=self_drawn)) is not None:
        return record
    if not await claim(remote, key):
        record = await wait_for(remote, job, self_drawn=self_drawn)
        if record is not None:
            return record
    try:
        finished = key in remote.claimed and await remote.exists(key)  # since the plan
        if finished and (record := await remote.fetch(job, self_drawn=self_drawn)) is not None:
            return record
        record = await generate()
        if record is not None:
            await remote.upload(key, record)
        return record
    finally:
        if key in remote.claimed:
            await release(remote, key)
