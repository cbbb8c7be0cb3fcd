"""The results file every application's runner keeps: one JSON line per finished task, appended
durably, checked on load.

Guarantees: a task's line is written whole with its newline and fsynced before the task counts
as done (files.append_line), so an interrupted run loses at most the tasks that were running.
Loading never trusts a line: each one must be a JSON object that passes the runner's record check
(often schema_problem with its schema). Lines that do not are moved (appended, never overwritten)
to REJECTED_FILE next to the results, with their line number and the reason, and reported on
stderr; their tasks simply run again. A valid line made with another configuration stops the run.
"""

from __future__ import annotations

import json
import math
import numbers
import sys
import time
from pathlib import Path
from typing import Callable, Hashable

from ..errors import DataError, OutputError
from ..files import append_line, write_text

RESULTS_FILE = "results.jsonl"
"""One JSON line per finished task, inside the output folder."""

REJECTED_FILE = "results.rejected.jsonl"
"""Lines of RESULTS_FILE that failed the record check, one JSON object each: file, line, reason, text, time."""

MAX_REPORTED = 10
"""Rejected lines named one by one on stderr; the rest are counted."""

Schema = dict[str, tuple[Callable[[object], bool], str, object]]
"""field -> (check, what it must be, an example value)."""


def one_of(values) -> tuple[Callable[[object], bool], str]:
    """A schema check (and its wording) for a string among `values`."""
    def check(x):
        return isinstance(x, str) and x in values
    return check, "one of " + ", ".join(values)


def is_real(x) -> bool:
    """A Python or NumPy number that is not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


COUNT = (lambda x: isinstance(x, numbers.Integral) and not isinstance(x, bool) and x >= 0, "an int >= 0")
"""Schema check and wording: an int >= 0 (a trial, an epoch, a parameter count)."""
NONNEGATIVE = (lambda x: is_real(x) and math.isfinite(x) and x >= 0, "a finite number >= 0")
"""Schema check and wording: a finite number >= 0 (seconds, an error)."""
CONFIG = (lambda x: isinstance(x, dict), "an object (the run's fingerprint)")
"""Schema check and wording: the configuration a record was made with."""


def schema_problem(record, schema: Schema) -> str | None:
    """Why `record` is not a JSON object with every field of `schema` passing its check (None when it is)."""
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    for name, (check, what, example) in schema.items():
        if name not in record:
            return f"missing field {name!r} (e.g. \"{name}\": {json.dumps(example)})"
        if not check(record[name]):
            return f"field {name!r} must be {what}, got {_short(record[name])} (e.g. \"{name}\": {json.dumps(example)})"
    return None


def append_record(path: Path, record: dict, problem: Callable[[object], str | None]) -> None:
    """Append one finished task, checked first: never save a line that loading would reject."""
    why = problem(record)
    if why:
        raise DataError(f"invalid task record: {why}")
    append_line(path, json.dumps(record, sort_keys=True, allow_nan=False), parents=True)


def clear_results(path: Path) -> None:
    """Empty the results file (--fresh); the rejected file is left alone."""
    write_text(path, "", parents=True, durable=True)


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _warn_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def config_difference(saved: dict, expected: dict) -> str:
    """The fields where a saved fingerprint and this run's differ, e.g. "n 50 there, 100 in this run"."""
    def shown(config, name):
        return repr(config[name]) if name in config else "unset"

    names = [k for k in {**saved, **expected} if (k in saved, saved.get(k)) != (k in expected, expected.get(k))]
    return "; ".join(f"{k} {shown(saved, k)} there, {shown(expected, k)} in this run" for k in names)


def load_results(
    path: Path,
    fingerprint: dict | Callable[[dict], dict],
    *,
    key: Callable[[dict], Hashable],
    problem: Callable[[object], str | None],
    warn: Callable[[str], None] = _warn_stderr,
    remedy: str = "Use another --out folder, or --fresh to discard the saved results",
) -> dict:
    """Valid saved records by task, in file order; bad lines are moved to REJECTED_FILE and reported.

    fingerprint is what every record's "config" must equal, or a function giving it for a record
    (a sweep's records each have their own). key (the task of a valid record) and problem (why a
    line is not a valid record, e.g. with schema_problem) are the runner's own.

    A bad line (not UTF-8, not JSON, not an object, a missing or ill-typed field, a non-finite
    accuracy, a repeated task) never stops the run: it is appended to the rejected file with its
    line number and reason, removed from the results file, and named through `warn` (stderr).
    DataError when a valid record was made with another configuration (n, sizes, epochs, seed...):
    mixing them would make a table of two experiments, so the user chooses; `remedy` says how
    (for a command without --fresh: "Use another --out folder").
    """
    path = Path(path)
    if not path.exists():
        return {}
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = raw.split(b"\n")
    records: dict[Hashable, dict] = {}
    where: dict[Hashable, int] = {}
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
            raise DataError(f"{path} line {number} holds a result made with another configuration "
                            f"({config_difference(record['config'], expected)}). {remedy}")
        records[task], where[task] = record, number
        kept.append(text)
    if rejected:
        _move_rejected(path, rejected, kept, warn)
    return records


def _parse(data: bytes, last: bool, problem) -> tuple[dict | None, str | None]:
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

