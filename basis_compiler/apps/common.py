"""Small pieces the applications' runners share (their results file is results_file.py)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path


def invocation_time(seconds: float | None) -> str:
    """The wall time of the run that wrote a table; None when it ran no task (tables rewritten
    from saved results, whose own wall time the table cannot know)."""
    if seconds is None:
        return "no task run by this invocation (tables written from the saved results)"
    return f"wall time of this invocation {seconds:.0f} s"


def git_commit(where: Path | str | None = None) -> str:
    """The commit of the checkout holding this package ('+dirty' if tracked files differ), or 'unknown'."""
    where = Path(where) if where else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        if head.returncode:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def derive_seed(*parts) -> int:
    """A 32-bit seed from any printable parts, joined as text; the same in every process and
    Python run (the recovery and signatures applications)."""
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:4], "little")


def derive_seed_from_repr(*parts) -> int:
    """A 32-bit seed from repr(parts): how the materials and EMLP applications have always seeded,
    kept so that their committed results reproduce bit for bit."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little")
