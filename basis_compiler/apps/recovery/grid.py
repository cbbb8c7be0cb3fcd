"""The recovery grid: samplings x covariances x methods x trials, resumable and parallel.

Every (sampling, covariance, method, trial) is one independent task whose result depends only on
the grid configuration and the task itself: the data seed comes from (base seed, sampling,
covariance, trial), so all methods of a setting and trial see the same data, and the model
initialization and shuffling seed from (base seed, sampling, covariance, method, trial). Tasks
run with one torch thread, so a run with --workers N gives the results of a serial run.

Each finished task is appended as one JSON line to OUT/results.jsonl (flushed and fsynced), so an
interrupted run loses only the tasks in flight; rerunning the same command reuses the saved lines
and runs only the missing tasks. The tables (Markdown, CSV, LaTeX) and the figure are rewritten
from the saved lines at the end of every run (report.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import queue as queue_module
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, NamedTuple

import torch

from ...errors import DataError, OutputError
from .data import COVARIANCES, SAMPLINGS, Setting, _is_int, make_datasets

METHOD_NAMES = ("sos1", "sos2", "baseline", "svh_diag", "svh")
"""Methods of the grid: SOS-I, SOS-II (no training), the MLP baseline, SVH-Diag, SVH."""

METHOD_LABELS = {"sos1": "SOS-I", "sos2": "SOS-II", "baseline": "Baseline", "svh_diag": "SVH-Diag", "svh": "SVH"}
"""Column titles of the tables."""

SAMPLING_LABELS = {
    "AR": "A/R",
    "BG": "BG",
    "CBG": "CBG",
    "BR": "BR",
    "BR_paper": "BR (paper code)",
    "KS": "k-sparse",
}
"""Row titles of the tables."""

RESULTS_FILE = "results.jsonl"
"""One JSON line per finished task, inside the output folder."""

# Longest first, so parallel runs do not end waiting on one SVH run.
_COST_ORDER = {"svh": 0, "baseline": 1, "svh_diag": 2, "sos1": 3, "sos2": 4}


@dataclass(frozen=True)
class GridConfig:
    """A grid of settings and methods with the shared data sizes and training recipe."""

    samplings: tuple[str, ...]
    """Ways to draw v0 (data.SAMPLINGS)."""
    covariances: tuple[str, ...]
    """Noise covariances (data.COVARIANCES)."""
    methods: tuple[str, ...] = METHOD_NAMES
    """Methods (METHOD_NAMES)."""
    n: int = 100
    """Ambient dimension."""
    d: int = 5
    """Subspace dimension."""
    eps: float = 0.25
    """Sparsity."""
    n_train: int = 5000
    """Training samples per setting."""
    n_val: int = 500
    """Validation samples (early stopping)."""
    n_test: int = 500
    """Test samples (reported accuracy)."""
    trials: int = 1
    """Independent repetitions (new data and initialization each)."""
    max_epochs: int | None = None
    """Epoch cap; None trains until early stopping."""
    patience: int = 20
    """Early stopping patience in epochs."""
    batch: int = 100
    """Minibatch size."""
    seed: int = 0
    """Base seed of every task seed."""

    def validate(self) -> None:
        """DataError for any unusable parameter, before any work (every setting is checked)."""
        for name, values, valid in (
            ("samplings", self.samplings, SAMPLINGS),
            ("covariances", self.covariances, COVARIANCES),
            ("methods", self.methods, METHOD_NAMES),
        ):
            if not isinstance(values, tuple) or not values:
                raise DataError(f"{name} must be a non-empty tuple; valid: {', '.join(valid)}")
            bad = [v for v in values if v not in valid]
            if bad:
                raise DataError(f"unknown {name[:-1]} {bad[0]!r}; valid: {', '.join(valid)}")
            if len(set(values)) != len(values):
                raise DataError(f"{name} lists a value twice: {', '.join(values)}")
        for name in ("trials", "patience", "batch"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise DataError(f"{name} must be an int >= 1, got {value!r}")
        if self.max_epochs is not None and (not _is_int(self.max_epochs) or self.max_epochs < 1):
            raise DataError(f"max_epochs must be an int >= 1 or None (until early stopping), got {self.max_epochs!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise DataError(f"seed must be an int >= 0, got {self.seed!r}")
        for sampling in self.samplings:
            for covariance in self.covariances:
                self.setting(sampling, covariance, 0)  # Setting validates n, d, eps, sizes per sampling

    def setting(self, sampling: str, covariance: str, trial: int) -> Setting:
        """The data of one setting and trial (shared by all methods)."""
        return Setting(
            sampling, covariance, n=self.n, d=self.d, eps=self.eps, n_train=self.n_train,
            n_val=self.n_val, n_test=self.n_test, seed=derive_seed(self.seed, "data", sampling, covariance, trial),
        )

    def fingerprint(self) -> dict:
        """What saved results must share with this run to be reused (everything but the grid axes)."""
        keep = ("n", "d", "eps", "n_train", "n_val", "n_test", "max_epochs", "patience", "batch", "seed")
        return {k: getattr(self, k) for k in keep}

    def tasks(self) -> list[Task]:
        """All tasks in table order: sampling, covariance, method, trial."""
        return [
            Task(s, c, m, t)
            for s in self.samplings
            for c in self.covariances
            for m in self.methods
            for t in range(self.trials)
        ]

    def describe(self) -> str:
        """One line with the data sizes and training recipe."""
        epochs = "until early stopping" if self.max_epochs is None else f"at most {self.max_epochs}"
        return (
            f"n={self.n}, d={self.d}, eps={self.eps}, train/val/test {self.n_train}/{self.n_val}/{self.n_test}, "
            f"trials {self.trials}, epochs {epochs} (patience {self.patience}), batch {self.batch}, seed {self.seed}"
        )


PRESETS: dict[str, GridConfig] = {
    # About 110 s with 2 workers on a 2-core machine shared with another busy process. Shows the
    # paper's finding: with a random covariance SVH beats SOS (A/R, CBG) or comes close (BG),
    # while the non-equivariant baseline stays near chance (1/d) on the test set.
    "quick": GridConfig(
        samplings=("AR", "BG", "CBG"),
        covariances=("random", "identity"),
        n=50, d=5, eps=0.25, n_train=2000, n_val=300, n_test=500, max_epochs=60, patience=10,
    ),
    # The paper's table: n=100, d=5, eps=0.25, 5000/500/500. BR is the Bernoulli-Rademacher
    # definition with an independent sign (MATH.md 5); "BR_paper" reproduces the released code.
    "paper": GridConfig(
        samplings=("AR", "BG", "CBG", "BR"),
        covariances=("random", "diagonal", "identity"),
        n=100, d=5, eps=0.25, n_train=5000, n_val=500, n_test=500, max_epochs=None, patience=20,
    ),
}
"""Named grids for `basis-compiler recover --quick / --paper`."""


class Task(NamedTuple):
    """One cell of the grid and trial."""

    sampling: str
    covariance: str
    method: str
    trial: int

    @property
    def label(self) -> str:
        return f"{self.sampling}/{self.covariance}/{self.method}#{self.trial}"


def derive_seed(*parts) -> int:
    """A 32-bit seed from any printable parts; the same in every process and Python run."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


