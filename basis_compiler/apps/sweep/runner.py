"""Run a sweep: every (point, task) once, resumable through OUT/results.jsonl, on any backend.

The results file follows recover's convention (recovery/results.py): one JSON line per finished
task, appended whole and fsynced before the task counts as done, checked on load (bad lines are
moved to results.rejected.jsonl and run again), and a line made with another configuration
stops the run with a message rather than mixing two experiments. A sweep record is the
application's record plus "point" (the swept values, e.g. {"eps": 0.1}) and "device". Each driver
run also appends one line to OUT/runs.jsonl (start, wall time, tasks run, backend, device, torch
version, git commit), written even when the run is interrupted, so the reports can give the total
wall time of a sweep that was resumed.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DataError, OutputError
from ...files import append_line
from ..recovery.grid import check_run_options, default_workers
from ..common import git_commit
from ..recovery.progress import Progress
from ..results_file import RESULTS_FILE, clear_results, load_results
from . import backends
from .apps import SweepApp
from .spec import check_params, point_text, points

RUNS_FILE = "runs.jsonl"
"""One line per driver run of a sweep (see the module docstring)."""

FAILED_FILE = "failed.jsonl"
"""Tasks that raised a DataError (e.g. data that cannot be drawn at this point): one JSON line each with
the point, the task, the configuration and the reason. Such a failure is deterministic (same
configuration and task, same data), so a resumed run does not retry it; --fresh does."""

SWEEP_FIELDS = ("point", "device")
"""What a sweep adds to the application's record."""


@dataclass(frozen=True)
class Sweep:
    """An application, its base configuration and the swept parameters."""

    app: SweepApp
    base: object
    """The preset with the command line's overrides."""
    params: dict[str, tuple]
    """Swept parameter -> values (the first one is the phase diagrams' x axis)."""

    def config(self, point: dict):
        """The configuration of one point (the base with the swept fields replaced)."""
        unknown = [k for k in point if k not in self.app.sweepable]
        if unknown:
            raise DataError(f"{self.app.name} cannot sweep {unknown[0]!r}; sweepable: {', '.join(self.app.sweepable)}")
        return self.app.apply(self.base, point)

    def plan(self) -> tuple[list[tuple[dict, object, object]], list[tuple[dict, str, str]]]:
        """([(point, config, task)] in table order, [(point, setting, why it cannot run)]).

        DataError when a point has no task at all (e.g. eps=2): a typo, not a phase boundary.
        """
        check_params(self.params, self.app.sweepable, self.app.name)
        items, skipped = [], []
        for point in points(self.params):
            config = self.config(point)
            try:
                tasks, ruled_out = self.app.plan(config)
            except DataError as exc:
                raise DataError(f"point {point_text(point)}: {exc}") from None
            items += [(point, config, task) for task in tasks]
            skipped += [(point, what, why) for what, why in ruled_out]
        return items, skipped

    def key(self, point: dict, task) -> tuple:
        return (tuple(point.items()), task)

    def record_key(self, record: dict) -> tuple:
        return (tuple(record["point"].items()), self.app.task_key(record))

    def record_problem(self, record) -> str | None:
        problem = self.app.record_problem(record)
        if problem:
            return problem
        point, device = record.get("point"), record.get("device")
        if not isinstance(point, dict) or not point:
            return "missing field 'point' (the swept values, e.g. \"point\": {\"eps\": 0.1})"
        for name, value in point.items():
            if name not in self.app.sweepable:
                return f"point names {name!r}, which {self.app.name} cannot sweep (e.g. \"point\": {{\"eps\": 0.1}})"
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                return f"point value {name}={value!r} is not a finite number (e.g. \"point\": {{\"eps\": 0.1}})"
        if not isinstance(device, str) or not device:
            return "missing field 'device' (e.g. \"device\": \"cpu\")"
        return None

    def expected_fingerprint(self, record: dict) -> dict:
        return self.app.fingerprint(self.config(record["point"]))


