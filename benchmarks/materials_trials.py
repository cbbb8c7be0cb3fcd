"""More trials of the materials grid at one training size, and a paired comparison of the models.

At 100 training samples the spread between trials is as large as the differences between the
equivariant models (benchmarks/results/materials_paper: Mooney-Rivlin, EquivariantNet 5.1e-3 ± 1.0e-3,
Eig-DeepSets 4.3e-3 ± 2.0e-3 over 3 trials). This runs the `--paper` tasks of one size for more
trials, with the same seeds as `basis-compiler materials --paper` (trials 0-2 are that run's tasks,
bit for bit), and writes per law: each model's mean, standard deviation and standard error, and
for each baseline the per-trial difference EquivariantNet - baseline (trials share the data), with
a 95 % interval and how many trials EquivariantNet won. A measurement, not a test.

    python benchmarks/materials_trials.py --size 100 --trials 10 --out benchmarks/results/materials_paper_n100

Resumable: finished tasks are appended to OUT/results.jsonl (the runner's format) and skipped on a rerun.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

from basis_compiler.apps.materials.models import METHODS
from basis_compiler.apps.materials.report import LABELS
from basis_compiler.apps.materials.runner import PRESETS, load, record_problem, run_one
from basis_compiler.apps.results_file import RESULTS_FILE, append_record
from basis_compiler.files import write_text

OURS = "equivariant"
T_975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262,
         11: 2.228, 12: 2.201, 13: 2.179, 14: 2.160, 15: 2.145, 16: 2.131, 17: 2.120, 18: 2.110, 19: 2.101,
         20: 2.093}
"""Two-sided 95 % Student t quantiles by number of trials (degrees of freedom + 1); 1.96 beyond."""


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of its 95 % t interval."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, T_975.get(len(values), 1.96) * statistics.stdev(values) / math.sqrt(len(values))


def table(records: dict, size: int, trials: int) -> str:
    lines = []
    for law in PRESETS["paper"].laws:
        err = {m: [records[(law, size, m, t)]["test_error"] for t in range(trials)] for m in METHODS}
        lines += [f"## {law}, {size} training samples, {trials} trials", "",
                  "| model | mean | std | std error |", "|---|---:|---:|---:|"]
        for m in METHODS:
            lines.append(f"| {LABELS[m]} | {statistics.fmean(err[m]):.2e} | {statistics.stdev(err[m]):.1e} | "
                         f"{statistics.stdev(err[m]) / math.sqrt(trials):.1e} |")
        lines += ["", f"Paired: {LABELS[OURS]} minus each model, per trial (same data and test set).", "",
                  "| baseline | mean difference | 95 % interval | ratio of means | trials won |",
                  "|---|---:|---|---:|---:|"]
        for m in METHODS:
            if m == OURS:
                continue
            diff = [a - b for a, b in zip(err[OURS], err[m])]
            mean, half = interval(diff)
            won = sum(d < 0 for d in diff)
            lines.append(f"| {LABELS[m]} | {mean:+.1e} | [{mean - half:+.1e}, {mean + half:+.1e}] | "
                         f"{statistics.fmean(err[OURS]) / statistics.fmean(err[m]):.2f} | {won} of {trials} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=100, help="training size (one of the --paper sizes)")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--out", type=Path, required=True, help="folder for results.jsonl and trials.md")
    a = p.parse_args(argv)
    config = PRESETS["paper"]
    if a.size not in config.sizes or a.trials < 2:
        p.error(f"--size must be one of {config.sizes} and --trials at least 2, e.g. --size 100 --trials 10")
    path = a.out / RESULTS_FILE
    done = load(path, config.fingerprint())
    todo = [(law, a.size, m, t) for law in config.laws for t in range(a.trials) for m in METHODS]
    began = time.monotonic()
    for i, task in enumerate(todo, 1):
        if task not in done:
            done[task] = run_one(config, task)
            append_record(path, done[task], record_problem)
        print(f"materials_trials: {i}/{len(todo)} {task} test {done[task]['test_error']:.2e} "
              f"({time.monotonic() - began:.0f} s)", file=sys.stderr, flush=True)
    write_text(a.out / "trials.md", f"# Materials at {a.size} training samples: {a.trials} trials\n\n"
               f"Settings: the --paper configuration {config.settings()}.\n\n" + table(done, a.size, a.trials))
    print((a.out / "trials.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
