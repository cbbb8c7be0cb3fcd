"""The materials grid: laws × training sizes × methods × trials, resumable and parallel.

A task's result depends only on the configuration and the task (seeds derive from them, one
torch thread per task), so parallel runs equal serial ones. Each finished task is appended at
once to OUT/results.jsonl as one whole fsynced line with the configuration it was made with
(the shared convention of apps/results_file.py); a rerun with the same --out skips saved tasks.
A line that does not parse or fails RECORD_SCHEMA is moved to results.rejected.jsonl, named on
stderr, and its task runs again; a line made with another configuration stops the run (choose
another --out). Progress: one line per finished task on stderr.
"""

from __future__ import annotations

import copy
import multiprocessing
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ...errors import DataError
from ..common import derive_seed_from_repr
from ..results_file import (CONFIG, COUNT, NONNEGATIVE, RESULTS_FILE, Schema, append_record, load_results, one_of,
                            schema_problem)
from .laws import LAWS
from .models import METHODS, MODEL_OPTIONS
from .report import write_reports
from .training import make_data, train_task



@dataclass(frozen=True)
class Config:
    laws: tuple[str, ...] = LAWS
    sizes: tuple[int, ...] = (100, 1000, 20000)
    methods: tuple[str, ...] = METHODS
    trials: int = 3
    n_val: int = 4000
    n_test: int = 4000
    epochs: int = 30
    min_steps: int = 20
    optimizer: str = "lbfgs"
    loss: str = "relative"
    seed: int = 0
    model_options: dict = field(default_factory=lambda: copy.deepcopy(MODEL_OPTIONS), hash=False)
    """method -> its constructor options (widths; EquivariantNet's shortcut)."""

    def recipe(self) -> dict:
        """The training keywords of train_task that come from the configuration."""
        return {"optimizer": self.optimizer, "loss": self.loss, "model_options": self.model_options}

    @property
    def n_train(self) -> int:
        return max(self.sizes)

    def settings(self) -> dict:
        """Every field, as the reports print them."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def fingerprint(self) -> dict:
        """What saved results must share with this run to be reused: every field but the number of
        trials (a task's result does not depend on it), so `--trials 3` resumes a 1-trial run."""
        return {k: v for k, v in self.settings().items() if k != "trials"}


PRESETS = {
    "quick": Config(sizes=(100, 1000), trials=1, n_val=1000, n_test=1000, epochs=30, min_steps=20),
    "paper": Config(),
}


def preset(name: str, **overrides) -> Config:
    if name not in PRESETS:
        raise DataError(f"unknown preset {name!r}; use quick or paper, e.g. basis-compiler materials --quick")
    return Config(**{**asdict(PRESETS[name]), **{k: v for k, v in overrides.items() if v is not None}})


def tasks(config: Config) -> list[tuple]:
    # the largest sizes first, so a parallel run does not end waiting on one long task
    return [(law, size, method, trial) for size in sorted(config.sizes, reverse=True) for law in config.laws
            for trial in range(config.trials) for method in config.methods]


RECORD_SCHEMA: Schema = {
    "law": (*one_of(LAWS), "neo_hookean"),
    "size": (*COUNT, 1000),
    "method": (*one_of(METHODS), "equivariant"),
    "trial": (*COUNT, 0),
    "test_error": (*NONNEGATIVE, 1e-3),
    "rotated_error": (*NONNEGATIVE, 1e-3),
    "val_error": (*NONNEGATIVE, 1e-3),
    "parameters": (*COUNT, 1347),
    "seconds": (*NONNEGATIVE, 2.5),
    "config": (*CONFIG, {"epochs": 30}),
}
"""What run_one writes (besides best_epoch): field -> (check, what it must be, an example value)."""


def record_problem(record) -> str | None:
    """Why `record` is not a valid task record (None when it is); see RECORD_SCHEMA."""
    return schema_problem(record, RECORD_SCHEMA)


def task_key(record: dict) -> tuple:
    return (record["law"], record["size"], record["method"], record["trial"])


def load(path: Path, fingerprint: dict) -> dict[tuple, dict]:
    """Saved valid records by task (results_file.load_results: bad lines moved aside and rerun, a
    record of another configuration refused). Every field but the number of trials must match, and
    records saved before the fingerprint left out the trials (their config holds them) still do."""
    def expected(record):
        return {**fingerprint, **{k: v for k, v in record["config"].items() if k == "trials"}}
    return load_results(path, expected, key=task_key, problem=record_problem, remedy="Use another --out folder")


_DATA: dict = {}


def run_one(config: Config, task: tuple) -> dict:
    torch.set_num_threads(1)
    law, size, method, trial = task
    # the data of a (law, trial) are shared by all its tasks in this process; the key also holds what
    # the data depend on in the configuration (a later run in the same process may use other sizes)
    key = (law, trial, config.n_train, config.n_val, config.n_test, config.seed)
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = make_data(law, config.n_train, config.n_val, config.n_test, derive_seed_from_repr(config.seed, law, trial))
    result = train_task(method, _DATA[key], size, config.epochs, config.min_steps,
                        derive_seed_from_repr(config.seed, law, size, method, trial), **config.recipe())
    return {"law": law, "size": size, "method": method, "trial": trial, **result, "config": config.fingerprint()}


def _star(args):
    return run_one(*args)


def run(config: Config, out: Path, workers: int = 1) -> list[dict]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS_FILE
    done = load(path, config.fingerprint())
    pending = [t for t in tasks(config) if t not in done]
    total, began = len(tasks(config)), time.monotonic()
    print(f"materials: {len(done)} of {total} tasks saved in {path}, {len(pending)} to run with {workers} worker(s)",
          file=sys.stderr, flush=True)

    def finish(record):
        append_record(path, record, record_problem)
        done[task_key(record)] = record
        print(f"materials: {len(done)}/{total} {record['law']} n={record['size']} {record['method']} "
              f"trial {record['trial']}: test {record['test_error']:.2e}, rotated {record['rotated_error']:.2e} "
              f"({time.monotonic() - began:.0f} s)", file=sys.stderr, flush=True)

    if workers > 1 and pending:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for record in pool.imap_unordered(_star, [(config, t) for t in pending]):
                finish(record)
    else:
        for t in pending:
            finish(run_one(config, t))
    records = [done[t] for t in tasks(config)]
    write_reports(config, records, out, seconds=time.monotonic() - began if pending else None)
    return records
