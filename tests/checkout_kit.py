"""What the tests may not change: the checkout. conftest.checkout_stays_clean compares it before and after a session."""
from __future__ import annotations

import subprocess
from pathlib import Path

# Caches Python, pytest and hypothesis keep on purpose; everything else a test writes into the checkout is a bug.
CACHES = {"__pycache__", ".pytest_cache", ".hypothesis"}


def checkout_state(root: Path) -> dict[str, tuple] | None:
    """What ``git status`` shows in the checkout at ``root``: changed, untracked and ignored paths (an ignored folder
    as one entry, with its modification time, which moves when a file is added to it). None when ``root`` is not a
    git checkout (an unpacked archive) or git is missing.

    Changed files carry their status only: a file that was already being edited before the session may be saved
    again while the tests run. A clean file that changes during the session shows, whoever changed it.
    """
    try:
        listing = subprocess.run(["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=matching"],
                                 cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    state = {}
    entries = iter(listing.split("\0"))
    for entry in entries:
        if not entry:
            continue
        code, path = entry[:2], entry[3:]
        if "R" in code or "C" in code:
            next(entries)  # a rename names its source next
        if CACHES.intersection(Path(path).parts) or path.endswith(".pyc"):
            continue
        if code == "!!" and (root / path).is_dir():
            state[path] = (code, (root / path).stat().st_mtime_ns)
        else:
            state[path] = (code,)
    return state


def checkout_changes(before: dict, after: dict) -> list[str]:
    """The paths whose entries differ between two ``checkout_state``s."""
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
