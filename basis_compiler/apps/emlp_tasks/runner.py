"""The EMLP-task grid: tasks × training sizes × models × trials, resumable, with reports.

Seeds derive from (seed, task, trial) for the data and (seed, task, size, model, trial) for
training, one torch thread per process, so parallel runs equal serial ones. Each finished run is
appended to OUT/results.jsonl with its configuration; a rerun with the same OUT skips them.
OUT/emlp_tasks.{md,csv,png} hold the tables (mean ± std of test MSE over trials, parameters,
seconds, the ratio MLP / EquivariantNet and the goal check: ≥ 10x at every size) and the plot;
the Markdown records the settings, torch version, git commit and wall time.

With both equivariant models in the grid (EquivariantNet and SparsePolynomial) the tables add
"equivariant, chosen by validation": per trial, the one of the two with the lower validation MSE
(test data play no part), and the goal is checked for it as well as for EquivariantNet alone.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ...errors import DataError
from ...files import write_text
from ..common import derive_seed_from_repr, git_commit, invocation_time
from ..results_file import (CONFIG, COUNT, NONNEGATIVE, RESULTS_FILE, Schema, append_record, load_results, one_of,
                            schema_problem)
from .data import TASKS, task
from .training import MODELS, train_task

LABELS = {"equivariant": "EquivariantNet", "polynomial": "SparsePolynomial", "mlp": "plain MLP",
          "chosen": "chosen by validation"}
CANDIDATES = ("equivariant", "polynomial")
"""The equivariant models the validation choice picks from."""


@dataclass(frozen=True)
class Config:
    tasks: tuple[str, ...] = tuple(TASKS)
    sizes: tuple[int, ...] = (30, 300, 3000)
    models: tuple[str, ...] = MODELS
    trials: int = 3
    n_val: int = 1000
    n_test: int = 2000
    epochs: int = 10
    steps: int = 20
    weight_decays: tuple[float, ...] = (0.0, 0.01, 0.1)
    seed: int = 0

    def fingerprint(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


PRESETS = {
    "quick": Config(sizes=(30, 300, 3000)),
    "paper": Config(sizes=(30, 100, 300, 1000, 3000, 10000), epochs=15),
    "tiny": Config(sizes=(20,), trials=1, n_val=20, n_test=20, epochs=1, steps=2),
}


def preset(name: str, **overrides) -> Config:
    if name not in PRESETS:
        raise DataError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}, e.g. --preset quick")
    return Config(**{**asdict(PRESETS[name]), **{k: v for k, v in overrides.items() if v is not None}})


def grid(config: Config) -> list[tuple]:
    return [(name, size, model, trial) for size in sorted(config.sizes, reverse=True) for name in config.tasks
            for trial in range(config.trials) for model in config.models]


def make_data(config: Config, name: str, trial: int) -> dict:
    g = torch.Generator().manual_seed(derive_seed_from_repr(config.seed, name, trial))
    draw = task(name).draw
    return {split: draw(n, g) for split, n in (("train", max(config.sizes)), ("val", config.n_val),
                                                 ("test", config.n_test))}


_DATA: dict = {}


def run_one(config: Config, item: tuple) -> dict:
    torch.set_num_threads(1)
    name, size, model, trial = item
    key = (name, trial, max(config.sizes), config.n_val, config.n_test, config.seed)  # what the data depend on
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = make_data(config, name, trial)
    result = train_task(model, task(name), _DATA[key], size, config.epochs, config.steps,
                        derive_seed_from_repr(config.seed, name, size, model, trial), weight_decays=tuple(config.weight_decays))
    return {"task": name, "size": size, "model": model, "trial": trial, **result, "config": config.fingerprint()}


def _star(args):
    return run_one(*args)


RECORD_SCHEMA: Schema = {
    "task": (*one_of(TASKS), "Inertia"),
    "size": (*COUNT, 300),
    "model": (*one_of(MODELS), "equivariant"),
    "trial": (*COUNT, 0),
    "test_mse": (*NONNEGATIVE, 1e-3),
    "val_mse": (*NONNEGATIVE, 1e-3),
    "parameters": (*COUNT, 236),
    "seconds": (*NONNEGATIVE, 2.5),
    "config": (*CONFIG, {"epochs": 100}),
}
"""What run_one writes (among other fields): field -> (check, what it must be, an example value)."""


def record_problem(record) -> str | None:
    """Why `record` is not a valid run record (None when it is); see RECORD_SCHEMA."""
    return schema_problem(record, RECORD_SCHEMA)


def run_key(record: dict) -> tuple:
    return (record["task"], record["size"], record["model"], record["trial"])


def load(path: Path, fingerprint: dict) -> dict:
    """Saved valid records by run (results_file.load_results: bad lines moved aside and rerun, a
    record of another configuration refused)."""
    return load_results(path, fingerprint, key=run_key, problem=record_problem, remedy="Use another --out folder")


def run(config: Config, out: Path, workers: int = 1) -> list[dict]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS_FILE
    done = load(path, config.fingerprint())
    items = grid(config)
    pending = [i for i in items if i not in done]
    began = time.monotonic()
    print(f"emlp_tasks: {len(done)} of {len(items)} runs saved, {len(pending)} to run with {workers} worker(s)",
          file=sys.stderr, flush=True)

    def finish(r):
        append_record(path, r, record_problem)
        done[run_key(r)] = r
        print(f"emlp_tasks: {len(done)}/{len(items)} {r['task']} n={r['size']} {r['model']} trial {r['trial']}: "
              f"test MSE {r['test_mse']:.3g} ({time.monotonic() - began:.0f} s)", file=sys.stderr, flush=True)

    if workers > 1 and pending:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for r in pool.imap_unordered(_star, [(config, i) for i in pending]):
                finish(r)
    else:
        for i in pending:
            finish(run_one(config, i))
    records = [done[i] for i in items]
    write_reports(config, records, out, time.monotonic() - began if pending else None, workers)
    return records


def with_choice(records: list[dict]) -> list[dict]:
    """The records plus, per (task, size, trial) where every candidate ran, a "chosen" record:
    the candidate with the lowest validation MSE (the first listed on ties), `chose` naming it."""
    runs = {(r["task"], r["size"], r["trial"], r["model"]): r for r in records}
    chosen = []
    for (name, size, trial) in dict.fromkeys((r["task"], r["size"], r["trial"]) for r in records):
        candidates = [runs.get((name, size, trial, m)) for m in CANDIDATES]
        if all(candidates):
            best = min(candidates, key=lambda r: r["val_mse"])
            chosen.append({**best, "model": "chosen", "chose": best["model"]})
    return records + chosen


def summarize(records: list[dict]) -> dict:
    cells: dict = {}
    for r in with_choice(records):
        cells.setdefault((r["task"], r["size"], r["model"]), []).append(r)

    def ms(rs, field):
        xs = [r[field] for r in rs]
        return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)

    return {k: {"test": ms(rs, "test_mse"), "relative": ms(rs, "test_relative_mse"), "seconds": ms(rs, "seconds"),
                "parameters": rs[0]["parameters"], "trials": len(rs), "chose": [r.get("chose") for r in rs]}
            for k, rs in cells.items()}


def goal(config: Config, cells: dict, model: str = "equivariant") -> dict[str, bool]:
    """Per task: MLP test MSE ≥ 10 x `model`'s (means over trials) at every size."""
    return {name: all((name, s, "mlp") in cells and (name, s, model) in cells
                      and cells[(name, s, "mlp")]["test"][0] >= 10 * cells[(name, s, model)]["test"][0]
                      for s in config.sizes) for name in config.tasks}