@dataclass
class SweepRun:
    """What run_sweep did and where the outputs are."""

    sweep: Sweep
    records: list[dict]
    """Saved records of this sweep's tasks, in table order."""
    skipped: list[tuple[dict, str, str]]
    """(point, setting, why) that the point rules out (e.g. CBG with eps > 1/3)."""
    ran: int
    reused: int
    remaining: int
    """Tasks still missing (interrupted, or --max-tasks); failed tasks do not count."""
    seconds: float
    """Wall time of this call."""
    paths: dict[str, Path] = field(default_factory=dict)
    failed: list[tuple[dict, object, str]] = field(default_factory=list)
    """(point, task, reason) of the tasks that raised a DataError (FAILED_FILE), now or in an earlier run."""


def default_device(app: SweepApp | None = None) -> str:
    """"cuda" when torch sees a GPU here (and the application can use it), else "cpu"."""
    import torch

    cuda_ok = app is None or "cuda" in app.devices
    return "cuda" if cuda_ok and torch.cuda.is_available() else "cpu"


def check_device(device: str, backend: str) -> None:
    """DataError for a device torch does not know; for local runs also one this machine lacks."""
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise DataError(f"unknown device {device!r}; valid: cpu, cuda, cuda:N (e.g. --device cpu)") from None
    if kind not in ("cpu", "cuda"):
        raise DataError(f"device {device!r} is not supported; valid: cpu, cuda, cuda:N (e.g. --device cpu)")
    if kind == "cuda" and backend == "local" and not torch.cuda.is_available():
        raise DataError(f"--device {device}: torch sees no GPU on this machine (torch {torch.__version__}); "
                        "use --device cpu")


class SweepProgress(Progress):
    """recover's progress (a bar on a terminal), titled "sweep"; in a log, a plain line at most every
    `interval` seconds with tasks done / total and the running tasks."""

    def __init__(self, total: int, enabled: bool, stream=None, interval: float | None = None):
        kwargs = {} if interval is None else {"interval": interval}
        super().__init__(total, enabled, stream=stream, **kwargs)
        if self.bar is not None:
            self.bar.set_description("sweep", refresh=False)

    def start(self, label: str) -> None:
        super().start(label)
        self._line()

    def done(self, label: str) -> None:
        self.running.pop(label, None)
        self.finished += 1
        if self.bar is not None:
            self.bar.update(1)
            self._draw()
        else:
            self._line(force=self.finished == self.total)

    def _line(self, force: bool = False) -> None:
        if self.bar is not None or not self.enabled:
            return
        now = time.monotonic()
        if force or now - self.last_line >= self.interval:
            self.last_line = now
            running = ", ".join(self.running) or "none"
            self.stream.write(f"sweep: {self.finished}/{self.total} tasks done ({now - self.began:.0f} s); "
                              f"running: {running}\n")
            self.stream.flush()


