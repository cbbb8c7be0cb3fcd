"""The results file of a grid: one JSON line per finished task, appended durably, checked on load.

Guarantees: a task's line is written whole with its newline and fsynced before the task counts
as done (files.append_line), so an interrupted run loses at most the tasks that were running.
Loading never trusts a line: each one must be a JSON object that passes check_record. Lines that
do not are moved (appended, never overwritten) to REJECTED_FILE next to the results, with their
line number and the reason, and reported on stderr; their tasks simply run again.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Callable, Hashable

from ...errors import DataError, OutputError
from ...files import append_line, write_text
from .config import METHOD_NAMES, Task
from .data import COVARIANCES, SAMPLINGS, is_int

RESULTS_FILE = "results.jsonl"
"""One JSON line per finished task, inside the output folder."""

REJECTED_FILE = "results.rejected.jsonl"
"""Lines of RESULTS_FILE that failed check_record, one JSON object each: file, line, reason, text, time."""

MAX_REPORTED = 10
"""Rejected lines named one by one on stderr; the rest are counted."""

# Accuracies are means of squared cosines computed in float32: they may pass 1 by rounding.
_ACCURACY_SLACK = 1e-4


def _one_of(values):
    def check(x):
        return isinstance(x, str) and x in values
    return check, "one of " + ", ".join(values)


def _count(x) -> bool:
    return is_int(x) and x >= 0


def _accuracy(x) -> bool:
    return _real(x) and math.isfinite(x) and 0 <= x <= 1 + _ACCURACY_SLACK


def _seconds(x) -> bool:
    return _real(x) and math.isfinite(x) and x >= 0


def _real(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_COUNT = (_count, "an int >= 0")
_ACC = (_accuracy, "a finite number in [0, 1]")

RECORD_SCHEMA: dict[str, tuple[Callable[[object], bool], str, object]] = {
    "sampling": (*_one_of(SAMPLINGS), "BG"),
    "covariance": (*_one_of(COVARIANCES), "random"),
    "method": (*_one_of(METHOD_NAMES), "svh"),
    "trial": (*_COUNT, 0),
    "train_accuracy": (*_ACC, 0.93),
    "val_accuracy": (*_ACC, 0.92),
    "test_accuracy": (*_ACC, 0.91),
    "epochs": (*_COUNT, 40),
    "best_epoch": (*_COUNT, 30),
    "steps": (*_COUNT, 800),
    "skipped_steps": (*_COUNT, 0),
    "parameters": (*_COUNT, 58981),
    "seconds": (_seconds, "a finite number >= 0", 12.5),
    "config": (lambda x: isinstance(x, dict), "an object (the grid's fingerprint)", {"n": 100}),
}
"""What grid.run_task writes: field -> (check, what it must be, an example value)."""


def record_problem(record) -> str | None:
    """Why `record` is not a valid task record (None when it is); see RECORD_SCHEMA."""
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    for name, (check, what, example) in RECORD_SCHEMA.items():
        if name not in record:
            return f"missing field {name!r} (e.g. \"{name}\": {json.dumps(example)})"
        if not check(record[name]):
            return f"field {name!r} must be {what}, got {_short(record[name])} (e.g. \"{name}\": {json.dumps(example)})"
    return None


def check_record(record) -> None:
    """DataError unless `record` is a valid task record (every RECORD_SCHEMA field, right type, finite)."""
    problem = record_problem(record)
    if problem:
        raise DataError(f"invalid task record: {problem}")


def task_key(record: dict) -> Task:
    """The grid task a (valid) record belongs to."""
    return Task(record["sampling"], record["covariance"], record["method"], record["trial"])


def append_result(path: Path, record: dict) -> None:
    """Append one finished task (checked first: never save a line that loading would reject)."""
    check_record(record)
    append_line(path, json.dumps(record, sort_keys=True, allow_nan=False), parents=True)


def clear_results(path: Path) -> None:
    """Empty the results file (--fresh); the rejected file is left alone."""
    write_text(path, "", parents=True, durable=True)


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _warn_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_results(
    path: Path,
    fingerprint: dict | Callable[[dict], dict],
    warn: Callable[[str], None] = _warn_stderr,
    *,
    key: Callable[[dict], Hashable] = task_key,
    problem: Callable[[object], str | None] = record_problem,
) -> dict:
    """Valid saved records by task, in file order; bad lines are moved to REJECTED_FILE and reported.

    fingerprint is what every record's "config" must equal, or a function giving it for a record
    (a sweep's records each have their own). key (the task of a valid record) and problem (why a
    line is not a valid record, see record_problem) let other runners share this file convention.

    A bad line (not UTF-8, not JSON, not an object, a missing or ill-typed field, a non-finite
    accuracy, a repeated task) never stops the run: it is appended to the rejected file with its
    line number and reason, removed from the results file, and named through `warn` (stderr).
    DataError when a valid record was made with another configuration (n, sizes, epochs, seed...):
    mixing them would make a table of two experiments, so the user chooses (--out or --fresh).
    """
    path = Path(path)
    if not path.exists():
        return {}
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = raw.split(b"\n")
    records: dict[Task, dict] = {}
    where: dict[Task, int] = {}
    kept: list[str] = []
    rejected: list[tuple[int, str, str]] = []
    for number, data in enumerate(lines, 1):
        if not data.strip():
            continue  # blank lines hold nothing
        text = data.decode("utf-8", errors="backslashreplace")
        record, reason = _parse(data, last=number == len(lines), problem=problem)
        if reason is None:
            task = key(record)
            if task in records:
                name = getattr(task, "label", task)
                reason = f"task {name} repeats line {where[task]} (the first one is kept)"
        if reason is not None:
            rejected.append((number, reason, text))
            continue
        expected = fingerprint(record) if callable(fingerprint) else fingerprint
        if record["config"] != expected:
            raise DataError(
                f"{path} line {number} holds a result made with another configuration ({record['config']}); this "
                f"run uses {expected}. Use another --out folder, or --fresh to discard the saved results"
            )
        records[task], where[task] = record, number
        kept.append(text)
    if rejected:
        _move_rejected(path, rejected, kept, warn)
    return records


def _parse(data: bytes, last: bool, problem=record_problem) -> tuple[dict | None, str | None]:
    """(record, None) for a valid line, (None, reason) otherwise; `last`: the file's unterminated end."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start + 1})"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = " (the unterminated last line: an interrupted write?)" if last else ""
        return None, f"not JSON: {exc.msg} at column {exc.colno}{cut}"
    except RecursionError:
        return None, "not JSON: nested too deeply"
    why = problem(record)
    return (None, why) if why else (record, None)


def _move_rejected(path: Path, rejected, kept: list[str], warn) -> None:
    # The rejected lines are saved durably before the results file loses them: a crash in between
    # repeats them in the rejected file at worst, never loses them.
    side = path.with_name(REJECTED_FILE)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for number, reason, text in rejected:
        entry = {"file": path.name, "line": number, "reason": reason, "text": text, "time": stamp}
        append_line(side, json.dumps(entry, ensure_ascii=False), parents=True)
    write_text(path, "".join(line + "\n" for line in kept), parents=True, durable=True)
    for number, reason, _ in rejected[:MAX_REPORTED]:
        warn(f"basis-compiler: {path} line {number} skipped: {reason}")
    if len(rejected) > MAX_REPORTED:
        warn(f"basis-compiler: ... and {len(rejected) - MAX_REPORTED} more bad line(s)")
    warn(f"basis-compiler: moved {len(rejected)} bad line(s) of {path} to {side}; their tasks will run again")
