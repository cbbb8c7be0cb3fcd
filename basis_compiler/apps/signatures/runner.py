"""The signatures grid: groups x training sizes x methods x trials, resumable.

A task's result depends only on the configuration and the task: the curves and random frames
come from (seed, group, trial), the model's initialization and shuffling from (seed, group,
size, method, trial), and tasks run with one torch thread. Each finished task is appended at
once to OUT/results.jsonl as one whole fsynced line (the shared results-file convention,
apps/results_file.py): an interrupted run keeps every finished task, a rerun
with the same OUT runs only the missing ones, unreadable lines are moved aside and rerun, and a
line made with another configuration stops the run. Each invocation adds a line to
OUT/runs.jsonl (wall time, torch version, git commit); the report is rewritten at the end.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ...errors import DataError, OutputError
from ...files import append_line
from ..common import derive_seed, git_commit
from ..results_file import (CONFIG, COUNT, NONNEGATIVE, RESULTS_FILE, Schema, append_record, clear_results, load_results,
                            one_of, schema_problem)
from .config import METHODS, Config, Task, group_dim
from .report import write_reports

RUNS_FILE = "runs.jsonl"
TASK_THREADS = 1
"""Torch threads per task: fixed, because results depend on the order of float reductions."""

PLAIN_INTERVAL = 30.0
"""Seconds between epoch lines of a running task on stderr (finished tasks always print)."""


def _errors(x) -> bool:
    return isinstance(x, list) and bool(x) and all(NONNEGATIVE[0](e) for e in x)


RECORD_SCHEMA: Schema = {
    "group": (lambda x: isinstance(x, str), "a group name", "O(3)"),
    "size": (*COUNT, 1000),
    "method": (*one_of(METHODS), "equivariant"),
    "trial": (*COUNT, 0),
    "test_error": (_errors, "a list of finite numbers >= 0, one per level", [0.001, 0.003, 0.008]),
    "frame_error": (_errors, "a list of finite numbers >= 0, one per level", [0.001, 0.003, 0.008]),
    "val_error": (_errors, "a list of finite numbers >= 0, one per level", [0.001, 0.003, 0.008]),
    "epochs": (*COUNT, 60),
    "best_epoch": (*COUNT, 58),
    "parameters": (*COUNT, 215425),
    "seconds": (*NONNEGATIVE, 12.5),
    "config": (*CONFIG, {"steps": 10}),
}


def record_problem(record) -> str | None:
    """Why `record` is not a valid task record (None when it is)."""
    return schema_problem(record, RECORD_SCHEMA)


def task_key(record: dict) -> Task:
    return Task(record["group"], record["size"], record["method"], record["trial"])


_DATA: dict = {}


def run_task(config: Config, task: Task, progress: Callable[[int, float], None] | None = None) -> dict:
    """Train and evaluate one task with TASK_THREADS threads; its results record."""
    from .models import build_model, parameter_count
    from .training import make_data, run_method

    threads = torch.get_num_threads()
    torch.set_num_threads(TASK_THREADS)
    try:
        key = (config, task.group, task.trial)
        if key not in _DATA:  # one (group, trial)'s curves serve all its sizes and methods
            _DATA.clear()
            _DATA[key] = make_data(config, task.group, task.trial)
        seed = derive_seed(config.seed, "model", task.group, task.size, task.method, task.trial)
        torch.manual_seed(seed)
        model = build_model(task.method, group_dim(task.group), task.group, config.steps, config.depth, config.hidden)
        result = run_method(task.method, model, _DATA[key], task.size, config, seed, progress)
    finally:
        torch.set_num_threads(threads)
    return {**task._asdict(), **result, "parameters": parameter_count(model), "config": config.fingerprint()}


@dataclass
class Run:
    config: Config
    records: list[dict]
    ran: int
    reused: int
    remaining: int
    seconds: float
    paths: dict[str, Path] = field(default_factory=dict)


def run_grid(config: Config, out: Path | str, max_tasks: int | None = None, fresh: bool = False,
             progress: bool = True, command: str = "") -> Run:
    """Run the missing tasks (resuming OUT/results.jsonl), then write the tables and figure."""
    config.validate()
    if max_tasks is not None and (isinstance(max_tasks, bool) or not isinstance(max_tasks, int) or max_tasks < 0):
        raise DataError(f"max_tasks must be an int >= 0 or None, got {max_tasks!r}; e.g. max_tasks=4 (0 only writes "
                        "the tables of the saved results)")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    results_path = out / RESULTS_FILE
    if fresh and results_path.exists():
        clear_results(results_path)
    saved = load_results(results_path, config.fingerprint(), key=task_key, problem=record_problem)
    tasks = config.tasks()
    # cheap tasks first, then by group and trial, so each (group, trial)'s curves are drawn once
    pending = [t for t in tasks if t not in saved]
    pending.sort(key=lambda t: (t.group, t.trial, t.size, t.method))
    reused = len(tasks) - len(pending)
    if max_tasks is not None:
        pending = pending[:max_tasks]
    began = time.perf_counter()
    say = _Say(progress)
    say(f"signatures: {reused} of {len(tasks)} tasks saved in {results_path}, {len(pending)} to run")
    for number, task in enumerate(pending, 1):
        record = run_task(config, task, say.epoch_reporter(task.label))
        append_record(results_path, record, record_problem)
        saved[task] = record
        errors = ", ".join(f"{e:.2e}" for e in record["test_error"])
        say(f"signatures: {number}/{len(pending)} {task.label}: test {errors} ({time.perf_counter() - began:.0f} s)")
    seconds = time.perf_counter() - began
    records = [saved[t] for t in tasks if t in saved]
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(seconds, 1), "ran": len(pending),
             "reused": reused, "torch": torch.__version__, "git": git_commit(), "command": command,
             "threads_per_task": TASK_THREADS}
    append_line(out / RUNS_FILE, json.dumps(entry, sort_keys=True), parents=True)
    run = Run(config, records, len(pending), reused, len(tasks) - len(records), seconds,
              {"results": results_path, "runs": out / RUNS_FILE})
    run.paths.update(write_reports(config, records, out, runs=_read_runs(out / RUNS_FILE)))
    return run


def _read_runs(path: Path) -> list[dict]:
    runs = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn line costs only its run's line in the report's environment section
        if isinstance(entry, dict):
            runs.append(entry)
    return runs


class _Say:
    """Progress on stderr: a line per finished task, and a running task's epoch every PLAIN_INTERVAL s."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, text: str) -> None:
        if self.enabled:
            print(text, file=sys.stderr, flush=True)

    def epoch_reporter(self, label: str) -> Callable[[int, float], None] | None:
        if not self.enabled:
            return None
        last = [time.monotonic()]

        def report(epoch: int, val: float) -> None:
            now = time.monotonic()
            if now - last[0] >= PLAIN_INTERVAL:
                last[0] = now
                self(f"signatures:   {label} epoch {epoch}, validation error {val:.3e}")
        return report