def run_sweep(
    sweep: Sweep,
    out: Path | str,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    device: str | None = None,
    max_tasks: int | None = None,
    fresh: bool = False,
    progress: bool = True,
    write_reports: bool = True,
    command: str | None = None,
) -> SweepRun:
    """Run the sweep's missing tasks (resuming OUT/results.jsonl) on a backend, then write the reports.

    backend "local": `workers` processes (default: recovery.grid.default_workers()), 1 = in this
    process; "ray": one Ray task per (point, task) on the cluster at `address` (backends.run_ray).
    device: "cpu", "cuda" or "cuda:N" (default: cuda when available), recorded in every record.
    The records equal a serial run's whatever the backend, apart from the timing fields.
    """
    if backend not in backends.BACKENDS:
        raise DataError(f"unknown backend {backend!r}; valid: {', '.join(backends.BACKENDS)} (e.g. --backend local)")
    if backend == "ray":
        backends.import_ray()  # a clear error before any work or folder
        if workers is not None:
            raise DataError("--workers is for --backend local; Ray runs as many tasks as the cluster has CPUs")
    workers = default_workers() if workers is None else workers
    check_run_options(workers, max_tasks)
    device = default_device(sweep.app) if device is None else device
    if str(device).split(":")[0] not in sweep.app.devices:
        raise DataError(f"{sweep.app.name} runs on {', '.join(sweep.app.devices)} only, not {device!r}; "
                        f"use --device {sweep.app.devices[0]}")
    check_device(device, backend)
    items, skipped = sweep.plan()
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    results_path, failed_path = out / RESULTS_FILE, out / FAILED_FILE
    if fresh:
        for path in (results_path, failed_path):
            if path.exists():
                clear_results(path)
    saved = load_results(results_path, sweep.expected_fingerprint, key=sweep.record_key, problem=sweep.record_problem)
    failed = load_failed(sweep, failed_path)
    app = sweep.app
    jobs, points_of = [], {}
    for point, config, task in items:
        key = sweep.key(point, task)
        if key in saved or key in failed:
            continue
        label = f"{app.task_label(task)} {point_text(point)}"
        jobs.append(backends.Job(app.name, config, task, device, label))
        points_of[label] = point
    jobs.sort(key=lambda j: app.cost(j.task))  # stable: table order within a cost class
    reused = sum(sweep.key(p, t) in saved for p, _, t in items)
    if max_tasks is not None:
        jobs = jobs[:max_tasks]
    bar = SweepProgress(len(jobs), progress)
    started, wall_start, ran = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.perf_counter(), 0

    def finished(job: backends.Job, record) -> None:
        nonlocal ran
        point = points_of[job.label]
        if isinstance(record, DataError):
            entry = {**job.task._asdict(), "point": point, "device": job.device,
                     "config": app.fingerprint(job.config), "reason": str(record)}
            append_line(failed_path, json.dumps(entry, sort_keys=True, allow_nan=False), parents=True)
            failed[sweep.key(point, job.task)] = (point, job.task, str(record))
            ran += 1
            bar.done(job.label)
            print(f"basis-compiler: task {job.label} failed: {record} (recorded in {failed_path})",
                  file=sys.stderr, flush=True)
            return
        record = {**record, "point": point, "device": job.device}
        problem = sweep.record_problem(record)
        if problem:
            raise DataError(f"task {job.label} returned an invalid record: {problem}")
        append_line(results_path, json.dumps(record, sort_keys=True, allow_nan=False), parents=True)
        saved[sweep.key(point, sweep.app.task_key(record))] = record
        ran += 1
        bar.done(job.label)

    complete = False
    try:
        if backend == "ray":
            backends.run_ray(jobs, finished, bar, address=address)
        else:
            backends.run_local(jobs, workers, finished, bar)
        complete = True
    finally:
        bar.close()
        _log_run(out / RUNS_FILE, dict(
            started=started, wall_seconds=round(time.perf_counter() - wall_start, 3), ran=ran, reused=reused,
            complete=complete, backend=backend, workers=workers if backend == "local" else None,
            address=address, device=device, torch=_torch_version(), python=sys.version.split()[0],
            git=git_commit(), command=command,
        ))
    records = [saved[sweep.key(p, t)] for p, _, t in items if sweep.key(p, t) in saved]
    gone = [failed[sweep.key(p, t)] for p, _, t in items if sweep.key(p, t) in failed]
    run = SweepRun(sweep, records, skipped, ran=ran, reused=reused, remaining=len(items) - len(records) - len(gone),
                   seconds=time.perf_counter() - wall_start, failed=gone,
                   paths={"results": results_path, "runs": out / RUNS_FILE})
    if write_reports:
        from .report import write_reports as write_report_files

        run.paths.update(write_report_files(run, load_runs(out / RUNS_FILE)))
    return run


def _torch_version() -> str:
    import torch

    return torch.__version__


def _log_run(path: Path, entry: dict) -> None:
    try:
        append_line(path, json.dumps(entry, sort_keys=True), parents=True)
    except OutputError as exc:  # never hide the run's own outcome behind a log failure
        print(f"basis-compiler: could not log this run in {path}: {exc}", file=sys.stderr)


def load_failed(sweep: Sweep, path: Path) -> dict:
    """Failed tasks of this sweep's configuration by key: {key: (point, task, reason)}.

    Lines that cannot be read, or that were made with another configuration, are ignored: their
    tasks simply run (again)."""
    out = {}
    for entry in load_runs(path):
        try:
            if sweep.expected_fingerprint(entry) != entry.get("config"):
                continue
            task = sweep.app.task_key(entry)
            out[sweep.key(entry["point"], task)] = (entry["point"], task, str(entry["reason"]))
        except (KeyError, TypeError, AttributeError, DataError):
            continue
    return out


def load_runs(path: Path) -> list[dict]:
    """The readable lines of OUT/runs.jsonl (unreadable ones are ignored: they only feed the summary)."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    runs = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            runs.append(entry)
    return runs
