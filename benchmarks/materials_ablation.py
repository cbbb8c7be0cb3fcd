"""Widths of the equivariant materials models, compared on validation data.

Trains (a) Eig-MLP and (b) Eig-DeepSets at widths 16, 32 and 64, and (e) EquivariantNet at those
widths with and without its linear shortcut, on the `--paper` data and seeds of
`basis-compiler materials` (so (a) and (b) at width 64 and (e) at width 64 with the shortcut are that
run's tasks, bit for bit), at the given sizes and numbers of trials. Writes OUT/ablation.md: per law
and size, each variant's parameters, mean validation error and mean test error (± std); the lowest
validation error per model is bold. Choices are made on the validation column only; the test
column is shown so that the reader can see what the choice cost or gained. A measurement, not a test.

    python benchmarks/materials_ablation.py --sizes 100,1000 --trials 10,3 --out benchmarks/results/materials_ablation

Resumable: finished tasks are appended to OUT/results.jsonl and skipped on a rerun.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from basis_compiler.apps.materials.report import LABELS
from basis_compiler.apps.common import derive_seed_from_repr
from basis_compiler.apps.materials.runner import PRESETS
from basis_compiler.apps.materials.training import make_data, train_task
from basis_compiler.files import append_line, write_text

WIDTHS = (16, 32, 64)
VARIANTS = ([("eig_mlp", {"width": w}) for w in WIDTHS] + [("eig_deepsets", {"width": w}) for w in WIDTHS]
            + [("equivariant", {"width": w, "shortcut": s}) for s in (True, False) for w in WIDTHS])
"""(method, model options) pairs; the Voigt MLPs are left out (not equivariant, 5-20x behind)."""


def variant_name(method: str, options: dict) -> str:
    extra = "" if "shortcut" not in options else (", shortcut" if options["shortcut"] else ", no shortcut")
    return f"{LABELS[method]}, width {options['width']}{extra}"


def key(law, size, method, options, trial) -> str:
    return json.dumps([law, size, method, options, trial], sort_keys=True)


def table(records: dict, sizes_trials: list[tuple[int, int]]) -> str:
    config = PRESETS["paper"]
    lines = []
    for size, trials in sizes_trials:
        for law in config.laws:
            lines += [f"## {law}, {size} training samples, {trials} trials", "",
                      "| model | params | validation error | test error |", "|---|---:|---:|---:|"]
            rows = []
            for method, options in VARIANTS:
                rs = [records[key(law, size, method, options, t)] for t in range(trials)]
                val = statistics.fmean(r["val_error"] for r in rs)
                test = [r["test_error"] for r in rs]
                rows.append((method, options, rs[0]["parameters"], val, test))
            best = {m: min(v for mm, _, _, v, _ in rows if mm == m) for m, _, _, _, _ in rows}
            for method, options, params, val, test in rows:
                mark = "**" if val == best[method] else ""
                spread = f" ± {statistics.stdev(test):.1e}" if len(test) > 1 else ""
                lines.append(f"| {variant_name(method, options)} | {params:,} | {mark}{val:.2e}{mark} | "
                             f"{statistics.fmean(test):.2e}{spread} |")
            lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100,1000", help="training sizes, e.g. 100,1000")
    p.add_argument("--trials", default="10,3", help="trials per size, e.g. 10,3")
    p.add_argument("--out", type=Path, required=True, help="folder for results.jsonl and ablation.md")
    a = p.parse_args(argv)
    config = PRESETS["paper"]
    sizes, trials = ([int(x) for x in text.split(",")] for text in (a.sizes, a.trials))
    if len(sizes) != len(trials) or not set(sizes) <= set(config.sizes) or min(trials) < 1:
        p.error(f"--sizes must be among {config.sizes} with one --trials count >= 1 each, e.g. --sizes 100,1000 --trials 10,3")
    torch.set_num_threads(1)  # as the runner: results then equal its tasks' bit for bit
    path = a.out / "results.jsonl"
    done = {}
    if path.exists():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            try:  # a line cut by an interrupted write: its task runs again
                r = json.loads(line)
                done[key(r["law"], r["size"], r["method"], r["options"], r["trial"])] = r
            except (ValueError, KeyError, TypeError):
                print(f"materials_ablation: {path} line {number} is not a result; its task runs again", file=sys.stderr)
    todo = [(law, size, method, options, t) for size, n in zip(sizes, trials) for law in config.laws
            for t in range(n) for method, options in VARIANTS]
    data_key, data, began = None, None, time.monotonic()
    for i, (law, size, method, options, trial) in enumerate(todo, 1):
        k = key(law, size, method, options, trial)
        if k not in done:
            if data_key != (law, trial):
                data_key = (law, trial)
                data = make_data(law, config.n_train, config.n_val, config.n_test, derive_seed_from_repr(config.seed, law, trial))
            r = train_task(method, data, size, config.epochs, config.min_steps,
                           derive_seed_from_repr(config.seed, law, size, method, trial), model_options={method: options})
            done[k] = {"law": law, "size": size, "method": method, "options": options, "trial": trial, **r}
            append_line(path, json.dumps(done[k], sort_keys=True, allow_nan=False), parents=True)
        print(f"materials_ablation: {i}/{len(todo)} {law} n={size} {variant_name(method, options)} trial {trial}: "
              f"val {done[k]['val_error']:.2e} ({time.monotonic() - began:.0f} s)", file=sys.stderr, flush=True)
    write_text(a.out / "ablation.md", "# Materials: model widths compared on validation data\n\n"
               f"Data, seeds and training: the --paper configuration {config.settings()}.\n"
               "Bold: the lowest mean validation error of each model in that setting.\n\n"
               + table(done, list(zip(sizes, trials))))
    print((a.out / "ablation.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