# --------------------------------------------------------------------------- one task

_WORKER_QUEUE = None


def _init_worker(progress_queue) -> None:
    global _WORKER_QUEUE
    _WORKER_QUEUE = progress_queue
    torch.set_num_threads(1)


def run_task(config: GridConfig, task: Task, progress: Callable[[str, int, float], None] | None = None) -> dict:
    """Run one task with one torch thread and return its record (a JSON-ready dict)."""
    from .models import parameter_count
    from .spectral import SOSMethod
    from .training import METHODS, build_model, evaluate, train

    if progress is None and _WORKER_QUEUE is not None:
        q = _WORKER_QUEUE

        def progress(label, epoch, val_loss):
            q.put((label, epoch, val_loss))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = make_datasets(config.setting(task.sampling, task.covariance, task.trial))
        start = time.perf_counter()
        if task.method in ("sos1", "sos2"):
            model = SOSMethod("I" if task.method == "sos1" else "II")
            extra = dict(val_accuracy=evaluate(model, data.val)[1], epochs=0, best_epoch=0, steps=0, skipped_steps=0)
            train_acc, test_acc = evaluate(model, data.train)[1], evaluate(model, data.test)[1]
        else:
            seed = derive_seed(config.seed, "model", task.sampling, task.covariance, task.method, task.trial)
            torch.manual_seed(seed)
            model = build_model(task.method, config.n, config.d, seed=seed)
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


# --------------------------------------------------------------------------- results file


def _key(record: dict) -> tuple:
    return (record["sampling"], record["covariance"], record["method"], int(record["trial"]))


