"""Compile-time catalog of the symbolic stage: per signature, raw matchings, candidates
generated, orbits, final basis size and seconds (best of a few runs, the machine is shared).

Run: .venv/bin/python benchmarks/compile_catalog.py   (writes benchmarks/results/compile_catalog.json)
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from basis_compiler import enumerate_basis

CATALOG = [
    ("O(3): X:2s -> 2s", d) for d in range(1, 9)
] + [
    ("O(3): C:4 -> 4", 2),
    ("O(3): v:1, X:2s -> 2s", 6),
    ("O(1,3): p[n]:1 -> 2s", 4),
    ("O(1,3): p[4]:1 -> 2s", 4),
    ("SO(3): u:1, v:1, w:1 -> 1", 3),
    ("Sp(4): q:1, p:1 -> 2", 4),
    ("O(10): v:1, w:1 -> 3", 3),
    ("O(1000): v:1, w:1 -> 3", 3),
]
REPEATS = 3
TARGET_S = {("O(3): C:4 -> 4", 2): 10.0}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    import numpy
    import torch

    rows = []
    print(f"python {platform.python_version()}, numpy {numpy.__version__}, torch {torch.__version__}, commit {_commit()}")
    print(f"{'signature':32} {'deg':>4} {'raw matchings':>14} {'candidates':>10} {'orbits':>7} {'basis':>6} {'seconds':>8}")
    for sig, degree in CATALOG:
        best = None
        for _ in range(1 if (sig, degree) in TARGET_S else REPEATS):
            t0 = time.perf_counter()
            basis = enumerate_basis(sig, degree)
            elapsed = time.perf_counter() - t0
            best = elapsed if best is None else min(best, elapsed)
        s = basis.stats
        target = TARGET_S.get((sig, degree), 2.0)
        rows.append({"signature": sig, "degree": degree, "raw_matchings": s.raw_matchings, "candidates": s.candidates,
                     "orbits": s.orbits, "basis": len(basis), "seconds": round(best, 4), "target_seconds": target})
        flag = "" if best <= target else f"  (over the {target:g} s target)"
        print(f"{sig:32} {degree:>4} {s.raw_matchings:>14} {s.candidates:>10} {s.orbits:>7} {len(basis):>6} {best:>8.3f}{flag}")
    out = Path(__file__).parent / "results" / "compile_catalog.json"
    env = {"python": platform.python_version(), "numpy": numpy.__version__, "torch": torch.__version__,
           "commit": _commit(), "machine": platform.machine(), "repeats": REPEATS}
    out.write_text(json.dumps({"env": env, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
