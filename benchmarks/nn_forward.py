"""Forward and forward+backward time of one EquivariantNet (the README's cost example).

    PYTHONPATH=. python benchmarks/nn_forward.py [--threads 1] [--rounds 30]

Writes results/nn_forward.json: settings, torch and python versions, thread count, git commit,
parameter count, per-round timings and their medians. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

from basis_compiler.nn import EquivariantNet

SIGNATURE, DEGREE, INVARIANT_DEGREE, HIDDEN, BATCH = "O(3): C:2s -> 2s", 2, 3, (128, 128), 256


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _block(fn, calls: int) -> float:
    fn()  # untimed warm-up call
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = EquivariantNet(SIGNATURE, DEGREE, INVARIANT_DEGREE, hidden=HIDDEN)
    A = torch.randn(BATCH, 3, 3)
    C = A @ A.transpose(-1, -2) / 3 + torch.eye(3)
    net.calibrate(C=C)

    def forward():
        with torch.no_grad():
            net(C=C)

    def backward():
        net.zero_grad()
        net(C=C).square().mean().backward()

    rounds = {"forward": [], "forward_backward": []}
    for r in range(args.rounds):
        rounds["forward"].append(_block(forward, args.calls))
        rounds["forward_backward"].append(_block(backward, args.calls))
        print(f"round {r + 1}/{args.rounds}", end="\r", flush=True)
    medians = {k: statistics.median(v) for k, v in rounds.items()}
    result = {
        "settings": {"signature": SIGNATURE, "degree": DEGREE, "invariant_degree": INVARIANT_DEGREE,
                     "hidden": HIDDEN, "batch": BATCH, "dtype": "float32", "device": "cpu",
                     "threads": args.threads, "rounds": args.rounds, "calls_per_round": args.calls},
        "torch": torch.__version__, "python": platform.python_version(), "commit": _commit(),
        "parameters": net.n_parameters, "median_seconds": medians, "rounds_seconds": rounds,
    }
    out = Path(__file__).parent / "results" / "nn_forward.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{SIGNATURE} degree {DEGREE}/{INVARIANT_DEGREE} hidden {HIDDEN}, batch {BATCH}, {args.threads} thread(s): "
          f"{net.n_parameters:,} parameters, forward {medians['forward'] * 1e3:.3f} ms, "
          f"forward+backward {medians['forward_backward'] * 1e3:.3f} ms (torch {torch.__version__}) -> {out}")


if __name__ == "__main__":
    main()
