"""dist/review.html: every job's candidates side by side, and the command that picks or
approves each (DESIGN "Candidates, review and approval").

One self-contained file (inline CSS and script, nothing fetched) beside small previews
in dist/review/ (512 pixels at most, webp; an SVG master as its sanitised drawing), so it
opens offline from the file system. Held and new jobs come first, then the rest in
manifest order; an asset's matrix combinations form a grid. Every text from the manifest
(prompts are user text) is escaped.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shlex
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import Cache
from .errors import BrandkitError
from .fsutil import atomic_write
from .review_data import STATUS_ORDER, Picture, ReviewCandidate, ReviewData, ReviewJob, gather
from .svg_safe import sanitise

if TYPE_CHECKING:
    from .workflow import Loaded

PREVIEW = 512  # pixels: the longer side of a candidate's preview
PAGE = "review.html"
FOLDER = "review"
TITLES = {
    "held": "Held: approved, but the inputs changed",
    "new": "New: never published",
    "changed": "Changed: inputs differ from what is published",
    "current": "Current",
}
MARKS = {"held": "held", "new": "new", "changed": "changed", "current": "current"}

_CSS = """
:root{color-scheme:light;--line:#d9d9d9;--muted:#595959;--accent:#0b57d0}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:0;padding:1rem clamp(.75rem,3vw,2rem);
 background:#f7f7f5;color:#1f1f1f}
h1{margin:.25rem 0}h2{margin:2rem 0 .5rem;font-size:1.3rem}
h3{margin:1.25rem 0 .5rem;font-size:1.05rem}
.meta,.help{color:var(--muted);max-width:70ch}
.jobs{display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,22rem),1fr))}
.job{background:#fff;border:1px solid var(--line);border-radius:10px;padding:.75rem;min-width:0}
.job.wide{grid-column:1/-1}
.job header{display:flex;flex-wrap:wrap;gap:.25rem .75rem;align-items:baseline}
.sel{font-family:ui-monospace,monospace;font-size:13px;overflow-wrap:anywhere}
.status{font-size:12px;font-weight:600;padding:0 .4rem;border-radius:4px;border:1px solid}
.status.held{color:#8a3c00}.status.new{color:#0b5394}.status.changed{color:#6b4e00}
.status.current{color:#2e6b30}
.prompt{margin:.4rem 0;font-style:italic;color:#333}
.row{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-start}
figure{margin:0;flex:1 1 9rem;max-width:16rem;min-width:0}
figure img{display:block;width:100%;height:auto;background:#e9e9e6;border-radius:4px;
 border:3px solid transparent}
figure.chosen img{border-color:var(--accent)}
figure.previous img{opacity:.9;border-style:dashed;border-color:#999}
.missing{display:flex;align-items:center;justify-content:center;width:100%;
 background:#eee;border:1px dashed #aaa;border-radius:4px;color:var(--muted);font-size:13px}
figcaption{font-size:13px;margin-top:.25rem}
.marks b{display:inline-block;font-size:12px;margin-right:.3rem}
.cmd{display:flex;flex-wrap:wrap;gap:.3rem;margin-top:.3rem}
.cmd input{flex:1 1 10rem;min-width:0;font:12px ui-monospace,monospace;padding:.3rem;
 border:1px solid var(--line);border-radius:4px;background:#fafafa;color:#1f1f1f}
button{font:inherit;font-size:13px;padding:.3rem .6rem;border-radius:4px;
 border:1px solid #767676;background:#fff;color:#1f1f1f;cursor:pointer}
button:focus-visible,input:focus-visible,a:focus-visible{outline:3px solid var(--accent);
 outline-offset:2px}
.approve{margin-top:.6rem;padding-top:.5rem;border-top:1px solid var(--line)}
.outputs{font-size:12px;color:var(--muted);overflow-wrap:anywhere}
"""

_SCRIPT = """
document.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-copy]');
  if (!button) return;
  const field = document.getElementById(button.getAttribute('aria-controls'));
  try {
    // a browser that asks the user may never answer: after 2 s, show the field instead
    const late = new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 2000));
    await Promise.race([navigator.clipboard.writeText(button.dataset.copy), late]);
    button.textContent = 'Copied';
  } catch (err) {
    field.focus();
    field.select();
    button.textContent = 'No clipboard access: command selected, press Ctrl+C';
  }
});
"""


def write_review(dist: Path, data: ReviewData) -> Path:
    """Write dist/review/ previews and dist/review.html (each atomically); its path."""
    folder = dist / FOLDER
    if folder.is_symlink():  # a checkout may hold one: never write or delete through it
        raise BrandkitError(
            f"dist/{FOLDER} is a symlink (to {os.readlink(folder)}); the review page's "
            "previews are written and pruned there: remove the link"
        )
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in _pictures(data)}
    for name, picture in wanted.items():
        target = folder / name
        if not target.exists():
            atomic_write(target, _preview(picture), durable=False)
    for old in folder.iterdir():  # previews of images no job shows any more
        if old.name not in wanted and old.suffix in (".webp", ".svg") and old.is_file():
            with contextlib.suppress(OSError):
                old.unlink()
    page = dist / PAGE
    atomic_write(page, render_review(data).encode())
    return page


def _pictures(data: ReviewData) -> list[Picture]:
    found = [c.picture for j in data.jobs for c in j.candidates if c.picture is not None]
    found += [j.previous.picture for j in data.jobs if j.previous is not None]
    return found


def _preview(picture: Picture) -> bytes:
    """A small webp of a raster master; an SVG master's sanitised drawing."""
    data = picture.source.read_bytes()
    if picture.format == "svg":
        return sanitise(data)
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.thumbnail((PREVIEW, PREVIEW))
        out = im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB")
        buffer = io.BytesIO()
        out.save(buffer, "WEBP", quality=82)
        return buffer.getvalue()


def render_review(data: ReviewData) -> str:
    title = escape(data.title)
    counts = ", ".join(f"{len(data.by_status(s))} {s}" for s in STATUS_ORDER)
    version = escape(data.version or "nothing published yet")
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>Review: {title}</title><style>{_CSS}</style><body><main>",
        f"<h1>Review: {title}</h1>",
        f"<p class=meta>kit {escape(data.kit)} · latest {version} · {len(data.jobs)} jobs: "
        f"{escape(counts)}</p>",
        "<p class=help>Each candidate has the command that picks it; each job the command "
        "that approves its chosen candidate. Run them in the kit's folder; the lock records "
        "the choice for review in a pull request.</p>",
    ]
    for status in STATUS_ORDER:
        jobs = data.by_status(status)
        if jobs:
            parts.append(f"<section><h2>{escape(TITLES[status])} ({len(jobs)})</h2>")
            parts.extend(_asset_groups(jobs, data.assets, data.command))
            parts.append("</section>")
    parts.append(f"</main><script>{_SCRIPT}</script></body></html>\n")
    return "".join(parts)


def _asset_groups(jobs: list[ReviewJob], assets: list[str], command: str) -> list[str]:
    """Per asset (manifest order), its jobs as a grid: one cell per matrix combination
    and ratio."""
    groups: dict[str, list[ReviewJob]] = {}
    for job in jobs:
        groups.setdefault(job.asset, []).append(job)
    order = {a: i for i, a in enumerate(assets)}
    parts = []
    for asset in sorted(groups, key=lambda a: order.get(a, len(order))):
        mine = groups[asset]
        prompts = {job.prompt for job in mine}
        shared = prompts.pop() if len(prompts) == 1 and len(mine) > 1 else None
        parts.append(f"<h3>{escape(asset)}</h3>")
        if shared is not None:  # one prompt for every job of the asset: said once
            parts.append(f"<p class=prompt>{escape(shared)}</p>")
        parts.append("<div class=jobs>")
        parts.extend(_job(job, command, shared is None) for job in mine)
        parts.append("</div>")
    return parts


def _job(job: ReviewJob, command: str = "brandkit", with_prompt: bool = True) -> str:
    selector = shlex.quote(job.selector)
    ident = hashlib.sha256(job.selector.encode()).hexdigest()[:12]  # selectors are unique
    combo = " · ".join(f"{k}: {v}" for k, v in job.matrix)
    combo_html = f"<span>{escape(combo)}</span>" if combo else ""
    figures = [_candidate(job, c, f"{command} pick {selector}", ident) for c in job.candidates]
    if job.previous is not None:
        p = job.previous
        alt = f"{job.asset} {job.ratio}, {p.label}"
        figures.append(
            f"<figure class=previous>{_img(p.picture, alt)}<figcaption><span class=marks>"
            f"<b>{escape(p.label)}</b></span></figcaption></figure>"
        )
    chosen = next((c for c in job.candidates if c.chosen), None)
    approve = ""
    if chosen is not None and chosen.approved:
        approve = f"<div class=approve>Candidate {chosen.index} is chosen and approved.</div>"
    elif chosen is not None and chosen.generated:
        approve = (
            f"<div class=approve>Candidate {chosen.index} is chosen, not approved. "
            f"{_command(f'{command} approve {selector}', f'approve-{ident}')}</div>"
        )
    wide = " wide" if len(figures) > 2 else ""  # candidates side by side: a row of its own
    return (
        f"<article class='job{wide}' id='job-{ident}'><header>"
        f"<span class='status {job.status}'>{escape(MARKS[job.status])}</span>"
        f"<span class=sel>{escape(job.selector)}</span>{combo_html}</header>"
        f"{f'<p class=prompt>{escape(job.prompt)}</p>' if with_prompt else ''}"
        f"<div class=row>{''.join(figures)}</div>{approve}"
        f"<p class=outputs>key {escape(job.key[:12])} · {escape(job.provider)}/"
        f"{escape(job.model)} · {len(job.outputs)} output(s)</p></article>"
    )


def _candidate(job: ReviewJob, c: ReviewCandidate, pick: str, ident: str) -> str:
    marks = []
    if c.chosen:
        marks.append("<b>✓ chosen</b>")
    if c.approved:
        marks.append("<b>★ approved</b>")
    label = f"Candidate {c.index}"
    alt = f"{job.asset} {job.ratio}, candidate {c.index}"
    if c.picture is None:
        body = (
            f"<div class=missing role=img aria-label='{escape(alt, quote=True)}, not "
            f"generated' style='aspect-ratio:{job.width}/{job.height}'>not generated yet</div>"
        )
        command = ""
    else:
        body = _img(c.picture, alt)
        command = "" if c.chosen else _command(f"{pick} {c.index}", f"pick-{ident}-{c.index}")
    css = " class=chosen" if c.chosen else ""
    return (
        f"<figure{css}>{body}<figcaption>{label} <span class=marks>{''.join(marks)}</span>"
        f"{command}</figcaption></figure>"
    )


def _img(p: Picture, alt: str) -> str:
    return (
        f"<img src='{escape(p.image, quote=True)}' width={p.width} height={p.height} "
        f"loading=lazy alt='{escape(alt, quote=True)}'>"
    )


def _command(text: str, ident: str) -> str:
    """A read-only field holding the command (selectable by hand) and its copy button."""
    value = escape(text, quote=True)
    return (
        f"<span class=cmd><input id='{ident}' readonly value='{value}' "
        f"aria-label='command' spellcheck=false>"
        f"<button type=button data-copy='{value}' aria-controls='{ident}'>Copy</button></span>"
    )


def make_review(loaded: Loaded, cache: Cache) -> Path:
    """Gather what the kit holds now and write dist/review.html; its path."""
    from .workflow import plan

    the_plan = plan(loaded, cache)
    held = {p.job.key for p in the_plan.jobs if p.status == "held"}
    choices = {c.job.key: c for c in the_plan.choices}  # the engine's word, per job
    manifest = loaded.manifest
    data = gather(
        loaded.project,
        loaded.jobs,
        cache,
        the_plan.lock,
        title=str(manifest.brand.get("name") or manifest.kit.get("name") or "brand kit"),
        kit=str(manifest.kit.get("name") or ""),
        assets=[a.id for a in manifest.assets],
        held=held,
        choices=choices,
    )
    return write_review(loaded.project.dist, data)
