"""What to say when a build would replace outputs that a paid provider made (only the
provider changed): the count per provider pair, and the two choices as commands."""

from __future__ import annotations

from .plan import FREE_PROVIDERS


def describe_paid_replacements(counts: dict[tuple[str, str], int]) -> str:
    """`6 outputs published from runware would be replaced by local placeholders`."""
    parts = []
    for (old, new), n in sorted(counts.items()):
        by = f"{new} placeholders" if new in FREE_PROVIDERS else f"{new} images, paid again"
        parts.append(f"{_outputs(n)} published from {old} would be replaced by {by}")
    return "; ".join(parts)


def paid_choices(counts: dict[tuple[str, str], int]) -> str:
    """The two explicit choices, as commands to copy."""
    olds = sorted({old for old, _ in counts})
    keep = (
        f'"brandkit build --provider {olds[0]}" to keep building with {olds[0]}'
        if len(olds) == 1
        else '"brandkit build --provider NAME" to keep building with the provider that made them'
    )
    return f'run {keep}, or "brandkit build --replace-paid" to replace them'


def _outputs(n: int) -> str:
    return f"{n} output{'s' if n != 1 else ''}"
