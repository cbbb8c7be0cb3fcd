"""The recovery grid's task records: their schema, their key, and saving and loading them with
the shared results-file convention (apps/results_file.py: durable appends, bad lines moved aside,
a result of another configuration refused).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from ..results_file import (CONFIG, COUNT, NONNEGATIVE, Schema, append_record, is_real, load_results, one_of,
                            schema_problem)
from .config import METHOD_NAMES, Task
from .data import COVARIANCES, SAMPLINGS

# Accuracies are means of squared cosines computed in float32: they may pass 1 by rounding.
_ACCURACY_SLACK = 1e-4


def _accuracy(x) -> bool:
    return is_real(x) and math.isfinite(x) and 0 <= x <= 1 + _ACCURACY_SLACK


_ACC = (_accuracy, "a finite number in [0, 1]")

RECORD_SCHEMA: Schema = {
    "sampling": (*one_of(SAMPLINGS), "BG"),
    "covariance": (*one_of(COVARIANCES), "random"),
    "method": (*one_of(METHOD_NAMES), "svh"),
    "trial": (*COUNT, 0),
    "train_accuracy": (*_ACC, 0.93),
    "val_accuracy": (*_ACC, 0.92),
    "test_accuracy": (*_ACC, 0.91),
    "epochs": (*COUNT, 40),
    "best_epoch": (*COUNT, 30),
    "steps": (*COUNT, 800),
    "skipped_steps": (*COUNT, 0),
    "parameters": (*COUNT, 58981),
    "seconds": (*NONNEGATIVE, 12.5),
    "config": (*CONFIG, {"n": 100}),
}
"""What grid.run_task writes: field -> (check, what it must be, an example value)."""


def record_problem(record) -> str | None:
    """Why `record` is not a valid task record (None when it is); see RECORD_SCHEMA."""
    return schema_problem(record, RECORD_SCHEMA)


def task_key(record: dict) -> Task:
    """The grid task a (valid) record belongs to."""
    return Task(record["sampling"], record["covariance"], record["method"], record["trial"])


def append_result(path: Path, record: dict) -> None:
    """Append one finished task (checked first: never save a line that loading would reject)."""
    append_record(path, record, record_problem)


def load_grid_results(path: Path, fingerprint: dict, warn: Callable[[str], None] | None = None) -> dict[Task, dict]:
    """The grid's valid saved records by task (results_file.load_results with this schema)."""
    extra = {} if warn is None else {"warn": warn}
    return load_results(path, fingerprint, key=task_key, problem=record_problem, **extra)
