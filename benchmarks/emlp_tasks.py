"""The three EMLP-paper regression tasks (docs/emlp_tasks.md): EquivariantNet and SparsePolynomial vs a plain MLP.

    PYTHONPATH=. python benchmarks/emlp_tasks.py [--preset quick|paper] [--out DIR] [--workers N] [--trials T]

Writes OUT/results.jsonl (rerun with the same --out to resume) and OUT/emlp_tasks.{md,csv,png}.
The code lives in basis_compiler/apps/emlp_tasks/; this script only parses the options.
"""

import argparse
import sys
from pathlib import Path

from basis_compiler.apps.emlp_tasks.runner import PRESETS, preset, run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick",
                        help="quick: sizes 30/300/3000, 3 trials, 3 weight decays per gradient-trained model (~4 min on 2 CPUs); paper: 30 to 10000")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/emlp_tasks"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args(argv)
    run(preset(args.preset, trials=args.trials, epochs=args.epochs), args.out, workers=args.workers)
    print((args.out / "emlp_tasks.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
