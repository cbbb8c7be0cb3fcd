"""Where a sweep's tasks run: in the driver (serial), in local worker processes, or on a Ray cluster.

Every backend runs the same function, execute_task, on the same (configuration, task, device), so
a task's record is the same whichever backend ran it (apart from its wall time): the task seeds
come from the configuration and the task, and every task uses the same number of torch threads
(recovery.grid.TASK_THREADS). The driver gets each record as soon as its task finishes and saves
it at once (runner.py); what a backend had in flight when it was interrupted simply runs again.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, NamedTuple

from ...errors import DataError, UnsupportedError
from ..recovery.grid import TASK_THREADS
from ..recovery.lifeline import exit_with_parent

BACKENDS = ("local", "ray")
"""--backend choices: local worker processes (or the driver itself with one worker), a Ray cluster."""

RAY_INSTALL = "pip install 'basis-compiler[ray]' (or: pip install 'ray>=2.9')"
"""How to get the optional Ray backend."""


class Job(NamedTuple):
    """One task of one point, as a backend sees it."""

    app: str
    """SweepApp name (apps.APPS), looked up again in the process that runs it."""
    config: object
    """The point's configuration."""
    task: object
    """The application's task."""
    device: str
    """torch device of the task."""
    label: str
    """For progress lines."""


Finished = Callable[[Job, "dict | DataError"], None]
"""Called in the driver with each job and its record, or the DataError it raised (a setting whose data
cannot be drawn, e.g. accept/reject at a tiny eps: deterministic, so the runner records it and goes on)."""
OnEpoch = Callable[[str, int, float], None]

_QUEUE = None


def execute_task(app: str, config, task, device: str, label: str = "", progress: OnEpoch | None = None) -> dict:
    """Run one task in this process and return the application's record (any backend calls this)."""
    import torch

    from .apps import get_app

    if progress is None and _QUEUE is not None:
        q = _QUEUE
        q.put((label, None, None))  # started: the driver lists it as running from now on

        def progress(_label, epoch, loss):
            q.put((label, epoch, loss))

    torch.set_num_threads(TASK_THREADS)
    return get_app(app).run_task(config, task, device, progress)


def init_local_worker(progress_queue, driver_pid: int) -> None:
    """Pool initializer: exit with the driver, send epochs through the queue, TASK_THREADS threads."""
    global _QUEUE
    import torch

    exit_with_parent(driver_pid)
    _QUEUE = progress_queue
    torch.set_num_threads(TASK_THREADS)


def run_serial(jobs: list[Job], finished: Finished, bar) -> None:
    """Run the jobs one after the other in this process."""
    for job in jobs:
        bar.start(job.label)
        try:
            outcome = execute_task(job.app, job.config, job.task, job.device, job.label,
                                   progress=lambda _l, e, v, label=job.label: bar.epoch(label, e, v))
        except DataError as exc:
            outcome = exc
        finished(job, outcome)


def run_local(jobs: list[Job], workers: int, finished: Finished, bar) -> None:
    """Run the jobs in `workers` spawned processes that die with this one (recovery/lifeline.py)."""
    if workers <= 1 or len(jobs) <= 1:
        run_serial(jobs, finished, bar)
        return
    ctx = multiprocessing.get_context("spawn")  # fork after torch's thread pools started can hang
    progress_queue = ctx.Queue()

    def drain():
        while True:
            try:
                label, epoch, loss = progress_queue.get_nowait()
            except queue_module.Empty:
                return
            if epoch is None:
                bar.start(label)
            else:
                bar.epoch(label, epoch, loss)

    pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx, initializer=init_local_worker,
                               initargs=(progress_queue, os.getpid()))
    done_all = False
    try:
        futures = {pool.submit(execute_task, j.app, j.config, j.task, j.device, j.label): j for j in jobs}
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for future in done:
                try:
                    outcome = future.result()
                except DataError as exc:
                    outcome = exc
                finished(futures[future], outcome)
        done_all = True
    finally:
        # On an error or Ctrl-C do not wait for the running tasks: what finished is saved already.
        if not done_all:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
        pool.shutdown(wait=done_all, cancel_futures=True)
        drain()


def import_ray():
    """The ray module, or UnsupportedError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UnsupportedError(f"--backend ray needs Ray, which is not installed: {RAY_INSTALL}; "
                               "or run on this machine with --backend local") from None
    return ray


def run_ray(jobs: list[Job], finished: Finished, bar, address: str | None = None) -> None:
    """Submit the jobs to Ray, one Ray task each, and hand each record over as soon as it is back.

    Uses the Ray instance this process already joined (ray.is_initialized(), e.g. a test's
    ray.init(num_cpus=2)); otherwise ray.init(address): None starts a local instance (or joins the
    one RAY_ADDRESS names), "auto" joins the cluster of this machine, "ray://HOST:PORT" a remote
    one through Ray Client. At most as many tasks as the cluster has CPUs (GPUs for cuda tasks) are
    in flight, so the progress line names the running tasks and an interrupt wastes little; on an
    interrupt or error the tasks in flight are cancelled. Each task asks for TASK_THREADS CPUs and,
    on cuda, one GPU. The cluster's nodes need this package installed (the same commit).
    """
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, logging_level="warning")
    inflight: dict = {}
    try:
        cuda = any(j.device != "cpu" for j in jobs)
        resources = ray.cluster_resources()
        slots = max(1, int(resources.get("GPU" if cuda else "CPU", 1)))
        remote = ray.remote(execute_task).options(num_cpus=TASK_THREADS, num_gpus=1 if cuda else 0, max_retries=0)
        queue = list(jobs)
        while queue or inflight:
            while queue and len(inflight) < slots:
                job = queue.pop(0)
                inflight[remote.remote(job.app, job.config, job.task, job.device, job.label)] = job
                bar.start(job.label)
            done, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
            for ref in done:
                job = inflight.pop(ref)
                try:
                    outcome = _ray_get(ray, ref)
                except DataError as exc:
                    outcome = exc
                finished(job, outcome)
    finally:
        for ref in inflight:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished or the cluster is gone: nothing left to stop
                pass
        if started_here:
            ray.shutdown()


def _ray_get(ray, ref) -> dict:
    """ray.get, re-raising the task's own exception (e.g. a DataError) rather than Ray's wrapper."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise
