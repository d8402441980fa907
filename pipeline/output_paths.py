"""Output paths: where each output of a kit is written inside its version folder.

A path from the manifest's `out:` template stays inside the version folder
(`safe_output_path`), can be written on Linux, macOS and Windows alike
(`output_path_problem`), and does not clash with another output on a file system that
folds case or Unicode normalisation, or where one output would need a folder that is
another's file (`Clashes`). Each is said at `validate`, before anything is paid for.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata

RESERVED = {"index.json", "index.html"}
MAX_NAME_BYTES = 255  # a file or folder name, in UTF-8 (ext4, APFS, NTFS)
_WINDOWS_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10))]
)
_WINDOWS_BAD = '<>"|?*'
# One search of a whole path each (a kit has thousands of outputs); the message is worked
# out only for a path that matches.
_NAME_FAULT = re.compile(
    r'[\x00-\x1f\x7f-\x9f<>"|?*]|[. ](?:/|$)'
    r"|(?:^|/)(?:con|prn|aux|nul|com[1-9]|lpt[1-9]) *(?:[./]|$)",
    re.IGNORECASE,
)


class Clashes:
    """The output paths seen so far, as a case- and normalisation-folding file system
    sees them: a new path that one file system could not hold beside them is refused."""

    def __init__(self) -> None:
        self._folded: dict[str, str] = {}  # case- and normalisation-folded path -> path
        self._folders: dict[str, tuple[str, str]] = {}  # folded -> (folder, a path in it)
        self._folders_ok: set[str] = set()  # folders (as spelt) already checked

    def clash(self, path: str) -> str | None:
        """Two outputs that one file system could not hold both of: the same name but for
        case or Unicode normalisation (macOS, Windows), or a file where another output
        needs a folder."""
        folded = _fold(path)
        if folded in RESERVED or _fold(path.split("/", 1)[0]) in RESERVED:
            return "index.json and index.html are the version's own files; choose another name"
        other = self._folded.get(folded)
        if other is not None:
            return (
                f"it differs from {other!r} only in case or Unicode normalisation, so one "
                "would overwrite the other on macOS and Windows; make the names differ"
            )
        if folded in self._folders:
            return (
                f"{self._folders[folded][1]!r} needs a folder of that name; a path cannot be "
                "both a file and a folder: rename one of them"
            )
        head = path.rpartition("/")[0]
        if not head or head in self._folders_ok:  # a file added since is checked above
            self._folded[folded] = path
            return None
        parts, names = folded.split("/"), path.split("/")
        folders = [("/".join(parts[:i]), "/".join(names[:i])) for i in range(1, len(parts))]
        for key, folder in folders:
            if key in self._folded:
                return (
                    f"it needs a folder named {self._folded[key]!r}, which is also an "
                    "output file; a path cannot be both: rename one of them"
                )
            seen = self._folders.get(key)
            if seen is not None and seen[0] != folder:
                return (
                    f"its folder {folder!r} differs from {seen[0]!r} only in case or Unicode "
                    "normalisation, which macOS and Windows would merge; spell them alike"
                )
        self._folded[folded] = path
        for key, folder in folders:
            self._folders.setdefault(key, (folder, path))
        self._folders_ok.add(head)
        return None


def safe_output_path(path: str) -> str | None:
    """A normalised relative POSIX path that stays in the version folder, or None."""
    path = path.strip()
    if not path or "\\" in path or "\x00" in path or path.startswith("/") or ":" in path:
        return None
    parts = path.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    clean = posixpath.normpath(path)
    if clean in RESERVED or len(clean) > 400:
        return None
    return clean


def output_path_problem(path: str) -> str | None:
    """Why a relative output path could not be written everywhere a kit is checked out
    (Linux, macOS, Windows), or None. Said before anything is paid for, not at publish."""
    short = MAX_NAME_BYTES // 4  # a name this long fits in 255 bytes whatever it holds
    if _NAME_FAULT.search(path) is None and (
        len(path) <= short or max(map(len, path.split("/"))) <= short
    ):
        return None
    for name in path.split("/"):
        if not name.isprintable():
            bad = next((c for c in name if unicodedata.category(c) == "Cc"), None)
            if bad is not None:
                return (
                    f"the name {name!r} holds the control character {bad!r}: "
                    "use printable characters only"
                )
        if len(name) > short and len(name.encode("utf-8")) > MAX_NAME_BYTES:
            return (
                f"the name {name[:40]!r}... is {len(name.encode('utf-8'))} bytes long in UTF-8: "
                f"a file or folder name is at most {MAX_NAME_BYTES} bytes"
            )
        if name[-1] in ". ":
            what = "a dot" if name[-1] == "." else "a space"
            return f"the name {name!r} ends with {what}, which Windows drops: remove it"
        bad = next((c for c in _WINDOWS_BAD if c in name), None)
        if bad is not None:
            return (
                f"the name {name!r} holds {bad!r}, which Windows does not allow in a name "
                '(nor any of < > " | ? *)'
            )
        stem = name.split(".", 1)[0].rstrip(" ").upper()
        if stem in _WINDOWS_NAMES:
            return (
                f"the name {name!r} is reserved on Windows ({stem}, with any extension and "
                "in any case: CON, PRN, AUX, NUL, COM1-9, LPT1-9): choose another"
            )
    return None


def _fold(path: str) -> str:
    """A path as a case-insensitive, normalisation-insensitive file system sees it."""
    if path.isascii():
        return path.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", path).casefold())
