"""The recovery grid runner: samplings x covariances x methods x trials, resumable and parallel.

Every (sampling, covariance, method, trial) is one independent task whose result depends only on
the grid configuration and the task itself: the data seed comes from (base seed, sampling,
covariance, trial), so all methods of a setting and trial see the same data, and the model
initialization and shuffling seed from (base seed, sampling, covariance, method, trial). Tasks
run with TASK_THREADS torch threads, so a run with --workers N gives the results of a serial run.

Each finished task is appended to OUT/results.jsonl at once (apps/results_file.py: whole line, fsynced), so
an interrupted run loses only the tasks in flight; rerunning with the same output folder reuses
the saved lines and runs only the missing tasks. Workers exit when the driver dies (lifeline.py).
The tables and figure are rewritten from the saved lines at the end of every run (report.py).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue as queue_module
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ...errors import DataError, OutputError
from ..common import derive_seed
from .config import GridConfig, Task
from .data import Split, is_int, make_datasets
from .lifeline import exit_with_parent
from .progress import Progress
from .report import write_reports as write_report_files
from ..results_file import RESULTS_FILE, clear_results
from .results import append_result, load_grid_results

TASK_THREADS = 1
"""Torch threads per task. Fixed, because results depend on it (the order of float reductions)."""

# Longest first, so parallel runs do not end waiting on one SVH run.
COST_ORDER = {"svh": 0, "svh_perm": 1, "baseline": 2, "svh_diag": 3, "sos1": 4, "sos2": 5}


def usable_cpus(cgroup_root: Path | str = "/sys/fs/cgroup") -> int:
    """CPUs this process may use: its affinity mask, lowered by a cgroup CPU quota (containers)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)