def load_results(path: Path, fingerprint: dict) -> dict[tuple, dict]:
    """Saved records by task; drops unreadable lines (an interrupted write) and rewrites the file without them.

    DataError when a saved record was made with another configuration (n, sizes, epochs, seed...).
    """
    if not path.exists():
        return {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from None
    records, kept, dropped = {}, [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key = _key(record)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            dropped += 1
            continue
        if record.get("config") != fingerprint:
            raise DataError(
                f"{path} holds results made with another configuration ({record.get('config')}); this run uses "
                f"{fingerprint}. Use another --out folder, or --fresh to discard the saved results"
            )
        if key not in records:
            records[key] = record
            kept.append(line)
    if dropped:
        _atomic_write(path, "".join(line + "\n" for line in kept))
    return records


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # the folder may have been removed during a long run
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _append(path: Path, record: dict) -> None:
    """One JSON line, flushed and fsynced: a crash loses at most the line being written."""
    line = json.dumps(record, sort_keys=True) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # the folder may have been removed during a long run
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


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


class _Progress:
    """A tqdm bar over tasks (stderr); the postfix shows the running tasks' epoch and validation loss."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        self.running: dict[str, tuple[int, float]] = {}
        self.last = 0.0
        if enabled and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="recover", unit="task", file=sys.stderr, dynamic_ncols=True)

    def epoch(self, label: str, epoch: int, val_loss: float) -> None:
        self.running[label] = (epoch, val_loss)
        self._show()

    def start(self, label: str) -> None:
        self.running.setdefault(label, (0, math.nan))
        self._show()

    def done(self, label: str) -> None:
        self.running.pop(label, None)
        if self.bar is not None:
            self.bar.update(1)
        self._show()

    def _show(self) -> None:
        if self.bar is None:
            return
        parts = [f"{k} epoch {e} val {v:.4f}" if e else k for k, (e, v) in self.running.items()]
        self.bar.set_postfix_str(" | ".join(parts), refresh=False)
        now = time.monotonic()
        if now - self.last > 0.5:  # epochs can be milliseconds apart: redraw at most twice a second
            self.last = now
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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
    after that many new tasks (the rest stay missing; rerun to resume).
    """
    config.validate()
    if not _is_int(workers) or workers < 1:
        raise DataError(f"workers must be an int >= 1, got {workers!r}")
    if max_tasks is not None and (not _is_int(max_tasks) or max_tasks < 1):
        raise DataError(f"max_tasks must be an int >= 1 or None, got {max_tasks!r}")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    results_path = out / RESULTS_FILE
    if fresh and results_path.exists():
        _atomic_write(results_path, "")
    saved = load_results(results_path, config.fingerprint())
    tasks = config.tasks()
    pending = [t for t in tasks if _key(t._asdict()) not in saved]
    pending.sort(key=lambda t: _COST_ORDER[t.method])  # stable: table order within a method
    reused = len(tasks) - len(pending)
    if max_tasks is not None:
        pending = pending[:max_tasks]
    start = time.perf_counter()
    bar = _Progress(len(pending), progress)
    try:
        if workers == 1 or len(pending) <= 1:
            for task in pending:
                bar.start(task.label)
                record = run_task(config, task, progress=bar.epoch)
                _append(results_path, record)
                saved[_key(record)] = record
                bar.done(task.label)
        else:
            _run_parallel(config, pending, min(workers, len(pending)), results_path, saved, bar)
    finally:
        bar.close()
    records = [saved[_key(t._asdict())] for t in tasks if _key(t._asdict()) in saved]
    run = GridRun(config, records, ran=len(pending), reused=reused, remaining=len(tasks) - len(records),
                  seconds=time.perf_counter() - start, paths={"results": results_path})
    if write_reports:
        from .report import write_reports as _write

        run.paths.update(_write(config, records, out))
    return run


def _run_parallel(config, pending, workers, results_path, saved, bar) -> None:
    ctx = multiprocessing.get_context("spawn")  # fork after torch's thread pools started can hang
    progress_queue = ctx.Queue()

    def drain():
        while True:
            try:
                label, epoch, val_loss = progress_queue.get_nowait()
            except queue_module.Empty:
                return
            bar.epoch(label, epoch, val_loss)

    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(progress_queue,))
    finished = False
    try:
        futures = {pool.submit(run_task, config, task): task for task in pending}
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for future in done:
                record = future.result()
                _append(results_path, record)
                saved[_key(record)] = record
                bar.done(futures[future].label)
        finished = True
    finally:
        # On an error or Ctrl-C do not wait for the running tasks: what finished is saved already.
        if not finished:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
        pool.shutdown(wait=finished, cancel_futures=True)
        drain()


def preset(name: str, **overrides) -> GridConfig:
    """PRESETS[name] with the given fields replaced (validated when the grid runs)."""
    if name not in PRESETS:
        raise DataError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    unknown = set(overrides) - set(asdict(PRESETS[name]))
    if unknown:
        raise DataError(f"unknown grid field(s): {', '.join(sorted(unknown))}")
    return replace(PRESETS[name], **overrides)