def markdown(config: Config, records: list[dict], seconds: float | None, workers: int) -> str:
    cells = summarize(records)
    lines = [f"# EMLP tasks: test MSE (mean ± std over {config.trials} trials)", "",
             f"Settings: {config.fingerprint()}; torch {torch.__version__}, git commit {git_commit()}, "
             f"{workers} worker(s) x 1 torch thread, {invocation_time(seconds)}.", "",
             "| task | n train | model | params | test MSE | relative MSE | train s | MLP / this |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    rows = [*config.models, "chosen"]
    for name in config.tasks:
        for size in config.sizes:
            mlp = cells.get((name, size, "mlp"))
            for model in rows:
                c = cells.get((name, size, model))
                if not c:
                    continue
                ratio = f"{mlp['test'][0] / c['test'][0]:.2g}x" if mlp and model != "mlp" and c["test"][0] > 0 else ""
                label = LABELS[model]
                if model == "chosen":  # which model each trial's validation picked, e.g. "EquivariantNet x3"
                    picks = [LABELS[m] for m in c["chose"]]
                    label += ": " + ", ".join(f"{m} x{picks.count(m)}" for m in dict.fromkeys(picks))
                params = f"{c['parameters']:,}" if model != "chosen" else ""
                lines.append(f"| {name} | {size} | {label} | {params} | {c['test'][0]:.2e} ± "
                             f"{c['test'][1]:.1e} | {c['relative'][0]:.1e} | {c['seconds'][0]:.1f} | {ratio} |")
    lines += ["", "SparsePolynomial's params are its basis terms (coefficients of the generated polynomial layer); "
              "the chosen row's time is that of the chosen model's fit only."]
    checked = [m for m in ("equivariant", "polynomial", "chosen") if any(k[2] == m for k in cells)]
    lines += ["", "Goal (test MSE at least 10x below the plain MLP's at every size):"]
    lines += [f"- {LABELS[m]}: " + ", ".join(f"{n} **{'met' if ok else 'not met'}**"
                                             for n, ok in goal(config, cells, m).items()) for m in checked]
    return "\n".join(lines) + "\n"


def table_csv(config: Config, records: list[dict]) -> str:
    cells = summarize(records)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", "size", "model", "parameters", "test_mse_mean", "test_mse_std", "relative_mse_mean",
                "seconds_mean", "trials", "chose"])
    for (name, size, model), c in sorted(cells.items()):
        w.writerow([name, size, model, c["parameters"], f"{c['test'][0]:.6g}", f"{c['test'][1]:.6g}",
                    f"{c['relative'][0]:.6g}", f"{c['seconds'][0]:.3g}", c["trials"],
                    ";".join(m for m in c["chose"] if m)])
    return buf.getvalue()


def plot(config: Config, records: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = summarize(records)
    fig, axes = plt.subplots(1, len(config.tasks), figsize=(4.5 * len(config.tasks), 3.8), squeeze=False)
    for ax, name in zip(axes[0], config.tasks):
        for model, style in (("equivariant", "-o"), ("polynomial", "-^"), ("mlp", "--s")):
            pts = [(s, cells[(name, s, model)]["test"]) for s in config.sizes if (name, s, model) in cells]
            if pts:
                ax.errorbar([p[0] for p in pts], [p[1][0] for p in pts], yerr=[p[1][1] for p in pts], fmt=style,
                            capsize=3, label=LABELS[model])
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlabel("training samples"), ax.set_ylabel("test MSE"), ax.set_title(name)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_reports(config: Config, records: list[dict], out: Path, seconds: float | None,
                  workers: int) -> dict[str, Path]:
    paths = {ext: Path(out) / f"emlp_tasks.{ext}" for ext in ("md", "csv", "png")}
    write_text(paths["md"], markdown(config, records, seconds, workers))
    write_text(paths["csv"], table_csv(config, records))
    plot(config, records, paths["png"])
    return paths