def cgroup_cpu_limit(root: Path | str = "/sys/fs/cgroup") -> float | None:
    """CPUs allowed by a cgroup quota (v2 cpu.max, or v1 cpu/cpu.cfs_quota_us over cfs_period_us).

    None when there is no quota or it cannot be read.
    """
    root = Path(root)
    for files in ((root / "cpu.max",), (root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us")):
        try:
            words = [w for f in files for w in f.read_text().split()]
        except OSError:
            continue
        try:
            quota, period = float(words[0]), float(words[1])
        except (IndexError, ValueError):  # "max 100000" (v2) or unreadable: no quota
            return None
        return quota / period if quota > 0 and period > 0 else None  # v1 writes -1 for none
    return None


def default_workers(threads_per_task: int = TASK_THREADS, cpus: int | None = None) -> int:
    """Worker processes that keep the usable CPUs busy without oversubscribing them:
    (cpus - 1) // threads_per_task, at least 1, with cpus = usable_cpus() by default.

    One CPU is left to the driver (data generation, saving, progress) and the system: on a
    2-CPU machine two workers measured slower than one (102 s and 131 s against 87 s for the
    quick grid), each worker also paying ~9 s of CPU to import torch and build its layers."""
    return max(1, ((usable_cpus() if cpus is None else cpus) - 1) // threads_per_task)


RUNS_FOLDER = "recovery_runs"
"""Where runs without --out go (relative to the current directory), one new folder per run."""


def new_run_folder(mode: str, base: Path | str = RUNS_FOLDER) -> Path:
    """Create and return base/MODE-YYYYmmdd-HHMMSS (a suffix -2, -3... if taken): a fresh run's folder.

    A fresh folder, never the committed reference results in benchmarks/results/: a default run
    must run its tasks, not find them done. Created here (mkdir fails if it exists) so two runs
    started in the same second still get different folders.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(base)
    for k in range(1, 1000):
        path = base / (f"{mode}-{stamp}" if k == 1 else f"{mode}-{stamp}-{k}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot create the output folder {path}: {exc.strerror or exc}; "
                              "choose one with --out, e.g. --out /tmp/recovery_quick") from None
    raise OutputError(f"no free folder name {base}/{mode}-{stamp}-N; choose one with --out, e.g. --out /tmp/run")


# --------------------------------------------------------------------------- one task

_WORKER_QUEUE = None


def init_worker(progress_queue, driver_pid: int) -> None:
    """Pool initializer: exit with the driver, report epochs through the queue, TASK_THREADS threads."""
    global _WORKER_QUEUE
    exit_with_parent(driver_pid)
    _WORKER_QUEUE = progress_queue
    torch.set_num_threads(TASK_THREADS)


def run_task(config: GridConfig, task: Task, progress: Callable[[str, int, float], None] | None = None,
             device: str | torch.device = "cpu") -> dict:
    """Run one task with TASK_THREADS torch threads and return its record (see results.RECORD_SCHEMA).

    device: where the data and the model live ("cpu", "cuda", "cuda:1"); the data are always drawn
    on the CPU from the task's seed, so only the arithmetic moves. Results on a GPU differ from
    CPU results in the last bits (other kernels); the record does not say where it ran, the
    caller does (the sweep records it).
    """
    from .models import parameter_count
    from .spectral import SOSMethod
    from .training import METHODS, build_model, evaluate, train

    if progress is None and _WORKER_QUEUE is not None:
        q = _WORKER_QUEUE

        def progress(label, epoch, val_loss):
            q.put((label, epoch, val_loss))

    threads = torch.get_num_threads()
    torch.set_num_threads(TASK_THREADS)
    try:
        data = make_datasets(config.setting(task.sampling, task.covariance, task.trial))
        if config.test_n not in (None, config.n):
            data = data._replace(test=make_datasets(config.test_setting(task.sampling, task.covariance, task.trial)).test)
        if torch.device(device).type != "cpu":
            data = data._replace(**{k: Split(*(t.to(device) for t in getattr(data, k))) for k in ("train", "val", "test")})
        start = time.perf_counter()
        if task.method in ("sos1", "sos2"):
            model = SOSMethod("I" if task.method == "sos1" else "II")
            extra = dict(val_accuracy=evaluate(model, data.val)[1], epochs=0, best_epoch=0, steps=0, skipped_steps=0)
            train_acc, test_acc = evaluate(model, data.train)[1], evaluate(model, data.test)[1]
        else:
            seed = derive_seed(config.seed, "model", task.sampling, task.covariance, task.method, task.trial)
            torch.manual_seed(seed)
            model = build_model(task.method, config.n, config.d, seed=seed, **config.model_options(task.method)).to(device)
            callback = None
            if progress is not None:
                def callback(rec):
                    progress(task.label, rec.epoch, rec.val_loss)
            res = train(
                model, data, lr=METHODS[task.method].lr, max_epochs=config.max_epochs,
                patience=config.patience, batch=config.batch, seed=seed, progress=callback,
            )
            train_acc, test_acc = res.train_acc, res.test_acc
            extra = dict(val_accuracy=res.val_acc, epochs=res.epochs, best_epoch=res.best_epoch,
                         steps=res.steps, skipped_steps=res.skipped_steps)
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return {
        **task._asdict(),
        "train_accuracy": float(train_acc),
        "test_accuracy": float(test_acc),
        **extra,
        "parameters": parameter_count(model),
        "seconds": seconds,
        "config": config.fingerprint(),
    }


# --------------------------------------------------------------------------- the grid


@dataclass
class GridRun:
    """What run_grid did and where the outputs are."""

    config: GridConfig
    records: list[dict]
    """Saved records of this grid's tasks, in table order."""
    ran: int
    """Tasks run now."""
    reused: int
    """Tasks taken from the results file."""
    remaining: int
    """Tasks still missing (after --max-tasks); 0 when the grid is complete."""
    seconds: float
    """Wall time of this call."""
    paths: dict[str, Path] = field(default_factory=dict)
    """Written outputs by kind (results, markdown, csv, trials_csv, latex, figure)."""


def check_run_options(workers, max_tasks=None) -> None:
    """DataError for an unusable worker count or task limit (before any folder is made)."""
    if not is_int(workers) or workers < 1:
        raise DataError(f"workers must be an int >= 1, got {workers!r} (e.g. workers=2)")
    if max_tasks is not None and (not is_int(max_tasks) or max_tasks < 0):
        raise DataError(f"max_tasks must be an int >= 0 or None, got {max_tasks!r} (e.g. max_tasks=5; 0 only "
                        "writes the tables of the saved results)")


def run_grid(
    config: GridConfig,
    out: Path | str,
    workers: int = 1,
    max_tasks: int | None = None,
    fresh: bool = False,
    progress: bool = True,
    write_reports: bool = True,
) -> GridRun:
    """Run the missing tasks of a grid (resuming OUT/results.jsonl), then write the tables and figure.

    workers > 1 runs tasks in spawned processes; results equal a serial run's. max_tasks stops
    after that many new tasks (the rest stay missing; rerun to resume); max_tasks=0 runs none and
    only writes the tables of what is saved (missing cells shown as –), e.g. while a run goes on.
    Bad saved lines are moved to OUT/results.rejected.jsonl with a message on stderr
    (results_file.load_results).
    """
    config.validate()
    check_run_options(workers, max_tasks)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    results_path = out / RESULTS_FILE
    if fresh and results_path.exists():
        clear_results(results_path)
    saved = load_grid_results(results_path, config.fingerprint())
    tasks = config.tasks()
    pending = [t for t in tasks if t not in saved]
    pending.sort(key=lambda t: COST_ORDER[t.method])  # stable: table order within a method
    reused = len(tasks) - len(pending)
    if max_tasks is not None:
        pending = pending[:max_tasks]
    start = time.perf_counter()
    bar = Progress(len(pending), progress)

    def finished(task: Task, record: dict) -> None:
        append_result(results_path, record)
        saved[task] = record
        bar.done(task.label)

    try:
        if workers == 1 or len(pending) <= 1:
            for task in pending:
                bar.start(task.label)
                finished(task, run_task(config, task, progress=bar.epoch))
        else:
            _run_parallel(config, pending, min(workers, len(pending)), finished, bar.epoch)
    finally:
        bar.close()
    records = [saved[t] for t in tasks if t in saved]
    run = GridRun(config, records, ran=len(pending), reused=reused, remaining=len(tasks) - len(records),
                  seconds=time.perf_counter() - start, paths={"results": results_path})
    if write_reports:
        run.paths.update(write_report_files(config, records, out))
    return run


def _run_parallel(config, pending, workers, finished, on_epoch) -> None:
    ctx = multiprocessing.get_context("spawn")  # fork after torch's thread pools started can hang
    progress_queue = ctx.Queue()

    def drain():
        while True:
            try:
                label, epoch, val_loss = progress_queue.get_nowait()
            except queue_module.Empty:
                return
            on_epoch(label, epoch, val_loss)

    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker,
                               initargs=(progress_queue, os.getpid()))
    done_all = False
    try:
        futures = {pool.submit(run_task, config, task): task for task in pending}
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for future in done:
                finished(futures[future], future.result())
        done_all = True
    finally:
        # On an error or Ctrl-C do not wait for the running tasks: what finished is saved already.
        if not done_all:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
        pool.shutdown(wait=done_all, cancel_futures=True)
        drain()
